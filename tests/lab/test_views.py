"""The lab's views mirror each node's state machine from its reports alone (raftviz.lab.views).

A view nobody reads keeps its node's own snapshots undecoded and applies
nothing; a view read after every step applies every entry and compacts. Both
must hold, whenever read, exactly the state the node itself holds: its data,
its clock and every client session (a snapshot carries them all).
"""

from __future__ import annotations

import random

import pytest

from raftviz.lab.lab import Lab, LabOptions

#: Small snapshots, so a short run compacts many times; sessions on, so they travel too.
OPTIONS = LabOptions(nodes=5, seed=7, backend="inprocess", snapshot=40, sessions=5000)


def node_state(lab: Lab, node: int) -> dict[str, object]:
    return lab.backend.drivers[node].core.kv.snapshot_state()  # type: ignore[attr-defined]


def drive(lab: Lab, events: int, after_step: object = None) -> None:
    """Ten clients, each with a write outstanding, some to keys written before; a crash midway."""
    issued = dict.fromkeys((f"c{i}" for i in range(1, 11)), 0)

    def submit(client: str) -> None:
        n = issued[client]
        issued[client] += 1
        op = "append" if n % 3 else "put"
        lab.submit(op, f"{client}-{n % 7}", f"{n};", client_id=client)

    ok, _ = lab.run_until(lambda: lab.leader() != 0, 5000)
    assert ok
    for client in issued:
        submit(client)
    for n in range(events):
        if n == events // 2:
            lab.crash(3)  # it comes back on its own snapshot, behind: the leader sends it one
        if n == events // 2 + 300:
            lab.restart(3)
        record = lab.step()
        assert record is not None and not record.violations
        for request in record.answers:
            submit(request.client)
        if callable(after_step):
            after_step()


@pytest.mark.parametrize("read_every_step", [False, True], ids=["unread", "read-every-step"])
def test_a_view_holds_its_nodes_state_read_or_not(read_every_step: bool) -> None:
    lab = Lab(OPTIONS)
    try:
        checked = [0]

        def compare() -> None:
            for node, view in lab.views.items():
                if view.alive:
                    assert view.kv.snapshot_state() == node_state(lab, node), f"node {node}"
            checked[0] += 1

        drive(lab, 3000, compare if read_every_step else None)
        compacted = [v.log.start_index for v in lab.views.values()]
        assert min(compacted) > 40, compacted  # every node compacted, the run tested something
        kept = sum(1 for v in lab.views.values() if v.pending)
        if not read_every_step:
            assert kept, "nobody read the views: they keep their nodes' snapshots undecoded"
        compare()
        assert not any(v.pending for v in lab.views.values())  # decoded when read
    finally:
        lab.close()


def test_a_view_read_now_and_then_agrees_with_one_read_every_step() -> None:
    """Reading sometimes switches between keeping snapshots and applying; the states agree."""
    lab = Lab(OPTIONS)
    try:
        step = [0]

        def sometimes() -> None:
            step[0] += 1
            if step[0] % 499 == 0:
                for node, view in lab.views.items():
                    if view.alive:
                        assert view.kv.snapshot_state() == node_state(lab, node), f"node {node}"

        drive(lab, 3000, sometimes)
    finally:
        lab.close()


def test_a_snapshot_installed_from_a_leader_replaces_the_mirror_even_where_the_log_matches() -> None:
    """With skip-prev-check a follower's entries before a matching one may not be the leader's:
    the InstallSnapshot the leader sends then replaces a state machine the follower's own log
    does not give, and a view read at every step must show the installed one, not replay its log."""
    lab = Lab(LabOptions(nodes=5, seed=23, backend="inprocess", snapshot=15, bugs=("skip-prev-check",)))
    rng = random.Random("skip-prev-check/23")  # the faults that brought it about, found by a fuzzer
    try:
        for n in range(1, 11):
            lab.submit("put", f"k{n}", "0", client_id=f"c{n}")
        for i in range(1300):
            r = rng.random()
            if r < 0.004:
                live = [v.id for v in lab.views.values() if v.alive]
                if len(live) > 3:
                    lab.crash(rng.choice(live))
            elif r < 0.010:
                dead = [v.id for v in lab.views.values() if not v.alive]
                if dead:
                    lab.restart(rng.choice(dead))
            elif r < 0.014:
                ids = list(lab.views)
                rng.shuffle(ids)
                lab.network.partition([frozenset(ids[:2]), frozenset(ids[2:])])
            elif r < 0.020:
                lab.network.heal()
            elif r < 0.04 and lab.flights:
                lab.duplicate(rng.choice(list(lab.flights)))
            record = lab.step()
            assert record is not None
            for request in record.answers:
                op = rng.choice(["put", "append", "delete"])
                lab.submit(op, f"k{rng.randint(1, 30)}", f"{i};", client_id=request.client)
            for node, view in lab.views.items():
                if view.alive:
                    assert view.kv.snapshot_state() == node_state(lab, node), f"node {node} at step {i}"
    finally:
        lab.close()
