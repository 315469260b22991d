"""The event model (lab/events.py), queries (lab/search.py) and the history's walk and find."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftviz.core.reasons import KINDS as REASON_KINDS
from raftviz.lab import exports, script
from raftviz.lab import history as history_module
from raftviz.lab.events import KINDS, Event
from raftviz.lab.history import History
from raftviz.lab.search import FIELDS, MESSAGE_TYPES, QueryError, parse_query
from raftviz.lab.session import Session

STORY = [
    "cluster 3 seed=1",
    "until leader",
    "put x 1",
    "advance 100",
    "partition 1 | 2,3",
    "advance 300",
    "crash 3",
    "restart 3",
    "heal",
    "advance 300",
]


def _history(lines: list[str] = STORY) -> History:
    history = History(lambda: Session(backend="inprocess"))
    for line in lines:
        assert not history.run_text(line).failure, line
    return history


@pytest.fixture(scope="module")
def events() -> list[Event]:
    history = _history()
    try:
        return history.events()
    finally:
        history.close()


def test_every_kind_is_known(events: list[Event]) -> None:
    assert {e.kind for e in events} <= set(KINDS)


def test_one_send_per_message_and_each_fate_once(events: list[Event]) -> None:
    sends = [e.msg_id for e in events if e.kind == "send"]
    assert len(sends) == len(set(sends))
    fates = [e.msg_id for e in events if e.kind in ("deliver", "lost", "drop")]
    assert len(fates) == len(set(fates))
    # Every message that met its fate was sent first, at an earlier or the same position.
    sent_at = {e.msg_id: e.position for e in events if e.kind == "send"}
    for e in events:
        if e.kind in ("deliver", "lost") and e.cause != "loss":
            assert sent_at[e.msg_id] <= e.position


def test_the_story_is_told(events: list[Event]) -> None:
    kinds = {e.kind for e in events}
    assert {"send", "deliver", "lost", "timeout", "heartbeat", "crash", "restart", "role", "commit"} <= kinds
    assert {"network", "request", "answer"} <= kinds
    network = [e.text for e in events if e.kind == "network"]
    assert network == ["partition 1 | 2,3", "heal"]
    lost = [e for e in events if e.kind == "lost"]
    assert {e.cause for e in lost} <= {"link cut", "node 3 is down"}
    assert all(e.node == e.dst for e in lost)
    # Positions only grow along the way, and so does time.
    assert [e.position for e in events] == sorted(e.position for e in events)
    assert [e.time for e in events] == sorted(e.time for e in events)


def test_events_carry_the_cores_reasons(events: list[Event]) -> None:
    explained = [e for e in events if e.reason]
    assert explained
    # Every reason names its place in the paper, and its kinds are listed alongside.
    for e in explained:
        assert len(e.reason_kinds) == e.reason.count("; ") + 1
        assert set(e.reason_kinds) <= set(REASON_KINDS)
        assert e.reason.endswith(")")
    kinds = {k for e in explained for k in e.reason_kinds}
    assert {"vote-granted", "elected", "commit-advanced", "commit-learned"} <= kinds
    # A role change is explained by its own kind of reason; a granted vote's reply by the vote.
    for e in explained:
        if e.kind == "role":
            assert set(e.reason_kinds) <= {"step-down", "leader-seen", "elected"}
        if e.kind == "send" and e.msg_type == "RequestVoteReply":
            assert e.reason_kinds[0].startswith("vote-")
    # Events that decide nothing have no reason: a send of a request, a crash.
    assert not any(e.reason for e in events if e.kind in ("crash", "network", "request"))


def test_find_by_reason() -> None:
    history = _history()
    try:
        shown, total = history.find(parse_query("reason=elected"), 10)
        assert total >= 1 and all("elected" in e.reason_kinds for e in shown)
        shown, total = history.find(parse_query('"at least as up to date"'), 10)
        assert total >= 1 and all("vote-granted" in e.reason_kinds for e in shown)
        assert history.find(parse_query("because kind=crash"), 10)[1] == 0
    finally:
        history.close()
    with pytest.raises(QueryError, match="unknown reason 'why'"):
        parse_query("reason=why")


@pytest.mark.parametrize(
    ("query", "holds"),
    [
        ("type=AppendEntries", lambda e: e.msg_type == "AppendEntries"),
        ("type=appendentries from=2 to=3", lambda e: (e.msg_type, e.src, e.dst) == ("AppendEntries", 2, 3)),
        ("node=1 lost", lambda e: e.kind == "lost" and 1 in (e.node, e.src, e.dst)),
        ("term=2 kind=role", lambda e: e.kind == "role" and e.term == 2),
        ("delivered id=3", lambda e: e.kind == "deliver" and e.msg_id == 3),
        ('"LINK CUT"', lambda e: "link cut" in e.text),
        ("crash node", lambda e: "crash" in e.text.lower() and "node" in e.text.lower()),
        ("commit=1", lambda e: "commit=1" in e.text),
    ],
)
def test_a_query_is_the_and_of_its_words(events: list[Event], query: str, holds) -> None:
    parsed = parse_query(query)
    assert [e for e in events if parsed.matches(e)] == [e for e in events if holds(e)]
    assert any(holds(e) for e in events), f"the story has no event for {query!r}"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty query"),
        ("type=Vote", "unknown message type"),
        ("term=x", "whole number"),
        ("kind=nothing", "unknown kind"),
        ("from=", "needs a value"),
        ("from=1->2", "node id or a client id"),
        ('"open', "quotation"),
    ],
)
def test_a_bad_query_says_what_is_wrong(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(query)


def test_find_is_a_script_error_when_its_query_is_bad() -> None:
    with pytest.raises(script.ScriptError, match="find: unknown message type"):
        script.parse_line("find type=Nope")
    assert script.parse_line("find x max=3").params["max"] == 3  # type: ignore[union-attr]


def test_query_words_agree_with_the_scenario_language() -> None:
    assert tuple(MESSAGE_TYPES) == tuple(script.MESSAGE_TYPES)
    assert "type" in FIELDS


def test_find_covers_the_recorded_future_and_leaves_the_session_where_it_was() -> None:
    history = _history()
    try:
        everything = history.run_text("find kind=network").lines
        history.run_text("goto 3")
        here = (history.position, history.session.lab.now)  # type: ignore[union-attr]
        assert history.run_text("find kind=network").lines == everything
        assert (history.position, history.session.lab.now) == here  # type: ignore[union-attr]
    finally:
        history.close()


def test_walk_replays_what_is_no_longer_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """With few records kept, the walk re-derives the rest: the same events, the same state after."""
    whole = _history()
    try:
        expected = whole.events()
    finally:
        whole.close()
    monkeypatch.setattr(history_module, "RECORDS_KEPT", 16)
    history = _history()
    try:
        before = (history.position, history.session.lab.now, len(history.session.lab.flights))  # type: ignore[union-attr]
        assert history.events() == expected
        after = (history.position, history.session.lab.now, len(history.session.lab.flights))  # type: ignore[union-attr]
        assert after == before
        assert len(history._records) <= 16
    finally:
        history.close()


def test_find_lists_at_most_max_then_counts() -> None:
    history = _history()
    try:
        lines = history.run_text("find type=AppendEntries max=2").lines
        assert len(lines) == 3
        assert lines[-1].startswith("find: ") and "the first 2 shown" in lines[-1]
        assert history.run_text("find type=RequestVote term=99").lines == ["find: no position matches"]
    finally:
        history.close()


# ---------------------------------------------------------------------------- properties

#: Commands a random session is made of (each may fail harmlessly: a node already down...).
ACTIONS = (
    "step 7",
    "advance 40",
    "crash 2",
    "restart 2",
    "crash leader",
    "restart 1",
    "partition 1,2 | 3",
    "cut 1->3",
    "heal",
    "put k v",
    "drop *->*",
    "duplicate *->*",
    "loss 0.3",
    "loss 0",
    "timeout 3",
    "back 3",
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=12))
def test_every_message_has_one_send_at_most_one_fate_and_the_exports_agree(actions: list[str]) -> None:
    history = _history(["cluster 3 seed=5", "until leader"])
    try:
        for action in actions:
            history.run_text(action)
        events = history.events()
    finally:
        history.close()
    sends = Counter(e.msg_id for e in events if e.kind in ("send", "duplicate"))
    fates = Counter(e.msg_id for e in events if e.kind in ("deliver", "lost", "drop"))
    assert all(n == 1 for n in sends.values())
    assert all(n == 1 for n in fates.values())
    assert set(fates) <= set(sends) | {e.msg_id for e in events if e.cause == "loss"}
    # The diagram has an arrow per delivery, the trace a flow per delivery.
    delivered = sorted(e.msg_id for e in events if e.kind == "deliver")
    root = ET.fromstring(exports.svg(events, [1, 2, 3]))
    arrows = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if "delivered" in g.get("class", "")]
    assert sorted(int(g.get("data-id", "0")) for g in arrows) == delivered
    flows = [e for e in exports.trace(events, [1, 2, 3])["traceEvents"] if e["ph"] in ("s", "f")]  # type: ignore[index]
    assert sorted(e["id"] for e in flows) == sorted(delivered * 2)
    # A query by id finds exactly the positions where that message appears.
    for msg_id in list(fates)[:3]:
        query = parse_query(f"id={msg_id}")
        assert {e.position for e in events if query.matches(e)} == {
            e.position for e in events if e.msg_id == msg_id
        }
