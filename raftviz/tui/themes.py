"""Themes for projectors: a light one and a high-contrast one, chosen by ``--theme`` or the palette.

The views draw with fixed colours chosen for a dark terminal (term colours,
role colours, greys for what matters less). On a light background some of
them (gold, khaki, chartreuse, white text) all but vanish, and on a washed-out
projector the dim greys do. Rather than a second set of colours in every
view, each raftviz theme carries a *contrast floor*: a line filter, applied
to everything drawn, moves any foreground colour that reads too weakly
against its own background towards black (on light) or white (on dark)
until it reaches the floor (the WCAG contrast ratio). Hues are kept, so a
term keeps its colour family; a colour that already reads is left alone,
so black on a term-coloured block is unchanged.

Colour is never the only sign (names, glyphs and words say every state: see
the cluster legend), so these themes change how well things read, not what
is shown.
"""

from __future__ import annotations

from functools import lru_cache

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter
from textual.theme import Theme

__all__ = ["THEMES", "ContrastFloor", "contrast", "theme_name"]

LIGHT = Theme(
    name="raftviz-light",
    primary="#1f5fbf",
    secondary="#6a3fa0",
    accent="#b35c00",
    foreground="#111111",
    background="#fafafa",
    surface="#eeeeee",
    panel="#dddddd",
    success="#1a7f37",
    warning="#9a6700",
    error="#c62828",
    dark=False,
)

HIGH_CONTRAST = Theme(
    name="raftviz-high-contrast",
    primary="#4da3ff",
    secondary="#ff66ff",
    accent="#ffd700",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1c1c1c",
    success="#00ff66",
    warning="#ffd700",
    error="#ff4d4d",
    dark=True,
)

#: ``--theme`` names: the app's usual dark look and the two projector themes.
THEMES: dict[str, str] = {
    "dark": "textual-dark",
    "light": LIGHT.name,
    "high-contrast": HIGH_CONTRAST.name,
}

#: The contrast each raftviz theme guarantees between a text colour and its background
#: (WCAG: 4.5 is "readable body text", 7 is the enhanced level).
FLOORS: dict[str, float] = {LIGHT.name: 4.5, HIGH_CONTRAST.name: 7.0}


def theme_name(name: str) -> str:
    """The Textual theme of a ``--theme`` name (a Textual theme's own name passes through)."""
    return THEMES.get(name, name)


def _luminance(color: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast(a: Color, b: Color) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@lru_cache(4096)
def _readable(fg: tuple[int, int, int], bg: tuple[int, int, int], floor: float) -> tuple[int, int, int]:
    """``fg`` moved towards black or white (whichever ``bg`` is not) until it reads at ``floor``."""
    text, ground = Color(*fg), Color(*bg)
    if contrast(text, ground) >= floor:
        return fg
    target = Color(0, 0, 0) if _luminance(ground) > 0.18 else Color(255, 255, 255)
    for step in range(1, 11):
        moved = text.blend(target, step / 10)
        if contrast(moved, ground) >= floor:
            return moved.rgb
    return target.rgb


class ContrastFloor(LineFilter):
    """Raise every foreground colour that reads below ``floor`` against its background."""

    def __init__(self, floor: float, enabled: bool = True) -> None:
        super().__init__(enabled=enabled)
        self.floor = floor

    @lru_cache(4096)  # noqa: B019 - one filter per app, and styles are few
    def _style(self, style: Style, background: RichColor) -> Style:
        fg, bg = style.color, style.bgcolor or background
        if fg is None or fg.triplet is None or bg.triplet is None:
            return style
        if style.reverse:
            fg, bg = bg, fg
        moved = _readable(tuple(fg.triplet), tuple(bg.triplet), self.floor)
        if moved == tuple(fg.triplet):
            return style
        new = RichColor.from_rgb(*moved)
        return style + (Style(bgcolor=new) if style.reverse else Style(color=new))

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        ground = background.rich_color
        style_of = self._style
        return [
            Segment(text, style_of(style, ground) if style is not None else None, control)
            for text, style, control in segments
        ]
