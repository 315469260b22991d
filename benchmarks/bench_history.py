"""Time travel: how long a step back and a jump take, and what the history costs in memory.

    python benchmarks/bench_history.py [--backend inprocess|udp] [--events N ...] [--samples S]

Builds a history the way a long classroom session does: a 5-node cluster
under a light client load (a batch of writes every 2,000 events, and play
in chunks of 1,000 events, which the history coalesces as the TUI's play
does), then measures, on that history:

- **step back**: ``History.step_back()`` from the tip, S times in a row;
- **goto**: ``History.rewind(P)`` to S positions drawn from a seeded RNG;
- **peak RSS** of the process after building and after measuring
  (``ru_maxrss``; one history per process, so run one size per invocation
  for a clean memory figure, which ``--events`` with one value does).

Prints p50 and p99 (with few samples, p99 is the maximum) in milliseconds.
Figures only: nothing is asserted (DESIGN.md: performance is measured).
Default sizes: 10k and 100k events inprocess, 10k udp. A replay-based history
needs minutes per sample at 1M events: pass ``--samples`` small there.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import time
from collections.abc import Callable

from raftviz.lab.checkpoint import CheckpointPolicy
from raftviz.lab.history import History
from raftviz.lab.session import Session

#: Events per ``step`` command while building (the TUI's play runs one at a time;
#: the history coalesces consecutive steps into one command either way).
CHUNK = 1_000
#: A batch of writes every this many events keeps logs, commits and clients busy.
WRITES_EVERY = 2_000
WRITES = 20


def build(backend: str, events: int, nodes: int = 5, policy: CheckpointPolicy | None = None) -> History:
    history = History(lambda: Session(backend=backend), policy)
    history.run_text(f"cluster {nodes} seed=1 backend={backend}")
    done = 0
    while done < events:
        if done % WRITES_EVERY == 0:
            history.run_text(f"writes {WRITES}")
        chunk = min(CHUNK, events - done)
        outcome = history.run_text(f"step {chunk}")
        if outcome.failure:
            raise SystemExit(f"building the history failed at {done} events: {outcome.failure}")
        done += chunk
    return history


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(q * (len(ordered) - 1)))
    return ordered[index]


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(
    backend: str, events: int, samples: int, seed: int, policy: CheckpointPolicy | None = None
) -> dict[str, float]:
    start = time.perf_counter()
    history = build(backend, events, policy=policy)
    build_s = time.perf_counter() - start
    rss_built = peak_rss_mb()
    tip = history.position
    try:
        backs = [timed(history.step_back) for _ in range(samples)]
        rng = random.Random(seed)
        # Random targets in random order: each jump starts where the previous one
        # landed, as a user's do, and may cross branches.
        targets = [rng.randrange(0, tip + 1) for _ in range(samples)]
        gotos = [timed(lambda p=p: history.rewind(p)) for p in targets]
    finally:
        history.close()
    return {
        "positions": tip,
        "build_s": build_s,
        "back_p50": statistics.median(backs),
        "back_p99": percentile(backs, 0.99),
        "goto_p50": statistics.median(gotos),
        "goto_p99": percentile(gotos, 0.99),
        "rss_built": rss_built,
        "checkpoints": len(getattr(history, "checkpoints", ())),
        "rss_peak": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("inprocess", "udp"), default="inprocess")
    parser.add_argument(
        "--events", type=int, nargs="*", help="history sizes in events (default: 10k 100k inprocess, 10k udp)"
    )
    parser.add_argument("--samples", type=int, default=20, help="step backs and gotos to time per size")
    parser.add_argument("--seed", type=int, default=7, help="seed of the goto targets")
    parser.add_argument(
        "--every", type=int, default=0, help="checkpoint every N positions (default: the app's)"
    )
    parser.add_argument(
        "--dense", type=int, default=0, help="checkpoints kept at full density (default: the app's)"
    )
    args = parser.parse_args()
    sizes = args.events or ([10_000, 100_000] if args.backend == "inprocess" else [10_000])
    print(
        f"{'backend':>9} {'events':>9} {'positions':>9} {'build s':>8} {'back p50':>9} {'back p99':>9} "
        f"{'goto p50':>9} {'goto p99':>9} {'RSS MB':>7}"
    )
    policy = None
    if args.every or args.dense:
        default = CheckpointPolicy()
        policy = CheckpointPolicy(args.every or default.every, args.dense or default.dense)
    for events in sizes:
        r = measure(args.backend, events, args.samples, args.seed, policy)
        print(
            f"{args.backend:>9} {events:>9,} {r['positions']:>9,.0f} {r['build_s']:>8.1f} "
            f"{r['back_p50']:>7.1f}ms {r['back_p99']:>7.1f}ms "
            f"{r['goto_p50']:>7.1f}ms {r['goto_p99']:>7.1f}ms {r['rss_peak']:>7.1f}"
            f"  ({r['checkpoints']} checkpoints)"
        )


if __name__ == "__main__":
    main()
