"""Log compaction under a long run: logs stay under the threshold, memory stays flat.

    python benchmarks/bench_compaction.py [--writes 100000] [--nodes 3] [--snapshot 1000] [--seed 1]

One client writes ``--writes`` puts over ``--keys`` keys (so the state machine
itself stays bounded) on the ``inprocess`` backend, ``--batch`` at a time as
the ``writes N keys=K`` command does, running virtual time until the batch is
answered. Every ``--every`` writes a row shows the virtual time, the wall
time, each node's log length (entries held after compaction, in the core, in
the node's storage and in the lab's mirror), its snapshot index, and memory
(process RSS, and how many items the lab's long-lived tables hold; with
``--trace`` also tracemalloc's count, which is exact but makes the run about
six times slower, and ``--trace-top N`` lists the N lines whose allocations
grew most between rows).

The lab's client remembers its requests (the client history a
linearizability check reads); here it keeps only the latest
``--client-history`` (``LabOptions.client_history``). With 0 it keeps them
all, about 400 bytes a write, and the memory check below fails.

The benchmark checks its own claim and exits 1 if it does not hold:

- no log ever held more than ``threshold + slack`` entries, checked after
  every step. A node compacts once its *applied* entries reach the threshold,
  so its applied part is always below it; on top of that it may hold entries
  not yet applied. Those are client writes still in flight (at most one
  batch: a leader appends a request once however often it is retried) plus
  one no-op per leader elected (one in this fault-free run; 8 allowed), so
  slack = batch + 8. The applied part is checked on its own: below the threshold.
- memory (RSS) at the last row is at most ``--growth`` times what it was at
  the first row at or past 20% of the writes (after warm-up: the first
  snapshots are taken and every table has reached its steady size).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc
from dataclasses import dataclass, field

from raftviz.lab.lab import Lab, LabOptions

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """The process's resident set size now (not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@dataclass
class Row:
    writes: int
    virtual_ms: int
    wall: float
    held: dict[int, tuple[int, int, int]]  # node -> (core, storage, mirror) most entries held since last row
    snap: dict[int, int]
    rss: int
    traced: int  # tracemalloc current, or -1
    sizes: dict[str, int]


@dataclass
class Watch:
    """Largest log on each node, sampled after every step: in the core, in the
    node's storage and in the lab's mirror of it."""

    lab: Lab
    #: node -> (core, storage, mirror) largest since the last row
    window: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    most: dict[int, int] = field(default_factory=dict)  # node -> largest ever, any of the three
    most_applied: int = 0  # applied entries not yet compacted, largest ever on any node

    def sample(self) -> None:
        lab, window = self.lab, self.window
        for node, driver in lab.backend.drivers.items():
            log = driver.core.log
            mirror = lab.views[node].log
            now = (
                log.last_index - log.start_index,
                len(lab.backend.storage[node].entries),
                mirror.last_index - mirror.start_index,
            )
            was = window.get(node)
            if was is None or now[0] > was[0] or now[1] > was[1] or now[2] > was[2]:
                window[node] = now if was is None else tuple(map(max, was, now))
            applied = driver.core.last_applied - log.start_index
            if applied > self.most_applied:
                self.most_applied = applied

    def take_window(self) -> dict[int, tuple[int, int, int]]:
        """The maxima since the last call, folded into the all-time maxima."""
        window, self.window = self.window, {}
        for node, held in window.items():
            self.most[node] = max(self.most.get(node, 0), *held)
        return dict(sorted(window.items()))


def sizes(lab: Lab) -> dict[str, int]:
    """How many items the lab's longest-lived tables hold."""
    return {
        "client-history": sum(len(c.history) for c in lab.clients.values()),
        "checker": len(lab.checker.entry_at) + len(lab.checker.known),
        "flights": len(lab.flights),
        "queue": len(lab._queue),
        "sessions": sum(
            len(s.results) for d in lab.backend.drivers.values() for s in d.core.kv.sessions.values()
        ),
    }


def row(lab: Lab, watch: Watch, writes: int, start: float, trace: bool) -> Row:
    wall = time.perf_counter() - start
    gc.collect()
    snap = {node: lab.backend.drivers[node].core.log.start_index for node in lab.ids}
    traced = tracemalloc.get_traced_memory()[0] if trace else -1
    return Row(writes, lab.now, wall, watch.take_window(), snap, rss_bytes(), traced, sizes(lab))


def mb(n: int) -> str:
    return f"{n / 1e6:7.1f}" if n >= 0 else "      -"


def print_header(nodes: list[int]) -> None:
    logs = " ".join(f"{'max log' + str(n) + ' core/stor/lab':>21}" for n in nodes)
    snaps = " ".join(f"{'snap' + str(n):>7}" for n in nodes)
    print(f"{'writes':>7} {'virt ms':>9} {'wall s':>7} {logs} {snaps} {'RSS MB':>7} {'traced':>7}  retained")


def print_row(r: Row) -> None:
    logs = " ".join(f"{f'{a}/{b}/{c}':>21}" for a, b, c in r.held.values())
    snaps = " ".join(f"{s:>7}" for s in r.snap.values())
    extra = " ".join(f"{k}={v}" for k, v in r.sizes.items())
    print(
        f"{r.writes:>7} {r.virtual_ms:>9} {r.wall:>7.1f} {logs} {snaps} {mb(r.rss)} {mb(r.traced)}  {extra}",
        flush=True,
    )


def run(args: argparse.Namespace) -> int:
    if args.trace:
        tracemalloc.start()
    options = LabOptions(
        backend="inprocess",
        nodes=args.nodes,
        seed=args.seed,
        snapshot=args.snapshot,
        snapshot_bytes=args.snapshot_bytes,
        client_history=args.client_history,
    )
    lab = Lab(options)
    watch = Watch(lab)
    rows: list[Row] = []
    try:
        ok, _ = lab.run_until(lambda: lab.leader() != 0, 5000)
        assert ok, "no leader elected"
        client = lab.client("c1")

        def answered() -> bool:
            watch.sample()
            return not client.outstanding

        print(
            f"{args.writes} writes, {args.nodes} nodes, snapshot every {args.snapshot} entries, "
            f"{args.keys} keys, {args.batch} writes outstanding at a time, seed {args.seed}"
        )
        print_header(lab.ids)
        start = time.perf_counter()
        done = 0
        snapshot_before = None
        while done < args.writes:
            count = min(args.batch, args.writes - done)
            for n in range(done, done + count):
                lab.submit("put", f"k{n % args.keys}", f"v{n}", client_id="c1", quiet=True)
            ok, _ = lab.run_until(answered, args.max_batch_ms)
            if not ok:
                print(f"batch at {done} writes not answered within {args.max_batch_ms} virtual ms")
                return 1
            done += count
            if lab.violations:
                print(lab.violations[0].describe())
                return 1
            if done % args.every == 0 or done == args.writes:
                rows.append(row(lab, watch, done, start, args.trace))
                print_row(rows[-1])
                if args.trace:
                    snapshot_now = tracemalloc.take_snapshot()
                    if snapshot_before is not None and args.trace_top:
                        for stat in snapshot_now.compare_to(snapshot_before, "lineno")[: args.trace_top]:
                            print(f"    {stat}")
                    snapshot_before = snapshot_now
        wall = time.perf_counter() - start
    finally:
        lab.close()

    limit = args.snapshot + args.batch + 8
    most = max(watch.most.values())
    most_applied = watch.most_applied
    base = next((r for r in rows if r.writes >= args.writes * 0.2), rows[0])
    last = rows[-1]
    growth = last.rss / base.rss
    print(
        f"total: {args.writes} writes in {wall:.1f} s wall = {args.writes / wall:,.0f} writes/s; "
        f"{lab.now} virtual ms; {lab.steps} events"
    )
    print(
        f"logs: largest ever {most} entries (per node {dict(sorted(watch.most.items()))}), "
        f"limit {limit} = threshold {args.snapshot} + batch {args.batch} + 8 no-ops; "
        f"applied entries not yet compacted: at most {most_applied} (must stay < {args.snapshot})"
    )
    traced = f", traced {mb(base.traced).strip()} -> {mb(last.traced).strip()} MB" if args.trace else ""
    print(
        f"memory: RSS {mb(base.rss).strip()} MB at {base.writes} writes -> {mb(last.rss).strip()} MB "
        f"at {last.writes} writes = x{growth:.3f} (allowed x{args.growth}){traced}"
    )
    failed = []
    if most > limit:
        failed.append(f"a log held {most} entries > {limit}")
    if most_applied >= args.snapshot:
        failed.append(f"a log held {most_applied} applied entries >= threshold {args.snapshot}")
    if growth > args.growth:
        failed.append(f"RSS grew x{growth:.3f} > x{args.growth}")
    print("verdict: " + ("FAIL: " + "; ".join(failed) if failed else "OK: logs bounded, memory flat"))
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--snapshot", type=int, default=1000, help="compaction threshold (entries)")
    parser.add_argument("--snapshot-bytes", type=int, default=4_000_000, help="... or bytes (0: never)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500, help="writes outstanding at a time")
    parser.add_argument("--every", type=int, default=10_000, help="writes between rows")
    parser.add_argument("--max-batch-ms", type=int, default=60_000, help="virtual ms a batch may take")
    parser.add_argument(
        "--client-history",
        type=int,
        default=1000,
        help="requests the client remembers (0: all, which grows by ~400 bytes a write)",
    )
    parser.add_argument("--growth", type=float, default=1.10, help="largest RSS growth allowed")
    parser.add_argument("--trace", action="store_true", help="also count memory with tracemalloc")
    parser.add_argument("--trace-top", type=int, default=0, help="with --trace: top N growing lines")
    args = parser.parse_args()
    if args.snapshot <= 0:
        parser.error("--snapshot must be positive: the benchmark checks compaction by count")
    if args.every % args.batch:
        parser.error("--every must be a multiple of --batch")
    sys.exit(run(args))


if __name__ == "__main__":
    main()
