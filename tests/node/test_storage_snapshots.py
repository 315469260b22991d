"""Durable snapshots and log compaction in node storage.

``FileStorage`` keeps the latest snapshot in ``snapshot.dat`` (one framed
record, replaced atomically) and records each compaction in ``raft.dat`` as
``[3, index, term]``; ``MemoryStorage`` keeps the same state in memory. These
tests check that a save with a snapshot reloads to exactly the state
``RaftLog.compact`` describes (the reference model here), that what a crash
during such a save leaves behind is recovered, that any damage to
``snapshot.dat`` refuses to load with a clear message, that ``raft.dat`` stays
bounded however many compactions it goes through, and that the two storages
agree on any sequence of saves.

Files are built with an independent writer of the documented format
(``_frame``/``_record`` below), not with the module's own helpers, so a change
to the format is seen here.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftviz.core.kv import KVStore, restore_snapshot
from raftviz.core.log import RaftLog
from raftviz.core.membership import Configuration
from raftviz.core.messages import Command, Entry
from raftviz.core.ready import HardState, Ready
from raftviz.core.snapshot import Snapshot, SnapshotError, decode_snapshot, encode_snapshot
from raftviz.node import storage as storage_module
from raftviz.node.driver import MemoryStorage
from raftviz.node.storage import FILENAME, SNAPSHOT_FILENAME, SNAPSHOT_TMP, FileStorage, StorageError

CONFIG = Configuration.of([1, 2, 3])


# =========================================================================== helpers


def _snap(index: int, term: int, tag: str = "") -> Snapshot:
    kv = KVStore()
    kv.data.update({f"k{tag}{i}": f"v{index}.{i}" for i in range(3)})
    return encode_snapshot(index, term, CONFIG, kv)


def _entries(term: int, count: int, tag: str = "") -> list[Entry]:
    return [Entry(term, Command("put", f"k{tag}{i}", f"v{i}", "c1", i + 1)) for i in range(count)]


@dataclass(frozen=True)
class State:
    """What ``load()`` returned, in a comparable form."""

    hard: HardState
    start_index: int
    start_term: int
    entries: tuple[Entry, ...]
    snapshot: Snapshot | None


def _state(loaded: tuple[HardState, RaftLog, Snapshot | None]) -> State:
    hard, log, snapshot = loaded
    return State(hard, log.start_index, log.start_term, tuple(log.slice(log.start_index + 1)), snapshot)


def _model(readys: list[Ready]) -> State:
    """The state a sequence of saves describes, by the core's own RaftLog rules."""
    hard, log, snapshot = HardState(), RaftLog(), None
    for ready in readys:
        if ready.snapshot is not None:
            snapshot = ready.snapshot
            log.compact(snapshot.index, snapshot.term)
        if ready.hard_state is not None:
            hard = ready.hard_state.copy()
        if ready.log_from:
            log.truncate_from(ready.log_from)
            for entry in ready.entries:
                log.append(entry)
    return _state((hard, log, snapshot))


def _save_all(directory: Path, readys: list[Ready]) -> None:
    storage = FileStorage(directory)
    storage.load()
    try:
        for ready in readys:
            storage.save(ready)
    finally:
        storage.close()


def _reload(directory: Path) -> tuple[State, list[str]]:
    warnings: list[str] = []
    storage = FileStorage(directory, warn=warnings.append)
    try:
        return _state(storage.load()), warnings
    finally:
        storage.close()


def _memory(readys: list[Ready]) -> State:
    storage = MemoryStorage()
    for ready in readys:
        storage.save(ready)
    return _state(storage.load())


def _frame(body: bytes) -> bytes:
    """length u32 BE | body crc32 | head crc32 | body, as the module docstring describes."""
    head = struct.pack(">II", len(body), zlib.crc32(body))
    return head + struct.pack(">I", zlib.crc32(head)) + body


def _record(payload: list) -> bytes:
    return _frame(msgpack.packb(payload, use_bin_type=True))


def _wire(entries: list[Entry]) -> list:
    return [
        [
            e.term,
            [e.command.op, e.command.key, e.command.value, e.command.client, e.command.seq, e.command.low],
            e.stamp,
        ]
        for e in entries
    ]


def _records(data: bytes) -> list[tuple[int, list]]:
    """Every record of an intact raft.dat: (its size in bytes, its payload)."""
    out, pos = [], 0
    while pos < len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        out.append((12 + length, msgpack.unpackb(data[pos + 12 : pos + 12 + length], raw=False)))
        pos += 12 + length
    assert pos == len(data)
    return out


#: A small history: two terms, a truncation, then a snapshot that keeps a suffix.
BASE = [
    Ready(hard_state=HardState(1, 1), log_from=1, entries=_entries(1, 10, "a")),
    Ready(hard_state=HardState(2, 0)),
    Ready(log_from=9, entries=_entries(2, 4, "b")),  # 1..8 term 1, 9..12 term 2
]


# =========================================================================== saving and reloading


@pytest.mark.parametrize(
    "snapshot, kept",
    [
        (_snap(6, 1), (7, 12)),  # the log holds (6, 1): keep 7..12
        (_snap(8, 1), (9, 12)),  # the last entry of term 1
        (_snap(12, 2), None),  # the last entry: nothing left after it
        (_snap(6, 2), None),  # the log holds index 6, but of another term: drop it all
        (_snap(20, 3), None),  # beyond the log: drop it all
    ],
    ids=["suffix", "term-boundary", "at-last", "term-mismatch", "beyond"],
)
def test_snapshot_compacts_the_log_and_reloads_identically(
    tmp_path: Path, snapshot: Snapshot, kept: tuple[int, int] | None
) -> None:
    readys = [*BASE, Ready(snapshot=snapshot, hard_state=HardState(3, 2))]
    _save_all(tmp_path, readys)
    state, warnings = _reload(tmp_path)
    assert warnings == []
    assert state == _model(readys) == _memory(readys)
    assert (state.start_index, state.start_term, state.snapshot) == (snapshot.index, snapshot.term, snapshot)
    assert state.hard == HardState(3, 2)
    full = _model(BASE).entries
    assert state.entries == (full[kept[0] - 1 : kept[1]] if kept else ())
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME, SNAPSHOT_FILENAME]
    # A second load of the same files gives the same state.
    assert _reload(tmp_path) == (state, [])


def test_log_changes_after_compaction_use_absolute_indexes(tmp_path: Path) -> None:
    steps = [
        *BASE,
        Ready(snapshot=_snap(6, 1)),
        Ready(log_from=13, entries=_entries(3, 3, "c")),  # 7..15
        Ready(hard_state=HardState(4, 1), log_from=10, entries=_entries(4, 2, "d")),  # 7..11
        Ready(snapshot=_snap(10, 4), log_from=12, entries=_entries(4, 1, "e")),  # 11..12
        Ready(log_from=11, entries=[]),  # truncate to just after the snapshot
        Ready(log_from=11, entries=_entries(5, 2, "f")),  # 11..12
    ]
    storage = FileStorage(tmp_path)
    storage.load()
    try:
        for number, ready in enumerate(steps, 1):
            storage.save(ready)
            # Reload after every step, as a restart would.
            assert _reload(tmp_path) == (_model(steps[:number]), []), f"after step {number}"
    finally:
        storage.close()
    final = _model(steps)
    assert (final.start_index, final.start_term, len(final.entries)) == (10, 4, 2)
    assert _memory(steps) == final


@pytest.mark.parametrize(
    "ready",
    [
        Ready(log_from=6, entries=_entries(3, 1)),  # at the snapshot's own index
        Ready(log_from=9, entries=_entries(3, 1)),  # past the end of the log (7..7)
        Ready(snapshot=_snap(5, 1)),  # a snapshot below the start of the log
    ],
    ids=["log-from-at-start", "log-from-past-end", "snapshot-below-start"],
)
def test_a_change_the_log_cannot_take_raises_and_writes_nothing(tmp_path: Path, ready: Ready) -> None:
    readys = [Ready(log_from=1, entries=_entries(1, 7)), Ready(snapshot=_snap(6, 1))]
    _save_all(tmp_path, readys)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for storage in (FileStorage(tmp_path), MemoryStorage()):
        if isinstance(storage, MemoryStorage):
            for earlier in readys:
                storage.save(earlier)
        else:
            storage.load()
        with pytest.raises(ValueError):
            storage.save(ready)
        assert _state(storage.load()) == _model(readys)
        if isinstance(storage, FileStorage):
            storage.close()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_load_returns_a_log_the_caller_may_change(tmp_path: Path) -> None:
    """The core appends to and compacts the log it was given; storage keeps its own."""
    readys = [*BASE, Ready(snapshot=_snap(6, 1))]
    more = Ready(log_from=13, entries=_entries(3, 1, "c"))
    _save_all(tmp_path, readys)
    memory = MemoryStorage()
    for ready in readys:
        memory.save(ready)
    disk = FileStorage(tmp_path)
    try:
        for storage in (disk, memory):
            _, log, _ = storage.load()
            log.append(Entry(9, Command("noop")))
            log.compact(8, 1)
            storage.save(more)  # numbered as if the caller had not touched the log
    finally:
        disk.close()
    expected = _model([*readys, more])
    assert _state(memory.load()) == expected
    assert _reload(tmp_path) == (expected, [])


def test_handwritten_files_in_the_documented_format_load(tmp_path: Path) -> None:
    entries = _entries(1, 10, "a")
    (tmp_path / FILENAME).write_bytes(
        _record([1, 2, 3])
        + _record([2, 1, _wire(entries)])
        + _record([3, 4, 1])  # drop 1..4
        + _record([2, 8, _wire(_entries(2, 2, "b"))])  # 5..7 then 8..9 of term 2
    )
    (tmp_path / SNAPSHOT_FILENAME).write_bytes(_frame(_snap(4, 1).data))
    state, warnings = _reload(tmp_path)
    assert warnings == []
    assert state == State(HardState(2, 3), 4, 1, (*entries[4:7], *_entries(2, 2, "b")), _snap(4, 1))


def test_a_rewritten_log_is_split_into_records_of_bounded_size(tmp_path: Path) -> None:
    """One record for a whole large log could exceed MAX_RECORD and make the file unloadable."""
    readys = [Ready(log_from=1, entries=_entries(1, 1000)), Ready(snapshot=_snap(100, 1))]
    _save_all(tmp_path, readys)  # the snapshot rewrites raft.dat
    payloads = [payload for _, payload in _records((tmp_path / FILENAME).read_bytes())]
    assert [p[0] for p in payloads] == [1, 3, 2, 2, 2, 2]
    assert all(len(p[2]) <= 256 for p in payloads if p[0] == 2)
    assert _reload(tmp_path) == (_model(readys), [])


# =========================================================================== crashes


@pytest.mark.parametrize(
    "snapshot",
    [_snap(6, 1), _snap(12, 2), _snap(6, 2), _snap(30, 5)],
    ids=["keeps-suffix", "at-last", "term-mismatch", "beyond"],
)
def test_crash_between_snapshot_file_and_compaction_record(tmp_path: Path, snapshot: Snapshot) -> None:
    """snapshot.dat was replaced but raft.dat never got its [3] record: finish the compaction at load."""
    _save_all(tmp_path, BASE)
    (tmp_path / SNAPSHOT_FILENAME).write_bytes(_frame(snapshot.data))
    expected = _model([*BASE, Ready(snapshot=snapshot)])
    state, warnings = _reload(tmp_path)
    assert state == expected
    assert len(warnings) == 1 and "interrupted" in warnings[0] and f"index {snapshot.index}" in warnings[0]
    # The finished compaction is durable: changes numbered after the snapshot replay onto it.
    more = Ready(hard_state=HardState(6, 1), log_from=expected.start_index + len(expected.entries) + 1,
                 entries=_entries(6, 3, "z"))  # fmt: skip
    _save_all(tmp_path, [more])
    assert _reload(tmp_path) == (_model([*BASE, Ready(snapshot=snapshot), more]), [])


def test_crash_while_writing_the_snapshot_file_leaves_the_old_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """snapshot.dat must be durable before raft.dat drops the log it covers: a crash just
    before the rename loses the snapshot, so raft.dat must not have been touched yet."""
    _save_all(tmp_path, BASE)
    raft = (tmp_path / FILENAME).read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash before the rename")

    storage = FileStorage(tmp_path)
    storage.load()
    monkeypatch.setattr(storage_module.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        storage.save(
            Ready(snapshot=_snap(6, 1), hard_state=HardState(3, 2), log_from=13, entries=_entries(3, 1))
        )
    monkeypatch.undo()
    storage.close()
    assert (tmp_path / FILENAME).read_bytes() == raft
    state, warnings = _reload(tmp_path)
    assert state == _model(BASE)
    assert len(warnings) == 1 and SNAPSHOT_TMP in warnings[0]


def test_crash_after_an_older_snapshot_then_a_newer_one(tmp_path: Path) -> None:
    """raft.dat starts after one snapshot, snapshot.dat already holds the next."""
    readys = [*BASE, Ready(snapshot=_snap(4, 1)), Ready(log_from=13, entries=_entries(2, 3, "c"))]
    _save_all(tmp_path, readys)
    (tmp_path / SNAPSHOT_FILENAME).write_bytes(_frame(_snap(11, 2).data))
    state, warnings = _reload(tmp_path)
    assert state == _model([*readys, Ready(snapshot=_snap(11, 2))])
    assert (state.start_index, len(state.entries)) == (11, 4)
    assert len(warnings) == 1 and "interrupted" in warnings[0]


def test_crash_at_any_byte_of_a_snapshot_save(tmp_path: Path) -> None:
    """Cut the records a snapshot save appends (before its rewrite) at every byte: each cut
    loads to the state before the save, compacted, plus whichever later parts are whole."""
    save = Ready(snapshot=_snap(6, 1), hard_state=HardState(3, 2), log_from=13, entries=_entries(3, 3, "c"))
    orig = tmp_path / "orig"
    _save_all(orig, BASE)
    start = (orig / FILENAME).stat().st_size
    storage = FileStorage(orig)
    storage.load()
    storage._rewrite = lambda blob=None: None  # type: ignore[method-assign] - stop just before the rewrite
    storage.save(save)
    storage.close()
    data = (orig / FILENAME).read_bytes()
    ends = [start + size for size in _cumulative(_records(data[start:]))]
    assert len(ends) == 3  # [3], hard state, log
    candidates = {
        ends[0]: _model([*BASE, Ready(snapshot=save.snapshot)]),
        ends[1]: _model([*BASE, Ready(snapshot=save.snapshot, hard_state=save.hard_state)]),
        ends[2]: _model([*BASE, save]),
    }
    for cut in range(start, len(data) + 1):
        directory = tmp_path / f"cut{cut}"
        directory.mkdir()
        (directory / FILENAME).write_bytes(data[:cut])
        shutil.copy(orig / SNAPSHOT_FILENAME, directory / SNAPSHOT_FILENAME)
        state, warnings = _reload(directory)
        whole = max((end for end in ends if end <= cut), default=None)
        expected = candidates[whole] if whole is not None else candidates[ends[0]]
        assert state == expected, f"cut at byte {cut}"
        assert ("torn tail" in " ".join(warnings)) == (cut not in (start, *ends)), (cut, warnings)
        assert ("interrupted" in " ".join(warnings)) == (cut < ends[0]), (cut, warnings)
        assert _reload(directory) == (expected, []), f"second load after a cut at byte {cut}"


def _cumulative(records: list[tuple[int, list]]) -> list[int]:
    total, out = 0, []
    for size, _ in records:
        total += size
        out.append(total)
    return out


def test_torn_tail_after_a_compaction_record_is_truncated(tmp_path: Path) -> None:
    readys = [*BASE, Ready(snapshot=_snap(6, 1), hard_state=HardState(3, 0))]
    orig = tmp_path / "orig"
    _save_all(orig, readys)
    start = (orig / FILENAME).stat().st_size
    assert [p[0] for _, p in _records((orig / FILENAME).read_bytes())] == [1, 3, 2]  # rewritten
    last = Ready(log_from=13, entries=_entries(3, 4, "c"))
    _save_all(orig, [last])
    data = (orig / FILENAME).read_bytes()
    for cut in range(start + 1, len(data)):
        directory = tmp_path / f"cut{cut}"
        directory.mkdir()
        (directory / FILENAME).write_bytes(data[:cut])
        shutil.copy(orig / SNAPSHOT_FILENAME, directory / SNAPSHOT_FILENAME)
        state, warnings = _reload(directory)
        assert state == _model(readys), f"cut at byte {cut}"
        assert len(warnings) == 1 and "torn tail" in warnings[0] and f"{cut - start} bytes" in warnings[0]
        assert (directory / FILENAME).stat().st_size == start
        assert _reload(directory) == (_model(readys), [])
    assert _reload(orig) == (_model([*readys, last]), [])


def test_leftover_snapshot_tmp_is_deleted_with_a_warning(tmp_path: Path) -> None:
    readys = [*BASE, Ready(snapshot=_snap(6, 1))]
    _save_all(tmp_path, readys)
    # A newer snapshot was being written when the node crashed: half of it is on disk.
    partial = _frame(_snap(10, 2).data)
    (tmp_path / SNAPSHOT_TMP).write_bytes(partial[: len(partial) // 2])
    state, warnings = _reload(tmp_path)
    assert state == _model(readys)
    assert len(warnings) == 1 and SNAPSHOT_TMP in warnings[0] and "deleted" in warnings[0], warnings
    assert not (tmp_path / SNAPSHOT_TMP).exists()
    assert _reload(tmp_path) == (state, [])


def test_leftover_snapshot_tmp_without_any_snapshot(tmp_path: Path) -> None:
    """The first snapshot's write was interrupted: the store has no snapshot yet."""
    _save_all(tmp_path, BASE)
    (tmp_path / SNAPSHOT_TMP).write_bytes(_frame(_snap(6, 1).data))  # even a whole one never took effect
    state, warnings = _reload(tmp_path)
    assert state == _model(BASE) and state.snapshot is None
    assert len(warnings) == 1 and SNAPSHOT_TMP in warnings[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME]


# =========================================================================== damage


def _expect_refusal(directory: Path, *words: str) -> str:
    with pytest.raises(StorageError) as info:
        _reload(directory)
    text = str(info.value)
    for word in words:
        assert word in text, text
    return text


def test_any_damage_to_the_snapshot_file_refuses_to_load(tmp_path: Path) -> None:
    """snapshot.dat is replaced whole, so unlike raft.dat no damage to it is a torn write."""
    orig = tmp_path / "orig"
    _save_all(orig, [*BASE, Ready(snapshot=_snap(6, 1))])
    raft = (orig / FILENAME).read_bytes()
    data = (orig / SNAPSHOT_FILENAME).read_bytes()
    assert data == _frame(_snap(6, 1).data)
    variants: dict[str, bytes] = {}
    for offset in range(len(data)):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        variants[f"flip{offset}"] = bytes(damaged)
    for cut in range(len(data)):
        variants[f"cut{cut}"] = data[:cut]
    variants["extra"] = data + b"\0"
    variants["not-json"] = _frame(b"not json")
    variants["not-a-snapshot"] = _frame(b'{"format":"something else"}')
    variants["not-utf8"] = _frame(b"\xff\xfe")
    for name, content in variants.items():
        directory = tmp_path / name
        directory.mkdir()
        (directory / FILENAME).write_bytes(raft)
        (directory / SNAPSHOT_FILENAME).write_bytes(content)
        text = _expect_refusal(directory, str(directory / SNAPSHOT_FILENAME), "damaged", "refusing to start")
        assert "Traceback" not in text
        # Nothing was changed on the way to refusing.
        assert (directory / SNAPSHOT_FILENAME).read_bytes() == content
        assert (directory / FILENAME).read_bytes() == raft


def test_compacted_log_without_its_snapshot_refuses_to_load(tmp_path: Path) -> None:
    _save_all(tmp_path, [*BASE, Ready(snapshot=_snap(6, 1))])
    (tmp_path / SNAPSHOT_FILENAME).unlink()
    _expect_refusal(tmp_path, str(tmp_path / FILENAME), "after index 6", SNAPSHOT_FILENAME)


def test_log_starting_after_the_snapshot_refuses_to_load(tmp_path: Path) -> None:
    """snapshot.dat older than the log's start: the entries in between are nowhere."""
    _save_all(tmp_path, [*BASE, Ready(snapshot=_snap(4, 1))])
    old = (tmp_path / SNAPSHOT_FILENAME).read_bytes()
    _save_all(tmp_path, [Ready(snapshot=_snap(8, 1))])
    (tmp_path / SNAPSHOT_FILENAME).write_bytes(old)
    _expect_refusal(tmp_path, str(tmp_path / FILENAME), "after index 8", "index 4")


@pytest.mark.parametrize(
    "records",
    [
        [[2, 1, []], [3, 4, 1], [3, 3, 1]],  # compaction below the start
        [[3, 4, 1], [2, 4, []]],  # log change at the start
        [[3, 4, 1], [2, 6, []]],  # log change past the end
        [[3, -1, 1]],
        [[3, 4, "1"]],
        [[3, 4]],
    ],
    ids=["compact-below-start", "log-at-start", "log-past-end", "negative", "str-term", "short"],
)
def test_invalid_compaction_records_refuse_to_load(tmp_path: Path, records: list[list]) -> None:
    (tmp_path / FILENAME).write_bytes(b"".join(_record(r) for r in records))
    (tmp_path / SNAPSHOT_FILENAME).write_bytes(_frame(_snap(4, 1).data))
    _expect_refusal(tmp_path, str(tmp_path / FILENAME), "invalid")


# =========================================================================== bounded size


def test_raft_dat_stays_bounded_across_many_compactions(tmp_path: Path) -> None:
    """50 rounds of 100 entries, each followed by a snapshot keeping the last 5."""
    storage = FileStorage(tmp_path)
    storage.load()
    readys: list[Ready] = []
    sizes = []
    last = 0
    try:
        for round_ in range(50):
            for batch in range(10):
                ready = Ready(
                    hard_state=HardState(round_ + 1, 1) if batch == 0 else None,
                    log_from=last + 1,
                    entries=_entries(round_ + 1, 10, f"r{round_}b{batch}-"),
                )
                storage.save(ready)
                readys.append(ready)
                last += 10
            ready = Ready(snapshot=_snap(last - 5, round_ + 1, f"r{round_}"))
            storage.save(ready)
            readys.append(ready)
            sizes.append((tmp_path / FILENAME).stat().st_size)
    finally:
        storage.close()
    # After each compaction the file holds the hard state, the start and 5 entries.
    assert max(sizes) < 400, sizes
    assert max(sizes) - min(sizes) < 50, sizes
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME, SNAPSHOT_FILENAME]
    state, warnings = _reload(tmp_path)
    assert warnings == []
    assert state == _model(readys) == _memory(readys)
    assert (state.start_index, len(state.entries)) == (4995, 5)


# =========================================================================== property

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
commands = st.builds(
    Command,
    op=st.sampled_from(["put", "append", "delete", "noop"]),
    key=_TEXT,
    value=_TEXT,
    client=st.sampled_from(["", "c1"]),
    seq=st.integers(0, 50),
)


@st.composite
def ready_sequences(draw: st.DrawFn) -> list[Ready | None]:
    """Readys the core could produce (None: close and reopen the store), tracking the log
    with a RaftLog so every snapshot, truncation and append fits the log at that point."""
    log = RaftLog()
    ops: list[Ready | None] = []
    for number in range(draw(st.integers(1, 16))):
        kind = draw(
            st.sampled_from(
                ["hard", "append", "truncate", "snapshot", "snapshot+log", "all", "reopen", "empty"]
            )
        )
        if kind == "reopen":
            ops.append(None)
            continue
        snapshot = hard = None
        log_from, entries = 0, []
        if kind in ("snapshot", "snapshot+log", "all"):
            index = draw(st.integers(log.start_index, log.last_index + 2))
            held = log.term_at(index)
            term = held if held is not None and draw(st.booleans()) else draw(st.integers(0, 5))
            snapshot = _snap(index, term, str(number))
            log.compact(index, term)
        if kind in ("hard", "all"):
            hard = HardState(draw(st.integers(0, 9)), draw(st.integers(0, 5)))
        if kind in ("append", "truncate", "snapshot+log", "all"):
            log_from = log.last_index + 1
            if kind == "truncate" and len(log):
                log_from = draw(st.integers(log.start_index + 1, log.last_index))
            entries = [Entry(draw(st.integers(0, 5)), c) for c in draw(st.lists(commands, max_size=5))]
            log.truncate_from(log_from)
            for entry in entries:
                log.append(entry)
        ops.append(Ready(snapshot=snapshot, hard_state=hard, log_from=log_from, entries=entries))
    return ops


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ready_sequences(), rewrite=st.booleans())
def test_memory_and_file_storage_load_the_same_state(ops: list[Ready | None], rewrite: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="raftviz-snapshots-") as tmp:
        warnings: list[str] = []
        disk = FileStorage(tmp, warn=warnings.append)
        disk.load()
        memory = MemoryStorage()
        done: list[Ready] = []
        try:
            for ready in ops:
                if ready is None:
                    disk.close()
                    disk = FileStorage(tmp, warn=warnings.append)
                    assert _state(disk.load()) == _state(memory.load()) == _model(done)
                    continue
                if rewrite:
                    # Check for a rewrite at every save instead of after the first megabyte
                    # (a private knob, so that short sequences exercise the rewrite too).
                    disk._next_check = 0
                disk.save(ready)
                memory.save(ready)
                done.append(ready)
        finally:
            disk.close()
        assert warnings == []
        state, warnings = _reload(Path(tmp))
        assert warnings == []
        assert state == _state(memory.load()) == _model(done)


# =========================================================================== the snapshot's bytes


def _store_with_sessions() -> KVStore:
    kv = KVStore()
    for seq, op in enumerate(["put", "append", "get", "put", "delete"], 1):
        kv.apply(Command(op, f"k{seq % 2}", f"v{seq}é", f"c{seq % 3}", seq, 0), seq, 100 * seq)
    return kv


def test_snapshot_bytes_are_canonical_and_restore_the_store() -> None:
    kv = _store_with_sessions()
    snapshot = encode_snapshot(7, 3, Configuration.of([1, 2, 3], [5]), kv)
    # The format nodes and files already hold (k1 was deleted; c0's get answered v1é): the
    # envelope's keys and the store's, sorted together, byte for byte. Each session: client,
    # low, the clock when it was last active, and per remembered seq its result and the
    # CRC-32 of its command (op, key, value) that tells a retry from a reused seq.
    assert snapshot.data.decode() == (
        '{"clock":500,"configuration":"1,2,3/5","data":[["k0","v4é"]],"format":"raftviz-snapshot/1","index":7,'
        '"sessions":[["c0",0,300,[[3,"v1é","",3923417317]]],'
        '["c1",0,400,[[1,null,"",1245518891],[4,null,"",2276068709]]],'
        '["c2",0,500,[[2,null,"",442006068],[5,null,"",3609551279]]]],"term":3}'
    )
    restored_snapshot, restored = restore_snapshot(snapshot.data)
    assert restored_snapshot == snapshot
    assert restored.data == kv.data
    assert restored.sessions == kv.sessions


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('"clock":0,"data":[["k",1]],"sessions":[]', "expected a string, got int"),
        ('"clock":0,"data":[],"sessions":[["c1",-1,0,[]]]', "expected a non-negative integer, got -1"),
        (
            '"clock":0,"data":[],"sessions":[["c1",0,0,[[1,null,"",-5]]]]',
            "expected a non-negative integer, got -5",
        ),
        ('"clock":0,"data":[]', "malformed snapshot: 'sessions'"),
        ('"data":[],"sessions":[]', "malformed snapshot: 'clock'"),
        ('"clock":0,"data":[],"sessions":[["c1",0,[]]]', "malformed snapshot"),  # before sessions expired
        ('"clock":0,"data":[["k"]],"sessions":[]', "malformed snapshot"),
    ],
)
def test_a_malformed_store_in_a_snapshot_is_refused(body: str, message: str) -> None:
    data = f'{{"configuration":"1","format":"raftviz-snapshot/1","index":1,"term":1,{body}}}'.encode()
    decode_snapshot(data)  # the envelope is fine: only the store's part is wrong
    with pytest.raises(SnapshotError, match=message):
        restore_snapshot(data)


# =========================================================================== protocol-aware recovery

OWNER = (storage_module.DEFAULT_CLUSTER, 1)


def _load_as(directory: Path, owner: tuple[str, int] = OWNER) -> tuple[HardState, RaftLog, list[str]]:
    warnings: list[str] = []
    storage = FileStorage(directory, warn=warnings.append, identity=owner)
    try:
        hard, log, _ = storage.load()
    finally:
        storage.close()
    return hard, log, warnings


@pytest.mark.parametrize("how", ["missing", "empty"])
def test_a_lost_log_beside_a_snapshot_comes_back_recovering_not_at_term_0(tmp_path: Path, how: str) -> None:
    """Issue 14 item 6 (a): it used to start as after an interrupted compaction, at term 0 with its
    vote forgotten, and could vote twice in one term."""
    storage = FileStorage(tmp_path, identity=OWNER)
    storage.load()
    storage.save(Ready(hard_state=HardState(2, 3), log_from=1, entries=_entries(2, 8)))
    storage.save(Ready(snapshot=_snap(6, 2)))
    storage.close()
    if how == "missing":
        (tmp_path / FILENAME).unlink()
    else:
        (tmp_path / FILENAME).write_bytes(b"")
    hard, log, warnings = _load_as(tmp_path)
    assert hard == HardState(2, 0, "lost entries 7..? and its vote in term 2")
    assert (log.start_index, log.last_index) == (6, 6)
    assert len(warnings) == 1 and "missing or empty beside" in warnings[0]
    # Durable: a second start is still recovering, and says nothing new.
    assert _load_as(tmp_path)[0] == hard and _load_as(tmp_path)[2] == []


def test_a_first_save_cut_short_after_its_snapshot_is_an_interrupted_compaction(tmp_path: Path) -> None:
    """No identity.dat: raft.dat never held a record, so nothing was acknowledged yet."""
    (tmp_path / SNAPSHOT_FILENAME).write_bytes(_frame(_snap(6, 2).data))
    hard, log, warnings = _load_as(tmp_path)
    assert hard == HardState() and log.start_index == 6
    assert len(warnings) == 1 and "interrupted" in warnings[0]


def test_a_directory_records_its_owner_and_refuses_another(tmp_path: Path) -> None:
    """Issue 14 item 6 (d): ``--id 1`` used to start on node 2's directory."""
    _load_as(tmp_path, ("c", 2))
    assert not (tmp_path / storage_module.IDENTITY_FILENAME).exists()  # nothing held yet: nothing to own
    storage = FileStorage(tmp_path, identity=("c", 2))
    storage.load()
    storage.save(Ready(hard_state=HardState(1, 2)))
    storage.close()
    assert (tmp_path / storage_module.IDENTITY_FILENAME).exists()
    with pytest.raises(StorageError, match=r"node 2's of cluster 'c', not node 1's of cluster 'c'"):
        _load_as(tmp_path, ("c", 1))
    with pytest.raises(StorageError, match=r"not node 2's of cluster 'other'"):
        _load_as(tmp_path, ("other", 2))
    assert _load_as(tmp_path, ("c", 2))[0] == HardState(1, 2)
    # A damaged identity.dat cannot tell whose the directory is: refused too.
    path = tmp_path / storage_module.IDENTITY_FILENAME
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(StorageError, match="cannot tell whose data directory"):
        _load_as(tmp_path, ("c", 2))


def test_a_directory_from_before_identity_dat_gets_one(tmp_path: Path) -> None:
    _save_all(tmp_path, BASE)
    assert not (tmp_path / storage_module.IDENTITY_FILENAME).exists()
    _load_as(tmp_path)
    with pytest.raises(StorageError, match="not node 2's"):
        _load_as(tmp_path, (storage_module.DEFAULT_CLUSTER, 2))
