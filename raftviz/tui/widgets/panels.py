"""The text panels of the main screen: messages, inspector, event feed (the header is header.py)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from raftviz.tui.controller import FeedItem
from raftviz.tui.model import FlightSnap, NodeSnap, Snapshot, config_text
from raftviz.tui.widgets.rowlist import RowList

ROLE_STYLE = {
    "leader": "bold black on bright_green",
    "candidate": "bold black on bright_cyan",
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
        return self._content


def flight_style(f: FlightSnap) -> str:
    if f.ok is False:
        return "red"
    if f.kind.startswith("RequestVote"):
        return "cyan" if not f.is_reply else "green"
    if f.kind.startswith("AppendEntries"):
        return ("yellow" if f.carries_entries else "dim") if not f.is_reply else "green"
    if f.is_snapshot:
        return "orange1" if not f.is_reply else "green"
    return "magenta"


class ClockKeysList(RowList):
    """A row list whose left/right keys stay the clock's (step back / step), as everywhere."""

    BINDINGS = [
        Binding("left", "clock_back", "back", show=False),
        Binding("right", "clock_step", "step", show=False),
    ]

    def action_clock_back(self) -> None:
        self.app.action_step_back()  # type: ignore[attr-defined]

    def action_clock_step(self) -> None:
        self.app.action_step()  # type: ignore[attr-defined]


class MessagesTable(ClockKeysList):
    """Messages in flight, due first; the cursor row is the selected message."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(" id    from→to  message (due at t=…)", id=id)

    def show(self, snap: Snapshot) -> None:
        rows = []
        # Ids grow past 9999 in long runs: widen the column rather than run into the next.
        width = max([4, *(len(str(f.id)) for f in snap.flights)])
        for f in snap.flights:
            style = flight_style(f)
            text = Text()
            text.append(f" #{f.id:<{width}} ", style=style)
            text.append(f"{f.src}→{f.dst}".ljust(8), style=style)
            text.append(list_text(f), style=style)
            text.append(f"  t={f.deliver_at}", style="dim")
            rows.append((str(f.id), text))
        self.set_rows(rows)

    def selected_id(self) -> int | None:
        key = self.cursor_key()
        return int(key) if key is not None else None


def list_text(f: FlightSnap) -> str:
    """A message as the narrow list shows it: a snapshot transfer's progress comes first,
    before even the long message name, so a cut-off row (a lesson's narrow list) still shows it."""
    if not f.transfer:
        return f.text
    return f"{f.transfer} " + f.text.replace(f" {f.transfer}", "", 1)


_MEMBERSHIP_TEXT = {"voter": "voter", "learner": "learner", "none": "not a member"}
_MEMBERSHIP_STYLE = {"voter": "bold", "learner": "bold black on orchid1", "none": "bold black on grey58"}


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
    if node.joined:
        title.append(" added", style="dim")

    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    on_disk = f"term={node.term} votedFor={node.vote or '-'} log={node.last_index} lastTerm={node.last_term}"
    grid.add_row("on disk", on_disk)
    if node.alive:
        grid.add_row("volatile", f"commit={node.commit} applied={node.applied} leader={node.leader or '?'}")
        if node.role == "leader":
            grid.add_row("timer", f"heartbeat at t={node.deadline}")
        else:
            left = node.deadline - snap.now
            grid.add_row("timer", f"election in {left} ms (t={node.deadline}, of {node.election_timeout})")
        if node.role == "candidate":
            voters = len(node.voters) or len(snap.nodes)
            grid.add_row("votes", f"from {', '.join(map(str, node.votes))} ({len(node.votes)}/{voters})")
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


class Inspector(Painted):
    """The selected node, in full."""

    def show(self, snap: Snapshot, node_id: int) -> None:
        node = snap.node(node_id)
        if node is None:
            self.update("select a node with 1-9")
            return
        self.update(inspect_node(node, snap))


class EventFeed(ClockKeysList):
    """Every executed event and command with its virtual time; Enter jumps there."""

    MAX_ROWS = 2000

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(" pos    t       what happened (Enter: go back there)", id=id)
        self._notes = 0

    def add_items(self, items: list[FeedItem]) -> None:
        rows = []
        for item in items:
            style = "bold white on red" if item.violation else ("bold" if item.kind == "command" else "")
            text = Text()
            text.append(f" {item.position:<6}", style="dim")
            text.append(f"{item.time:<8}", style="dim")
            text.append(item.text, style=style)
            if item.detail:
                text.append(f"  {item.detail}", style="green")
            rows.append((str(item.position), text))
        self._append(rows)

    def _append(self, rows: list[tuple[str, Text]]) -> None:
        self.append_rows(rows)
        excess = self.row_count - self.MAX_ROWS
        if excess > 0:
            self.remove_where([i < excess for i in range(self.row_count)])
            self.move_cursor(self.row_count - 1)

    def truncate(self, position: int) -> None:
        """Forget what happened after ``position`` (history was rewound)."""
        self.remove_where([int(key.split("-")[-1]) > position for key in self.keys])
        self.move_cursor(self.row_count - 1)

    def add_note(self, text: str, position: int, time: int, failure: bool = False) -> None:
        self._notes += 1
        line = Text()
        line.append(" " * 7)
        line.append(f"{time:<8}", style="dim")
        line.append(text, style="bold red" if failure else "italic")
        self._append([(f"note-{self._notes}-{position}", line)])

    def selected_position(self) -> int | None:
        key = self.cursor_key()
        if key is None or key.startswith("note-"):
            return None
        return int(key)

    def lines(self) -> list[str]:
        """The rows as plain text (for tests and screen readers)."""
        return [text.plain for text in self.texts]
