"""Lab cost in machine instructions per event, counted by valgrind's callgrind.

    python benchmarks/bench_instructions.py [--events N] [--at A] [--nodes N]

bench_lab's events/s depends on what else the machine is doing; an
instruction count does not (callgrind counts the same total for the same
interpreter, inputs and environment). It runs bench_lab's inprocess workload
twice under callgrind, with A and A+N events (A = N unless ``--at`` says),
and prints the difference per event, so start-up and the first election
cancel out. ``--at 80000 --events 20000`` measures the last fifth of
bench_lab's default run, where the state machine (and each snapshot) is largest. Use it to compare two
versions of the code on a busy machine; quote bench_lab's events/s for the
figure users feel. Needs valgrind; prints figures only.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def instructions(events: int, nodes: int) -> int:
    """Instructions callgrind counts for one bench_lab run of ``events`` events."""
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import bench_lab; "
        f"bench_lab.run('inprocess', {nodes}, {events})"
    )
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        sys.exit(f"callgrind run failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events of the shorter run (default 5000)")
    parser.add_argument("--at", type=int, default=0, help="events run before the measured ones (default N)")
    parser.add_argument("--nodes", type=int, default=5)
    args = parser.parse_args()
    at = args.at or args.events
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    short = instructions(at, args.nodes)
    long = instructions(at + args.events, args.nodes)
    per = (long - short) / args.events
    print(
        f"inprocess: {args.nodes} nodes, {per:,.0f} instructions per event "
        f"(callgrind, {at} vs {at + args.events} events)"
    )


if __name__ == "__main__":
    main()
