"""The legend line under the ring: what each glyph means."""

from __future__ import annotations

from raftviz.tui.widgets.cluster.canvas import fit
from raftviz.tui.widgets.cluster.palette import DIM_TEXT, NO_STYLE, OK_STYLE, SNAPSHOT_STYLE


def legend(width: int, snapshots: bool = False) -> list[tuple[str, str]]:
    """The glyphs explained; ``snapshots`` adds InstallSnapshot's (once a log has been compacted)."""

    def g(glyph: str, style: str, label: str) -> list[tuple[str, str]]:
        return [(glyph, style), (f" {label}  ", DIM_TEXT)]

    hollow = "○□▢◇" if snapshots else "○□◇"
    snap_long = g("▣", SNAPSHOT_STYLE, "InstallSnapshot") if snapshots else []
    snap_medium = g("▣", SNAPSHOT_STYLE, "snapshot") if snapshots else []
    snap_short = [("▣", SNAPSHOT_STYLE), ("snap ", DIM_TEXT)] if snapshots else []

    def replies(label: str) -> list[tuple[str, str]]:
        return [
            (hollow, "bold white"),
            (f" {label} ", DIM_TEXT),
            ("ok", OK_STYLE),
            ("/", DIM_TEXT),
            ("no", NO_STYLE),
        ]

    long = [
        *g("●", "bold bright_cyan", "RequestVote"),
        *g("■", "bold bright_white", "AppendEntries"),
        *g("▪", "grey62", "heartbeat"),
        *snap_long,
        *g("◆", "bold magenta", "client"),
        *replies("replies"),
    ]
    medium = [
        *g("●", "bold bright_cyan", "vote"),
        *g("■", "bold bright_white", "append"),
        *g("▪", "grey62", "heartbeat"),
        *snap_medium,
        *g("◆", "bold magenta", "client"),
        *replies("reply"),
    ]
    short = [
        ("●", "bold bright_cyan"),
        ("vote ", DIM_TEXT),
        ("■", "bold bright_white"),
        ("append ", DIM_TEXT),
        ("▪", "grey62"),
        ("beat ", DIM_TEXT),
        *snap_short,
        ("◆", "bold magenta"),
        ("client ", DIM_TEXT),
        (hollow, "bold white"),
        ("reply", DIM_TEXT),
    ]
    return fit([long, medium, short], width)
