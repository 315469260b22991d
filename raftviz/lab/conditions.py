"""Conditions of the scenario language, for ``until``, ``expect`` and lesson checks.

Grammar (DESIGN.md §4)::

    leader                  exactly one live leader in the highest term among live leaders
    leader=N                ... and it is node N
    no-leader               no live node is leader
    N.FIELD OP VALUE        a status field of node N (N may be ``leader``)
    all.FIELD OP VALUE      the same for every live node
    kv KEY=VALUE            every live node's state machine holds KEY=VALUE
    kv KEY=-                no live node's state machine holds KEY
    idle                    no client request is waiting for an answer
    messages OP N           the number of messages in flight
    leaders OP N            the number of live nodes that believe they are leader
    time OP MS              the virtual time
    violated                an invariant was violated in this run (a planted bug's damage)
    violated=NAME           ... that invariant (``violated=Election Safety``)
    not COND                the opposite of COND

FIELD is a key of the ``status`` line (role, term, vote, commit, applied,
last, alive, leader, dropped, voters, learners, snap; and transfer, the
node a leader is handing over to, 0 when none); OP is one of
``= != < <= > >=``. Numbers compare as numbers; anything else compares as
text (only ``=`` and ``!=``): ``2.voters = 1,2,3,4`` (ids in order),
``all.learners = -`` (none), ``3.snap >= 100`` (snapshot index). VALUE may
itself be another node's field, read when the condition is evaluated:
``all.applied = leader.commit``, ``3.last >= 1.commit``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from raftviz.lab.lab import Lab, LabError
from raftviz.lab.views import NodeView

FIELDS = (
    "role",
    "term",
    "vote",
    "commit",
    "applied",
    "last",
    "alive",
    "leader",
    "dropped",
    "voters",
    "learners",
    "snap",
    "disk",
    "recovering",
    "transfer",
)
#: Fields whose values are words or lists, never numbers.
TEXT_FIELDS = ("role", "alive", "voters", "learners", "disk", "recovering")
OPS: dict[str, Callable[[object, object], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_COMPARE = re.compile(r"^(\w+)\.(\w+)\s*(!=|<=|>=|=|<|>)\s*(\S+)$")
_REFERENCE = re.compile(r"^(\d+|leader)\.(\w+)$")
_COUNT = re.compile(r"^(messages|time|leaders)\s*(!=|<=|>=|=|<|>)\s*(\d+)$")


class ConditionError(ValueError):
    """A condition that does not parse."""


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition; ``text`` is how it was written."""

    text: str
    kind: str
    node: str = ""  # a node id, "all" or "leader"
    field: str = ""
    op: str = ""
    value: str = ""
    inner: Condition | None = None
    #: When VALUE names a field (``leader.commit``): that node and field.
    ref: tuple[str, str] | None = None


def parse_condition(text: str) -> Condition:
    text = " ".join(text.split())
    if not text:
        raise ConditionError("missing condition")
    if text.startswith("not "):
        return Condition(text, "not", inner=parse_condition(text[4:]))
    if text in ("leader", "no-leader", "idle", "linearizable"):
        return Condition(text, text)
    if text == "violated" or text.startswith("violated="):
        return Condition(text, "violated", value=text.partition("=")[2])
    if text.startswith("leader="):
        node = text[len("leader=") :]
        if not node.isdigit():
            raise ConditionError(f"leader=N needs a node id, not {node!r}")
        return Condition(text, "leader=", node=node)
    if text.startswith("kv "):
        pair = text[3:].strip()
        if "=" not in pair or " " in pair or pair.startswith("="):
            raise ConditionError("kv needs KEY=VALUE (or KEY=- for an absent key)")
        key, value = pair.split("=", 1)
        return Condition(text, "kv", field=key, value=value)
    m = _COUNT.match(text)
    if m:
        return Condition(text, m.group(1), op=m.group(2), value=m.group(3))
    m = _COMPARE.match(text)
    if not m:
        raise ConditionError(
            f"unknown condition {text!r} (try leader, leader=N, no-leader, N.FIELD OP VALUE, "
            "all.FIELD OP VALUE, kv KEY=VALUE, idle, messages OP N, leaders OP N, time OP MS, violated, "
            "not COND)"
        )
    node, field, op, value = m.groups()
    if not (node.isdigit() or node in ("all", "leader")):
        raise ConditionError(f"{node!r} is not a node id, 'all' or 'leader'")
    if field not in FIELDS:
        raise ConditionError(f"unknown field {field!r} (fields: {', '.join(FIELDS)})")
    if op not in ("=", "!=") and field in TEXT_FIELDS:
        raise ConditionError(f"{field} is not a number: compare it with = or !=")
    ref = _REFERENCE.match(value)
    if ref:
        if ref.group(2) not in FIELDS:
            raise ConditionError(f"unknown field {ref.group(2)!r} in {value!r} (fields: {', '.join(FIELDS)})")
        return Condition(text, "field", node=node, field=field, op=op, value=value, ref=(ref[1], ref[2]))
    if op not in ("=", "!=") and not value.lstrip("-").isdigit():
        raise ConditionError(f"{op} needs a number, not {value!r}")
    return Condition(text, "field", node=node, field=field, op=op, value=value)


def _compare(actual: str, op: str, expected: str) -> bool:
    if actual.lstrip("-").isdigit() and expected.lstrip("-").isdigit():
        return OPS[op](int(actual), int(expected))
    if op not in ("=", "!="):
        return False
    return OPS[op](actual, expected)


def evaluate(cond: Condition, lab: Lab) -> tuple[bool, str]:
    """(holds, what was actually seen) for a condition on the lab's current state."""
    kind = cond.kind
    if kind == "not":
        assert cond.inner is not None
        ok, seen = evaluate(cond.inner, lab)
        return not ok, seen
    if kind in ("leader", "leader="):
        leader = lab.leader()
        seen = f"leader is {leader}" if leader else _leaders_text(lab)
        if kind == "leader":
            return bool(leader), seen
        return leader == int(cond.node), seen
    if kind == "violated":
        names = [v.invariant for v in lab.violations]
        ok = bool(names) if not cond.value else cond.value in names
        return ok, f"violated: {', '.join(dict.fromkeys(names))}" if names else "every invariant holds"
    if kind == "no-leader":
        return not lab.leaders(), _leaders_text(lab)
    if kind == "linearizable":
        findings = lab.linearizability.findings
        return not findings, findings[0].detail if findings else "every answer so far is linearizable"
    if kind == "idle":
        pending = lab.pending_requests()
        return not pending, f"{len(pending)} client request(s) waiting"
    if kind == "messages":
        n = len(lab.flights)
        return OPS[cond.op](n, int(cond.value)), f"{n} message(s) in flight"
    if kind == "time":
        return OPS[cond.op](lab.now, int(cond.value)), f"t={lab.now}"
    if kind == "leaders":
        n = len(lab.leaders())
        return OPS[cond.op](n, int(cond.value)), _leaders_text(lab)
    if kind == "kv":
        live = [v for v in lab.views.values() if v.alive]
        wrong = []
        for v in live:
            have = v.kv.data.get(cond.field)
            want = None if cond.value == "-" else cond.value
            if have != want:
                wrong.append(f"node {v.id} has {cond.field}={'-' if have is None else have}")
        return (bool(live) and not wrong), ("; ".join(wrong) if wrong else "no live node" if not live else "")
    # field comparison
    views, missing = _views(lab, cond.node)
    if not views:
        return False, missing
    seen = []
    expected = cond.value
    if cond.ref is not None:
        ref_views, missing = _views(lab, cond.ref[0])
        if not ref_views:
            return False, f"{cond.value}: {missing}"
        expected = _field(ref_views[0], cond.ref[1])
        seen.append(f"{cond.value}={expected}")
    ok = True
    for v in views:
        actual = _field(v, cond.field)
        seen.append(f"{v.id}.{cond.field}={actual}")
        ok = ok and _compare(actual, cond.op, expected)
    return ok, " ".join(seen)


def _field(view: NodeView, name: str) -> str:
    """A status field; ``transfer`` (shown only while a leader hands over) is 0 otherwise."""
    return view.status_fields().get(name, "0")


def _views(lab: Lab, node: str) -> tuple[list[NodeView], str]:
    """The nodes ``node`` names (an id, ``leader`` or ``all`` live nodes), or none and why."""
    if node == "all":
        views = [v for v in lab.views.values() if v.alive]
        return views, "" if views else "no live node"
    if node == "leader":
        leader = lab.leader()
        return ([lab.views[leader]], "") if leader else ([], _leaders_text(lab))
    try:
        return [lab.view(int(node))], ""
    except LabError as exc:
        return [], str(exc)


def _leaders_text(lab: Lab) -> str:
    leaders = lab.leaders()
    if not leaders:
        return "no leader"
    return "leaders: " + ", ".join(f"{v.id} (term {v.term})" for v in leaders)
