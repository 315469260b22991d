"""The disk under a node's storage, with the faults the lab (or a test) can inject.

Every write and fsync of :mod:`raftviz.node.storage` goes through one
``Disk``, so an injected fault takes the same code path as a real one:

``ok``
    writes and fsyncs happen.
``fail``
    the next write or fsync raises ``OSError(EIO)``. The node must stop: a
    node that cannot tell what reached its disk can keep no promise (the
    process exits with code :data:`EXIT_DISK_FAILED`, saying why).
``full``
    a write that needs new space raises ``OSError(ENOSPC)``. New space is
    what log entries and snapshots take; the hard state (term and vote) is
    a small record a real store keeps in space it already holds (etcd
    preallocates its WAL segments, for instance), so it is still written:
    a full node can still vote and follow terms. The driver
    (:mod:`raftviz.node.driver`) turns ENOSPC into a refusal of the input
    that needed the space.
``slow MS``
    every fsync takes MS milliseconds longer. In free mode this is a real
    sleep; in the lab the node does not sleep (time is virtual) and the lab
    delays what the node sent after a sync by MS instead.

``MemoryStorage`` (the in-process backend) asks the same ``Disk`` before it
changes anything (:meth:`Disk.check_write`, :meth:`Disk.check_fsync`), so
both backends raise the same error at the same moment.
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from raftviz.wire import control

__all__ = [
    "EXIT_DISK_FAILED",
    "Disk",
    "DiskFault",
    "DiskFaultError",
    "DiskStopped",
    "parse_fault",
    "stop_reason",
]

#: Exit code of a node process whose disk failed (EIO, or any write error but an injected ENOSPC).
EXIT_DISK_FAILED = 7
#: The longest injected fsync delay, in milliseconds (the control frame checks the same bound).
MAX_SLOW_MS = control.MAX_SLOW_MS
MODES = ("ok", "fail", "full", "slow")


class DiskStopped(Exception):
    """A write or fsync failed in a way the node cannot go on from: it must stop (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DiskFaultError(ValueError):
    """A disk fault written wrongly (``parse_fault``)."""


@dataclass(frozen=True, slots=True)
class DiskFault:
    """One disk state: ``mode`` is ok, fail, full or slow; ``ms`` the slow fsync's extra time."""

    mode: str = "ok"
    ms: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise DiskFaultError(f"a disk is ok, fail, full or slow MS, not {self.mode!r}")
        if self.mode == "slow" and not 1 <= self.ms <= MAX_SLOW_MS:
            raise DiskFaultError(f"a slow disk's delay is 1..{MAX_SLOW_MS} ms, not {self.ms}")
        if self.mode != "slow" and self.ms:
            raise DiskFaultError(f"only a slow disk has a delay ({self.mode} {self.ms})")

    @property
    def text(self) -> str:
        """The form reports and ``status`` use: ``ok``, ``fail``, ``full``, ``slow:MS``."""
        return f"slow:{self.ms}" if self.mode == "slow" else self.mode


_TEXT = re.compile(r"(ok|fail|full)|slow[:=](\d{1,6})")


def parse_fault(text: str) -> DiskFault:
    """``ok``, ``fail``, ``full``, ``slow:MS`` or ``slow=MS`` (the option's form); DiskFaultError else."""
    m = _TEXT.fullmatch(text)
    if not m:
        raise DiskFaultError(f"a disk fault is ok, fail, full or slow=MS, not {text!r}")
    if m.group(1):
        return DiskFault(m.group(1))
    return DiskFault("slow", int(m.group(2)))


def stop_reason(exc: OSError) -> str:
    """Why a node whose write failed stops: the same words on both backends and in free mode."""
    name = errno.errorcode.get(exc.errno or 0, "error")
    what = os.path.basename(exc.filename) if isinstance(exc.filename, str) else "its files"
    strerror = exc.strerror or str(exc)
    return (
        f"disk error writing {what} ({name}: {strerror}); stopping, since a node that cannot "
        "write cannot keep what it promised"
    )


class Disk:
    """Writes and fsyncs, failing as told. ``sleep``: make a slow fsync really wait (free mode)."""

    def __init__(self, sleep: bool = False) -> None:
        self.fault = DiskFault()
        self.sleep = sleep
        self._suspended = False

    def set(self, fault: DiskFault) -> None:
        self.fault = fault

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """No fault inside: the lab's housekeeping (restoring a checkpoint) is not I/O of the run."""
        self._suspended, before = True, self._suspended
        try:
            yield
        finally:
            self._suspended = before

    def _mode(self) -> str:
        return "ok" if self._suspended else self.fault.mode

    def check_write(self, name: str, needs_space: bool) -> None:
        """Raise what writing to file ``name`` would raise now."""
        mode = self._mode()
        if mode == "fail":
            raise OSError(errno.EIO, os.strerror(errno.EIO), name)
        if mode == "full" and needs_space:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)

    def check_fsync(self, name: str) -> None:
        """Raise what an fsync of ``name`` would raise now (a slow disk waits here in free mode)."""
        mode = self._mode()
        if mode == "fail":
            raise OSError(errno.EIO, os.strerror(errno.EIO), name)
        if mode == "slow" and self.sleep:
            time.sleep(self.fault.ms / 1000)

    def write(self, fd: int, data: bytes, name: str, needs_space: bool = True) -> None:
        """Write all of ``data`` to ``fd`` (``name`` is the file's name, for the error)."""
        self.check_write(name, needs_space)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def fsync(self, fd: int, name: str) -> None:
        self.check_fsync(name)
        os.fsync(fd)
