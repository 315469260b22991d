"""The cluster view: nodes on a ring, messages travelling between them.

``render_cluster`` is a pure function from a ``Snapshot`` and a size to a
``rich.text.Text`` of exactly ``height`` lines, each at most ``width`` cells;
``ClusterView`` is the small Textual widget around it.

The picture, meant to read from the back of a classroom:

* every node is a box on an ellipse (node 1 at the top, then clockwise). The
  border says the role: a bold double yellow border for the leader, a heavy
  cyan one for a candidate, a plain one for a follower, a dim red dashed one
  with ``DOWN`` for a crashed node. Membership (measured against the
  leader's configuration, ``Snapshot.configuration``): a learner says
  ``learner`` in a dashed orchid border; a node in no configuration (removed,
  or added but not yet taken in) is dimmed, ``not a member``, in a dotted grey
  border. Inside: the term (``T3``, coloured by
  term with ``term_style``, the palette the logs view uses too), the vote (a
  candidate shows the votes it has, ``votes 2/5``), the last log index and
  the commit index, and the election timer as a bar (a leader shows
  ``♥ heartbeat`` instead). Once membership has changed (a node added or
  removed, a learner, configurations that differ), every box also shows the
  configuration *it* believes in (``cfg 1,2,3/4``, learners after the
  slash), marked ``≠`` where it differs from the leader's;
* clients sit in the middle;
* every message in flight is a glyph on the straight line between the boxes of
  its sender and its receiver, as far along as its ``progress(now)``: a filled
  glyph is a request, a hollow one a reply; a circle is a vote, a square an
  append (a small dim one: a heartbeat), a diamond a client message, a
  framed square (orange) a chunk of a snapshot (InstallSnapshot). Replies
  are green when granted/accepted and red when denied/rejected. A faint dotted
  line shows each message's path. Glyphs never cover a box;
* a partition is drawn apart: each group in its own region, labelled
  ``group A: 1,2`` (nodes in no group: ``5: alone (not in any group)``), a
  red wall between regions, no message path across it; a cut link is a
  broken red path ending in an arrowhead and ``✗`` on the blocked direction;
  a message that will be lost at the cut (``Snapshot.blocked``) is drawn on
  red and stops at the wall. Healed, the nodes return to the ring;
* a legend line at the bottom.

One module per thing drawn: ``geometry`` (rectangles, the ring), ``regions``
(a partition's regions and walls), ``scene`` (which of the two, and the
clients), ``boxes`` (a node's box), ``flights`` (glyphs and paths of
messages), ``cuts`` (cut links, how far a doomed message goes), ``legend``,
``canvas`` (the cell grid), ``palette`` (colours and borders), ``render``
(puts them together), ``view`` (the widget).
"""

from __future__ import annotations

from raftviz.tui.widgets.cluster.flights import flight_glyph
from raftviz.tui.widgets.cluster.geometry import Rect, cluster_layout
from raftviz.tui.widgets.cluster.palette import CONFIG_STYLE, TERM_COLORS, term_color, term_style
from raftviz.tui.widgets.cluster.render import node_at, render_cluster
from raftviz.tui.widgets.cluster.view import ClusterView

__all__ = [
    "CONFIG_STYLE",
    "TERM_COLORS",
    "ClusterView",
    "Rect",
    "cluster_layout",
    "flight_glyph",
    "node_at",
    "render_cluster",
    "term_color",
    "term_style",
]
