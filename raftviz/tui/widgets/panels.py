"""The text panels of the main screen: status line, messages, inspector, event feed."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable

from raftviz.tui.controller import FeedItem
from raftviz.tui.model import FlightSnap, NodeSnap, Snapshot

ROLE_STYLE = {
    "leader": "bold black on bright_green",
    "candidate": "bold black on bright_cyan",
    "follower": "bold",
    "down": "bold white on red",
}

SPEEDS: list[tuple[str, float]] = [
    ("1/1000×", 0.001),
    ("1/100×", 0.01),
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


class StatusBar(Painted):
    """Clock, speed, history position, invariants and network, on one line."""

    def show(
        self, snap: Snapshot | None, playing: bool, speed: str, script: str = "", busy: bool = False
    ) -> None:
        text = Text()
        text.append(" raftviz ", style="bold white on blue")
        if snap is None:
            text.append("  starting the cluster…")
            self.update(text)
            return
        text.append(f" {len(snap.nodes)} nodes · seed {snap.seed} · {snap.backend} ")
        text.append(f" t={snap.now} ms ", style="bold")
        text.append(f"· step {snap.steps} · pos {snap.position} ")
        if playing:
            text.append(f" ▶ {speed} ", style="bold black on green")
        else:
            text.append(" ⏸ paused ", style="bold black on yellow")
        text.append(" ")
        if snap.violations:
            text.append(" INVARIANT VIOLATED ", style="bold white on red")
        else:
            text.append(" invariants ok ", style="black on green")
        text.append(f" · net: {snap.network}")
        if snap.loss:
            text.append(f" loss={snap.loss:g}")
        lo, hi = snap.latency
        text.append(f" latency {lo}-{hi}")
        if snap.pending_requests:
            text.append(f" · {snap.pending_requests} client request(s) waiting")
        if script:
            text.append(f" · {script}", style="bold magenta")
        if busy:
            text.append(" ⋯", style="dim")
        self.update(text)


def flight_style(f: FlightSnap) -> str:
    if f.ok is False:
        return "red"
    if f.kind.startswith("RequestVote"):
        return "cyan" if not f.is_reply else "green"
    if f.kind.startswith("AppendEntries"):
        return ("yellow" if f.carries_entries else "dim") if not f.is_reply else "green"
    return "magenta"


class ClockKeysTable(DataTable):
    """A row table whose left/right keys stay the clock's (step back / step), as everywhere."""

    def action_cursor_left(self) -> None:
        self.app.action_step_back()  # type: ignore[attr-defined]

    def action_cursor_right(self) -> None:
        self.app.action_step()  # type: ignore[attr-defined]


class MessagesTable(ClockKeysTable):
    """Messages in flight; the cursor row is the selected message."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = False
        # Fixed widths: the layout must not depend on what happened to be shown before.
        self.add_column("id", width=5)
        self.add_column("from→to", width=7)
        self.add_column("message", width=60)
        self.add_column("due", width=6)

    def show(self, snap: Snapshot) -> None:
        selected = self.selected_id()
        self.clear()
        for f in snap.flights:
            arrow = "→"
            style = flight_style(f)
            self.add_row(
                Text(f"#{f.id}", style=style),
                Text(f"{f.src}{arrow}{f.dst}", style=style),
                Text(f.text, style=style),
                Text(f"{f.deliver_at}", style="dim"),
                key=str(f.id),
            )
        if selected is not None and str(selected) in [k.value for k in self.rows]:
            self.move_cursor(row=self.get_row_index(str(selected)))

    def selected_id(self) -> int | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - no row under the cursor
            return None
        return int(key.value) if key.value else None


def inspect_node(node: NodeSnap, snap: Snapshot) -> Group:
    """Everything in Figure 2 for one node, persisted apart from volatile."""
    title = Text()
    title.append(f" node {node.id} ", style="bold reverse")
    title.append(f" {node.role.upper()} ", style=ROLE_STYLE.get(node.role, ""))
    if node.pid:
        title.append(f" pid {node.pid}", style="dim")
    if node.incarnation:
        title.append(f" restart #{node.incarnation}", style="dim")

    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    last_term = node.log[-1].term if node.log else 0
    grid.add_row(
        "on disk",
        f"term={node.term} votedFor={node.vote or '-'} log={node.last_index} (last term {last_term})",
    )
    if node.alive:
        grid.add_row("volatile", f"commit={node.commit} applied={node.applied} leader={node.leader or '?'}")
        if node.role == "leader":
            grid.add_row("timer", f"heartbeat at t={node.deadline}")
        else:
            left = node.deadline - snap.now
            grid.add_row("timer", f"election in {left} ms (t={node.deadline}, of {node.election_timeout})")
        if node.role == "candidate":
            grid.add_row(
                "votes", f"from {', '.join(map(str, node.votes))} ({len(node.votes)}/{len(snap.nodes)})"
            )
    else:
        grid.add_row("volatile", Text("lost in the crash; restart recovers the disk", style="red"))
    if node.role == "leader" and node.next_index:
        match = dict(node.match_index)
        for peer, next_index in node.next_index:
            grid.add_row(f"peer {peer}", f"nextIndex={next_index} matchIndex={match.get(peer, 0)}")
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
        grid.add_row("log" if i == 0 else "", f"{mark}{index} T{entry.term} {entry.command.describe()}")
    return Group(title, grid)


class Inspector(Painted):
    """The selected node, in full."""

    def show(self, snap: Snapshot, node_id: int) -> None:
        node = snap.node(node_id)
        if node is None:
            self.update("select a node with 1-9")
            return
        self.update(inspect_node(node, snap))


class EventFeed(ClockKeysTable):
    """Every executed event and command with its virtual time; Enter jumps there."""

    MAX_ROWS = 2000

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_column("pos", width=5)
        self.add_column("t", width=6)
        self.add_column("what happened", width=90)
        self._follow = True

    def add_items(self, items: list[FeedItem]) -> None:
        for item in items:
            style = "bold white on red" if item.violation else ("bold" if item.kind == "command" else "")
            text = Text(item.text, style=style)
            if item.detail:
                text.append(f"  {item.detail}", style="green")
            self.add_row(Text(str(item.position), style="dim"), Text(str(item.time), style="dim"), text,
                         key=str(item.position))  # fmt: skip
        while self.row_count > self.MAX_ROWS:
            self.remove_row(self.coordinate_to_cell_key((0, 0)).row_key)
        if items and self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def truncate(self, position: int) -> None:
        """Forget what happened after ``position`` (history was rewound)."""
        keys = [
            key for key in self.rows if key.value is not None and int(key.value.split("-")[-1]) > position
        ]
        for key in keys:
            self.remove_row(key)

    def add_note(self, text: str, position: int, time: int, failure: bool = False) -> None:
        key = f"note-{self.row_count}-{position}"
        self.add_row(Text("", style="dim"), Text(str(time), style="dim"),
                     Text(text, style="bold red" if failure else "italic"), key=key)  # fmt: skip
        self.move_cursor(row=self.row_count - 1, animate=False)

    def selected_position(self) -> int | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        if key is None or key.startswith("note-"):
            return None
        return int(key)
