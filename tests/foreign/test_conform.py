"""``raftviz conform``: raftviz's own node and the JavaScript node pass it, and a
planted bug in the JavaScript node (votedFor not persisted) is found and shrunk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from raftviz.cli import main
from raftviz.lab import conform

pytestmark = pytest.mark.udp

ROOT = Path(__file__).parents[2]
JS = "node examples/js-node/node.js"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js (node) is not installed")


@pytest.fixture(autouse=True)
def _at_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def _verdicts(results: list[conform.Result]) -> dict[str, str]:
    return {r.name: r.verdict for r in results}


def _leftovers(root: Path) -> list[str]:
    """Lab directories left in ``root``, and live processes that were started in one."""
    left = [p.name for p in root.iterdir()]
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(root) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                left.append(f"pid {proc.name}")
        except OSError:
            pass
    return left


def test_raftviz_own_node_passes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every lab directory in tmp_path: after the whole battery, nothing may be left.
    monkeypatch.setenv("RAFTVIZ_LAB_DIR", str(tmp_path))
    # Through the command line, as a user runs it: its own node as a node command.
    code = main(["conform", "--seeds", "2", "--no-mixed"])
    out = capsys.readouterr().out
    assert _leftovers(tmp_path) == []
    assert code == 0, out
    assert "FAIL" not in out
    assert "PASS  votedFor survives a restart" in out
    assert "PASS  encoding: AppendEntries" in out
    assert "passed, 0 failed, 1 skipped" in out


@needs_node
def test_the_javascript_node_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAFTVIZ_LAB_DIR", str(tmp_path))
    results = conform.conform(JS, seeds=range(2))
    assert _leftovers(tmp_path) == []
    failed = [conform.render([r]) for r in results if r.verdict == "fail"]
    assert not failed, "\n".join(failed)
    verdicts = _verdicts(results)
    assert verdicts["log repair after conflicts (mixed with raftviz's nodes)"] == "pass"
    assert verdicts["snapshots (InstallSnapshot, TakeSnapshot)"] == "skip"


@needs_node
def test_a_planted_bug_is_found_and_shrunk() -> None:
    buggy = f"env RAFTVIZ_JS_BUG=forget-vote {JS}"
    results = conform.conform(buggy, seeds=range(0), mixed=False, shrink_runs=40)
    out = conform.render(results)
    assert "FAIL  votedFor survives a restart" in out
    assert "Election Safety violated" in out
    assert out.endswith("1 failed, 1 skipped")
    (failed,) = [r for r in results if r.verdict == "fail"]
    rule = next(r for r in conform.BATTERY if r.name == failed.name)
    # Shrunk: the expectation at its end is not needed to show the double vote.
    assert len(failed.script) < len(rule.lines)
    assert failed.script[0].startswith("cluster 3 seed=1") and buggy in failed.script[0]
    # The minimal script replays the violation as it is printed.
    assert conform.run(failed.script).signature == "violation:Election Safety"


def test_hunt_runs_schedules_on_a_node_command() -> None:
    from raftviz.lab.hunt.generate import generate
    from raftviz.lab.hunt.search import HuntError, HuntOptions, check_options, schedule

    lines = schedule(3, 3, None, JS)
    assert lines[0].startswith("cluster 3 seed=3") and lines[0].endswith(f' node="{JS}"')
    # The same faults as on raftviz's nodes, kept to Figure 2 (no Pre-Vote options, no transfers).
    assert generate(3, 3, None, beyond=False)[1:] == lines[1:]
    assert all(not line.startswith("transfer") for line in lines)
    check_options(HuntOptions(node=JS, backend="udp"))
    for bad in (
        HuntOptions(node=JS, backend="inprocess"),
        HuntOptions(node=JS, backend="udp", bug="forget-vote"),
    ):
        with pytest.raises(HuntError, match="--node"):
            check_options(bad)
