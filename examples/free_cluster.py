"""Run raftviz as a replicated key-value store: three real node processes.

Starts ``raftviz node`` three times on loopback ports (each with its own
data directory), writes and reads through ``KVClient``, kills the leader
with SIGKILL, shows a new leader taking over, restarts the old one and shows
it catching up. Everything it starts is stopped when it ends. Run it:

    python examples/free_cluster.py
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from raftviz.node.client import KVClient


def free_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def leader_of(client: KVClient) -> int:
    """Poll the nodes until exactly one says it is leader (free mode runs on real time)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        leaders = [s.src for s in client.statuses(wait=0.2) if s is not None and s.role == "leader"]
        if len(leaders) == 1:
            return leaders[0]
    raise SystemExit("no leader within 10 s")


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="raftviz-example-"))
    ports = free_ports(3)
    peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in enumerate(ports, start=1))
    procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(node: int) -> None:
        command = [sys.executable, "-m", "raftviz", "node", "--id", str(node), "--peers", peers,
                   "--data", str(root / f"node{node}")]  # fmt: skip
        procs[node] = subprocess.Popen(command, stderr=subprocess.DEVNULL)

    client = KVClient([("127.0.0.1", p) for p in ports], timeout=5)
    try:
        for node in (1, 2, 3):
            start(node)
        first = leader_of(client)
        print(f"node {first} leads (data under {root})")
        client.request("put", "greeting", "hello")
        print("put greeting=hello ->", client.request("get", "greeting"))

        procs.pop(first).send_signal(signal.SIGKILL)
        t = time.monotonic()
        # Ask only the survivors, so no poll waits for the dead node's answer.
        survivors = KVClient([("127.0.0.1", p) for i, p in enumerate(ports, start=1) if i != first])
        second = leader_of(survivors)
        survivors.close()
        print(f"killed node {first}; node {second} leads after {1000 * (time.monotonic() - t):.0f} ms")
        client.request("append", "greeting", ", world")
        print("after the fail-over:", client.request("get", "greeting"))

        start(first)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = {s.src: s for s in client.statuses(wait=0.2) if s is not None}
            if first in status and status[first].commit >= status[second].commit:
                print(f"node {first} restarted and caught up to commit={status[first].commit}")
                break
    finally:
        client.close()
        for proc in procs.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
