"""The invariant checker on hand-made node views: what it must catch, and that a
commit index moved by billions at once (a snapshot far ahead) costs nothing per index."""

from __future__ import annotations

from raftviz.core.log import RaftLog
from raftviz.core.messages import Command, Entry
from raftviz.lab.invariants import Before, InvariantChecker
from raftviz.lab.views import NodeView


def view(node: int, term: int, entries: list[tuple[int, str]], commit: int, **fields: object) -> NodeView:
    log = RaftLog(Entry(t, Command("put", "k", v)) for t, v in entries)
    return NodeView(node, term=term, log=log, commit=commit, voters=(1, 2, 3), **fields)


def fresh(node: int) -> Before:
    return Before.of(NodeView(node))


def test_state_machine_safety_two_nodes_commit_different_entries_at_one_index() -> None:
    checker = InvariantChecker()
    assert checker.check(view(1, 1, [(1, "a")], 1), fresh(1), 1, step=1, time=10) == []
    found = checker.check(view(2, 1, [(1, "b")], 1), fresh(2), 1, step=2, time=20)
    assert [v.invariant for v in found] == ["Log Matching", "State Machine Safety"]
    assert "index 1" in found[-1].detail


def test_leader_completeness_a_leader_of_a_later_term_without_a_committed_entry() -> None:
    checker = InvariantChecker()
    checker.check(view(1, 1, [(1, "a"), (1, "b")], 2), fresh(1), 1, step=1, time=10)
    leader = view(2, 2, [(1, "a")], 0, role="leader")
    found = checker.check(leader, fresh(2), 1, step=2, time=20)
    assert [v.invariant for v in found] == ["Leader Completeness"]
    assert "index 2" in found[0].detail


def test_a_commit_moved_billions_ahead_by_a_snapshot_is_checked_at_once() -> None:
    """A forged InstallSnapshot can move a node billions of entries ahead; a checker that
    walked the committed prefix index by index would not come back."""
    checker = InvariantChecker()
    checker.check(view(1, 1, [(1, "a")], 1), fresh(1), 1, step=1, time=10)
    far = 2**61
    log = RaftLog(start_index=far, start_term=7)
    log.append(Entry(7, Command("put", "k", "z")))
    jumped = NodeView(2, term=7, log=log, commit=far + 1, voters=(1, 2, 3))
    assert checker.check(jumped, fresh(2), far + 1, step=2, time=20) == []
    assert checker.committed == far + 1
    assert checker.known[far + 1] == (7, Command("put", "k", "z"))
    checker.prune(far)
    assert checker.base == far and list(checker.known) == [far + 1]
    # A leader of a later term still needs the entry committed in term 7 (index far + 1).
    behind = NodeView(3, term=8, role="leader", log=RaftLog(start_index=far, start_term=7), voters=(1, 2, 3))
    found = checker.check(behind, fresh(3), 0, step=3, time=30)
    assert [v.invariant for v in found] == ["Leader Completeness"]


def test_prune_forgets_what_no_node_holds_and_keeps_the_commit_terms_after_it() -> None:
    checker = InvariantChecker()
    checker.check(view(1, 1, [(1, "a"), (1, "b"), (1, "c")], 3), fresh(1), 1, step=1, time=10)
    checker.prune(2)
    assert checker.base == 2 and list(checker.known) == [3]
    assert checker.commit_runs == [(3, 1)]
