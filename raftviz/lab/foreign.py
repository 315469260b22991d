"""Checkpoints of a foreign node: its data directory when it started, and its inputs since.

A node started by a node command (``node="CMD"``, docs/protocol.md §7.8) need
not implement GetState/LoadState, so the lab cannot ask it for its state. It
can rebuild it instead: a lab-mode node is a pure function of its data
directory, its start-up arguments and the inputs the lab hands it (§7.5). So
the udp backend keeps, for each foreign process, a ``Lifetime``: the files of
its data directory when it was spawned, its incarnation and start time, and
every input since; a checkpoint holds a ``Replay`` of it (the inputs shared,
only their count its own). Restoring restarts the node on a copy of those
files and hands it the same inputs again, discarding what it sends: the
lab's own picture of the network already holds that.

Memory: the inputs of a process's life are kept until it stops (a crash or a
restore replaces them); checkpoints share one list per life.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftviz.wire import control

#: One input as the lab handed it: ("deliver", now, datagram), ("fire", now, b""),
#: ("timeout", now, b"") or ("election", deadline, b"").
Input = tuple[str, int, bytes]


@dataclass(slots=True)
class Lifetime:
    """A running foreign process, as far as rebuilding it needs."""

    #: Its data directory's files when it was spawned (names and bytes).
    files: tuple[tuple[str, bytes], ...]
    incarnation: int
    #: The lab's virtual time at its start (``--now``).
    now: int
    #: The terms of its log as the lab knew them at its start (udp_backend checks reports against them).
    terms: tuple[int, ...]
    inputs: list[Input] = field(default_factory=list)

    def replay(self) -> Replay:
        """What a checkpoint keeps: the same list of inputs, and how many of them are in it."""
        return Replay(self.files, self.incarnation, self.now, self.terms, self.inputs, len(self.inputs))


@dataclass(frozen=True, slots=True)
class Replay:
    """A foreign node at a checkpoint: its start, and its first ``count`` inputs.

    ``inputs`` is the live list, shared (it only grows while its process lives);
    never consumed, so a checkpoint may be restored any number of times.
    """

    files: tuple[tuple[str, bytes], ...]
    incarnation: int
    now: int
    terms: tuple[int, ...]
    inputs: list[Input]
    count: int

    @property
    def weight(self) -> int:
        """Bytes of its own (the inputs are shared with the life and other checkpoints)."""
        return sum(len(data) for _, data in self.files)

    def life(self) -> Lifetime:
        """A new life that starts where this checkpoint's did, with its inputs so far."""
        return Lifetime(self.files, self.incarnation, self.now, self.terms, list(self.inputs[: self.count]))


def frame_of(kind: str, at: int, data: bytes) -> control.ControlFrame:
    """The control frame that hands a node this input (a Deliver's datagram follows it by UDP)."""
    if kind == "deliver":
        return control.Deliver(at, control.digest(data))
    if kind == "fire":
        return control.Fire(at)
    if kind == "timeout":
        return control.ForceTimeout(at)
    if kind == "election":
        return control.SetElection(at)
    raise ValueError(f"no input {kind!r}")
