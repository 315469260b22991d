"""Lab throughput: events per second under a steady client load.

    python benchmarks/bench_lab.py [--backend inprocess|udp|both] [--events N] [--nodes N]

Five nodes by default; ten clients each keep one write outstanding (a new
one is issued as soon as the last is answered), so the cluster elects,
replicates, commits and answers the whole time. Prints events per second of
wall time, and how many writes committed. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

from raftviz.lab.lab import Lab, LabOptions


def run(backend: str, nodes: int, events: int, clients: int = 10) -> dict[str, float]:
    options = LabOptions(nodes=nodes, seed=1, backend=backend)
    lab = Lab(options)
    try:
        ok, _ = lab.run_until(lambda: lab.leader() != 0, 5000)
        assert ok, "no leader"
        names = [f"c{i}" for i in range(1, clients + 1)]
        for name in names:
            lab.submit("put", f"{name}-0", "v", client_id=name)
        issued = {name: 1 for name in names}
        done = 0
        start = time.perf_counter()
        for _ in range(events):
            record = lab.step()
            if record is None:
                break
            for request in record.answers:
                done += 1
                name = request.client
                lab.submit("put", f"{name}-{issued[name]}", "v", client_id=name)
                issued[name] += 1
        elapsed = time.perf_counter() - start
        assert not lab.violations, lab.violations[0].describe()
        return {
            "events": events,
            "seconds": elapsed,
            "events_per_s": events / elapsed,
            "writes": done,
            "writes_per_s": done / elapsed,
            "virtual_ms": lab.now,
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
    args = parser.parse_args()
    backends = ("inprocess", "udp") if args.backend == "both" else (args.backend,)
    for backend in backends:
        events = args.events or (100_000 if backend == "inprocess" else 10_000)
        r = run(backend, args.nodes, events)
        print(
            f"{backend:>9}: {args.nodes} nodes, {r['events']:.0f} events in {r['seconds']:.2f} s = "
            f"{r['events_per_s']:,.0f} events/s; {r['writes']:.0f} writes committed "
            f"({r['writes_per_s']:,.0f}/s wall, {r['virtual_ms']:.0f} virtual ms)"
        )


if __name__ == "__main__":
    main()
