"""Planted bugs: named switches that each break one rule of Raft, to watch the cluster fail.

The best way to see why a rule of Figure 2 is there is to take it out. Each
:class:`Bug` here changes exactly one rule of the core and nothing else; it is
off unless a cluster asks for it (``cluster N bug=NAME`` for every node,
``bug=NAME@2`` for node 2 alone, docs/scenario-language.md). The switches live
in the core's rules themselves (one ``if`` each, next to the rule they break),
so a node process shows the same runs as the in-process lab, byte for byte.

``invariant`` names what the lab's checker reports when the damage shows
(raftviz.lab.invariants): the test of each bug runs a short scenario that makes
that invariant fail, and ``raftviz hunt`` looks for such scenarios at random.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bug:
    """One planted bug: the rule it breaks, and how the breakage shows."""

    name: str
    #: Where the rule is in the Raft paper (Figure 2 paragraph or section).
    rule: str
    #: What the buggy node does instead, in one sentence.
    does: str
    #: The invariant of raftviz.lab.invariants that fails when the damage shows.
    invariant: str


BUGS: dict[str, Bug] = {
    bug.name: bug
    for bug in (
        Bug(
            "forget-vote",
            "Figure 2, Persistent state: votedFor is updated on stable storage before responding",
            "does not persist votedFor, so after a restart it can vote again in a term it voted in",
            "Election Safety",
        ),
        Bug(
            "vote-any-log",
            "Figure 2, RequestVote receiver 2; §5.4.1 (election restriction)",
            "grants its vote without checking that the candidate's log is at least as up to date as its own",
            "Leader Completeness",
        ),
        Bug(
            "commit-old-term",
            "Figure 2, Rules for Leaders (log[N].term == currentTerm); §5.4.2, Figure 8",
            "as leader, commits an entry of an earlier term as soon as a majority holds it",
            "Leader Completeness",
        ),
        Bug(
            "skip-prev-check",
            "Figure 2, AppendEntries receiver 2 (reply false if the log has no entry at "
            "prevLogIndex whose term matches prevLogTerm)",
            "appends after prevLogIndex even when its entry there has another term",
            "Log Matching",
        ),
        Bug(
            "truncate-always",
            "Figure 2, AppendEntries receiver 3 (delete an existing entry only if it conflicts)",
            "deletes everything after prevLogIndex on every AppendEntries with entries, so a late or "
            "duplicated one erases newer entries, committed ones included",
            "Leader Completeness",
        ),
        Bug(
            "ack-before-persist",
            "Figure 2, Persistent state (updated on stable storage before responding to RPCs)",
            "as follower, makes new log entries durable only at its next input, after it has acknowledged "
            "them: a crash in between loses entries the leader counted",
            "Leader Completeness",
        ),
        Bug(
            "no-step-down",
            "Figure 2, Rules for All Servers (a response with term T > currentTerm: "
            "set currentTerm = T, convert to follower)",
            "as leader, ignores a higher term in the replies it gets and goes on leading its old term",
            "Term Rule",
        ),
    )
}


class BugError(ValueError):
    """A bug switch that names no planted bug, or no node."""


def parse(text: str) -> tuple[str, ...]:
    """``NAME[@N][,NAME[@N]...]`` as the sorted switches of a RaftConfig; BugError if wrong."""
    switches: set[str] = set()
    for part in text.split(","):
        part = part.strip()
        name, at, node = part.partition("@")
        if name not in BUGS:
            known = ", ".join(BUGS)
            raise BugError(f"no planted bug is called {name!r} (known: {known}; raftviz bugs lists them)")
        if at and not (node.isdigit() and 1 <= int(node) <= 9):
            raise BugError(f"bug {part!r}: @ must name a node id 1..9")
        switches.add(f"{name}@{int(node)}" if at else name)
    return tuple(sorted(switches))


def check(switches: tuple[str, ...]) -> None:
    """Raise BugError unless every switch is ``NAME`` or ``NAME@N`` of a planted bug."""
    for switch in switches:
        parse(switch)


def active(switches: tuple[str, ...], node: int) -> frozenset[str]:
    """The names of the bugs planted in ``node`` (every node's, and its own)."""
    names = set()
    for switch in switches:
        name, at, which = switch.partition("@")
        if not at or int(which) == node:
            names.add(name)
    return frozenset(names)


def describe(switches: tuple[str, ...]) -> str:
    """``vote-any-log, forget-vote@2`` (what a header or transcript says), or ""."""
    return ", ".join(switches)
