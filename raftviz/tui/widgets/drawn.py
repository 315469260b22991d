"""Text that Textual paints through Rich's own renderer: the fast path for big pictures.

Textual turns a ``rich.text.Text`` returned by ``render()`` into its own
``Content`` and builds every line span by span, converting each span's style
on the way. The cluster ring, the logs and the lists are pictures of hundreds
of small styled spans (a cell each, often), and that conversion was the
largest part of a step's repaint (bench_tui, 9 nodes). Handed over as a
plain Rich renderable instead, the same text is drawn by Rich's segment
renderer, whose style handling is cached: the picture is the same, made in
less time. ``Drawn`` is still a ``Text`` (tests read ``.plain``).
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

__all__ = ["Drawn", "drawn"]


class Drawn(Text):
    """A ``Text`` that asks Textual to draw it as a Rich renderable (see the module)."""

    __slots__ = ()

    def visualize(self) -> Group:
        # Textual's visualize() wraps whatever renderable this returns in a RichVisual.
        return Group(self)


def drawn(text: Text) -> Drawn:
    """``text`` as a ``Drawn`` (its spans and settings copied, not re-styled)."""
    out = Drawn(
        style=text.style,
        justify=text.justify,
        overflow=text.overflow,
        no_wrap=text.no_wrap,
        end=text.end,
        tab_size=text.tab_size,
    )
    out.append_text(text)
    return out
