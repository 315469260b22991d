"""The lab's picture of each node, built only from the node's reports.

The lab never reaches into a node: it mirrors each node's durable log from
the log changes the node reports, and its state machine by applying the
mirrored entries up to the applied index the node reports. What the lab shows
is therefore what the node said after a completed step, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftviz.core.kv import KVStore
from raftviz.core.messages import Entry
from raftviz.node.driver import Report


@dataclass(slots=True)
class NodeView:
    """One node as the lab knows it."""

    id: int
    alive: bool = True
    incarnation: int = 0
    role: str = "follower"
    term: int = 0
    vote: int = 0
    leader: int = 0
    commit: int = 0
    applied: int = 0
    deadline: int = 0
    election_timeout: int = 0
    #: The durable log, ``log[i - 1]`` being the entry at index ``i``.
    log: list[Entry] = field(default_factory=list)
    kv: KVStore = field(default_factory=KVStore)
    votes: tuple[int, ...] = ()
    next_index: tuple[tuple[int, int], ...] = ()
    match_index: tuple[tuple[int, int], ...] = ()
    dropped: int = 0
    #: Last time this node became leader (for the UI), or -1.
    leader_since: int = -1

    @property
    def last_index(self) -> int:
        return len(self.log)

    @property
    def last_term(self) -> int:
        return self.log[-1].term if self.log else 0

    def term_at(self, index: int) -> int:
        return self.log[index - 1].term if 0 < index <= len(self.log) else 0

    def absorb(self, report: Report) -> None:
        """Take in a report: mirror the log change, apply what the node applied."""
        if report.log_from:
            del self.log[report.log_from - 1 :]
            self.log.extend(report.entries)
        if report.last_index != len(self.log) or report.last_term != self.last_term:
            raise RuntimeError(
                f"node {self.id} reports last={report.last_index}/{report.last_term} "
                f"but its reported log changes give {len(self.log)}/{self.last_term}"
            )
        for index in range(self.applied + 1, report.applied + 1):
            self.kv.apply(self.log[index - 1].command)
        self.role = report.role
        self.term = report.term
        self.vote = report.vote
        self.leader = report.leader
        self.commit = report.commit
        self.applied = report.applied
        self.deadline = report.deadline
        self.election_timeout = report.election_timeout
        self.votes = report.votes
        self.next_index = report.next_index
        self.match_index = report.match_index
        self.dropped = report.dropped

    def crash(self) -> None:
        """Forget what a crash forgets: everything but term, vote and log."""
        self.alive = False
        self.role = "down"
        self.leader = 0
        self.commit = 0
        self.applied = 0
        self.kv = KVStore()
        self.votes = ()
        self.next_index = ()
        self.match_index = ()

    def status_fields(self) -> dict[str, str]:
        """The keys of DESIGN.md §4's ``status`` line, in order."""
        return {
            "node": str(self.id),
            "role": self.role,
            "term": str(self.term),
            "vote": str(self.vote) if self.vote else "-",
            "commit": str(self.commit) if self.alive else "-",
            "applied": str(self.applied) if self.alive else "-",
            "last": str(self.last_index),
            "alive": "yes" if self.alive else "no",
            "leader": str(self.leader) if self.leader else "-",
            "dropped": str(self.dropped),
        }
