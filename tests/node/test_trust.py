"""Issue 14's forged datagrams against real free-mode clusters, with and without a cluster secret.

A process that binds a stopped node's port can send anything "from" that
node. Without a secret the nodes cannot tell a forgery from a peer: terms may
move, but no node dies and no committed entry changes, because a message that
would break an invariant is dropped as a protocol violation. With
``--secret-file`` on every node the forgeries are dropped before Raft sees
them, counted as unauthenticated, and terms do not move; a node or client
with another secret is refused, and says so.
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
from cluster_helpers import RAFTVIZ, FreeCluster, free_cluster, run_kv, wait_for  # noqa: F401

from raftviz.core.kv import KVStore
from raftviz.core.membership import Configuration
from raftviz.core.messages import AppendEntries, Command, Entry, InstallSnapshot, Message, RequestVote
from raftviz.core.snapshot import encode_snapshot
from raftviz.wire import auth, datagram

pytestmark = pytest.mark.udp

SECRET = b"correct horse battery staple"
FORGED_TERM = 2_000_000_000


def forge_from(cluster: FreeCluster, node_id: int, messages: list[Message], secret: bytes = b"") -> None:
    """Send ``messages`` from node ``node_id``'s port (stopped first), as issue 14's forger did."""
    cluster.stop(node_id)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(cluster.nodes[node_id].address)
        for msg in messages:
            data = datagram.encode(msg)
            sock.sendto(auth.seal(secret, data) if secret else data, cluster.nodes[msg.dst].address)
    finally:
        sock.close()


def issue_forgeries(targets: list[int], terms_at_1: range) -> list[Message]:
    """AppendEntries of term 2,000,000,000 at prevLogIndex 1 with two entries (one per possible
    term of entry 1, so that one of them passes the consistency check), then RequestVote 10**9."""
    entry = Entry(FORGED_TERM, Command("put", "x", "forged"))
    out: list[Message] = []
    for dst in targets:
        out += [AppendEntries(3, dst, FORGED_TERM, 1, t, (entry, entry), 5) for t in terms_at_1]
    out += [RequestVote(3, dst, 10**9, 0, 0) for dst in targets]
    return out


def write_and_settle(cluster: FreeCluster, keys: int = 5) -> int:
    """Write ``keys`` keys with nodes 1 and 2 up; return the commit index both then hold."""
    client = cluster.client()
    try:
        for i in range(keys):
            client.request("put", f"k{i}", f"v{i}")
    finally:
        client.close()
    leader = wait_for(lambda: cluster.leader([1, 2]), 10, lambda: f"a leader\n{cluster.describe()}")
    wait_for(
        lambda: all(s is not None and s.commit >= leader.commit for s in cluster.statuses([1, 2]).values()),
        10,
        lambda: f"nodes 1 and 2 committing {leader.commit}\n{cluster.describe()}",
    )
    return leader.commit


def read_all(cluster: FreeCluster, keys: int = 5) -> list[str | None]:
    client = cluster.client(timeout=15)
    try:
        return [client.request("get", f"k{i}") for i in range(keys)]
    finally:
        client.close()


def test_forgeries_without_a_secret_kill_no_node_and_change_no_committed_entry(free_cluster) -> None:  # noqa: F811
    cluster = free_cluster(3)
    cluster.stop(3)
    commit = write_and_settle(cluster)
    term = max(s.term for s in cluster.statuses([1, 2]).values() if s)
    forge_from(cluster, 3, issue_forgeries([1, 2], range(1, term + 1)))
    # Terms may move (the RequestVote looks like node 3's), but every node lives and keeps its data.
    assert read_all(cluster) == [f"v{i}" for i in range(5)]
    statuses = cluster.statuses([1, 2])
    assert all(cluster.nodes[i].alive for i in (1, 2))
    for node_id, status in statuses.items():
        assert status is not None and status.commit >= commit
        assert dict(status.violations).get("overwrite-committed", 0) >= 1, status
        assert status.unauthenticated == 0
        assert "dropped a protocol violation: AppendEntries from node 3: overwrite-committed" in (
            cluster.nodes[node_id].stderr_path.read_text()
        )
    assert all("Traceback" not in cluster.nodes[i].stderr_path.read_text() for i in (1, 2))


def test_a_term_near_2_63_is_refused(free_cluster) -> None:  # noqa: F811
    cluster = free_cluster(3)
    cluster.stop(3)
    write_and_settle(cluster, keys=1)
    forge_from(cluster, 3, [RequestVote(3, dst, 2**63 - 2, 10**6, 2**62) for dst in (1, 2)])

    def refused() -> bool:
        # A status request is answered at once, maybe before the batch it came with is handled.
        now = cluster.statuses([1, 2]).values()
        return all(s is not None and dict(s.violations) == {"term-too-large": 1} for s in now)

    wait_for(refused, 10, lambda: f"the RequestVote refused\n{cluster.describe()}")
    assert all(s is not None and s.term < 2**62 for s in cluster.statuses([1, 2]).values())
    # Elections still work: the terms can be incremented and encoded.
    cluster.start(3)
    cluster.wait_agreed_leader(timeout=15)


def test_a_forged_snapshot_billions_ahead_crashes_nothing(free_cluster) -> None:  # noqa: F811
    cluster = free_cluster(3)
    cluster.stop(3)
    write_and_settle(cluster, keys=1)
    snapshot = encode_snapshot(5_000_000_000, FORGED_TERM, Configuration((1, 2, 3)), KVStore())
    chunks = [
        InstallSnapshot(
            3, dst, FORGED_TERM, snapshot.index, snapshot.term, 0, snapshot.data, True, snapshot.checksum
        )
        for dst in (1, 2)
    ]
    forge_from(cluster, 3, chunks)
    cluster.start(3)
    cluster.wait_ready([1, 2, 3])
    # Nothing dies, whatever the forged snapshot did to the cluster's data (no secret: it looked genuine).
    wait_for(lambda: cluster.leader() is not None, 15, lambda: f"a leader\n{cluster.describe()}")
    assert all(cluster.nodes[i].alive for i in (1, 2, 3))
    assert all("Traceback" not in cluster.nodes[i].stderr_path.read_text() for i in (1, 2, 3))


def test_with_a_secret_forgeries_are_dropped_and_counted_and_terms_do_not_move(free_cluster) -> None:  # noqa: F811
    cluster = free_cluster(3, secret=SECRET)
    cluster.stop(3)
    write_and_settle(cluster)
    before = cluster.statuses([1, 2])
    forgeries = issue_forgeries([1, 2], range(1, 4))
    forge_from(cluster, 3, forgeries)  # untagged
    forge_from(cluster, 3, forgeries, secret=b"another secret")  # tagged, with the wrong secret
    sent = len(forgeries)  # per round, to both nodes together

    def counted() -> bool:
        now = cluster.statuses([1, 2])
        return sum(s.unauthenticated for s in now.values() if s) >= 2 * sent

    wait_for(counted, 10, lambda: f"{2 * sent} unauthenticated datagrams counted\n{cluster.describe()}")
    after = cluster.statuses([1, 2])
    for node_id in (1, 2):
        assert after[node_id] is not None and before[node_id] is not None
        assert after[node_id].violations == ()
        assert after[node_id].dropped == 0  # counted apart from malformed datagrams
        # The forged terms never got in (a spontaneous election could still add one).
        assert after[node_id].term < before[node_id].term + 2
    assert read_all(cluster) == [f"v{i}" for i in range(5)]
    assert "without a valid tag (does its sender use the same --secret-file?)" in (
        cluster.nodes[1].stderr_path.read_text()
    )


def test_a_node_or_client_with_another_secret_is_refused(free_cluster, tmp_path) -> None:  # noqa: F811
    cluster = free_cluster(3, secret=SECRET)
    cluster.wait_agreed_leader(timeout=15)
    wrong = tmp_path / "wrong"
    wrong.write_bytes(b"not the cluster's secret")
    wrong.chmod(0o600)
    # A client without the secret, and one with another: refused, and told why.
    for extra in ([], ["--secret-file", str(wrong)]):
        done, _ = run_kv(cluster, *extra, "put", "a", "1", timeout=1.5)
        assert done.returncode == 3
        assert "no node answered at all" in done.stderr and "--secret-file" in done.stderr, done.stderr
    done, _ = run_kv(cluster, "--secret-file", str(wrong), "status", timeout=1)
    assert done.returncode == 3 and "no answer" in done.stdout
    assert done.stderr.startswith("error: no node answered; are the nodes running, with this --secret-file?")
    done, _ = run_kv(cluster, "--secret-file", str(cluster.secret_file), "put", "a", "1")
    assert done.returncode == 0, done.stderr
    # A node with another secret: the others drop its datagrams, and it theirs; it says so.
    cluster.stop(3)
    node = cluster.nodes[3]
    command = cluster.node_command(3)
    command[command.index("--secret-file") + 1] = str(wrong)
    with open(node.stderr_path, "ab") as err:
        node.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    node.pids.append(node.proc.pid)
    wait_for(
        lambda: "without a valid tag" in node.stderr_path.read_text(),
        15,
        lambda: f"node 3 refusing the others' datagrams\n{cluster.describe()}",
    )
    wait_for(
        lambda: all(s is not None and s.unauthenticated > 0 for s in cluster.statuses([1, 2]).values()),
        15,
        lambda: f"nodes 1 and 2 refusing node 3's datagrams\n{cluster.describe()}",
    )


@pytest.mark.parametrize(
    ("mode", "content", "message"),
    [
        (0o644, b"secret", "is accessible by group or others (mode 0644); make it private: chmod 600"),
        (0o640, b"secret", "is accessible by group or others (mode 0640)"),
        (0o600, b" \n", "is empty"),
        (0o200, b"secret", "cannot read secret file"),
        (None, b"", "cannot read secret file"),
    ],
)
@pytest.mark.parametrize("command", ["node", "kv"])
def test_an_unusable_secret_file_is_refused(
    tmp_path, command: str, mode: int | None, content: bytes, message: str
) -> None:
    path = tmp_path / "secret"
    if mode is not None:
        path.write_bytes(content)
        path.chmod(mode)
    if mode == 0o200 and os.geteuid() == 0:
        pytest.skip("root reads any file")
    args = {
        "node": ["node", "--id", "1", "--peers", "1=127.0.0.1:9", "--data", str(tmp_path / "d")],
        "kv": ["kv", "--cluster", "127.0.0.1:9", "get", "x"],
    }[command]
    done = subprocess.run(
        [*RAFTVIZ, *args, "--secret-file", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: secret file {path} ") or done.stderr.startswith(
        f"error: cannot read secret file {path}"
    )
    assert message in done.stderr and len(done.stderr.splitlines()) == 1
