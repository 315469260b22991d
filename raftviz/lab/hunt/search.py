"""Many schedules over worker processes; the first counterexample by seed order, shrunk.

Schedule ``k`` of a hunt is ``generate(seed + k, ...)``: one seed per schedule,
so a hunt's result does not depend on how many workers ran it, nor in which
order they finished. ``--shard I/N`` keeps the seeds ``s`` with ``s % N == I``,
so N machines with the same ``--seed`` and ``--schedules`` split one hunt
between them; the smallest counterexample seed over the shards wins.

Workers return results in seed order (``Pool.imap``); the hunt stops at the
first one that found a violation: every earlier seed has been run by then.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from raftviz.core.bugs import BUGS
from raftviz.lab.hunt.generate import generate
from raftviz.lab.hunt.runner import Found, fails_with, run_lines
from raftviz.lab.hunt.shrink import shrink


class HuntError(ValueError):
    """A hunt asked for something impossible (bad bug, node count, shard...)."""


@dataclass(frozen=True, slots=True)
class HuntOptions:
    """What a hunt runs: which seeds, which cluster, where."""

    bug: str | None = None
    nodes: int = 3
    schedules: int = 1000
    seed: int = 0
    backend: str = "inprocess"
    workers: int = 0  # 0: os.cpu_count()
    shard: tuple[int, int] = (0, 1)
    #: ``--node CMD``: every schedule runs CMD's nodes (``node=`` on its cluster line; udp only).
    node: str = ""

    def seeds(self) -> list[int]:
        index, count = self.shard
        return [s for s in range(self.seed, self.seed + self.schedules) if s % count == index]


@dataclass(frozen=True, slots=True)
class Counterexample:
    """A schedule that broke an invariant: as generated (up to the violation), and shrunk."""

    seed: int
    found: Found
    original: list[str]
    shrunk: list[str]


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int


def check_options(options: HuntOptions) -> None:
    """Raise HuntError for options no hunt can run with."""
    if options.bug is not None and options.bug not in BUGS:
        raise HuntError(f"no planted bug is called {options.bug!r} (known: {', '.join(BUGS)})")
    if not 2 <= options.nodes <= 7:
        raise HuntError("--nodes must be 2..7 (faults need two nodes; a schedule may add servers, up to 9)")
    if options.schedules < 1:
        raise HuntError("--schedules must be at least 1")
    if options.seed < 0:
        raise HuntError("--seed must be 0 or more")
    if options.node and (options.bug or options.backend != "udp"):
        raise HuntError("--node runs your own node: on the udp backend, and without --bug (raftviz's bugs)")
    if options.backend not in ("inprocess", "udp"):
        raise HuntError(f"--backend must be inprocess or udp, not {options.backend!r}")
    if options.workers < 0:
        raise HuntError("--workers must be 1 or more (0: one per core)")
    index, count = options.shard
    if not (count >= 1 and 0 <= index < count):
        raise HuntError(f"--shard I/N needs 0 <= I < N, not {index}/{count}")


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` -> (I, N); HuntError if malformed."""
    index, slash, count = text.partition("/")
    if not (slash and index.isdigit() and count.isdigit()):
        raise HuntError(f"--shard takes I/N (e.g. 0/4), not {text!r}")
    shard = int(index), int(count)
    if not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
        raise HuntError(f"--shard I/N needs 0 <= I < N, not {text}")
    return shard


def schedule(seed: int, nodes: int, bug: str | None, node: str = "") -> list[str]:
    """The schedule of ``seed``; with ``node``, its cluster runs that node command."""
    lines = generate(seed, nodes, bug, beyond=not node)
    if node:
        lines[0] += f' node="{node}"'
    return lines


def try_seed(job: tuple[int, int, str | None, str, str]) -> tuple[int, Found | None, list[str]]:
    """Run one schedule (in a worker): its seed, the violation it found, the lines that ran."""
    seed, nodes, bug, backend, node = job
    result = run_lines(schedule(seed, nodes, bug, node), backend)
    return seed, result.found, result.ran if result.found else []


def _worker_start() -> None:
    """A worker ends quietly when the hunt is over (the pool terminates it) or interrupted.

    Forked workers inherit the command's signal handlers, which turn SIGTERM into an
    exception meant for the parent's clean-up (lab/exits.py): not what a worker wants.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _results(options: HuntOptions) -> Iterator[tuple[int, Found | None, list[str]]]:
    jobs = [(s, options.nodes, options.bug, options.backend, options.node) for s in options.seeds()]
    workers = options.workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) == 1:
        yield from map(try_seed, jobs)
        return
    # fork: workers start at once with the parent's imports (spawn would re-import the lab).
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    with multiprocessing.get_context(method).Pool(min(workers, len(jobs)), _worker_start) as pool:
        yield from pool.imap(try_seed, jobs, chunksize=4)


def hunt(options: HuntOptions, progress: Callable[[Progress], None] | None = None) -> Counterexample | None:
    """Run the hunt; the first counterexample by seed order (shrunk), or None."""
    check_options(options)
    total = len(options.seeds())
    for done, (seed, found, ran) in enumerate(_results(options), start=1):
        if progress is not None:
            progress(Progress(done, total))
        if found is not None:
            # A foreign node runs on udp only; raftviz's own shrink in-process (same runs, faster).
            backend = "udp" if options.node else "inprocess"
            shrunk = minimise(ran, found.invariant, backend)
            # Say what the shrunk script shows (its step numbers and times, not the original's).
            final = run_lines(shrunk, backend, strict=True).found
            return Counterexample(seed, final or found, ran, shrunk)
    return None


def minimise(lines: list[str], invariant: str, backend: str = "inprocess") -> list[str]:
    """Shrink a schedule that breaks ``invariant`` (on the in-process backend by default: it is
    the fast one and both give the same runs; a foreign node's schedule needs udp)."""
    if not fails_with(lines, invariant, backend):
        # Cannot happen if a skipped command changes nothing; if it did, keep the run as it was.
        return lines
    return shrink(lines, lambda candidate: fails_with(candidate, invariant, backend))


def render(example: Counterexample, options: HuntOptions, path: str = "FILE") -> str:
    """The script to write: a comment header (what, where from, how to open it), then the commands."""
    bug = options.bug or "none"
    header = [
        f"# raftviz hunt: a counterexample (bug: {bug}; seed {example.seed}; "
        f"{len(example.original) - 1} commands shrunk to {len(example.shrunk) - 1})",
        f"# The last command breaks {example.found.invariant}.",
        f"# Replay: raftviz run {path}    Step through it: raftviz --load {path} (] next, }} all)",
    ]
    return "\n".join([*header, *example.shrunk]) + "\n"
