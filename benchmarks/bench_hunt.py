"""``raftviz hunt`` throughput: schedules per second, and what finding each planted bug costs.

    python benchmarks/bench_hunt.py [--schedules N] [--bugs]

Schedules/s is measured on one process (``--workers 1``: a hunt on W cores runs
about W times as many), inprocess backend, with no bug planted (so every
schedule runs to its end), for 3 and 5 nodes. ``--bugs`` also hunts each planted
bug from seed 0 and prints the seed found, the time to find it, the time to
shrink it and the shrunk size. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

from raftviz.core.bugs import BUGS
from raftviz.lab.hunt.generate import generate
from raftviz.lab.hunt.runner import run_lines
from raftviz.lab.hunt.search import minimise


def schedules_per_second(nodes: int, schedules: int) -> tuple[float, float]:
    """(schedules/s, events/s) over ``schedules`` bug-free schedules."""
    events = 0
    start = time.perf_counter()
    for seed in range(schedules):
        events += run_lines(generate(seed, nodes)).events
    elapsed = time.perf_counter() - start
    return schedules / elapsed, events / elapsed


def find(bug: str, nodes: int, budget: int) -> str:
    start = time.perf_counter()
    for seed in range(budget):
        result = run_lines(generate(seed, nodes, bug))
        if result.found is not None:
            found = time.perf_counter() - start
            start = time.perf_counter()
            shrunk = minimise(result.ran, result.found.invariant)
            shrinking = time.perf_counter() - start
            return (
                f"{bug:<20} seed {seed:>5}  found in {found:6.1f} s  {result.found.invariant:<20} "
                f"{len(result.ran) - 1:>3} -> {len(shrunk) - 1:>2} commands (shrink {shrinking:.1f} s)"
            )
    return f"{bug:<20} none in {budget} schedules ({time.perf_counter() - start:.1f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--bugs", action="store_true", help="also hunt each planted bug (3 nodes)")
    parser.add_argument("--budget", type=int, default=2000, help="schedules per bug with --bugs")
    args = parser.parse_args()
    for nodes in (3, 5):
        rate, events = schedules_per_second(nodes, args.schedules)
        print(f"{nodes} nodes: {rate:6.1f} schedules/s ({events:,.0f} events/s), one process, inprocess")
    if args.bugs:
        for bug in BUGS:
            print(find(bug, 3, args.budget), flush=True)


if __name__ == "__main__":
    main()
