"""The kinds of protocol violation a node detects in a peer's message, and one detected violation.

A violation is a message no correct Raft peer can send: obeying it would
break one of the paper's invariants (Figure 3) or overflow what the wire can
encode. The node drops such a message before any rule sees it and counts it
by kind (:mod:`raftviz.core.guards` decides). The kinds are a small closed
vocabulary so that counters, logs, reports and the lab's feed all name them
the same way; docs/protocol.md lists them with their rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from raftviz.core.messages import NodeId

#: An AppendEntries whose entries conflict with an entry this node knows is committed.
OVERWRITE_COMMITTED: Final = "overwrite-committed"
#: Terms that go backwards inside one message (an entry newer than its leader, a log out of order).
TERM_BACKWARDS: Final = "term-backwards"
#: An AppendEntries that contradicts the snapshot: its entries disagree with the snapshot's last entry.
ENTRY_BEFORE_SNAPSHOT: Final = "entry-before-snapshot"
#: A reply claiming a follower holds more of the leader's log than the leader has.
MATCH_BEYOND_LOG: Final = "match-beyond-log"
#: A term above MAX_TERM: a node could not keep incrementing it and still encode it.
TERM_TOO_LARGE: Final = "term-too-large"
#: A log index above MAX_INDEX.
INDEX_TOO_LARGE: Final = "index-too-large"
#: An AppendEntries or InstallSnapshot from a second leader in a term that already has one.
SECOND_LEADER: Final = "second-leader"

#: Every kind, in the order they are documented.
KINDS: Final = (
    OVERWRITE_COMMITTED,
    TERM_BACKWARDS,
    ENTRY_BEFORE_SNAPSHOT,
    MATCH_BEYOND_LOG,
    TERM_TOO_LARGE,
    INDEX_TOO_LARGE,
    SECOND_LEADER,
)


@dataclass(frozen=True, slots=True)
class Violation:
    """One dropped message: what kind of violation, from whom, and the numbers that show it."""

    kind: str
    src: NodeId
    message: str
    detail: str

    def describe(self) -> str:
        """One line for a log or a feed, e.g. ``AppendEntries from node 3: overwrite-committed (...)``."""
        return f"{self.message} from node {self.src}: {self.kind} ({self.detail})"
