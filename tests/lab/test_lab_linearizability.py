"""Lab client histories under random faults are linearizable (the torture checker, in virtual time).

Three clients put, append and get on two shared keys (every value unique)
while a schedule of faults runs on the in-process lab: crashes, restarts,
partitions, dropped and duplicated messages, forced timeouts, message loss.
Then the faults stop, every node restarts, and each key is read once more.
Every request is an operation from its issue to its answer (virtual ms); one
never answered is indeterminate. :mod:`raftviz.lab.linearizability` must find
the whole history linearizable, and every request must have been answered.

Unlike ``tests/lab/test_properties.py``'s read check (each key written once),
keys here are written many times, concurrently, by appends whose order shows.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftviz.lab.clients import Request
from raftviz.lab.lab import Lab, LabOptions
from raftviz.lab.linearizability import OK, Op, check_history

KINDS = ("crash", "restart", "restart", "partition", "heal", "drop", "duplicate", "timeout", "loss",
         "op", "op", "op", "op", "op", "op")  # fmt: skip
KEYS = ("x", "y")
SETTLE_WITHIN = 30_000


def ops_from_requests(requests: list[Request]) -> list[Op]:
    """The lab's client history as the checker takes it (refused requests had no effect)."""
    ops = []
    for number, request in enumerate(requests, start=1):
        command = request.command
        if request.done and request.error:
            continue
        ret = request.answered_at if request.done else None
        ops.append(
            Op(
                request.client,
                command.op,
                command.key,
                request.issued_at,
                ret,
                command.value,
                request.result,
                number,
            )
        )
    return ops


def run(seed: int, schedule: list[tuple[str, int, int, int]]) -> Lab:
    lab = Lab(LabOptions(nodes=3, seed=seed, backend="inprocess", client_history=0))  # every request checked
    writes = 0
    for kind, a, b, ms in schedule:
        ids = lab.ids
        live = [i for i in ids if lab.views[i].alive]
        down = [i for i in ids if not lab.views[i].alive]
        if kind == "crash" and len(live) > 1:
            lab.crash(live[a % len(live)])
        elif kind == "restart" and down:
            lab.restart(down[a % len(down)])
        elif kind == "partition":
            node = ids[a % len(ids)]
            lab.network.partition([frozenset([node]), frozenset(ids) - {node}])
        elif kind == "heal":
            lab.network.heal()
        elif kind in ("drop", "duplicate") and lab.flights:
            flight = sorted(lab.flights)[a % len(lab.flights)]
            (lab.drop if kind == "drop" else lab.duplicate)(flight)
        elif kind == "timeout" and live:
            lab.timeout(live[a % len(live)])
        elif kind == "loss":
            lab.network.loss = (a % 21) / 100
        elif kind == "op":
            client = f"c{1 + b % 3}"
            key = KEYS[a % len(KEYS)]
            op = ("get", "append", "append", "put")[b % 4]
            value = ""
            if op != "get":
                writes += 1
                value = f"{client}-{writes};"
            lab.submit(op, key, value, client_id=client)
        lab.advance(ms)
    # Heal everything and let every request finish.
    lab.network.heal()
    lab.network.loss = 0.0
    for node in lab.ids:
        if not lab.views[node].alive:
            lab.restart(node)
    for key in KEYS:
        lab.submit("get", key, client_id="final")
    waited = 0
    while lab.pending_requests() and waited < SETTLE_WITHIN:
        lab.advance(100)
        waited += 100
    return lab


step = st.tuples(st.sampled_from(KINDS), st.integers(0, 1000), st.integers(0, 1000), st.integers(1, 200))


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(seed=st.integers(0, 2**16), schedule=st.lists(step, min_size=20, max_size=120))
def test_client_histories_under_random_faults_are_linearizable(seed: int, schedule: list) -> None:
    lab = run(seed, schedule)
    try:
        requests = [r for client in sorted(lab.clients) for r in lab.clients[client].history]
        assert not lab.pending_requests(), "a request was never answered after healing"
        result = check_history(ops_from_requests(requests))
        assert result.verdict == OK, "\n".join(a.describe() for a in result.anomalies) or result.unknown_keys
        assert not lab.violations, lab.violations
    finally:
        lab.close()
