"""The lab's network: in-flight messages, link rules, latency and loss.

Every datagram a node sends becomes a ``Flight`` with an id, its decoded
content and a delivery time drawn from the seeded latency model. Whether it
arrives is decided when it is due: a message crossing a partition or a cut
link at that moment is lost, like a real packet on a broken path. Loss is
drawn from the same seeded generator when the message is sent.
"""

from __future__ import annotations

import random

from raftviz.core.messages import Address, Message
from raftviz.wire import datagram


class Flight:
    """One message in flight from ``src`` to ``dst``.

    A flight holds its datagram, its message, or both. The datagram is decoded
    only when someone looks at the message (the transcript, the UI, a client);
    a message an in-process node sent (raftviz.lab.backend) is encoded only when
    someone asks for its bytes (``payload`` hands it on without either).
    """

    __slots__ = ("id", "src", "dst", "_data", "sent_at", "deliver_at", "_msg")

    def __init__(
        self,
        id: int,
        src: Address,
        dst: Address,
        data: bytes | None,
        sent_at: int,
        deliver_at: int,
        msg: Message | None = None,
    ) -> None:
        """``msg``: the message ``data`` encodes, if the sender has it (it is then not decoded);
        ``data`` None: only the message is known (it is then encoded if its bytes are asked for)."""
        assert data is not None or msg is not None, "a flight carries a datagram or a message"
        self.id = id
        self.src = src
        self.dst = dst
        self._data = data
        self.sent_at = sent_at
        self.deliver_at = deliver_at
        self._msg = msg

    def __deepcopy__(self, memo: dict[int, object]) -> Flight:
        # Once it is on its way (its delivery time set) a flight never changes, so a
        # checkpoint shares it (the decoded message is a cache, the same either way).
        return self

    @property
    def msg(self) -> Message:
        if self._msg is None:
            assert self._data is not None
            self._msg = datagram.decode(self._data)
        return self._msg

    @property
    def data(self) -> bytes:
        """The datagram (encoded from the message, the first time, if the sender kept only that)."""
        if self._data is None:
            assert self._msg is not None
            self._data = datagram.encode(self._msg)
        return self._data

    @property
    def payload(self) -> bytes | Message:
        """What a backend's ``deliver`` takes: the datagram, or the message if no datagram was made."""
        return self._data if self._data is not None else self._msg  # type: ignore[return-value]


class Network:
    """Link rules between nodes, and the latency and loss models.

    Clients are outside the partitions: a client reaches every node and every
    node reaches every client, so a partition cuts only node-to-node links.
    """

    def __init__(self, rng: random.Random, latency: tuple[int, int], loss: float = 0.0) -> None:
        self.rng = rng
        self.latency = latency
        self.loss = loss
        #: Groups of a partition (empty: no partition). Nodes outside every
        #: group form a group of their own.
        self.groups: list[frozenset[int]] = []
        #: One-way cuts (src, dst).
        self.cuts: set[tuple[int, int]] = set()

    def sample_latency(self) -> int:
        lo, hi = self.latency
        # randrange(lo, hi + 1) is what randint(lo, hi) calls: the same draw, one call
        # fewer (one per message), as ServerState._reset_election_timer draws its timeout.
        return lo if lo == hi else self.rng.randrange(lo, hi + 1)

    def sample_loss(self) -> bool:
        """Decide (deterministically, from the seeded generator) whether a send is lost."""
        return self.loss > 0 and self.rng.random() < self.loss

    def connected(self, src: Address, dst: Address) -> bool:
        """Can a message from ``src`` reach ``dst`` right now?"""
        if not isinstance(src, int) or not isinstance(dst, int):
            return True
        if (src, dst) in self.cuts:
            return False
        if self.groups:
            return self._group_of(src) == self._group_of(dst)
        return True

    def _group_of(self, node: int) -> int:
        for i, group in enumerate(self.groups):
            if node in group:
                return i
        return -1

    def partition(self, groups: list[frozenset[int]]) -> None:
        self.groups = groups

    def cut(self, src: int, dst: int) -> None:
        self.cuts.add((src, dst))

    def heal_link(self, src: int, dst: int) -> None:
        self.cuts.discard((src, dst))

    def heal(self) -> None:
        self.groups = []
        self.cuts.clear()

    def describe(self) -> str:
        """The current rules in the scenario language's own words."""
        parts = []
        if self.groups:
            parts.append("partition " + " | ".join(",".join(map(str, sorted(g))) for g in self.groups))
        if self.cuts:
            parts.append("cut " + " ".join(f"{a}->{b}" for a, b in sorted(self.cuts)))
        return "; ".join(parts) if parts else "connected"
