"""Searching the history from the app: the query, its matches, and the feed's filter.

``/`` takes a query in the syntax of the scenario language's ``find``
(``lab/search.py``). The lab thread lists every matching position from the
root to the tip of the branch being followed (``History.walk``); F3 and
F2 (or shift+F3) go to the next and previous of them through the history's
``goto``, like any other move in history. The list is made again when the
history has grown or another branch is followed since.

The feed's filter matches its own rows, by deriving each row's events from
its record (``FeedItem.record``), so rows that arrive after the search are
filtered too; what it decided is remembered per row.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from raftviz.lab.events import events_of
from raftviz.lab.search import Query
from raftviz.lab.timeline import EVENT
from raftviz.tui.feed import FeedItem


@dataclass(slots=True)
class Search:
    """A query and where it matched."""

    query: Query
    #: Matching positions along the way from the root to the followed branch's tip, in order.
    positions: list[int] = field(default_factory=list)
    #: (last position given out, branch followed) when ``positions`` was made.
    made_at: tuple[int, int] = (0, 0)
    _items: dict[tuple[int, str, str], bool] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.query.text

    def stale(self, last_position: int, branch: int) -> bool:
        return self.made_at != (last_position, branch)

    def after(self, position: int) -> int | None:
        """The first match after ``position`` (positions grow along any way through the tree)."""
        i = bisect.bisect_right(self.positions, position)
        return self.positions[i] if i < len(self.positions) else None

    def before(self, position: int) -> int | None:
        i = bisect.bisect_left(self.positions, position)
        return self.positions[i - 1] if i > 0 else None

    def index(self, position: int) -> int:
        """1-based rank of a matching position (0 if it is not one)."""
        i = bisect.bisect_left(self.positions, position)
        return i + 1 if i < len(self.positions) and self.positions[i] == position else 0

    def matches_item(self, item: FeedItem) -> bool:
        """Whether a feed row's event matches (decided once per row)."""
        key = (item.position, item.kind, item.text)  # positions are unique in the whole tree
        if key not in self._items:
            if len(self._items) > 20_000:
                self._items.clear()  # rows come and go; a full re-decision is cheap
            record = item.record
            found = record is not None and any(
                self.query.matches(e) for e in events_of(item.position, EVENT, [record])
            )
            self._items[key] = found
        return self._items[key]
