"""The history tree: parents, paths, branches and forward, checked against a naive model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from raftviz.lab.timeline import ROOT, Step, Timeline


def test_acting_after_going_back_starts_a_branch_and_keeps_the_old_one() -> None:
    t = Timeline()
    for _ in range(5):
        t.extend()
    assert t.current == 5 and t.parent(1) == ROOT and t.parent(5) == 4
    t.go(2)
    assert t.forward() == 3  # the recorded future is still ahead
    t.extend(Step("crash 1"))
    assert t.current == 6 and t.parent(6) == 2 and t.branch == 2
    assert t.branches[2].fork == 2 and t.branches[1].tip == 5
    assert t.step(6).command == "crash 1" and t.step(3).command == ""
    assert t.path(ROOT, 6) == [1, 2, 6]
    assert t.path(1, 5) == [2, 3, 4, 5]
    assert t.is_ancestor(2, 5) and t.is_ancestor(2, 6) and not t.is_ancestor(3, 6)
    # Back on branch 1 (a position only it has) then to its tip: it grows again, not a new branch.
    t.go(4)
    assert t.branch == 1 and t.forward() == 5
    t.go(5)
    t.extend()
    assert t.current == 7 and t.parent(7) == 5 and t.branch == 1
    assert t.branches[1].ranges == [[1, 5], [7, 7]]
    assert t.path(3, 7) == [4, 5, 7]


def test_marks_and_positions_resolve_with_clear_errors() -> None:
    t = Timeline()
    t.extend()
    t.mark("here")
    assert t.resolve("here") == 1 and t.resolve("0") == 0
    for bad, words in (("9", "no position 9"), ("nowhere", "no mark 'nowhere'")):
        try:
            t.resolve(bad)
        except ValueError as exc:
            assert words in str(exc)
        else:
            raise AssertionError(bad)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["extend", "go"]), st.integers(0, 10_000)), max_size=80))
def test_the_tree_matches_a_naive_model(actions: list[tuple[str, int]]) -> None:
    t = Timeline()
    parent = {ROOT: None}
    current = ROOT
    for action, n in actions:
        if action == "extend":
            position = t.extend()
            parent[position] = current
            current = position
        else:
            current = sorted(parent)[n % len(parent)]
            t.go(current)
        assert t.current == current

    def lineage(p: int) -> list[int]:
        out = []
        while p is not None:
            out.append(p)
            p = parent[p]
        return out[::-1]

    for p in parent:
        assert t.parent(p) == parent[p]
        line = lineage(p)
        for a in parent:
            assert t.is_ancestor(a, p) == (a in line)
        for i, a in enumerate(line):
            assert t.path(a, p) == line[i + 1 :]
            assert t.distance(a, p) == len(line) - i - 1
    # forward follows the branch being followed towards its tip.
    tip = t.branches[t.branch].tip
    line = lineage(tip)
    if current in line and current != tip:
        assert t.forward() == line[line.index(current) + 1]
    elif current == tip:
        assert t.forward() is None
