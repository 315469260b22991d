"""``ClusterView``: the Textual widget around ``render_cluster``, with clicks on a box selecting its node."""

from __future__ import annotations

from rich.text import Text
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from raftviz.tui.model import Snapshot
from raftviz.tui.widgets.cluster.palette import DIM_TEXT
from raftviz.tui.widgets.cluster.render import node_at, render_cluster
from raftviz.tui.widgets.drawn import drawn


class ClusterView(Widget):
    """The cluster as a ring of node boxes with messages in flight (see ``render_cluster``)."""

    DEFAULT_CSS = """
    ClusterView {
        height: 1fr;
        min-height: 12;
    }
    """

    snapshot: reactive[Snapshot | None] = reactive(None, always_update=True)
    selected: reactive[int] = reactive(0)

    class NodeClicked(Message):
        """A node's box was clicked."""

        def __init__(self, node_id: int) -> None:
            super().__init__()
            self.node_id = node_id

    def render(self) -> Text:
        size = self.content_size
        if self.snapshot is None:
            return Text("no cluster yet", style=DIM_TEXT)
        return drawn(render_cluster(self.snapshot, size.width, size.height, self.selected))

    def on_click(self, event: Click) -> None:
        if self.snapshot is None:
            return
        size = self.content_size
        offset = event.get_content_offset(self)
        if offset is None:
            return
        node_id = node_at(self.snapshot, size.width, size.height, offset.x, offset.y)
        if node_id:
            self.selected = node_id
            self.post_message(self.NodeClicked(node_id))
