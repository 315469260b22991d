"""History as a tree with checkpoints: every position reached again is the state that was
there, and running on from it repeats exactly what running on did the first time."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftviz.lab.checkpoint import CheckpointPolicy
from raftviz.lab.history import History
from raftviz.lab.session import Session


def _state(history: History) -> tuple:
    lab = history.session.lab
    assert lab is not None
    nodes = tuple(
        (
            (v.alive, v.role, v.term, v.vote, v.commit, v.applied, v.deadline, v.reads_waiting, v.lease),
            (v.log.start_index, tuple(v.log), tuple(sorted(v.kv.data.items()))),
        )
        for v in lab.views.values()
    )
    flights = tuple(sorted((f.id, f.src, f.dst, f.data, f.deliver_at) for f in lab.flights.values()))
    return (lab.now, lab.steps, nodes, flights, lab.network.describe())


def _history(every: int = 16) -> History:
    return History(lambda: Session(backend="inprocess"), CheckpointPolicy(every=every, dense=4))


ACTIONS = [
    "step",
    "step 7",
    "advance 40",
    "put a 1",
    "crash 2",
    "restart 2",
    "partition 1,2 | 3,4,5",
    "heal",
    "timeout 3",
    "drop 1->*",
    "until leader max=2000",
    "writes 5",
    "loss 0.2",
    "loss 0",
    # Reads without the log and clock rates (dissertation §6.4): the leader's rounds, lease
    # and held reads, and the lab's per-node clocks, are part of the state too.
    "get a read=readindex",
    "get a read=lease",
    "clock 2 rate=3",
    "clock 2 rate=1",
]


def history_moves(actions: list[str], max_size: int) -> st.SearchStrategy[list[tuple[str, object]]]:
    """A session's moves: a command, a step back of N, or a goto to the Nth position seen."""
    return st.lists(
        st.one_of(
            st.tuples(st.just("do"), st.sampled_from(actions)),
            st.tuples(st.just("back"), st.integers(1, 40)),
            st.tuples(st.just("goto"), st.integers(0, 10_000)),
        ),
        min_size=5,
        max_size=max_size,
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 50), moves=history_moves(ACTIONS, max_size=40))
def test_every_position_reached_again_is_the_state_that_was_there(seed: int, moves: list) -> None:
    history = _history()
    history.run_text(f"cluster 5 seed={seed}")
    states = {0: _state(history)}
    try:
        for kind, arg in moves:
            if kind == "do":
                history.run_text(arg)
            elif kind == "back":
                history.step_back(arg)
            else:
                history.goto(sorted(states)[arg % len(states)])
            # A position seen before must look the same; a new one is remembered.
            seen = states.setdefault(history.position, _state(history))
            assert _state(history) == seen, f"position {history.position} differs after {kind} {arg}"
        for position in sorted(states, reverse=True)[:15] + sorted(states)[:5]:
            history.goto(position)
            assert _state(history) == states[position]
    finally:
        history.close()


def test_running_on_after_a_jump_repeats_the_first_run_and_follows_the_record() -> None:
    history = _history()
    history.run_text("cluster 5 seed=3")
    history.run_text("until leader")
    history.run_text("put x 1")
    history.run_text("mark before")
    first = history.run_text("step 60").lines
    tip = history.position
    history.run_text("advance 500")
    history.goto("before")
    again = history.run_text("step 60").lines
    assert again == first
    # The same events from the same place: the recorded positions, not a new branch.
    assert history.position == tip and len(history.timeline.branches) == 1
    history.goto("before")
    history.run_text("crash leader")
    assert len(history.timeline.branches) == 2
    assert [b.current for b in history.branches()] == [False, True]
    history.close()


def test_a_saved_session_replays_the_whole_exploration() -> None:
    history = _history()
    for text in [
        "cluster 3 seed=5",
        "step 40",
        "mark a",
        "step 30",
        "back 10",
        "crash 1",
        "step 20",
        "goto a",
        "forward 5",
        "put k v",
        "step 15",
    ]:
        assert not history.run_text(text).failure, text
    script = history.script()
    assert "back 10" in script and "goto a" in script
    again = _history(every=1000)  # other checkpoints, same states
    for text in script:
        assert not again.run_text(text).failure, text
    assert again.position == history.position
    assert _state(again) == _state(history)
    assert [(b.fork, b.tip) for b in again.branches()] == [(b.fork, b.tip) for b in history.branches()]
    history.close()
    again.close()


def test_history_commands_report_clear_errors() -> None:
    history = _history()
    history.run_text("cluster 3 seed=1")
    assert history.run_text("goto nowhere").failure == "goto: no mark 'nowhere' (marks: none yet)"
    assert "no position 99" in history.run_text("goto 99").failure
    assert "nothing recorded ahead" in history.run_text("forward").failure
    assert history.run_text("back 5").lines == ["back to position 0 (branch 1 t=0)"]
    history.close()


def test_memory_stays_bounded_checkpoints_thin_with_age() -> None:
    history = History(lambda: Session(backend="inprocess"), CheckpointPolicy(every=32, dense=8))
    history.run_text("cluster 3 seed=2")
    counts = []
    for _ in range(40):
        history.run_text("step 500")
        counts.append(len(history.checkpoints))
    # 20,000 positions: kept checkpoints grow with the logarithm, not the length.
    assert counts[-1] < 120, counts
    assert counts[-1] - counts[19] < 20, counts
    history.close()
