"""A key-value client for a free-running raftviz cluster (``raftviz kv``).

Before its first request it registers (RegisterClient, dissertation §6.3):
the cluster answers with a fresh session id, which the client then sends
under with ``seq`` 1, 2, 3, ... It sends a ``ClientRequest`` datagram to the
node it believes leads, follows leader hints, and on silence tries the next
node — always with the same session id and sequence number, so a request
retried after a lost answer is applied only once. A ``SESSION_EXPIRED``
answer makes it register again and resend. It gives up with
``NoLeaderError`` when no leader has answered within the timeout. The rules
it follows are docs/protocol.md's (ClientRequest, "Client sessions").
"""

from __future__ import annotations

import os
import socket
import time

from raftviz.core.messages import (
    SESSION_EXPIRED,
    ClientReply,
    ClientRequest,
    Command,
    StatusReply,
    StatusRequest,
    TransferRequest,
)
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
        # Free mode is not reproducible anyway; a random name keeps registrations apart.
        self.name = client_id or f"kv-{os.urandom(6).hex()}"
        #: The session id the cluster gave (RegisterClient); "" until the first request.
        self.id = ""
        self.seq = 0
        self.target = 0  # index into cluster
        #: Where the rotation over the cluster stands: hints move ``target``, never this,
        #: so nodes hinting at each other's stale leaders cannot keep a request from the rest.
        self.rotation = 0
        #: Node id -> index into cluster, as learned from who answered from where.
        self.positions: dict[int, int] = {}
        self.secret = secret
        #: The (client, seq) of the request being sent, whose answer ``_await_reply`` waits for.
        self.awaited_by, self.seq_awaited = "", 0
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

    def register(self, give_up: float, what: str = "register") -> None:
        """Open a new session (RegisterClient): ``id`` becomes the cluster's answer.

        ``what`` names, in a NoLeaderError, the request the session is for."""
        reply = self._call(Command("register", client=self.name), give_up, what)
        if not reply.ok or reply.error or not reply.value:
            raise RequestError(reply.error or "the cluster gave no session id")
        self.id, self.seq = reply.value, 0

    def request(self, op: str, key: str, value: str = "", read: str = "") -> str | None:
        """Run one command to completion; its result (the value read, for get).

        ``read`` (a get only): ``"readindex"`` or ``"lease"`` reads without a log entry
        (docs/protocol.md, "Reads without the log"); ``""`` reads through the log.
        """
        give_up = time.monotonic() + self.timeout
        for _ in range(3):  # a session that expires twice in one request: something is wrong
            if not self.id:
                self.register(give_up, f"{op} {key}")
            self.seq += 1
            # No other request of this client is outstanding, so ``low`` is ``seq``.
            reply = self._call(Command(op, key, value, self.id, self.seq, self.seq), give_up, read=read)
            if reply.error == SESSION_EXPIRED:
                self.id = ""
                continue
            if reply.error:
                raise RequestError(reply.error)
            return reply.value
        raise RequestError("the session expired again and again")

    def transfer(self, target: int) -> None:
        """Ask the leader to hand leadership to node ``target`` (dissertation §3.10).

        Returns once the leader has started the transfer (it completes, or aborts,
        within an election timeout: ``kv status`` shows which); RequestError if refused.
        """
        give_up = time.monotonic() + self.timeout
        data = datagram.encode(TransferRequest(src=self.name, dst=1, target=target))
        reply = self._exchange(data, self.name, 0, f"transfer {target}", give_up)
        if not reply.ok:
            raise RequestError(reply.error)

    def _call(self, command: Command, give_up: float, what: str = "", read: str = "") -> ClientReply:
        """Send ``command`` until a node answers it (``ok``, or with an error); NoLeaderError if none does."""
        data = datagram.encode(ClientRequest(src=command.client, dst=1, command=command, read=read))
        return self._exchange(
            data, command.client, command.seq, what or f"{command.op} {command.key}", give_up
        )

    def _exchange(self, data: bytes, client: str, seq: int, what: str, give_up: float) -> ClientReply:
        """Send ``data`` until a node answers (``ok``, or with an error), following leader hints."""
        self.seq_awaited, self.awaited_by = seq, client
        while time.monotonic() < give_up:
            address = self.cluster[self.target]
            # dst is informational for a node; the address is what routes it.
            self._send(data, address)
            reply = self._await_reply(min(give_up, time.monotonic() + ATTEMPT_TIMEOUT))
            if reply is None:
                self.target = self.rotation = (self.rotation + 1) % len(self.cluster)
                continue
            if reply.ok or reply.error:
                return reply
            hint = self._position(reply.leader_hint)
            if hint is not None and hint != self.target:
                self.target = hint
            else:
                time.sleep(0.05)  # an election is under way: give it a moment
                self.target = self.rotation = (self.rotation + 1) % len(self.cluster)
        silence = "" if self.heard else f" (no node answered at all: {self.silence_hint()})"
        raise NoLeaderError(f"no leader answered {what} within {self.timeout:g} s{silence}")

    def statuses(self, wait: float = 0.5) -> list[StatusReply | None]:
        """Ask every node for its state; None for a node that did not answer."""
        answers: dict[tuple[str, int], StatusReply] = {}
        for address in self.cluster:
            self._send(datagram.encode(StatusRequest(src=self.name, dst=1)), address)
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
            if isinstance(msg, ClientReply) and msg.dst == self.awaited_by:
                if addr in self.cluster:
                    self.positions[msg.src] = self.cluster.index(addr)
                if msg.seq == self.seq_awaited:
                    return msg
