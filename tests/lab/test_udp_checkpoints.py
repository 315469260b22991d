"""Checkpoints on the udp backend: real node processes restored in place.

A checkpoint asks each running node for its state (GetState) and reads a
stopped node's files; restoring it loads the state back into the running
processes (LoadState), starts or kills only the processes whose liveness
differs, and puts the data directories back as they were. These tests check
that the restored cluster is the one that was there (in the lab, in the
processes and on disk), that running on repeats the first run, and that no
process or directory is left behind. Virtual time throughout.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_history_tree import history_moves  # the same moves as the in-process property

from raftviz.core.config import RaftConfig
from raftviz.lab.checkpoint import CheckpointPolicy
from raftviz.lab.history import History
from raftviz.lab.session import Session
from raftviz.lab.udp_backend import UdpBackend
from raftviz.node.driver import NodeDriver
from raftviz.node.state import MAGIC, StateBlobError
from raftviz.node.storage import FileStorage

# --------------------------------------------------------------------------- helpers


def _history(every: int = 16) -> History:
    return History(lambda: Session(backend="udp"), CheckpointPolicy(every=every, dense=4))


def _backend(history: History) -> UdpBackend:
    lab = history.session.lab
    assert lab is not None and isinstance(lab.backend, UdpBackend)
    return lab.backend


def _state(history: History) -> tuple:
    """What the lab shows of the cluster (as tests/lab/test_history_tree.py compares it)."""
    lab = history.session.lab
    assert lab is not None
    nodes = tuple(
        (
            (v.alive, v.role, v.term, v.vote, v.commit, v.applied, v.deadline),
            (v.log.start_index, tuple(v.log), tuple(sorted(v.kv.data.items()))),
        )
        for v in lab.views.values()
    )
    flights = tuple(sorted((f.id, f.src, f.dst, f.data, f.deliver_at) for f in lab.flights.values()))
    return (lab.now, lab.steps, nodes, flights, lab.network.describe())


def _disk(backend: UdpBackend) -> dict[int, tuple]:
    """Each data directory's term, vote, log and snapshot, as a restarting node would load them."""
    out = {}
    for node in backend.data_nodes():
        storage = FileStorage(backend.data_dir(node))
        hard, log, snapshot = storage.load()
        storage.close()
        out[node] = (
            (hard.current_term, hard.voted_for),
            (log.start_index, log.start_term, tuple(log)),
            snapshot.data if snapshot else None,
        )
    return out


def _whole(history: History) -> tuple:
    """The lab's view, which processes run, and what every data directory holds."""
    backend = _backend(history)
    return _state(history), sorted(backend.nodes), _disk(backend)


def _pids(backend: UdpBackend) -> dict[int, int]:
    return {node: backend.pid(node) for node in sorted(backend.nodes)}


def _children(root: str) -> list[int]:
    """The live (not zombie) children of this process that are nodes of the lab in ``root``.

    Other tests' labs may run in this process too; only this lab's count.
    """
    out = subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True, text=True)
    found = []
    for pid in map(int, out.stdout.split()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                zombie = f.read().split(") ", 1)[1][0] == "Z"
        except OSError:
            continue
        if not zombie and any(arg.startswith(root.encode() + b"/node") for arg in argv):
            found.append(pid)
    return sorted(found)


def _run(history: History, text: str) -> list[str]:
    outcome = history.run_text(text)
    assert not outcome.failure, outcome.failure
    return outcome.lines


# --------------------------------------------------------------------------- the property


ACTIONS = [
    "step",
    "step 7",
    "advance 40",
    "put a 1",
    "crash 2",
    "restart 2",
    "partition 1,2 | 3",
    "heal",
    "timeout 3",
    "until leader max=2000",
    "writes 5",
    "snapshot 1",
    "loss 0.2",
    "loss 0",
    # Held reads, rounds and leases live in the node processes' state blobs (raftviz.core.reads).
    "get a read=readindex",
    "get a read=lease",
    "clock 2 rate=3",
]


@pytest.mark.udp
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 50), moves=history_moves(ACTIONS, max_size=25))
def test_every_position_reached_again_is_the_state_that_was_there(seed: int, moves: list) -> None:
    history = _history(every=3)
    _run(history, f"cluster 3 seed={seed} backend=udp")
    states = {0: _whole(history)}
    try:
        for kind, arg in moves:
            if kind == "do":
                history.run_text(arg)
            elif kind == "back":
                history.step_back(arg)
            else:
                history.goto(sorted(states)[arg % len(states)])
            seen = states.setdefault(history.position, _whole(history))
            assert _whole(history) == seen, f"position {history.position} differs after {kind} {arg}"
        assert history.capturable
        for position in sorted(states, reverse=True)[:8] + sorted(states)[:3]:
            history.goto(position)
            assert _whole(history) == states[position]
    finally:
        history.close()


@pytest.mark.udp
def test_restore_then_run_on_gives_the_first_run_and_keeps_the_processes() -> None:
    history = _history()
    try:
        _run(history, "cluster 3 seed=4 backend=udp")
        assert history.capturable
        _run(history, "until leader")
        _run(history, "writes 10")
        _run(history, "mark before")
        backend = _backend(history)
        pids = _pids(backend)
        first = _run(history, "step 80") + _run(history, "crash 1") + _run(history, "step 60")
        _run(history, "restart 1")
        _run(history, "advance 500")
        _run(history, "goto before")
        # The processes alive then and now are the same processes.
        now = _pids(backend)
        assert sorted(now) == [1, 2, 3] and (now[2], now[3]) == (pids[2], pids[3])
        # Running the same commands from the restored point gives the same transcript.
        again = _run(history, "step 80") + _run(history, "crash 1") + _run(history, "step 60")
        assert again == first
    finally:
        history.close()


@pytest.mark.udp
def test_storage_on_disk_after_a_restore_is_the_checkpoints() -> None:
    history = _history()
    try:
        _run(history, "cluster 3 seed=2 backend=udp snapshot=20")
        _run(history, "until leader")
        _run(history, "writes 30")
        _run(history, "until idle max=3000")
        _run(history, "crash 3")
        _run(history, "writes 5")
        _run(history, "step 20")
        backend = _backend(history)
        state = backend.capture()
        at_checkpoint = _disk(backend)
        # Compacted by then, and node 3's directory is a stopped node's.
        assert at_checkpoint[1][2] is not None and at_checkpoint[1][1][0] > 0
        assert sorted(at_checkpoint) == [1, 2, 3]
        # Every running node's disk agrees with what the lab knows of it.
        lab = history.session.lab
        assert lab is not None
        for node in (1, 2):
            view = lab.views[node]
            assert at_checkpoint[node][0] == (view.term, view.vote)
            assert at_checkpoint[node][1][2] == tuple(view.log)
        # Change every node's storage: new terms and entries, compactions, node 3 back.
        _run(history, "restart 3")
        _run(history, "timeout 3")
        _run(history, "writes 40")
        _run(history, "until idle max=5000")
        _run(history, "snapshot 1")
        _run(history, "snapshot 3")
        assert _disk(backend) != at_checkpoint
        backend.restore(state)
        assert _disk(backend) == at_checkpoint
        assert sorted(backend.nodes) == [1, 2]
        # Not consumed: it restores again, from another state.
        _run(history, "goto 0")
        backend.restore(state)
        assert _disk(backend) == at_checkpoint
    finally:
        history.close()


@pytest.mark.udp
def test_goto_across_crash_restart_and_add_leaves_exactly_the_right_processes() -> None:
    history = _history()
    try:
        _run(history, "cluster 3 seed=6 backend=udp")
        backend = _backend(history)
        root = backend.root
        _run(history, "until leader")
        _run(history, "until all.commit=1 max=300")
        _run(history, "mark a")  # 1 2 3 up
        at_a = _pids(backend)
        _run(history, "crash 2")
        _run(history, "step 10")
        _run(history, "mark b")  # 1 3 up, 2 down
        _run(history, "restart 2")
        _run(history, "add 4")
        _run(history, "until 4.voters=1,2,3,4 max=3000")
        _run(history, "mark c")  # 1 2 3 4 up
        at_c = _pids(backend)
        state_c = _state(history)
        assert sorted(at_c) == [1, 2, 3, 4] and at_c[2] != at_a[2]

        def check(alive: list[int], dirs: list[int]) -> None:
            assert sorted(backend.nodes) == alive
            assert _children(root) == sorted(backend.pid(n) for n in alive)
            assert backend.data_nodes() == dirs
            assert sorted(n for n in os.listdir(root) if not n.endswith(".log")) == [f"node{n}" for n in dirs]

        _run(history, "goto b")
        check([1, 3], [1, 2, 3])
        assert _pids(backend) == {1: at_c[1], 3: at_c[3]}  # alive at both ends: same process
        assert 4 not in backend.joined
        _run(history, "goto a")
        check([1, 2, 3], [1, 2, 3])
        new_2 = backend.pid(2)
        assert new_2 not in (at_a[2], at_c[2])
        assert _pids(backend) == {1: at_c[1], 2: new_2, 3: at_c[3]}
        _run(history, "goto c")
        check([1, 2, 3, 4], [1, 2, 3, 4])
        assert backend.pid(2) == new_2 and 4 in backend.joined
        assert _state(history) == state_c
        # The restored cluster runs on: node 4 takes part as a voter.
        _run(history, "put k v")
        _run(history, "until all.applied>=3 max=3000")
        assert len(_children(root)) == 4
    finally:
        history.close()
    assert not os.path.exists(root)
    assert _children(root) == []


@pytest.mark.udp
def test_history_on_udp_is_capturable() -> None:
    history = _history()
    try:
        _run(history, "cluster 3 seed=1 backend=udp")
        _run(history, "step 40")
        assert history.capturable
        assert len(history.checkpoints) >= 3
    finally:
        history.close()


# --------------------------------------------------------------------------- the node's side


def _driver(tmp_path: object, node: int = 1, sub: str = "a") -> NodeDriver:
    storage = FileStorage(os.path.join(str(tmp_path), sub))
    return NodeDriver(node, (1, 2, 3), RaftConfig(), 7, 0, storage, 0)


def test_a_loaded_node_behaves_as_the_one_it_was_taken_from(tmp_path: object) -> None:
    original = _driver(tmp_path)
    original.start()
    original.timeout_now(10)  # a candidate in term 1, with a drawn timeout
    blob = original.get_state()
    other = _driver(tmp_path, sub="b")
    other.start()
    report = other.load_state(blob)
    assert (report.role, report.term, report.vote, report.sent) == ("candidate", 1, 1, [])
    # Both go on identically: the same generator, the same deadlines, the same messages.
    for now in (400, 800, 1600):
        assert original.fire_timer(now) == other.fire_timer(now)
    assert other.get_state() == original.get_state()


def test_load_state_replaces_the_storage_on_disk(tmp_path: object) -> None:
    source = _driver(tmp_path)
    source.start()
    source.timeout_now(10)
    blob = source.get_state()
    target = _driver(tmp_path, sub="b")
    target.start()
    for now in (10, 500, 1000):
        target.timeout_now(now)  # term 3 on disk
    target.load_state(blob)
    reloaded = FileStorage(os.path.join(str(tmp_path), "b"))
    hard, log, snapshot = reloaded.load()
    assert (hard.current_term, hard.voted_for, log.last_index, snapshot) == (1, 1, 0, None)
    assert not [n for n in os.listdir(os.path.join(str(tmp_path), "b")) if n.endswith(".tmp")]


def test_a_blob_that_is_not_this_nodes_state_is_refused(tmp_path: object) -> None:
    driver = _driver(tmp_path)
    driver.start()
    blob = driver.get_state()
    two = _driver(tmp_path, node=2, sub="b")
    with pytest.raises(StateBlobError, match="node 1's state, not node 2's"):
        two.load_state(blob)
    damaged = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(StateBlobError, match="checksum"):
        driver.load_state(damaged)
    with pytest.raises(StateBlobError, match="magic"):
        driver.load_state(b"hello")
    # A pickle that names anything else is refused before anything runs.
    evil = pickle.dumps(print, protocol=5)
    with pytest.raises(StateBlobError, match="builtins.print"):
        driver.load_state(MAGIC + zlib.crc32(evil).to_bytes(4, "big") + evil)
    # Nothing changed.
    assert driver.get_state() == blob


@pytest.mark.udp
def test_a_disk_fault_is_restored_with_the_checkpoint_in_the_running_process() -> None:
    """The disk fault is the disk's: a restore puts the running process's disk back as it was then."""
    history = _history()
    try:
        _run(history, "cluster 3 seed=4 backend=udp")
        _run(history, "until leader")
        _run(history, "disk 3 full")
        _run(history, "writes 10")
        _run(history, "step 40")
        _run(history, "mark full")
        first = _run(history, "writes 5") + _run(history, "advance 300")
        _run(history, "disk 3 ok")
        _run(history, "advance 300")
        backend = _backend(history)
        assert backend.nodes[3].disk.mode == "ok"
        _run(history, "goto full")
        assert backend.nodes[3].disk.mode == "full"
        assert history.session.lab is not None and history.session.lab.views[3].disk == "full"
        again = _run(history, "writes 5") + _run(history, "advance 300")
        assert again == first
    finally:
        history.close()
