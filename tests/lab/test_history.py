"""History: rewinding by replay returns exactly the states that were lived through."""

from __future__ import annotations

from raftviz.lab.history import History
from raftviz.lab.session import Session


def _state(history: History) -> tuple:
    lab = history.session.lab
    assert lab is not None
    nodes = tuple(
        (
            (v.alive, v.role, v.term, v.vote, v.commit, v.applied),
            (v.log.start_index, tuple(v.log), tuple(sorted(v.kv.data.items()))),
        )
        for v in lab.views.values()
    )
    flights = tuple(sorted((f.id, f.src, f.dst, f.data, f.deliver_at) for f in lab.flights.values()))
    return (lab.now, lab.steps, nodes, flights, lab.network.describe())


def _history() -> History:
    return History(lambda: Session(backend="inprocess"))


def test_stepping_back_and_forward_500_steps_gives_the_same_states() -> None:
    history = _history()
    history.run_text("cluster 5 seed=11")
    states = {history.position: _state(history)}
    actions = ["put a 1", "crash 2", "partition 1,3 | 4,5", "heal", "restart 2", "put b 2", "timeout 4"]
    for i in range(500):
        if i % 70 == 35:
            history.run_text(actions[(i // 70) % len(actions)])
            states[history.position] = _state(history)
        history.run_text("step")
        states[history.position] = _state(history)
    end = history.position
    assert end >= 500
    # Back one at a time over the last stretch of plain steps, checking each state...
    for position in range(end - 1, end - 41, -1):
        history.step_back()
        assert history.position == position
        assert _state(history) == states[position]
    # ...and forward again: the same events, the same states.
    for position in range(end - 39, end + 1):
        history.run_text("step")
        assert history.position == position
        assert _state(history) == states[position]
    # Jumps anywhere land on the state that was there.
    for position in (end, 499, 250, 57, 1, 0):  # the future is forgotten, so: descending
        history.rewind(position)
        assert _state(history) == states[position]
        if position < end:
            history.rewind(position)  # rewinding to where we are changes nothing
            assert _state(history) == states[position]
    history.close()


def test_consecutive_steps_and_advances_merge_in_the_saved_script() -> None:
    history = _history()
    for text in [
        "cluster 3 seed=2",
        "step",
        "step",
        "step 3",
        "advance 100",
        "advance 50",
        "crash 1",
        "step",
    ]:
        history.run_text(text)
    assert history.script() == ["cluster 3 seed=2", "step 5", "advance 150", "crash 1", "step"]


def test_a_rewound_script_replays_to_the_same_state() -> None:
    history = _history()
    for text in [
        "cluster 3 seed=5",
        "until leader",
        "put x 1",
        "advance 300",
        "crash leader",
        "until leader",
    ]:
        history.run_text(text)
    middle = history.position // 2
    history.rewind(middle)
    expected = _state(history)
    replay = _history()
    for line in history.script():
        replay.run_text(line)
    assert _state(replay) == expected
    history.close()
    replay.close()


def test_a_failed_command_is_not_history() -> None:
    history = _history()
    history.run_text("cluster 3 seed=1")
    outcome = history.run_text("deliver 999")
    assert outcome.failure
    assert history.script() == ["cluster 3 seed=1"]
