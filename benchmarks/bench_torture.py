"""Torture figures: a long ``raftviz torture`` run, and the checker's speed on its history.

    python benchmarks/bench_torture.py [--seconds S] [--nodes 3|5] [--clients C] [--faults kill,pause]

1. the run: ok ops/s, latency p50/p99, faults injected, ops ok/failed/indeterminate,
   anomalies (0 expected; exit 1 otherwise, as ``raftviz torture`` does);
2. the checker: seconds and search steps to check the whole history, and per
   key the largest number of operations and of steps.

Real processes, real UDP, fsync on, the wall clock. Figures only.
"""

from __future__ import annotations

import argparse
import sys
import time

from raftviz.lab import linearizability
from raftviz.lab.torture import run as torture


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--faults", default="kill,pause")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    faults = tuple(f for f in args.faults.split(",") if f and f != "none")
    options = torture.TortureOptions(args.nodes, args.seconds, args.clients, faults, args.seed)
    began = time.perf_counter()
    result = torture.run_torture(options)
    wall = time.perf_counter() - began
    print(f"1. torture run ({wall:.1f} s wall clock, start to verdict):")
    for line in torture.summary_lines(result):
        print(f"   {line}")

    ops = torture._checker_ops(result.records)
    t = time.perf_counter()
    check = linearizability.check_history(ops)
    elapsed = time.perf_counter() - t
    biggest = max(check.keys, key=lambda k: k.ops)
    hardest = max(check.keys, key=lambda k: k.steps)
    print(
        f"2. checker: {len(ops)} operations on {len(check.keys)} keys in {elapsed:.2f} s "
        f"({len(ops) / max(elapsed, 1e-9):,.0f} ops/s), {check.steps} steps; "
        f"largest key {biggest.ops} ops, most steps on one key {hardest.steps}"
    )
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
