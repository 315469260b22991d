"""Rows laid out from structured data, essentials first: the Messages list and the event feed.

A row is built from segments, not cut out of a rendered string. Its
*essentials* (a message's id, from→to, type and decisive field, its due
time) always show; at narrow widths they take shorter forms (``RV✓`` for a
granted RequestVoteReply, ``AE✗`` for a rejected AppendEntriesReply). Its
*details* (term, prevLogIndex, prevLogTerm, leaderCommit...) fill the width
that is left, most important first, each in the longest form that fits.

A whole list uses one form level for its essentials (chosen by
``choose_level`` over the rows on screen), so a column reads the same way
from top to bottom; the header says what the short forms mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.text import Text

from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    InstallSnapshot,
    InstallSnapshotReply,
    PreVote,
    PreVoteReply,
    RequestVote,
    RequestVoteReply,
    TimeoutNow,
)
from raftviz.tui.feed import FeedItem
from raftviz.tui.model import FlightSnap

#: Essential form levels: 0 full names, 1 short names with words, 2 short names with glyphs only.
LEVELS = 3
OK, NO = "✓", "✗"
#: The short names a narrow list uses, for its legend.
SHORT_NAMES = "RV RequestVote · AE AppendEntries · IS InstallSnapshot · CR ClientReply · hb heartbeat"


@dataclass(frozen=True, slots=True)
class Seg:
    """One piece of a row: its forms, longest first, and a style."""

    forms: tuple[str, ...]
    style: str = ""

    def at(self, level: int) -> str:
        return self.forms[min(level, len(self.forms) - 1)]

    def shortest(self) -> str:
        return min(self.forms, key=cell_len)


def seg(*forms: str, style: str = "") -> Seg:
    return Seg(tuple(forms), style)


@dataclass(slots=True)
class RowParts:
    """A row before layout: a fixed left part, essentials, details, and a right-aligned end."""

    lead: list[Seg] = field(default_factory=list)
    essentials: list[Seg] = field(default_factory=list)
    details: list[Seg] = field(default_factory=list)
    right: Seg | None = None
    #: A style laid over the whole row (a violation).
    style: str = ""

    def need(self, level: int, details: bool = False) -> int:
        """Cells the row needs at ``level`` (with every detail in its shortest form if asked)."""
        parts = [s.at(level) for s in (*self.lead, *self.essentials)]
        if details:
            parts += [s.shortest() for s in self.details]
        width = sum(cell_len(p) + 1 for p in parts if p)
        if self.right is not None:
            width += cell_len(self.right.at(level)) + 1
        return width

    def layout(self, width: int, level: int) -> Text:
        """The row in exactly ``width`` cells: essentials at ``level``, then the details that fit."""
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        right = self.right.at(level) if self.right is not None else ""
        room = width - (cell_len(right) + 1 if right else 0)
        used = 0
        for s in (*self.lead, *self.essentials):
            part = s.at(level)
            if not part:
                continue
            if used:
                text.append(" ")
                used += 1
            text.append(part, s.style)
            used += cell_len(part)
        for s in self.details:
            part = next((f for f in s.forms if used + 1 + cell_len(f) <= room), None)
            if part is None:
                break  # details keep their order: the next one is less important than this one
            text.append(" ")
            text.append(part, s.style)
            used += 1 + cell_len(part)
        if right:
            text.truncate(max(room, 0), overflow="ellipsis")
            text.pad_right(max(room - text.cell_len, 0))
            text.append(" ")
            assert self.right is not None
            text.append(right, self.right.style)
        text.truncate(width, overflow="ellipsis", pad=True)
        if self.style:
            text.stylize(self.style)
        return text


def choose_level(rows: list[RowParts], width: int) -> int:
    """The fullest form level at which every row keeps its essentials (full names only
    when they leave room for every detail too: details matter more than long names).

    Only rows that can fit at some level have a say: a row cut even in its tersest
    form (a long command echo, a note) is cut anyway, and letting it choose would
    switch every other row on screen to the terse form for nothing.
    """
    rows = [r for r in rows if r.need(LEVELS - 1) <= width]
    if all(r.need(0, details=True) <= width for r in rows):
        return 0
    for level in range(1, LEVELS):
        if all(r.need(level) <= width for r in rows):
            return level
    return LEVELS - 1


# ------------------------------------------------------------------ messages


def flight_style(f: FlightSnap) -> str:
    if f.ok is False:
        return "red"
    if f.kind.startswith(("RequestVote", "PreVote")):
        return "cyan" if not f.is_reply else "green"
    if f.kind == "TimeoutNow":
        return "bright_magenta"
    if f.kind.startswith("AppendEntries"):
        return ("yellow" if f.carries_entries else "dim") if not f.is_reply else "green"
    if f.is_snapshot:
        return "orange1" if not f.is_reply else "green"
    return "magenta"


def _entries_span(msg: AppendEntries) -> str:
    n = len(msg.entries)
    first = msg.prev_log_index + 1
    return str(first) if n == 1 else f"{first}..{msg.prev_log_index + n}"


def message_segs(f: FlightSnap) -> tuple[Seg, list[Seg]]:
    """A message's type with its decisive field (one essential), and its details."""
    msg, style = f.msg, flight_style(f)
    term = seg(f"term={f.term}", f"T{f.term}", style="dim")
    if isinstance(msg, RequestVote):
        last = seg(
            f"lastLogIndex={msg.last_log_index} lastLogTerm={msg.last_log_term}",
            f"last={msg.last_log_index}/T{msg.last_log_term}",
            style="dim",
        )
        return seg("RequestVote", "RV", style=style), [term, last]
    if isinstance(msg, RequestVoteReply):
        if msg.vote_granted:
            return seg(f"RequestVoteReply {OK} granted", f"RV {OK} granted", f"RV{OK}", style=style), [term]
        return seg(f"RequestVoteReply {NO} denied", f"RV {NO} denied", f"RV{NO}", style=style), [term]
    if isinstance(msg, PreVote):
        last = seg(
            f"lastLogIndex={msg.last_log_index} lastLogTerm={msg.last_log_term}",
            f"last={msg.last_log_index}/T{msg.last_log_term}",
            style="dim",
        )
        return seg("PreVote", "PV", style=style), [
            seg(f"for term={f.term}", f"for T{f.term}", style="dim"),
            last,
        ]
    if isinstance(msg, PreVoteReply):
        if msg.vote_granted:
            return seg(f"PreVoteReply {OK} granted", f"PV {OK} granted", f"PV{OK}", style=style), [term]
        return seg(f"PreVoteReply {NO} denied", f"PV {NO} denied", f"PV{NO}", style=style), [term]
    if isinstance(msg, TimeoutNow):
        return seg("TimeoutNow: campaign now", "TimeoutNow", "TN", style=style), [term]
    if isinstance(msg, AppendEntries):
        n = len(msg.entries)
        if n == 0:
            head = seg("AppendEntries hb", "AE hb", style=style)
        else:
            span = _entries_span(msg)
            head = seg(f"AppendEntries +{n} [{span}]", f"AE +{n} [{span}]", f"AE +{n}", style=style)
        prev = seg(
            f"prevLogIndex={msg.prev_log_index} prevLogTerm={msg.prev_log_term}",
            f"prev={msg.prev_log_index}/T{msg.prev_log_term}",
            style="dim",
        )
        commit = seg(f"leaderCommit={msg.leader_commit}", f"commit={msg.leader_commit}", style="dim")
        return head, [term, prev, commit]
    if isinstance(msg, AppendEntriesReply):
        if msg.success:
            m = msg.match_index
            head = seg(
                f"AppendEntriesReply {OK} match={m}", f"AE {OK} match={m}", f"AE{OK} m={m}", style=style
            )
            return head, [term]
        if msg.conflict_index == 0:
            return seg(
                f"AppendEntriesReply {NO} stale term", f"AE {NO} stale", f"AE{NO} stale", style=style
            ), [term]
        c, ct = msg.conflict_index, msg.conflict_term
        head = seg(
            f"AppendEntriesReply {NO} reject, try {c}",
            f"AE {NO} try {c}",
            f"AE{NO} c={c}",
            style=style,
        )
        return head, [term, seg(f"conflictIndex={c} conflictTerm={ct}", f"conflict={c}/T{ct}", style="dim")]
    if isinstance(msg, InstallSnapshot):
        head = seg(f"InstallSnapshot {f.transfer}", f"IS {f.transfer}", f"IS@{msg.offset}", style=style)
        last = seg(
            f"lastIncludedIndex={msg.last_included_index} lastIncludedTerm={msg.last_included_term}",
            f"last={msg.last_included_index}/T{msg.last_included_term}",
            style="dim",
        )
        return head, [term, last]
    if isinstance(msg, InstallSnapshotReply):
        glyph = OK if f.ok else NO
        short = "done" if msg.done else f"@{msg.offset}"
        head = seg(
            f"InstallSnapshotReply {glyph} {f.transfer}",
            f"IS{glyph} {f.transfer}",
            f"IS{glyph}{short}",
            style=style,
        )
        return head, [term, seg(f"lastIncludedIndex={msg.last_included_index}", style="dim")]
    if isinstance(msg, ClientRequest):
        cmd = msg.command
        words = " ".join(p for p in (cmd.op, cmd.key, cmd.value if cmd.op in ("put", "append") else "") if p)
        # How a get is read (raftviz.core.reads) is part of what the request is: a log read says nothing.
        read = f" read={msg.read}" if msg.read else ""
        details = [seg(f"({cmd.client}#{cmd.seq})", style="dim")]
        short = f"{cmd.op} {cmd.key}" + (f" {msg.read[:5]}" if msg.read else "")
        return seg(f"ClientRequest {words}{read}", words + read, short, style=style), details
    if isinstance(msg, ClientReply):
        if msg.ok:
            value = "" if msg.value is None else f" value={msg.value}"
            head = seg(f"ClientReply {OK} ok{value}", f"CR {OK} ok{value}", f"CR{OK}{value}", style=style)
        elif msg.error:
            head = seg(f"ClientReply {NO} refused", f"CR {NO} refused", f"CR{NO}", style=style)
        else:
            hint = msg.leader_hint or "?"
            head = seg(f"ClientReply ↪ leader={hint}", f"CR ↪ leader={hint}", f"CR↪{hint}", style=style)
        details = [seg(f"#{msg.seq}", style="dim")]
        if msg.error:
            details.append(seg(f"error={msg.error!r}", style="dim"))
        return head, details
    return seg(f.text, style=style), []


def message_row(f: FlightSnap, id_width: int, route_width: int) -> RowParts:
    """A Messages-list row: ``#12 1→2 AE +3 4..6 T2 prev=3/T1 commit=3 … t=231``."""
    style = flight_style(f)
    head, details = message_segs(f)
    return RowParts(
        lead=[
            seg(f"#{f.id}".ljust(id_width + 1), style=style),
            seg(route(f.src, f.dst).ljust(route_width), style=style),
        ],
        essentials=[head],
        details=details,
        right=seg(f"t={f.deliver_at}", style="dim"),
    )


def route(src: int | str, dst: int | str) -> str:
    return f"{src}→{dst}"


def _header(width: int, lefts: tuple[str, ...], right: str) -> str:
    """The longest of ``lefts`` that fits beside ``right`` (right-aligned over its column)."""
    for left in lefts:
        if cell_len(left) + 1 + cell_len(right) <= width:
            return left + " " * (width - cell_len(left) - cell_len(right)) + right
    return lefts[-1]


def messages_header(width: int, level: int) -> str:
    """The Messages list's column header; with short names it says what they mean."""
    if level == 0:
        lefts: tuple[str, ...] = (" id    from→to  message",)
    else:
        lefts = ()
    lefts += (
        f" id  from→to  {SHORT_NAMES}",
        " id  from→to  RV vote · AE append · IS snapshot · hb heartbeat",
        " id from→to  RV vote AE append hb beat",
        " id from→to RV/AE",
    )
    return _header(width, lefts, "due")


# ------------------------------------------------------------------ the event feed

ROLE_STYLE = {
    "leader": "bold green",
    "candidate": "bold cyan",
    "pre-candidate": "cyan",
    "follower": "bold",
    "down": "bold red",
}
#: Short names of message types, for "sent" summaries.
_SHORT = {
    "RequestVote": "RV",
    "RequestVoteReply": "RV reply",
    "AppendEntries": "AE",
    "AppendEntriesReply": "AE reply",
    "InstallSnapshot": "IS",
    "InstallSnapshotReply": "IS reply",
    "ClientRequest": "request",
    "ClientReply": "CR",
    "PreVote": "PV",
    "PreVoteReply": "PV reply",
    "TimeoutNow": "TimeoutNow",
}


def feed_lead(position: int | None, time: int, show_pos: bool, time_width: int) -> list[Seg]:
    """Position (when there is room for it) and virtual time, the first columns of a feed row."""
    lead = [seg(f"{'' if position is None else position:<5}", style="dim")] if show_pos else []
    return [*lead, seg(f"{time:>{time_width}}", style="dim")]


def change_segs(item: FeedItem) -> list[Seg]:
    """``⇒ 3 candidate T2``: what changed on a node, for each change a reader follows."""
    out = []
    for change in item.shown_changes:
        role0, term0, _v0, commit0, _l0, config0, snap0 = change.before
        role1, term1, vote1, commit1, last1, config1, snap1 = change.after
        parts: list[str] = []
        if role1 != role0 or term1 != term0:
            parts.append(role1 if role1 == "down" else f"{role1} T{term1}")
        if config1 != config0:
            parts.append(f"config {config1}")
        if snap1 != snap0 and role1 != "down":
            parts.append(f"snapshot≤{snap1}")
        if commit1 != commit0 and role1 == "leader":
            parts.append(f"commit={commit1}")
        out.append(seg(f"⇒ {change.node} " + " ".join(parts), style=ROLE_STYLE.get(role1, "bold")))
    return out


def _sent_seg(sent: tuple[str, ...]) -> list[Seg]:
    if not sent:
        return []
    counts: dict[str, int] = {}
    for kind in sent:  # in the order sent: deterministic
        counts[kind] = counts.get(kind, 0) + 1
    full = "sent " + ", ".join(f"{n} {kind}" for kind, n in counts.items())
    short = "→ " + " ".join(f"{n}×{_SHORT.get(kind, kind)}" for kind, n in counts.items())
    return [seg(full, short, style="dim")]


def feed_parts(item: FeedItem, show_pos: bool, time_width: int, member: bool = False) -> RowParts:
    """One feed row: time, then the essential (what happened, the message's essentials, what
    changed, answers), then details (the message's fields, what the event sent)."""
    lead = feed_lead(item.position, item.time, show_pos, time_width)
    if member:
        lead.append(seg("│", style="dim"))
    essentials: list[Seg] = []
    details: list[Seg] = []
    f = item.flight
    if item.violation:
        essentials.append(seg("INVARIANT VIOLATED", "VIOLATION", style="bold"))
    if f is not None and item.kind in ("deliver", "lost") or (f is not None and item.text.startswith("drop")):
        assert f is not None
        head, msg_details = message_segs(f)
        if isinstance(f.msg, ClientReply) and item.answers:
            # The answer below says what the reply said, request and outcome: say it once.
            head, msg_details = seg("ClientReply", "CR", style=flight_style(f)), []
        if item.kind == "lost":
            essentials.append(seg(f"{NO} lost", style="bold red"))
        elif item.kind == "command":
            essentials.append(seg(f"{NO} drop", f"{NO} drop", style="bold red"))
        style = flight_style(f)
        essentials += [seg(f"#{f.id}", style=style), seg(route(f.src, f.dst), style=style), head]
        essentials += change_segs(item)
        if any(c.term == f.term and c.before[:2] != c.after[:2] for c in item.shown_changes):
            # ``⇒ 4 follower T1`` already says the term: ``T1 T1`` would read as a stutter.
            msg_details = [d for d in msg_details if not d.forms[0].startswith("term=")]
        if item.reason:
            details.append(seg(f"({item.reason})", style="red"))  # the first detail: why it was lost
        details += msg_details
    elif item.copy is not None:
        c = item.copy
        head, _ = message_segs(c)
        essentials += [seg(item.text, style="bold"), seg(route(c.src, c.dst), style=flight_style(c)), head]
    elif item.kind == "timer":
        essentials.append(seg(item.text, f"timer {item.node}" if item.node else item.text))
        essentials += change_segs(item)
    else:
        style = "bold" if item.kind == "command" else ""
        essentials.append(seg(item.text, style=style))
        essentials += change_segs(item)
        for change in item.changes:
            role1, term1, vote1, _c, last1, _cfg, _s = change.after
            vote = vote1 or "-"
            if role1 == "down":
                details.append(
                    seg(
                        f"on disk: term={term1} vote={vote} last={last1}",
                        f"disk T{term1} v={vote} last={last1}",
                    )
                )
            elif change.before[0] == "down":
                details.append(
                    seg(
                        f"recovered: term={term1} vote={vote} last={last1}",
                        f"from disk T{term1} v={vote} last={last1}",
                    )
                )
    for request, outcome, ok in item.answers:
        glyph = OK if ok else NO
        essentials.append(seg(f"{request} {glyph} {outcome}", style="bold green" if ok else "bold red"))
    if item.kind != "command":  # a command's own words say what it sent
        details += _sent_seg(item.sent)
    if item.lost_at_send:
        details.append(seg(f"{item.lost_at_send} lost at send", style="red"))
    if item.refused:
        details.append(seg(f"refused: {item.refused}", style="red"))
    for violation in item.violations:
        details.append(seg(violation))
    return RowParts(
        lead=lead, essentials=essentials, details=details, style="bold white on red" if item.violation else ""
    )


def note_parts(text: str, time: int, show_pos: bool, time_width: int, style: str) -> RowParts:
    """A command's echo or output, or a failure: a feed row with no history position."""
    return RowParts(lead=feed_lead(None, time, show_pos, time_width), essentials=[seg(text, style=style)])


def feed_header(width: int, show_pos: bool, time_width: int, level: int = 0) -> str:
    """The feed's header: its columns, what Enter does, and the short names when rows use them."""
    pos = "pos  " if show_pos else ""
    names = (
        (
            "what happened · RV=RequestVote AE=AppendEntries · Enter: go back / unfold ♥",
            "what happened · RV vote AE append · Enter: back/unfold ♥",
            "RV vote AE append · Enter: back/unfold ♥",
        )
        if level
        else ()
    )
    for what in (
        *names,
        "what happened · Enter: go back there · Enter/f on ♥: unfold, f: fold",
        "what happened · Enter: go back / unfold ♥",
        "what happened · Enter: go back",
        "what happened",
    ):
        head = f" {pos}{'t':>{time_width}} {what}"
        if cell_len(head) <= width:
            return head
    return f" {pos}{'t':>{time_width}} what"
