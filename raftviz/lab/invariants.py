"""The cluster-wide invariant checker, run after every step.

It checks the safety properties of Figure 3 of the Raft paper on the lab's
mirror of every node, both on the current state and against what came before
(in the manner of LogCabin's ``RaftConsensusInvariants``):

- Election Safety: at most one leader per term.
- Leader Append-Only: a leader never overwrites or deletes its own entries.
- Log Matching: an (index, term) pair always names the same entry with the
  same predecessor term, so two logs that share it share the whole prefix.
  Checked incrementally: each new entry is compared with the first one ever
  seen at its (index, term).
- Leader Completeness: a leader of term T holds every entry committed before T.
- State Machine Safety: every node commits (and so applies) the same entry at
  each index.
- Per node: the term never decreases (not even across a restart), and the
  commit index never decreases within one incarnation.
- Membership (dissertation ch. 4): a leader is a voter of the configuration
  it uses when it wins; each configuration entry changes the voters by at most
  one server from the configuration before it in the log; and a leader's log
  never holds more than one uncommitted configuration entry (one change at a
  time). Election Safety above is checked across every node, whatever
  configuration each believes in, which covers "at most one leader per term
  among the voters of any configuration in use".

Entries below a node's snapshot are gone from its log; they were committed,
so what they held was already checked when it was written and committed. The
checker forgets what it learnt about indexes that no node holds any more.

Each violation names the invariant, the step, the time and the nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftviz.core.membership import Configuration, configuration_of
from raftviz.core.messages import Command
from raftviz.lab.views import NodeView


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    step: int
    time: int
    nodes: tuple[int, ...]
    detail: str

    def describe(self) -> str:
        nodes = ",".join(map(str, self.nodes))
        return f"{self.invariant} violated at step {self.step} (t={self.time}, nodes {nodes}): {self.detail}"


@dataclass(frozen=True, slots=True)
class Before:
    """What the checker needs to remember of a node from before a step."""

    alive: bool
    incarnation: int
    role: str
    term: int
    commit: int
    last_index: int

    @staticmethod
    def of(view: NodeView) -> Before:
        return Before(view.alive, view.incarnation, view.role, view.term, view.commit, view.last_index)


class InvariantChecker:
    """Accumulates what the whole history has shown and checks each change against it."""

    def __init__(self) -> None:
        self.leader_of_term: dict[int, int] = {}
        #: (index, term) -> (command, term of the previous entry)
        self.entry_at: dict[tuple[int, int], tuple[Command, int]] = {}
        #: The committed prefix: committed_terms[i-1-base]/committed_cmds[i-1-base]
        #: for index i, and the term in which each index was first known to be committed.
        self.committed_terms: list[int] = []
        self.committed_cmds: list[Command | None] = []  # None: compacted before it was seen
        self.commit_term: list[int] = []
        #: Indexes up to ``base`` have been forgotten (every node compacted them).
        self.base = 0
        self.max_term: dict[int, int] = {}
        #: Per leader (while it leads, in one life and term): the indexes of the
        #: configuration entries in its log found so far, and the last index
        #: scanned, so each entry is looked at once, not once per append.
        self.leader_configs: dict[int, tuple[list[int], int]] = {}

    def __deepcopy__(self, memo: dict[int, object]) -> InvariantChecker:
        """A copy for a checkpoint: new containers over the same immutable items (the
        only mutable ones are the per-leader lists of configuration indexes)."""
        copy = InvariantChecker.__new__(InvariantChecker)
        for name, value in vars(self).items():
            setattr(copy, name, value.copy() if isinstance(value, (list, dict)) else value)
        copy.leader_configs = {n: (list(found), upto) for n, (found, upto) in self.leader_configs.items()}
        return copy

    @property
    def committed(self) -> int:
        """The highest index known to be committed."""
        return self.base + len(self.committed_terms)

    def prune(self, below: int) -> None:
        """Forget indexes up to ``below``: no node holds them in its log any more."""
        if below <= self.base:
            return
        drop = min(below, self.committed) - self.base
        del self.committed_terms[:drop], self.committed_cmds[:drop], self.commit_term[:drop]
        self.base += drop
        self.entry_at = {k: v for k, v in self.entry_at.items() if k[0] > below}

    def check(self, view: NodeView, before: Before, log_from: int, step: int, time: int) -> list[Violation]:
        """Check one node's change during a step; ``log_from`` is its reported log change."""
        found: list[Violation] = []

        def fail(invariant: str, detail: str, *others: int) -> None:
            found.append(Violation(invariant, step, time, tuple(sorted({view.id, *others})), detail))

        # Per node: terms never go back, commit never goes back within an incarnation.
        if view.term < self.max_term.get(view.id, 0):
            fail(
                "Term Monotonicity", f"node {view.id} term went from {self.max_term[view.id]} to {view.term}"
            )
        self.max_term[view.id] = max(self.max_term.get(view.id, 0), view.term)
        same_life = before.alive and view.alive and before.incarnation == view.incarnation
        if same_life and view.commit < before.commit:
            fail(
                "Commit Monotonicity",
                f"node {view.id} commit index went from {before.commit} to {view.commit}",
            )

        # Leader Append-Only.
        if (
            same_life
            and before.role == "leader"
            and view.role == "leader"
            and before.term == view.term
            and log_from
            and log_from <= before.last_index
        ):
            fail("Leader Append-Only", f"leader {view.id} rewrote its log from index {log_from}")

        # Log Matching, incrementally over the entries this step wrote.
        if log_from:
            for index in range(max(log_from, view.log.start_index + 1), view.last_index + 1):
                entry = view.log.entry(index)
                prev_term = view.term_at(index - 1)
                if entry.command.op == "config":
                    found.extend(self._check_change(view, index, step, time))
                key = (index, entry.term)
                seen = self.entry_at.get(key)
                if seen is None:
                    self.entry_at[key] = (entry.command, prev_term)
                elif seen != (entry.command, prev_term):
                    fail(
                        "Log Matching",
                        f"node {view.id} holds index {index} term {entry.term} as "
                        f"{entry.command.describe()!r} after term {prev_term}, but it was first seen as "
                        f"{seen[0].describe()!r} after term {seen[1]}",
                    )

        # State Machine Safety: what this node commits agrees with what anyone committed.
        if view.alive and view.commit > (before.commit if same_life else 0):
            lo = max((before.commit if same_life else 0), self.base) + 1
            for index in range(lo, view.commit + 1):
                # An entry committed and compacted in the same step is known only as committed.
                entry = view.log.entry(index) if index > view.log.start_index else None
                if index > self.committed:
                    self.committed_terms.append(entry.term if entry else -1)
                    self.committed_cmds.append(entry.command if entry else None)
                    self.commit_term.append(view.term)
                    continue
                at = index - 1 - self.base
                if entry is None:
                    continue
                if self.committed_terms[at] < 0:
                    self.committed_terms[at], self.committed_cmds[at] = entry.term, entry.command
                elif (self.committed_terms[at], self.committed_cmds[at]) != (entry.term, entry.command):
                    was = self.committed_cmds[at]
                    fail(
                        "State Machine Safety",
                        f"node {view.id} committed {entry.command.describe()!r} (term {entry.term}) "
                        f"at index {index}, where {was.describe() if was else '?'!r} "
                        f"(term {self.committed_terms[at]}) was committed before",
                    )
                    break

        # Election Safety and Leader Completeness, for a node that is leader now.
        if view.alive and view.role == "leader":
            holder = self.leader_of_term.setdefault(view.term, view.id)
            if holder != view.id:
                fail(
                    "Election Safety",
                    f"nodes {holder} and {view.id} are both leader in term {view.term}",
                    holder,
                )
            newly = not same_life or before.role != "leader" or before.term != view.term
            if newly:
                found.extend(self._check_completeness(view, step, time))
                if view.id not in view.voters:
                    fail("Leader Is Voter", f"node {view.id} became leader but the voters are {view.voters}")
            if log_from or newly:
                # Beyond what any node has committed, not this leader's own commit
                # index: a restarted leader has forgotten which changes committed.
                settled = max(view.commit, self.committed, view.log.start_index)
                found_so_far, scanned = ([], 0) if newly else self.leader_configs.get(view.id, ([], 0))
                # A leader only appends (Leader Append-Only is checked above), so
                # only the entries past what was scanned, or from ``log_from``, can be new.
                if log_from:
                    scanned = min(scanned, log_from - 1)
                start = max(settled, scanned) + 1
                pending = [i for i in found_so_far if settled < i < start]
                pending += [
                    i for i in range(start, view.last_index + 1) if view.log.entry(i).command.op == "config"
                ]
                self.leader_configs[view.id] = (pending, view.last_index)
                if len(pending) > 1:
                    fail(
                        "One Change At A Time",
                        f"leader {view.id} holds uncommitted configuration entries at {pending}",
                    )
        return found

    def _check_change(self, view: NodeView, index: int, step: int, time: int) -> list[Violation]:
        """A configuration entry changes the voters by at most one server from the one before it."""
        new = configuration_of(view.log.entry(index).command)
        previous: Configuration | None = None
        for i in range(index - 1, view.log.start_index, -1):
            command = view.log.entry(i).command
            if command.op == "config":
                previous = configuration_of(command)
                break
        if previous is None:
            return []  # the one before was compacted into a snapshot: nothing to compare with here
        changed = set(new.voters) ^ set(previous.voters)
        if len(changed) <= 1:
            return []
        return [
            Violation(
                "Single-Server Change",
                step,
                time,
                (view.id,),
                f"node {view.id} index {index}: {previous.describe()} -> {new.describe()} changes "
                f"{len(changed)} voters at once",
            )
        ]

    def _check_completeness(self, view: NodeView, step: int, time: int) -> list[Violation]:
        # The highest index committed in an earlier term is enough: by Log
        # Matching, holding it (same term) means holding everything before it.
        last = 0
        for at in range(len(self.commit_term) - 1, -1, -1):
            if self.commit_term[at] < view.term:
                last = at + 1 + self.base
                break
        if last <= view.log.start_index or self.committed_terms[last - 1 - self.base] < 0:
            return []  # in its snapshot, hence held (or never seen in a log)
        if view.term_at(last) != self.committed_terms[last - 1 - self.base]:
            return [
                Violation(
                    "Leader Completeness",
                    step,
                    time,
                    (view.id,),
                    f"leader {view.id} of term {view.term} lacks the entry committed at index {last} "
                    f"(term {self.committed_terms[last - 1 - self.base]})",
                )
            ]
        return []
