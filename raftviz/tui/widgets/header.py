"""The header line: the clock, the pace and the cluster's state, fitted to any width.

The header is built from parts, each with a priority. When the terminal is
too narrow for all of them, decoration goes first (abbreviated, then
dropped, least important first), then the essentials are abbreviated, and
only then dropped, until the line fits. So at 80
columns the virtual time, play state and speed, invariants, network state,
waiting clients and script progress are still there; the brand, seed and
backend, history position and latency go first.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from raftviz.tui.model import Snapshot

#: Priorities: a lower number is kept longer. ``break`` (breakpoints) is low on purpose:
#: the list can be long, and the feed says which one fired.
PRIORITY = {
    "time": 0,
    "play": 0,
    "invariants": 1,
    "bugs": 1,
    "options": 3,
    "net": 2,
    "clients": 2,
    "record": 2,
    "script": 2,
    "config": 3,
    "clocks": 2,
    "busy": 4,
    "working": 1,
    "loss": 4,
    "position": 5,
    "latency": 6,
    "break": 7,
    "cluster": 8,
    "brand": 9,
}


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of the header: its full text and an optional shorter form."""

    name: str
    full: Text
    short: Text | None = None

    @property
    def priority(self) -> int:
        return PRIORITY.get(self.name, 7)


#: Parts at this priority or below it in importance are decoration: shortened, then
#: dropped, before any essential part is even abbreviated.
DECORATION = 5


def fit(parts: list[Part], width: int) -> Text:
    """The parts, in their order, fitted to ``width``.

    First the decoration goes, least important first (each is shortened, then
    dropped); then the essentials are shortened, least important first; only
    then are essentials dropped, again least important first.
    """
    chosen: list[Text | None] = [p.full for p in parts]

    def fits() -> bool:
        shown = [t for t in chosen if t is not None]
        return sum(t.cell_len for t in shown) + max(len(shown) - 1, 0) <= width

    def shorten(i: int) -> None:
        short, now = parts[i].short, chosen[i]
        if short is not None and now is not None and short.cell_len < now.cell_len:
            chosen[i] = short

    # Least important first; among equals, the rightmost goes first (reading order keeps the left).
    order = sorted(range(len(parts)), key=lambda i: (-parts[i].priority, -i))
    decoration = [i for i in order if parts[i].priority >= DECORATION]
    essential = [i for i in order if parts[i].priority < DECORATION]
    plan = [(how, i) for i in decoration for how in ("shorten", "drop")]
    plan += [("shorten", i) for i in essential] + [("drop", i) for i in essential]
    for how, i in plan:
        if fits():
            break
        if how == "drop":
            chosen[i] = None
        else:
            shorten(i)
    out = Text(" ").join(t for t in chosen if t is not None)
    out.truncate(width)
    return out


def header_parts(
    snap: Snapshot | None,
    playing: bool,
    speed: str,
    script: str = "",
    busy: bool = False,
    breaks: str = "",
    working: str = "",
) -> list[Part]:
    """What the header says, as prioritised parts (``fit`` lays them out)."""
    brand = Part("brand", Text(" raftviz ", style="bold white on blue"))
    state = "▶" if playing else "⏸ paused"
    play_style = "bold black on green" if playing else "bold black on yellow"
    # The speed shows even while paused: it is what Space will play at.
    play = Part(
        "play", Text(f" {state} {speed} ", style=play_style), Text(f" {state[0]} {speed} ", style=play_style)
    )
    if snap is None:
        return [brand, play, Part("time", Text("starting the cluster…"))]
    parts = [
        brand,
        Part(
            "cluster",
            Text(f"{len(snap.nodes)} nodes · seed {snap.seed} · {snap.backend}"),
            Text(f"seed {snap.seed}"),
        ),
        Part("time", Text(f"t={snap.now} ms", style="bold")),
        Part(
            "position",
            Text(
                f"· step {snap.steps} · pos {snap.position}"
                + (f" · branch {snap.branch}" if snap.branches > 1 else "")
            ),
            Text(f"pos {snap.position}"),
        ),
        play,
    ]
    if snap.violations:
        parts.append(
            Part(
                "invariants",
                Text(" INVARIANT VIOLATED ", style="bold white on red"),
                Text(" VIOLATED ", style="bold white on red"),
            )
        )
    else:
        parts.append(
            Part(
                "invariants",
                Text(" invariants ok ", style="black on green"),
                Text(" inv ok ", style="black on green"),
            )
        )
    if snap.bugs:
        # A planted bug is said, always: a cluster that breaks Raft on purpose must never pass for one.
        parts.append(
            Part(
                "bugs",
                Text(
                    " a bug is planted: find it " if snap.bugs == "?" else f" bug planted: {snap.bugs} ",
                    style="bold white on dark_magenta",
                ),
                Text(" bug ", style="bold white on dark_magenta"),
            )
        )
    options = [name for name, on in (("prevote", snap.prevote), ("checkquorum", snap.checkquorum)) if on]
    if options:
        # The dissertation's additions to Figure 2 change what the class will see: said, always.
        words = " · ".join(options)
        short = "+".join({"prevote": "PV", "checkquorum": "CQ"}[o] for o in options)
        parts.append(Part("options", Text(f"· {words}", style="bold cyan"), Text(short, style="bold cyan")))
    parts.append(Part("net", Text(f"· net: {snap.network}"), Text(snap.network)))
    if snap.loss:
        parts.append(Part("loss", Text(f"loss={snap.loss:g}")))
    lo, hi = snap.latency
    parts.append(Part("latency", Text(f"latency {lo}-{hi}")))
    if snap.membership_changed:
        # The configuration the cluster runs (the leader's): voters, then learners after the slash.
        voters, learners = snap.configuration
        config = Text("· config ")
        config.append(",".join(map(str, voters)) or "none", style="bold")
        if learners:
            config.append("/" + ",".join(map(str, learners)), style="bold orchid1")
        parts.append(Part("config", config, config[2:]))
    rates = [(n.id, n.clock_rate) for n in snap.nodes if n.clock_rate]
    if rates:
        # Clocks off virtual time (``clock N rate=R``): what breaks a lease (dissertation §6.4.1).
        text = " ".join(f"{node}×{rate}" for node, rate in rates)
        full = Text(f"· clocks {text}", style="bold yellow")
        parts.append(Part("clocks", full, Text(text, style="yellow")))
    if snap.pending_requests:
        waiting = snap.pending_requests
        plural = "s" if waiting != 1 else ""
        parts.append(
            Part("clients", Text(f"· {waiting} client request{plural} waiting"), Text(f"{waiting} waiting"))
        )
    if snap.ahead:
        # Behind the tip of the branch being followed: n and play replay the record;
        # any other action starts a new branch here (the old one stays).
        parts.append(
            Part(
                "record",
                Text(f"· ⏪ replaying: {snap.ahead} recorded ahead", style="bold cyan"),
                Text(f"⏪ {snap.ahead} ahead", style="bold cyan"),
            )
        )
    if script:
        short = script.split(" (", 1)[0]
        style = "bold magenta"
        parts.append(Part("script", Text(f"· {script}", style=style), Text(short, style=style)))
    if breaks:
        parts.append(Part("break", Text(f"· break {breaks}"), Text("break")))
    if working:
        parts.append(
            Part("working", Text(f"· ⏳ {working}", style="bold yellow"), Text("⏳", style="bold yellow"))
        )
    elif busy:
        parts.append(Part("busy", Text("⋯", style="dim")))
    return parts


class StatusBar(Widget):
    """The header: every essential at any width (see ``fit``)."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.parts: list[Part] = header_parts(None, False, "")

    def show(
        self,
        snap: Snapshot | None,
        playing: bool,
        speed: str,
        script: str = "",
        busy: bool = False,
        breaks: str = "",
        working: str = "",
    ) -> None:
        self.parts = header_parts(snap, playing, speed, script, busy, breaks, working)
        self.refresh()

    def render(self) -> Text:
        # Laid out at render time, so a resize re-fits the line.
        return fit(self.parts, self.size.width)

    def text(self) -> str:
        """The line as shown now (plain text; tests read it)."""
        return fit(self.parts, self.size.width).plain
