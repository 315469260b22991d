"""A linearizability checker for key-value histories (put, append, get, delete).

A history is a list of :class:`Op`: who called what, when it was invoked
(``call``) and when its answer came back (``ret``). An operation that never
got an answer (a timeout, a crashed server) is *indeterminate*: ``ret`` is
None and it may have taken effect at any moment after its invocation, or
never (Porcupine's treatment: its answer is taken to come at infinity, so a
linearization may place it after everything observed). Times are any
comparable numbers (seconds of the wall clock, milliseconds of virtual time).

The history is linearizable if some total order of its operations respects
real time (an operation that returned before another was invoked comes
first) and, replayed on a sequential key-value store, gives every answer the
history saw. Keys are independent, so each key's sub-history is checked on
its own (P-compositionality, Horn and Kroening; Porcupine's partitioning).

Per key the search is Wing and Gong's, as refined by Lowe ("Testing for
linearizability", 2017): walk the time-ordered list of call and return
events; at a call, try to linearize that operation now (the model must agree
with its answer), lift it out of the list and restart from the head; at a
return whose operation is not yet linearized, undo the last choice. Lowe's
memo of (set of operations linearized, model state) prunes every
configuration already shown to be a dead end. The search is bounded by a step
budget: past it the verdict is ``unknown``, which is not a pass.

When a key fails, :func:`explain` shrinks its history to a small set of
operations that already cannot be linearized, using only reductions that keep
that claim true of the original (a shorter prefix in time, dropping reads,
treating an answered write as unanswered), and that set is the anomaly.

Pure: no I/O, no clock, no randomness; the lab and ``raftviz torture`` share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

#: Operations the model knows.
KINDS = ("put", "append", "get", "delete")
#: The verdicts: linearizable, not linearizable, or the budget ran out first.
OK, ANOMALY, UNKNOWN = "ok", "anomaly", "unknown"
#: Search steps allowed per key by default (a step is one event looked at).
DEFAULT_BUDGET = 2_000_000
#: Search steps allowed for shrinking one failing key to its anomaly.
EXPLAIN_BUDGET = 2_000_000

_INFINITY = float("inf")


@dataclass(frozen=True, slots=True)
class Op:
    """One client operation as the client saw it."""

    client: str
    kind: str  # put | append | get | delete
    key: str
    call: float
    #: When the answer arrived; None if it never did (indeterminate).
    ret: float | None
    value: str = ""  # what put or append wrote
    output: str | None = None  # what get read (None: no value)
    #: A stable name for reports (the index in the recorded history, say).
    id: int = 0

    @property
    def indeterminate(self) -> bool:
        return self.ret is None

    def describe(self) -> str:
        text = f"#{self.id} {self.client} {self.kind} {self.key}"
        if self.kind in ("put", "append"):
            text += f" {self.value!r}"
        elif self.ret is not None:
            text += f" -> {_show(self.output)}"
        end = "?" if self.ret is None else f"{self.ret:g}"
        return f"{text} [{self.call:g}, {end}]"


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Operations on one key that no order can explain, and why.

    ``ops`` is the shrunken set that already fails; ``witness``, when one of
    the simple patterns below is found in it, is the two or three operations
    that show the problem at a glance (a stale read, a lost or reordered
    append, a read of something never written).
    """

    key: str
    ops: tuple[Op, ...]
    text: str
    witness: tuple[Op, ...] = ()

    def describe(self, limit: int = 12) -> str:
        lines = [f"key {self.key!r}: {self.text}"]
        shown = self.witness or self.ops[-limit:]
        lines += [f"  {op.describe()}" for op in shown]
        if len(self.ops) > len(shown):
            lines.append(f"  (the shrunken history that fails has {len(self.ops)} operations)")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class KeyVerdict:
    key: str
    verdict: str
    ops: int
    steps: int
    anomaly: Anomaly | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict on a whole history: ``ok`` only if every key is ``ok``."""

    keys: tuple[KeyVerdict, ...] = field(default_factory=tuple)

    @property
    def verdict(self) -> str:
        verdicts = {k.verdict for k in self.keys}
        if ANOMALY in verdicts:
            return ANOMALY
        return UNKNOWN if UNKNOWN in verdicts else OK

    @property
    def anomalies(self) -> list[Anomaly]:
        return [k.anomaly for k in self.keys if k.anomaly is not None]

    @property
    def unknown_keys(self) -> list[str]:
        return [k.key for k in self.keys if k.verdict == UNKNOWN]

    @property
    def steps(self) -> int:
        return sum(k.steps for k in self.keys)


# ---------------------------------------------------------------------- the model


def _apply(state: str | None, op: Op) -> tuple[bool, str | None]:
    """The sequential key-value store: (does ``op``'s answer agree, the state after)."""
    if op.kind == "put":
        return True, op.value
    if op.kind == "append":
        return True, (state or "") + op.value
    if op.kind == "delete":
        return True, None
    return op.output == state, state


# ---------------------------------------------------------------------- checking


def check_history(
    ops: Iterable[Op], budget: int = DEFAULT_BUDGET, explain_budget: int = EXPLAIN_BUDGET
) -> CheckResult:
    """Check every key of a history; a failing key comes with its anomaly."""
    by_key: dict[str, list[Op]] = {}
    for op in ops:
        if op.kind not in KINDS:
            raise ValueError(f"unknown operation {op.kind!r}")
        by_key.setdefault(op.key, []).append(op)
    verdicts = []
    for key in sorted(by_key):
        key_ops = by_key[key]
        verdict, steps = check_key(key_ops, budget)
        anomaly = explain(key_ops, explain_budget) if verdict == ANOMALY else None
        verdicts.append(KeyVerdict(key, verdict, len(key_ops), steps, anomaly))
    return CheckResult(tuple(verdicts))


def check_key(ops: Sequence[Op], budget: int = DEFAULT_BUDGET) -> tuple[str, int]:
    """(verdict, steps used) for one key's operations."""
    return _search(simplify(ops), budget)


def simplify(ops: Sequence[Op]) -> list[Op]:
    """The same history, minus operations that cannot change the verdict.

    An indeterminate get observed nothing. An indeterminate write whose value
    appears in no answer may as well be linearized after everything else: a
    put is seen by the next get unless overwritten first, and an append
    leaves its value in every later state until a put replaces it, so a write
    that took effect before some get is visible in that get's answer unless
    its effect was erased before it. Dropping such writes keeps the search
    from trying each of them at every position, which is exponential in
    their number.
    """
    outputs = [op.output for op in ops if op.kind == "get" and op.ret is not None and op.output is not None]
    kept = []
    for op in ops:
        if op.ret is None:
            if op.kind == "get":
                continue
            if not any(op.value in out for out in outputs):
                continue
        kept.append(op)
    return kept


def _search(
    ops: Sequence[Op], budget: int, initial: str | None = None, finals: set[str | None] | None = None
) -> tuple[str, int]:
    """Wing and Gong's search with Lowe's memo over one key's operations, from state ``initial``.

    Given ``finals``, the search does not stop at the first linearization: it
    collects the final state of every one into ``finals`` (the verdict is then
    ``ok`` if there was any).
    """
    n = len(ops)
    if n == 0:
        if finals is not None:
            finals.add(initial)
        return OK, 0
    # Events: (time, 0 for a call / 1 for a return, op index). At equal
    # times a call sorts first, so touching intervals count as concurrent:
    # the lenient reading, which never reports an anomaly the clock's
    # resolution could have caused.
    events = sorted(
        [(op.call, 0, i) for i, op in enumerate(ops)]
        + [(_INFINITY if op.ret is None else op.ret, 1, i) for i, op in enumerate(ops)]
    )
    size = len(events)
    # A doubly linked list over positions 0..size-1, with a head sentinel at ``size``.
    head = size
    nxt = [*range(1, size), -1, 0]  # nxt[head] is the first event; -1 ends the list
    prv = [head, *range(size - 1), -1]
    is_call = [kind == 0 for _, kind, _ in events]
    op_of = [i for _, _, i in events]
    return_pos = [0] * n
    for pos, (_, kind, i) in enumerate(events):
        if kind == 1:
            return_pos[i] = pos

    def lift(pos: int) -> None:
        for p in (pos, return_pos[op_of[pos]]):
            prv_p, nxt_p = prv[p], nxt[p]
            nxt[prv_p] = nxt_p
            if nxt_p != -1:
                prv[nxt_p] = prv_p

    def unlift(pos: int) -> None:
        for p in (return_pos[op_of[pos]], pos):
            prv_p, nxt_p = prv[p], nxt[p]
            nxt[prv_p] = p
            if nxt_p != -1:
                prv[nxt_p] = p

    # A read still to place will see the value now followed by appends, or the
    # value of a put still to place followed by appends: its answer must start
    # with one of those. Checked against the earliest-answered read not yet
    # placed (the one that fails first), this prunes the wrong orders of
    # concurrent appends at once, instead of finding each out a read later (k
    # concurrent appends have k! orders, and the memo cannot merge them: each
    # order is a different value).
    # (A delete is a put of nothing here: what follows it starts from "".)
    puts = [i for i, op in enumerate(ops) if op.kind in ("put", "delete")]
    reads = sorted(
        (i for i, op in enumerate(ops) if op.kind == "get" and op.ret is not None),
        key=lambda i: (ops[i].ret, ops[i].call),
    )
    rank = [-1] * n
    for r, i in enumerate(reads):
        rank[i] = r
    first_read = 0  # index into ``reads`` of the earliest-answered read not yet placed

    state = initial
    linearized = 0
    memo: set[tuple[int, str | None]] = set()
    stack: list[tuple[int, str | None]] = []
    pos = nxt[head]
    steps = 0
    while True:
        steps += 1
        if steps > budget:
            return UNKNOWN, steps
        if nxt[head] == -1:
            if finals is None:
                return OK, steps
            # Every operation placed: note where it leaves the key, and look for other orders.
            finals.add(state)
            pos = -1
        elif is_call[pos]:
            i = op_of[pos]
            op = ops[i]
            agrees, after = _apply(state, op)
            if agrees and op.kind != "get" and first_read < len(reads):
                seen = ops[reads[first_read]].output
                if seen is None:
                    # Only a delete (this one, or one still to place) leaves the key absent.
                    agrees = after is None or any(
                        j != i and not linearized >> j & 1 and ops[j].kind == "delete" for j in puts
                    )
                else:
                    agrees = seen.startswith(after or "") or any(
                        j != i and not linearized >> j & 1 and seen.startswith(ops[j].value) for j in puts
                    )
            if agrees:
                marked = linearized | (1 << i)
                if (marked, after) not in memo:
                    memo.add((marked, after))
                    stack.append((pos, state))
                    state, linearized = after, marked
                    lift(pos)
                    if rank[i] == first_read:
                        while first_read < len(reads) and linearized >> reads[first_read] & 1:
                            first_read += 1
                    pos = nxt[head]
                    continue
            pos = nxt[pos]
        if pos == -1 or not is_call[pos]:
            # An operation returned before it could be linearized (or all were): undo the last choice.
            if not stack:
                return (OK if finals else ANOMALY), steps
            pos, state = stack.pop()
            i = op_of[pos]
            linearized &= ~(1 << i)
            unlift(pos)
            if 0 <= rank[i] < first_read:
                first_read = rank[i]
            pos = nxt[pos]


# ---------------------------------------------------------------------- explaining


def explain(ops: Sequence[Op], budget: int = EXPLAIN_BUDGET) -> Anomaly:
    """A small set of ``ops`` (one key) that already cannot be linearized.

    Every reduction keeps "not linearizable" true of the original history:
    a prefix in time (operations invoked before the cut, those still open at
    it made indeterminate) fails only if the whole does; dropping a get
    removes a constraint; and at a quiet moment (no operation open) before
    which every order leaves the key with the same value, what came before
    can be replaced by that value. Reductions whose check runs out of budget
    are not taken.
    """
    key = ops[0].key if ops else ""
    remaining = [budget]

    def fails(candidate: Sequence[Op]) -> bool:
        if remaining[0] <= 0:
            return False
        verdict, steps = _search(simplify(candidate), remaining[0])
        remaining[0] -= steps
        return verdict == ANOMALY

    current = list(ops)
    # 1. The earliest answer after which the history already fails.
    cuts = sorted({op.ret for op in current if op.kind == "get" and op.ret is not None})
    lo, hi = 0, len(cuts) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if fails(_prefix(current, cuts[mid])):
            hi = mid
        else:
            lo = mid + 1
    if cuts and fails(_prefix(current, cuts[lo])):
        current = _prefix(current, cuts[lo])
    # 2. Drop every read the failure does not need, latest first.
    for op in sorted((o for o in current if o.kind == "get"), key=lambda o: (o.call, o.id), reverse=True):
        trial = [o for o in current if o is not op]
        if fails(trial):
            current = trial
    current = sorted(simplify(current), key=lambda o: (o.call, o.id))
    original = {(o.id, o.client, o.call): o for o in ops}
    found = _witness(current)
    if found is not None:
        witness, text = found
        involved = tuple(original.get((o.id, o.client, o.call), o) for o in current)
        shown = tuple(original.get((o.id, o.client, o.call), o) for o in witness)
        return Anomaly(key, involved, text, shown)
    # 3. The latest quiet moment (nothing open) before which every order ends in
    #    the same value: the failure needs only what follows it, from that value.
    settled: tuple[str | None, int] | None = None
    for cut in sorted({o.ret for o in current if o.ret is not None}, reverse=True):
        before = [o for o in current if o.call <= cut]
        after = [o for o in current if o.call > cut]
        # A cut that leaves no write after it explains nothing: the write a read missed is the point.
        if all(o.kind == "get" for o in after) or any(o.ret is None or o.ret > cut for o in before):
            continue
        finals: set[str | None] = set()
        if remaining[0] <= 0:
            break
        verdict, steps = _search(before, remaining[0], finals=finals)
        remaining[0] -= steps
        if verdict != OK or len(finals) != 1:
            continue
        (start,) = finals
        verdict, steps = _search(after, max(remaining[0], 0), initial=start)
        remaining[0] -= steps
        if verdict == ANOMALY:
            settled = (start, len(before))
            current = after
            break
    involved = tuple(original.get((o.id, o.client, o.call), o) for o in current)
    text = _why(involved)
    if settled is not None:
        start, count = settled
        text = (
            f"{text}, starting from {_show(start)} (where every order of the {count} earlier ops leaves it)"
        )
    return Anomaly(key, involved, text)


def _prefix(ops: Sequence[Op], cut: float) -> list[Op]:
    """The history as it stood at time ``cut``: what was invoked by then, open operations unanswered."""
    out = []
    for op in ops:
        if op.call > cut:
            continue
        if op.ret is not None and op.ret > cut:
            op = replace(op, ret=None)
        out.append(op)
    return out


def _why(ops: Sequence[Op]) -> str:
    """One sentence naming the kind of anomaly, judged from the shrunken set."""
    reads = [op for op in ops if op.kind == "get"]
    if not reads:
        return "no order of these operations explains the answers"
    last = max(reads, key=lambda op: (op.ret or _INFINITY, op.id))
    return (
        f"no order of these {len(ops)} operations gives {last.client}'s get "
        f"(answered at {last.ret:g}) the value {_show(last.output)}"
    )


def _witness(ops: Sequence[Op]) -> tuple[tuple[Op, ...], str] | None:
    """The few operations that show the anomaly, if it is one of the simple kinds.

    Each pattern is checked on the operations themselves, so a witness is a
    proof on its own: values are taken to be unique (as ``raftviz torture``
    writes them), and the append patterns apply only where no put could
    have replaced the value in between.
    """
    reads = [op for op in ops if op.kind == "get" and op.ret is not None]
    if not reads:
        return None
    last = max(reads, key=lambda op: (op.ret, op.id))
    seen = last.output or ""
    writes = [op for op in ops if op.kind != "get"]
    if last.output is not None and not any(w.value and w.value in seen for w in writes):
        return (last,), f"{last.client}'s get read {_show(last.output)}, which no write could have produced"
    if any(op.kind in ("put", "delete") for op in writes):
        return None
    for w in writes:
        if w.ret is not None and w.ret < last.call and w.value not in seen:
            text = (
                f"stale read: {last.client}'s get misses {w.client}'s append {w.value!r}, "
                f"acknowledged before the get was called"
            )
            return (w, last), text
        if w.call > last.ret and w.value in seen:
            return (last, w), f"{last.client}'s get saw {w.value!r} before {w.client} appended it"
    for r in reads:
        if r is not last and r.ret < last.call:
            for w in writes:
                if w.value in (r.output or "") and w.value not in seen:
                    text = f"{r.client}'s get saw {w.value!r}; {last.client}'s later get does not"
                    return (w, r, last), text
    for a in writes:
        for b in writes:
            ordered = a.ret is not None and a.ret < b.call
            if ordered and a.value in seen and b.value in seen and seen.index(b.value) < seen.index(a.value):
                text = (
                    f"reordered appends: {last.client}'s get shows {b.value!r} before {a.value!r}, "
                    f"though {a.value!r} was acknowledged before {b.value!r} was appended"
                )
                return (a, b, last), text
    return None


def _show(value: str | None, limit: int = 60) -> str:
    """A value for a message: long ones by their tail (what a stale read differs in)."""
    if value is None:
        return "(none)"
    if len(value) <= limit:
        return repr(value)
    return f"'…{value[-limit:]}' ({len(value)} chars)"
