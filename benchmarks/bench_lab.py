"""Lab throughput: events per second under a steady client load.

    python benchmarks/bench_lab.py [--backend inprocess|udp|both] [--events N] [--nodes N]

Five nodes by default; ten clients each keep one request outstanding (a new
one is issued as soon as the last is answered), so the cluster elects,
replicates, commits and answers the whole time. Prints events per second of
wall time, in all and in each fifth of the run (every write is to a new key, so
the state machine, and every snapshot of it, grows as the run goes on), and how
many requests were answered. Figures only: nothing is asserted.

It also reports the cost of the live linearizability invariant (checked after
every answer, raftviz.lab.live_linearizability): the wall time spent in it and
its search steps per answer. By default every client writes keys of its own
(each key quiescent after every answer: the cheapest case); ``--shared K``
makes the ten clients put, append and get K shared keys, so histories overlap
(the check's real work).
"""

from __future__ import annotations

import argparse
import time

from raftviz.lab.lab import Lab, LabOptions


def run(backend: str, nodes: int, events: int, clients: int = 10, shared: int = 0) -> dict[str, float]:
    options = LabOptions(nodes=nodes, seed=1, backend=backend)
    lab = Lab(options)
    try:
        ok, _ = lab.run_until(lambda: lab.leader() != 0, 5000)
        assert ok, "no leader"
        live = lab.linearizability
        checking = [0.0]
        answered = live.answered

        def timed(request: object) -> object:
            began = time.perf_counter()
            try:
                return answered(request)  # type: ignore[arg-type]
            finally:
                checking[0] += time.perf_counter() - began

        live.answered = timed  # type: ignore[method-assign]
        names = [f"c{i}" for i in range(1, clients + 1)]
        issued = {name: 0 for name in names}

        def submit(name: str) -> None:
            n = issued[name]
            issued[name] += 1
            if not shared:
                lab.submit("put", f"{name}-{n}", "v", client_id=name)
                return
            key = f"k{(n * 7 + int(name[1:])) % shared}"
            op = ("put", "append", "get", "append")[n % 4]
            lab.submit(op, key, "" if op == "get" else f"{name}.{n};", client_id=name)

        for name in names:
            submit(name)
        done = 0
        start = time.perf_counter()
        # The rate in each fifth of the run: with a key per write the state machine grows
        # all along, and so does each snapshot every node takes (and the lab's views decode).
        fifth, marks = max(events // 5, 1), []
        for n in range(1, events + 1):
            record = lab.step()
            if record is None:
                break
            for request in record.answers:
                done += 1
                submit(request.client)
            if n % fifth == 0:
                marks.append(time.perf_counter())
        elapsed = time.perf_counter() - start
        edges = [start, *marks]
        by_fifth = [fifth / (b - a) for a, b in zip(edges, edges[1:], strict=False)]
        assert not lab.violations, lab.violations[0].describe()
        return {
            "events": events,
            "seconds": elapsed,
            "events_per_s": events / elapsed,
            "by_fifth": by_fifth,  # type: ignore[dict-item]
            "writes": done,
            "writes_per_s": done / elapsed,
            "virtual_ms": lab.now,
            "check_s": checking[0],
            "checks": live.checks,
            "steps": live.steps,
            "verdict": live.verdict,  # type: ignore[dict-item]
            "resets": live.resets,
        }
    finally:
        lab.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("inprocess", "udp", "both"), default="both")
    parser.add_argument(
        "--events", type=int, default=0, help="events to time (default: 100k inprocess, 10k udp)"
    )
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--shared", type=int, default=0, help="clients share K keys (0: a key per write)")
    args = parser.parse_args()
    backends = ("inprocess", "udp") if args.backend == "both" else (args.backend,)
    for backend in backends:
        events = args.events or (100_000 if backend == "inprocess" else 10_000)
        r = run(backend, args.nodes, events, shared=args.shared)
        print(
            f"{backend:>9}: {args.nodes} nodes, {r['events']:.0f} events in {r['seconds']:.2f} s = "
            f"{r['events_per_s']:,.0f} events/s; {r['writes']:.0f} requests answered "
            f"({r['writes_per_s']:,.0f}/s wall, {r['virtual_ms']:.0f} virtual ms)"
        )
        fifths = " ".join(f"{rate:,.0f}" for rate in r["by_fifth"])  # type: ignore[attr-defined]
        print(f"{'':>9}  events/s in each fifth of the run: {fifths}")
        per = 1e6 * r["check_s"] / max(r["checks"], 1)
        print(
            f"{'':>9}  linearizable ({r['verdict']}, {r['resets']:.0f} resets): "
            f"{r['checks']:.0f} answers checked in {r['check_s']:.2f} s "
            f"({100 * r['check_s'] / r['seconds']:.1f}% of wall time, {per:,.0f} us and "
            f"{r['steps'] / max(r['checks'], 1):,.1f} search steps per answer)"
        )


if __name__ == "__main__":
    main()
