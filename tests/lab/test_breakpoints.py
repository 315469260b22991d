"""Breakpoints (``break``/``unbreak``) and the parsing rules the scenario doc promises."""

from __future__ import annotations

import pytest

from raftviz.lab.history import History
from raftviz.lab.script import ScriptError, parse_line, parse_script
from raftviz.lab.session import Session


def _session() -> Session:
    return Session(backend="inprocess")


def _run(session: Session, text: str):  # noqa: ANN202
    outcome = None
    for command in parse_script(text):
        outcome = session.execute(command)
        assert not outcome.failure, outcome.failure
    return outcome


@pytest.mark.parametrize(
    "text,problem",
    [
        ("break role=boss", "role must be one of"),
        ("break msg", "needs a message type"),
        ("break msg=Heartbeat", "unknown message type"),
        ("break term=3", "takes no value"),
        ("break invariant node=2", "unexpected"),
        ("break commit node=x", "node must be a node id"),
        ("break frobnicate", "unknown condition"),
        ("unbreak x", "breakpoint number"),
        ("unbreak", "usage: unbreak N | all"),
    ],
)
def test_a_malformed_breakpoint_is_a_parse_error(text: str, problem: str) -> None:
    with pytest.raises(ScriptError, match=problem):
        parse_line(text, 3, "demo.txt")


def test_hash_digit_is_a_message_id_and_a_spaced_hash_is_a_comment() -> None:
    command = parse_line("deliver #12   # the vote")
    assert command is not None and command.params == {"id": 12} and command.text == "deliver #12"
    assert parse_line("# crash 3") is None
    assert parse_line("   #3 is the leader") is None
    with pytest.raises(ScriptError, match=r"'# 12' was read as a comment"):
        parse_line("deliver # 12", 4, "demo.txt")
    with pytest.raises(ScriptError, match="count must be a whole number, not '#3'"):
        parse_line("step #3")


def test_leader_names_a_node_in_links_groups_and_selectors_never_a_client() -> None:
    partition = parse_line("partition leader | 1,2")
    assert partition is not None and partition.params["groups"] == [["leader"], [1, 2]]
    cut = parse_line("cut leader->1 2-leader")
    assert cut is not None and cut.params["links"] == [("leader", 1, False), (2, "leader", True)]
    with pytest.raises(ScriptError, match="two different nodes"):
        parse_line("cut leader-leader")
    with pytest.raises(ScriptError, match="names a node, not a client"):
        parse_line("put x 1 client=leader")
    session = _session()
    try:
        _run(session, "cluster 3 seed=1\nuntil leader")
        assert session.lab is not None
        leader = session.lab.leader()
        other = min(set(session.lab.views) - {leader})
        out = _run(session, f"partition leader | {other}")
        assert out.lines[0] == f"network: partition {leader} | {other}"
        rest = (set(session.lab.views) - {leader, other}).pop()
        assert out.lines[1].startswith(f"not named: {rest} (a group of its own")
        out = _run(session, f"heal\ncut leader->{other}")
        assert out.lines == [f"network: cut {leader}->{other}"]
    finally:
        session.close()


def test_a_condition_breakpoint_fires_when_it_becomes_true_not_while_it_holds() -> None:
    session = _session()
    try:
        _run(session, "cluster 5 seed=3\nbreak leader")
        out = _run(session, "advance 5s")
        assert out.stopped is not None and out.stopped.number == 1
        assert out.stopped.breakpoint.text == "leader"
        assert session.lab is not None and session.lab.now == out.stopped.time < 5000
        assert out.lines[-1] == f"break 1: leader at t={out.stopped.time} (leader is {session.lab.leader()})"
        out = _run(session, "advance 2s")
        assert out.stopped is None and out.lines[-1].startswith("now t=")
    finally:
        session.close()


def test_until_stopped_by_a_breakpoint_is_not_a_failure_and_step_stops_too() -> None:
    session = _session()
    try:
        _run(session, "cluster 5 seed=3\nbreak role=candidate")
        out = _run(session, "until leader")
        assert out.stopped is not None and not out.failure
        assert session.lab is not None and not session.lab.leader()
        assert [v.role for v in session.lab.views.values()].count("candidate") == 1
        _run(session, "unbreak 1\nbreak msg=RequestVoteReply")
        out = _run(session, "step 50")
        assert out.stopped is not None and "RequestVoteReply delivered" in out.stopped.what
        assert out.lines[-1].startswith("break 2: msg=RequestVoteReply at t=")
        assert _run(session, "unbreak all").lines == ["removed 1 breakpoint(s)"]
        assert _run(session, "break").lines == ["(no breakpoints)"]
    finally:
        session.close()


def test_breakpoints_are_history_a_rewind_and_a_saved_session_stop_where_it_did() -> None:
    history = History(_session)
    try:
        for text in ("cluster 5 seed=3", "break leader", "advance 3000", "advance 100", "advance 100"):
            command = parse_line(text)
            assert command is not None
            history.run(command)
        script = history.script()
        # The stopped advance is not merged with the next: replaying it stops there again.
        assert script == ["cluster 5 seed=3", "break leader", "advance 3000", "advance 200"]
        lab = history.session.lab
        assert lab is not None
        now, position = lab.now, history.position
        history.rewind(position)
        lab = history.session.lab
        assert lab is not None and lab.now == now and history.script() == script
        replay = _session()
        try:
            _run(replay, "\n".join(script))
            assert replay.lab is not None and replay.lab.now == now
        finally:
            replay.close()
    finally:
        history.close()
