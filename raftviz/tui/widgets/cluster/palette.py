"""Colours and border shapes of the cluster view, shared with the logs view (terms, membership)."""

from __future__ import annotations

#: One colour per term, cycling. Chosen to stay distinct on a projector, both as
#: text on a dark background and as a background under black text; no red
#: (red means "down" or "denied" everywhere in the UI).
TERM_COLORS: tuple[str, ...] = (
    "deep_sky_blue1",
    "gold1",
    "hot_pink",
    "chartreuse1",
    "medium_purple1",
    "dark_orange",
    "turquoise2",
    "khaki1",
)


def term_color(term: int) -> str:
    """The colour of ``term`` (a Rich colour name); term 0 (no term yet) is grey."""
    if term <= 0:
        return "grey50"
    return TERM_COLORS[(term - 1) % len(TERM_COLORS)]


def term_style(term: int) -> str:
    """The Rich style of a term number, shared by the cluster and logs views."""
    return f"bold {term_color(term)}"


#: Border characters per role: top-left, top, top-right, side, bottom-left, bottom, bottom-right.
BORDERS: dict[str, str] = {
    "leader": "╔═╗║╚═╝",
    "candidate": "┏━┓┃┗━┛",
    "follower": "╭─╮│╰─╯",
    "down": "┌╌┐╎└╌┘",
}
BORDER_STYLE: dict[str, str] = {
    "leader": "bold bright_yellow",
    "candidate": "bold bright_cyan",
    "follower": "white",
    "down": "dim red",
}
ROLE_WORD: dict[str, str] = {
    "leader": "LEADER",
    "candidate": "candidate",
    "follower": "follower",
    "down": "DOWN",
    "learner": "learner",
    "outside": "not a member",
}
TITLE_STYLE: dict[str, str] = {
    "leader": "bold bright_yellow",
    "candidate": "bold bright_cyan",
    "follower": "bold white",
    "down": "bold red",
    "learner": "bold orchid1",
    "outside": "grey58",
}
# A pre-candidate (Pre-Vote, dissertation §9.6): a candidate's heavy border, dashed: it only asks.
BORDERS["pre-candidate"] = "┏╍┓╏┗╍┛"
BORDER_STYLE["pre-candidate"] = "bold cyan"
ROLE_WORD["pre-candidate"] = "pre-candidate"
TITLE_STYLE["pre-candidate"] = "bold cyan"
# Membership looks: a learner (receives the log, does not vote) and a node in no configuration.
BORDERS["learner"] = "╭┄╮┆╰┄╯"
BORDERS["outside"] = "┌┈┐┊└┈┘"
BORDER_STYLE["learner"] = "bold orchid1"
BORDER_STYLE["outside"] = "grey42"
#: The colour of membership: learners, configuration entries (the logs view too).
CONFIG_STYLE = "bold orchid1"
SNAPSHOT_STYLE = "bold orange1"
TEXT_STYLE = "white"
DIM_TEXT = "grey50"
PATH_STYLE = "grey30"
PATH_CHAR = "·"
OK_STYLE = "bold bright_green"
NO_STYLE = "bold bright_red"
#: A cut: the wall between partition groups, a cut link's mark, a message lost at the cut.
CUT_STYLE = "bold bright_red"
CUT_MARK = "✗"
DOOMED_STYLE = "bold white on red3"
#: Partition groups: a colour each (the letter on a node's box, the label of its region).
GROUP_STYLES = ("bold black on bright_cyan", "bold black on bright_magenta", "bold black on bright_yellow",
                "bold black on bright_green", "bold black on white")  # fmt: skip


def group_style(index: int) -> str:
    """The style of partition group ``index`` (0-based; the nodes left out of every group are one more)."""
    return GROUP_STYLES[index % len(GROUP_STYLES)]
