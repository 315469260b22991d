"""Parsing the scenario language: one command per line; ``#`` at the start of a
line or after a space starts a comment, except ``#N`` (``deliver #12`` names message 12).

A script is parsed whole before anything runs, so a malformed line is
reported (file, line, problem) without side effects. Each command becomes a
``Command`` with typed parameters; ``raftviz.lab.session`` carries it out.
The language is documented, with an example per command, in
``docs/scenario-language.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from raftviz.core import bugs
from raftviz.core.config import MAX_SESSION_EXPIRY_MS, MAX_TIMEOUT_MS
from raftviz.lab.breakpoints import BreakpointError, parse_breakpoint
from raftviz.lab.conditions import ConditionError, parse_condition
from raftviz.lab.search import QueryError, parse_query

NodeRef = int | str  # a node id, or "leader"


class ScriptError(Exception):
    """A malformed line: names the file, the line and the problem."""

    def __init__(self, message: str, line: int = 0, source: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.source = source

    def __str__(self) -> str:
        where = (
            f"{self.source}:{self.line}: "
            if self.source and self.line
            else (f"line {self.line}: " if self.line else "")
        )
        return f"{where}{self.message}"


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed command line."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    line: int = 0


class _Bad(ValueError):
    pass


#: The most virtual time one ``advance`` or ``until ... max=`` may run: a week. A bound
#: at all so that a slip (``advance 100000000000000000000000``) is refused, not run for ever.
MAX_RUN_MS = 7 * 86_400_000
#: The most events one ``step N`` may run.
MAX_STEPS = 1_000_000


# ---------------------------------------------------------------- value parsers


def _int(text: str, what: str, lo: int = 0, hi: int | None = None) -> int:
    if not re.fullmatch(r"\d+", text):
        raise _Bad(f"{what} must be a whole number, not {text!r}")
    value = int(text)
    if value < lo or (hi is not None and value > hi):
        bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise _Bad(f"{what} must be {bound}, not {value}")
    return value


def _duration(text: str, what: str, hi: int = MAX_RUN_MS) -> int:
    """Milliseconds: ``250``, ``250ms`` or ``2s``; at most ``hi``."""
    m = re.fullmatch(r"(\d+)(ms|s)?", text)
    if not m:
        raise _Bad(f"{what} must be a duration such as 250, 250ms or 2s, not {text!r}")
    value = int(m.group(1)) * (1000 if m.group(2) == "s" else 1)
    if value > hi:
        raise _Bad(f"{what} must be at most {hi} ms ({_human(hi)}), not {text}")
    return value


def _human(ms: int) -> str:
    """``604800000`` -> ``7 days``: a bound said the way a reader thinks of it."""
    for unit, size in (("day", 86_400_000), ("hour", 3_600_000)):
        if ms % size == 0:
            count = ms // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{ms} ms"


def _range(text: str, what: str, hi: int = MAX_TIMEOUT_MS) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if not m:
        raise _Bad(f"{what} must be MS or MIN-MAX, not {text!r}")
    lo = int(m.group(1))
    top = int(m.group(2)) if m.group(2) else lo
    if lo > top:
        raise _Bad(f"{what}: {lo} is more than {top}")
    if top > hi:
        raise _Bad(f"{what} must be at most {hi} ms ({_human(hi)}), not {text}")
    return lo, top


def _node(text: str) -> NodeRef:
    if text == "leader":
        return text
    return _int(text, "node", lo=1)


def _flight(text: str) -> int:
    return _int(text.removeprefix("#"), "message id", lo=1)


def _onoff(text: str, what: str) -> bool:
    if text not in ("on", "off"):
        raise _Bad(f"{what} must be on or off, not {text!r}")
    return text == "on"


def _probability(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Bad(f"{what} must be a probability between 0 and 1, not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise _Bad(f"{what} must be between 0 and 1, not {text}")
    return value


def _link(text: str) -> tuple[NodeRef, NodeRef, bool]:
    """``1->2`` (one way) or ``1-2`` (both ways); either end may be ``leader``."""
    m = re.fullmatch(r"(\d+|leader)(->|-)(\d+|leader)", text)
    if not m:
        raise _Bad(f"a link is written A->B (one way) or A-B (both ways), not {text!r}")
    a, b = _node(m.group(1)), _node(m.group(3))
    if a == b:
        raise _Bad(f"a link joins two different nodes, not {text!r}")
    return a, b, m.group(2) == "-"


def _token(text: str, what: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:/@+-]{1,64}", text):
        raise _Bad(f"{what} must be 1-64 letters, digits or _.:/@+-, not {text!r}")
    return text


# ---------------------------------------------------------------- command parsers

Args = list[str]
Opts = dict[str, str]


def _no_opts(opts: Opts, allowed: tuple[str, ...] = ()) -> None:
    for key in opts:
        if key not in allowed:
            hint = f" (options: {', '.join(allowed)})" if allowed else ""
            raise _Bad(f"unknown option {key}={opts[key]}{hint}")


def _arity(args: Args, lo: int, hi: int, usage: str) -> None:
    if not lo <= len(args) <= hi:
        raise _Bad(f"usage: {usage}")


CLUSTER_OPTIONS = (
    "seed",
    "election",
    "heartbeat",
    "latency",
    "loss",
    "noop",
    "batch",
    "client-timeout",
    "backend",
    "snapshot",
    "snapshot-bytes",
    "chunk",
    "bug",
    "hidden-bug",
    "sessions",
    "node",
    "prevote",
    "checkquorum",
)


def _node_commands(opts: Opts) -> dict[str, Any]:
    """``node="CMD ARGS"`` and ``node@N="CMD"``: foreign node commands (docs/protocol.md §7.1).

    Taken out of ``opts`` (``node@N`` is not a fixed option name).
    """
    params: dict[str, Any] = {}
    per_node = []
    for key in [k for k in opts if k == "node" or k.startswith("node@")]:
        command = opts.pop(key).strip()
        if not command:
            raise _Bad(f'{key}= needs a command, e.g. {key}="node examples/js-node/node.js"')
        if key == "node":
            params["node"] = command
            continue
        number = key.partition("@")[2]
        # Up to 9, not just N: a node added later (add 4) runs its node@4 command.
        if not number.isdigit() or not 1 <= int(number) <= 9:
            raise _Bad(f"{key}: node ids are 1..9")
        per_node.append((int(number), command))
    if per_node:
        params["node_at"] = tuple(sorted(per_node))
    return params


def _p_cluster(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 0, 1, "cluster [N] [seed=S election=MIN-MAX heartbeat=MS latency=MIN-MAX ...]")
    nodes = _int(args[0], "cluster size", 1, 9) if args else 5
    opts = dict(opts)
    foreign = _node_commands(opts)
    _no_opts(opts, CLUSTER_OPTIONS)
    params: dict[str, Any] = {"nodes": nodes, **foreign}
    if "seed" in opts:
        params["seed"] = _int(opts["seed"], "seed")
    if "election" in opts:
        params["election"] = _range(opts["election"], "election")
        if params["election"][0] < 1:
            raise _Bad("election timeout must be at least 1 ms")
    if "heartbeat" in opts:
        params["heartbeat"] = _int(opts["heartbeat"], "heartbeat", lo=1, hi=MAX_TIMEOUT_MS)
    if "latency" in opts:
        params["latency"] = _range(opts["latency"], "latency")
    if "loss" in opts:
        params["loss"] = _probability(opts["loss"], "loss")
    if "noop" in opts:
        params["noop"] = _onoff(opts["noop"], "noop")
    if "batch" in opts:
        params["batch"] = _int(opts["batch"], "batch", lo=1, hi=10_000)
    if "client-timeout" in opts:
        params["client_timeout"] = _int(opts["client-timeout"], "client-timeout", lo=1, hi=MAX_TIMEOUT_MS)
    if "backend" in opts:
        if opts["backend"] not in ("udp", "inprocess"):
            raise _Bad(f"backend must be udp or inprocess, not {opts['backend']!r}")
        params["backend"] = opts["backend"]
    if "snapshot" in opts:
        params["snapshot"] = _int(opts["snapshot"], "snapshot (entries; 0 = off)", lo=0)
    if "snapshot-bytes" in opts:
        params["snapshot_bytes"] = _int(opts["snapshot-bytes"], "snapshot-bytes (0 = off)", lo=0)
    if "chunk" in opts:
        params["chunk"] = _int(opts["chunk"], "chunk (bytes)", lo=1, hi=32_768)
    if "bug" in opts and "hidden-bug" in opts:
        raise _Bad("bug= and hidden-bug= do the same but for the name: give one")
    if "bug" in opts or "hidden-bug" in opts:
        try:
            params["bugs"] = bugs.parse(opts.get("bug") or opts["hidden-bug"])
        except bugs.BugError as exc:
            raise _Bad(str(exc)) from None
        params["bugs_hidden"] = "hidden-bug" in opts
        out_of_range = [s for s in params["bugs"] if "@" in s and int(s.partition("@")[2]) > params["nodes"]]
        if out_of_range:
            raise _Bad(f"bug {out_of_range[0]}: the cluster has nodes 1..{params['nodes']}")
    if "prevote" in opts:
        params["prevote"] = _onoff(opts["prevote"], "prevote")
    if "checkquorum" in opts:
        params["checkquorum"] = _onoff(opts["checkquorum"], "checkquorum")
    if "sessions" in opts:
        params["sessions"] = _seconds_ms(
            opts["sessions"], "sessions (idle seconds before a session expires; 0 = off)"
        )
    return params


def _seconds_ms(text: str, what: str) -> int:
    """Seconds with at most three decimals (``2``, ``0.5``), as whole milliseconds."""
    whole, _, fraction = text.partition(".")
    if (
        not whole.isdigit()
        or not (fraction.isdigit() or fraction == "")
        or len(fraction) > 3
        or ("." in text and not fraction)
    ):
        raise _Bad(f"{what} must be a number of seconds such as 2 or 0.5, not {text!r}")
    ms = int(whole) * 1000 + int(fraction.ljust(3, "0") or 0)
    if ms > MAX_SESSION_EXPIRY_MS:
        raise _Bad(f"{what} must be at most {MAX_SESSION_EXPIRY_MS // 1000} (a week)")
    return ms


def _p_count(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 0, 1, "step [N]")
    _no_opts(opts)
    return {"count": _int(args[0], "count", lo=1, hi=MAX_STEPS) if args else 1}


def _p_advance(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 1, 1, "advance MS")
    _no_opts(opts)
    return {"ms": _duration(args[0], "time")}


def _p_expect(args: Args, opts: Opts) -> dict[str, Any]:
    """``expect COND``, or ``expect violation [INVARIANT]``: a planted bug's run must break it."""
    if args and args[0] == "violation":
        _no_opts(opts)
        return {"violation": " ".join(args[1:])}
    return _p_condition(args, opts, with_max=False)


def _p_condition(args: Args, opts: Opts, with_max: bool) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if with_max and args and args[-1].startswith("max="):
        params["max"] = _duration(args.pop()[4:], "max")
    try:
        params["cond"] = parse_condition(" ".join(args))
    except ConditionError as exc:
        raise _Bad(str(exc)) from None
    return params


#: Message type names a selector may use.
MESSAGE_TYPES = (
    "RequestVote",
    "RequestVoteReply",
    "AppendEntries",
    "AppendEntriesReply",
    "InstallSnapshot",
    "InstallSnapshotReply",
    "ClientRequest",
    "ClientReply",
    "PreVote",
    "PreVoteReply",
    "TimeoutNow",
)


def _p_flight(args: Args, opts: Opts) -> dict[str, Any]:
    """``ID`` (``12`` or ``#12``), or a selector ``FROM->TO [TYPE]``: the message
    from FROM to TO (of that type) that is due first."""
    usage = "deliver|drop|duplicate ID, or FROM->TO [TYPE] (the first due such message)"
    _arity(args, 1, 2, usage)
    _no_opts(opts)
    if len(args) == 1 and "->" not in args[0]:
        return {"id": _flight(args[0])}
    # ``leader`` is the node that leads when the command runs, never a client id.
    m = re.fullmatch(r"(\d+|[A-Za-z]\w*|\*)->(\d+|[A-Za-z]\w*|\*)", args[0])
    if not m:
        raise _Bad(f"a selector is FROM->TO with node ids, client ids or *, not {args[0]!r}")
    kind = args[1] if len(args) == 2 else ""
    if kind and kind not in MESSAGE_TYPES:
        raise _Bad(f"unknown message type {kind!r} (types: {', '.join(MESSAGE_TYPES)})")
    return {"src": m.group(1), "dst": m.group(2), "type": kind}


def _p_node(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 1, 1, "crash|restart|timeout|log|kv N (or leader)")
    _no_opts(opts)
    return {"node": _node(args[0])}


def _p_disk(args: Args, opts: Opts) -> dict[str, Any]:
    """``disk N fail|full|ok`` or ``disk N slow MS`` (raftviz.node.disk)."""
    usage = "disk N fail|full|slow MS|ok"
    _arity(args, 2, 3, usage)
    _no_opts(opts)
    mode = args[1]
    if mode not in ("fail", "full", "slow", "ok"):
        raise _Bad(f"a disk is fail, full, slow MS or ok, not {mode!r} (usage: {usage})")
    if (mode == "slow") != (len(args) == 3):
        raise _Bad("slow takes the extra fsync time: disk N slow MS" if mode == "slow" else f"usage: {usage}")
    ms = _duration(args[2], "slow fsync time") if mode == "slow" else 0
    if mode == "slow" and not 1 <= ms <= 60_000:
        raise _Bad(f"slow fsync time must be 1..60000 ms, not {ms}")
    return {"node": _node(args[0]), "mode": mode, "ms": ms}


#: What ``corrupt N KIND`` may do (raftviz.node.storage.damage_directory), and the file it damages.
CORRUPT_KINDS = {
    "log": "raft.dat",
    "last": "raft.dat",
    "cut": "raft.dat",
    "zeros": "raft.dat",
    "lose-log": "raft.dat",
    "snapshot": "snapshot.dat",
}
_CORRUPT_USAGE = "corrupt N [log|last|cut|zeros|lose-log|snapshot|id=M]"


def _p_corrupt(args: Args, opts: Opts) -> dict[str, Any]:
    """``corrupt N [KIND | id=M]``: damage a stopped node's files at rest (default: raft.dat's first byte)."""
    _arity(args, 1, 2, _CORRUPT_USAGE)
    _no_opts(opts, ("id",))
    if "id" in opts:
        if len(args) == 2:
            raise _Bad(f"usage: {_CORRUPT_USAGE}")
        return {"node": _node(args[0]), "kind": "id", "id": _int(opts["id"], "node id", lo=1, hi=9)}
    kind = args[1] if len(args) == 2 else "log"
    if kind not in CORRUPT_KINDS:
        raise _Bad(f"corrupt does log, last, cut, zeros, lose-log, snapshot or id=M, not {kind!r}")
    return {"node": _node(args[0]), "kind": kind, "id": 0}


def _p_member(args: Args, opts: Opts, add: bool) -> dict[str, Any]:
    _arity(args, 1, 1, "add N [via=N]" if add else "remove N|leader [via=N]")
    _no_opts(opts, ("via",))
    node = _int(args[0], "node", lo=1, hi=9) if add else _node(args[0])
    return {"node": node, "via": _node(opts["via"]) if "via" in opts else 0}


def _p_partition(args: Args, opts: Opts) -> dict[str, Any]:
    _no_opts(opts)
    text = " ".join(args)
    # Node references (``leader`` included) are resolved when the command runs.
    groups: list[list[NodeRef]] = []
    seen: set[NodeRef] = set()
    for part in text.split("|"):
        members = [m for m in re.split(r"[,\s]+", part.strip()) if m]
        if not members:
            raise _Bad("usage: partition 1,2 | 3,4,5 (groups of node ids separated by |)")
        group = [_node(m) for m in members]
        for i, node in enumerate(group):
            if node in group[:i]:
                raise _Bad(f"node {node} is named twice in one group ({part.strip()})")
            if node in seen:
                raise _Bad(f"node {node} is in two groups")
            seen.add(node)
        groups.append(group)
    if len(groups) < 2:
        raise _Bad("a partition needs at least two groups separated by |")
    return {"groups": groups}


def _p_links(args: Args, opts: Opts, required: bool) -> dict[str, Any]:
    _no_opts(opts)
    if required and not args:
        raise _Bad("usage: cut A->B | A-B ...")
    return {"links": [_link(a) for a in args]}


def _p_loss(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 1, 1, "loss P (0 to 1)")
    _no_opts(opts)
    return {"loss": _probability(args[0], "loss")}


def _p_latency(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 1, 1, "latency MS | MIN-MAX")
    _no_opts(opts)
    return {"latency": _range(args[0], "latency")}


def _client_opts(opts: Opts, params: dict[str, Any]) -> dict[str, Any]:
    _no_opts(opts, ("via", "client"))
    params["via"] = _node(opts["via"]) if "via" in opts else 0
    params["client"] = _token(opts.get("client", "c1"), "client id")
    if not params["client"][0].isalpha():
        raise _Bad("a client id starts with a letter (c1, alice...)")
    if params["client"] == "leader":
        raise _Bad("'leader' names a node, not a client: choose another client id")
    return params


def _p_write(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 2, 2, "put|append KEY VALUE [via=N] [client=ID]")
    return _client_opts(opts, {"key": _token(args[0], "key"), "value": _token(args[1], "value")})


def _p_writes(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 1, 1, "writes N [keys=K] [client=ID] [via=N]")
    keys = _int(opts.pop("keys"), "keys", lo=1) if "keys" in opts else 10
    params = _client_opts(opts, {"count": _int(args[0], "count", lo=1, hi=100_000), "keys": keys})
    return params


def _p_read(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 1, 1, "get|delete KEY [via=N] [client=ID]")
    return _client_opts(opts, {"key": _token(args[0], "key"), "value": ""})


#: ``get KEY read=MODE``: how the read is served (raftviz.core.reads). ``via=`` already names
#: the node a request is sent to, so the mode has its own option; ``log`` is the default.
GET_READ_MODES = ("log", "readindex", "lease")


def _p_get(args: Args, opts: Opts) -> dict[str, Any]:
    """``get KEY [read=log|readindex|lease] [via=N] [client=ID]``."""
    _arity(args, 1, 1, "get KEY [read=log|readindex|lease] [via=N] [client=ID]")
    read = opts.pop("read", "log")
    if read not in GET_READ_MODES:
        raise _Bad(f"read= is log, readindex or lease, not {read!r}")
    params = _client_opts(opts, {"key": _token(args[0], "key"), "value": ""})
    params["read"] = "" if read == "log" else read
    return params


#: The clock rates ``clock N rate=R`` accepts: a node's clock may run 100 times slower or faster.
CLOCK_RATE_MIN, CLOCK_RATE_MAX = Fraction(1, 100), Fraction(100)


def _p_clock(args: Args, opts: Opts) -> dict[str, Any]:
    """``clock N rate=R``: node N's timers run R times as fast as virtual time (R a decimal)."""
    usage = "clock N rate=R (R a decimal such as 2, 1.5 or 0.5)"
    _arity(args, 1, 1, usage)
    if "rate" not in opts:
        raise _Bad(f"usage: {usage}")
    text = opts.pop("rate")
    _no_opts(opts)
    if not re.fullmatch(r"\d{1,3}(\.\d{1,3})?", text):
        raise _Bad(f"a clock rate is a decimal such as 2, 1.5 or 0.5, not {text!r}")
    rate = Fraction(text)
    if not CLOCK_RATE_MIN <= rate <= CLOCK_RATE_MAX:
        raise _Bad(f"a clock rate must be 0.01 to 100, not {text}")
    return {"node": _node(args[0]), "rate": rate}


def _p_none(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 0, 0, "takes no arguments")
    _no_opts(opts)
    return {}


def _p_timers(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 1, 1, "timers spread|align")
    _no_opts(opts)
    if args[0] not in ("spread", "align"):
        raise _Bad(f"timers takes spread or align, not {args[0]!r}")
    return {"how": args[0]}


def _p_mark(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 1, 1, "mark NAME")
    _no_opts(opts)
    if args[0].isdigit():
        raise _Bad("a mark's name must not be a number (numbers are positions: goto 512)")
    return {"name": _token(args[0], "a mark's name")}


def _p_goto(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 1, 1, "goto NAME|POSITION")
    _no_opts(opts)
    return {"target": _token(args[0], "a mark or a position")}


def _p_moves(args: Args, opts: Opts, usage: str) -> dict[str, Any]:
    _arity(args, 0, 1, usage)
    _no_opts(opts)
    return {"count": _int(args[0], "count", lo=1) if args else 1}


def _p_break(args: Args, opts: Opts) -> dict[str, Any]:
    """``break`` lists the breakpoints; ``break SPEC`` sets one (raftviz.lab.breakpoints)."""
    if not args:
        return {"breakpoint": None}
    try:
        return {"breakpoint": parse_breakpoint(" ".join(args), MESSAGE_TYPES)}
    except BreakpointError as exc:
        raise _Bad(str(exc)) from None


def _p_unbreak(args: Args, opts: Opts) -> dict[str, Any]:
    _arity(args, 1, 1, "unbreak N | all")
    _no_opts(opts)
    return {"number": 0 if args[0] == "all" else _int(args[0], "breakpoint number", lo=1)}


#: How many matches ``find`` lists unless ``max=N`` says otherwise.
FIND_SHOWN = 20


def _p_find(args: Args, opts: Opts) -> dict[str, Any]:
    """``find QUERY [max=N]``: the history positions whose events match (raftviz.lab.search)."""
    shown = FIND_SHOWN
    words = list(args)
    for word in list(words):
        if word.startswith("max="):
            shown = _int(word[4:], "max", lo=1)
            words.remove(word)
    try:
        query = parse_query(" ".join(words))
    except QueryError as exc:
        raise _Bad(str(exc)) from None
    return {"query": query, "max": shown}


def _p_say(args: Args, opts: Opts) -> dict[str, Any]:
    return {"text": " ".join(args + [f"{k}={v}" for k, v in opts.items()])}


PARSERS: dict[str, Callable[[Args, Opts], dict[str, Any]]] = {
    "cluster": _p_cluster,
    "step": _p_count,
    "advance": _p_advance,
    "until": lambda a, o: _p_condition(a, o, with_max=True),
    "expect": lambda a, o: _p_expect(a, o),
    "deliver": _p_flight,
    "drop": _p_flight,
    "duplicate": _p_flight,
    "crash": _p_node,
    "restart": _p_node,
    "timeout": _p_node,
    "transfer": _p_node,
    "add": lambda a, o: _p_member(a, o, add=True),
    "remove": lambda a, o: _p_member(a, o, add=False),
    "snapshot": _p_node,
    "disk": _p_disk,
    "corrupt": _p_corrupt,
    "partition": _p_partition,
    "heal": lambda a, o: _p_links(a, o, required=False),
    "cut": lambda a, o: _p_links(a, o, required=True),
    "loss": _p_loss,
    "latency": _p_latency,
    "put": _p_write,
    "append": _p_write,
    "writes": _p_writes,
    "get": _p_get,
    "clock": _p_clock,
    "delete": _p_read,
    "status": _p_none,
    "log": _p_node,
    "kv": _p_node,
    "messages": _p_none,
    "timers": _p_timers,
    "say": _p_say,
    # History (carried out by lab/history.py, not by the session).
    "mark": _p_mark,
    "goto": _p_goto,
    "back": lambda a, o: _p_moves(a, o, "back [N]"),
    "forward": lambda a, o: _p_moves(a, o, "forward [N]"),
    "branches": _p_none,
    "find": _p_find,
    "break": _p_break,
    "unbreak": _p_unbreak,
}

# Commands whose raw words must not be split into options (conditions hold "=").
_RAW = ("until", "expect", "say", "break", "find")

#: A comment starts with ``#`` at the start of a line, or after a space unless a
#: digit follows: ``deliver #12`` names message 12, and a ``#`` inside a word
#: (``c1#3``) belongs to the word.
_COMMENT = re.compile(r"^\s*#|\s#(?!\d)")


def parse_line(text: str, line: int = 0, source: str = "") -> Command | None:
    """Parse one line; None for a blank or comment line."""
    m = _COMMENT.search(text)
    stripped = (text[: m.start()] if m else text).strip()
    comment = text[m.end() :].strip() if m else ""
    if not stripped:
        return None
    try:
        return _parse_command(stripped, line, source)
    except ScriptError as exc:
        if comment:
            # The words after a spaced "#" were read as a comment: say so, it is easy to miss.
            exc.message += f" (note: '# {comment}' was read as a comment)"
            exc.args = (exc.message,)
        raise


#: A word, or ``key="several words"`` (a node command: ``node="node my-raft.js"``).
_WORD = re.compile(r'[^\s"=]+="[^"]*"(?=\s|$)|\S+')


def _words(stripped: str, line: int, source: str) -> list[str]:
    """The line's words; an option's value may be quoted to hold spaces (the quotes go)."""
    if '"' not in stripped:
        return stripped.split()
    words = []
    for word in _WORD.findall(stripped):
        if '"' in word:
            key, _, value = word.partition("=")
            if not (value.startswith('"') and value.endswith('"') and len(value) >= 2) or '"' in key:
                raise ScriptError(
                    f'unbalanced quotes in {word!r}: write key="value with spaces"', line, source
                )
            word = f"{key}={value[1:-1]}"
        words.append(word)
    return words


def _parse_command(stripped: str, line: int, source: str) -> Command:
    words = stripped.split()
    if words[0] not in _RAW:
        words = _words(stripped, line, source)
    name, rest = words[0], words[1:]
    parser = PARSERS.get(name)
    if parser is None:
        raise ScriptError(f"unknown command {name!r} (commands: {', '.join(sorted(PARSERS))})", line, source)
    args: list[str] = []
    opts: dict[str, str] = {}
    if name in _RAW:
        args = rest
    else:
        for word in rest:
            if "=" in word and not word.startswith("="):
                key, value = word.split("=", 1)
                if key in opts:
                    raise ScriptError(f"option {key} given twice", line, source)
                opts[key] = value
            else:
                args.append(word)
    try:
        params = parser(args, opts)
    except _Bad as exc:
        raise ScriptError(f"{name}: {exc}", line, source) from None
    return Command(name, params, stripped, line)


def parse_script(text: str, source: str = "<script>") -> list[Command]:
    """Parse a whole script, stopping at the first malformed line."""
    commands = []
    for number, line in enumerate(text.splitlines(), start=1):
        command = parse_line(line, number, source)
        if command is not None:
            commands.append(command)
    return commands
