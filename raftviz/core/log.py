"""The replicated log, indexed from 1 as in the paper.

The log may start after index 0: ``start_index``/``start_term`` describe the
last entry discarded by log compaction (the snapshot's last included entry),
so that ``term_at(start_index)`` still answers the consistency check of §5.3.
The log also keeps a running estimate of its size in bytes, so a node can
compact by size as well as by count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from raftviz.core.messages import Entry


class RaftLog:
    """Entries ``start_index+1 .. last_index`` in memory, with O(1) access."""

    __slots__ = ("start_index", "start_term", "last_index", "last_term", "_entries", "_sizes", "_base")

    def __init__(self, entries: Iterable[Entry] = (), start_index: int = 0, start_term: int = 0) -> None:
        self.start_index = start_index
        self.start_term = start_term
        #: The index and term of the last entry (``start_index`` and ``start_term`` when
        #: none is held). Plain attributes that every change of the log keeps up to date,
        #: not properties: they are read many times per message, by the core and the lab.
        self.last_index = start_index
        self.last_term = start_term
        self._entries: list[Entry] = []
        #: _sizes[i] is the estimated size of entries[0..i] plus _base.
        self._sizes: list[int] = []
        self._base = 0
        for entry in entries:
            self.append(entry)

    def __deepcopy__(self, memo: dict[int, object]) -> RaftLog:
        """A copy for a checkpoint: new lists holding the same (immutable) entries."""
        copy = RaftLog.__new__(RaftLog)
        copy.start_index, copy.start_term, copy._base = self.start_index, self.start_term, self._base
        copy.last_index, copy.last_term = self.last_index, self.last_term
        copy._entries, copy._sizes = list(self._entries), list(self._sizes)
        return copy

    @property
    def bytes(self) -> int:
        """Estimated encoded size of the entries held."""
        return self._sizes[-1] - self._base if self._sizes else 0

    def term_at(self, index: int) -> int | None:
        """The term of the entry at ``index`` (``start_term`` at ``start_index``, so 0
        at index 0 for a log that starts at the beginning); None if unknown."""
        # Offsets into _entries: this and entry() are the hottest calls of a busy cluster.
        offset = index - self.start_index
        if offset == 0:
            return self.start_term
        if 0 < offset <= len(self._entries):
            return self._entries[offset - 1].term
        return None

    def entry(self, index: int) -> Entry:
        """The entry at ``index`` (which must be held in memory)."""
        offset = index - self.start_index
        if not 0 < offset <= len(self._entries):
            raise IndexError(index)
        return self._entries[offset - 1]

    def slice(self, first: int, limit: int | None = None) -> list[Entry]:
        """Entries from ``first`` on (at most ``limit`` of them)."""
        lo = max(first - self.start_index - 1, 0)
        hi = len(self._entries) if limit is None else min(lo + limit, len(self._entries))
        return self._entries[lo:hi]

    def truncate_from(self, index: int) -> None:
        """Delete the entry at ``index`` and all that follow it (§5.3)."""
        if index <= self.start_index:
            raise ValueError("cannot truncate below the start of the log")
        if index > self.last_index:
            return  # nothing held there: the usual case of a driver mirroring a log change
        del self._entries[index - self.start_index - 1 :]
        del self._sizes[index - self.start_index - 1 :]
        self._ends_changed()

    def append(self, entry: Entry) -> int:
        """Append one entry and return its index."""
        self._entries.append(entry)
        cmd = entry.command
        sizes = self._sizes
        size = len(cmd.key) + len(cmd.value) + len(cmd.client) + 24
        sizes.append((sizes[-1] if sizes else self._base) + size)
        self.last_index += 1
        self.last_term = entry.term
        return self.last_index

    def extend(self, entries: Sequence[Entry]) -> int:
        """Append entries in order, as ``append`` each would; return the new last index."""
        sizes = self._sizes
        size = sizes[-1] if sizes else self._base
        for entry in entries:
            cmd = entry.command
            size += len(cmd.key) + len(cmd.value) + len(cmd.client) + 24  # as in append
            sizes.append(size)
        self._entries.extend(entries)
        self._ends_changed()
        return self.last_index

    def compact(self, index: int, term: int) -> None:
        """Start the log after (index, term), as installing a snapshot there requires.

        If the entry at ``index`` has ``term``, it and everything before it are
        discarded and the rest is kept; otherwise the whole log is discarded
        (Figure 13, steps 6-7).
        """
        if index < self.start_index:
            raise ValueError(f"cannot compact to {index}: the log already starts after {self.start_index}")
        if self.term_at(index) == term and index <= self.last_index:
            drop = index - self.start_index
            if drop:
                self._base = self._sizes[drop - 1]
            del self._entries[:drop]
            del self._sizes[:drop]
        else:
            self._entries.clear()
            self._sizes.clear()
            self._base = 0
        self.start_index = index
        self.start_term = term
        self._ends_changed()

    def _ends_changed(self) -> None:
        """Set ``last_index`` and ``last_term`` again after a change of the log's ends."""
        self.last_index = self.start_index + len(self._entries)
        self.last_term = self._entries[-1].term if self._entries else self.start_term

    def first_index_of_term(self, index: int) -> int:
        """The first index of the run of entries sharing ``term_at(index)``."""
        term = self.term_at(index)
        while index - 1 > self.start_index and self.term_at(index - 1) == term:
            index -= 1
        return index

    def last_index_of_term(self, term: int) -> int:
        """The last index holding an entry of ``term``, or 0 if there is none."""
        for index in range(self.last_index, self.start_index, -1):
            t = self.term_at(index)
            if t == term:
                return index
            if t is not None and t < term:
                break
        return 0

    def is_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        """§5.4.1: is a log ending at (index, term) at least as up-to-date as ours?"""
        if last_log_term != self.last_term:
            return last_log_term > self.last_term
        return last_log_index >= self.last_index

    def __len__(self) -> int:
        """The number of entries held (after ``start_index``)."""
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        """The entries held, from ``start_index + 1`` on."""
        return iter(self._entries)
