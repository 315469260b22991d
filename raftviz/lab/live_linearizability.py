"""Linearizability as a live invariant: each client answer is checked as it arrives.

The lab records every client request when it is issued and when it is
answered (:mod:`raftviz.lab.clients`). Keys are independent (Herlihy and
Wing's locality; Porcupine's partitioning), so each key is checked on its own,
against the same sequential model as the offline checker
(:func:`raftviz.lab.linearizability._apply`: put, append, get, delete).

Checking the whole history again at every answer would cost more and more as
a run grows. Instead the check runs *along* the history, in the manner of
Lowe's just-in-time linearization ("Testing for linearizability", 2017): per
key it keeps the set of *configurations* some linearization of everything so
far may be in, each one a state of the key and the set of operations still
outstanding that such a linearization has already placed (with what a placed
``get`` read). An answer to operation O keeps the configurations that can
explain it: O already placed (reading what it answered), or placed now, after
placing any of the other outstanding operations first. Answered operations
leave the configurations, so their number depends only on how many requests
are outstanding at once, never on the length of the run: the work per answer
is bounded. No configuration left means no order of the operations explains
the answers: a violation, which names the answer and what the key could hold.

A refused request (its answer has an ``error``) had no effect: it leaves
without being placed.

Concurrent appends are the hard case: each order of them is a different value,
so configurations multiply until a read tells the orders apart. When a key's
configurations pass :data:`MAX_CONFIGS`, the check *forgets* the key's value:
the configurations become the single one "value unknown, nothing placed",
which a later put, delete or read pins down again (an append leaves it
unknown). The operations outstanding at the reset may have taken effect
before it, where the check can no longer place them: they become *ghosts*,
whose reads agree with anything and whose writes leave the value unknown.
That is sound (every linearization of the truth is still covered), so it
never raises a false alarm; it only misses anomalies that span the reset. If even that has too many
configurations (many operations outstanding at once), the key is not checked
until nothing is outstanding on it, and then resumes from an unknown value.
Resets are counted (``resets``), never reported as violations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raftviz.lab.clients import Request
from raftviz.lab.linearizability import ANOMALY, Op, _apply, _show

#: The operations the model checks.
CHECKED = ("put", "append", "get", "delete")
#: Configurations one key may have before its value is forgotten (see above).
MAX_CONFIGS = 64
#: Possible values shown in a violation's text.
SHOWN_STATES = 3


class _Unknown:
    """The value of a key the check has forgotten (any value at all)."""

    def __repr__(self) -> str:
        return "(unknown)"

    def __deepcopy__(self, memo: dict[int, object]) -> _Unknown:
        return self  # one sentinel, shared by checkpoints


UNKNOWN_VALUE: Any = _Unknown()

#: A configuration: the key's state (a value, None for absent, or UNKNOWN_VALUE), and the
#: outstanding operations already placed, as (operation number, what a placed get read;
#: None for a write), sorted.
Config = tuple[Any, tuple[tuple[int, Any], ...]]


@dataclass(slots=True)
class KeyHistory:
    """One key: where linearizations of its history so far may stand."""

    configs: set[Config] = field(default_factory=lambda: {(None, ())})
    #: Outstanding operations on the key, by number, as the model's operations.
    pending: dict[int, Op] = field(default_factory=dict)
    #: Why the key is no longer checked ("" while it is): after a violation.
    gave_up: str = ""
    #: How often its value was forgotten (configurations past MAX_CONFIGS).
    resets: int = 0
    #: Not checked until nothing is outstanding on it (even a forgotten value had too
    #: many configurations); then checking resumes from an unknown value.
    suspended: bool = False
    #: Outstanding operations that were outstanding at the last reset (see above).
    ghosts: set[int] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Finding:
    """A key whose history cannot be linearized."""

    key: str
    verdict: str  # ANOMALY
    detail: str


class LiveLinearizability:
    """The per-key state of the live check (part of the lab's state: checkpoints copy it)."""

    def __init__(self) -> None:
        self.keys: dict[str, KeyHistory] = {}
        #: Configurations looked at so far (benchmarks report it), and answers checked.
        self.steps = 0
        self.checks = 0
        #: Requests seen so far: a request's number (its ``Op.id``).
        self.invocations = 0
        #: Keys found not linearizable, and keys given up, in the order found.
        self.findings: list[Finding] = []

    @property
    def verdict(self) -> str:
        """``ok``, or ``anomaly`` once some key failed."""
        return ANOMALY if self.findings else "ok"

    @property
    def resets(self) -> int:
        """How often a key's value was forgotten (concurrent appends never read)."""
        return sum(h.resets for h in self.keys.values())

    def invoked(self, request: Request) -> None:
        """A request was issued: it is outstanding on its key from now on."""
        command = request.command
        if command.op not in CHECKED:
            return
        self.invocations += 1
        number = request.checked_as = self.invocations
        history = self.keys.setdefault(command.key, KeyHistory())
        if not history.gave_up:
            op = Op(
                request.client, command.op, command.key, request.issued_at, None, command.value, None, number
            )
            history.pending[number] = op

    def answered(self, request: Request) -> Finding | None:
        """A request was answered: check its key; a new finding, or None."""
        number = request.checked_as
        history = self.keys.get(request.command.key)
        if not number or history is None or history.gave_up or number not in history.pending:
            return None
        self.checks += 1
        op = history.pending.pop(number)
        ghost = number in history.ghosts
        history.ghosts.discard(number)
        before = history.configs
        if history.suspended:
            if not history.pending:  # quiescent: nothing outstanding, only the value is unknown
                history.configs, history.suspended = {(UNKNOWN_VALUE, ())}, False
            return None
        if request.error:
            # Refused (or applied without effect): it was never placed, or it changed nothing.
            history.configs = {c for c in before if all(n != number for n, _ in c[1])}
            if history.configs:
                return None
            return self._violation(request, op, None, before, history)
        answer = request.result if op.kind == "get" else None
        after = self._explain(before, history, op, number, answer, ghost)
        if after is None:
            # Too many orders to follow: forget the value (sound; see the module's docstring).
            history.resets += 1
            history.ghosts = set(history.pending)
            after = self._explain({(UNKNOWN_VALUE, ())}, history, op, number, answer, ghost=True)
        if after is None:
            # Still too many (outstanding operations placed in every subset): wait for quiet.
            history.suspended = True
            history.configs = set()
            if not history.pending:
                history.configs, history.suspended = {(UNKNOWN_VALUE, ())}, False
            history.ghosts = set()
            return None
        history.configs = after
        if history.configs:
            return None
        return self._violation(request, op, answer, before, history)

    def _violation(
        self, request: Request, op: Op, answer: str | None, before: set[Config], history: KeyHistory
    ) -> Finding:
        history.gave_up = "not linearizable"
        finding = Finding(request.command.key, ANOMALY, _describe(request, op, answer, before))
        self.findings.append(finding)
        return finding

    def _explain(
        self, configs: set[Config], history: KeyHistory, op: Op, number: int, answer: str | None, ghost: bool
    ) -> set[Config] | None:
        """The configurations after ``op`` returned ``answer``: every way to have placed it by now
        (None if there are more than MAX_CONFIGS)."""
        pending, ghosts = history.pending, history.ghosts
        # The operation as answered, made once (not once per configuration); an answer
        # of None is what ``op`` already says (issued with no output), so it is ``op`` itself.
        answered = op if answer is None else _with_output(op, answer)
        result: set[Config] = set()
        frontier = list(configs)
        seen = set(configs)
        while frontier:
            state, placed = frontier.pop()
            self.steps += 1
            mine = [read for n, read in placed if n == number]
            if mine:
                # Placed earlier: what it read then must be what it answered.
                if op.kind != "get" or mine[0] is UNKNOWN_VALUE or mine[0] == answer:
                    result.add((state, tuple(p for p in placed if p[0] != number)))
                continue
            agrees, after = _step(state, answered, ghost)
            if agrees:
                result.add((after, placed))
            # Or another outstanding operation took effect first.
            done = {n for n, _ in placed}
            for other, other_op in pending.items():
                if other in done:
                    continue
                if other_op.kind == "get":
                    # Placed now, it reads the value now (its answer is checked when it comes).
                    moved, read = state, UNKNOWN_VALUE if other in ghosts else state
                else:
                    moved, read = _step(state, other_op, other in ghosts)[1], None
                config = (moved, tuple(sorted((*placed, (other, read)), key=_order)))
                if config not in seen:
                    seen.add(config)
                    frontier.append(config)
            if len(seen) > MAX_CONFIGS * 4 or len(result) > MAX_CONFIGS:
                return None
        return result


def _order(placed: tuple[int, str | None]) -> int:
    return placed[0]


def _step(state: Any, op: Op, ghost: bool = False) -> tuple[bool, Any]:
    """The model's step (``_apply``), extended to the unknown value: any read agrees with it
    and pins it, a put or delete replaces it, an append leaves it unknown. A ghost's read
    agrees with anything and pins nothing; its write leaves the value unknown."""
    if ghost:
        return True, state if op.kind == "get" else UNKNOWN_VALUE
    if state is UNKNOWN_VALUE:
        if op.kind == "get":
            return True, op.output
        if op.kind == "append":
            return True, UNKNOWN_VALUE
        return _apply(None, op)
    return _apply(state, op)


def _with_output(op: Op, answer: str | None) -> Op:
    return Op(op.client, op.kind, op.key, op.call, None, op.value, answer, op.id)


def _describe(request: Request, op: Op, answer: str | None, before: set[Config]) -> str:
    """The answer no order explains, and what the key could have held instead."""
    states = sorted({state for state, _ in before}, key=lambda s: (s is not None, str(s or "")))
    shown = " or ".join(repr(s) if s is UNKNOWN_VALUE else _show(s) for s in states[:SHOWN_STATES]) + (
        " or ..." if len(states) > SHOWN_STATES else ""
    )
    what = f"{request.describe()} (sent at t={op.call}, answered at t={request.answered_at})"
    if op.kind == "get":
        return (
            f"key {op.key!r}: {what} read {_show(answer)}, which no order of the operations explains "
            f"(before the requests then outstanding, {op.key!r} held {shown})"
        )
    return f"key {op.key!r}: {what} was acknowledged, but no order of the operations can place it"
