"""Exports of a run: a space-time diagram (SVG, or a self-contained HTML page) and a Chrome trace.

Both are drawn from the run's events (``lab/events.py``), so they say what the
transcript and the feed say, and they are the same on both backends.

The **diagram** has one vertical lane per node (and per client), labelled at
the top, and history running down: one row per history position, its virtual
time in the left margin. Each delivered message is an arrow from the row it
was sent at, on its sender's lane, to the row it arrived at, on its
receiver's, with a ``<title>`` naming it (``#12 1->3 AppendEntries term=2
...``: a browser shows it on hover). A lost or dropped message ends in an x
short of its receiver. Lanes are drawn by role (a thick line while leader,
dashed while down); crashes, restarts, election timeouts, role changes and
commits are marked on them, partitions and heals across them.

The **trace** is the Chrome Trace Event Format that Perfetto and
chrome://tracing open: a track (``tid``) per node and client, each role a
complete slice (``X``) with its term in ``args``, a short slice per event on
the lane it happened on, instants (``i``) for timeouts, crashes, restarts,
commits, losses and network changes, and a flow (``s`` then ``f``, the same
``id``, bound to the enclosing slices) per delivered message. Timestamps are
virtual time in microseconds (ms * 1000); events within one millisecond are
spread over it in history order, 10 µs apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from raftviz.lab.events import Address, Event

#: The formats a diagram can be written in, by file name ending.
DIAGRAM_SUFFIXES = (".svg", ".html")

# Layout of the diagram, in pixels.
ROW = 18
LANE = 120
LEFT = 80
TOP = 56
RIGHT = 220
#: How far towards its receiver a lost message's x is drawn (a dropped one stops halfway).
LOST_REACH = 0.8
DROP_REACH = 0.5
LOSS_AT_SEND_REACH = 0.3

ROLE_STYLE = {
    "follower": 'stroke="#888" stroke-width="1.5"',
    "candidate": 'stroke="#d98a00" stroke-width="3"',
    "pre-candidate": 'stroke="#d98a00" stroke-width="2" stroke-dasharray="6 3"',
    "leader": 'stroke="#1f5fbf" stroke-width="5"',
    "down": 'stroke="#bbb" stroke-width="1.5" stroke-dasharray="3 4"',
}
MESSAGE_COLOUR = {
    "RequestVote": "#d98a00",
    "RequestVoteReply": "#e8b450",
    "AppendEntries": "#1f5fbf",
    "AppendEntriesReply": "#6f9be0",
    "InstallSnapshot": "#7a3fb0",
    "InstallSnapshotReply": "#a77fd0",
    "ClientRequest": "#2a8a3a",
    "ClientReply": "#5fb86f",
}
#: Pre-Vote and leadership transfer (dissertation §9.6, §3.10): drawn, and given an arrowhead
#: and a legend entry, only in a run that has them, so exports of Figure 2's Raft stay as they were.
EXTENSION_COLOUR = {
    "PreVote": "#c9a25a",
    "PreVoteReply": "#e0c890",
    "TimeoutNow": "#c03fa0",
}


def _colours(events: list[Event]) -> dict[str, str]:
    """Every message type's colour: Figure 2's, then the extensions' that occur in ``events``."""
    used = {e.msg_type for e in events}
    return {**MESSAGE_COLOUR, **{k: v for k, v in EXTENSION_COLOUR.items() if k in used}}


class ExportError(Exception):
    """An export that cannot be written (an unknown format, a file that cannot be created)."""


@dataclass(frozen=True, slots=True)
class RoleSpan:
    """A node in one role and term from one position to another (``end`` None: to the end)."""

    node: int
    role: str
    term: int
    start: int  # position
    end: int | None


def lanes(events: Iterable[Event], nodes: Iterable[int] = ()) -> list[Address]:
    """Every lane in order: nodes by id, then clients in the order they first appear."""
    ids: set[int] = set(nodes)
    clients: list[str] = []
    for event in events:
        for address in (event.node, event.src, event.dst):
            if isinstance(address, int) and not isinstance(address, bool):
                ids.add(address)
            elif isinstance(address, str) and address not in clients:
                clients.append(address)
    return [*sorted(ids), *clients]


def role_spans(events: list[Event], nodes: Iterable[int]) -> list[RoleSpan]:
    """Each node's roles over the run. A node starts a follower in term 0 at position 0 (or,
    added later, at its ``start``); each role change, term change, crash and restart starts a span."""
    open_spans: dict[int, RoleSpan] = {n: RoleSpan(n, "follower", 0, 0, None) for n in nodes}
    spans: list[RoleSpan] = []
    started = {e.node for e in events if e.kind == "start"}
    for node in started:
        open_spans.pop(node, None)  # type: ignore[arg-type]

    def begin(node: int, role: str, term: int, position: int) -> None:
        current = open_spans.get(node)
        if current is not None:
            if (current.role, current.term) == (role, term):
                return
            spans.append(RoleSpan(node, current.role, current.term, current.start, position))
        open_spans[node] = RoleSpan(node, role, term, position, None)

    for event in events:
        node = event.node
        if not isinstance(node, int):
            continue
        if event.kind in ("role", "term"):
            begin(node, event.after, event.term or 0, event.position)
        elif event.kind == "start":
            begin(node, "follower", 0, event.position)
    spans.extend(open_spans[n] for n in sorted(open_spans))
    return sorted(spans, key=lambda s: (s.node, s.start))


def _ids(events: list[Event]) -> tuple[dict[int, int], dict[int, int]]:
    """Where each message was sent (position) and where it met its fate."""
    sent: dict[int, int] = {}
    for event in events:
        if event.kind in ("send", "duplicate"):
            sent.setdefault(event.msg_id, event.position)
    fate = {e.msg_id: e.position for e in events if e.kind in ("deliver", "lost", "drop")}
    return sent, fate


def message_title(event: Event) -> str:
    """``#12 1->3 AppendEntries term=2 ...`` and how it ended."""
    base = f"#{event.msg_id} {event.src}->{event.dst} {event.summary}"
    if event.kind == "deliver":
        return f"{base} (sent t={event.sent_at}, delivered t={event.time})"
    if event.kind == "drop":
        return f"{base} (sent t={event.sent_at}, dropped t={event.time})"
    return f"{base} (sent t={event.sent_at}, lost t={event.time}: {event.cause})"


# ---------------------------------------------------------------------------- the diagram


def svg(events: list[Event], nodes: Iterable[int] = (), title: str = "raftviz run") -> str:
    """The space-time diagram as an SVG document."""
    ids = [n for n in nodes]
    order = lanes(events, ids)
    x = {lane: LEFT + LANE // 2 + i * LANE for i, lane in enumerate(order)}
    positions = sorted({e.position for e in events})
    y = {p: TOP + ROW // 2 + i * ROW for i, p in enumerate(positions)}
    width = LEFT + LANE * max(len(order), 1) + RIGHT
    height = TOP + ROW * max(len(positions), 1) + ROW
    bottom = height - ROW // 2
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">',
        f"<title>{escape(title)}</title>",
        # An arrowhead per colour (``context-stroke`` is not drawn by every viewer).
        "<defs>"
        + "".join(
            f'<marker id="head-{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/>'
            "</marker>"
            for name, colour in [*_colours(events).items(), ("other", "#444")]
        )
        + "</defs>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    # Lane labels and the time margin.
    for lane in order:
        label = f"node {lane}" if isinstance(lane, int) else f"client {lane}"
        out.append(
            f'<text class="lane-label" x="{x[lane]}" y="{TOP - 24}" text-anchor="middle" '
            f'font-weight="bold" font-size="13">{escape(label)}</text>'
        )
    out.append(f'<text x="{LEFT - 8}" y="{TOP - 24}" text-anchor="end" fill="#666">time (ms)</text>')
    last_time: int | None = None
    for event in events:
        if event.time != last_time and event.position in y:
            last_time = event.time
            out.append(
                f'<text class="time" x="{LEFT - 8}" y="{y[event.position] + 4}" text-anchor="end" '
                f'fill="#666">t={event.time}</text>'
            )
    # Lanes, drawn by role; a client's lane is a thin line.
    for lane in order:
        if not isinstance(lane, int):
            out.append(
                f'<line class="lane" x1="{x[lane]}" y1="{TOP - 12}" x2="{x[lane]}" y2="{bottom}" '
                'stroke="#2a8a3a" stroke-width="1" stroke-dasharray="1 3"/>'
            )
    for span in role_spans(events, ids):
        y1 = _row_top(y, positions, span.start, TOP - 12)
        y2 = _row_top(y, positions, span.end, bottom) if span.end is not None else bottom
        out.append(
            f'<line class="lane role-{span.role}" x1="{x[span.node]}" y1="{y1}" x2="{x[span.node]}" '
            f'y2="{y2}" {ROLE_STYLE.get(span.role, ROLE_STYLE["follower"])}>'
            f"<title>node {span.node}: {span.role} term={span.term}</title></line>"
        )
    # Network changes across every lane.
    for event in events:
        if event.kind == "network":
            yy = y[event.position]
            out.append(
                f'<g class="mark network"><title>{escape(event.describe())}</title>'
                f'<line x1="{LEFT}" y1="{yy}" x2="{width - RIGHT}" y2="{yy}" stroke="#c0392b" '
                f'stroke-dasharray="6 4"/><text x="{width - RIGHT + 6}" y="{yy + 4}" fill="#c0392b">'
                f"{escape(event.text)}</text></g>"
            )
    # Messages.
    sent, _fate = _ids(events)
    colours = _colours(events)
    for event in events:
        if event.kind not in ("deliver", "lost", "drop") or event.src not in x or event.dst not in x:
            continue
        x1, x2 = x[event.src], x[event.dst]
        y1 = y.get(sent.get(event.msg_id, event.position), y[event.position])
        y2 = y[event.position]
        colour = colours.get(event.msg_type, "#444")
        head = event.msg_type if event.msg_type in colours else "other"
        title = escape(message_title(event))
        dash = ' stroke-dasharray="4 3"' if event.rejected else ""
        if event.kind == "deliver":
            cls = "arrow delivered" + (" rejected" if event.rejected else "")
            out.append(
                f'<g class="{cls}" data-id="{event.msg_id}"><title>{title}</title>'
                f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="1.3"'
                f'{dash} marker-end="url(#head-{head})"/></g>'
            )
            continue
        reach = LOST_REACH
        if event.kind == "drop":
            reach = DROP_REACH
        elif event.cause == "loss":
            reach = LOSS_AT_SEND_REACH
        ex = x1 + (x2 - x1) * reach
        ey = y1 + (y2 - y1) * reach if event.cause != "loss" else y2
        if event.cause == "loss":
            y1 = y2
        cls = "arrow lost" if event.kind == "lost" else "arrow dropped"
        out.append(
            f'<g class="{cls}" data-id="{event.msg_id}"><title>{title}</title>'
            f'<line x1="{x1}" y1="{y1}" x2="{ex:.1f}" y2="{ey:.1f}" stroke="{colour}" stroke-width="1.3" '
            f'stroke-dasharray="2 2"/>{_cross(ex, ey, "#c0392b", "x")}</g>'
        )
    # Marks on the lanes.
    for event in events:
        node = event.node
        if node not in x or event.position not in y:
            continue
        cx, cy = x[node], y[event.position]
        title = f"<title>{escape(event.describe())}</title>"
        if event.kind == "crash":
            out.append(f'<g class="mark crash">{title}{_cross(cx, cy, "#c0392b", "", 7, 3)}</g>')
        elif event.kind in ("restart", "start"):
            out.append(
                f'<g class="mark {event.kind}">{title}<circle cx="{cx}" cy="{cy}" r="6" fill="#2a8a3a"/></g>'
            )
        elif event.kind == "timeout":
            out.append(
                f'<g class="mark timeout">{title}<circle cx="{cx}" cy="{cy}" r="5" fill="white" '
                f'stroke="#d98a00" stroke-width="2"/></g>'
            )
        elif event.kind in ("role", "term") and event.after != "down":
            letter = (event.after[:1] or "?").upper()
            out.append(
                f'<g class="mark role">{title}<rect x="{cx + 6}" y="{cy - 7}" width="30" height="14" '
                f'rx="3" fill="#f4f4f4" stroke="#888"/><text x="{cx + 21}" y="{cy + 4}" '
                f'text-anchor="middle">{letter}{event.term}</text></g>'
            )
        elif event.kind == "commit":
            out.append(
                f'<g class="mark commit">{title}<text x="{cx - 6}" y="{cy + 4}" text-anchor="end" '
                f'fill="#2a8a3a" font-size="9">commit={event.value}</text></g>'
            )
        elif event.kind == "violation":
            out.append(
                f'<g class="mark violation">{title}<rect x="{LEFT}" y="{cy - 8}" '
                f'width="{width - RIGHT - LEFT}" height="16" fill="#c0392b" opacity="0.2"/></g>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _row_top(y: dict[int, int], positions: list[int], position: int, default: int) -> int:
    """The y where a position's row begins (a span that starts at a position with no row
    of its own starts at the next row that has one)."""
    if position in y:
        return y[position] - ROW // 2
    for p in positions:
        if p > position:
            return y[p] - ROW // 2
    return default


def _cross(cx: float, cy: float, colour: str, cls: str, size: float = 4, width: float = 2) -> str:
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<path{klass} d="M{cx - size:.1f},{cy - size:.1f} L{cx + size:.1f},{cy + size:.1f} '
        f'M{cx - size:.1f},{cy + size:.1f} L{cx + size:.1f},{cy - size:.1f}" stroke="{colour}" '
        f'stroke-width="{width}"/>'
    )


_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; color: #222; }}
#details {{ position: sticky; top: 0; background: #fffbe6; border: 1px solid #e0c060; padding: 0.4em 0.8em;
  font-family: monospace; min-height: 1.3em; white-space: pre-wrap; z-index: 1; }}
svg g:hover line, svg g:hover path {{ stroke-width: 3; }}
svg g:hover rect, svg g:hover circle {{ stroke: black; }}
.legend span {{ margin-right: 1.2em; font-family: monospace; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="legend">{legend}</p>
<div id="details">hover over an arrow or a mark for its details</div>
{svg}
<script>
// No network: the page is whole. Hover shows an element's <title> in the box above.
for (const g of document.querySelectorAll("svg g, svg line.lane")) {{
  const t = g.querySelector("title");
  if (!t) continue;
  const show = () => {{ document.getElementById("details").textContent = t.textContent; }};
  g.addEventListener("mouseenter", show);
}}
</script>
</body>
</html>
"""


def html(events: list[Event], nodes: Iterable[int] = (), title: str = "raftviz run") -> str:
    """The diagram in a self-contained page: no script, style or font from the network."""
    picture = svg(events, nodes, title)
    legend = " ".join(
        f'<span style="color:{colour}">&#9472;&#9654; {name}</span>'
        for name, colour in _colours(events).items()
    )
    legend += ' <span style="color:#c0392b">&#10005; lost or dropped</span>'
    legend += " <span>lanes: thin follower, orange candidate, thick blue leader, dashed down</span>"
    return _HTML.format(title=escape(title), legend=legend, svg=picture)


# ---------------------------------------------------------------------------- the trace

#: Client tracks come after the nodes' (a node's track is its id).
CLIENT_TID_BASE = 100
#: Microseconds between two events of the same millisecond, and a short slice's length.
SPREAD_US = 10
SLICE_US = 5


def trace(events: list[Event], nodes: Iterable[int] = (), title: str = "raftviz run") -> dict[str, object]:
    """The run as a Chrome trace (a JSON object with ``traceEvents``)."""
    ids = list(nodes)
    order = lanes(events, ids)
    tid = {lane: lane if isinstance(lane, int) else CLIENT_TID_BASE + i for i, lane in enumerate(order)}
    # Each position's timestamp: its virtual time, spread within the millisecond in history order.
    ts: dict[int, int] = {}
    seen_in_ms: dict[int, int] = {}
    for event in events:
        if event.position not in ts:
            k = seen_in_ms.get(event.time, 0)
            seen_in_ms[event.time] = k + 1
            ts[event.position] = event.time * 1000 + min(k, 1000 // SPREAD_US - 1) * SPREAD_US
    end_us = (max((e.time for e in events), default=0) + 1) * 1000
    out: list[dict[str, object]] = [
        {"ph": "M", "pid": 1, "tid": 0, "name": "process_name", "args": {"name": title}},
    ]
    for i, lane in enumerate(order):
        name = f"node {lane}" if isinstance(lane, int) else f"client {lane}"
        out.append({"ph": "M", "pid": 1, "tid": tid[lane], "name": "thread_name", "args": {"name": name}})
        out.append(
            {"ph": "M", "pid": 1, "tid": tid[lane], "name": "thread_sort_index", "args": {"sort_index": i}}
        )
    # Roles: complete slices, back to back on each node's track.
    for span in role_spans(events, ids):
        start = ts.get(span.start, 0) if span.start else 0
        stop = ts.get(span.end, end_us) if span.end is not None else end_us
        out.append(
            {
                "ph": "X",
                "pid": 1,
                "tid": tid[span.node],
                "name": span.role,
                "cat": "role",
                "ts": start,
                "dur": max(stop - start, 0),
                "args": {"term": span.term},
            }
        )
    # A short slice per position on each lane it happened on: what flows bind to.
    slices: dict[tuple[int, Address], str] = {}
    for event in events:
        lane = event.node
        if lane is None or lane not in tid:
            continue
        key = (event.position, lane)
        if key not in slices:
            slices[key] = event.text
    for (position, lane), text in slices.items():
        out.append(
            {
                "ph": "X",
                "pid": 1,
                "tid": tid[lane],
                "name": _slice_name(text),
                "cat": "event",
                "ts": ts[position],
                "dur": SLICE_US,
                "args": {"position": position, "event": text},
            }
        )
    # Instants and flows.
    sent, _fate = _ids(events)
    for event in events:
        at = ts[event.position]
        if event.kind in ("timeout", "crash", "restart", "commit", "lost", "drop") and event.node in tid:
            out.append(
                {
                    "ph": "i",
                    "s": "t",
                    "pid": 1,
                    "tid": tid[event.node],
                    "name": event.kind if event.kind != "commit" else f"commit {event.value}",
                    "cat": event.kind,
                    "ts": at + 1,
                    "args": {"position": event.position, "event": event.text},
                }
            )
        elif event.kind == "network":
            out.append(
                {
                    "ph": "i",
                    "s": "g",
                    "pid": 1,
                    "tid": 0,
                    "name": event.text,
                    "cat": "network",
                    "ts": at,
                    "args": {"position": event.position},
                }  # fmt: skip
            )
        elif event.kind == "deliver" and event.src in tid and event.dst in tid:
            origin = sent.get(event.msg_id)
            start = ts[origin] if origin is not None else at
            common = {"pid": 1, "name": event.msg_type, "cat": "message", "id": event.msg_id}
            out.append({"ph": "s", "tid": tid[event.src], "ts": start + 1, **common,
                        "args": {"message": message_title(event)}})  # fmt: skip
            out.append({"ph": "f", "bp": "e", "tid": tid[event.dst], "ts": at + 1, **common})
    return {"traceEvents": out, "displayTimeUnit": "ms", "otherData": {"title": title, "time": "virtual"}}


def _slice_name(text: str) -> str:
    """A slice's name: the event's words without the message's fields (``deliver #12 1->3 AppendEntries``)."""
    words = text.split()
    return " ".join(words[:4]) if words and words[0] in ("deliver", "lost", "drop", "send") else text


# ---------------------------------------------------------------------------- writing


def check_path(path: str, kind: str) -> None:
    """Refuse, before anything runs, a diagram path whose format is unknown."""
    if kind == "diagram" and not path.lower().endswith(DIAGRAM_SUFFIXES):
        raise ExportError(f"--diagram writes .svg or .html, not {path!r}")


def write(path: str, kind: str, events: list[Event], nodes: Iterable[int], title: str) -> str:
    """Write one export; returns what was written, in words."""
    check_path(path, kind)
    ids = list(nodes)
    if kind == "diagram":
        text = html(events, ids, title) if path.lower().endswith(".html") else svg(events, ids, title)
    else:
        text = json.dumps(trace(events, ids, title), indent=None, separators=(",", ":"))
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    delivered = sum(1 for e in events if e.kind == "deliver")
    lost = sum(1 for e in events if e.kind in ("lost", "drop"))
    positions = len({e.position for e in events})
    return f"{kind}: {path} ({positions} positions, {delivered} messages delivered, {lost} lost or dropped)"
