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

- Term Rule (Figure 2, Rules for All Servers): a server that takes in a
  message of a higher term adopts that term. Checked after each delivery that
  reached the core (not one the node refused or its guard dropped), for every
  message but RequestVote: a server may ignore a vote request of a server
  outside its configuration (§4.2.3); nor for a PreVote or a granted
  PreVoteReply, whose term is the one a pre-candidate would stand in, which
  nobody adopts (dissertation §9.6).

Entries below a node's snapshot are gone from its log; they were committed,
so what they held was already checked when it was written and committed. The
checker forgets what it learnt about indexes that no node holds any more.

Each violation names the invariant, the step, the time and the nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from raftviz.core.membership import Configuration, configuration_of
from raftviz.core.messages import Command, PreVote, PreVoteReply, RequestVote
from raftviz.lab.views import NodeView


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    step: int
    time: int
    nodes: tuple[int, ...]
    detail: str

    def describe(self) -> str:
        nodes = f", nodes {','.join(map(str, self.nodes))}" if self.nodes else ""
        return f"{self.invariant} violated at step {self.step} (t={self.time}{nodes}): {self.detail}"


class Before(NamedTuple):
    """What the checker needs to remember of a node from before a step.

    A named tuple: made once per step, and a frozen dataclass costs several times
    as much to build.
    """

    alive: bool
    incarnation: int
    role: str
    term: int
    commit: int
    last_index: int

    @staticmethod
    def of(view: NodeView) -> Before:
        return Before(view.alive, view.incarnation, view.role, view.term, view.commit, view.log.last_index)


class InvariantChecker:
    """Accumulates what the whole history has shown and checks each change against it."""

    def __init__(self) -> None:
        self.leader_of_term: dict[int, int] = {}
        #: (index, term) -> (command, term of the previous entry)
        self.entry_at: dict[tuple[int, int], tuple[Command, int]] = {}
        #: The highest index known to be committed.
        self.committed = 0
        #: The committed entries seen in some node's log: index -> (term, command).
        #: An index committed and compacted before any log showed it is absent. Sparse
        #: on purpose: a snapshot can move a node's commit index by billions at once
        #: (a forged InstallSnapshot does), and nothing here may cost per index.
        self.known: dict[int, tuple[int, Command]] = {}
        #: The term in which each index was first known to be committed, run-length
        #: encoded: (first index, term), ascending; a run ends where the next begins.
        self.commit_runs: list[tuple[int, int]] = []
        #: Indexes up to ``base`` have been forgotten (every node compacted them).
        self.base = 0
        #: Each node's highest term so far, and the highest of them (kept as they grow: the
        #: lab asks after every delivery whether the receiver is behind it).
        self.max_term: dict[int, int] = {}
        self.top_term = 0
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

    def forget(self, node: int) -> None:
        """Forget what was seen of ``node``: a new server under its id starts again from term 0."""
        self.max_term.pop(node, None)
        self.leader_configs.pop(node, None)
        self.top_term = max(self.max_term.values(), default=0)

    def prune(self, below: int) -> None:
        """Forget indexes up to ``below``: no node holds them in its log any more."""
        below = min(below, self.committed)
        if below <= self.base:
            return
        self.base = below
        self.known = {i: v for i, v in self.known.items() if i > below}
        self.entry_at = {k: v for k, v in self.entry_at.items() if k[0] > below}
        # Runs wholly at or below ``below`` go; the first one left starts after it.
        keep = [(first, term) for first, term in self.commit_runs if first > below]
        before = [(first, term) for first, term in self.commit_runs if first <= below]
        if before and (not keep or keep[0][0] > below + 1):
            keep.insert(0, (below + 1, before[-1][1]))
        self.commit_runs = keep if self.committed > below else []

    def _extend_committed(self, upto: int, term: int) -> None:
        """Indexes up to ``upto`` are now known committed, first seen so in ``term``."""
        if upto <= self.committed:
            return
        if not self.commit_runs or self.commit_runs[-1][1] != term:
            self.commit_runs.append((self.committed + 1, term))
        self.committed = upto

    def check(self, view: NodeView, before: Before, log_from: int, step: int, time: int) -> list[Violation]:
        """Check one node's change during a step; ``log_from`` is its reported log change."""
        # This runs after every step: the common case (no log change, nothing newly
        # committed, not a leader) does little more than the term check, and the fields
        # are read into locals once.
        found: list[Violation] = []
        node, term, alive, role = view.id, view.term, view.alive, view.role

        # Per node: terms never go back, commit never goes back within an incarnation.
        highest = self.max_term.get(node, 0)
        if term < highest:
            found.append(
                _violation(
                    view, step, time, "Term Monotonicity", f"node {node} term went from {highest} to {term}"
                )
            )
        else:
            self.max_term[node] = term
            if term > self.top_term:
                self.top_term = term
        same_life = before.alive and alive and before.incarnation == view.incarnation
        commit_before = before.commit if same_life else 0
        if same_life and view.commit < commit_before:
            found.append(
                _violation(
                    view,
                    step,
                    time,
                    "Commit Monotonicity",
                    f"node {node} commit index went from {before.commit} to {view.commit}",
                )
            )

        if log_from:
            # Leader Append-Only.
            if (
                same_life
                and before.role == "leader"
                and role == "leader"
                and before.term == term
                and log_from <= before.last_index
            ):
                found.append(
                    _violation(
                        view,
                        step,
                        time,
                        "Leader Append-Only",
                        f"leader {node} rewrote its log from index {log_from}",
                    )
                )
            # Log Matching, incrementally over the entries this step wrote.
            self._check_matching(view, log_from, step, time, found)

        # State Machine Safety: what this node commits agrees with what anyone committed.
        if alive and view.commit > commit_before:
            self._check_commits(view, commit_before, step, time, found)

        # Election Safety and Leader Completeness, for a node that is leader now.
        if alive and role == "leader":
            newly = not same_life or before.role != "leader" or before.term != term
            # A leader that has led this term since its last check, with no log change, has
            # nothing new to check (the common case: it took in a reply).
            if newly or log_from or self.leader_of_term.get(term) != node:
                self._check_leader(view, newly, log_from, step, time, found)
        return found

    def _check_matching(
        self, view: NodeView, log_from: int, step: int, time: int, found: list[Violation]
    ) -> None:
        """Log Matching for the entries from ``log_from`` on (each compared with the first one
        ever seen at its index and term); configuration entries also for Single-Server Change."""
        first = max(log_from, view.log.start_index + 1)
        prev_term = view.term_at(first - 1)
        entry_at = self.entry_at
        # One slice, each entry's predecessor term carried along: this runs for
        # every entry every node writes.
        for index, entry in enumerate(view.log.slice(first), start=first):
            if entry.command.op == "config":
                found.extend(self._check_change(view, index, step, time))
            key = (index, entry.term)
            seen = entry_at.get(key)
            written = (entry.command, prev_term)
            prev_term = entry.term
            if seen is None:
                entry_at[key] = written
            elif seen != written:
                found.append(
                    _violation(
                        view,
                        step,
                        time,
                        "Log Matching",
                        f"node {view.id} holds index {index} term {entry.term} as "
                        f"{entry.command.describe()!r} after term {written[1]}, but it was first seen as "
                        f"{seen[0].describe()!r} after term {seen[1]}",
                    )
                )

    def _check_commits(
        self, view: NodeView, commit_before: int, step: int, time: int, found: list[Violation]
    ) -> None:
        """State Machine Safety for the indexes ``view`` committed above ``commit_before``."""
        lo = max(commit_before, self.base) + 1
        # Indexes inside the snapshot have no entry to compare (an entry committed
        # and compacted in the same step is known only as committed): one step for all.
        in_snapshot = min(view.commit, view.log.start_index)
        if in_snapshot >= lo:
            self._extend_committed(in_snapshot, view.term)
        known, entry_of = self.known, view.log.entry
        for index in range(max(lo, view.log.start_index + 1), view.commit + 1):
            entry = entry_of(index)
            committed = (entry.term, entry.command)
            if index > self.committed:
                self._extend_committed(index, view.term)
                known[index] = committed
                continue
            seen = known.get(index)
            if seen is None:
                known[index] = committed
            elif seen != committed:
                found.append(
                    _violation(
                        view,
                        step,
                        time,
                        "State Machine Safety",
                        f"node {view.id} committed {entry.command.describe()!r} (term {entry.term}) "
                        f"at index {index}, where {seen[1].describe()!r} "
                        f"(term {seen[0]}) was committed before",
                    )
                )
                break

    def _check_leader(
        self,
        view: NodeView,
        newly: bool,
        log_from: int,
        step: int,
        time: int,
        found: list[Violation],
    ) -> None:
        """Election Safety, Leader Completeness, Leader Is Voter and One Change At A Time
        for ``view``, a live leader (``newly``: it was not leader in this term and life before the step)."""
        holder = self.leader_of_term.setdefault(view.term, view.id)
        if holder != view.id:
            found.append(
                _violation(
                    view,
                    step,
                    time,
                    "Election Safety",
                    f"nodes {holder} and {view.id} are both leader in term {view.term}",
                    holder,
                )
            )
        if newly:
            found.extend(self._check_completeness(view, step, time))
            if view.id not in view.voters:
                found.append(
                    _violation(
                        view,
                        step,
                        time,
                        "Leader Is Voter",
                        f"node {view.id} became leader but the voters are {view.voters}",
                    )
                )
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
                found.append(
                    _violation(
                        view,
                        step,
                        time,
                        "One Change At A Time",
                        f"leader {view.id} holds uncommitted configuration entries at {pending}",
                    )
                )

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
        last, end = 0, self.committed
        for first, term in reversed(self.commit_runs):
            if term < view.term:
                last = end
                break
            end = first - 1
        if last <= max(view.log.start_index, self.base) or last not in self.known:
            return []  # in its snapshot, hence held (or never seen in a log)
        held = self.known[last][0]
        if view.term_at(last) != held:
            return [
                Violation(
                    "Leader Completeness",
                    step,
                    time,
                    (view.id,),
                    f"leader {view.id} of term {view.term} lacks the entry committed at index {last} "
                    f"(term {held})",
                )
            ]
        return []


def _violation(view: NodeView, step: int, time: int, invariant: str, detail: str, *others: int) -> Violation:
    """A violation of ``invariant`` found at ``view``'s node (and ``others``)."""
    return Violation(invariant, step, time, tuple(sorted({view.id, *others})), detail)


def check_term_rule(view: NodeView, msg: object, step: int, time: int) -> Violation | None:
    """Figure 2, Rules for All Servers: after taking in ``msg``, the node's term is at least its term."""
    term = getattr(msg, "term", None)
    if term is None or isinstance(msg, RequestVote | PreVote) or not view.alive or view.term >= term:
        return None
    if isinstance(msg, PreVoteReply) and msg.vote_granted:
        return None
    return Violation(
        "Term Rule",
        step,
        time,
        (view.id,),
        f"node {view.id} stayed in term {view.term} as {view.role} after taking in "
        f"{type(msg).__name__} of term {term}",
    )
