"""The lab's key-value clients.

A client request is an ordinary message from a client id (``c1``) to a node.
The client keeps retrying it, always with the same client id and sequence
number, until a node answers it: at once to the leader a node hints at, or to
the next node in id order when its retry timer runs out (§8 of the paper,
dissertation §6.3). Each request records when it was sent and answered, which
is the client history a linearizability check needs.

With session expiry on (``cluster ... sessions=SECONDS``), a client first
registers (RegisterClient, dissertation §6.3): its requests wait (``held``)
until the cluster has answered with a session id, and are then sent under that
id with ``seq`` 1, 2, 3, ... A request answered ``SESSION_EXPIRED`` goes back
to waiting, and the client registers again. Without expiry a client sends
under its own name at once, as the lessons before sessions did.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from raftviz.core.messages import ClientReply, Command


@dataclass(slots=True)
class Request:
    """One client request and its fate."""

    client: str
    seq: int
    command: Command
    issued_at: int
    target: int  # the node it was last sent to
    deadline: int  # when the client gives up on ``target`` and tries another
    #: The node the id-order rotation stands at. A leader hint moves ``target``, never
    #: this: were hints to move the rotation, two nodes hinting at each other's stale
    #: leaders could keep a request from ever reaching the node after them in id order.
    rotation: int = 0
    attempts: int = 1
    answered_at: int = -1
    result: str | None = None
    error: str = ""
    #: Part of a bulk load (``writes``): its answer is not announced one by one.
    quiet: bool = False
    #: Its number in the live linearizability check (0: not checked).
    checked_as: int = 0
    #: How a get is read: "" through the log, "readindex" or "lease" (ClientRequest.read).
    read: str = ""

    @property
    def done(self) -> bool:
        return self.answered_at >= 0

    def __deepcopy__(self, memo: dict[int, object]) -> Request:
        # An answered request never changes again, so a checkpoint shares it; one still
        # waiting is copied (its fields are immutable values, so a shallow copy is whole).
        return self if self.done else copy.copy(self)

    def describe(self) -> str:
        cmd = self.command
        # A request still waiting for a session (seq 0) has no number yet.
        number = f"#{self.seq}" if self.seq or cmd.op == "register" else ""
        text = f"{self.client}{number} {cmd.op} {cmd.key}".rstrip()
        if cmd.op in ("put", "append"):
            text += f" {cmd.value}"
        if self.read:
            text += f" read={self.read}"
        return text

    def outcome(self) -> str:
        if self.error:
            return f"error: {self.error}"
        if self.command.op in ("get", "register"):
            return "(none)" if self.result is None else repr(self.result)
        return "ok"


@dataclass(slots=True)
class Client:
    """A client: its id, its next sequence number, what it believes, what it awaits."""

    id: str
    next_seq: int = 1
    leader_guess: int = 0
    outstanding: dict[int, Request] = field(default_factory=dict)
    history: list[Request] = field(default_factory=list)
    #: Keep only the latest ``keep`` to ``2 * keep`` requests in ``history`` (0: keep all),
    #: so a long run's memory stays flat (LabOptions.client_history). A check of a whole
    #: history after the run (tests/lab/test_lab_linearizability.py) needs them all.
    keep: int = 0
    #: The session id the cluster gave this client (RegisterClient); "" while it has none.
    session: str = ""
    #: Requests waiting for a session to be sent under, in issue order.
    held: list[Request] = field(default_factory=list)

    @property
    def sender(self) -> str:
        """The id its requests travel under: its session's, else its own name."""
        return self.session or self.id

    @property
    def registering(self) -> bool:
        return 0 in self.outstanding

    @property
    def low(self) -> int:
        """The lowest sequence number still awaiting an answer."""
        return min((seq for seq in self.outstanding if seq), default=self.next_seq)

    def issue(
        self, op: str, key: str, value: str, target: int, now: int, timeout: int, read: str = ""
    ) -> Request:
        request = Request(
            self.id, 0, Command(op, key, value), now, target, now + timeout, rotation=target, read=read
        )
        self._bind(request)
        self._remember(request)
        return request

    def hold(self, op: str, key: str, value: str, now: int, read: str = "") -> Request:
        """A request that waits for a session (``release`` sends it)."""
        request = Request(self.id, 0, Command(op, key, value), now, 0, 0, read=read)
        self.held.append(request)
        self._remember(request)
        return request

    def _remember(self, request: Request) -> None:
        self.history.append(request)
        if self.keep and len(self.history) >= 2 * self.keep:
            del self.history[: len(self.history) - self.keep]  # amortised O(1) per request

    def register(self, target: int, now: int, timeout: int) -> Request:
        """The RegisterClient request (seq 0) that opens a new session."""
        self.session = ""
        command = Command("register", client=self.id)
        request = Request(self.id, 0, command, now, target, now + timeout, rotation=target)
        self.outstanding[0] = request
        return request

    def release(self, session: str, now: int, timeout: int) -> list[Request]:
        """The cluster gave session ``session``: the held requests get their seqs, to be sent."""
        self.session = session
        self.next_seq = 1
        released, self.held = self.held, []
        for request in released:
            target = self.leader_guess or request.target or request.rotation
            request.target = request.rotation = target
            request.deadline = now + timeout
            self._bind(request)
        return released

    def expired(self) -> None:
        """The cluster no longer holds this client's session: every request waits for a new one."""
        waiting = [r for seq, r in sorted(self.outstanding.items()) if seq]
        self.outstanding = {seq: r for seq, r in self.outstanding.items() if not seq}
        self.session = ""
        self.held[:0] = waiting

    def _bind(self, request: Request) -> None:
        seq = self.next_seq
        self.next_seq += 1
        # ``low`` is computed before this request joins the outstanding set,
        # and it never exceeds ``seq`` itself.
        low = min(self.low, seq)
        c = request.command
        request.seq = seq
        request.command = Command(c.op, c.key, c.value, self.sender, seq, low)
        self.outstanding[seq] = request

    def on_reply(self, reply: ClientReply, now: int, timeout: int) -> tuple[Request | None, int]:
        """Handle a reply. Returns (request answered or None, node to resend to or 0)."""
        request = self.outstanding.get(reply.seq)
        if request is None or request.command.client != reply.dst:
            return None, 0  # a late or duplicate answer (or one to a session given up)
        if reply.ok:
            request.answered_at = now
            request.result = reply.value
            request.error = reply.error
            del self.outstanding[reply.seq]
            self.leader_guess = reply.src
            return request, 0
        if reply.error:
            # Refused outright (too large, malformed): retrying cannot help.
            request.answered_at = now
            request.error = reply.error
            del self.outstanding[reply.seq]
            return request, 0
        if reply.leader_hint and reply.leader_hint != reply.src:
            self.leader_guess = reply.leader_hint
            request.target = reply.leader_hint
            request.deadline = now + timeout
            request.attempts += 1
            return None, reply.leader_hint
        return None, 0

    def on_timeout(self, request: Request, nodes: list[int], now: int, timeout: int) -> int:
        """The target did not answer in time: try the next node in id order."""
        self.leader_guess = 0
        later = [n for n in nodes if n > request.rotation]
        request.rotation = request.target = later[0] if later else nodes[0]
        request.deadline = now + timeout
        request.attempts += 1
        return request.target
