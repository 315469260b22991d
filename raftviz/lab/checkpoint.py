"""Checkpoints: a lab's whole state, captured and restored, and which of them to keep.

A checkpoint holds everything a run depends on: every node's persistent and
volatile state and storage, the network with its in-flight messages, rules
and seeded generator, timers, clients, id counters and virtual time. Restoring
one and running on gives exactly what running on gave the first time: a run
is a pure function of its state and its inputs (DESIGN.md §2, §10).

Which to keep is a matter of memory against replay. ``CheckpointPolicy``
keeps one every ``every`` positions near the present and thins them with
distance, so the replay needed to reach a position grows like its distance
divided by ``dense``, while the number kept grows only with the logarithm of
the history's length. Marks, branch points and the root keep theirs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raftviz.lab.lab import Lab


class NotCapturable(Exception):
    """This lab's backend cannot hand over its nodes' state (history falls back to replay)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The state of a lab at one history position."""

    position: int
    state: Any
    #: About how many bytes it holds of its own (the values it shares are not counted).
    weight: int = 0


def capture(lab: Lab, position: int) -> Checkpoint:
    """The lab's complete state now. Immutable values (log entries, messages) are shared."""
    capture_backend = getattr(lab.backend, "capture", None)
    if capture_backend is None:
        raise NotCapturable(f"the {lab.options.backend} backend cannot capture its nodes' state")
    nodes = capture_backend()
    # What a backend hands over beyond the lab's own picture (udp: serialized node state).
    extra = getattr(nodes, "weight", 0)
    return Checkpoint(position, (_copy_world(lab), nodes), _weight(lab) + extra)


def _weight(lab: Lab) -> int:
    """An estimate of a checkpoint's own bytes: what grows is the logs (each node's entries
    are listed by its view, its core and its storage, with their sizes), the invariant
    checker's table of entries, the event queue and the clients' requests."""
    # Calibrated with tracemalloc on a 5-node lab with 600-entry logs (221 KB measured).
    log_refs = sum(len(view.log) for view in lab.views.values()) * 7
    requests = sum(len(client.history) for client in lab.clients.values())
    refs = log_refs + len(lab._queue) + len(lab.flights) + requests
    return 20_000 + 8 * refs + 64 * len(lab.checker.entry_at)


def _copy_world(lab: Lab) -> dict[str, Any]:
    """Every field of the lab but its backend and listeners, copied; the event queue, a
    list of tuples of numbers, needs only a new list."""
    memo: dict[int, Any] = {}
    world: dict[str, Any] = {}
    for name, value in vars(lab).items():
        if name in ("backend", "listeners"):
            continue
        world[name] = list(value) if name == "_queue" else copy.deepcopy(value, memo)
    return world


def restore(lab: Lab, checkpoint: Checkpoint) -> Lab:
    """A lab in the checkpoint's state, on ``lab``'s backend (its nodes are reloaded).

    The checkpoint itself is left untouched, so it can be restored again.
    """
    world, nodes = checkpoint.state
    restored = type(lab).__new__(type(lab))
    for name, value in _copy_world_from(world).items():
        setattr(restored, name, value)
    restored.backend = lab.backend
    restored.listeners = lab.listeners
    lab.backend.restore(nodes)  # type: ignore[attr-defined]
    return restored


def _copy_world_from(world: dict[str, Any]) -> dict[str, Any]:
    memo: dict[int, Any] = {}
    return {
        name: list(value) if name == "_queue" else copy.deepcopy(value, memo) for name, value in world.items()
    }


class CheckpointPolicy:
    """Where to take checkpoints, and which to keep as the history grows.

    ``every``: a checkpoint at each position that is a multiple of it.
    ``dense``: how many are kept at full density around the present; further
    back, the spacing doubles each time the distance does.
    """

    def __init__(self, every: int = 64, dense: int = 128, budget: int = 64 * 1024 * 1024) -> None:
        self.every = every
        self.dense = dense
        #: Bytes the checkpoints may hold together: past it, the far ones are thinned further,
        #: so memory stays flat however large the logs grow (far jumps then replay more).
        self.budget = budget

    def wanted(self, position: int) -> bool:
        return position % self.every == 0

    def keep(self, position: int, present: int) -> bool:
        """Whether a checkpoint at ``position`` is still worth its memory."""
        distance = abs(present - position)
        level = max(0, (distance // (self.every * self.dense)).bit_length())
        return (position // self.every) % (1 << level) == 0

    def thin(self, positions: Iterable[int], present: int, protected: set[int]) -> list[int]:
        """The positions whose checkpoints may go."""
        return [p for p in positions if p not in protected and not self.keep(p, present)]

    def over_budget(self, checkpoints: dict[int, Checkpoint], present: int, protected: set[int]) -> list[int]:
        """More to drop when the kept ones hold more than the budget: every second one but
        the few nearest the present (a step back stays cheap), again and again, so what is
        left still covers the history evenly (a far jump replays more, memory stays put)."""
        total = sum(c.weight for c in checkpoints.values())
        near = self.every * 8
        candidates = sorted(p for p in checkpoints if p not in protected and abs(present - p) > near)
        dropped: list[int] = []
        while total > self.budget and len(candidates) > 1:
            goners, candidates = candidates[1::2], candidates[0::2]
            for position in goners:
                total -= checkpoints[position].weight
            dropped += goners
        return dropped
