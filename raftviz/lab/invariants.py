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

Each violation names the invariant, the step, the time and the nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

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
        #: The committed prefix: committed_terms[i-1]/committed_cmds[i-1] for index i,
        #: and the term in which each index was first known to be committed.
        self.committed_terms: list[int] = []
        self.committed_cmds: list[Command] = []
        self.commit_term: list[int] = []
        self.max_term: dict[int, int] = {}

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
            for index in range(log_from, view.last_index + 1):
                entry = view.log[index - 1]
                prev_term = view.term_at(index - 1)
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
            start = (before.commit if same_life else 0) + 1
            for index in range(start, view.commit + 1):
                entry = view.log[index - 1]
                if index <= len(self.committed_terms):
                    if (self.committed_terms[index - 1], self.committed_cmds[index - 1]) != (
                        entry.term,
                        entry.command,
                    ):
                        fail(
                            "State Machine Safety",
                            f"node {view.id} committed {entry.command.describe()!r} (term {entry.term}) "
                            f"at index {index}, where "
                            f"{self.committed_cmds[index - 1].describe()!r} "
                            f"(term {self.committed_terms[index - 1]}) was committed before",
                        )
                        break
                else:
                    self.committed_terms.append(entry.term)
                    self.committed_cmds.append(entry.command)
                    self.commit_term.append(view.term)

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
        return found

    def _check_completeness(self, view: NodeView, step: int, time: int) -> list[Violation]:
        # The highest index committed in an earlier term is enough: by Log
        # Matching, holding it (same term) means holding everything before it.
        last = 0
        for index in range(len(self.commit_term), 0, -1):
            if self.commit_term[index - 1] < view.term:
                last = index
                break
        if last and view.term_at(last) != self.committed_terms[last - 1]:
            return [
                Violation(
                    "Leader Completeness",
                    step,
                    time,
                    (view.id,),
                    f"leader {view.id} of term {view.term} lacks the entry committed at index {last} "
                    f"(term {self.committed_terms[last - 1]})",
                )
            ]
        return []
