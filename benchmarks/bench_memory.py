"""Memory over a long session: peak RSS after 300 s and after 1,200 s of virtual time.

    python benchmarks/bench_memory.py [--backend inprocess|udp] [--writes]

Each length runs in a fresh process (peak RSS is per process): a 5-node
cluster played the way the TUI plays (``advance`` in 100 ms stretches, on a
History, so checkpoints, the tree and the feed's records are all counted),
idle or with a client write every second (``--writes``). Prints peak RSS for
each length and their ratio. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = """
import resource, sys
from raftviz.lab.history import History
from raftviz.lab.session import Session
backend, seconds, writes = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
history = History(lambda: Session(backend=backend))
history.run_text(f"cluster 5 seed=1 backend={backend}")
for ms in range(0, seconds * 1000, 100):
    if writes and ms % 1000 == 0:
        history.run_text(f"put k{ms // 1000 % 50} v{ms}")
    history.run_text("advance 100")
print(history.position, len(history.checkpoints), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
history.close()
"""


def run(backend: str, seconds: int, writes: bool) -> tuple[int, int, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, backend, str(seconds), "1" if writes else "0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1]), float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("inprocess", "udp"), default="inprocess")
    parser.add_argument("--writes", action="store_true", help="a client write every virtual second")
    args = parser.parse_args()
    figures = {}
    for seconds in (300, 1200):
        positions, checkpoints, rss = run(args.backend, seconds, args.writes)
        figures[seconds] = rss
        load = "writes" if args.writes else "idle"
        print(
            f"{args.backend} {load} {seconds:>5} s virtual: {positions:,} positions, "
            f"{checkpoints} checkpoints, peak RSS {rss:.1f} MB"
        )
    print(f"ratio 1,200 s / 300 s: {figures[1200] / figures[300]:.2f}")


if __name__ == "__main__":
    main()
