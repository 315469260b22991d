"""``raftviz torture`` end to end: real node processes, real faults, the real command.

A short run must pass with no anomaly and leave nothing behind; the same
pipeline must catch an anomaly planted in a real history (so a pass means
something); every way of stopping it (Ctrl-C, SIGTERM, SIGHUP) must remove
its processes and its temporary directory; bad options get a one-line error
and exit 2. Free mode runs on the wall clock: nothing here asserts a timing,
and every wait is a poll with a generous deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raftviz.lab import linearizability
from raftviz.lab.torture import run as torture_run
from raftviz.lab.torture.report import render_report
from raftviz.lab.torture.run import TortureOptions, run_torture

pytestmark = pytest.mark.udp

RAFTVIZ = [sys.executable, "-m", "raftviz"]
ROOT = Path(__file__).resolve().parent.parent.parent


def _env(tmp: Path) -> dict[str, str]:
    """The environment of a torture run whose temporary directory lands under ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp)}


def _leftover_processes(tmp: Path) -> list[str]:
    """Node processes whose command line names ``tmp`` (their data directories are under it)."""
    out = subprocess.run(["pgrep", "-af", str(tmp)], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if "raftviz node" in line]


def _wait_for(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


def test_a_short_run_passes_reports_and_leaves_nothing_behind(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    report = tmp_path / "report.html"
    done = subprocess.run(
        [
            *RAFTVIZ,
            "torture",
            "--seconds",
            "4",
            "--clients",
            "3",
            "--faults",
            "kill,pause",
            "--seed",
            "5",
            "--report",
            str(report),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("3 nodes, 3 clients,") and "seed 5" in lines[0]
    assert any(line.startswith("ops: ") and "ok ops/s" in line for line in lines)
    assert any(line.startswith("latency: p50 ") and "p99" in line for line in lines)
    assert any(line.startswith("faults: kill ") and ", pause " in line for line in lines)
    assert "anomalies: 0" in lines
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "PASS: 0 anomalies" in page
    assert "http://" not in page and "https://" not in page  # self-contained
    assert list(tmp.iterdir()) == [], "the temporary directory was left behind"
    assert _leftover_processes(tmp) == []


def test_the_checks_catch_an_anomaly_planted_in_a_real_history(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("TMPDIR", str(_env(tmp_path / "tmp")["TMPDIR"]))
    result = run_torture(TortureOptions(seconds=2, clients=2, faults=(), seed=9))
    assert result.passed, torture_run.summary_lines(result)
    # A read misses an append acknowledged before it was called (a stale read: always detectable).
    appended = {r.value: r for r in result.records if r.kind == "append" and r.status == "ok"}

    def stale_candidate(r) -> bool:  # noqa: ANN001
        if r.kind != "get" or r.status != "ok" or r.client == "final" or not r.output:
            return False
        last = appended.get(r.output[r.output[:-1].rfind(";") + 1 :])
        return r.key.startswith("a") and last is not None and last.ret < r.call

    reads = [r for r in result.records if stale_candidate(r)]
    assert reads, "the run made no reads of an append key"
    read = reads[len(reads) // 2]
    read.output = read.output[: read.output[:-1].rfind(";") + 1] or None
    result.check = linearizability.check_history(torture_run._checker_ops(result.records))
    assert not result.passed
    (anomaly,) = result.check.anomalies
    assert anomaly.key == read.key
    assert read.id in {op.id for op in anomaly.ops}
    assert "anomalies: 1" in torture_run.summary_lines(result)
    page = render_report(result)
    assert "FAIL" in page and f"key {read.key}" in page
    # A final read that lost an acknowledged append is a lost write.
    final = next(r for r in result.records if r.client == "final" and r.key.startswith("a") and r.output)
    final.output = final.output[final.output.index(";") + 1 :]
    assert any("is not in the final value" in text for text in torture_run._lost_writes(result.records))
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["INT", "TERM", "HUP"])
def test_every_way_of_stopping_it_removes_processes_and_directory(tmp_path: Path, signum: int) -> None:
    tmp = tmp_path / "tmp"
    proc = subprocess.Popen(
        [*RAFTVIZ, "torture", "--seconds", "120", "--clients", "2", "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(tmp),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    try:
        # Wait until the cluster is up: its node directories exist.
        _wait_for(
            lambda: any(
                d.name.startswith("raftviz-torture-") and (d / "node1").exists() for d in tmp.iterdir()
            ),
            120,
            "the torture run's node data directories",
        )
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, err.decode()  # 130, 143, 129: as a shell reports the signal
    assert b"Traceback" not in err, err.decode()
    assert list(tmp.iterdir()) == [], "the temporary directory was left behind"
    assert _leftover_processes(tmp) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "4"], "--nodes must be 3 or 5"),
        (["--seconds", "0"], "--seconds must be above 0"),
        (["--seconds", "nan"], "--seconds must be above 0"),
        (["--clients", "0"], "--clients must be 1 to 64"),
        (["--faults", "kill,flood"], "unknown fault 'flood'"),
        (["--report", "/no/such/dir/r.html"], "cannot write the report"),
    ],
)
def test_bad_options_get_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = subprocess.run(
        [*RAFTVIZ, "torture", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert done.stdout == ""


def test_disk_faults_run_with_no_anomaly(tmp_path: Path) -> None:
    """``--faults disk`` restarts nodes with ``raftviz node --disk slow=MS|full``: the run passes."""
    done = subprocess.run(
        [*RAFTVIZ, "torture", "--faults", "disk", "--seconds", "4", "--clients", "2", "--seed", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=_env(tmp_path / "tmp"),
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert "anomalies: 0" in done.stdout.splitlines()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_node_that_refuses_its_disk_option_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A node that refuses its ``--disk`` (a usage error, exit 2) makes the run say so and stop."""
    from raftviz.lab.torture.cluster import TortureCluster

    real_command = TortureCluster.command

    def bad_disk_value(self, node: int, extra: tuple[str, ...] = ()) -> list[str]:  # noqa: ANN001
        # The nemesis asks for slow=MS or full; a value no node takes makes it refuse.
        return real_command(
            self, node, tuple("bogus" if i and extra[i - 1] == "--disk" else a for i, a in enumerate(extra))
        )

    monkeypatch.setenv("TMPDIR", _env(tmp_path / "tmp")["TMPDIR"])
    monkeypatch.setattr(TortureCluster, "command", bad_disk_value)
    with pytest.raises(torture_run.TortureError, match=r"raftviz node refused --disk (slow=\d+|full)"):
        run_torture(TortureOptions(seconds=60, clients=1, faults=("disk",), seed=4))
    assert list((tmp_path / "tmp").iterdir()) == []
