"""What the core hands its driver: the hard state to persist, and everything one input produced.

Outputs, not messages: a ``Ready`` holds the messages to send alongside the
state to make durable first and the snapshot to store, so it sits above both
:mod:`raftviz.core.messages` and :mod:`raftviz.core.snapshot` (which keeps the
messages free of any import from the rest of the core).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftviz.core.messages import Entry, Message, NodeId
from raftviz.core.reasons import Reason
from raftviz.core.snapshot import Snapshot
from raftviz.core.violations import Violation


@dataclass(slots=True)
class HardState:
    """The persistent state of Figure 2 other than the log."""

    current_term: int = 0
    voted_for: NodeId = 0  # 0 means "none"
    #: Not Figure 2: non-empty while this server is *recovering*: its storage was
    #: damaged and it may have lost what it acknowledged (the text says what, e.g.
    #: "lost entries 5..7 and its vote"). Durable, so a restart does not forget it;
    #: cleared once it has caught up from a leader (raftviz.core.replication).
    recovering: str = ""

    def copy(self) -> HardState:
        return HardState(self.current_term, self.voted_for, self.recovering)


@dataclass(slots=True)
class Ready:
    """What one input to the core produced, for the driver to carry out.

    The persistence contract: everything here must be durable before any of
    ``messages`` leaves the node, in this order:

    1. ``snapshot`` (if not ``None``): store it (it replaces any older one),
       then compact the log to it: if the log holds an entry at
       ``snapshot.index`` with ``snapshot.term``, discard that entry and all
       before it; otherwise discard the whole log. The log then starts after
       ``snapshot.index`` (Figure 13, steps 6-7).
    2. ``hard_state`` (if not ``None``).
    3. the log change: truncate everything from ``log_from`` on, then append
       ``entries`` starting at ``log_from`` (always after the snapshot).

    ``applied`` lists the log indexes applied to the state machine;
    ``violations`` the peer messages the guard dropped (nothing to persist);
    ``reasons`` why the rules decided as they did (nothing to persist: for the
    report, :mod:`raftviz.core.reasons`); ``installed`` says the state machine
    was replaced by ``snapshot`` (an InstallSnapshot) rather than the snapshot
    being taken from it.
    """

    snapshot: Snapshot | None = None
    installed: bool = False
    hard_state: HardState | None = None
    log_from: int = 0  # 0 means "the log did not change"
    entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    applied: list[int] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    #: Where storage's log change starts: ``log_from`` (what the report shows), except with the
    #: planted bug ack-before-persist (raftviz.core.bugs), which makes a change durable late.
    durable_from: int = 0
    reasons: list[Reason] = field(default_factory=list)
