"""Free-mode figures: real processes, real UDP, fsync on, the wall clock.

    python benchmarks/bench_free.py [--writes N] [--window W] [--trials T]

1. latency: one write at a time from a client in its own process (p50, p99);
2. throughput: W writes outstanding at once (commits/s, p50, p99 latency);
3. fail-over: SIGKILL the leader, time until a new leader answers (T trials);
4. reads: one get at a time, through the log, by ReadIndex and by the leader's
   lease (dissertation §6.4; p50, p99 per mode; the nodes run --prevote, which a
   lease needs).

Three nodes, 150-300 ms election timeouts, 50 ms heartbeats. Figures only.
Extra node flags can be given in RAFTVIZ_NODE_ARGS, e.g. "--batch 256".
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from raftviz.core.messages import ClientReply, ClientRequest, Command
from raftviz.node.client import KVClient
from raftviz.wire import datagram

EXTRA = os.environ.get("RAFTVIZ_NODE_ARGS", "").split()


def free_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Cluster:
    def __init__(self, n: int = 3, extra: tuple[str, ...] = ()) -> None:
        #: Node flags of this cluster's own, after RAFTVIZ_NODE_ARGS.
        self.extra = extra
        self.root = tempfile.mkdtemp(prefix="raftviz-bench-")
        ports = free_ports(n)
        self.addresses = {i + 1: ("127.0.0.1", p) for i, p in enumerate(ports)}
        self.peers = ",".join(f"{i}={h}:{p}" for i, (h, p) in self.addresses.items())
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        for node in self.addresses:
            self.start(node)

    def start(self, node: int) -> None:
        command = [sys.executable, "-m", "raftviz", "node", "--id", str(node), "--peers", self.peers,
                   "--data", os.path.join(self.root, f"n{node}"), *EXTRA, *self.extra]  # fmt: skip
        log = open(os.path.join(self.root, f"n{node}.log"), "ab")  # noqa: SIM115
        self.procs[node] = subprocess.Popen(command, stderr=log, stdout=subprocess.DEVNULL)
        log.close()

    def kill(self, node: int) -> None:
        proc = self.procs.pop(node)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def cluster_arg(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.addresses.values())

    def leader(self, client: KVClient, wait: float = 0.2) -> int:
        for status in client.statuses(wait=wait):
            if status is not None and status.role == "leader":
                return status.src
        return 0

    def close(self) -> None:
        for node in list(self.procs):
            self.kill(node)
        shutil.rmtree(self.root, ignore_errors=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def wait_for_leader(cluster: Cluster, client: KVClient, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leader = cluster.leader(client)
        if leader:
            return leader
    raise RuntimeError("no leader")


# ---------------------------------------------------------------- client processes


def sequential_client(cluster_arg: str, writes: int) -> None:
    """Runs in its own process: one write at a time, latencies on stdout."""
    addresses = [(h, int(p)) for h, p in (a.rsplit(":", 1) for a in cluster_arg.split(","))]
    client = KVClient(addresses, timeout=10)
    client.request("put", "warm", "up")
    out = []
    for i in range(writes):
        t = time.perf_counter()
        client.request("put", f"k{i}", "v")
        out.append(time.perf_counter() - t)
    print(" ".join(f"{x:.6f}" for x in out))


def sequential_reader(cluster_arg: str, reads: int, mode: str) -> None:
    """Runs in its own process: one get at a time read by ``mode``, latencies on stdout."""
    addresses = [(h, int(p)) for h, p in (a.rsplit(":", 1) for a in cluster_arg.split(","))]
    client = KVClient(addresses, timeout=10)
    read = "" if mode == "log" else mode
    client.request("put", "r", "value")
    client.request("get", "r", read=read)  # warm up (a lease read's first one takes the lease)
    out = []
    for _ in range(reads):
        t = time.perf_counter()
        assert client.request("get", "r", read=read) == "value"
        out.append(time.perf_counter() - t)
    print(" ".join(f"{x:.6f}" for x in out))


def pipelined_client(cluster_arg: str, leader: int, writes: int, window: int) -> None:
    """Runs in its own process: ``window`` writes in flight to the leader at all times."""
    addresses = [(h, int(p)) for h, p in (a.rsplit(":", 1) for a in cluster_arg.split(","))]
    target = addresses[leader - 1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    me = f"bench-{os.getpid()}"
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    next_seq = 1

    def send(seq: int) -> None:
        low = min(sent_at) if sent_at else seq
        cmd = Command("put", f"k{seq}", "v", me, seq, min(low, seq))
        sock.sendto(datagram.encode(ClientRequest(me, leader, cmd)), target)

    start = time.perf_counter()
    while next_seq <= min(window, writes):
        sent_at[next_seq] = time.perf_counter()
        send(next_seq)
        next_seq += 1
    sock.settimeout(1.0)
    while len(latencies) < writes:
        try:
            data, _ = sock.recvfrom(70000)
        except TimeoutError:
            for seq in list(sent_at):  # resend what is outstanding (same seq: applied once)
                send(seq)
            continue
        msg = datagram.decode(data)
        if not isinstance(msg, ClientReply) or not msg.ok or msg.seq not in sent_at:
            continue
        latencies.append(time.perf_counter() - sent_at.pop(msg.seq))
        if next_seq <= writes:
            sent_at[next_seq] = time.perf_counter()
            send(next_seq)
            next_seq += 1
    elapsed = time.perf_counter() - start
    print(f"{elapsed:.6f} " + " ".join(f"{x:.6f}" for x in latencies))


def _spawn_client(args: list[str]) -> list[float]:
    out = subprocess.run(
        [sys.executable, __file__, "--client", *args], capture_output=True, text=True, check=True
    )
    return [float(x) for x in out.stdout.split()]


# ---------------------------------------------------------------- the benchmarks


def bench_latency(writes: int) -> None:
    cluster = Cluster()
    try:
        probe = KVClient(list(cluster.addresses.values()))
        wait_for_leader(cluster, probe)
        lat = _spawn_client(["seq", cluster.cluster_arg(), str(writes)])
        print(
            f"1. one write at a time ({writes} writes, fsync on): "
            f"p50 {percentile(lat, 50) * 1000:.2f} ms, p99 {percentile(lat, 99) * 1000:.2f} ms"
        )
        probe.close()
    finally:
        cluster.close()


def bench_throughput(writes: int, window: int) -> None:
    cluster = Cluster()
    try:
        probe = KVClient(list(cluster.addresses.values()))
        leader = wait_for_leader(cluster, probe)
        probe.request("put", "warm", "up")
        values = _spawn_client(["pipe", cluster.cluster_arg(), str(leader), str(writes), str(window)])
        elapsed, lat = values[0], values[1:]
        print(
            f"2. {window} outstanding ({writes} writes, fsync on): {writes / elapsed:,.0f} commits/s, "
            f"p50 {percentile(lat, 50) * 1000:.1f} ms, p99 {percentile(lat, 99) * 1000:.1f} ms"
        )
        probe.close()
    finally:
        cluster.close()


def bench_failover(trials: int) -> None:
    cluster = Cluster()
    times = []
    try:
        client = KVClient(list(cluster.addresses.values()))
        for _ in range(trials):
            leader = wait_for_leader(cluster, client)
            client.request("put", "x", "y")
            time.sleep(0.3)  # let heartbeats settle so every follower's timer is fresh
            survivors = KVClient([a for n, a in cluster.addresses.items() if n != leader])
            t = time.perf_counter()
            cluster.kill(leader)
            while True:  # only the survivors are asked, so no poll waits on the dead node
                new = cluster.leader(survivors, wait=0.05)
                if new and new != leader:
                    break
            survivors.close()
            times.append(time.perf_counter() - t)
            cluster.start(leader)
        print(
            f"3. fail-over after SIGKILL of the leader ({trials} trials): "
            f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
        )
        client.close()
    finally:
        cluster.close()


def bench_reads(reads: int) -> None:
    # A leader holds a lease only with Pre-Vote's leader stickiness (raftviz.core.reads).
    cluster = Cluster(extra=("--prevote",))
    try:
        probe = KVClient(list(cluster.addresses.values()))
        wait_for_leader(cluster, probe)
        figures = []
        for mode in ("log", "readindex", "lease"):
            lat = _spawn_client(["read", cluster.cluster_arg(), str(reads), mode])
            figures.append(
                f"{mode} p50 {percentile(lat, 50) * 1000:.2f} ms p99 {percentile(lat, 99) * 1000:.2f} ms"
            )
        print(f"4. one read at a time ({reads} reads each, fsync on): " + "; ".join(figures))
        probe.close()
    finally:
        cluster.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "seq":
            sequential_client(rest[0], int(rest[1]))
        elif kind == "read":
            sequential_reader(rest[0], int(rest[1]), rest[2])
        else:
            pipelined_client(rest[0], int(rest[1]), int(rest[2]), int(rest[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--only", choices=("latency", "throughput", "failover", "reads"))
    args = parser.parse_args()
    if args.only in (None, "latency"):
        bench_latency(min(args.writes, 2000))
    if args.only in (None, "throughput"):
        bench_throughput(max(args.writes, 20000), args.window)
    if args.only in (None, "failover"):
        bench_failover(args.trials)
    if args.only in (None, "reads"):
        bench_reads(args.reads)


if __name__ == "__main__":
    main()
