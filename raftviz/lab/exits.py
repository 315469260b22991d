"""How a raftviz command ends on a signal: every stop signal becomes one exception, so clean-up runs.

Python's default for SIGTERM and SIGHUP ends the process at once: no
``finally`` block, no ``atexit`` hook. The node processes of a lab stop
anyway (their control pipe closes), but the lab's temporary directory, which
only the lab's clean-up removes, stays behind (closing the terminal sends
SIGHUP; ``timeout`` and ``kill`` send SIGTERM). Within :func:`stop_signals`,
SIGINT, SIGTERM and SIGHUP raise :class:`Stopped` in the main thread instead,
like Ctrl-C, so the same clean-up runs for all of them; the command exits with
``128 + signum`` (130 for Ctrl-C), as a shell would report the signal.

A caller that cannot take an exception at an arbitrary point (the TUI, whose
event loop must shut down in order) passes its own handler, which asks for a
quit and returns; it may raise :class:`Stopped` itself when there is nothing
to ask. Only the first signal is acted on: a second one (a key held down, a
terminal sending SIGHUP then SIGTERM) must not break off the clean-up that
the first one started.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

#: The signals that end a command cleanly: Ctrl-C, ``kill``/``timeout``, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; a KeyboardInterrupt, so code that handles Ctrl-C handles it too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return exit_code(self.signum)


def exit_code(signum: int) -> int:
    """128 + ``signum``: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + signum


def _raise_stopped(signum: int) -> None:
    raise Stopped(signum)


class _Deferral:
    """Signals held back while a step that must not be cut in two runs (see :func:`atomic`)."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: list[tuple[Callable[[int], None], int]] = []


_deferral = _Deferral()


@contextlib.contextmanager
def atomic() -> Iterator[None]:
    """Within the block, a stop signal waits; it is acted on when the outermost block ends.

    For a step whose half-done state no clean-up can see: a node process
    started but not yet recorded (a signal between the two would leave it
    running, unknown to the lab's clean-up, writing into a directory the
    clean-up has just removed).
    """
    if threading.current_thread() is not threading.main_thread():
        # A signal's handler runs on the main thread and cannot cut into this one.
        yield
        return
    _deferral.depth += 1
    try:
        yield
    finally:
        _deferral.depth -= 1
        if not _deferral.depth and _deferral.pending:
            on_signal, signum = _deferral.pending.pop()
            _deferral.pending.clear()
            on_signal(signum)


@contextlib.contextmanager
def stop_signals(on_signal: Callable[[int], None] = _raise_stopped) -> Iterator[None]:
    """Within the block, the first stop signal calls ``on_signal(signum)`` (default: raise Stopped).

    Later signals are ignored until the block ends, so the clean-up the first
    one started is not cut short. Outside the main thread (where Python
    cannot set signal handlers) the block runs with the handlers unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if seen:
            return
        seen.append(signum)
        if _deferral.depth:
            _deferral.pending.append((on_signal, signum))
            return
        on_signal(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
