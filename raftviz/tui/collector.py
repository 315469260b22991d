"""Keep the garbage collector's full passes off the path from a key to the repainted screen.

A long session holds millions of long-lived objects (the history's records
and checkpoints, the feed's rows). CPython's full collection walks every one
of them: after 5,000 writes that took 450-500 ms, and it struck every few
dozen key presses, always in the middle of one (bench_tui's compaction
set-up: p50 37 ms, p99 536 ms, the p99 being exactly these pauses).

So whatever survives an update is *frozen* (``gc.freeze``: moved out of the
collector's generations, in constant time), and the automatic collections
only ever walk what the last few key presses made. Young cyclic garbage is
collected before each freeze (a young-generation pass: a millisecond or
two). What becomes cyclic garbage after being frozen is reclaimed by a full
pass when the app is idle (no update and no play for ``IDLE_S``), when no one
is waiting for the screen; and everything is unfrozen when the app ends.
"""

from __future__ import annotations

import gc
import time

#: Seconds without an update (and not playing) before the idle full collection.
IDLE_S = 10.0


class Collector:
    """When to freeze the survivors and when to collect fully (one per app)."""

    def __init__(self) -> None:
        self._last_update = time.monotonic()
        #: Whether objects were frozen since the last full collection.
        self._frozen = False
        #: Whether updates came since the last full collection (an idle pass has work).
        self._dirty = False

    def after_update(self) -> None:
        """An update is on screen: collect the young garbage, freeze what survives it."""
        gc.collect(1)
        gc.freeze()
        self._frozen = self._dirty = True
        self._last_update = time.monotonic()

    def when_idle(self, playing: bool) -> None:
        """Called now and then: after ``IDLE_S`` of quiet, one full pass over everything."""
        if playing:
            self._last_update = time.monotonic()
        elif self._dirty and time.monotonic() - self._last_update >= IDLE_S:
            self.release()
            gc.collect()
            gc.freeze()
            self._frozen, self._dirty = True, False

    def release(self) -> None:
        """Hand every frozen object back to the collector (the app ends)."""
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
