"""The text panels of the main screen: messages and inspector (feed: eventfeed.py; header: header.py)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.events import Click
from textual.widget import Widget

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
from raftviz.tui.model import FlightSnap, NodeSnap, Snapshot, config_text
from raftviz.tui.widgets.drawn import drawn
from raftviz.tui.widgets.eventfeed import EventFeed
from raftviz.tui.widgets.rowlist import ClockKeysList
from raftviz.tui.widgets.rows import NO, OK, flight_style, message_row, messages_header, route

__all__ = [
    "SPEEDS",
    "EventFeed",
    "Inspector",
    "MessagesTable",
    "inspect_message",
    "inspect_node",
]

ROLE_STYLE = {
    "leader": "bold black on bright_green",
    "candidate": "bold black on bright_cyan",
    "pre-candidate": "bold black on cyan",
    "follower": "bold",
    "down": "bold white on red",
}

SPEEDS: list[tuple[str, float]] = [
    ("1/1000×", 0.001),
    ("1/100×", 0.01),
    ("1/30×", 1 / 30),
    ("1/10×", 0.1),
    ("1/4×", 0.25),
    ("1/2×", 0.5),
    ("1×", 1.0),
    ("max", 0.0),
]


class Painted(Widget):
    """A widget that repaints its content without asking for a new layout.

    ``Static.update`` re-lays-out the whole screen every time; these panels
    have fixed sizes, so a plain repaint is enough (and much faster).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._content: RenderableType = ""

    def update(self, content: RenderableType) -> None:
        self._content = content
        self.refresh()

    def render(self) -> RenderableType:
        return drawn(self._content) if isinstance(self._content, Text) else self._content


class MessagesTable(ClockKeysList):
    """Messages in flight, due first; the cursor row is the selected message.

    Moving the cursor (keys or a click) shows the message whole in the inspector.
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(" id  from→to  message", id=id)
        self._flights: dict[str, FlightSnap] = {}

    def show(self, snap: Snapshot) -> None:
        # Ids grow past 9999 in long runs: widen the column rather than run into the next.
        id_width = max([3, *(len(str(f.id)) for f in snap.flights)])
        route_width = max([3, *(len(route(f.src, f.dst)) for f in snap.flights)])
        self._flights = {str(f.id): f for f in snap.flights}
        self.set_rows([(str(f.id), message_row(f, id_width, route_width)) for f in snap.flights])

    def header_text(self, width: int, level: int) -> str:
        return messages_header(width, level)

    def footer_text(self, width: int) -> str:
        if self.content_size.height < 5:
            return ""  # too short to spare a line: the help screen lists these keys
        for hint in (
            " ↑↓ select · d deliver · x drop · u duplicate · shown whole in the inspector",
            " ↑↓ select · d deliver · x drop · u duplicate",
            " ↑↓ select d deliver x drop u dup",
            " ↑↓ d deliver x drop",
        ):
            if len(hint) <= width:
                return hint
        return ""

    def selected_id(self) -> int | None:
        key = self.cursor_key()
        return int(key) if key is not None else None

    def selected_flight(self) -> FlightSnap | None:
        key = self.cursor_key()
        return self._flights.get(key) if key is not None else None

    def action_cursor(self, delta: int) -> None:
        super().action_cursor(delta)
        self._inspect()

    def action_page(self, direction: int) -> None:
        super().action_page(direction)
        self._inspect()

    def action_cursor_to(self, row: int) -> None:
        super().action_cursor_to(row)
        self._inspect()

    def on_click(self, event: Click) -> None:
        super().on_click(event)
        self._inspect()

    def _inspect(self) -> None:
        """The learner chose a message: the inspector shows it whole (1-9 goes back to a node)."""
        key = self.cursor_key()
        for inspector in self.screen.query(Inspector):
            inspector.inspect_message(int(key) if key is not None else None)


_MEMBERSHIP_TEXT = {"voter": "voter", "learner": "learner", "none": "not a member"}
_MEMBERSHIP_STYLE = {"voter": "bold", "learner": "bold black on orchid1", "none": "bold black on grey58"}


def _disk_text(disk: str) -> str:
    """What a disk fault does, in a few words (docs/scenario-language.md, "Disks")."""
    mode, _, ms = disk.partition(":")
    return {
        "fail": "FAILED: its next write fails (EIO) and it stops",
        "full": "FULL: refuses new entries (ENOSPC); still votes and follows",
        "slow": f"SLOW: each fsync takes {ms} ms more; what it sends after one is late",
    }.get(mode, disk)


def inspect_node(node: NodeSnap, snap: Snapshot) -> Group:
    """Everything in Figure 2 for one node, persisted apart from volatile; its configuration and snapshot."""
    title = Text()
    title.append(f" node {node.id} ", style="bold reverse")
    title.append(f" {node.role.upper()} ", style=ROLE_STYLE.get(node.role, ""))
    membership = snap.membership(node.id)
    if membership != "voter" or snap.membership_changed:
        title.append(" ")
        title.append(f" {_MEMBERSHIP_TEXT[membership]} ", style=_MEMBERSHIP_STYLE[membership])
    if node.pid:
        title.append(f" pid {node.pid}", style="dim")
    if node.incarnation:
        title.append(f" restart #{node.incarnation}", style="dim")
    if node.clock_rate:
        title.append(f" clock ×{node.clock_rate}", style="bold yellow")
    if node.joined:
        title.append(" added", style="dim")

    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    on_disk = f"term={node.term} votedFor={node.vote or '-'} log={node.last_index} lastTerm={node.last_term}"
    grid.add_row("on disk", on_disk)
    if node.disk != "ok":
        grid.add_row("disk", Text(f" {_disk_text(node.disk)} ", style="bold black on bright_magenta"))
    if node.recovering:
        # Damaged storage: it grants no vote and does not stand until a leader has caught it up.
        badge = Text(" recovering ", style="bold black on bright_yellow")
        badge.append(f" {node.recovering}; no vote until caught up", style="")
        grid.add_row("storage", badge)
    if node.alive:
        grid.add_row("volatile", f"commit={node.commit} applied={node.applied} leader={node.leader or '?'}")
        if node.role == "leader":
            grid.add_row("timer", f"heartbeat at t={node.deadline}")
            _read_rows(grid, node, snap.now)
            if node.quorum_check:
                grid.add_row("checkquorum", _quorum_text(node))
            if node.transfer:
                # §3.10: the leader hands over and takes no client request meanwhile.
                text = f"handing leadership to node {node.transfer}: no new client requests"
                grid.add_row("transfer", Text(text, style="bold bright_magenta"))
        else:
            left = node.deadline - snap.now
            grid.add_row("timer", f"election in {left} ms (t={node.deadline}, of {node.election_timeout})")
        if node.role == "candidate":
            voters = len(node.voters) or len(snap.nodes)
            grid.add_row("votes", f"from {', '.join(map(str, node.votes))} ({len(node.votes)}/{voters})")
        if node.role == "pre-candidate":
            # §9.6: asking, for term+1, without having moved to it.
            voters = len(node.voters) or len(snap.nodes)
            got = f"from {', '.join(map(str, node.votes))} ({len(node.votes)}/{voters})"
            grid.add_row("pre-votes", f"{got} for term {node.term + 1}; term and vote unchanged")
    else:
        grid.add_row("volatile", Text("lost in the crash; restart recovers the disk", style="red"))
    grid.add_row("config", _config_line(node, snap))
    if node.log_start:
        # What compaction left: the snapshot on disk, the entries after it in the log.
        held = f"log holds {node.log_start + 1}..{node.last_index}" if node.log else "log holds none"
        grid.add_row("snapshot", f"≤{node.log_start} (T{node.log_start_term}) · {held} ({len(node.log)})")
    if node.role == "leader" and node.next_index:
        match = dict(node.match_index)
        sending = {
            f.dst: f.transfer for f in snap.flights if f.kind == "InstallSnapshot" and f.src == node.id
        }
        for peer, next_index in node.next_index:
            label = f"learner {peer}" if peer in node.learners else f"peer {peer}"
            row = Text(f"nextIndex={next_index} matchIndex={match.get(peer, 0)}")
            if next_index <= node.log_start:
                # The entries it needs next were compacted: only the snapshot can catch it up.
                row.append(" ▣ snapshot", style="bold orange1")
                if peer in sending:
                    progress = f", {sending[peer]}" if sending[peer] else ""
                    row.append(f" in flight{progress}", style="orange1")
            grid.add_row(label, row)
    if node.alive:
        kv = " ".join(f"{k}={v}" for k, v in node.kv[:8]) or "(empty)"
        if len(node.kv) > 8:
            kv += f" …{len(node.kv)} keys"
        grid.add_row("kv", kv)
    if node.dropped:
        grid.add_row("refused", f"{node.dropped} datagrams")
    if node.violations:
        counts = ", ".join(f"{kind} ×{count}" for kind, count in node.violations)
        grid.add_row("violations", Text(f"dropped {counts}", style="red"))
    for i, reason in enumerate(node.reasons):
        # Why it last decided something, the paper's place included (raftviz.core.reasons).
        grid.add_row("because" if i == 0 else "", Text(reason.replace(" -> ", " → "), style="italic"))
    tail = node.log[-3:]
    first = node.last_index - len(tail) + 1
    for i, entry in enumerate(tail):
        index = first + i
        mark = "✔" if node.alive and index <= node.commit else "·"
        style = "orchid1" if entry.command.op == "config" else ""
        grid.add_row(
            "log" if i == 0 else "", Text(f"{mark}{index} T{entry.term} {entry.command.describe()}", style)
        )
    if not tail and node.log_start:
        grid.add_row("log", Text(f"every entry is in the snapshot (≤{node.log_start})", style="dim"))
    return Group(title, grid)


def _quorum_text(node: NodeSnap) -> Text:
    """CheckQuorum (§6.2): whom the next check counts so far, and what it will do."""
    heard, voters = node.quorum_heard, node.voters
    majority = len(voters) // 2 + 1
    counted = f"heard {','.join(map(str, heard)) or 'none'} of {','.join(map(str, voters))}"
    if len(heard) >= majority:
        return Text(f"{counted}: a majority; next check t={node.quorum_check}")
    return Text(f"{counted}: no majority yet; steps down at t={node.quorum_check} unless more answer",
                style="bold yellow")  # fmt: skip


def _read_rows(grid: Table, node: NodeSnap, now: int) -> None:
    """A leader's lease and the reads it holds without the log (raftviz.core.reads, §6.4)."""
    if node.lease:
        if node.lease > now:
            grid.add_row("lease", f"holds until t={node.lease} ({node.lease - now} ms left)")
        else:
            grid.add_row("lease", Text(f"expired at t={node.lease}", style="dim"))
    if node.reads_waiting:
        more = node.reads_waiting - len(node.reads)
        for i, text in enumerate(node.reads):
            grid.add_row("reads held" if i == 0 else "", Text(text, style="yellow"))
        if more > 0:
            grid.add_row("", Text(f"… {more} more", style="yellow"))


def _config_line(node: NodeSnap, snap: Snapshot) -> Text:
    """The configuration the node uses (its own belief) as the log writes it (voters, then
    learners after the slash), what the node is in it, and the leader's where it differs."""
    text = Text()
    if not node.voters:
        text.append("none yet", style="bold")
        text.append(" (waits to hear from a leader)" if node.joined else "", style="dim")
    else:
        text.append(",".join(map(str, node.voters)))
        if node.learners:
            text.append("/" + ",".join(map(str, node.learners)), style="orchid1")
        role = "voter" if node.id in node.voters else "learner" if node.id in node.learners else "not in it"
        text.append(f" ({role})", style="dim")
    voters, learners = snap.configuration
    if voters and (node.voters, node.learners) != (voters, learners):
        whose = f"leader {snap.leader}" if snap.leader else "latest"
        text.append(f" ≠ {whose}'s {config_text(voters, learners)}", style="bold yellow")
    return text


#: Entries of one AppendEntries the inspector lists before it sums up the rest.
INSPECT_ENTRIES = 12


def inspect_message(f: FlightSnap) -> Group:
    """Every field of one message in flight, named as in Figure 2 (and Figure 13 for snapshots)."""
    msg = f.msg
    title = Text()
    title.append(f" message #{f.id} ", style="bold reverse")
    title.append(f" {f.kind} ", style=f"bold {flight_style(f)}")
    title.append(f" {route(f.src, f.dst)}", style="bold")
    title.append("  (1-9: a node)", style="dim")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    grid.add_row("in flight", f"sent t={f.sent_at} · due t={f.deliver_at}")

    def verdict(ok: bool, yes: str, no: str) -> Text:
        return Text(f"{OK} {yes}" if ok else f"{NO} {no}", style="bold green" if ok else "bold red")

    if isinstance(msg, RequestVote):
        grid.add_row("term", str(msg.term))
        grid.add_row("candidateId", str(msg.src))
        grid.add_row("lastLogIndex", str(msg.last_log_index))
        grid.add_row("lastLogTerm", str(msg.last_log_term))
    elif isinstance(msg, RequestVoteReply):
        grid.add_row("term", str(msg.term))
        grid.add_row("voteGranted", verdict(msg.vote_granted, "granted", "denied"))
    elif isinstance(msg, PreVote):
        grid.add_row("term", f"{msg.term} (the term it would stand in; it has not moved to it)")
        grid.add_row("candidateId", str(msg.src))
        grid.add_row("lastLogIndex", str(msg.last_log_index))
        grid.add_row("lastLogTerm", str(msg.last_log_term))
    elif isinstance(msg, PreVoteReply):
        grid.add_row("term", str(msg.term))
        grid.add_row("voteGranted", verdict(msg.vote_granted, "would vote", "denied"))
    elif isinstance(msg, TimeoutNow):
        grid.add_row("term", str(msg.term))
        grid.add_row("leaderId", str(msg.src))
        grid.add_row("means", "start an election now, skipping Pre-Vote (leadership transfer)")
    elif isinstance(msg, AppendEntries):
        grid.add_row("term", str(msg.term))
        grid.add_row("leaderId", str(msg.src))
        grid.add_row("prevLogIndex", str(msg.prev_log_index))
        grid.add_row("prevLogTerm", str(msg.prev_log_term))
        if not msg.entries:
            grid.add_row("entries", Text("none (a heartbeat)", style="dim"))
        for k, entry in enumerate(msg.entries[:INSPECT_ENTRIES]):
            index = msg.prev_log_index + 1 + k
            style = "orchid1" if entry.command.op == "config" else ""
            grid.add_row(
                "entries" if k == 0 else "", Text(f"{index} T{entry.term} {entry.command.describe()}", style)
            )
        if len(msg.entries) > INSPECT_ENTRIES:
            rest = len(msg.entries) - INSPECT_ENTRIES
            last = msg.prev_log_index + len(msg.entries)
            grid.add_row("", Text(f"… {rest} more, up to index {last}", style="dim"))
        grid.add_row("leaderCommit", str(msg.leader_commit))
    elif isinstance(msg, AppendEntriesReply):
        grid.add_row("term", str(msg.term))
        grid.add_row("success", verdict(msg.success, "ok", "rejected"))
        if msg.success:
            grid.add_row("matchIndex", str(msg.match_index))
        elif msg.conflict_index == 0:
            grid.add_row("why", "stale: the leader's term is older than the follower's")
        else:
            grid.add_row("conflictIndex", f"{msg.conflict_index} (where the leader should try next)")
            what = "no entry there" if msg.conflict_term == 0 else "the follower's term at prevLogIndex"
            grid.add_row("conflictTerm", f"{msg.conflict_term} ({what})")
    elif isinstance(msg, InstallSnapshot):
        grid.add_row("term", str(msg.term))
        grid.add_row("leaderId", str(msg.src))
        grid.add_row("lastIncludedIndex", str(msg.last_included_index))
        grid.add_row("lastIncludedTerm", str(msg.last_included_term))
        grid.add_row("offset", f"{msg.offset} ({len(msg.data)} bytes of data)")
        grid.add_row("done", "yes (the last chunk)" if msg.done else "no")
        grid.add_row("checksum", f"{msg.checksum:#010x}")
    elif isinstance(msg, InstallSnapshotReply):
        grid.add_row("term", str(msg.term))
        grid.add_row("lastIncludedIndex", str(msg.last_included_index))
        grid.add_row("offset", f"{msg.offset} (the next byte it expects)")
        grid.add_row("done", "yes: installed" if msg.done else "no")
    elif isinstance(msg, ClientRequest):
        cmd = msg.command
        grid.add_row("command", cmd.op)
        if cmd.key:
            grid.add_row("key", cmd.key)
        if cmd.op in ("put", "append"):
            grid.add_row("value", cmd.value)
        grid.add_row("client", f"{cmd.client} request #{cmd.seq} (lowest unanswered #{cmd.low})")
        if cmd.op == "get":
            how = {"": "through the log", "readindex": "ReadIndex (§6.4)", "lease": "lease (§6.4.1)"}
            grid.add_row("read", how.get(msg.read, msg.read))
    elif isinstance(msg, ClientReply):
        grid.add_row("request", f"#{msg.seq}")
        grid.add_row("ok", verdict(msg.ok, "applied", "not taken"))
        if msg.value is not None:
            grid.add_row("value", msg.value)
        if msg.leader_hint:
            grid.add_row("leaderHint", str(msg.leader_hint))
        if msg.error:
            grid.add_row("error", msg.error)
    else:
        grid.add_row("message", f.text)
    return Group(title, grid)


class Inspector(Painted):
    """The selected node in full, or the message just chosen in the Messages list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._snap: Snapshot | None = None
        self._node = 0
        self._flight: int | None = None

    def show(self, snap: Snapshot, node_id: int) -> None:
        if node_id != self._node:
            self._flight = None  # another node was chosen: it is what the learner wants to see
        self._snap, self._node = snap, node_id
        self._draw()

    def inspect_message(self, flight_id: int | None) -> None:
        """Show this message in flight (None: back to the selected node)."""
        self._flight = flight_id
        self._draw()

    @property
    def showing_message(self) -> int | None:
        return self._flight

    def _draw(self) -> None:
        snap = self._snap
        if snap is None:
            return
        if self._flight is not None:
            flight = next((f for f in snap.flights if f.id == self._flight), None)
            if flight is not None and flight.msg is not None:
                self.update(inspect_message(flight))
                return
            self._flight = None  # delivered, dropped or lost: back to the node
        node = snap.node(self._node)
        if node is None:
            self.update("select a node with 1-9")
            return
        self.update(inspect_node(node, snap))
