"""The linearizability checker (raftviz/lab/linearizability.py): known good and bad histories,
then hypothesis properties: a sequential run cut into overlapping intervals is always
linearizable, and a detectably wrong read in it is always found.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftviz.lab.linearizability import (
    ANOMALY,
    OK,
    UNKNOWN,
    Op,
    check_history,
    check_key,
    explain,
)

_ids = iter(range(1, 10**9))


def put(client: str, key: str, value: str, call: float, ret: float | None) -> Op:
    return Op(client, "put", key, call, ret, value=value, id=next(_ids))


def append(client: str, key: str, value: str, call: float, ret: float | None) -> Op:
    return Op(client, "append", key, call, ret, value=value, id=next(_ids))


def get(client: str, key: str, output: str | None, call: float, ret: float | None) -> Op:
    return Op(client, "get", key, call, ret, output=output, id=next(_ids))


def verdict(*ops: Op) -> str:
    return check_history(ops).verdict


# ---------------------------------------------------------------------- good histories


def test_an_empty_history_and_a_read_of_nothing_are_linearizable() -> None:
    assert verdict() == OK
    assert verdict(get("c1", "x", None, 0, 1)) == OK


def test_sequential_puts_appends_and_reads() -> None:
    assert (
        verdict(
            put("c1", "x", "a", 0, 1),
            append("c1", "x", "b", 2, 3),
            get("c2", "x", "ab", 4, 5),
            put("c2", "x", "c", 6, 7),
            get("c1", "x", "c", 8, 9),
        )
        == OK
    )


def test_a_read_concurrent_with_a_write_may_see_either_value() -> None:
    for seen in ("a", "b"):
        assert verdict(put("c1", "x", "a", 0, 1), put("c1", "x", "b", 2, 5), get("c2", "x", seen, 3, 4)) == OK


def test_concurrent_appends_may_land_in_either_order() -> None:
    ops = [append("c1", "x", "1;", 0, 3), append("c2", "x", "2;", 1, 2)]
    assert verdict(*ops, get("c3", "x", "1;2;", 4, 5)) == OK
    assert verdict(*ops, get("c3", "x", "2;1;", 4, 5)) == OK


def test_touching_intervals_count_as_concurrent() -> None:
    # A return and a call at the same instant: the clock cannot order them.
    assert verdict(put("c1", "x", "a", 0, 2), get("c2", "x", None, 2, 3)) == OK
    assert verdict(put("c1", "x", "a", 0, 2), get("c2", "x", None, 2.5, 3)) == ANOMALY


def test_keys_are_independent() -> None:
    assert verdict(put("c1", "x", "a", 0, 1), put("c1", "y", "b", 2, 3), get("c2", "x", "a", 4, 5)) == OK


# ---------------------------------------------------------------------- bad histories


def test_a_stale_read_is_an_anomaly_naming_its_operations() -> None:
    first, second = put("c1", "x", "a", 0, 1), put("c1", "x", "b", 2, 3)
    stale = get("c2", "x", "a", 4, 5)
    result = check_history([first, second, stale, get("c1", "y", None, 0, 1)])
    assert result.verdict == ANOMALY
    (anomaly,) = result.anomalies
    assert anomaly.key == "x"
    # The first put only sets the scene: the anomaly starts from the value it left.
    assert anomaly.ops == (second, stale)
    assert "starting from 'a'" in anomaly.text, anomaly.text


def test_a_lost_append_is_an_anomaly() -> None:
    ops = [append("c1", "x", "1;", 0, 1), append("c2", "x", "2;", 2, 3), get("c3", "x", "1;", 4, 5)]
    assert verdict(*ops) == ANOMALY


def test_reordered_appends_are_an_anomaly() -> None:
    ops = [append("c1", "x", "1;", 0, 1), append("c2", "x", "2;", 2, 3), get("c3", "x", "2;1;", 4, 5)]
    assert verdict(*ops) == ANOMALY


def test_a_read_of_a_value_never_written_is_an_anomaly() -> None:
    result = check_history([put("c1", "x", "a", 0, 1), get("c2", "x", "zzz", 2, 3)])
    assert result.verdict == ANOMALY
    assert "no write" in result.anomalies[0].text


def test_reads_going_back_in_time_are_an_anomaly() -> None:
    # The write is concurrent with both reads, but once seen it cannot be unseen.
    w = put("c1", "x", "new", 0, 10)
    assert (
        verdict(put("c0", "x", "old", -2, -1), w, get("c2", "x", "new", 1, 2), get("c3", "x", "old", 3, 4))
        == ANOMALY
    )


# ---------------------------------------------------------------------- indeterminate operations


def test_an_indeterminate_write_that_must_have_happened() -> None:
    # The client never heard back, but a later read saw the value: it took effect.
    lost_answer = append("c1", "x", "1;", 0, None)
    assert verdict(lost_answer, get("c2", "x", "1;", 5, 6)) == OK
    # ... and once seen, it stays: a read after that sees it too.
    assert verdict(lost_answer, get("c2", "x", "1;", 5, 6), get("c2", "x", None, 7, 8)) == ANOMALY


def test_an_indeterminate_write_may_take_effect_long_after_its_call() -> None:
    late = put("c1", "x", "b", 0, None)
    assert (
        verdict(put("c0", "x", "a", -2, -1), late, get("c2", "x", "a", 5, 6), get("c2", "x", "b", 7, 8)) == OK
    )


def test_an_indeterminate_write_must_not_be_assumed() -> None:
    # Never seen: reads may go on without it, and it may not explain a value it did not write.
    maybe = append("c1", "x", "1;", 0, None)
    assert verdict(maybe, get("c2", "x", None, 5, 6), get("c2", "x", None, 7, 8)) == OK
    assert verdict(maybe, get("c2", "x", "2;", 5, 6)) == ANOMALY


def test_an_indeterminate_write_cannot_take_effect_before_its_call() -> None:
    assert verdict(get("c2", "x", "1;", 0, 1), append("c1", "x", "1;", 2, None)) == ANOMALY


def test_an_indeterminate_read_constrains_nothing() -> None:
    assert verdict(put("c1", "x", "a", 0, 1), get("c2", "x", "zzz", 2, None)) == OK


def test_an_acknowledged_write_is_not_lost_behind_indeterminate_ones() -> None:
    ops = [append("c1", "x", "1;", 0, 1), append("c2", "x", "2;", 0.5, None), get("c3", "x", "2;", 3, 4)]
    assert verdict(*ops) == ANOMALY


def test_many_concurrent_appends_ordered_by_one_read_are_checked_quickly() -> None:
    # 16 concurrent appends have 16! orders; the read fixes one, and the search must not try them all.
    appends = [append(f"c{i}", "x", f"{i};", 0, 100) for i in range(16)]
    order = [5, 2, 15, 0, 9, 1, 14, 3, 8, 12, 4, 11, 7, 13, 6, 10]
    read = get("r", "x", "".join(f"{i};" for i in order), 101, 102)
    verdict_, steps = check_key([*appends, read], budget=10_000)
    assert verdict_ == OK and steps < 1_000
    # The same read missing one of them cannot be explained, and that too is found quickly.
    short = get("r", "x", "".join(f"{i};" for i in order[:-1]), 101, 102)
    assert check_key([*appends, short], budget=10_000)[0] == ANOMALY


# ---------------------------------------------------------------------- budget and explanation


def test_the_budget_gives_unknown_not_a_pass() -> None:
    # Many concurrent appends never seen in the order a final read shows: a large search.
    ops = [append(f"c{i}", "x", f"{i};", 0, 100) for i in range(12)]
    ops.append(get("r", "x", "".join(f"{i};" for i in reversed(range(12))) + "x", 200, 201))
    assert check_key(ops, budget=50) == (UNKNOWN, 51)
    result = check_history(ops, budget=50)
    assert result.verdict == UNKNOWN and result.unknown_keys == ["x"] and not result.anomalies


def test_explain_cuts_a_long_history_down_to_the_window_of_the_anomaly() -> None:
    ops: list[Op] = []
    t = 0.0
    for i in range(200):
        ops.append(append("c1", "x", f"{i};", t, t + 1))
        ops.append(get("c2", "x", "".join(f"{j};" for j in range(i + 1)), t + 2, t + 3))
        t += 4
    # One read in the middle misses the append just acknowledged.
    bad_index = 2 * 120 + 1
    bad = ops[bad_index]
    ops[bad_index] = get("c2", "x", "".join(f"{j};" for j in range(120)), bad.call, bad.ret)
    anomaly = explain(ops)
    assert ops[bad_index] in anomaly.ops
    assert ops[bad_index - 1] in anomaly.ops  # the append it missed
    # The witness is the whole story: the append and the read that misses it.
    assert anomaly.witness == (ops[bad_index - 1], ops[bad_index]), anomaly.describe()
    assert len(anomaly.describe().splitlines()) == 4
    assert all(op.call <= bad.ret for op in anomaly.ops)


def test_explain_starts_from_a_settled_value_when_no_simple_pattern_fits() -> None:
    ops: list[Op] = []
    t = 0.0
    for i in range(50):
        ops.append(put("c1", "x", f"{i}", t, t + 1))
        ops.append(get("c2", "x", f"{i}", t + 2, t + 3))
        t += 4
    ops.append(put("c1", "x", "late", t, t + 1))
    ops.append(get("c2", "x", "49", t + 2, t + 3))
    anomaly = explain(ops)
    assert anomaly.ops == tuple(ops[-2:]), anomaly.describe()
    assert "starting from '49'" in anomaly.text


# ---------------------------------------------------------------------- properties


@st.composite
def sequential_runs(draw: st.DrawFn) -> list[Op]:
    """A sequential run on two keys, each operation then given an interval around its instant.

    Operation k takes effect at instant 10k; its interval starts up to 35 before
    and ends up to 35 after (so neighbours overlap), and some writes lose their
    answer (indeterminate), as some reads do.
    """
    count = draw(st.integers(1, 40))
    rng = random.Random(draw(st.integers(0, 2**32)))
    state: dict[str, str | None] = {"x": None, "y": None}
    ops = []
    for k in range(count):
        key = rng.choice("xy")
        kind = rng.choice(("put", "append", "get", "get"))
        at = 10.0 * k
        call = at - rng.randint(0, 35)
        ret: float | None = at + rng.randint(0, 35)
        if rng.random() < 0.15:
            ret = None
        if kind == "get":
            ops.append(Op(f"c{k}", "get", key, call, ret, output=state[key], id=k))
        else:
            value = f"{k};"
            state[key] = value if kind == "put" else (state[key] or "") + value
            ops.append(Op(f"c{k}", kind, key, call, ret, value=value, id=k))
    return ops


SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None)


@SETTINGS
@given(sequential_runs())
def test_a_sequential_run_with_overlapping_intervals_is_linearizable(ops: list[Op]) -> None:
    result = check_history(ops)
    assert result.verdict == OK, [a.describe() for a in result.anomalies]


@SETTINGS
@given(sequential_runs(), st.integers(0, 10**6), st.sampled_from(["drop-last", "extra", "other-key", "none"]))
def test_a_detectably_wrong_read_is_found(ops: list[Op], which: int, how: str) -> None:
    """Mutate one answered read so that no write, at any position, explains it.

    Detectable by construction: the new value contains a token no operation on
    its key ever wrote ("extra", "other-key"), or (drop-last) the read misses an
    append that returned before the read was called and no put since then
    could have wiped it.
    """
    reads = [i for i, op in enumerate(ops) if op.kind == "get" and op.ret is not None]
    if not reads:
        return
    index = reads[which % len(reads)]
    read = ops[index]
    if how == "extra":
        output = (read.output or "") + "never;"
    elif how == "other-key":
        other = [op.value for op in ops if op.key != read.key and op.kind != "get"]
        if not other:
            return
        output = (read.output or "") + other[which % len(other)]
    elif how == "none":
        # A read of nothing, after a write to its key that returned before it was called.
        if not any(
            op.key == read.key and op.kind != "get" and op.ret is not None and op.ret < read.call
            for op in ops
        ):
            return
        output = None
    else:
        writes = [op for op in ops if op.key == read.key and op.kind != "get"]
        prior = [w for w in writes if w.id < read.id]
        if not prior or read.output is None:
            return
        last = prior[-1]
        if last.kind != "append" or last.ret is None or last.ret >= read.call:
            return
        # No other write on this key may overlap the span from the append to the read.
        assert read.ret is not None
        if any(w is not last and w.call < read.ret and (w.ret is None or w.ret > last.call) for w in writes):
            return
        output = read.output[: -len(last.value)] or None
    wrong = Op(read.client, "get", read.key, read.call, read.ret, output=output, id=read.id)
    mutated = [wrong if i == index else op for i, op in enumerate(ops)]
    result = check_history(mutated)
    assert result.verdict == ANOMALY
    assert any(op.id == read.id for op in result.anomalies[0].ops)


@pytest.mark.parametrize("kind", ["remove", ""])
def test_an_unknown_operation_is_refused(kind: str) -> None:
    with pytest.raises(ValueError):
        check_history([Op("c1", kind, "x", 0, 1)])


def test_the_witness_names_the_few_operations_that_show_a_stale_read() -> None:
    a1, a2 = append("c1", "x", "1;", 0, 1), append("c2", "x", "2;", 2, 3)
    fine, stale = get("c3", "x", "1;2;", 4, 5), get("c3", "x", "1;", 6, 7)
    (anomaly,) = check_history([a1, a2, fine, stale]).anomalies
    assert anomaly.witness == (a2, stale)
    assert anomaly.text.startswith("stale read: c3's get misses c2's append '2;'")
    assert "stale read" in anomaly.describe()


def test_the_witness_names_reordered_appends() -> None:
    a1, a2 = append("c1", "x", "1;", 0, 1), append("c2", "x", "2;", 2, 3)
    read = get("c3", "x", "2;1;", 4, 5)
    (anomaly,) = check_history([a1, a2, read]).anomalies
    assert anomaly.witness == (a1, a2, read)
    assert anomaly.text.startswith("reordered appends")


def test_the_witness_names_a_read_of_the_future() -> None:
    # The history is cut where it first fails: the append came later, so nothing wrote '1;' by then.
    read, late = get("c3", "x", "1;", 0, 1), append("c1", "x", "1;", 2, 3)
    (anomaly,) = check_history([read, late]).anomalies
    assert anomaly.witness == (read,)
    assert "no write could have produced" in anomaly.text
