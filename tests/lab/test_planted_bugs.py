"""Planted bugs (raftviz.core.bugs): each one's scenario breaks its invariant, and only because of it.

The scenarios are tests/testdata/bug-NAME.txt (their transcripts are checked on
both backends by the transcript tests); here the same scripts run with the
bug taken out must hold every invariant, so the damage is the bug's doing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from raftviz.core import bugs
from raftviz.core.config import RaftConfig
from raftviz.lab.run import run_script

TESTDATA = Path(__file__).parents[1] / "testdata"


def _run(text: str, name: str = "bug.txt") -> tuple[int, str]:
    lines: list[str] = []
    code = run_script(text, name, lines.append, backend="inprocess")
    return code, "\n".join(lines)


def test_every_planted_bug_has_a_scenario() -> None:
    assert {p.stem.removeprefix("bug-") for p in TESTDATA.glob("bug-*.txt")} == set(bugs.BUGS)


@pytest.mark.parametrize("name", sorted(bugs.BUGS))
def test_the_scenario_breaks_the_documented_invariant(name: str) -> None:
    code, text = _run((TESTDATA / f"bug-{name}.txt").read_text())
    assert code == 0, text[-1500:]
    assert f"expected: {bugs.BUGS[name].invariant} violated" in text


@pytest.mark.parametrize("name", sorted(bugs.BUGS))
def test_without_the_bug_the_same_scenario_holds_every_invariant(name: str) -> None:
    script = (TESTDATA / f"bug-{name}.txt").read_text()
    raft = re.sub(r" bug=\S+", "", script)
    assert raft != script
    code, text = _run(raft)
    assert "INVARIANT VIOLATED" not in text
    assert code == 1  # the expected violation never came (or an `until` waiting for the damage failed)


@pytest.mark.parametrize("name", sorted(bugs.BUGS))
def test_without_the_expectation_the_run_fails_on_the_invariant(name: str) -> None:
    """What ``raftviz hunt`` hands back: a script that ``raftviz run`` fails on."""
    script = (TESTDATA / f"bug-{name}.txt").read_text()
    code, text = _run(re.sub(r"(?m)^expect violation.*\n", "", script))
    assert code == 1
    assert "FAILED bug.txt:" in text and f"{bugs.BUGS[name].invariant} violated" in text


def test_a_bug_on_one_node_only() -> None:
    assert bugs.active(("forget-vote@2", "no-step-down"), 2) == {"forget-vote", "no-step-down"}
    assert bugs.active(("forget-vote@2", "no-step-down"), 1) == {"no-step-down"}


def test_parse_sorts_and_dedups() -> None:
    assert bugs.parse("vote-any-log,forget-vote@2,vote-any-log") == ("forget-vote@2", "vote-any-log")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("nope", "no planted bug is called 'nope'"),
        ("forget-vote@x", "@ must name a node id"),
        ("forget-vote@0", "@ must name a node id"),
        ("", "no planted bug is called ''"),
    ],
)
def test_parse_refuses(text: str, error: str) -> None:
    with pytest.raises(bugs.BugError, match=re.escape(error)):
        bugs.parse(text)


def test_a_raft_config_refuses_an_unknown_bug() -> None:
    with pytest.raises(ValueError, match="no planted bug"):
        RaftConfig(bugs=("nope",))


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("cluster 3 bug=nope", "no planted bug is called 'nope'"),
        ("cluster 3 bug=forget-vote@5", "bug forget-vote@5: the cluster has nodes 1..3"),
    ],
)
def test_the_cluster_command_refuses(line: str, error: str) -> None:
    code, text = _run(line + "\n", "bad.txt")
    assert code == 2
    assert error in text and "bad.txt:1" in text


def test_a_cluster_with_a_bug_says_so() -> None:
    code, text = _run("cluster 3 bug=vote-any-log@2\n")
    assert code == 0
    assert "bug=vote-any-log@2 (planted" in text


def test_an_expected_violation_that_never_comes_fails_the_run() -> None:
    code, text = _run("cluster 3\nexpect violation Election Safety\nuntil leader\n")
    assert code == 1
    assert "expected a violation of Election Safety; every invariant held" in text


def test_raftviz_bugs_lists_every_bug() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "raftviz", "bugs"], capture_output=True, text=True, check=True
    ).stdout
    for bug in bugs.BUGS.values():
        assert bug.name in out and bug.invariant in out


def test_a_node_refuses_an_unknown_bug() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "raftviz", "node", "--id", "1", "--bug", "nope"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "no planted bug is called 'nope'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_hidden_bug_is_planted_but_not_named() -> None:
    script = (TESTDATA / "bug-forget-vote.txt").read_text().replace(" bug=", " hidden-bug=")
    code, text = _run(script)
    assert code == 0
    assert "hidden-bug=? (a bug is planted: find it)" in text
    echo = next(line for line in text.splitlines() if line.startswith("cluster:"))
    assert "forget-vote" not in echo
    assert "expected: Election Safety violated" in text


def test_bug_and_hidden_bug_together_are_refused() -> None:
    code, text = _run("cluster 3 bug=forget-vote hidden-bug=vote-any-log\n", "bad.txt")
    assert code == 2 and "give one" in text


def test_the_violated_condition() -> None:
    script = (TESTDATA / "bug-forget-vote.txt").read_text()
    code, text = _run(
        script.replace("expect violation Election Safety\n", "expect not violated\nexpect violation\n")
        + "expect violated\nexpect violated=Election Safety\nexpect not violated=Log Matching\n"
    )
    assert code == 0, text[-800:]
    assert "not violated: ok" in text and "violated=Election Safety: ok" in text
