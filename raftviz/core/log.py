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

    __slots__ = ("start_index", "start_term", "last_index", "last_term", "_entries", "_bytes", "_sized")

    def __init__(self, entries: Iterable[Entry] = (), start_index: int = 0, start_term: int = 0) -> None:
        self.start_index = start_index
        self.start_term = start_term
        #: The index and term of the last entry (``start_index`` and ``start_term`` when
        #: none is held). Plain attributes that every change of the log keeps up to date,
        #: not properties: they are read many times per message, by the core and the lab.
        self.last_index = start_index
        self.last_term = start_term
        self._entries: list[Entry] = list(entries)
        #: The estimated size of _entries[:_sized]. Counted lazily, when ``bytes`` is read
        #: (only a node that compacts by size reads it): every follower and every lab view
        #: appends each entry, and most never ask the size of their log.
        self._bytes = 0
        self._sized = 0
        self._ends_changed()

    def __deepcopy__(self, memo: dict[int, object]) -> RaftLog:
        """A copy for a checkpoint: new lists holding the same (immutable) entries."""
        copy = RaftLog.__new__(RaftLog)
        copy.start_index, copy.start_term = self.start_index, self.start_term
        copy.last_index, copy.last_term = self.last_index, self.last_term
        copy._entries, copy._bytes, copy._sized = list(self._entries), self._bytes, self._sized
        return copy

    def __getstate__(self) -> tuple[int, int, list[Entry]]:
        """What a pickle of the log holds: its start and entries, not the lazy size count
        (so two equal logs pickle alike whether or not their size was read)."""
        return self.start_index, self.start_term, self._entries

    def __setstate__(self, state: tuple[int, int, list[Entry]]) -> None:
        self.start_index, self.start_term, entries = state
        self._entries = list(entries)
        self._bytes = self._sized = 0
        self._ends_changed()

    @property
    def bytes(self) -> int:
        """Estimated encoded size of the entries held."""
        entries = self._entries
        if self._sized < len(entries):
            self._bytes += _size_of(entries[self._sized :])
            self._sized = len(entries)
        return self._bytes

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
        kept = index - self.start_index - 1
        self._uncount(kept, self._sized)
        del self._entries[kept:]
        self._ends_changed()

    def append(self, entry: Entry) -> int:
        """Append one entry and return its index."""
        self._entries.append(entry)
        self.last_index += 1
        self.last_term = entry.term
        return self.last_index

    def extend(self, entries: Sequence[Entry]) -> int:
        """Append entries in order, as ``append`` each would; return the new last index."""
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
            self._uncount(0, drop)
            del self._entries[:drop]
        else:
            self._entries.clear()
            self._bytes = self._sized = 0
        self.start_index = index
        self.start_term = term
        self._ends_changed()

    def _uncount(self, lo: int, hi: int) -> None:
        """Take the entries _entries[lo:hi], about to be deleted, out of the counted size."""
        hi = min(hi, self._sized)
        if lo < hi:
            self._bytes -= _size_of(self._entries[lo:hi])
            self._sized -= hi - lo

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


def _size_of(entries: Iterable[Entry]) -> int:
    """The estimated encoded size of ``entries``: the command's strings and 24 bytes of the rest."""
    return sum(len(e.command.key) + len(e.command.value) + len(e.command.client) + 24 for e in entries)
