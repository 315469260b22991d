"""Conditions of the scenario language: membership, snapshots and field references."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from raftviz.lab.conditions import ConditionError, evaluate, parse_condition
from raftviz.lab.lab import Lab, LabOptions


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab(LabOptions(nodes=3, seed=1, snapshot=5, backend="inprocess"))
    yield lab
    lab.close()


def holds(lab: Lab, text: str) -> bool:
    return evaluate(parse_condition(text), lab)[0]


def test_a_value_may_be_another_nodes_field_read_when_evaluated(lab: Lab) -> None:
    lab.run_until(lambda: lab.leader() != 0, 2000)
    request = lab.submit("put", "x", "1")
    lab.run_until(lambda: request.done, 2000)
    leader = lab.leader()
    follower = next(i for i in lab.ids if i != leader)
    # The leader applies first; followers learn the commit index a heartbeat later.
    assert not holds(lab, "all.applied = leader.commit")
    ok, seen = evaluate(parse_condition("all.applied = leader.commit"), lab)
    assert seen.startswith(f"leader.commit={lab.views[leader].commit} ")
    assert holds(lab, f"leader.commit > {follower}.commit")
    lab.run_until(lambda: holds(lab, "all.applied = leader.commit"), 500)
    assert holds(lab, "all.applied = leader.commit")
    assert holds(lab, f"{follower}.last = leader.last")
    assert holds(lab, "all.voters = leader.voters")


def test_a_reference_to_no_node_is_false_not_an_error(lab: Lab) -> None:
    ok, seen = evaluate(parse_condition("all.term = leader.term"), lab)
    assert not ok and "no leader" in seen
    ok, seen = evaluate(parse_condition("1.term = 7.term"), lab)
    assert not ok and "7.term: no node 7" in seen


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.term = leader.colour", "unknown field 'colour'"),
        ("1.term >= leader", "needs a number"),
        ("1.voters >= 2", "voters is not a number"),
        ("all.role < leader.role", "role is not a number"),
    ],
)
def test_bad_references_are_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        parse_condition(text)


def test_membership_and_snapshot_fields(lab: Lab) -> None:
    lab.run_until(lambda: lab.leader() != 0, 2000)
    assert holds(lab, "all.voters = 1,2,3") and holds(lab, "all.learners = -")
    assert holds(lab, "all.snap = 0")
    for n in range(8):
        lab.submit("put", f"k{n}", "v")
    lab.run_until(lambda: not lab.pending_requests(), 3000)
    lab.run_until(lambda: holds(lab, "all.snap >= 5"), 1000)
    assert holds(lab, "leader.snap > 0")
    lab.add(4)
    lab.run_until(lambda: holds(lab, "4.voters = 1,2,3,4"), 3000)
    assert holds(lab, "leader.voters = 1,2,3,4") and holds(lab, "leader.learners = -")
    assert holds(lab, "4.snap >= 5"), "node 4 joined after compaction: it starts from a snapshot"
