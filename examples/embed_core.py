"""Embed raftviz's Raft core in your own event loop.

The core (``raftviz.core.raft.RaftNode``) is a pure state machine: you give it
messages and timer firings with the current time, and collect what it wants
done with ``ready()``: state to persist, messages to send, entries applied.
Here three nodes live in one process and a tiny seeded "network" delivers
their messages after 5 ms. Run it:

    python examples/embed_core.py
"""

from __future__ import annotations

import heapq
import random

from raftviz.core.config import RaftConfig
from raftviz.core.messages import ClientReply, ClientRequest, Command
from raftviz.core.raft import RaftNode

LATENCY_MS = 5


def main() -> None:
    ids = (1, 2, 3)
    config = RaftConfig()
    nodes = {i: RaftNode(i, ids, config, random.Random(i), now=0) for i in ids}
    disk = {i: [] for i in ids}  # stand-in for durable storage: what each node persisted
    inbox: list[tuple[int, int, object]] = []  # (deliver at, sequence, message)
    seq = 0
    now = 0
    answers: list[ClientReply] = []

    def carry_out(node: RaftNode) -> None:
        """Do what the core asks, in the order Raft requires: persist, then send."""
        nonlocal seq
        ready = node.ready()
        if ready.hard_state is not None or ready.log_from:
            disk[node.id].append((ready.hard_state, ready.log_from, list(ready.entries)))
        for msg in ready.messages:
            seq += 1
            heapq.heappush(inbox, (now + LATENCY_MS, seq, msg))

    submitted = False
    stop_at = 2000  # virtual ms; once answered, run a heartbeat more so followers commit too
    while now < stop_at:
        # The next thing to happen: a message arriving or a node's timer.
        next_msg = inbox[0][0] if inbox else None
        next_timer = min(n.next_deadline() for n in nodes.values())
        now = min(t for t in (next_msg, next_timer) if t is not None)
        while inbox and inbox[0][0] == now:
            _, _, msg = heapq.heappop(inbox)
            if isinstance(msg, ClientReply):
                answers.append(msg)
                print(f"t={now}: the client's put was answered: ok={msg.ok}")
                stop_at = now + config.heartbeat + 2 * LATENCY_MS
                continue
            nodes[msg.dst].step(msg, now)
            carry_out(nodes[msg.dst])
        for node in nodes.values():
            if node.next_deadline() <= now:
                node.tick(now)
                carry_out(node)
        leader = next((n for n in nodes.values() if n.role == "leader"), None)
        if leader is not None and not submitted:
            print(f"t={now}: node {leader.id} is leader of term {leader.current_term}")
            request = ClientRequest(src="c1", dst=leader.id, command=Command("put", "x", "42", "c1", 1, 1))
            leader.step(request, now)
            carry_out(leader)
            submitted = True

    for node in nodes.values():
        print(f"node {node.id}: role={node.role} commit={node.commit_index} kv={node.kv.data}")
    print(f"node 1 persisted {len(disk[1])} times before sending")


if __name__ == "__main__":
    main()
