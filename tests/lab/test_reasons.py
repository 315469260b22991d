"""A test per reason kind, on both backends: the ``because:`` line a short script's step prints.

The scripts are the transcript tests ``tests/testdata/reasons_*.txt``; here each
kind of raftviz.core.reasons is looked for, with its numbers, in the lines they
print on the in-process backend and on real node processes (the udp backend),
which must print the very same lines.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from raftviz.core.reasons import KINDS, PLACES
from raftviz.lab.run import run_script

TESTDATA = Path(__file__).parents[1] / "testdata"

#: kind -> (script, the text a ``because:`` line of it has)
EXPECTED: dict[str, tuple[str, str]] = {
    "vote-granted": (
        "votes",
        "vote granted to node 1 in term 1: no other vote in this term, and its log (lastTerm=0 lastIndex=0)",
    ),
    "vote-denied-voted": ("votes", "vote denied to node 3: already voted for node 1 in term 1"),
    "vote-denied-log": (
        "votes",
        "vote denied to node 2 in term 2: its log (lastTerm=0 lastIndex=0) is not as up to date as ours "
        "(lastTerm=1 lastIndex=1)",
    ),
    "vote-denied-stale": ("votes", "vote denied to node 3: its term 1 is older than ours (2)"),
    "vote-ignored": (
        "membership",
        "RequestVote from node 3 ignored: it is not a voter here and this node leads",
    ),
    "elected": ("votes", "elected leader of term 1: votes from nodes 1,2, a majority of 3 voters"),
    "step-down": (
        "votes",
        "leader steps down to follower, term 1 -> 2: RequestVote from node 2 has a newer term",
    ),
    "leader-seen": ("votes", "candidate steps down to follower: node 1 leads term 1 (AppendEntries)"),
    "append-rejected-stale": (
        "votes",
        "AppendEntries from node 1 rejected: its term 1 is older than ours (2)",
    ),
    "append-rejected-missing": (
        "repair",
        "AppendEntries from node 2 rejected: no entry at prevIndex 3 (our log ends at 1)",
    ),
    "append-rejected-mismatch": (
        "repair",
        "AppendEntries from node 3 rejected: entry 3 has term 1 here, the leader's prevTerm is 2",
    ),
    "log-truncated": (
        "repair",
        "entries 2..3 deleted: entry 2 has term 1 here but term 2 in the AppendEntries from node 3",
    ),
    "commit-advanced": (
        "repair",
        "commit index 3 -> 4: nodes 1,2 (a majority of 3 voters) hold entry 4, and it is of the current "
        "term 2",
    ),
    "commit-learned": ("repair", "commit index 0 -> 4: leader 2 has committed up to 4"),
    "commit-held": (
        "figure8",
        "commit index stays 0: nodes 1,2,3 (a majority of 5 voters) hold entry 2, but it is of term 2, "
        "not the current term 4",
    ),
    "snapshot-installed": (
        "repair",
        "snapshot from node 2 installed: state machine and log replaced up to index 24 (term 2)",
    ),
    "vote-denied-recovering": (
        "recovery",
        "vote denied to node 2 in term 2: this node is recovering (lost entries 3..?) and votes only once "
        "a leader has caught it up",
    ),
    "campaign-held": (
        "recovery",
        "election timeout in term 1 but no campaign: this node is recovering (lost entries 3..?)",
    ),
    "recovered": (
        "recovery",
        "recovered (lost entries 3..?): leader 2 of term 3 has committed up to 4, an entry of its term, "
        "and our log matches it up to there",
    ),
    "config-changed": (
        "membership",
        "configuration voters 1,2,3 -> voters 1,2,3 learners 4: configuration entry 2 was appended",
    ),
    "read-refused": (
        "reads",
        "c1#2 get x (readindex) refused: this node does not lead (node 2 leads, as far as this node knows)",
    ),
    "read-held": (
        "reads",
        "c1#2 get x (readindex) held at read index 2: waiting for a majority to acknowledge heartbeat "
        "round 1",
    ),
    "read-served": (
        "reads",
        "c1#2 get x (readindex) served at read index 2 (applied 2): heartbeat round 1 was acknowledged by a "
        "majority",
    ),
    "prevote-granted": (
        "prevote",
        "pre-vote granted to node 1 for term 1: its log (lastTerm=0 lastIndex=0) is at least as up to date",
    ),
    "prevote-won": ("prevote", "pre-vote won: nodes 1,4,5, a majority of 5 voters, would vote in term 1"),
    "prevote-denied-leader": (
        "prevote",
        "pre-vote for term 2 denied to node 5: leader 1 was heard 45 ms ago",
    ),
    "prevote-denied-log": (
        "prevote",
        "pre-vote for term 3 denied to node 4: its log (lastTerm=2 lastIndex=3) is behind ours",
    ),
    "prevote-denied-stale": (
        "prevote",
        "pre-vote denied to node 2: the term it asks for (1) is not above ours",
    ),
    "quorum-lost": ("prevote", "leader of term 2 steps down: in the last 150 ms it heard only from nodes 3,"),
    "transfer-started": ("prevote", "leadership transfer to node 3 started: no new client requests"),
    "transfer-timeout-now": ("prevote", "node 3's log matches ours up to its last entry 1: TimeoutNow sent"),
    "transfer-refused": (
        "prevote",
        "leadership transfer to node 4 refused: a transfer to node 3 is in progress",
    ),
    "transfer-aborted": ("prevote", "leadership transfer to node 4 aborted: no new leader within 300 ms"),
    "timeout-now": ("prevote", "TimeoutNow from leader 1 of term 1: election starts at once (no pre-vote)"),
}

BACKENDS = ["inprocess", pytest.param("udp", marks=pytest.mark.udp)]


@cache
def because_lines(script: str, backend: str) -> tuple[str, ...]:
    lines: list[str] = []
    path = TESTDATA / f"reasons_{script}.txt"
    code = run_script(path.read_text(), path.name, lines.append, backend=backend)
    assert code == 0, "\n".join(lines[-20:])
    return tuple(line for line in lines if line.startswith("  because: "))


def test_every_kind_is_tested() -> None:
    assert set(EXPECTED) == set(KINDS)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_because_line(kind: str, backend: str) -> None:
    script, text = EXPECTED[kind]
    found = [line for line in because_lines(script, backend) if text in line]
    assert found, f"no because: line with {text!r} in reasons_{script} on {backend}"
    assert all(line.endswith(f"({PLACES[kind]})") for line in found)


@pytest.mark.udp
@pytest.mark.parametrize("script", sorted({s for s, _ in EXPECTED.values()}))
def test_both_backends_give_the_same_reasons(script: str) -> None:
    assert because_lines(script, "udp") == because_lines(script, "inprocess")
