"""A grid of styled cells the cluster view draws on, and fitting styled text into a width."""

from __future__ import annotations

from rich.text import Text


class Canvas:
    """A grid of (character, style) cells turned into a ``Text`` at the end."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.chars = [[" "] * width for _ in range(height)]
        self.styles = [[""] * width for _ in range(height)]

    def put(self, x: int, y: int, char: str, style: str = "") -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.chars[y][x] = char
            self.styles[y][x] = style

    def write(self, x: int, y: int, text: str, style: str = "") -> int:
        """Write ``text`` from (x, y), clipped; return the column after it."""
        for ch in text:
            self.put(x, y, ch, style)
            x += 1
        return x

    def spans(self, x: int, y: int, parts: list[tuple[str, str]]) -> int:
        for text, style in parts:
            x = self.write(x, y, text, style)
        return x

    def to_text(self) -> Text:
        out = Text(no_wrap=True, overflow="crop", end="")
        for row in range(self.height):
            if row:
                out.append("\n")
            chars, styles = self.chars[row], self.styles[row]
            start = 0
            for col in range(1, self.width + 1):
                if col == self.width or styles[col] != styles[start]:
                    out.append("".join(chars[start:col]), styles[start] or None)
                    start = col
        return out


def fit(candidates: list[list[tuple[str, str]]], width: int) -> list[tuple[str, str]]:
    """The first candidate (a list of styled parts) that fits in ``width`` cells, else the last, cut."""
    for parts in candidates:
        if sum(len(t) for t, _ in parts) <= width:
            return parts
    cut, room = [], width
    for text, style in candidates[-1]:
        if room <= 0:
            break
        cut.append((text[:room], style))
        room -= len(text[:room])
    return cut
