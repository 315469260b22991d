"""The space-time diagram's rows: made on the lab thread, kept compactly by the app.

The diagram (``widgets/diagram.py``) draws the history being followed, from
the root to the tip of its branch, one row per event (``lab/events.py``): a
message's delivery, its loss, a timeout, a crash, a role change... The sends
of one position by one sender of one message type share a row (a leader's
heartbeat to four followers is one row, not four), since what matters on the
send row is the mark on the sender's lane.

``DiagramSource`` lives on the lab thread. It turns each record into rows as
the history publishes it (a ``step 10000`` evicts the oldest records before
its update is made), and after each action hands the app a ``DiagramDelta``:
which rows to keep (a branch was left, or the history replaced) and the new
rows. ``DiagramRows`` is the app's copy: flat integer columns, so a history
of 100,000 positions costs a few megabytes, and a row is found by position
with a binary search (positions increase along any way through the tree).
About 40 bytes a row: 100,000 positions make some 160,000 rows, 6 MB.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

from raftviz.lab.events import Event, events_of
from raftviz.lab.events import _change_events as change_events
from raftviz.lab.events import _is_refusal as is_refusal
from raftviz.lab.history import History
from raftviz.lab.lab import StepRecord
from raftviz.lab.network import Flight
from raftviz.lab.timeline import EVENT, ROOT

#: The kinds of rows, by code (the index). Sends are grouped (``send``: one row per sender
#: and message type at a position); the rest are the event kinds of ``lab/events.py``.
KINDS: tuple[str, ...] = (
    "send",
    "deliver",
    "lost",
    "drop",
    "duplicate",
    "timeout",
    "heartbeat",
    "timer",
    "crash",
    "restart",
    "start",
    "role",
    "term",
    "commit",
    "config",
    "snapshot",
    "request",
    "answer",
    "retry",
    "network",
    "command",
    "violation",
    "refused",
)
KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
#: Kinds whose row is about one message (Enter on it shows the message).
MESSAGE_KINDS = frozenset(KIND_CODE[k] for k in ("send", "deliver", "lost", "drop", "duplicate"))
#: Kinds whose words are kept as they are (rare, and not made of numbers).
TEXT_KINDS = frozenset(
    KIND_CODE[k]
    for k in ("config", "request", "answer", "retry", "network", "command", "violation", "refused")
)

#: Message types by code; ``AppendEntries`` with entries (``+``) is told from a heartbeat.
MSG_TYPES: tuple[str, ...] = (
    "",
    "RequestVote",
    "RequestVoteReply",
    "AppendEntries",
    "AppendEntries+",
    "AppendEntriesReply",
    "InstallSnapshot",
    "InstallSnapshotReply",
    "ClientRequest",
    "ClientReply",
    # Pre-Vote and leadership transfer (dissertation §9.6, §3.10): after the others, so codes stay.
    "PreVote",
    "PreVoteReply",
    "TimeoutNow",
)
MSG_CODE = {name: code for code, name in enumerate(MSG_TYPES)}

#: Roles by code, for role rows and the lanes' look.
ROLES: tuple[str, ...] = (
    "follower",
    "candidate",
    "leader",
    "down",
    "learner",
    "outside",
    "absent",
    "pre-candidate",
)
ROLE_CODE = {role: code for code, role in enumerate(ROLES)}
ABSENT = ROLE_CODE["absent"]

#: The lane of every client (clients share one lane, at the right).
CLIENTS = 10

#: Flag bits.
REJECTED = 1
#: A lost message's cause: lost at send (the loss model), not on its way.
AT_SEND = 2

#: One row, as handed from the lab thread: position, time, kind, lane, other (the sender's
#: lane of an arrow, the receivers' lanes as bits for a send), message id, message type,
#: term (or commit index, snapshot index, role code), flags, count (messages in a send
#: row), text (for the text kinds; a lost message's cause).
RowTuple = tuple[int, int, int, int, int, int, int, int, int, int, str]


def lane_of(address: object) -> int:
    """A node's lane is its id; every client's is ``CLIENTS``; a network change has none (0)."""
    if isinstance(address, bool) or address is None:
        return 0
    if isinstance(address, int):
        return address
    return CLIENTS


def _msg_code(event: Event) -> int:
    name = event.msg_type
    if name == "AppendEntries" and "entries=none" not in event.summary:
        name = "AppendEntries+"
    return MSG_CODE.get(name, 0)


def rows_of(events: Iterable[Event]) -> list[RowTuple]:
    """The rows of one record's (or one position's) events, in their order."""
    rows: list[RowTuple] = []
    group: dict[tuple[int, int], int] = {}  # (sender lane, type) -> index of its send row
    for e in events:
        kind = KIND_CODE.get(e.kind, KIND_CODE["command"])
        lane = lane_of(e.node)
        flags = REJECTED if e.rejected else 0
        if e.kind == "send":
            mtype = _msg_code(e)
            key = (lane, mtype)
            at = group.get(key)
            if at is not None:
                row = rows[at]
                rows[at] = (*row[:4], row[4] | 1 << lane_of(e.dst), *row[5:8], row[8] | flags, row[9] + 1, "")
                continue
            group[key] = len(rows)
            rows.append((e.position, e.time, kind, lane, 1 << lane_of(e.dst), e.msg_id, mtype,
                         e.term or 0, flags, 1, ""))  # fmt: skip
        elif kind in MESSAGE_KINDS:
            if e.kind == "lost" and e.cause == "loss":
                flags |= AT_SEND
            rows.append((e.position, e.time, kind, lane_of(e.dst), lane_of(e.src), e.msg_id, _msg_code(e),
                         e.term or 0, flags, 1, e.cause))  # fmt: skip
        elif e.kind == "role":
            if e.after == "down":
                continue  # the crash's own row says it (and sets the lane down)
            rows.append((e.position, e.time, kind, lane, 0, 0, 0, e.term or 0, flags,
                         ROLE_CODE.get(e.after, 0), ""))  # fmt: skip
        elif e.kind == "term":
            rows.append((e.position, e.time, kind, lane, 0, 0, 0, e.term or 0, flags, 0, ""))
        elif e.kind in ("commit", "snapshot"):
            rows.append((e.position, e.time, kind, lane, 0, 0, 0, e.value, flags, 0, ""))
        else:
            text = e.text if kind in TEXT_KINDS else ""
            rows.append((e.position, e.time, kind, lane, 0, 0, 0, e.term or 0, flags, 0, text))
    return rows


def _flight_row(
    position: int, time: int, kind: str, flight: Flight, flags: int = 0, cause: str = "", count: int = 1
) -> RowTuple:
    """A message's row straight from its flight (what ``rows_of`` makes of its event)."""
    msg = flight.msg
    name = type(msg).__name__
    if name == "AppendEntries" and msg.entries:  # type: ignore[attr-defined]
        name = "AppendEntries+"
    term = getattr(msg, "term", None)
    if is_refusal(msg):
        flags |= REJECTED
    other = lane_of(flight.src)
    lane = lane_of(flight.dst)
    if kind == "send":
        lane, other = other, 1 << lane
    return (position, time, KIND_CODE[kind], lane, other, flight.id, MSG_CODE.get(name, 0),
            term if isinstance(term, int) else 0, flags, count, cause)  # fmt: skip


def record_rows(position: int, record: StepRecord) -> list[RowTuple]:
    """The rows of one record: ``rows_of(events_of(...))``, made directly for a delivery or a
    loss (most records), where the events' words (every message described twice) are not needed.
    Anything rarer goes through the events (tests/tui/test_tui_diagram.py holds both equal)."""
    flight = record.flight
    if (
        record.kind not in ("deliver", "lost")
        or flight is None
        or record.answers
        or record.refused
        or record.violations
    ):
        return rows_of(events_of(position, EVENT, [record]))
    t = record.time
    if record.kind == "deliver":
        refused = any(is_refusal(f.msg) for f in record.sent if f.dst == flight.src)
        rows = [_flight_row(position, t, "deliver", flight, REJECTED if refused else 0)]
    else:
        cause = record.text.partition(": ")[2]
        rows = [_flight_row(position, t, "lost", flight, AT_SEND if cause == "loss" else 0, cause)]
    for change in record.changes:
        rows += rows_of(change_events(position, t, change))
    group: dict[tuple[int, int], int] = {}  # (sender lane, type) -> index of its send row
    for sent in record.sent:
        row = _flight_row(position, t, "send", sent)
        key = (row[3], row[6])
        at = group.get(key)
        if at is None:
            group[key] = len(rows)
            rows.append(row)
        else:
            old = rows[at]
            rows[at] = (*old[:4], old[4] | row[4], *old[5:8], old[8] | row[8], old[9] + 1, "")
    for lost in record.lost:
        rows.append(_flight_row(position, t, "lost", lost, AT_SEND, "loss"))
    return rows


@dataclass(slots=True)
class DiagramDelta:
    """What changed in the followed history since the last update.

    ``keep``: rows at positions after it are gone (None: all stay; -1: none stay).
    """

    keep: int | None
    rows: list[RowTuple] = field(default_factory=list)


class DiagramSource:
    """On the lab thread: the rows of the history being followed, as deltas for the app."""

    def __init__(self) -> None:
        self.history: History | None = None
        #: The last position on the followed way whose rows were handed on.
        self.covered = ROOT
        self._pending: list[RowTuple] = []
        self._now = 0

    def on_record(self, position: int, record: StepRecord) -> None:
        """A history listener: the rows of a record, as it is published."""
        self._pending += record_rows(position, record)

    def delta(self, history: History) -> DiagramDelta | None:
        """The rows to drop and to add so that the app's rows follow root -> tip of the branch followed."""
        timeline = history.timeline
        tip = timeline.branches[timeline.branch].tip
        keep: int | None = None
        if history is not self.history:
            self.history, self.covered, keep = history, ROOT, -1
        elif not timeline.is_ancestor(self.covered, tip):
            # Another branch is followed: keep the way both share.
            self.covered = keep = self._shared(history, tip)
        pending, self._pending = self._pending, []
        if self.covered == tip and keep is None:
            return None
        by_position: dict[int, list[RowTuple]] = {}
        for row in pending:
            by_position.setdefault(row[0], []).append(row)
        rows: list[RowTuple] = []
        missing: list[int] = []
        way = timeline.path(self.covered, tip) if self.covered != tip else []
        for position in way:
            if position in by_position:
                rows += self._derive(history, missing)
                missing = []
                rows += by_position[position]
                self._now = by_position[position][-1][1]
            else:
                missing.append(position)
        rows += self._derive(history, missing)
        self.covered = tip
        return DiagramDelta(keep, rows)

    def _shared(self, history: History, tip: int) -> int:
        """The last position on the way to ``covered`` that is also on the way to ``tip``."""
        timeline = history.timeline
        way = timeline.path(ROOT, self.covered)
        lo, hi = 0, len(way)  # way[:lo] are ancestors of tip; way[hi:] are not
        while lo < hi:
            mid = (lo + hi) // 2
            if timeline.is_ancestor(way[mid], tip):
                lo = mid + 1
            else:
                hi = mid
        return way[lo - 1] if lo else ROOT

    def _derive(self, history: History, positions: list[int]) -> list[RowTuple]:
        """Rows of consecutive positions on the way that no record announced (a partition,
        a clock move, a way taken before on another branch): from the history's records."""
        if not positions:
            return []
        rows: list[RowTuple] = []

        def visit(position: int, step: object, records: list[StepRecord]) -> None:
            nonlocal rows
            if records:
                self._now = records[-1].time
            # Record by record, as ``on_record`` makes them (sends are grouped within a record).
            for record in records:
                rows += record_rows(position, record)
            if not records:
                rows += rows_of(events_of(position, step, [], self._now))  # type: ignore[arg-type]

        start = history.timeline.parent(positions[0])
        history.walk(visit, end=positions[-1], start=ROOT if start is None else start)
        return rows


class DiagramRows:
    """The app's rows: one integer column per field, and the rare texts by row."""

    #: Each column and its array type: 8 bytes for what grows with the run, 1 or 2 for codes.
    COLUMNS = (
        ("position", "q"),
        ("time", "q"),
        ("kind", "B"),
        ("lane", "B"),
        ("other", "H"),  # a lane, or the receivers' lanes as bits (1..CLIENTS)
        ("msg", "q"),
        ("mtype", "B"),
        ("term", "q"),
        ("flags", "B"),
        ("count", "H"),
    )

    def __init__(self) -> None:
        self.cols = [array(code) for _name, code in self.COLUMNS]
        (self.position, self.time, self.kind, self.lane, self.other, self.msg, self.mtype, self.term,
         self.flags, self.count) = self.cols  # fmt: skip
        self.texts: dict[int, str] = {}
        #: Per lane: the rows at which its role changed, and the role from there.
        self.role_rows: dict[int, array] = {}
        self.role_codes: dict[int, array] = {}
        #: Per lane: the row it was first seen at.
        self.first_seen: dict[int, int] = {}
        #: How many times rows were replaced (a widget redraws when it changes).
        self.version = 0

    def __len__(self) -> int:
        return len(self.position)

    @property
    def lanes(self) -> list[int]:
        """Every lane seen: nodes by id, then the clients' lane."""
        return sorted(self.role_rows)

    def apply(self, delta: DiagramDelta) -> None:
        if delta.keep is not None:
            self.truncate(delta.keep)
        for row in delta.rows:
            self.append(row)
        self.version += 1

    def truncate(self, keep: int) -> None:
        """Drop the rows of positions after ``keep`` (-1: all)."""
        n = 0 if keep < 0 else bisect.bisect_right(self.position, keep)
        if n == len(self):
            return
        for col in self.cols:
            del col[n:]
        self.texts = {i: t for i, t in self.texts.items() if i < n}
        for lane in list(self.role_rows):
            if self.first_seen[lane] >= n:
                del self.role_rows[lane], self.role_codes[lane], self.first_seen[lane]
                continue
            rows = self.role_rows[lane]
            cut = max(bisect.bisect_left(rows, n), 1)  # the first entry (-1) is the lane's start
            del rows[cut:], self.role_codes[lane][cut:]

    def append(self, row: RowTuple) -> None:
        i = len(self)
        for col, value in zip(self.cols, row, strict=False):
            col.append(value)
        if row[10]:
            self.texts[i] = row[10]
        kind, lane = KINDS[row[2]], row[3]
        if kind == "send":
            self._lane(lane, i, kind)
            other = row[4]
            for dst in range(1, CLIENTS + 1):
                if other >> dst & 1:
                    self._lane(dst, i, kind)
        elif lane:
            self._lane(lane, i, kind)
            if row[2] in MESSAGE_KINDS and row[4]:
                self._lane(row[4], i, kind)
        if kind == "role":
            self._set_role(lane, i, row[9])
        elif kind == "crash":
            self._set_role(lane, i, ROLE_CODE["down"])
        elif kind in ("restart", "start"):
            self._set_role(lane, i, ROLE_CODE["follower"])

    def _lane(self, lane: int, row: int, kind: str) -> None:
        """A lane first seen: a node there from the start is a follower from the first row;
        one started later (``add``) is absent until its start."""
        if lane and lane not in self.role_rows:
            start = ABSENT if kind == "start" else ROLE_CODE["follower"]
            self.role_rows[lane] = array("q", [-1])
            self.role_codes[lane] = array("b", [start])
            self.first_seen[lane] = row

    def _set_role(self, lane: int, row: int, code: int) -> None:
        self._lane(lane, row, "role")
        rows, codes = self.role_rows[lane], self.role_codes[lane]
        if rows[-1] == row:
            codes[-1] = code
        else:
            rows.append(row)
            codes.append(code)

    def role_at(self, lane: int, row: int) -> int:
        """The lane's role at (after) ``row``."""
        rows = self.role_rows.get(lane)
        if rows is None:
            return ABSENT
        return self.role_codes[lane][bisect.bisect_right(rows, row) - 1]

    def row_of(self, position: int) -> int:
        """The first row of the last position at or before ``position`` that has rows (0 if none)."""
        last = bisect.bisect_right(self.position, position) - 1
        if last < 0:
            return 0
        return bisect.bisect_left(self.position, self.position[last])

    def row(self, i: int) -> RowTuple:
        values = [col[i] for col in self.cols]
        return (*values, self.texts.get(i, ""))  # type: ignore[return-value]

    def is_message(self, i: int) -> bool:
        return 0 <= i < len(self) and self.kind[i] in MESSAGE_KINDS

    def sent_row(self, i: int) -> int | None:
        """For a message row: the row that sent it (searched back from its own row)."""
        msg = self.msg[i]
        send = KIND_CODE["send"]
        for j in range(i, max(-1, i - 5000), -1):
            if self.kind[j] == send and self.msg[j] <= msg < self.msg[j] + self.count[j]:
                return j
        return None
