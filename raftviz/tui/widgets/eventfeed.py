"""The event feed: every executed event and command, each said once, heartbeat rounds folded.

Rows are laid out from the controller's ``FeedItem`` values (``rows.feed_parts``),
so the feed shows a message the way the Messages list does. A run of
heartbeat-round items with no other row between them becomes one row that
counts them (play's clock ticks in between do not split a run); folding is
presentation only, so every position stays reachable.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding

from raftviz.tui.feed import FeedItem
from raftviz.tui.widgets.rowlist import ClockKeysList, Row
from raftviz.tui.widgets.rows import RowParts, feed_header, feed_lead, feed_parts, note_parts, seg


@dataclass(slots=True)
class _Note:
    """A command's echo or output, or a failure (no history position of its own)."""

    text: str
    position: int
    time: int
    failure: bool
    key: str


@dataclass(slots=True)
class _Fold:
    """A run of heartbeat-round items with no other feed row between them, shown as one row.

    Positions between them that made no row (play's own clock ticks) do not split a
    run: at play, they come between nearly every two events. ``size`` counts the
    items, so the count is exact even when only the latest ``members`` are kept;
    folding is presentation only.
    """

    serial: int
    first: int
    last: int
    first_time: int
    last_time: int
    members: deque[FeedItem]
    open: bool = False
    #: Items in the run (``members`` keeps only the latest ``FOLD_KEEP``).
    size: int = 2
    #: Members that were lost messages, and why (``link cut``), in the order first seen.
    lost: int = 0
    reasons: list[str] = field(default_factory=list)

    def count_lost(self, item: FeedItem) -> None:
        if item.kind == "lost":
            self.lost += 1
            if item.reason not in self.reasons:
                self.reasons.append(item.reason)

    def lost_text(self) -> tuple[str, str]:
        """``(12 lost at a cut link)`` and its short form, or empty when none was lost."""
        if not self.lost:
            return "", ""
        why = f": {self.reasons[0]}" if len(self.reasons) == 1 and self.reasons[0] else ""
        return f"({self.lost} lost{why})", f"({self.lost} lost)"

    @property
    def count(self) -> int:
        return self.size

    @property
    def key(self) -> str:
        return f"fold-{self.serial}-{self.first}"


_Entry = FeedItem | _Note | _Fold


@dataclass(frozen=True, slots=True)
class _Because:
    """A reason the core gave for an event (raftviz.core.reasons), on its own row under it."""

    text: str
    position: int


#: Row keys of reasons: ``because-POSITION-I`` (Enter on one goes to its event's position).
_BECAUSE = "because-"


class _FeedRow:
    """A feed row laid out when it is drawn (the feed decides whether positions fit)."""

    __slots__ = ("feed", "entry", "member")

    def __init__(self, feed: EventFeed, entry: _Entry | _Because | str, member: bool = False) -> None:
        self.feed = feed
        self.entry = entry
        self.member = member

    def parts(self) -> RowParts:
        entry, show_pos = self.entry, self.feed.show_pos
        if isinstance(entry, _Because):
            # Indented under its event; the paper's place goes first when the row is cut. The
            # app draws arrows as the feed does everywhere (the transcript's "->" is ASCII).
            text = entry.text.replace(" -> ", " → ")
            short = text.rsplit(" (", 1)[0]
            lead = feed_lead(None, 0, show_pos, self.feed.time_width)
            blank = [seg(" " * len(s.at(0)), style="") for s in lead]
            return RowParts(
                lead=blank, essentials=[seg(f"↳ because: {text}", f"↳ {short}", style="italic cyan")]
            )
        if isinstance(entry, FeedItem):
            return feed_parts(entry, show_pos, self.feed.time_width, member=self.member)
        if isinstance(entry, _Note):
            style = "bold red" if entry.failure else "italic"
            return note_parts(entry.text, entry.time, show_pos, self.feed.time_width, style)
        if isinstance(entry, _Fold):
            lead = feed_lead(entry.first, entry.first_time, show_pos, self.feed.time_width)
            mark = "▾" if entry.open else "▸"
            essentials = [seg(f"{mark} ♥ heartbeats ×{entry.count}", style="bold magenta")]
            lost, lost_short = entry.lost_text()
            if lost:
                essentials.append(seg(lost, lost_short, style="bold red"))
            essentials.append(seg(*(f"t={entry.first_time}-{entry.last_time}",) * 2, "", style="magenta"))
            hint = seg("(f: fold)", style="dim") if entry.open else seg("(Enter: unfold)", "(⏎)", style="dim")
            return RowParts(lead=lead, essentials=essentials, details=[hint])
        return RowParts(essentials=[seg(entry, style="dim italic")])


class EventFeed(ClockKeysList):
    """Every executed event and command with its virtual time; Enter jumps there.

    Each thing is said once: an event is one row laid out from its record (the
    controller leaves out a command's echo when its records say it). Runs of
    heartbeat rounds fold into one row that counts them (Enter unfolds, f folds
    again; Enter on a row inside still jumps there). Memory is bounded: at most
    ``MAX_ITEMS`` items are kept, and a marker row says how many older ones went.
    """

    BINDINGS = [Binding("f", "toggle_fold", "fold", show=False)]

    MAX_ITEMS = 2000
    #: Items of one heartbeat run kept for unfolding (the count stays exact beyond it).
    FOLD_KEEP = 500

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__("", id=id)
        self._entries: list[_Entry] = []
        self._notes = 0
        self._folds = 0
        self._kept = 0
        #: Items no longer kept (the oldest, beyond ``MAX_ITEMS``).
        self.forgotten = 0
        self.show_pos = True
        self.time_width = 1
        #: While set, only the rows it accepts are shown (the search's filter, ``F``).
        self.row_filter: Callable[[FeedItem], bool] | None = None
        self.filter_label = ""

    # ------------------------------------------------------------------ following the tail

    #: Rows added below the cursor while the reader was reading back (the footer counts them).
    unseen = 0

    def following(self) -> bool:
        """Whether new rows move the cursor to the tail: always while another list has the
        keys (the feed is then a live view), and while the reader is at the end."""
        return not self.has_focus or self.cursor >= self.row_count - 1

    def _followed(self, follow: bool, before: int) -> None:
        if follow:
            self.move_cursor(self.row_count - 1)
        else:
            self.unseen += max(self.row_count - before, 0)

    def move_cursor(self, row: int) -> None:
        super().move_cursor(row)
        if self.cursor >= self.row_count - 1:
            self.unseen = 0

    def footer_text(self, width: int) -> str:
        if not self.unseen or self.cursor >= self.row_count - 1:
            return ""
        rows = "row" if self.unseen == 1 else "rows"
        for text in (f"{self.unseen} new {rows} ↓ (End)", f"{self.unseen} new ↓ End", f"+{self.unseen}↓"):
            if cell_len(text) <= width:
                return text.rjust(width)
        return ""

    # ------------------------------------------------------------------ content

    def _item_rows(self, item: FeedItem, member: bool = False) -> list[tuple[str, Row]]:
        """An item's row, and under it a row per reason the core gave (not for a heartbeat
        round's members: a follower learning the commit index is the round itself)."""
        rows: list[tuple[str, Row]] = [(str(item.position), _FeedRow(self, item, member=member))]
        if not item.heartbeat:
            for i, text in enumerate(item.because):
                rows.append((f"{_BECAUSE}{item.position}-{i}", _FeedRow(self, _Because(text, item.position))))
        return rows

    def add_items(self, items: list[FeedItem]) -> None:
        follow, before = self.following(), self.row_count
        self._add_items(items)
        self._followed(follow, before)

    def _add_items(self, items: list[FeedItem]) -> None:
        rows: list[tuple[str, Row]] = []
        for item in items:
            last = self._entries[-1] if self._entries else None
            if item.heartbeat and isinstance(last, _Fold) and item.position > last.last:
                last.last, last.last_time = item.position, item.time
                last.size += 1
                last.members.append(item)
                last.count_lost(item)
                self._kept += 1
                if last.open:
                    rows.append((str(item.position), _FeedRow(self, item, member=True)))
                if len(last.members) > self.FOLD_KEEP:
                    last.members.popleft()
                    self._kept -= 1
                    if last.open:
                        self._rebuild_later = True
                continue
            if (
                item.heartbeat
                and isinstance(last, FeedItem)
                and last.heartbeat
                and item.position > last.position
            ):
                # A second heartbeat item in a row: the two become a fold, in place of the first's row.
                self._folds += 1
                fold = _Fold(
                    self._folds, last.position, item.position, last.time, item.time, deque([last, item])
                )
                fold.count_lost(last)
                fold.count_lost(item)
                self._entries[-1] = fold
                row = (fold.key, _FeedRow(self, fold))
                if rows and rows[-1][0] == str(last.position):
                    rows[-1] = row
                elif self.keys and self.keys[-1] == str(last.position):
                    self.keys[-1], self.rows[-1] = row
                else:
                    self._rebuild_later = True
            else:
                self._entries.append(item)
                rows += self._item_rows(item)
            self._kept += 1
        self._append(rows)

    def replace(self, items: list[FeedItem], earlier: bool) -> None:
        """Show another stretch of history (after a jump): the rows on the way to where the
        session is now. ``earlier``: the way is longer than these rows (a marker says so)."""
        self._entries, self._kept, self.forgotten = [], 0, 0
        self.set_rows([])
        self._earlier = earlier
        self._rebuild_later = True
        self._add_items(items)
        self.unseen = 0
        self.move_cursor(self.row_count - 1)

    _earlier = False

    def add_note(self, text: str, position: int, time: int, failure: bool = False) -> None:
        follow, before = self.following(), self.row_count
        self._notes += 1
        note = _Note(text, position, time, failure, f"note-{self._notes}-{position}")
        self._entries.append(note)
        self._kept += 1
        self._append([(note.key, _FeedRow(self, note))])
        self._followed(follow, before)

    _rebuild_later = False

    def set_filter(self, accept: Callable[[FeedItem], bool] | None, label: str = "") -> None:
        """Show only the rows ``accept`` accepts (None: every row again)."""
        self.row_filter = accept
        self.filter_label = label
        self._rebuild()
        self.move_cursor(self.row_count - 1)

    def _append(self, rows: list[tuple[str, Row]]) -> None:
        if self._kept > self.MAX_ITEMS:
            self._trim()
        elif self._rebuild_later or self.row_filter is not None:
            self._rebuild()
        else:
            self.append_rows(rows)
        self.refresh()

    def _trim(self) -> None:
        """Forget the oldest entries, a tenth of the cap at a time (so trimming is rare)."""
        target = self.MAX_ITEMS * 9 // 10
        drop = 0
        while self._kept > target and drop < len(self._entries):
            entry = self._entries[drop]
            size = len(entry.members) if isinstance(entry, _Fold) else 1
            self._kept -= size
            self.forgotten += entry.count if isinstance(entry, _Fold) else 1
            drop += 1
        del self._entries[:drop]
        self._rebuild()

    def _rebuild(self) -> None:
        """Lay the rows out again from the entries (after a fold, a trim or a rewind)."""
        self._rebuild_later = False
        at_end = self.cursor >= self.row_count - 1
        if self.row_filter is not None:
            self._rebuild_filtered(self.row_filter, at_end)
            return
        rows: list[tuple[str, Row]] = []
        if self.forgotten:
            text = f"⋯ {self.forgotten} older rows not kept (g jumps to any position)"
            rows.append(("older-0", _FeedRow(self, text)))
        elif self._earlier:
            rows.append(
                ("older-0", _FeedRow(self, "⋯ earlier positions not shown (g jumps to any position)"))
            )
        for entry in self._entries:
            if isinstance(entry, FeedItem):
                rows += self._item_rows(entry)
            elif isinstance(entry, _Note):
                rows.append((entry.key, _FeedRow(self, entry)))
            else:
                rows.append((entry.key, _FeedRow(self, entry)))
                if entry.open:
                    hidden = entry.count - len(entry.members)
                    if hidden:
                        text = f"   ⋯ {hidden} earlier heartbeat rows not kept"
                        rows.append((f"hidden-{entry.serial}-{entry.first}", _FeedRow(self, text)))
                    rows += [(str(m.position), _FeedRow(self, m, member=True)) for m in entry.members]
        self.set_rows(rows)
        if at_end:
            self.move_cursor(self.row_count - 1)

    def _rebuild_filtered(self, accept: Callable[[FeedItem], bool], at_end: bool) -> None:
        """Only the matching rows: heartbeat folds open into their matching members, notes go."""
        shown: list[tuple[str, Row]] = []
        for entry in self._entries:
            if isinstance(entry, FeedItem):
                if accept(entry):
                    shown += self._item_rows(entry)
            elif isinstance(entry, _Fold):
                shown += [(str(m.position), _FeedRow(self, m)) for m in entry.members if accept(m)]
        count = f"{len(shown)} matching row{'s' if len(shown) != 1 else ''}"
        head = f"⧩ filter: {self.filter_label} · {count} (F shows all)"
        self.set_rows([("filter-0", _FeedRow(self, head)), *shown])
        if at_end:
            self.move_cursor(self.row_count - 1)

    def truncate(self, position: int) -> None:
        """Forget what happened after ``position`` (history was rewound)."""
        kept: list[_Entry] = []
        for entry in self._entries:
            if isinstance(entry, _Fold):
                if entry.first > position:
                    continue
                if entry.last > position:
                    entry.last = position
                    while entry.members and entry.members[-1].position > position:
                        entry.members.pop()
                        entry.size -= 1
                    # (Members not kept are all earlier than those kept, so the count holds.)
                    entry.size = max(min(entry.size, position - entry.first + 1), 1)
                    entry.last_time = entry.members[-1].time if entry.members else entry.first_time
                    # Counted again from the members kept (exact unless the run outgrew FOLD_KEEP).
                    entry.lost, entry.reasons = 0, []
                    for member in entry.members:
                        entry.count_lost(member)
                kept.append(entry)
            elif entry.position <= position:
                kept.append(entry)
        self._entries = kept
        self._kept = sum(len(e.members) if isinstance(e, _Fold) else 1 for e in kept)
        self._rebuild()
        self.move_cursor(self.row_count - 1)

    # ------------------------------------------------------------------ folds

    def _fold_at_cursor(self) -> _Fold | None:
        key = self.cursor_key()
        if key is None:
            return None
        if key.startswith(("fold-", "hidden-")):
            serial = int(key.split("-")[1])
            return next((e for e in self._entries if isinstance(e, _Fold) and e.serial == serial), None)
        if key.isdigit():
            position = int(key)
            for entry in self._entries:
                if isinstance(entry, _Fold) and entry.open and entry.first <= position <= entry.last:
                    return entry
        return None

    def action_toggle_fold(self) -> None:
        fold = self._fold_at_cursor()
        if fold is None:
            return
        fold.open = not fold.open
        self._rebuild()
        self.move_cursor(self.row_index(fold.key))

    def action_select(self) -> None:
        key = self.cursor_key()
        if key is not None and key.startswith("fold-"):
            self.action_toggle_fold()  # a fold row has no one position to go back to: it opens
            return
        super().action_select()

    # ------------------------------------------------------------------ drawing

    def layout(self, rows: list[Row], width: int) -> tuple[list[Text], int]:
        # Positions are worth their column only where the essentials still fit beside them.
        self.show_pos = width >= 44
        # The time column as wide as the latest time on screen needs (times only grow).
        times = [r.entry for r in rows if isinstance(r, _FeedRow) and not isinstance(r.entry, str | _Because)]
        latest = max((e.last_time if isinstance(e, _Fold) else e.time for e in times), default=0)
        self.time_width = max(len(str(latest)), 1)
        return super().layout(rows, width)

    def header_text(self, width: int, level: int) -> str:
        return feed_header(width, width - 1 >= 44, self.time_width, level)

    def selected_position(self) -> int | None:
        key = self.cursor_key()
        if key is not None and key.startswith(_BECAUSE):
            key = key[len(_BECAUSE) :].split("-")[0]  # a reason's row: its event's position
        if key is None or not key.isdigit():
            return None
        return int(key)

    def lines(self) -> list[str]:
        """The rows as plain text (for tests and screen readers)."""
        return self.plain_lines()
