"""Crash durability: kill -9 under load, then read back the cluster and its disks.

The end-to-end test runs a 3-node free-mode cluster under a client doing
sequential writes of unique keys, while a seeded loop SIGKILLs a node at a
random moment and restarts it on its data directory, about ten times, and
finally SIGKILLs all three at once with the writer still writing (a
whole-cluster crash; the page cache survives it, so this checks that no
write is acknowledged before a majority has written it, not that fsync
reaches the platter). Straight after that crash, the three durable logs, loaded with
``FileStorage.load()``, must satisfy Log Matching and hold every acknowledged
write on a majority of the disks (in the log, or in the snapshot it was
compacted into); after a restart every acknowledged write must be readable
with ``get``; and after a final stop the logs are checked again.

The storage tests check ``raft.dat`` recovery directly (docs/architecture.md, "Durability"): a torn
tail (a crash in the middle of the last write) is truncated with a warning,
damage before intact data refuses to load with a clear message, and any
sequence of saves reloads to exactly the state it describes.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cluster_helpers import (
    FreeCluster,
    free_cluster,  # noqa: F401 - the fixture
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftviz.core.kv import restore_snapshot
from raftviz.core.messages import OPS, Command, Entry
from raftviz.core.ready import HardState, Ready
from raftviz.node.client import KVClient, NoLeaderError
from raftviz.node.storage import FILENAME, FileStorage, StorageError

SEED = 7
#: About ten crashes over about fifteen seconds.
CRASHES = 10
#: Seconds between a restart and the next crash, and how long a node stays down.
UP_TIME = (0.4, 1.1)
DOWN_TIME = (0.05, 0.5)


# =========================================================================== end to end


@dataclass
class Writer:
    """Sequential writes of unique keys through one client session, in a thread."""

    cluster: FreeCluster
    acked: list[tuple[str, str]] = field(default_factory=list)
    unacked: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        client = KVClient(self.cluster.addresses, timeout=2.0, client_id="durability-writer")
        try:
            n = 0
            while not self.stop.is_set():
                key, value = f"key{n:05d}", f"value{n}"
                try:
                    client.request("put", key, value)
                except NoLeaderError:
                    # Unknown outcome: it may or may not have been committed.
                    self.unacked.append(key)
                else:
                    self.acked.append((key, value))
                n += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)
        finally:
            client.close()


def _read_all(cluster: FreeCluster, keys: list[str], workers: int = 8) -> dict[str, str | None]:
    """``get`` every key through the cluster, with a few clients in parallel (group commit helps)."""
    chunks = [keys[i::workers] for i in range(workers)]

    def read(chunk: list[str]) -> dict[str, str | None]:
        client = KVClient(cluster.addresses, timeout=10.0)
        try:
            return {key: client.request("get", key) for key in chunk}
        finally:
            client.close()

    out: dict[str, str | None] = {}
    with ThreadPoolExecutor(workers) as pool:
        for part in pool.map(read, chunks):
            out.update(part)
    return out


@dataclass
class Disk:
    """One node's durable state: the log after ``start``, and the snapshot's key-value data."""

    start: int
    entries: list[Entry]
    data: dict[str, str]

    def entry(self, index: int) -> Entry:
        return self.entries[index - self.start - 1]


def _check_log_matching(disks: dict[int, Disk]) -> None:
    """Log Matching: if two logs hold an entry with the same index and term, they are
    identical up to and including it. It is enough to compare each pair's entries that
    both still hold (the rest is compacted, hence committed) up to the highest index at
    which their terms agree."""
    ids = sorted(disks)
    for a_pos, a in enumerate(ids):
        for b in ids[a_pos + 1 :]:
            da, db = disks[a], disks[b]
            first = max(da.start, db.start) + 1
            last = min(da.start + len(da.entries), db.start + len(db.entries))
            agree = [i for i in range(first, last + 1) if da.entry(i).term == db.entry(i).term]
            for i in range(first, max(agree, default=0) + 1):
                assert da.entry(i) == db.entry(i), (
                    f"Log Matching: nodes {a} and {b} agree on the term at index {max(agree)} "
                    f"but differ at index {i}: {da.entry(i)} vs {db.entry(i)}"
                )


def _load_disks(cluster: FreeCluster) -> dict[int, Disk]:
    """Every node's durable state, loaded as a restarting node would; checks each on its own."""
    disks: dict[int, Disk] = {}
    for node_id in cluster.ids:
        assert not cluster.nodes[node_id].alive
        warnings: list[str] = []
        storage = FileStorage(cluster.nodes[node_id].data, warn=warnings.append)
        try:
            hard, log, snapshot = storage.load()
        finally:
            storage.close()
        assert log.start_index == (snapshot.index if snapshot is not None else 0), node_id
        data = restore_snapshot(snapshot.data)[1].data if snapshot is not None else {}
        disks[node_id] = disk = Disk(log.start_index, log.slice(log.start_index + 1), data)
        # Tolerate what a kill in the middle of a save leaves (a torn tail is not
        # expected: kill -9 cannot interrupt a write(2) half-way), but no other damage.
        assert all("torn tail" in w or "interrupted" in w for w in warnings), warnings
        terms = [log.start_term] + [e.term for e in disk.entries]
        assert terms == sorted(terms), f"node {node_id}: the terms in its log decrease"
        assert hard.current_term >= terms[-1], (node_id, hard, terms[-1])
        assert hard.voted_for in (0, *cluster.ids), (node_id, hard)
    return disks


def _check_majorities(disks: dict[int, Disk], acked: list[tuple[str, str]]) -> None:
    """Every acknowledged write is in at least 2 of the 3 durable logs (or their snapshots)."""
    holders: dict[tuple[str, str], int] = {}
    for disk in disks.values():
        held = {(e.command.key, e.command.value) for e in disk.entries if e.command.op == "put"}
        for pair in held | set(disk.data.items()):
            holders[pair] = holders.get(pair, 0) + 1
    short = [(pair, holders.get(pair, 0)) for pair in acked if holders.get(pair, 0) < 2]
    assert not short, f"{len(short)} acknowledged writes are on fewer than 2 disks, e.g. {short[:5]}"


@pytest.mark.udp
def test_acknowledged_writes_survive_random_kill_9(free_cluster) -> None:  # noqa: F811
    cluster = free_cluster(3)
    cluster.wait_leader()
    rng = random.Random(SEED)
    writer = Writer(cluster)
    thread = threading.Thread(target=writer.run, name="writer", daemon=True)
    began = time.monotonic()
    thread.start()
    crashes: list[str] = []
    try:
        for _ in range(CRASHES):
            # The moments are random on purpose (fault injection, not a wait for a result).
            time.sleep(rng.uniform(*UP_TIME))
            leader = cluster.leader()
            victim = leader.src if leader is not None and rng.random() < 0.4 else rng.choice(cluster.ids)
            acked_before = len(writer.acked)
            cluster.kill(victim)
            time.sleep(rng.uniform(*DOWN_TIME))
            cluster.start(victim)
            cluster.wait_ready([victim])
            was = "leader" if leader is not None and leader.src == victim else "follower"
            crashes.append(f"{victim} ({was}, after {acked_before} acks)")
            assert not writer.errors, writer.errors
        # Finally a whole-cluster crash: every node at once, with the writer still writing.
        time.sleep(rng.uniform(*UP_TIME))
        for node_id in cluster.ids:
            cluster.nodes[node_id].proc.kill()  # type: ignore[union-attr]
        for node_id in cluster.ids:
            cluster.kill(node_id)  # reap
    finally:
        writer.stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the writer did not stop"
    assert not writer.errors, writer.errors
    print(f"\n{len(writer.acked)} writes acknowledged, {len(writer.unacked)} not, in "
          f"{time.monotonic() - began:.1f} s; crashes: {', '.join(crashes)}, then all three")  # fmt: skip
    assert len(writer.acked) >= 50, "the cluster made almost no progress under the crashes"

    # Straight after the whole-cluster crash, what is on the disks?
    logs = _load_disks(cluster)
    print(
        "durable logs after the whole-cluster crash: "
        + ", ".join(f"node {i}: {logs[i].start}+{len(logs[i].entries)}" for i in cluster.ids)
    )
    _check_log_matching(logs)
    _check_majorities(logs, writer.acked)

    # Back up: every acknowledged write is readable from the cluster.
    for node_id in cluster.ids:
        cluster.start(node_id)
    cluster.wait_ready(cluster.ids)
    leader = cluster.wait_leader()
    read_began = time.monotonic()
    values = _read_all(cluster, [key for key, _ in writer.acked])
    print(f"read back {len(values)} keys in {time.monotonic() - read_began:.1f} s (leader {leader.src})")
    wrong = [(key, value, values[key]) for key, value in writer.acked if values[key] != value]
    assert not wrong, f"{len(wrong)} acknowledged writes read back wrong, e.g. {wrong[:5]}"

    # Stop everything and read the disks again.
    for node_id in cluster.ids:
        cluster.kill(node_id)
    logs = _load_disks(cluster)
    print(
        "durable logs at the end: "
        + ", ".join(f"node {i}: {logs[i].start}+{len(logs[i].entries)}" for i in cluster.ids)
    )
    _check_log_matching(logs)
    _check_majorities(logs, writer.acked)


# =========================================================================== storage

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
commands = st.builds(
    Command,
    # A config command's value must be a configuration's canonical text (the codec checks
    # it), so config commands are drawn apart.
    op=st.sampled_from([op for op in OPS if op != "config"]),
    key=st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
    value=_text,
    client=st.sampled_from(["", "c1", "kv-0123456789ab"]),
    seq=st.integers(0, 2**63 - 1),
    low=st.integers(0, 5),
) | st.builds(
    Command,
    op=st.just("config"),
    value=st.sampled_from(["", "1,2,3", "1,2/4", "2,3,5/1,4"]),
    client=st.sampled_from(["", "c1"]),
    seq=st.integers(0, 2**63 - 1),
)


def _entries(term: int, count: int, tag: str = "") -> list[Entry]:
    return [Entry(term, Command("put", f"k{tag}{i}", f"v{i}" * (i + 1), "c1", i + 1)) for i in range(count)]


def _build(directory: Path, last: str) -> tuple[list[int], list[tuple[HardState, list[Entry]]]]:
    """Write a small store, one record per save; the record boundaries and the state after each."""
    storage = FileStorage(directory)
    storage.load()
    saves = [
        Ready(hard_state=HardState(1, 1)),
        Ready(log_from=1, entries=_entries(1, 3, "a")),
        Ready(hard_state=HardState(2, 0)),
        Ready(log_from=3, entries=_entries(2, 4, "b")),  # truncate from index 3, append
        Ready(hard_state=HardState(3, 2)),
    ]
    if last == "log":
        saves.append(Ready(log_from=7, entries=_entries(3, 3, "c")))
    else:
        saves.append(Ready(hard_state=HardState(4, 3)))
    path = directory / FILENAME
    bounds = [0]
    states = [(HardState(), [])]
    for ready in saves:
        storage.save(ready)
        bounds.append(path.stat().st_size)
        states.append((storage.hard.copy(), list(storage.entries)))
    storage.close()
    return bounds, states


def _load(directory: Path) -> tuple[HardState, list[Entry], list[str]]:
    warnings: list[str] = []
    storage = FileStorage(directory, warn=warnings.append)
    try:
        hard, log, snapshot = storage.load()
    finally:
        storage.close()
    assert (log.start_index, snapshot) == (0, None)
    return hard, log.slice(1), warnings


@pytest.mark.parametrize("last", ["log", "hard"])
def test_torn_tail_at_every_offset_recovers_the_previous_records(tmp_path: Path, last: str) -> None:
    bounds, states = _build(tmp_path / "orig", last)
    data = (tmp_path / "orig" / FILENAME).read_bytes()
    assert len(data) == bounds[-1]
    start, end = bounds[-2], bounds[-1]
    expected_hard, expected_log = states[-2]
    for cut in range(start + 1, end):
        directory = tmp_path / f"cut{cut}"
        directory.mkdir()
        (directory / FILENAME).write_bytes(data[:cut])
        hard, log, warnings = _load(directory)
        assert (hard, log) == (expected_hard, expected_log), f"cut at byte {cut}"
        assert len(warnings) == 1 and "torn tail" in warnings[0], (cut, warnings)
        assert f"{cut - start} bytes" in warnings[0], (cut, warnings)
        # The tail is gone for good: the file was truncated, and a second load is clean.
        assert (directory / FILENAME).stat().st_size == start
        assert _load(directory) == (expected_hard, expected_log, [])
    # After recovery the store takes new records and keeps them.
    storage = FileStorage(directory)
    storage.load()
    more = _entries(9, 2, "z")
    storage.save(Ready(hard_state=HardState(9, 1), log_from=len(expected_log) + 1, entries=more))
    storage.close()
    assert _load(directory) == (HardState(9, 1), expected_log + more, [])


def _flip_each(tmp_path: Path, offsets: range, data: bytes, kept: tuple[HardState, list[Entry]]) -> list[str]:
    """Flip each byte at ``offsets`` in turn; the flips that load() neither refused nor reported.

    A flip is reported when the node comes back *recovering*: it kept exactly
    ``kept`` (the state of the records before the damaged one), its hard state
    says what it lost, and a warning says so. Record 1 damaged: nothing is
    left to trust, so it refuses (StorageError).
    """
    silent = []
    for offset in offsets:
        directory = tmp_path / f"flip{offset}"
        directory.mkdir()
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        (directory / FILENAME).write_bytes(bytes(damaged))
        try:
            hard, log, warnings = _load(directory)
        except StorageError as exc:
            text = str(exc)
            assert str(directory / FILENAME) in text and "record 1 at byte 0" in text, text
            assert kept == (HardState(), []), f"byte {offset}: refused although records before it were intact"
            continue
        reported = (
            hard.recovering.startswith("lost entries") and len(warnings) == 1 and "recovering" in warnings[0]
        )
        if not reported or log != kept[1] or hard.current_term < kept[0].current_term:
            silent.append(f"byte {offset}: loaded {hard}, {len(log)} entries, warnings {warnings}")
        # The damage is gone from the file, and the node still knows it is recovering.
        again, log_again, warnings_again = _load(directory)
        assert (again, log_again, warnings_again) == (hard, log, []), offset
    return silent


def test_a_flipped_byte_in_any_record_is_reported_never_taken_for_a_torn_write(tmp_path: Path) -> None:
    """Damage to any complete record, the last one included: the node keeps what came before it
    and comes back recovering, saying what it lost (issue 14 item 6 b: it used to drop the last
    record silently as a torn write)."""
    bounds, states = _build(tmp_path / "orig", "log")
    data = (tmp_path / "orig" / FILENAME).read_bytes()
    silent = []
    for number, (start, end) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        silent += _flip_each(tmp_path, range(start, end), data, states[number])
    assert not silent, "\n".join(silent)


def test_a_part_cut_out_of_the_middle_names_the_entries_it_lost(tmp_path: Path) -> None:
    bounds, states = _build(tmp_path / "orig", "log")
    data = (tmp_path / "orig" / FILENAME).read_bytes()
    directory = tmp_path / "cut"
    directory.mkdir()
    (directory / FILENAME).write_bytes(data[: bounds[2] + 5] + data[bounds[4] + 5 :])
    hard, log, warnings = _load(directory)
    assert log == states[2][1] and len(log) == 3
    # The intact records after the cut still name the last entry (9) and term (3).
    assert hard == HardState(3, 0, "lost entries 4..9 and its vote in term 3")
    assert "record 3 at byte" in warnings[0]


@pytest.mark.parametrize("zeros", [1, 11, 12, 13, 4096])
def test_zeros_at_the_end_are_a_torn_write(tmp_path: Path, zeros: int) -> None:
    """What some file systems leave after a power loss (issue 14 item 6 c: 12 or more stopped the node)."""
    bounds, states = _build(tmp_path / "orig", "log")
    data = (tmp_path / "orig" / FILENAME).read_bytes()
    for name, blob in (("whole", data), ("half", data[: bounds[-1] - 7])):
        directory = tmp_path / f"{name}{zeros}"
        directory.mkdir()
        (directory / FILENAME).write_bytes(blob + bytes(zeros))
        hard, log, warnings = _load(directory)
        expected = states[-1] if name == "whole" else states[-2]
        assert (hard, log) == expected and not hard.recovering
        assert len(warnings) == 1 and "torn tail" in warnings[0], warnings
        assert _load(directory) == (*expected, [])


# --------------------------------------------------------------------------- property


@st.composite
def save_sequences(draw: st.DrawFn) -> list[tuple[str, object]]:
    """Ready-like saves the core could produce: hard states, appends, truncations; and reopens."""
    ops: list[tuple[str, object]] = []
    length = 0
    term = 0
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["hard", "append", "truncate", "both", "reopen", "empty"]))
        if kind == "reopen":
            ops.append(("reopen", None))
            continue
        if kind == "empty":
            ops.append(("save", Ready()))
            continue
        hard = None
        if kind in ("hard", "both"):
            term += draw(st.integers(0, 2))
            hard = HardState(term, draw(st.integers(0, 5)))
        log_from, entries = 0, []
        if kind in ("append", "truncate", "both"):
            log_from = length + 1 if kind != "truncate" or length == 0 else draw(st.integers(1, length))
            entries = [Entry(draw(st.integers(0, 9)), cmd) for cmd in draw(st.lists(commands, max_size=4))]
            if kind == "append" and not entries:
                entries = [Entry(term, Command("noop"))]
            length = log_from - 1 + len(entries)
        ops.append(("save", Ready(hard_state=hard, log_from=log_from, entries=entries)))
    return ops


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=save_sequences(), compact=st.booleans())
def test_any_sequence_of_saves_reloads_to_the_same_state(
    ops: list[tuple[str, object]], compact: bool
) -> None:
    with tempfile.TemporaryDirectory(prefix="raftviz-storage-") as tmp:
        storage = FileStorage(tmp)
        storage.load()
        hard, entries = HardState(), []
        try:
            for kind, ready in ops:
                if compact:
                    # Check for a rewrite at every save instead of after the first megabyte
                    # (a private knob, so that short sequences exercise the rewrite too).
                    storage._next_check = 0
                if kind == "reopen":
                    storage.close()
                    storage = FileStorage(tmp)
                    reloaded_hard, reloaded_log, _ = storage.load()
                    assert (reloaded_hard, reloaded_log.slice(1)) == (hard, entries)
                    continue
                assert isinstance(ready, Ready)
                storage.save(ready)
                if ready.hard_state is not None:
                    hard = ready.hard_state.copy()
                if ready.log_from:
                    entries = entries[: ready.log_from - 1] + list(ready.entries)
        finally:
            storage.close()
        loaded_hard, loaded_log, warnings = _load(Path(tmp))
        assert warnings == []
        assert loaded_hard == hard
        assert loaded_log == entries
