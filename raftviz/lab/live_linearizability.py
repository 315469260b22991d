"""Linearizability as a live invariant: each client answer is checked as it arrives.

The lab records every client request when it is issued and when it is
answered (:mod:`raftviz.lab.clients`). After each answer, the history of the
answered request's key is checked against a sequential register with the
project's one checker (:func:`raftviz.lab.linearizability._search`, Wing and
Gong's search with Lowe's memo; keys are independent, so each is checked on
its own).

The work per answer stays bounded however long the run: a key's history is
cut at its *quiescent points*, the moments when no request on the key is
outstanding. Every operation before such a point precedes, in real time,
every operation after it, so a linearization of the whole history is a
linearization of the part before followed by one of the part after. The
checker keeps, per key, only the set of states a linearization of everything
before the last quiescent point may leave the key in (usually one), and the
operations since; an answer is checked by searching those operations from
each of those states. A key that is never quiescent, or whose set of
possible states grows past :data:`MAX_STATES`, is given up as ``unknown``
(said once, never reported as a violation).

Only operations with an effect the model knows are checked: ``put``,
``append``, ``get`` and ``delete``; a refused request (its answer has an
``error``) had no effect and is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftviz.lab.clients import Request
from raftviz.lab.linearizability import ANOMALY, OK, UNKNOWN, Op, _search, explain, simplify

#: The operations the model checks.
CHECKED = ("put", "append", "get", "delete")
#: Search steps allowed per answer, per possible start state.
BUDGET = 200_000
#: Possible states of a key kept at a quiescent point before giving up on the key.
MAX_STATES = 16
#: Operations since a key's last quiescent point before giving up on the key.
MAX_WINDOW = 48


@dataclass(slots=True)
class KeyHistory:
    """One key: where linearizations may have left it, and what happened since."""

    #: The states a linearization of everything before ``window`` may end in.
    starts: frozenset[str | None] = frozenset([None])
    #: Operations since the last quiescent point, answered or not, with their numbers.
    window: list[tuple[int, Request]] = field(default_factory=list)
    #: Requests on this key not answered yet.
    pending: int = 0
    #: Why the key is no longer checked ("" while it is).
    gave_up: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """A key whose history cannot be linearized (``anomaly``) or is no longer checked."""

    key: str
    verdict: str  # ANOMALY or UNKNOWN
    detail: str


class LiveLinearizability:
    """The per-key state of the live check (part of the lab's state: checkpoints copy it)."""

    def __init__(self) -> None:
        self.keys: dict[str, KeyHistory] = {}
        #: Search steps spent so far (benchmarks report it).
        self.steps = 0
        #: Answers checked so far.
        self.checks = 0
        #: Requests seen so far (numbers the operations in reports).
        self.invocations = 0
        #: Keys found not linearizable, and keys given up, in the order found.
        self.findings: list[Finding] = []

    @property
    def verdict(self) -> str:
        """``ok``, ``anomaly`` (some key failed) or ``unknown`` (some key was given up)."""
        kinds = {f.verdict for f in self.findings}
        return ANOMALY if ANOMALY in kinds else UNKNOWN if kinds else "ok"

    def invoked(self, request: Request) -> None:
        """A request was issued (it enters its key's window)."""
        if request.command.op not in CHECKED:
            return
        history = self.keys.setdefault(request.command.key, KeyHistory())
        history.pending += 1
        self.invocations += 1
        if not history.gave_up:
            history.window.append((self.invocations, request))

    def answered(self, request: Request) -> Finding | None:
        """A request was answered: check its key; a new finding, or None."""
        if request.command.op not in CHECKED:
            return None
        history = self.keys.get(request.command.key)
        if history is None:
            return None
        history.pending -= 1
        if history.gave_up:
            return None
        finding = self._check(request.command.key, history)
        if finding is not None:
            self.findings.append(finding)
        return finding

    def _check(self, key: str, history: KeyHistory) -> Finding | None:
        self.checks += 1
        ops = simplify([_op(n, r) for n, r in history.window if not (r.done and r.error)])
        quiescent = history.pending == 0
        # Only at a quiescent point are the end states needed (to fold the window into them);
        # before it, the first linearization found settles the answer.
        finals: set[str | None] | None = set() if quiescent else None
        verdicts = []
        for start in sorted(history.starts, key=lambda s: (s is not None, s or "")):
            verdict, steps = _search(ops, BUDGET, start, finals)
            self.steps += steps
            verdicts.append(verdict)
            if verdict == OK and finals is None:
                break
        if OK not in verdicts and not finals and UNKNOWN not in verdicts:
            history.gave_up = "not linearizable"
            anomaly = explain(_before(key, history.starts) + ops)
            return Finding(key, ANOMALY, anomaly.describe())
        if quiescent and UNKNOWN not in verdicts and finals and len(finals) <= MAX_STATES:
            # Everything so far precedes everything to come: keep only where it may leave the key.
            history.starts = frozenset(finals)
            history.window = []
        elif len(history.window) > MAX_WINDOW:
            why = "no quiescent point" if not quiescent else "too many possible states"
            return self._give_up(key, history, f"{why} within {MAX_WINDOW} operations")
        return None

    def _give_up(self, key: str, history: KeyHistory, why: str) -> Finding:
        history.gave_up = why
        history.window = []
        return Finding(key, UNKNOWN, f"key {key!r} no longer checked: {why}")


def _before(key: str, starts: frozenset[str | None]) -> list[Op]:
    """Operations that leave the key in any one of ``starts``, all before the window (for ``explain``).

    Concurrent writes, one per state: a linearization may order any of them last.
    """
    return [
        Op("(before)", "delete" if state is None else "put", key, -2, -1, state or "", None, -1)
        for state in sorted(starts, key=lambda s: (s is not None, s or ""))
    ]


def _op(number: int, request: Request) -> Op:
    command = request.command
    ret = request.answered_at if request.done else None
    output = request.result if command.op == "get" else None
    return Op(request.client, command.op, command.key, request.issued_at, ret, command.value, output, number)
