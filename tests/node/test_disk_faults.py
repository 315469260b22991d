"""Disk faults (raftviz/node/disk.py): what a node does when its disk fails, fills up or rots.

- ``fail``: the next write or fsync raises EIO; the storage changes nothing and
  the driver turns it into ``DiskStopped`` (the node process exits with code 7).
- ``full``: a write that needs new space raises ENOSPC; the driver refuses the
  input that needed it, as if it had never arrived, and keeps the node running.
- damage at rest (``corrupt N``): the in-process backend's refusal is the one
  FileStorage gives for the same state, byte-damaged the same way.
- ``MemoryStorage`` raises the same error as ``FileStorage`` for the same save.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raftviz.core.config import RaftConfig
from raftviz.core.kv import KVStore
from raftviz.core.membership import Configuration
from raftviz.core.messages import AppendEntries, ClientRequest, Command, Entry
from raftviz.core.ready import HardState, Ready
from raftviz.core.snapshot import encode_snapshot
from raftviz.node import storage as storage_module
from raftviz.node.disk import EXIT_DISK_FAILED, Disk, DiskFault, DiskFaultError, DiskStopped, parse_fault
from raftviz.node.driver import MemoryStorage, NodeDriver
from raftviz.node.state import DurableState
from raftviz.node.storage import FileStorage, StorageError
from raftviz.wire import datagram

ROOT = Path(__file__).parents[2]


def _entry(term: int, key: str) -> Entry:
    return Entry(term, Command("put", key, "v", "c1", 1))


# =========================================================================== the fault itself


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("ok", DiskFault()),
        ("fail", DiskFault("fail")),
        ("full", DiskFault("full")),
        ("slow=80", DiskFault("slow", 80)),
        ("slow:80", DiskFault("slow", 80)),
    ],
)
def test_parse_fault(text: str, fault: DiskFault) -> None:
    assert parse_fault(text) == fault


@pytest.mark.parametrize("text", ["", "slow", "slow=0", "slow=60001", "broken", "full=3", "FAIL", "slow=-1"])
def test_parse_fault_refuses_what_is_not_a_fault(text: str) -> None:
    with pytest.raises(DiskFaultError):
        parse_fault(text)


def test_a_full_disk_refuses_only_writes_that_need_space() -> None:
    disk = Disk()
    disk.set(DiskFault("full"))
    disk.check_write("raft.dat", needs_space=False)
    disk.check_fsync("raft.dat")
    with pytest.raises(OSError) as caught:
        disk.check_write("raft.dat", needs_space=True)
    assert caught.value.errno == errno.ENOSPC


def test_a_failed_disk_refuses_every_write_and_fsync_but_not_while_suspended() -> None:
    disk = Disk()
    disk.set(DiskFault("fail"))
    for call in (lambda: disk.check_write("raft.dat", False), lambda: disk.check_fsync("raft.dat")):
        with pytest.raises(OSError) as caught:
            call()
        assert caught.value.errno == errno.EIO
    with disk.suspended():
        disk.check_write("raft.dat", True)


# =========================================================================== storage


def _ready_with_entries() -> Ready:
    ready = Ready(hard_state=HardState(2, 1))
    ready.log_from = 1
    ready.entries = [_entry(2, "a"), _entry(2, "b")]
    return ready


@pytest.mark.parametrize("mode", ["fail", "full"])
def test_a_failed_save_changes_nothing_and_both_storages_raise_alike(tmp_path: Path, mode: str) -> None:
    files = FileStorage(tmp_path)
    files.load()
    memory = MemoryStorage()
    errors = []
    for storage in (files, memory):
        storage.disk.set(DiskFault(mode))
        before = storage.durable()
        with pytest.raises(OSError) as caught:
            storage.save(_ready_with_entries())
        errors.append((caught.value.errno, caught.value.filename))
        assert storage.durable().same_as(before)
    assert errors[0] == errors[1] == (errno.EIO if mode == "fail" else errno.ENOSPC, "raft.dat")
    files.close()
    # Nothing reached the file either.
    assert (tmp_path / "raft.dat").read_bytes() == b""


def test_a_full_disk_still_takes_term_and_vote(tmp_path: Path) -> None:
    files = FileStorage(tmp_path)
    files.load()
    files.disk.set(DiskFault("full"))
    files.save(Ready(hard_state=HardState(3, 2)))
    files.close()
    again = FileStorage(tmp_path)
    hard, _, _ = again.load()
    again.close()
    assert (hard.current_term, hard.voted_for) == (3, 2)


def _state(with_snapshot: bool) -> DurableState:
    snapshot = None
    if with_snapshot:
        snapshot = encode_snapshot(2, 1, Configuration.of([1, 2, 3]), KVStore())
    start = 2 if with_snapshot else 0
    return DurableState(HardState(1, 1), start, 1 if with_snapshot else 0, [_entry(1, "c")], snapshot)


OWNER = (storage_module.DEFAULT_CLUSTER, 1)


def _both(tmp_path: Path, state: DurableState) -> tuple[FileStorage, MemoryStorage]:
    """The same state in a data directory (identity.dat written) and in memory; both stopped."""
    files = FileStorage(tmp_path, identity=OWNER)
    files.load()
    files.replace(state)
    files.close()
    again = FileStorage(tmp_path, identity=OWNER)
    again.load()  # a directory holding state without identity.dat gets one
    again.close()
    memory = MemoryStorage(OWNER)
    memory.replace(state)
    memory.load()
    return FileStorage(tmp_path, identity=OWNER), memory


def _outcome(storage: FileStorage | MemoryStorage, directory: Path) -> object:
    try:
        hard, log, snapshot = storage.load()
    except StorageError as exc:
        return str(exc).replace(f"{directory}{os.sep}", "")
    finally:
        if isinstance(storage, FileStorage):
            storage.close()
    return hard, log.start_index, log.slice(log.start_index + 1), snapshot.index if snapshot else None


@pytest.mark.parametrize("with_snapshot", [False, True])
@pytest.mark.parametrize("kind", [*storage_module.LOG_DAMAGE, "snapshot", "id"])
def test_damage_at_rest_has_the_same_outcome_on_files_and_in_memory(
    tmp_path: Path, kind: str, with_snapshot: bool
) -> None:
    """``corrupt N KIND`` on either backend: the same refusal, or the same recovered state."""
    state = _state(with_snapshot=with_snapshot)
    state.entries = [_entry(1, f"e{i}") for i in range(4)]
    files, memory = _both(tmp_path, state)
    errors = []
    for damage in (
        lambda: storage_module.damage_directory(tmp_path, kind, 2),
        lambda: memory.corrupt(kind, 2),
    ):
        try:
            damage()
        except StorageError as exc:
            errors.append(str(exc))
    if errors:
        assert kind == "snapshot" and not with_snapshot and len(errors) == 2 and errors[0] == errors[1]
        return
    on_files, in_memory = _outcome(files, tmp_path), _outcome(memory, tmp_path)
    assert on_files == in_memory
    if kind in ("snapshot", "id") or (kind in ("log", "lose-log") and not with_snapshot):
        assert isinstance(on_files, str) and "refusing to start" in on_files
    elif kind == "zeros":
        assert on_files[0] == state.hard and len(on_files[2]) == 4  # a torn write: nothing lost
    else:
        assert on_files[0].recovering.startswith("lost entries")
    # A second start finds the same (what recovery decided is durable).
    if not isinstance(on_files, str):
        assert _outcome(FileStorage(tmp_path, identity=OWNER), tmp_path) == on_files
        assert _outcome(memory, tmp_path) == on_files


def test_nothing_to_damage_in_an_empty_directory(tmp_path: Path) -> None:
    FileStorage(tmp_path).load()
    assert not storage_module.holds_file(MemoryStorage().durable(), storage_module.FILENAME)
    with pytest.raises(StorageError, match="nothing to corrupt"):
        storage_module.damage_directory(tmp_path, "log")
    with pytest.raises(StorageError, match="nothing to corrupt"):
        MemoryStorage(OWNER).corrupt("log")


# =========================================================================== the driver


def _leader(config: RaftConfig | None = None) -> NodeDriver:
    """A one-node cluster's leader, elected on a healthy disk."""
    driver = NodeDriver(1, (1,), config or RaftConfig(), 0, 0, MemoryStorage(), 0)
    driver.start()
    driver.fire_timer(driver.core.next_deadline())
    assert driver.core.role == "leader"
    return driver


def test_a_full_leader_refuses_a_client_command_and_changes_nothing() -> None:
    driver = _leader()
    driver.set_disk(DiskFault("full"))
    last = driver.core.log.last_index
    request = ClientRequest("c1", 1, Command("put", "x", "1", "c1", 1))
    report = driver.deliver(datagram.encode(request), 1000)
    assert report.refused.startswith("disk full")
    assert report.dropped == 1
    assert driver.core.log.last_index == last
    assert report.sent == []
    driver.set_disk(DiskFault())
    report = driver.deliver(datagram.encode(request), 1001)
    assert driver.core.log.last_index == last + 1
    assert report.refused == ""


def test_a_full_follower_keeps_following_and_stores_no_new_entry() -> None:
    driver = NodeDriver(2, (1, 2, 3), RaftConfig(), 0, 0, MemoryStorage(), 0)
    driver.start()
    driver.set_disk(DiskFault("full"))
    append = AppendEntries(1, 2, 1, 0, 0, (_entry(1, "a"), _entry(1, "b")), 0)
    report = driver.deliver(datagram.encode(append), 100)
    assert driver.core.leader_id == 1 and driver.core.current_term == 1  # term needs no new space
    assert driver.core.log.last_index == 0
    assert "2 new entries from node 1 not stored" in report.refused
    assert report.deadline > 100  # its election timer was reset: it heard from the leader
    (reply,) = [datagram.decode(data) for _, data in report.sent]
    assert reply.success and reply.match_index == 0


def test_a_full_disk_puts_off_a_timer_it_cannot_act_on() -> None:
    # A lone server's election would append the new leader's no-op: no room, so the
    # timer is put off rather than fired again at once, forever.
    driver = NodeDriver(1, (1,), RaftConfig(), 0, 0, MemoryStorage(), 0)
    driver.start()
    driver.set_disk(DiskFault("full"))
    now = driver.core.next_deadline()
    report = driver.fire_timer(now)
    assert report.deadline > now
    assert report.refused.startswith("disk full")
    assert driver.core.log.last_index == 0


def test_a_failed_disk_stops_the_driver_with_a_reason() -> None:
    driver = _leader()
    driver.set_disk(DiskFault("fail"))
    request = ClientRequest("c1", 1, Command("put", "x", "1", "c1", 1))
    with pytest.raises(DiskStopped) as caught:
        driver.deliver(datagram.encode(request), 1000)
    assert caught.value.reason.startswith("disk error writing raft.dat (EIO")


def test_report_carries_the_disk() -> None:
    driver = _leader()
    assert driver.set_disk(DiskFault("slow", 40)).disk == "slow:40"
    assert driver.set_disk(DiskFault()).disk == "ok"


# =========================================================================== free mode


def test_free_mode_node_with_a_failed_disk_stops_with_code_7(tmp_path: Path) -> None:
    """``raftviz node --disk fail``: a lone node elects itself, its first write fails, it exits 7."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run(
        [sys.executable, "-m", "raftviz", "node", "--id", "1", "--peers", f"1=127.0.0.1:{port}"]
        + ["--data", str(tmp_path / "d"), "--disk", "fail"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == EXIT_DISK_FAILED, done.stderr
    assert "disk error writing raft.dat (EIO" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["bogus", "slow=0", "slow"])
def test_free_mode_refuses_a_bad_disk_option(value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "raftviz", "node", "--id", "1", "--peers", "1=127.0.0.1:1", "--disk", value],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert "error: argument --disk: a " in done.stderr
    assert "Traceback" not in done.stderr
