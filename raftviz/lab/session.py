"""Carrying out scenario commands on a lab, and the transcript they produce.

A ``Session`` owns the current lab (``cluster`` makes a new one) and turns
each parsed command into lines of transcript. ``raftviz run``, the TUI's
command line, the lessons and the transcript tests all go through here, so
a command means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from raftviz.core import bugs
from raftviz.lab.backend import Backend, make_backend
from raftviz.lab.breakpoints import BreakHit, Breakpoints
from raftviz.lab.clients import Request
from raftviz.lab.conditions import evaluate
from raftviz.lab.describe import describe_answer_run, describe_flight, describe_record
from raftviz.lab.lab import Lab, LabError, LabOptions, StepRecord
from raftviz.lab.options import TransferRefused
from raftviz.lab.script import Command, NodeRef
from raftviz.node.disk import DiskFault
from raftviz.node.storage import ZEROS

DEFAULT_UNTIL_MS = 10_000

#: What ``disk N MODE`` says it did.
DISK_MEANS = {
    "ok": "ok (writes and fsyncs work again)",
    "fail": "fail (its next write or fsync fails with EIO: the node stops)",
    "full": "full (no room for new entries: it refuses them, and still votes and follows)",
    "slow": "slow (every fsync takes {ms} ms more: what it sends after one leaves that much later)",
}

#: Builds a backend for the given options; None means the lab's built-in one.
BackendFactory = Callable[[LabOptions], Backend | None]


@dataclass(slots=True)
class Outcome:
    """What a command printed, and why it failed if it did."""

    lines: list[str] = field(default_factory=list)
    failure: str = ""
    #: The breakpoint that stopped a stepping command (not a failure).
    stopped: BreakHit | None = None


class Session:
    """The state a sequence of commands runs against."""

    def __init__(
        self,
        backend: str | None = None,
        backend_factory: BackendFactory = make_backend,
        node: str | None = None,
    ) -> None:
        self.backend_override = backend
        #: ``--node "CMD"``: every cluster runs this node command (docs/protocol.md §7.1).
        self.node_override = node
        self.backend_factory = backend_factory
        self.lab: Lab | None = None
        self.history: list[str] = []
        #: Set by ``break``; they outlive ``cluster`` (they belong to the session, not a lab).
        self.breakpoints = Breakpoints()
        #: Bulk-load answers not printed yet (folded while nothing else is printed).
        self._answers: list[tuple[int, Request]] = []
        #: Called with every record of every lab this session creates.
        self.listeners: list[Callable[[StepRecord], None]] = []
        #: ``expect violation [NAME]``: the invariant the script must see violated ("" any), once
        #: armed; a violation of it then ends the stepping command without failing the script.
        self.expected_violation: str | None = None
        self.expectation_met = False

    def close(self) -> None:
        if self.lab is not None:
            self.lab.close()
            self.lab = None

    def _publish(self, record: StepRecord) -> None:
        for listener in self.listeners:
            listener(record)

    # ------------------------------------------------------------------ dispatch

    def execute(self, command: Command) -> Outcome:
        outcome = Outcome()
        try:
            if command.name not in ("cluster", "say", "break", "unbreak") and self.lab is None:
                raise LabError("no cluster yet: start the script with 'cluster N'")
            handler = getattr(self, "_do_" + command.name)
            handler(command.params, outcome)
        except LabError as exc:
            outcome.failure = f"{command.name}: {exc}"
        finally:
            self._flush(outcome)
        self.history.append(command.text)
        return outcome

    def _flush(self, out: Outcome) -> None:
        """Print the bulk-load answers held back so far (before any other line)."""
        if self._answers:
            out.lines.extend(describe_answer_run(self._answers))
            self._answers = []

    def _say(self, out: Outcome, line: str) -> None:
        self._flush(out)
        out.lines.append(line)

    def _records(self, records: list[StepRecord], outcome: Outcome, verbose: bool) -> None:
        for record in records:
            lines = describe_record(record, verbose, fold_quiet=not verbose)
            if lines:
                self._flush(outcome)
            outcome.lines.extend(lines)
            if not verbose:
                self._answers.extend((record.time, r) for r in record.answers if r.quiet and not r.error)
            if record.violations:
                violation = record.violations[0]
                wanted = self.expected_violation
                if wanted is not None and wanted in ("", violation.invariant):
                    self.expectation_met = True
                    outcome.lines.append(f"expected: {violation.describe()}")
                else:
                    outcome.failure = violation.describe()

    def _node(self, ref: NodeRef) -> int:
        assert self.lab is not None
        if ref == "leader":
            leader = self.lab.leader()
            if not leader:
                raise LabError("there is no leader now")
            return leader
        self.lab.view(int(ref))
        return int(ref)

    def _flight_id(self, p: dict) -> int:
        """The message a command names: by id, or the first due matching a selector."""
        if "id" in p:
            return p["id"]
        src, dst = (str(self._node("leader")) if e == "leader" else e for e in (p["src"], p["dst"]))
        matches = [
            f
            for f in self._lab.flights.values()
            if src in ("*", str(f.src))
            and dst in ("*", str(f.dst))
            and (not p["type"] or type(f.msg).__name__ == p["type"])
        ]
        if not matches:
            what = f"{src}->{dst}" + (f" {p['type']}" if p["type"] else "")
            raise LabError(f"no message {what} in flight")
        return min(matches, key=lambda f: (f.deliver_at, f.id)).id

    @property
    def _lab(self) -> Lab:
        assert self.lab is not None
        return self.lab

    # ------------------------------------------------------------------ commands

    def _do_cluster(self, p: dict, out: Outcome) -> None:
        self.close()
        # Real processes unless the script or the caller says otherwise (DESIGN.md §1).
        backend = self.backend_override or p.get("backend", "udp")
        options = LabOptions(
            **{**p, "backend": backend, **({"node": self.node_override} if self.node_override else {})}
        )
        self.lab = Lab(options, self.backend_factory(options))
        self.lab.listeners.append(self._publish)
        o = options
        # Every option, so a transcript says exactly which cluster it ran on (the backend is
        # left out: the transcript is the same on both).
        line = (
            f"cluster: {o.nodes} node{'s' if o.nodes != 1 else ''} seed={o.seed} "
            f"election={o.election[0]}-{o.election[1]} "
            f"heartbeat={o.heartbeat} latency={o.latency[0]}-{o.latency[1]} loss={o.loss:g} "
            f"noop={'on' if o.noop else 'off'} batch={o.batch} client-timeout={o.client_timeout} "
            f"snapshot={o.snapshot} snapshot-bytes={o.snapshot_bytes} chunk={o.chunk}"
        )
        if o.sessions:  # only when on, so the transcripts from before sessions stay as they were
            line += " sessions=" + f"{o.sessions / 1000:.3f}".rstrip("0").rstrip(".")
        if o.prevote:  # only when on, like sessions
            line += " prevote=on"
        if o.checkquorum:
            line += " checkquorum=on"
        if o.node:
            line += f' node="{o.node}"'
        for node, command in o.node_at:
            line += f' node@{node}="{command}"'
        if o.bugs_hidden:
            line += " hidden-bug=? (a bug is planted: find it)"
        elif o.bugs:
            line += f" bug={','.join(o.bugs)} (planted: raftviz bugs says what each breaks)"
        out.lines.append(line)

    def _event(self, out: Outcome, verbose: bool) -> bool:
        """Run the next event and print it; True when the run must stop here
        (a breakpoint fired or an invariant was violated)."""
        lab = self._lab
        record = lab.step()
        assert record is not None
        self._records([record], out, verbose)
        return self._stopped(out, record) or bool(record.violations)

    def _stopped(self, out: Outcome, record: StepRecord | None) -> bool:
        hit = self.breakpoints.check(self._lab, record)
        if hit is None:
            return False
        out.stopped = hit
        self._say(out, hit.describe())
        return True

    def _run_to(self, target: int, out: Outcome) -> bool:
        """Run every event due up to ``target`` and move the clock there; True if stopped early."""
        lab = self._lab
        while (at := lab.next_event_time()) is not None and at <= target:
            if self._event(out, verbose=False):
                return True
        lab.now = max(lab.now, target)
        # Time moved with no event (``break time >= 500``): a condition may have become true.
        return self._stopped(out, None)

    def _do_step(self, p: dict, out: Outcome) -> None:
        self.breakpoints.arm(self._lab)
        for _ in range(p["count"]):
            if self._lab.next_event_time() is None:
                out.lines.append("no event pending")
                return
            if self._event(out, verbose=True):
                return

    def _do_advance(self, p: dict, out: Outcome) -> None:
        self.breakpoints.arm(self._lab)
        if not self._run_to(self._lab.now + p["ms"], out):
            self._say(out, f"now t={self._lab.now}")

    def _do_until(self, p: dict, out: Outcome) -> None:
        cond = p["cond"]
        max_ms = p.get("max", DEFAULT_UNTIL_MS)
        lab = self._lab
        self.breakpoints.arm(lab)
        reached = f"until {cond.text}: reached at t="
        if cond.kind == "time" and cond.op in (">=", ">", "=") and not evaluate(cond, lab)[0]:
            # Time passes without events: go exactly to the moment it holds,
            # rather than to the first event after it.
            target = int(cond.value) + (1 if cond.op == ">" else 0)
            if lab.now < target <= lab.now + max_ms:
                stopped = self._run_to(target, out)
                if not out.failure and not stopped:
                    self._say(out, f"{reached}{lab.now}")
                return
        deadline = lab.now + max_ms
        while not evaluate(cond, lab)[0]:
            at = lab.next_event_time()
            if at is None or at > deadline:
                lab.now = max(lab.now, deadline)
                seen = evaluate(cond, lab)[1]
                out.failure = f"until {cond.text}: not within {max_ms} ms (at t={lab.now}: {seen})"
                return
            if self._event(out, verbose=False):
                if out.stopped is not None and evaluate(cond, lab)[0]:
                    # Reached on the very event a breakpoint stopped at: say both.
                    out.lines.insert(len(out.lines) - 1, f"{reached}{lab.now}")
                return
        self._say(out, f"{reached}{lab.now}")

    def unmet_expectation(self) -> str:
        """Why the script fails at its end: an expected violation that never came ("" if none)."""
        wanted = self.expected_violation
        if wanted is None or self.expectation_met:
            return ""
        return f"expected a violation of {wanted or 'an invariant'}; every invariant held"

    def _do_expect(self, p: dict, out: Outcome) -> None:
        if "violation" in p:
            self.expected_violation, self.expectation_met = p["violation"], False
            out.lines.append(f"expecting a violation of {p['violation'] or 'an invariant'}")
            return
        cond = p["cond"]
        ok, seen = evaluate(cond, self._lab)
        if ok:
            out.lines.append(f"{cond.text}: ok")
        else:
            out.failure = f"expect {cond.text}: false ({seen})"

    def _do_deliver(self, p: dict, out: Outcome) -> None:
        self._records([self._lab.deliver_now(self._flight_id(p))], out, verbose=True)

    def _do_drop(self, p: dict, out: Outcome) -> None:
        record = self._lab.drop(self._flight_id(p))
        assert record.flight is not None
        out.lines.append(f"dropped {describe_flight(record.flight)}")

    def _do_duplicate(self, p: dict, out: Outcome) -> None:
        record = self._lab.duplicate(self._flight_id(p))
        out.lines.append(record.text.replace("duplicate", "duplicated", 1))

    def _do_crash(self, p: dict, out: Outcome) -> None:
        node = self._node(p["node"])
        self._lab.crash(node)
        v = self._lab.views[node]
        line = f"node {node} crashed (on disk: term={v.term} vote={v.vote or '-'} last={v.last_index})"
        planted = bugs.active(self._lab.options.bugs, node) & {"forget-vote", "ack-before-persist"}
        if planted and not self._lab.options.bugs_hidden:
            # The lab mirrors what Raft would have made durable; these bugs keep less.
            line += f" as Raft keeps it; planted {', '.join(sorted(planted))} keeps less"
        out.lines.append(line)

    def _do_restart(self, p: dict, out: Outcome) -> None:
        node = int(p["node"]) if p["node"] != "leader" else self._node("leader")
        record = self._lab.restart(node)
        v = self._lab.views[node]
        if not v.alive:
            out.lines.append(f"{record.stopped}; it stays down")
            return
        out.lines.append(
            f"node {node} restarted (recovered: term={v.term} vote={v.vote or '-'} last={v.last_index}; "
            f"commit={v.commit})"
        )
        if v.recovering:
            out.lines.append(f"node {node} came back recovering: {v.recovering} (no vote until caught up)")
        self._records([record], out, verbose=False)

    def _do_disk(self, p: dict, out: Outcome) -> None:
        node = self._node(p["node"])
        fault = DiskFault(p["mode"], p["ms"])
        self._lab.set_disk(node, fault)
        out.lines.append(f"disk of node {node}: {DISK_MEANS[fault.mode].format(ms=fault.ms)}")

    def _do_corrupt(self, p: dict, out: Outcome) -> None:
        node = self._node(p["node"])
        kind = p["kind"]
        self._lab.corrupt(node, kind, p["id"])
        did = {
            "log": "flipped a byte of raft.dat",
            "snapshot": "flipped a byte of snapshot.dat",
            "last": "flipped a byte in the last complete record of raft.dat",
            "cut": "cut the middle third out of raft.dat",
            "zeros": f"appended {ZEROS} zero bytes to raft.dat, as a power loss can leave",
            "lose-log": "removed raft.dat",
            "id": f"made identity.dat name node {p['id']}",
        }[kind]
        out.lines.append(f"node {node}: {did} on disk (it finds out when it starts)")

    def _do_timeout(self, p: dict, out: Outcome) -> None:
        self._records([self._lab.timeout(self._node(p["node"]))], out, verbose=True)

    def _do_transfer(self, p: dict, out: Outcome) -> None:
        node = self._node(p["node"])
        try:
            record = self._lab.transfer(node)
        except TransferRefused as exc:
            # A refusal is the answer to the command, not a broken script.
            out.lines.append(f"transfer to node {node} refused: {exc}")
            return
        self._records([record], out, verbose=True)

    def _do_add(self, p: dict, out: Outcome) -> None:
        via = self._node(p["via"]) if p["via"] else 0
        existed = p["node"] in self._lab.views
        request = self._lab.add(p["node"], via=via)
        if not existed:
            out.lines.append(f"node {p['node']} started with an empty log and no configuration")
        out.lines.append(f"{request.describe()} sent to node {request.target}")

    def _do_remove(self, p: dict, out: Outcome) -> None:
        via = self._node(p["via"]) if p["via"] else 0
        request = self._lab.remove(self._node(p["node"]), via=via)
        out.lines.append(f"{request.describe()} sent to node {request.target}")

    def _do_snapshot(self, p: dict, out: Outcome) -> None:
        node = self._node(p["node"])
        before = self._lab.views[node].snapshot_index
        self._records([self._lab.take_snapshot(node)], out, verbose=False)
        view = self._lab.views[node]
        if view.snapshot_index == before:
            out.lines.append(f"node {node}: nothing applied since its snapshot at index {before}")
        else:
            out.lines.append(
                f"node {node} snapshot at index {view.snapshot_index} (term {view.log.start_term}); "
                f"its log now holds {view.last_index - view.snapshot_index} entries"
            )

    def _do_partition(self, p: dict, out: Outcome) -> None:
        lab = self._lab
        groups = [[self._node(ref) for ref in group] for group in p["groups"]]
        for group in groups:
            if len(set(group)) < len(group):
                raise LabError(f"node {lab.leader()} (the leader) is named twice")
        named = {node for group in groups for node in group}
        if len(named) < sum(len(g) for g in groups):
            raise LabError(f"node {lab.leader()} (the leader) is in two groups")
        rest = sorted(set(lab.views) - named)
        lab.network.partition([frozenset(g) for g in groups])
        out.lines.append(f"network: {lab.network.describe()}")
        if rest:
            # Nodes not named together form one more group: say so, a crashed node is easy to forget.
            if len(rest) == 1:
                out.lines.append(f"not named: {rest[0]} (a group of its own: it reaches no node above)")
            else:
                nodes = ",".join(map(str, rest))
                out.lines.append(f"not named: {nodes} (one more group: they reach each other, no node above)")

    def _resolve_links(self, links: list[tuple[NodeRef, NodeRef, bool]]) -> list[tuple[int, int, bool]]:
        resolved = []
        for a, b, both in links:
            x, y = self._node(a), self._node(b)
            if x == y:
                raise LabError(f"a link joins two different nodes: {a} and {b} are both node {x}")
            resolved.append((x, y, both))
        return resolved

    def _do_cut(self, p: dict, out: Outcome) -> None:
        for a, b, both in self._resolve_links(p["links"]):
            self._lab.network.cut(a, b)
            if both:
                self._lab.network.cut(b, a)
        out.lines.append(f"network: {self._lab.network.describe()}")

    def _do_heal(self, p: dict, out: Outcome) -> None:
        network = self._lab.network
        links = self._resolve_links(p["links"])
        if not p["links"]:
            network.heal()
        for a, b, both in links:
            network.heal_link(a, b)
            if both:
                network.heal_link(b, a)
        out.lines.append(f"network: {network.describe()}")

    def _do_loss(self, p: dict, out: Outcome) -> None:
        self._lab.network.loss = p["loss"]
        out.lines.append(f"loss: {p['loss']}")

    def _do_latency(self, p: dict, out: Outcome) -> None:
        self._lab.network.latency = p["latency"]
        lo, hi = p["latency"]
        out.lines.append(f"latency: {lo}-{hi} ms")

    def _client(self, op: str, p: dict, out: Outcome) -> None:
        via = self._node(p["via"]) if p["via"] else 0
        request = self._lab.submit(op, p["key"], p["value"], via=via, client_id=p["client"])
        if not request.seq:  # sessions expire and the client has none yet: it registers first
            out.lines.append(f"{request.describe()} waits for a session; {request.client} registers")
            return
        out.lines.append(f"{request.describe()} sent to node {request.target}")

    def _do_put(self, p: dict, out: Outcome) -> None:
        self._client("put", p, out)

    def _do_writes(self, p: dict, out: Outcome) -> None:
        """Many puts at once (``put kI vN`` over ``keys`` keys), all outstanding together."""
        via = self._node(p["via"]) if p["via"] else 0
        lab = self._lab
        first = last = None
        for n in range(p["count"]):
            request = lab.submit(
                "put", f"k{n % p['keys']}", f"v{n}", via=via, client_id=p["client"], quiet=True
            )
            first = first or request
            last = request
        assert first is not None and last is not None
        out.lines.append(
            f"{p['count']} puts sent to node {first.target} ({p['client']}#{first.seq}..#{last.seq}, "
            f"keys k0..k{min(p['keys'], p['count']) - 1})"
        )

    def _do_append(self, p: dict, out: Outcome) -> None:
        self._client("append", p, out)

    def _do_get(self, p: dict, out: Outcome) -> None:
        """A read: through the log, or ``read=readindex|lease`` without writing it (raftviz.core.reads)."""
        via = self._node(p["via"]) if p["via"] else 0
        request = self._lab.submit("get", p["key"], "", via=via, client_id=p["client"], read=p["read"])
        if not request.seq:
            out.lines.append(f"{request.describe()} waits for a session; {request.client} registers")
            return
        out.lines.append(f"{request.describe()} sent to node {request.target}")

    def _do_clock(self, p: dict, out: Outcome) -> None:
        """``clock N rate=R``: node N's clock runs R times as fast (the lease's drift assumption broken)."""
        node = self._node(p["node"])
        record = self._lab.set_clock_rate(node, p["rate"])
        out.lines.append(record.text)

    def _do_delete(self, p: dict, out: Outcome) -> None:
        self._client("delete", p, out)

    def _do_status(self, p: dict, out: Outcome) -> None:
        for node in sorted(self._lab.views):
            view = self._lab.views[node]
            # disk=ok and recovering=no are left out: they are the usual case, and status
            # lines stay as they were.
            usual = {("disk", "ok"), ("recovering", "no")}
            fields = {k: v for k, v in view.status_fields().items() if (k, v) not in usual}
            out.lines.append(" ".join(f"{k}={v}" for k, v in fields.items()))

    def _do_log(self, p: dict, out: Outcome) -> None:
        view = self._lab.views[self._node(p["node"])]
        log = view.log
        if log.start_index:
            out.lines.append(
                f"snapshot: index={log.start_index} term={log.start_term} (entries up to it compacted)"
            )
        elif not len(log):
            out.lines.append("(empty log)")
        for index in range(log.start_index + 1, log.last_index + 1):
            entry = log.entry(index)
            out.lines.append(f"index={index} term={entry.term} {entry.command.describe()}")

    def _do_kv(self, p: dict, out: Outcome) -> None:
        view = self._lab.views[self._node(p["node"])]
        data = view.kv.data
        if not view.alive:
            out.lines.append("(node is down: its state machine is gone until it restarts)")
        elif not data:
            out.lines.append("(empty)")
        for key in sorted(data):
            out.lines.append(f"{key}={data[key]}")

    def _do_messages(self, p: dict, out: Outcome) -> None:
        flights = sorted(self._lab.flights.values(), key=lambda f: f.id)
        if not flights:
            out.lines.append("(no message in flight)")
        for flight in flights:
            out.lines.append(f"{describe_flight(flight)} due t={flight.deliver_at}")

    def _do_timers(self, p: dict, out: Outcome) -> None:
        """RaftScope's presets: ``align`` makes every election timer fire together
        (a split vote); ``spread`` staggers them so one node clearly wins."""
        lab = self._lab
        lo, hi = lab.options.election
        waiting = [v for v in lab.views.values() if v.alive and v.role != "leader"]
        step = max((hi - lo) // max(len(waiting), 1), 1) if p["how"] == "spread" else 0
        for i, view in enumerate(waiting):
            lab.set_election_deadline(view.id, lab.now + lo + i * step)
        out.lines.append(
            "timers: " + " ".join(f"{v.id}@{lab.views[v.id].deadline}" for v in waiting)
            if waiting
            else "timers: no follower or candidate"
        )

    def _do_break(self, p: dict, out: Outcome) -> None:
        bp = p["breakpoint"]
        if bp is None:
            out.lines.extend(self.breakpoints.listing())
            return
        number = self.breakpoints.add(bp)
        out.lines.append(f"breakpoint {number}: {bp.text}")

    def _do_unbreak(self, p: dict, out: Outcome) -> None:
        items = self.breakpoints.items
        if not p["number"]:
            out.lines.append(f"removed {len(items)} breakpoint(s)")
            self.breakpoints.clear()
            return
        if p["number"] not in items:
            have = ", ".join(map(str, sorted(items))) or "none"
            raise LabError(f"no breakpoint {p['number']} (breakpoints: {have})")
        bp = self.breakpoints.remove(p["number"])
        out.lines.append(f"removed breakpoint {p['number']}: {bp.text}")

    def _do_say(self, p: dict, out: Outcome) -> None:
        out.lines.append(p["text"])
