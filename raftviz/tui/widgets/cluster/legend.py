"""The legend line under the ring: what each glyph means."""

from __future__ import annotations

from raftviz.tui.widgets.cluster.canvas import fit
from raftviz.tui.widgets.cluster.palette import (
    CUT_MARK,
    CUT_STYLE,
    DIM_TEXT,
    DOOMED_STYLE,
    NO_STYLE,
    OK_STYLE,
    SNAPSHOT_STYLE,
)


def legend(
    width: int, snapshots: bool = False, cut: bool = False, prevote: bool = False
) -> list[tuple[str, str]]:
    """The glyphs explained; ``snapshots`` adds InstallSnapshot's (once a log has been compacted),
    ``cut`` the marks of a cut (a partition or a cut link: ✗, a message lost at the cut),
    ``prevote`` PreVote's (``cluster ... prevote=on``)."""

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
            ("⊗⊠no", NO_STYLE),
        ]

    def cut_marks(gap: str, link: str, lost: str) -> list[tuple[str, str]]:
        lost_parts = [("■", DOOMED_STYLE), (f" {lost}", DIM_TEXT)]
        return [(gap, ""), (CUT_MARK, CUT_STYLE), (f" {link}{gap}", DIM_TEXT), *lost_parts]

    long = [
        *g("●", "bold bright_cyan", "RequestVote"),
        *(g("◐", "cyan", "PreVote") if prevote else []),
        *g("■", "bold bright_white", "AppendEntries"),
        *g("▪", "grey62", "heartbeat"),
        *snap_long,
        *g("◆", "bold magenta", "client"),
        *replies("replies"),
        *(cut_marks("  ", "cut link", "lost at the cut") if cut else []),
    ]
    medium = [
        *g("●", "bold bright_cyan", "vote"),
        *(g("◐", "cyan", "pre-vote") if prevote else []),
        *g("■", "bold bright_white", "append"),
        *g("▪", "grey62", "heartbeat"),
        *snap_medium,
        *g("◆", "bold magenta", "client"),
        *replies("reply"),
        *(cut_marks("  ", "cut", "lost at cut") if cut else []),
    ]
    # Narrow: what a cut looks like comes first, it is what the picture is about.
    short = [
        *(cut_marks("", "cut ", "lost ") if cut else []),
        ("●", "bold bright_cyan"),
        ("vote ", DIM_TEXT),
        *([("◐", "cyan"), ("pre ", DIM_TEXT)] if prevote else []),
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
