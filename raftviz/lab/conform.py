"""``raftviz conform --node CMD``: a conformance kit for a Raft node written in any language.

A battery of scenario scripts, each about one rule of Raft or of
docs/protocol.md, runs against a cluster of CMD nodes on the udp backend (and
again with raftviz's own nodes mixed in: CMD on the even ids), then random
fault schedules from ``raftviz hunt``'s generator. Every invariant of the lab
is on throughout; on top of the scripts' own ``expect``/``until`` lines the kit
watches two things the lab does not fail a run for:

- a node stopped for breaking the protocol (lab/udp_backend.py names the rule);
- a datagram that is not byte-exact: decoding it and encoding it again must
  give the same bytes (docs/protocol.md §2: the shortest encodings, arrays
  only, ``str`` and ``bin`` apart), for each message type.

A rule fails with the smallest script the shrinker (lab/hunt/shrink.py) finds
that fails the same way: replay it with ``raftviz run FILE`` or step through
it with ``raftviz --load FILE``.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from raftviz.lab.hunt.generate import generate
from raftviz.lab.hunt.runner import QuietSession
from raftviz.lab.hunt.shrink import shrink
from raftviz.lab.lab import StepRecord
from raftviz.lab.script import ScriptError, parse_line
from raftviz.wire import datagram

#: How many runs the shrinker may spend on one failure (each is a real udp run, ~1 s).
SHRINK_RUNS = 150
#: The message types whose encoding the kit checks byte for byte, with their section.
ENCODED = ("RequestVote", "RequestVoteReply", "AppendEntries", "AppendEntriesReply", "ClientReply")


@dataclass(frozen=True, slots=True)
class Rule:
    """One scenario: what it checks, where the rule is written, and its script."""

    name: str
    where: str
    lines: tuple[str, ...]


@dataclass(slots=True)
class Result:
    """A rule's verdict: ``pass``, ``fail`` (with what and a minimal script) or ``skip`` (why)."""

    name: str
    where: str
    verdict: str
    detail: str = ""
    script: list[str] = field(default_factory=list)


def _cluster(n: int, extra: str = "") -> str:
    # Long election timeouts: the scenarios choose who stands (timeout N), not the dice.
    return f"cluster {n} seed=1 election=1000-2000{extra}"


#: The battery. Every script forces its elections (``timeout N``), so it means the same
#: whatever timeouts the node draws, and names its nodes by id.
BATTERY: tuple[Rule, ...] = (
    Rule(
        "handshake and framing",
        "docs/protocol.md §7.2-§7.4",
        (_cluster(3), "expect all.term=0", "expect 1.role=follower", "step 3"),
    ),
    Rule(
        "election without competition",
        "Raft §5.2; docs/protocol.md §5 RequestVote",
        (
            _cluster(3),
            "timeout 1",
            "until leader=1 max=1000",
            "until all.term=1 max=1000",
            "expect 2.vote=1",
            "expect 3.vote=1",
            "until all.commit=1 max=1000",
        ),
    ),
    Rule(
        "election with competition",
        "Raft §5.2 (split votes, randomised timeouts)",
        (
            _cluster(5, " latency=5-5"),
            "timeout 1",
            "timeout 2",
            "timeout 3",
            "until leader max=10000",
            "advance 300",
            "expect leader",
        ),
    ),
    Rule(
        "the election restriction",
        "Raft §5.4.1 (a vote only for an up-to-date log)",
        (
            _cluster(3),
            "timeout 1",
            "until leader=1 max=1000",
            "partition 3 | 1,2",
            "put a 1 via=1",
            "until 2.commit=2 max=1000",
            "heal",
            "timeout 3",
            "advance 100",
            "expect 3.role!=leader",
            "until leader max=10000",
            "until kv a=1 max=10000",
        ),
    ),
    Rule(
        "log repair after conflicts",
        "Raft §5.3 (AppendEntries consistency check, fast back-up)",
        (
            _cluster(3),
            "timeout 1",
            "until leader=1 max=1000",
            "until all.commit=1 max=1000",
            "partition 1 | 2,3",
            "put a old via=1 client=c2",
            "put b old via=1 client=c3",
            "advance 30",
            "timeout 2",
            "until leader=2 max=3000",
            "put c new via=2",
            "until 2.commit>=3 max=3000",
            "heal",
            "until kv c=new max=10000",
            "until idle max=10000",
        ),
    ),
    Rule(
        "votedFor survives a restart",
        "Raft Figure 2, persistent state",
        (
            _cluster(3),
            "timeout 1",
            "deliver 1->2 RequestVote",
            "deliver 2->1 RequestVoteReply",
            "crash 2",
            "restart 2",
            "timeout 3",
            "deliver 3->2 RequestVote",
            "deliver 2->3 RequestVoteReply",
            "advance 50",
            "expect 2.vote=1",
        ),
    ),
    Rule(
        "recovery from the data directory",
        "Raft Figure 2, persistent state; docs/protocol.md §7.5",
        (
            _cluster(3),
            "timeout 1",
            "until leader=1 max=1000",
            "put a 1 via=1",
            "until all.commit=2 max=2000",
            "crash 1",
            "crash 2",
            "crash 3",
            "restart 1",
            "restart 2",
            "restart 3",
            "expect all.term=1",
            "expect all.last=2",
            "until leader max=10000",
            "until kv a=1 max=10000",
        ),
    ),
    Rule(
        "partitions: a minority leader commits nothing",
        "Raft §5.3, §5.4",
        (
            _cluster(5),
            "timeout 1",
            "until leader=1 max=1000",
            "until all.commit=1 max=1000",
            "partition 1,2 | 3,4,5",
            "put a 1 via=1",
            "advance 500",
            "expect 1.commit=1",
            "timeout 3",
            "until leader=3 max=3000",
            "heal",
            "until kv a=1 max=10000",
            "until idle max=10000",
        ),
    ),
    Rule(
        "client retries are applied at most once",
        "dissertation §6.3; docs/protocol.md §5 ClientRequest",
        (
            _cluster(3),
            "timeout 1",
            "until leader=1 max=1000",
            "until all.commit=1 max=1000",
            "append k a via=1",
            "duplicate c1->1 ClientRequest",
            "until idle max=3000",
            "until kv k=a max=1000",
            "append k b via=1",
            "until 1.applied=3 max=1000",
            "drop 1->c1 ClientReply",
            "until idle max=3000",
            "until kv k=ab max=1000",
            "append k c via=2",
            "until 1.applied=4 max=1000",
            "drop 1->c1 ClientReply",
            "crash 1",
            "until idle max=10000",
            "until kv k=abc max=10000",
        ),
    ),
)


class _Watch:
    """Listens to every step: protocol breaks, and datagrams that are not byte-exact."""

    def __init__(self, session: QuietSession) -> None:
        self.session = session
        self.broken = ""
        self.inexact = ""
        #: Message types the nodes under test sent, all byte-exact so far.
        self.seen: set[str] = set()

    def __call__(self, record: StepRecord) -> None:
        if "broke docs/" in record.stopped and not self.broken:
            self.broken = record.stopped
        lab = self.session.lab
        foreign = lab.options.node_commands() if lab is not None else {}
        for flight in (*record.sent, *record.lost):
            if flight.src not in foreign:
                continue
            kind = type(flight.msg).__name__
            if datagram.encode(flight.msg) != flight.data and not self.inexact:
                self.inexact = (
                    f"{kind} from node {flight.src} is not byte-exact (docs/protocol.md §2-§3): "
                    f"sent {flight.data.hex()}, canonical {datagram.encode(flight.msg).hex()}"
                )
            self.seen.add(kind)


@dataclass(slots=True)
class _Run:
    """How one run of a script ended: ``signature`` "" if all held."""

    signature: str = ""
    detail: str = ""
    watch: _Watch | None = None
    #: The lines that ran (a lenient run leaves out the commands it skipped), up to the failure.
    ran: list[str] = field(default_factory=list)


def run(lines: list[str], node: str | None = None, strict: bool = True) -> _Run:
    """Run a script on udp with every invariant on; the first failure's signature and words.

    ``strict``: a command that fails (an ``expect``, an ``until``, a command the
    lab cannot carry out) is the failure; otherwise it is skipped, as hunt does.
    """
    session = QuietSession("udp", node=node)
    watch = _Watch(session)
    session.listeners.append(watch)
    result = _Run(watch=watch)
    try:
        for index, text in enumerate(lines):
            try:
                command = parse_line(text, index + 1)
            except ScriptError as exc:
                result.signature, result.detail = "invalid", str(exc)
                return result
            if command is None:
                continue
            outcome = session.execute(command)
            if not outcome.failure or strict:
                result.ran.append(text)
            lab = session.lab
            if lab is not None and lab.violations:
                violation = lab.violations[0]
                result.signature, result.detail = f"violation:{violation.invariant}", violation.describe()
            elif watch.broken:
                result.signature = "broke:" + watch.broken.partition(" during ")[0].partition("broke ")[2]
                result.detail = watch.broken
            elif watch.inexact:
                result.signature, result.detail = "encoding:" + watch.inexact.split()[0], watch.inexact
            elif outcome.failure and strict:
                result.signature, result.detail = f"failed:{text}", f"{text}: {outcome.failure}"
            if result.signature:
                return result
        return result
    finally:
        session.close()


def minimal(lines: list[str], signature: str, node: str | None, budget: int = SHRINK_RUNS) -> list[str]:
    """The smallest script the shrinker finds that fails with the same signature."""
    return shrink(list(lines), lambda candidate: run(candidate, node).signature == signature, max_runs=budget)


def with_node(line: str, command: str, mixed: bool) -> str:
    """The ``cluster`` line running ``command`` on every node, or (mixed) on the even ids."""
    words = line.split()
    n = int(words[1]) if len(words) > 1 and words[1].isdigit() else 5
    if not mixed:
        return f'{line} node="{command}"'
    return line + "".join(f' node@{i}="{command}"' for i in range(2, n + 1, 2))


def own_node() -> str:
    """raftviz's own node as a node command: the kit checks it the way it checks any other."""
    return f"{shlex.quote(sys.executable)} -m raftviz node"


def conform(
    command: str,
    seeds: range = range(10),
    mixed: bool = True,
    shrink_runs: int = SHRINK_RUNS,
    progress: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Every rule's result for nodes run as ``command``, in the battery's order."""
    results: list[Result] = []
    seen: set[str] = set()
    inexact: dict[str, str] = {}

    def report(result: Result) -> None:
        results.append(result)
        if progress is not None:
            progress(result)

    def judge(name: str, where: str, lines: list[str], strict: bool = True) -> None:
        outcome = run(lines, strict=strict)
        assert outcome.watch is not None
        seen.update(outcome.watch.seen)
        if outcome.signature.startswith("encoding:"):
            inexact.setdefault(outcome.signature.partition(":")[2], outcome.detail)
        if not outcome.signature:
            report(Result(name, where, "pass"))
            return
        script = outcome.ran
        # A broken invariant, protocol rule or encoding is a fact about the node, and the
        # shrinker keeps it; a scenario's own expectation is not (a shorter script can fail
        # "expect kv k=a" by never writing k), so that script is shown as it ran.
        objective = not outcome.signature.startswith("failed:")
        if objective and run(script).signature == outcome.signature:
            script = minimal(script, outcome.signature, None, shrink_runs)
        report(Result(name, where, "fail", outcome.detail, script))

    for rule in BATTERY:
        variants = ((False, ""), (True, " (mixed with raftviz's nodes)")) if mixed else ((False, ""),)
        for is_mixed, suffix in variants:
            lines = [with_node(rule.lines[0], command, is_mixed), *rule.lines[1:]]
            judge(rule.name + suffix, rule.where, lines)
    report(
        Result(
            "snapshots (InstallSnapshot, TakeSnapshot)",
            "docs/protocol.md §5 InstallSnapshot, §7.3 TakeSnapshot",
            "skip",
            "optional for a node= node: the lab sends it no TakeSnapshot, and a cluster under 1000 "
            "entries sends no InstallSnapshot",
        )
    )
    for seed in seeds:
        lines = generate(seed, nodes=3, beyond=False)  # Figure 2: a node need not have Pre-Vote
        lines[0] = with_node(lines[0], command, mixed=mixed and seed % 2 == 1)
        judge(f"random fault schedule, seed {seed}", "every invariant (hunt)", lines, strict=False)
    for kind in ENCODED:
        where = f"docs/protocol.md §2-§5, {kind}"
        if kind in inexact:
            report(Result(f"encoding: {kind}", where, "fail", inexact[kind]))
        elif kind in seen:
            report(Result(f"encoding: {kind}", where, "pass"))
        else:
            report(Result(f"encoding: {kind}", where, "fail", "never sent by the nodes under test"))
    return results


def render(results: list[Result]) -> str:
    """The report: one line per rule, each failure followed by its minimal script."""
    out = []
    for r in results:
        out.append(f"{r.verdict.upper():4}  {r.name}  ({r.where})")
        if r.detail:
            out.append(f"      {r.detail}")
        if r.script:
            out.append("      minimal script (save it, then: raftviz run FILE, or raftviz --load FILE):")
            out.extend(f"        {line}" for line in r.script)
    failed = sum(r.verdict == "fail" for r in results)
    passed = sum(r.verdict == "pass" for r in results)
    out.append(f"{passed} passed, {failed} failed, {len(results) - passed - failed} skipped")
    return "\n".join(out)
