"""One torture run: start the cluster, run clients and faults, heal, read back, check.

:func:`run_torture` is what ``raftviz torture`` calls. It reports progress
through a callback (the CLI draws the bar) and returns a
:class:`TortureResult`: the history, the faults, the checker's verdict and
every anomaly. Whatever happens (an error, Ctrl-C, SIGTERM, SIGHUP), every
node process it started is killed and its temporary directory removed
before it returns or raises.

The checks, after every fault is healed and a leader is back:

- *linearizability* of the whole history, final reads included
  (:mod:`raftviz.lab.linearizability`, key by key);
- *no acknowledged write lost*: a final read of every key ever used; on an
  append-only key it must hold every acknowledged append exactly once, and
  nothing that was never written (on mixed keys, a put may overwrite, and
  the linearizability of the final read is the check).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from raftviz.lab import linearizability
from raftviz.lab.exits import stop_signals
from raftviz.lab.torture.cluster import ClusterError, TortureCluster
from raftviz.lab.torture.nemesis import FAULT_KINDS, Fault, Nemesis
from raftviz.lab.torture.workload import (
    FAILED,
    INDETERMINATE,
    OK,
    Client,
    Clock,
    History,
    Keys,
    Record,
    append_only,
)
from raftviz.node.client import KVClient, NoLeaderError, RequestError

#: A client's give-up time for one request: past it the request is indeterminate. Shorter
#: than one attempt on a dead node (node/client.py ATTEMPT_TIMEOUT), so that what is in
#: flight when a leader dies ends indeterminate, as in Jepsen: that is the hard case for
#: the checker, and the one a long timeout would hide behind retries.
OP_TIMEOUT = 0.25
#: Generous: a loaded 2-core machine can take a while to start interpreters and elect.
START_TIMEOUT = 30.0
HEAL_TIMEOUT = 30.0
#: How long the final read of one key keeps trying, and all of them together.
FINAL_READ_TIMEOUT = 20.0
FINAL_READS_TIMEOUT = 120.0
#: Lost writes or unread keys listed one by one in the summary (the report lists them all).
SHOWN = 10


class TortureError(Exception):
    """The run could not be carried out (a cluster that would not start, say)."""


class OptionsError(TortureError):
    """The options make no sense (exit 2 at the command line)."""


def fresh_seed() -> int:
    """A seed for a run not given one (printed in the summary, so the schedule can be drawn again)."""
    return int.from_bytes(os.urandom(4), "big")


@dataclass(frozen=True, slots=True)
class TortureOptions:
    nodes: int = 3
    seconds: float = 20.0
    clients: int = 4
    faults: tuple[str, ...] = ("kill", "pause")
    seed: int = 0
    op_timeout: float = OP_TIMEOUT
    check_budget: int = linearizability.DEFAULT_BUDGET

    def validate(self) -> None:
        """OptionsError with a one-line reason if the options make no sense."""
        if self.nodes not in (3, 5):
            raise OptionsError(f"--nodes must be 3 or 5, not {self.nodes}")
        if not 0 < self.seconds <= 24 * 3600:
            raise OptionsError(f"--seconds must be above 0 (and at most a day), not {self.seconds:g}")
        if not 1 <= self.clients <= 64:
            raise OptionsError(f"--clients must be 1 to 64, not {self.clients}")
        unknown = [f for f in self.faults if f not in FAULT_KINDS]
        if unknown:
            raise OptionsError(
                f"unknown fault {unknown[0]!r}: choose among {','.join(FAULT_KINDS)} (or none)"
            )


@dataclass(slots=True)
class TortureProgress:
    """What the run is doing now, for a progress display."""

    phase: str  # starting | running | healing | reading back | checking
    elapsed: float
    seconds: float
    ops: dict[str, int]
    faults: int


@dataclass(slots=True)
class TortureResult:
    options: TortureOptions
    records: list[Record]
    faults: list[Fault]
    duration: float  # seconds the clients ran
    check: linearizability.CheckResult
    #: Lost, duplicated or invented writes found by the final reads, one sentence each.
    lost: list[str] = field(default_factory=list)
    #: Final reads that got no answer even after healing.
    unread: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.check.verdict == linearizability.OK and not self.lost and not self.unread

    def workload(self) -> list[Record]:
        """The clients' operations (the final reads excluded)."""
        return [r for r in self.records if r.client != "final"]

    def counts(self) -> dict[str, int]:
        counts = {OK: 0, FAILED: 0, INDETERMINATE: 0}
        for record in self.workload():
            counts[record.status or INDETERMINATE] += 1
        return counts

    def latencies(self) -> list[float]:
        return sorted(r.ret - r.call for r in self.workload() if r.status == OK and r.ret is not None)

    def anomaly_ids(self) -> set[int]:
        """The operations to highlight: each anomaly's witness, else its whole shrunken set."""
        return {op.id for anomaly in self.check.anomalies for op in (anomaly.witness or anomaly.ops)}


def percentile(ordered: list[float], p: float) -> float:
    """The ``p``-th percentile of an ascending list (nearest rank)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary_lines(result: TortureResult) -> list[str]:
    """The figures printed at the end of a run."""
    counts = result.counts()
    latencies = result.latencies()
    duration = max(result.duration, 1e-9)
    faults = ", ".join(
        f"{kind} {sum(f.kind == kind for f in result.faults)}" for kind in result.options.faults
    )
    anomalies = len(result.check.anomalies) + len(result.lost) + len(result.unread)
    lines = [
        f"{result.options.nodes} nodes, {result.options.clients} clients, {result.duration:.1f} s, "
        f"seed {result.options.seed}",
        f"ops: {counts[OK]} ok, {counts[FAILED]} failed, {counts[INDETERMINATE]} indeterminate "
        f"({counts[OK] / duration:.1f} ok ops/s)",
        f"latency: p50 {percentile(latencies, 50) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 99) * 1000:.1f} ms",
        f"faults: {faults or 'none'}",
        f"keys: {len(result.check.keys)} checked in {result.check.steps} search steps",
        f"anomalies: {anomalies}",
    ]
    for anomaly in result.check.anomalies:
        lines.append("not linearizable: " + anomaly.describe())
    for label, texts in (("lost write", result.lost), ("no final read", result.unread)):
        lines += [f"{label}: {text}" for text in texts[:SHOWN]]
        if len(texts) > SHOWN:
            lines.append(f"{label}: … and {len(texts) - SHOWN} more")
    for key in result.check.unknown_keys:
        lines.append(f"unknown: the checker's budget ran out on key {key!r} (not a pass)")
    return lines


def check_options(options: TortureOptions) -> None:
    """OptionsError if the run cannot be what was asked for (before anything starts)."""
    options.validate()


def run_torture(
    options: TortureOptions, progress: Callable[[TortureProgress], None] = lambda _p: None
) -> TortureResult:
    """Run the whole torture test; TortureError if it cannot be carried out."""
    check_options(options)
    with stop_signals():
        cluster = TortureCluster(options.nodes)
        try:
            return _run(cluster, options, progress)
        finally:
            cluster.close()


def _run(
    cluster: TortureCluster, options: TortureOptions, progress: Callable[[TortureProgress], None]
) -> TortureResult:
    clock = Clock()
    history = History(clock)

    def report(phase: str) -> None:
        faults = len(nemesis.faults) if nemesis is not None else 0
        elapsed = min(clock.now(), options.seconds)
        progress(TortureProgress(phase, elapsed, options.seconds, history.counts(), faults))

    nemesis: Nemesis | None = None
    report("starting")
    for node in cluster.ids:
        cluster.start(node)
    try:
        cluster.wait_leader(START_TIMEOUT)
    except ClusterError as exc:
        raise TortureError(f"the cluster did not start: {exc}") from None

    clock = Clock()
    history.clock = clock
    keys = Keys()
    stop = threading.Event()
    clients = [
        Client(i, cluster.addresses, history, keys, options.seed, stop, options.op_timeout)
        for i in range(1, options.clients + 1)
    ]
    if options.faults:
        nemesis = Nemesis(cluster, options.faults, clock, options.seed, stop)
    try:
        for client in clients:
            client.start()
        if nemesis is not None:
            nemesis.start()
        while clock.now() < options.seconds:
            if nemesis is not None and nemesis.error is not None:
                break  # the faults cannot be injected: no point in running on
            report("running")
            time.sleep(min(0.2, max(0.0, options.seconds - clock.now())))
    finally:
        stop.set()
    duration = clock.now()
    report("healing")
    for thread in [*clients, *([nemesis] if nemesis else [])]:
        thread.join(timeout=options.op_timeout + 30)
    if nemesis is not None:
        nemesis.heal()
        if nemesis.error is not None:
            raise TortureError(f"fault injection failed: {nemesis.error}")
    for node in cluster.ids:
        if not cluster.alive(node):
            cluster.start(node)
    try:
        cluster.wait_leader(HEAL_TIMEOUT)
    except ClusterError:
        pass  # the final reads say what could not be read

    report("reading back")
    unread = _final_reads(cluster, history, keys.all_used())
    report("checking")
    records = list(history.records)
    check = linearizability.check_history(_checker_ops(records), budget=options.check_budget)
    return TortureResult(
        options,
        records,
        list(nemesis.faults) if nemesis else [],
        duration,
        check,
        lost=_lost_writes(records),
        unread=unread,
    )


def _final_reads(cluster: TortureCluster, history: History, keys: list[str]) -> list[str]:
    """Read every key once more through a fresh session; the keys that got no answer."""
    unread = []
    client = KVClient(cluster.addresses, timeout=FINAL_READ_TIMEOUT)
    # One budget for all of them: a cluster that does not answer is said once, not waited on per key.
    give_up = time.monotonic() + FINAL_READS_TIMEOUT
    try:
        for key in keys:
            client.timeout = min(FINAL_READ_TIMEOUT, give_up - time.monotonic())
            if client.timeout <= 0:
                unread.append(f"{key}: not read, the final reads took over {FINAL_READS_TIMEOUT:g} s")
                continue
            record = history.invoke("final", "get", key, "")
            try:
                output = client.request("get", key, "")
            except (NoLeaderError, RequestError, OSError) as exc:
                history.complete(record, INDETERMINATE, error=str(exc))
                unread.append(f"{key}: {exc}")
            else:
                history.complete(record, OK, output=output)
    finally:
        client.close()
    return unread


def _checker_ops(records: list[Record]) -> list[linearizability.Op]:
    """The history as the checker takes it: refused operations had no effect and are left out."""
    ops = []
    for r in records:
        if r.status == FAILED:
            continue
        ret = r.ret if r.status == OK else None
        ops.append(linearizability.Op(r.client, r.kind, r.key, r.call, ret, r.value, r.output, r.id))
    return ops


def _lost_writes(records: list[Record]) -> list[str]:
    """Append-only keys: the final read holds each acknowledged append once and nothing unwritten."""
    problems = []
    finals = {r.key: r for r in records if r.client == "final" and r.status == OK}
    for key, final in sorted(finals.items()):
        if not append_only(key):
            continue
        tokens = [t + ";" for t in (final.output or "").split(";")[:-1]]
        appends = [r for r in records if r.key == key and r.kind == "append" and r.status != FAILED]
        written = {r.value for r in appends}
        for record in appends:
            present = tokens.count(record.value)
            if record.status == OK and present == 0:
                problems.append(
                    f"{key}: {record.client}'s append {record.value!r} (#{record.id}, acknowledged at "
                    f"{record.ret:.3f} s) is not in the final value"
                )
            if present > 1:
                problems.append(
                    f"{key}: {record.value!r} (#{record.id}) is in the final value {present} times"
                )
        for token in tokens:
            if token not in written:
                problems.append(f"{key}: the final value holds {token!r}, which no client appended")
    return problems
