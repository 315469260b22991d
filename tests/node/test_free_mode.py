"""Free mode end to end: real node processes, the real ``raftviz kv`` command.

Each cluster is started with the documented command (``raftviz node --id I
--peers 1=127.0.0.1:P1,... --data DIR --election 150-300 --heartbeat 50``).
Free mode runs on the wall clock, so these tests poll conditions with
deadlines (``cluster_helpers.wait_for``); none sleeps to wait for a result.
"""

from __future__ import annotations

import time

import pytest
from cluster_helpers import (
    FreeCluster,
    free_cluster,  # noqa: F401 - the fixture
    free_udp_ports,
    run_kv,
    wait_for,
)

pytestmark = pytest.mark.udp


def _kv_ok(cluster: FreeCluster, *args: str) -> str:
    done, _ = run_kv(cluster, *args)
    assert done.returncode == 0, f"raftviz kv {' '.join(args)}: exit {done.returncode}\n{done.stderr}"
    return done.stdout


def test_three_nodes_elect_one_leader_that_all_agree_on(free_cluster) -> None:  # noqa: F811
    began = time.monotonic()
    cluster = free_cluster(3)
    leader = cluster.wait_agreed_leader(timeout=10.0).src
    print(f"first election: leader {leader} agreed by all {time.monotonic() - began:.2f} s after start")
    statuses = cluster.statuses()
    assert statuses[leader].role == "leader"
    assert sum(s.role == "leader" for s in statuses.values()) == 1
    assert all(s.dropped == 0 for s in statuses.values()), statuses


def test_kv_cli_put_get_append_delete(free_cluster) -> None:  # noqa: F811
    cluster = free_cluster(3)
    assert _kv_ok(cluster, "put", "greeting", "hello world") == "OK\n"
    assert _kv_ok(cluster, "get", "greeting") == "hello world\n"
    assert _kv_ok(cluster, "append", "greeting", "!") == "OK\n"
    assert _kv_ok(cluster, "get", "greeting") == "hello world!\n"
    assert _kv_ok(cluster, "put", "ünï", "cødé ✓") == "OK\n"
    assert _kv_ok(cluster, "get", "ünï") == "cødé ✓\n"
    assert _kv_ok(cluster, "delete", "greeting") == "OK\n"
    done, _ = run_kv(cluster, "get", "greeting")
    assert done.returncode != 0 and done.stdout == ""
    status = _kv_ok(cluster, "status").splitlines()
    assert len(status) == 3
    assert [line.split()[0] for line in status] == ["node=1", "node=2", "node=3"]
    assert sum("role=leader" in line for line in status) == 1


def test_kv_get_reads_without_the_log_with_readindex_and_lease(free_cluster) -> None:  # noqa: F811
    """``raftviz kv get --read readindex|lease`` against real processes (dissertation §6.4)."""
    cluster = free_cluster(3)
    assert _kv_ok(cluster, "put", "colour", "blue") == "OK\n"
    for mode in ("readindex", "lease", "log"):
        leader = cluster.wait_agreed_leader(timeout=10.0)
        assert _kv_ok(cluster, "--read", mode, "get", "colour") == "blue\n"
        after = cluster.statuses()[leader.src]
        # Each kv command registers a session (one entry); a log read appends its get too.
        grown = after.last_index - leader.last_index
        assert grown == (2 if mode == "log" else 1), (mode, leader, after)
    done, _ = run_kv(cluster, "--read", "readindex", "get", "never-written")
    assert done.returncode == 1 and "never-written" in done.stderr
    done, _ = run_kv(cluster, "--read", "lease", "put", "colour", "red")
    assert done.returncode == 2 and "--read is for get only" in done.stderr


def test_kv_get_of_a_missing_key_exits_nonzero(free_cluster) -> None:  # noqa: F811
    cluster = free_cluster(3)
    done, _ = run_kv(cluster, "get", "never-written")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "never-written" in done.stderr


def test_kill_9_leader_failover_writes_and_catch_up(free_cluster) -> None:  # noqa: F811
    cluster = free_cluster(3)
    old = cluster.wait_leader()
    for i in range(5):
        assert _kv_ok(cluster, "put", f"before{i}", f"v{i}") == "OK\n"
    before_kill = cluster.statuses()[old.src]
    assert before_kill is not None and before_kill.role == "leader"

    killed_at = time.monotonic()
    cluster.kill(old.src)
    new = cluster.wait_leader(timeout=5.0, newer_than=before_kill.term)
    failover = time.monotonic() - killed_at
    print(
        f"failover after kill -9 of leader {old.src}: new leader {new.src} in term {new.term} "
        f"{failover * 1000:.0f} ms after the kill"
    )
    assert new.src != old.src
    # 150-300 ms election timeouts: one election, or a few after split votes, fits in 2 s.
    assert failover < 2.0, f"new leader only after {failover:.2f} s"

    # Writes keep working with one node down, and nothing acknowledged was lost.
    for i in range(5):
        assert _kv_ok(cluster, "put", f"after{i}", f"w{i}") == "OK\n"
    for i in range(5):
        assert _kv_ok(cluster, "get", f"before{i}") == f"v{i}\n"
        assert _kv_ok(cluster, "get", f"after{i}") == f"w{i}\n"

    # Restart the crashed node on its data directory: it recovers its term
    # from disk and catches up with the leader's log and commit index.
    restarted_at = time.monotonic()
    cluster.start(old.src)
    cluster.wait_ready([old.src])
    recovered = cluster.statuses([old.src])[old.src]
    assert recovered is not None
    assert recovered.term >= before_kill.term
    assert recovered.last_index >= before_kill.last_index

    def caught_up() -> bool:
        statuses = cluster.statuses()
        leader = next((s for s in statuses.values() if s is not None and s.role == "leader"), None)
        mine = statuses[old.src]
        return (
            leader is not None
            and mine is not None
            and mine.role == "follower"
            and (mine.commit, mine.last_index) == (leader.commit, leader.last_index)
            and mine.applied == mine.commit
        )

    wait_for(caught_up, 10.0, lambda: f"node {old.src} catching up\n{cluster.describe()}")
    print(f"restarted node {old.src} caught up {time.monotonic() - restarted_at:.2f} s after its restart")

    # And it keeps up with new writes.
    assert _kv_ok(cluster, "put", "late", "x") == "OK\n"
    wait_for(caught_up, 10.0, lambda: f"node {old.src} following a new write\n{cluster.describe()}")
    statuses = cluster.statuses()
    assert len({(s.commit, s.last_index) for s in statuses.values()}) == 1, statuses


@pytest.mark.parametrize("situation", ["nothing-listening", "one-node-of-three"])
def test_kv_without_a_leader_fails_clearly_within_its_timeout(free_cluster, situation: str) -> None:  # noqa: F811
    if situation == "nothing-listening":
        target = ",".join(f"127.0.0.1:{p}" for p in free_udp_ports(3))
    else:
        cluster = free_cluster(3)
        leader = cluster.wait_leader()
        others = [i for i in cluster.ids if i != leader.src]
        cluster.kill(leader.src)
        cluster.kill(others[0])  # the survivor is a follower with no quorum to elect anyone
        target = cluster.cluster_arg
    done, elapsed = run_kv(target, "put", "k", "v", timeout=1.0)
    assert done.returncode == 3, (done.returncode, done.stderr)
    assert done.stdout == ""
    if situation == "nothing-listening":
        # Silence has two likely causes, and the message names both.
        assert done.stderr.strip() == (
            "error: no leader answered put k within 1 s (no node answered at all: are the nodes running? "
            "If they use --secret-file, give kv the same one: they drop requests that are not "
            "authenticated without an answer)"
        )
    else:
        assert done.stderr.strip() == "error: no leader answered put k within 1 s"
    # It gives up at its timeout, not before and not long after (the rest is
    # interpreter start-up, generously bounded for a loaded machine).
    assert 1.0 <= elapsed < 1.0 + 3.0, elapsed


def test_add_a_server_that_catches_up_by_snapshot_then_remove_the_leader(free_cluster) -> None:  # noqa: F811
    """Membership changes and compaction on real processes, driven by ``raftviz kv add/remove``."""
    cluster = free_cluster(4, start=False)
    cluster.extra_args = ["--snapshot", "40", "--chunk", "512", "--members", "1,2,3"]
    for node in (1, 2, 3):
        cluster.start(node)
    cluster.extra_args = ["--snapshot", "40", "--chunk", "512", "--join"]
    cluster.start(4)
    cluster.wait_ready(cluster.ids)
    client = cluster.client(timeout=10.0)
    try:
        for i in range(100):  # past the threshold twice: the entries node 4 needs are compacted away
            client.request("put", f"k{i % 9}", f"v{i}")
    finally:
        client.close()
    joiner = cluster.statuses([4])[4]
    assert joiner is not None and joiner.configuration == "" and joiner.last_index == 0

    assert _kv_ok(cluster, "add", "4") == "OK\n"

    def promoted() -> bool:
        statuses = cluster.statuses()
        return all(s is not None and s.configuration == "1,2,3,4" for s in statuses.values())

    wait_for(promoted, 10.0, lambda: f"node 4 promoted everywhere\n{cluster.describe()}")
    joined = cluster.statuses([4])[4]
    assert joined is not None and joined.snapshot_index >= 40, "node 4 caught up from a snapshot"
    assert _kv_ok(cluster, "get", "k8") == "v98\n"

    old = cluster.wait_leader()
    assert _kv_ok(cluster, "remove", str(old.src)) == "OK\n"
    rest = [i for i in cluster.ids if i != old.src]
    new = cluster.wait_leader(timeout=10.0, newer_than=old.term)
    assert new.src in rest
    assert _kv_ok(cluster, "put", "after", "removal") == "OK\n"

    def agreed() -> bool:
        statuses = cluster.statuses(rest)
        want = ",".join(map(str, rest))
        return all(s is not None and s.configuration == want for s in statuses.values())

    wait_for(agreed, 10.0, lambda: f"the rest agree on {rest}\n{cluster.describe()}")
    removed = cluster.statuses([old.src])[old.src]
    assert removed is not None and removed.role == "follower", "a removed leader steps down"


def test_kv_transfer_hands_leadership_over_with_prevote_and_checkquorum(free_cluster) -> None:  # noqa: F811
    """``raftviz kv transfer ID`` (dissertation §3.10) on nodes started with ``--prevote --checkquorum``."""
    cluster = free_cluster(3, extra_args=["--prevote", "--checkquorum"])
    leader = cluster.wait_agreed_leader(timeout=10.0).src
    target = leader % 3 + 1
    out = _kv_ok(cluster, "transfer", str(target))
    assert out.startswith(f"OK: the leader is handing over to node {target}")
    wait_for(
        lambda: cluster.leader() is not None and cluster.leader().src == target, 10.0, f"node {target} leads"
    )
    done, _ = run_kv(cluster, "transfer", "9")
    assert done.returncode == 4
    assert "node 9 is not a voter" in done.stderr
    assert _kv_ok(cluster, "put", "x", "1") == "OK\n"
