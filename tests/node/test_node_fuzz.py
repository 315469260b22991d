"""Fuzzing live free-mode nodes over real UDP: bad input never stops a node.

Against a running 3-node cluster, a separate socket sends every node a few
thousand datagrams that a node must refuse: random bytes, truncations and
bit flips of valid encodings of every message type, well-formed Raft messages
whose ``src`` claims to be a cluster member (spoofing: the source address is
not that member's), oversized datagrams, unknown tags and wrong field types.
Mutations that happen to decode to a valid ``ClientRequest`` or
``StatusRequest`` are legitimate input (anyone may be a client) and are not
sent. Afterwards every node must be alive, in the same term as before, must
have counted each refused datagram in its ``dropped`` counter, and the
cluster must still commit writes.
"""

from __future__ import annotations

import collections
import dataclasses
import random
import socket
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
import pytest
from cluster_helpers import (
    FreeCluster,
    free_cluster,  # noqa: F401 - the fixture
    run_kv,
    wait_for,
)

from raftviz import wire
from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    Entry,
    Message,
    RequestVote,
    RequestVoteReply,
    StatusReply,
    StatusRequest,
)

SEED = 20240611
#: Datagrams sent to each node.
PER_NODE = 2000
#: Sent to a node before waiting for it to have counted them (see _send_paced).
BURST = 100
#: The largest UDP payload over IPv4 loopback.
UDP_MAX = 65507
#: Values of a wrong type for any field (and some of the right type but out of range).
WRONG_VALUES: tuple[Any, ...] = (
    None, True, False, -1, 2**63, 2**64 - 1, 1.5, float("nan"), "", "x", "é" * 70, b"", b"\x00\xff",
    [], [1, 2], {}, {"a": 1}, [[[]]], msgpack.ExtType(5, b"ext"),
)  # fmt: skip


def _valid_messages(rng: random.Random, node: int, peers: list[int]) -> list[Message]:
    """One valid message of every type, addressed to ``node``, from a random member.

    Terms are far above the cluster's: were any of these accepted, the
    node's term would jump, which the test checks does not happen.
    """
    peer = rng.choice(peers)
    term = rng.randint(1000, 10**6)
    client = f"fuzz{rng.randint(0, 99)}"
    op = rng.choice(["put", "append", "delete", "get"])
    command = Command(op, "k", "v" * rng.randint(0, 40), client, 7, 1)
    entries = tuple(Entry(term, command) for _ in range(rng.randint(0, 4)))
    return [
        RequestVote(peer, node, term, rng.randint(0, 10**6), term),
        RequestVoteReply(peer, node, term, rng.random() < 0.5),
        AppendEntries(peer, node, term, 0, 0, entries, rng.randint(0, 50)),
        AppendEntriesReply(peer, node, term, rng.random() < 0.5, rng.randint(0, 9), rng.randint(0, 9), 0),
        ClientRequest(client, node, command),
        ClientReply(peer, client, 7, True, "v", peer, ""),
        StatusRequest(client, node),
        StatusReply(peer, client, "leader", term, peer, peer, 3, 3, 3, 0),
    ]


def _mutations(rng: random.Random, node: int, cluster: FreeCluster) -> Iterator[tuple[str, bytes]]:
    """An endless stream of (kind, datagram) meant to be refused by ``node``."""
    peers = cluster.ids

    def valid() -> bytes:
        return wire.encode(rng.choice(_valid_messages(rng, node, peers)))

    def random_bytes() -> bytes:
        return rng.randbytes(rng.choice([0, 1, 2, 5, 20, 100, 1000, rng.randint(0, 4000)]))

    def truncated() -> bytes:
        data = valid()
        return data[: rng.randrange(len(data))]

    def bit_flips() -> bytes:
        data = bytearray(valid())
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)

    def byte_edits() -> bytes:
        data = bytearray(valid())
        for _ in range(rng.randint(1, 3)):
            where = rng.randrange(len(data) + 1)
            action = rng.randrange(3)
            if action == 0 and where < len(data):
                data[where] = rng.randrange(256)
            elif action == 1:
                data[where:where] = rng.randbytes(rng.randint(1, 4))
            elif where < len(data):
                del data[where]
        return bytes(data)

    def spoofed() -> bytes:
        # Well-formed Raft traffic claiming to come from a member (even from
        # the node itself) or from a stranger, sent from the wrong address.
        msg = rng.choice(_valid_messages(rng, node, peers)[:4])
        return wire.encode(dataclasses.replace(msg, src=rng.choice([*peers, 99, wire.MAX_NODE_ID])))

    def spoofed_replies() -> bytes:
        return wire.encode(rng.choice(_valid_messages(rng, node, peers)[5::2]))  # ClientReply, StatusReply

    def oversized() -> bytes:
        size = rng.choice([wire.MAX_DATAGRAM, wire.MAX_DATAGRAM + 1, UDP_MAX, rng.randint(65000, UDP_MAX)])
        if rng.random() < 0.5:
            return rng.randbytes(size)
        # A valid-looking AppendEntries whose one entry's value makes it too big.
        body = [wire.PROTOCOL_VERSION, 3, peers[0], node, 1, 0, 0, [[1, ["put", "k", "", "c", 1, 1], 0]], 0]
        # (The value grows from a 1-byte to a 3-byte str header: str16 covers any UDP size.)
        body[7][0][1][2] = "x" * (size - len(msgpack.packb(body)) - 2)
        data = msgpack.packb(body)
        assert len(data) == size
        return data

    def unknown_tag() -> bytes:
        # Reserved, control-frame (never valid over UDP), out of range, or not an int.
        tags = [0, 9, 10, 42, 63, 64, 65, 69, 70, 71, 127, 255, 2**16, 2**40, -1, -(2**40), "1", 1.0, None]
        tag = rng.choice(tags)
        fields = [rng.choice(WRONG_VALUES + (1, 2, "c1")) for _ in range(rng.randint(2, 9))]
        return msgpack.packb([wire.PROTOCOL_VERSION, tag, *fields])

    def wrong_field_type() -> bytes:
        fields = msgpack.unpackb(valid(), raw=False)
        where = rng.randrange(len(fields))
        fields[where] = rng.choice(WRONG_VALUES)
        if rng.random() < 0.2:  # and sometimes a field too many or too few
            fields = fields + [0] if rng.random() < 0.5 else fields[:-1]
        return msgpack.packb(fields)

    def crafted() -> bytes:
        good = valid()
        return rng.choice(
            [
                good + b"\x00",  # trailing data
                b"\x91" * 5000 + b"\x01",  # nesting deeper than the unpacker allows
                b"\xdd\xff\xff\xff\xff",  # array32 claiming 4 billion items
                b"\xdb\xff\xff\xff\xff",  # str32 claiming 4 GB
                msgpack.packb({"version": 1, "tag": 1}),  # a map envelope
                msgpack.packb({1: 2}),  # an int-keyed map
                msgpack.packb([2, 1, 1, node, 1, 0, 0]),  # unknown protocol version
                b"\x98\x01\x01\xa3\xff\xfe\xfd",  # a str that is not UTF-8
                msgpack.packb([wire.PROTOCOL_VERSION, 5, "c1", node, ["put", "k", "v", "c1", -1, 0]]),
                b"\xd6\xff\x00\x00\x00\x00",  # a msgpack timestamp
                b"\x96\x01\x02\x01\x02\xd6\xff\x00\x00\x00\x01\xc3",  # a timestamp for a term
            ]
        )

    kinds: list[tuple[str, Callable[[], bytes], int]] = [
        ("random bytes", random_bytes, 4),
        ("truncated", truncated, 3),
        ("bit flips", bit_flips, 4),
        ("byte edits", byte_edits, 2),
        ("spoofed src", spoofed, 3),
        ("spoofed reply", spoofed_replies, 1),
        ("oversized", oversized, 1),
        ("unknown tag", unknown_tag, 2),
        ("wrong field type", wrong_field_type, 3),
        ("crafted", crafted, 1),
    ]
    names = [k for k, _, _ in kinds]
    makers = {k: f for k, f, _ in kinds}
    weights = [w for _, _, w in kinds]
    while True:
        kind = rng.choices(names, weights)[0]
        yield kind, makers[kind]()


def _legitimate(data: bytes) -> bool:
    """Whether a node would take ``data`` as input rather than refuse it.

    Decoded here with the node's own codec: the node refuses exactly what
    fails to decode and every decodable message but a ClientRequest or
    StatusRequest whose ``src`` is not the address it came from — and the
    fuzzing socket is no member's address. ``decode`` must raise nothing but
    WireError, whatever the bytes (else the node would crash on them).
    """
    try:
        msg = wire.decode(data)
    except wire.WireError:
        return False
    return isinstance(msg, ClientRequest | StatusRequest)


def _kernel_drops(port: int) -> int | None:
    """Datagrams the kernel dropped for the loopback UDP socket on ``port`` (full buffer), if known."""
    suffix = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/udp") as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if fields[1] == suffix:
                    return int(fields[-1])
    except (OSError, ValueError, IndexError):
        pass
    return None


@pytest.mark.udp
def test_fuzzed_datagrams_are_refused_counted_and_harmless(free_cluster) -> None:  # noqa: F811
    cluster = free_cluster(3)
    # A settled cluster: one leader that every node follows, in one term.
    leader = cluster.wait_agreed_leader()
    before = cluster.statuses()
    kernel_before = {i: _kernel_drops(cluster.nodes[i].port) for i in cluster.ids}

    rng = random.Random(SEED)
    streams = {i: _mutations(rng, i, cluster) for i in cluster.ids}
    sent: collections.Counter[int] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    skipped = 0
    terms_seen: dict[int, set[int]] = {i: set() for i in cluster.ids}

    def lost(node_id: int) -> int:
        now, then = _kernel_drops(cluster.nodes[node_id].port), kernel_before[node_id]
        return 0 if now is None or then is None else now - then

    def counted_all() -> bool:
        statuses = cluster.statuses()
        for node_id, status in statuses.items():
            if status is None:
                return False
            terms_seen[node_id].add(status.term)
        return all(
            statuses[i].dropped - before[i].dropped >= sent[i] - lost(i)  # type: ignore[union-attr]
            for i in cluster.ids
        )

    fuzz = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fuzz.bind(("127.0.0.1", 0))
    try:
        while min(sent[i] for i in cluster.ids) < PER_NODE:
            for node_id in cluster.ids:
                burst = 0
                while burst < BURST and sent[node_id] < PER_NODE:
                    kind, data = next(streams[node_id])
                    if _legitimate(data):
                        skipped += 1
                        continue
                    fuzz.sendto(data, cluster.nodes[node_id].address)
                    sent[node_id] += 1
                    kinds[kind] += 1
                    burst += 1
            # Pacing: wait until every node has counted what it was sent, so
            # that no receive buffer overflows (noting the terms on the way).
            wait_for(counted_all, 10.0, lambda: f"nodes counting {dict(sent)} refusals\n{cluster.describe()}")
    finally:
        fuzz.close()
    print(f"fuzz: sent {dict(sent)} ({sum(sent.values())} datagrams), skipped {skipped} legitimate; "
          f"by kind {dict(sorted(kinds.items()))}")  # fmt: skip

    # Every node survived ...
    for node_id in cluster.ids:
        assert cluster.nodes[node_id].alive, f"node {node_id} died:\n{cluster.stderr_tail(node_id)}"
    after = cluster.statuses()
    assert all(s is not None for s in after.values()), after
    # ... stayed in its term (nothing fuzzed was taken for Raft traffic) ...
    for node_id in cluster.ids:
        seen = sorted(terms_seen[node_id] | {after[node_id].term})
        assert seen == [before[node_id].term], f"node {node_id}: term {before[node_id].term} -> {seen}"
    assert after[leader.src].role == "leader"
    # ... and counted exactly what it refused. Loopback UDP loses a datagram
    # only when the receiver's buffer is full, and the kernel then counts it
    # in the socket's "drops" column of /proc/net/udp. The bursts are paced
    # (each node has counted one before the next leaves) so that should not
    # happen; if it does, those datagrams never reached the node, so they
    # lower the bound (the kernel's count also includes any lost peer
    # traffic, which only loosens it). No legitimate datagram is refused, so
    # the count can never exceed what we sent.
    for node_id in cluster.ids:
        counted_now = after[node_id].dropped - before[node_id].dropped
        in_kernel = lost(node_id)
        print(f"node {node_id}: sent {sent[node_id]}, counted {counted_now}, lost in the kernel {in_kernel}")
        assert sent[node_id] - in_kernel <= counted_now <= sent[node_id], (node_id, sent, in_kernel)

    # The cluster still commits writes.
    done, _ = run_kv(cluster, "put", "after-fuzz", "still-here")
    assert (done.returncode, done.stdout) == (0, "OK\n"), done.stderr
    done, _ = run_kv(cluster, "get", "after-fuzz")
    assert (done.returncode, done.stdout) == (0, "still-here\n"), done.stderr


# =========================================================================== timers under a flood
#
# A deterministic look at free mode's event loop (``process.run_free_mode``)
# with its socket, ``select`` and clock replaced by fakes: the fake peers 2
# and 3 vote for node 1 and acknowledge its AppendEntries, and from the moment
# it leads, a flood of garbage keeps its socket readable. A flooded node must
# still keep its timers: followers hear nothing from a leader that does not
# send its heartbeats, and elect another after 150-300 ms.


class _FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class _FakeNet:
    """Node 1's socket, the two peers answering it, and (optionally) a flood of garbage."""

    #: Garbage datagrams waiting each time the node drains its socket (20 ms of fake time).
    BURST = 20
    HORIZON_MS = 2000

    def __init__(self, clock: _FakeClock, flood: bool) -> None:
        self.clock = clock
        self.start = clock.now
        self.flood = flood
        self.flooding = False
        self.inbox: collections.deque[tuple[bytes, tuple[str, int]]] = collections.deque()
        self.pending = self.BURST
        #: (fake ms, message) for every datagram node 1 sent.
        self.sent: list[tuple[float, Message]] = []

    def ms(self) -> float:
        return (self.clock.now - self.start) * 1000

    # the socket
    def setblocking(self, flag: bool) -> None:
        pass

    def close(self) -> None:
        pass

    def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        if self.inbox:
            return self.inbox.popleft()
        if not self.flooding or self.pending == 0:
            self.pending = self.BURST
            raise BlockingIOError
        self.pending -= 1
        self.clock.now += 0.001  # handling one datagram takes a millisecond here
        return b"\xc1", ("127.0.0.1", 9)  # 0xc1: never valid msgpack

    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        msg = wire.decode(data)
        self.sent.append((self.ms(), msg))
        peer = ("127.0.0.1", msg.dst) if isinstance(msg.dst, int) else None
        if isinstance(msg, RequestVote):
            reply: Message = RequestVoteReply(msg.dst, 1, msg.term, True)
        elif isinstance(msg, AppendEntries):
            match = msg.prev_log_index + len(msg.entries)
            reply = AppendEntriesReply(msg.dst, 1, msg.term, True, match)
            self.flooding = self.flood  # node 1 leads: the flood begins
        else:
            return len(data)
        self.inbox.append((wire.encode(reply), peer))
        return len(data)

    # the select module
    def select(self, r: list, w: list, x: list, timeout: float) -> tuple[list, list, list]:
        if self.ms() > self.HORIZON_MS:
            raise KeyboardInterrupt  # run_free_mode's way out
        if self.inbox or self.flooding:
            return r, [], []
        self.clock.now += timeout
        return [], [], []


def _run_flooded_leader(tmp_path, monkeypatch, flood: bool) -> list[float]:
    """Times (fake ms) of node 1's AppendEntries to node 2, from its first one on."""
    from types import SimpleNamespace

    from raftviz.core.config import RaftConfig
    from raftviz.node import process

    clock = _FakeClock()
    net = _FakeNet(clock, flood)
    monkeypatch.setattr(process, "time", SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setattr(process, "select", SimpleNamespace(select=net.select))
    monkeypatch.setattr(process, "_bind", lambda host, port: net)
    peers = {i: ("127.0.0.1", i) for i in (1, 2, 3)}
    args = process.FreeModeArgs(1, peers, RaftConfig(), 0, str(tmp_path / "node1"))
    assert process.run_free_mode(args) == 0
    return [t for t, m in net.sent if isinstance(m, AppendEntries) and m.dst == 2]


def test_free_mode_leader_heartbeats_on_time_without_a_flood(tmp_path, monkeypatch) -> None:
    """The control for the test below: the fake world works, heartbeats every 50 ms."""
    sends = _run_flooded_leader(tmp_path, monkeypatch, flood=False)
    assert len(sends) > 10
    gaps = [b - a for a, b in zip(sends, sends[1:], strict=False)]
    assert max(gaps) <= 50 + 1, gaps


def test_free_mode_leader_keeps_heartbeating_under_a_garbage_flood(tmp_path, monkeypatch) -> None:
    sends = _run_flooded_leader(tmp_path, monkeypatch, flood=True)
    assert sends, "node 1 never led"
    gaps = [b - a for a, b in zip(sends, sends[1:], strict=False)] + [_FakeNet.HORIZON_MS - sends[-1]]
    # Followers must hear from the leader within the shortest election timeout (150 ms).
    assert max(gaps) < 150, f"longest silence of the leader: {max(gaps):.0f} ms"
