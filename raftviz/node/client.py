"""A key-value client for a free-running raftviz cluster (``raftviz kv``).

It sends a ``ClientRequest`` datagram to the node it believes leads, follows
leader hints, and on silence tries the next node — always with the same
client id and sequence number, so a request retried after a lost answer is
applied only once (dissertation §6.3). It gives up with ``NoLeaderError``
when no leader has answered within the timeout.
"""

from __future__ import annotations

import os
import socket
import time

from raftviz.core.messages import ClientReply, ClientRequest, Command, StatusReply, StatusRequest
from raftviz.wire import auth, datagram
from raftviz.wire.validate import MAX_DATAGRAM, WireError

#: How long to wait for one node before trying another.
ATTEMPT_TIMEOUT = 0.3


class NoLeaderError(Exception):
    """No leader answered within the client's timeout."""


class RequestError(Exception):
    """The cluster refused the request (too large, malformed...)."""


class KVClient:
    """One client session: a unique id and increasing sequence numbers."""

    def __init__(
        self, cluster: list[tuple[str, int]], timeout: float = 5.0, client_id: str = "", secret: bytes = b""
    ) -> None:
        """``secret`` is the cluster's (``--secret-file``): b"" if its nodes use none."""
        if not cluster:
            raise ValueError("a client needs at least one node address")
        self.cluster = [(socket.gethostbyname(h), p) for h, p in cluster]
        self.timeout = timeout
        # Free mode is not reproducible anyway; a random id keeps sessions apart.
        self.id = client_id or f"kv-{os.urandom(6).hex()}"
        self.seq = 0
        self.target = 0  # index into cluster
        #: Where the rotation over the cluster stands: hints move ``target``, never this,
        #: so nodes hinting at each other's stale leaders cannot keep a request from the rest.
        self.rotation = 0
        #: Node id -> index into cluster, as learned from who answered from where.
        self.positions: dict[int, int] = {}
        self.secret = secret
        #: Whether any node has answered at all (silence has a likely cause to name).
        self.heard = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))

    def close(self) -> None:
        self.sock.close()

    def silence_hint(self) -> str:
        """Why no node may have answered: not running, or a secret that does not match theirs."""
        if self.secret:
            return (
                "are the nodes running, with this --secret-file? A node with another secret, or none, "
                "drops requests it cannot authenticate without an answer"
            )
        return (
            "are the nodes running? If they use --secret-file, give kv the same one: "
            "they drop requests that are not authenticated without an answer"
        )

    def _send(self, data: bytes, address: tuple[str, int]) -> None:
        self.sock.sendto(auth.seal(self.secret, data) if self.secret else data, address)

    def _receive(self) -> tuple[object, tuple[str, int]] | None:
        """One datagram's message and its sender; None if it is not a valid (authenticated) one."""
        data, addr = self.sock.recvfrom(MAX_DATAGRAM + auth.TAG_SIZE + 1)
        if self.secret:
            message = auth.unseal(self.secret, data)
            if message is None:
                return None
            data = message
        try:
            msg = datagram.decode(data)
        except WireError:
            return None
        self.heard = True
        return msg, addr

    def request(self, op: str, key: str, value: str = "") -> str | None:
        """Run one command to completion; its result (the value read, for get)."""
        self.seq += 1
        command = Command(op, key, value, self.id, self.seq, self.seq)
        data = datagram.encode(ClientRequest(src=self.id, dst=1, command=command))
        give_up = time.monotonic() + self.timeout
        while time.monotonic() < give_up:
            address = self.cluster[self.target]
            # dst is informational for a node; the address is what routes it.
            self._send(data, address)
            reply = self._await_reply(min(give_up, time.monotonic() + ATTEMPT_TIMEOUT))
            if reply is None:
                self.target = self.rotation = (self.rotation + 1) % len(self.cluster)
                continue
            if reply.ok:
                if reply.error:
                    raise RequestError(reply.error)
                return reply.value
            if reply.error:
                raise RequestError(reply.error)
            hint = self._position(reply.leader_hint)
            if hint is not None and hint != self.target:
                self.target = hint
            else:
                time.sleep(0.05)  # an election is under way: give it a moment
                self.target = self.rotation = (self.rotation + 1) % len(self.cluster)
        silence = "" if self.heard else f" (no node answered at all: {self.silence_hint()})"
        raise NoLeaderError(f"no leader answered {op} {key} within {self.timeout:g} s{silence}")

    def statuses(self, wait: float = 0.5) -> list[StatusReply | None]:
        """Ask every node for its state; None for a node that did not answer."""
        answers: dict[tuple[str, int], StatusReply] = {}
        for address in self.cluster:
            self._send(datagram.encode(StatusRequest(src=self.id, dst=1)), address)
        until = time.monotonic() + wait
        while len(answers) < len(self.cluster) and time.monotonic() < until:
            self.sock.settimeout(max(until - time.monotonic(), 0.001))
            try:
                received = self._receive()
            except TimeoutError:
                break
            if received is None:
                continue
            msg, addr = received
            if isinstance(msg, StatusReply):
                answers[addr] = msg
        return [answers.get(address) for address in self.cluster]

    def _position(self, node: int) -> int | None:
        """Where node ``node`` is in the cluster list: learned from the replies
        seen so far, else assumed from id order (the list given in id order)."""
        if node in self.positions:
            return self.positions[node]
        return node - 1 if 0 < node <= len(self.cluster) else None

    def _await_reply(self, until: float) -> ClientReply | None:
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                received = self._receive()
            except TimeoutError:
                return None
            if received is None:
                continue
            msg, addr = received
            if isinstance(msg, ClientReply) and msg.dst == self.id:
                if addr in self.cluster:
                    self.positions[msg.src] = self.cluster.index(addr)
                if msg.seq == self.seq:
                    return msg
