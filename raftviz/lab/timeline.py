"""The tree of positions a session has been through: branches, marks, and what each step was.

A *position* is a point in a session's past: the state right after one step
(an event the clock ran, or a command that changed the world). Position 0 is
the start. Every position has one parent; going back and then acting starts
a new branch and keeps the old one, as in Runway or the DSLabs debugger,
rather than throwing the old future away.

Positions are numbered globally in the order they were first reached, so a
number names one point of the whole tree (``goto 512`` is unambiguous). A
branch is the run of positions added while it was being extended; since its
numbers are increasing but not always contiguous (it can be extended again
after a visit elsewhere), it is kept as a list of ranges.

What the tree stores per position is tiny: the parent is implied by the
ranges, a plain event costs nothing, and only the rarer commands, clock
moves and marks are kept in dictionaries. So a tree of a million positions
costs a few megabytes, and replaying from a checkpoint needs nothing else:
an event is "run the next event" because every run is a pure function of
(seed, commands) (DESIGN.md §2).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

#: The root: the state before the session's first step.
ROOT = 0


@dataclass(frozen=True, slots=True)
class Step:
    """How one position was reached from its parent.

    ``command`` is the scenario command that made the step, or "" for one event
    of the clock; ``clock`` is where a stepping command (``advance``, a failed
    ``until``) left the clock after its last event, if it moved it further.
    """

    command: str = ""
    clock: int | None = None


EVENT = Step()


@dataclass(slots=True)
class Branch:
    """One line of the tree: where it forked off, and the ranges of positions on it."""

    id: int
    fork: int  # the position it grew from (ROOT for the first branch)
    ranges: list[list[int]] = field(default_factory=list)  # [lo, hi], inclusive, increasing

    @property
    def tip(self) -> int:
        return self.ranges[-1][1] if self.ranges else self.fork

    @property
    def length(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)


class Timeline:
    """Positions, their parents and steps, branches and marks."""

    def __init__(self) -> None:
        self.branches: dict[int, Branch] = {1: Branch(1, ROOT)}
        #: The position the session is at, and the branch it is following.
        self.current = ROOT
        self.branch = 1
        self.last = ROOT  # the highest position number given out
        self.marks: dict[str, int] = {}
        self._steps: dict[int, Step] = {}  # positions that are not a plain event
        # Every range of every branch by its first position, for finding a position's branch.
        self._starts: list[int] = []
        self._owners: list[tuple[int, int]] = []  # (branch id, index of the range in it)

    # ------------------------------------------------------------------ growing

    def extend(self, step: Step = EVENT) -> int:
        """Add a position after the current one and move there.

        At the tip of the branch being followed, the branch grows; anywhere
        else (after going back), a new branch starts at the current position.
        """
        branch = self.branches[self.branch]
        if self.current != branch.tip:
            branch = self._new_branch(self.current)
        self.last += 1
        position = self.last
        if branch.ranges and branch.ranges[-1][1] == position - 1:
            branch.ranges[-1][1] = position
        else:
            branch.ranges.append([position, position])
            self._starts.append(position)
            self._owners.append((branch.id, len(branch.ranges) - 1))
        if step != EVENT:
            self._steps[position] = step
        self.current = position
        return position

    def _new_branch(self, fork: int) -> Branch:
        branch = Branch(max(self.branches) + 1, fork)
        self.branches[branch.id] = branch
        self.branch = branch.id
        return branch

    def set_clock(self, position: int, clock: int) -> None:
        """Record that the step to ``position`` left the clock at ``clock`` (after its event)."""
        step = self._steps.get(position, EVENT)
        self._steps[position] = Step(step.command, clock)

    # ------------------------------------------------------------------ reading

    def step(self, position: int) -> Step:
        return self._steps.get(position, EVENT)

    def exists(self, position: int) -> bool:
        return position == ROOT or 0 < position <= self.last

    def owner(self, position: int) -> int:
        """The branch a position was added to (ROOT belongs to branch 1)."""
        if position == ROOT:
            return 1
        self._check(position)
        return self._owners[bisect.bisect_right(self._starts, position) - 1][0]

    def parent(self, position: int) -> int | None:
        if position == ROOT:
            return None
        self._check(position)
        branch_id, index = self._owners[bisect.bisect_right(self._starts, position) - 1]
        branch = self.branches[branch_id]
        lo = branch.ranges[index][0]
        if position > lo:
            return position - 1
        return branch.ranges[index - 1][1] if index else branch.fork

    def chain(self, branch_id: int) -> list[tuple[int, int]]:
        """The branches from the root to ``branch_id``, each with the last position of it on the way.

        ``[(1, 40), (3, 77), (5, tip)]``: branch 1 up to 40, where 3 forked; 3 up
        to 77, where 5 forked; then all of 5.
        """
        chain: list[tuple[int, int]] = []
        branch = self.branches[branch_id]
        limit = branch.tip
        while True:
            chain.append((branch.id, limit))
            if branch.id == 1:
                break
            limit = branch.fork
            branch = self.branches[self.owner(branch.fork)]
        chain.reverse()
        return chain

    def is_ancestor(self, ancestor: int, position: int) -> bool:
        """Whether ``ancestor`` is on the way from the root to ``position`` (or is it)."""
        if ancestor == ROOT:
            return True
        owner = self.owner(ancestor)
        for branch_id, limit in self._chain_to(position):
            if branch_id == owner:
                return ancestor <= limit
        return False

    def _chain_to(self, position: int) -> list[tuple[int, int]]:
        """Like ``chain`` for the branch that owns ``position``, cut at ``position``."""
        chain = self.chain(self.owner(position))
        branch_id, _ = chain[-1]
        chain[-1] = (branch_id, position)
        return chain

    def path(self, start: int, end: int) -> list[int]:
        """The positions after ``start`` up to and including ``end``; ``start`` must be an ancestor."""
        return [p for lo, hi in self._runs(start, end) for p in range(lo, hi + 1)]

    def distance(self, start: int, end: int) -> int:
        """``len(path(start, end))``, without listing the positions (a branch may be long)."""
        return sum(hi - lo + 1 for lo, hi in self._runs(start, end))

    def _runs(self, start: int, end: int) -> list[tuple[int, int]]:
        """The path after ``start`` up to ``end`` as runs of consecutive positions, in order."""
        if not self.is_ancestor(start, end):
            raise ValueError(f"position {start} is not on the way to {end}")
        start_owner = self.owner(start)
        runs: list[tuple[int, int]] = []  # collected from ``end`` backwards
        for branch_id, limit in reversed(self._chain_to(end)):
            branch = self.branches[branch_id]
            for lo, hi in reversed(branch.ranges):
                if lo > limit:
                    continue
                top = min(hi, limit)
                if branch_id == start_owner and start >= lo:
                    if start < top:
                        runs.append((start + 1, top))
                    runs.reverse()
                    return runs
                runs.append((lo, top))
            if start == branch.fork:
                break
        runs.reverse()
        return runs

    def ancestor(self, position: int, back: int) -> int:
        """The position ``back`` steps before ``position`` (stops at the root)."""
        for _ in range(back):
            parent = self.parent(position)
            if parent is None:
                break
            position = parent
        return position

    def forward(self) -> int | None:
        """The next recorded position on the branch being followed, if the session is behind its tip."""
        return self.next(self.current)

    def next(self, position: int) -> int | None:
        """The position after ``position`` on the way to the followed branch's tip (None past it)."""
        chain = self.chain(self.branch)
        owner = self.owner(position)
        for i, (branch_id, limit) in enumerate(chain):
            if branch_id != owner or position > limit:
                continue
            if position == limit:
                return self.branches[chain[i + 1][0]].ranges[0][0] if i + 1 < len(chain) else None
            for lo, hi in self.branches[branch_id].ranges:
                if position < hi:
                    return max(lo, position + 1)
        return None

    def go(self, position: int) -> None:
        """Make ``position`` current. The branch followed stays the same when the
        position is on it (going back keeps the future ahead reachable with ``forward``)."""
        self._check(position)
        if not self.is_ancestor(position, self.branches[self.branch].tip):
            self.branch = self.owner(position)
        self.current = position

    def mark(self, name: str, position: int | None = None) -> int:
        position = self.current if position is None else position
        self._check(position)
        self.marks[name] = position
        return position

    def marks_at(self, position: int) -> list[str]:
        return sorted(name for name, at in self.marks.items() if at == position)

    def resolve(self, target: str) -> int:
        """A mark's position, or a position number; ValueError with a clear message if neither."""
        if target in self.marks:
            return self.marks[target]
        if target.isdigit():
            position = int(target)
            if self.exists(position):
                return position
            raise ValueError(f"no position {position} (positions are 0..{self.last})")
        known = ", ".join(sorted(self.marks)) or "none yet"
        raise ValueError(f"no mark {target!r} (marks: {known})")

    def forks(self) -> set[int]:
        """Positions where a branch grew off another: kept as checkpoints, like marks."""
        return {b.fork for b in self.branches.values() if b.id != 1}

    def _check(self, position: int) -> None:
        if not self.exists(position):
            raise ValueError(f"no position {position} (positions are 0..{self.last})")
