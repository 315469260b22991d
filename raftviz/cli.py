"""The ``raftviz`` command and its subcommands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raftviz import __version__

if TYPE_CHECKING:
    from raftviz.tui.app import RaftvizApp

DEMO = """\
# The default demo until the TUI exists: a first election and one write.
cluster 5 seed=1 backend=udp
until leader
put greeting hello
until kv greeting=hello
status
"""


def _cmd_run(args: argparse.Namespace) -> int:
    from raftviz.lab.run import run_script

    source = "<stdin>" if args.file == "-" else args.file
    try:
        # Bytes, decoded here: standard input's own decoding may let bad bytes through.
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        text = data.decode("utf-8")
    except OSError as exc:
        print(f"error: cannot read {source}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"error: cannot read {source}: not UTF-8 text (byte {exc.start})", file=sys.stderr)
        return 2

    def write(line: str) -> None:
        print(line, flush=False)

    code = run_script(
        text,
        source,
        write,
        backend=args.backend,
        node=args.node,
        diagram=args.diagram,
        trace=args.trace,
        note=lambda line: print(line, file=sys.stderr),
    )
    sys.stdout.flush()
    return code


def _cmd_demo(args: argparse.Namespace) -> int:
    from raftviz.lab.run import run_script

    return run_script(DEMO, "<demo>", print, backend=getattr(args, "backend", None))


def _range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    try:
        low, high = int(lo), int(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX milliseconds, not {text!r}") from None
    if not 0 < low <= high:
        raise argparse.ArgumentTypeError(f"expected 0 < MIN <= MAX, not {text!r}")
    return low, high


def _checked(name: str) -> Callable[[str], Any]:
    """An argparse type made of the check ``raftviz.node.options.NAME`` (imported when used)."""

    def parse(text: str) -> Any:  # noqa: ANN401 - whatever the check returns
        from raftviz.node import options

        try:
            return getattr(options, name)(text)
        except options.OptionsError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


_address = _checked("address")


def _raft_config(args: argparse.Namespace):  # noqa: ANN202 - keeps the import lazy
    from raftviz.core.config import RaftConfig

    return RaftConfig(
        election_min=args.election[0],
        election_max=args.election[1],
        heartbeat=args.heartbeat,
        noop=args.noop == "on",
        max_batch=args.batch,
        snapshot_entries=args.snapshot,
        snapshot_bytes=args.snapshot_bytes,
        snapshot_chunk=args.chunk,
        bugs=args.bug,
        session_expiry=_session_ms(args),
        prevote=args.prevote,
        check_quorum=args.checkquorum,
    )


def _bug_switches(text: str) -> tuple[str, ...]:
    """``--bug``'s value: NAME[@N][,...] of raftviz.core.bugs."""
    from raftviz.core.bugs import BugError, parse

    try:
        return parse(text)
    except BugError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_bugs(args: argparse.Namespace) -> int:
    """``raftviz bugs``: the planted bugs, the rule each breaks and the invariant that catches it."""
    from raftviz.core.bugs import BUGS

    for bug in BUGS.values():
        print(f"{bug.name}\n  breaks: {bug.rule}\n  does:   {bug.does}\n  caught: {bug.invariant}")
    print("\nPlant one with `cluster N bug=NAME` (every node) or `bug=NAME@N` (node N) in a scenario.")
    return 0


#: Free mode's default session expiry, in seconds: sessions are on there so that the
#: session table of a long-running cluster stays bounded (docs/protocol.md, sessions).
FREE_SESSIONS_SECONDS = 600.0


def _session_ms(args: argparse.Namespace) -> int:
    """``--sessions SECONDS`` in ms: given, or on in free mode and off for a lab's node."""
    seconds = args.sessions if args.sessions is not None else (0.0 if args.lab else FREE_SESSIONS_SECONDS)
    if not seconds >= 0:  # also NaN
        raise ValueError("--sessions must be 0 (off) or a positive number of seconds")
    return round(seconds * 1000)


def _disk_fault(text: str) -> object:
    """``--disk``'s value: fail, full or slow=MS (raftviz.node.disk)."""
    from raftviz.node.disk import DiskFaultError, parse_fault

    try:
        return parse_fault(text)
    except DiskFaultError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_node(args: argparse.Namespace) -> int:
    from raftviz.node import options, process

    try:
        config = _raft_config(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.join and args.members is not None:
        print(
            "error: --join and --members exclude each other: a joining node learns its "
            "configuration from the leader (kv add ID)",
            file=sys.stderr,
        )
        return 2
    members: tuple[int, ...] | None = args.members
    if args.join:
        members = ()  # a new server: it learns its configuration from the leader
    if args.lab:
        if not (args.router and members is not None and args.data):
            print("error: --lab needs --router, --members (or --join) and --data", file=sys.stderr)
            return 2
        lab_args = process.LabModeArgs(
            args.id,
            members,
            config,
            args.seed,
            args.incarnation,
            args.data,
            args.router,
            args.now,
            args.cluster,
        )
        return process.run_lab_mode(lab_args, sys.stdin.buffer, sys.stdout.buffer)
    if not args.peers or args.id not in args.peers:
        print("error: --peers must list every node, this one (--id) included", file=sys.stderr)
        return 2
    if members is None:
        members = tuple(sorted(args.peers))
    elif set(members) - set(args.peers):
        print("error: every --members id needs an address in --peers", file=sys.stderr)
        return 2
    try:
        options.check_timing(config)
        options.resolve_peers(args.peers)
    except options.OptionsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = args.data or f"raftviz-node{args.id}"
    secret = _secret(args.secret_file)
    if secret is None:
        return 2
    free = process.FreeModeArgs(
        args.id,
        args.peers,
        config,
        args.seed,
        data,
        args.allow_public,
        members,
        disk=args.disk,
        secret=secret,
        cluster=args.cluster,
    )
    return process.run_free_mode(free)


def _secret(path: str | None) -> bytes | None:
    """The cluster secret of ``--secret-file`` (b"" without one); None, having said why, if unusable."""
    from raftviz.node.secret import SecretError, load_secret

    if path is None:
        return b""
    try:
        return load_secret(path)
    except SecretError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _cmd_kv(args: argparse.Namespace) -> int:
    from raftviz.node.client import KVClient, NoLeaderError, RequestError
    from raftviz.wire.validate import WireError

    problem = _kv_usage(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    secret = _secret(args.secret_file)
    if secret is None:
        return 2
    client = KVClient(args.cluster, timeout=args.timeout, secret=secret)
    try:
        if args.op == "status":
            statuses = client.statuses()
            for address, status in zip(args.cluster, statuses, strict=True):
                where = f"{address[0]}:{address[1]}"
                if status is None:
                    print(f"{where} no answer")
                    continue
                print(
                    f"node={status.src} role={status.role} term={status.term} vote={status.vote or '-'} "
                    f"commit={status.commit} applied={status.applied} last={status.last_index} "
                    f"leader={status.leader or '-'} dropped={status.dropped} "
                    f"voters={status.configuration.partition('/')[0] or '-'} "
                    f"learners={status.configuration.partition('/')[2] or '-'} "
                    f"snap={status.snapshot_index} unauthenticated={status.unauthenticated} "
                    f"violations={_counters(status.violations)}"
                    # Only when set, as the lab's status does: the usual line is unchanged.
                    f"{' recovering=yes' if status.recovering else ''} ({where})"
                )
                if status.recovering:
                    print(f"  node {status.src} is recovering: {status.recovering} (no vote until caught up)")
            if not any(statuses):
                print(f"error: no node answered; {client.silence_hint()}", file=sys.stderr)
                return 3
            return 0
        if args.op == "transfer":
            client.transfer(int(args.key))
            print(f"OK: the leader is handing over to node {args.key} (kv status shows when it leads)")
        elif args.op in ("put", "append"):
            client.request(args.op, args.key, args.value)
            print("OK")
        elif args.op in ("delete", "add", "remove"):
            client.request(args.op, args.key, "")
            print("OK")
        else:
            value = client.request("get", args.key, "", read="" if args.read == "log" else args.read)
            if value is None:
                print(f"(no value for {args.key})", file=sys.stderr)
                return 1
            print(value)
    except NoLeaderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except RequestError as exc:
        print(f"error: the cluster refused the request: {exc}", file=sys.stderr)
        return 4
    except WireError as exc:  # the request cannot be sent at all (a key or value too large)
        print(f"error: cannot send that request: {exc}", file=sys.stderr)
        return 2
    finally:
        client.close()
    return 0


def _counters(counts: tuple[tuple[str, int], ...]) -> str:
    """``kind:count,kind:count`` (``-`` for none), one word of a ``kv status`` line."""
    return ",".join(f"{kind}:{count}" for kind, count in counts) or "-"


#: What each ``raftviz kv`` operation takes after it.
KV_ARGS = {
    "put": ("KEY", "VALUE"),
    "append": ("KEY", "VALUE"),
    "get": ("KEY",),
    "delete": ("KEY",),
    "add": ("ID",),
    "remove": ("ID",),
    "transfer": ("ID",),
    "status": (),
}


def _kv_usage(args: argparse.Namespace) -> str:
    """What is wrong with a ``raftviz kv`` command line, or "" (hosts resolved, ids checked)."""
    from raftviz.node import options

    wanted = KV_ARGS[args.op]
    if args.read != "log" and args.op != "get":
        return f"--read is for get only, not {args.op}"
    given = [a for a in (args.key, args.value) if a is not None]
    if len(given) != len(wanted):
        what = " (ID: a node id)" if "ID" in wanted else ""
        return f"usage: raftviz kv --cluster HOST:PORT,... {' '.join((args.op, *wanted))}{what}"
    try:
        if "ID" in wanted:
            options.node_id(args.key, f"{args.op} takes a node id: it")
        options.resolve_cluster(args.cluster)
    except options.OptionsError as exc:
        return str(exc)
    return ""


def _cmd_torture(args: argparse.Namespace) -> int:
    """``raftviz torture``: the run is raftviz.lab.torture's; here, the options, the bar and the figures."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from raftviz.lab.torture.report import render_report
    from raftviz.lab.torture.run import (
        OptionsError,
        TortureError,
        TortureOptions,
        TortureProgress,
        check_options,
        fresh_seed,
        run_torture,
        summary_lines,
    )

    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip() and f.strip() != "none")
    if args.report and not Path(args.report).resolve().parent.is_dir():
        print(
            f"error: cannot write the report: {Path(args.report).parent} is not a directory", file=sys.stderr
        )
        return 2
    seed = args.seed if args.seed is not None else fresh_seed()
    options = TortureOptions(args.nodes, args.seconds, args.clients, faults, seed)
    try:
        check_options(options)
    except OptionsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.completed:>5.1f}/{task.total:g} s  {task.fields[ops]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("starting", total=args.seconds, ops="")

    def show(p: TortureProgress) -> None:
        ops = (
            f"ops {p.ops['ok']} ok {p.ops['failed']} failed {p.ops['indeterminate']} indet  faults {p.faults}"
        )
        bar.update(task, description=p.phase, completed=p.elapsed, ops=ops)

    try:
        with bar:
            result = run_torture(options, show)
    except OptionsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TortureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    for line in summary_lines(result):
        print(line)
    if args.report:
        try:
            Path(args.report).write_text(render_report(result), encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write the report: {exc}", file=sys.stderr)
            return 3
        print(f"report: {args.report}")
    return 0 if result.passed else 1


def _cmd_conform(args: argparse.Namespace) -> int:
    from raftviz.lab import conform

    if args.seeds < 0 or args.shrink_runs < 1:
        print("error: --seeds must be 0 or more and --shrink-runs at least 1", file=sys.stderr)
        return 2
    command = args.node or conform.own_node()
    print(f"raftviz conform: nodes run as {command!r}", flush=True)
    results = conform.conform(
        command,
        seeds=range(args.seed, args.seed + args.seeds),
        mixed=not args.no_mixed,
        shrink_runs=args.shrink_runs,
        progress=lambda r: print(conform.render([r]).rsplit("\n", 1)[0], flush=True),
    )
    print(conform.render(results).rsplit("\n", 1)[1])
    return 1 if any(r.verdict == "fail" for r in results) else 0


def _cmd_hunt(args: argparse.Namespace) -> int:
    """``raftviz hunt``: the search is raftviz.lab.hunt's; here, the options, the bar and the file."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from raftviz.lab.hunt.search import HuntError, HuntOptions, check_options, hunt, parse_shard, render

    try:
        shard = parse_shard(args.shard) if args.shard else (0, 1)
        options = HuntOptions(
            bug=args.bug,
            nodes=args.nodes,
            schedules=args.schedules,
            seed=args.seed,
            # Your own node runs as real processes: udp.
            backend="udp" if args.node else args.backend,
            workers=args.workers,
            shard=shard,
            node=args.node or "",
        )
        check_options(options)
    except HuntError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out and not Path(args.out).resolve().parent.is_dir():
        print(f"error: --out {args.out}: {Path(args.out).parent} is not a directory", file=sys.stderr)
        return 2
    bar = Progress(
        TextColumn("hunting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    total = len(options.seeds())
    task = bar.add_task("hunt", total=total, rate="")
    start = time.perf_counter()

    def show(p: object) -> None:
        done = getattr(p, "done", 0)
        rate = done / max(time.perf_counter() - start, 1e-9)
        bar.update(task, completed=done, rate=f"{rate:.0f} schedules/s")

    with bar:
        example = hunt(options, show)
    elapsed = time.perf_counter() - start
    bug = f"bug {options.bug}" if options.bug else "no planted bug"
    if example is None:
        print(
            f"no counterexample in {total} schedules "
            f"({bug}, {options.nodes} nodes, seeds from {options.seed})"
        )
        return 0
    path = args.out or "FILE"
    text = render(example, options, path)
    print(f"seed {example.seed} broke {example.found.invariant}: {example.found.detail}")
    print(
        f"shrunk {len(example.original) - 1} commands to {len(example.shrunk) - 1} "
        f"(hunt and shrink took {elapsed:.1f} s)"
    )
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"written: {args.out} (raftviz run {args.out}; raftviz --load {args.out})")
    else:
        print(text, end="")
    return 1


#: The ``--theme`` names (raftviz.tui.themes.THEMES; not imported here: a node process
#: parses this command line too and needs no Textual).
THEME_NAMES = ("dark", "light", "high-contrast")
THEME_HELP = "dark (default), light or high-contrast (for projectors); the palette (^p) switches too"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raftviz", description="Watch Raft work, one event at a time.")
    parser.add_argument("--version", action="version", version=f"raftviz {__version__}")
    parser.add_argument("--nodes", type=int, default=5, help="cluster size for the app (3 to 9)")
    parser.add_argument(
        "--seed", type=int, help="seed of the app's cluster (default: 3, whose first election is clean)"
    )
    parser.add_argument("--backend", choices=("udp", "inprocess"), default="udp", help="node backend")
    parser.add_argument("--load", help="a scenario script to load into the app (run with ] and })")
    parser.add_argument("--node", metavar="CMD", help="run every node as CMD (your own Raft)")
    parser.add_argument("--theme", default="dark", choices=THEME_NAMES, help=THEME_HELP)
    _share_arguments(parser)
    parser.add_argument(
        "--follow", metavar="HOST:PORT", help="follow a teacher's shared session (f forks your own branch)"
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run a scenario script headless and print its transcript")
    run.add_argument("file", help="the scenario script ('-' for standard input)")
    run.add_argument("--backend", choices=("udp", "inprocess"), help="override the script's backend")
    run.add_argument("--node", metavar="CMD", help="run every node as CMD (your own Raft)")
    run.add_argument("--diagram", metavar="OUT.svg|OUT.html", help="draw the run as a space-time diagram")
    run.add_argument("--trace", metavar="OUT.json", help="write the run as a Chrome trace (Perfetto)")
    run.set_defaults(func=_cmd_run)
    conform = sub.add_parser(
        "conform",
        help="check a Raft node of your own (any language) against the protocol and Raft's rules",
        description="Run a battery of scenarios (handshake and framing, elections, the election "
        "restriction, log repair, persistence, partitions, client retries, each message's encoding) "
        "against a cluster of CMD nodes, and mixed with raftviz's own, then random fault schedules, "
        "with every invariant checked after every event. Prints PASS/FAIL/SKIP per rule, each "
        "failure with a minimal script (raftviz run FILE replays it, raftviz --load FILE steps "
        "through it). Exit 1 on any failure. See docs/protocol.md §7 for what a node must implement.",
    )
    conform.add_argument("--node", metavar="CMD", help="the node command (default: raftviz's own node)")
    conform.add_argument("--seeds", type=int, default=10, help="random fault schedules to run (default 10)")
    conform.add_argument("--seed", type=int, default=0, help="the first schedule's seed (default 0)")
    conform.add_argument("--no-mixed", action="store_true", help="skip the runs mixed with raftviz's nodes")
    conform.add_argument(
        "--shrink-runs", type=int, default=150, help="most runs spent shrinking one failure (default 150)"
    )
    conform.set_defaults(func=_cmd_conform)
    bugs = sub.add_parser("bugs", help="list the bugs a cluster can be planted with (bug=NAME)")
    bugs.set_defaults(func=_cmd_bugs)
    hunt = sub.add_parser(
        "hunt",
        help="run random fault schedules until an invariant breaks; shrink and write the run",
        description="Run random fault schedules (crashes and restarts, partitions and one-way cuts, "
        "drops, late duplicates, latency and loss, client writes, membership changes, snapshots) "
        "with every invariant checked after every event. At the first violation (by seed order, "
        "whatever the number of workers) shrink the schedule to a minimal script that breaks the "
        "same invariant, and print it or write it to --out: `raftviz run FILE` replays it, "
        "`raftviz --load FILE` steps through it in the app. Exit 1 when a counterexample was found, "
        "0 when none was within the budget, 2 on bad arguments.",
    )
    hunt.add_argument("--bug", help="plant this bug in every node (raftviz bugs lists them); default none")
    hunt.add_argument("--nodes", type=int, default=3, help="cluster size (default 3)")
    hunt.add_argument("--node", metavar="CMD", help="hunt in your own node: every node runs CMD (udp)")
    hunt.add_argument(
        "--schedules", type=int, default=1000, help="how many schedules (seeds) to try (default 1000)"
    )
    hunt.add_argument("--seed", type=int, default=0, help="seed of the first schedule (then seed+1, ...)")
    hunt.add_argument(
        "--backend",
        choices=("inprocess", "udp"),
        default="inprocess",
        help="backend the schedules run on (default inprocess; shrinking runs inprocess: same runs, faster)",
    )
    hunt.add_argument("--out", metavar="FILE", help="write the shrunk script here (default: print it)")
    hunt.add_argument("--workers", type=int, default=0, help="worker processes (default: one per core)")
    hunt.add_argument("--shard", metavar="I/N", help="run only the seeds s with s %% N == I")
    hunt.set_defaults(func=_cmd_hunt)
    demo = sub.add_parser("demo", help="run a short built-in scenario")
    demo.set_defaults(func=_cmd_demo)

    node = sub.add_parser("node", help="run one Raft node (free-running, or driven by a lab)")
    node.add_argument("--id", type=_checked("node_id"), required=True, help="this node's id")
    node.add_argument("--peers", type=_checked("peers"), help="every node as ID=HOST:PORT,... (free mode)")
    node.add_argument(
        "--data", type=_checked("data_directory"), help="data directory (default: ./raftviz-nodeID)"
    )
    node.add_argument(
        "--cluster",
        default="raftviz",
        metavar="NAME",
        help="the cluster's name, kept in the data directory with the node id: another cluster's "
        "or node's directory is refused (default raftviz)",
    )
    node.add_argument("--election", type=_range, default=(150, 300), help="election timeout MIN-MAX ms")
    node.add_argument("--heartbeat", type=int, default=50, help="heartbeat interval, ms")
    node.add_argument("--noop", choices=("on", "off"), default="on", help="no-op entry on election")
    node.add_argument("--batch", type=int, default=64, help="most entries per AppendEntries")
    node.add_argument("--seed", type=int, default=0, help="seed of the election-timeout randomness")
    node.add_argument("--allow-public", action="store_true", help="allow binding a non-loopback address")
    node.add_argument("--snapshot", type=int, default=10_000, help="compact after this many entries (0: off)")
    node.add_argument("--snapshot-bytes", type=int, default=4_000_000, help="... or this many bytes (0: off)")
    node.add_argument("--chunk", type=int, default=16_384, help="snapshot bytes per InstallSnapshot")
    node.add_argument(
        "--sessions",
        type=float,
        metavar="SECONDS",
        help=f"idle seconds before a client session expires (0: never; default {FREE_SESSIONS_SECONDS:g})",
    )
    node.add_argument(
        "--prevote", action="store_true", help="Pre-Vote with leader stickiness (dissertation §9.6)"
    )
    node.add_argument(
        "--checkquorum", action="store_true", help="a leader cut off from a majority steps down (§6.2)"
    )
    node.add_argument(
        "--members",
        type=_checked("members"),
        help="the initial voters, ID,ID,... (default: every node in --peers)",
    )
    node.add_argument(
        "--join", action="store_true", help="start with no configuration: wait to be added (kv add ID)"
    )
    node.add_argument(
        "--disk",
        type=_disk_fault,
        help="free mode, for tests: a disk fault from the start: fail, full or slow=MS",
    )
    node.add_argument(
        "--secret-file", help="cluster secret (a file only its owner can read): tag and check every datagram"
    )
    node.add_argument(
        "--bug",
        type=_bug_switches,
        default=(),
        metavar="NAME[@N],...",
        help="run with planted bugs (raftviz bugs lists them); for lessons and tests, never for data",
    )
    node.add_argument("--lab", action="store_true", help=argparse.SUPPRESS)
    node.add_argument("--incarnation", type=int, default=0, help=argparse.SUPPRESS)
    node.add_argument("--router", type=_address, help=argparse.SUPPRESS)
    node.add_argument("--now", type=int, default=0, help=argparse.SUPPRESS)
    node.set_defaults(func=_cmd_node)

    lesson = sub.add_parser("lesson", help="list the lessons, open one, or check them headless")
    lesson.add_argument("name", nargs="?", help="the lesson to open (a number or part of its name)")
    lesson.add_argument("--check", metavar="NAME|all", help="run lessons headless by their solutions")
    lesson.add_argument("--backend", choices=("udp", "inprocess"), help="node backend (default udp)")
    lesson.add_argument("--theme", default=argparse.SUPPRESS, choices=THEME_NAMES, help=THEME_HELP)
    _share_arguments(lesson)
    lesson.set_defaults(func=_cmd_lesson)

    serve = sub.add_parser("serve", help="serve the app to browsers (a tab: its own app and cluster)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--follow", metavar="HOST:PORT", help="every tab follows this teacher's session")
    serve.add_argument("--code", default="", help="the teacher's join code (with --follow)")
    serve.add_argument("--lesson", metavar="NAME", help="every tab opens this lesson")
    serve.add_argument("--max-sessions", type=int, default=20, help="most tabs running at once (default 20)")
    serve.add_argument("--backend", choices=("udp", "inprocess"), default="udp", help="node backend")
    serve.add_argument(
        "--public-url",
        help="the address browsers use (default http://HOST:PORT; give it with --host 0.0.0.0)",
    )
    serve.set_defaults(func=_cmd_serve)
    kv = sub.add_parser("kv", help="a key-value client of a free-running cluster")
    kv.add_argument(
        "--cluster",
        required=True,
        type=lambda t: [_address(a) for a in t.split(",")],
        help="the nodes' addresses, HOST:PORT,...",
    )
    kv.add_argument(
        "--timeout", type=_checked("timeout_seconds"), default=5.0, help="give up after this many seconds"
    )
    kv.add_argument("--secret-file", help="the cluster's secret file, if its nodes use one")
    kv.add_argument(
        "--read",
        choices=("log", "readindex", "lease"),
        default="log",
        help="how get reads: through the log (default), ReadIndex or the leader's lease (dissertation §6.4)",
    )
    kv.add_argument("op", choices=("put", "get", "delete", "append", "add", "remove", "transfer", "status"))
    kv.add_argument("key", nargs="?")
    kv.add_argument("value", nargs="?")
    kv.set_defaults(func=_cmd_kv)

    torture = sub.add_parser("torture", help="check a free-mode cluster for linearizability under faults")
    torture.add_argument("--nodes", type=int, default=3, help="cluster size: 3 or 5")
    torture.add_argument("--seconds", type=float, default=20.0, help="how long the clients run")
    torture.add_argument("--clients", type=int, default=4, help="concurrent clients")
    torture.add_argument("--faults", default="kill,pause", help="kill,pause,disk (or none)")
    torture.add_argument("--report", help="write an HTML timeline of the run here")
    torture.add_argument("--seed", type=int, help="seed of the operations and the fault schedule")
    torture.set_defaults(func=_cmd_torture)
    return parser


def _cmd_lesson(args: argparse.Namespace) -> int:
    from raftviz import lessons

    if args.check:
        names = lessons.lesson_names() if args.check == "all" else [args.check]
        if args.check != "all":
            try:
                lessons.find_lesson(args.check)
            except (FileNotFoundError, lessons.LessonError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        failed = 0
        for name in names:
            try:
                lesson = lessons.load_lesson(lessons.find_lesson(name))
            except (FileNotFoundError, lessons.LessonError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed += 1
                continue
            print(f"{lesson.name}: {lesson.title}")
            problems = lessons.check_lesson(lesson, backend=args.backend)
            for problem in problems:
                print(f"  FAILED {problem}")
            failed += bool(problems)
        print(f"{len(names) - failed} passed, {failed} failed")
        return 1 if failed else 0
    if not args.name:
        for name in lessons.lesson_names():
            try:
                lesson = lessons.load_lesson(lessons.LESSONS_DIR / f"{name}{lessons.SUFFIX}")
                print(f"{name:32} {lesson.title} ({len(lesson.steps)} steps)")
            except lessons.LessonError as exc:
                print(f"{name:32} INVALID: {exc}")
        print("\nraftviz lesson NAME opens one (a number or part of the name is enough).")
        return 0
    try:
        lesson = lessons.load_lesson(lessons.find_lesson(args.name))
    except (FileNotFoundError, lessons.LessonError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from raftviz.tui.app import AppOptions, RaftvizApp

    share = _share_server(args)
    if isinstance(share, int):
        return share
    options = AppOptions(backend=args.backend or "udp", lesson=lesson, theme=args.theme, share=share)
    return _run_shared(RaftvizApp(options), share)


def _share_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--share",
        metavar="[HOST:]PORT",
        help="publish the session to followers (loopback unless HOST; a LAN HOST prints a join code)",
    )
    parser.add_argument("--code", help="the join code (--follow: the teacher's; --share: choose it)")


def _share_server(args: argparse.Namespace) -> Any:  # noqa: ANN401 - a ShareServer, None, or an exit code
    """The ``--share`` server, None without ``--share``, or 2 after saying why it cannot start."""
    if not args.share:
        return None
    from raftviz.share.protocol import ShareError, parse_address
    from raftviz.share.server import ShareServer

    try:
        host, port = parse_address(args.share)
        return ShareServer(host, port, code=args.code or None)
    except ShareError as exc:
        print(f"error: --share {exc}", file=sys.stderr)
        return 2


def _run_shared(app: RaftvizApp, share: Any) -> int:  # noqa: ANN401 - a ShareServer or None
    try:
        return _run_app(app)
    finally:
        if share is not None:
            share.close()


def _cmd_serve(args: argparse.Namespace) -> int:
    from raftviz.share.serve import app_command, make_server

    if args.max_sessions < 1:
        print("error: --max-sessions must be at least 1", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print("error: --port must be a number from 1 to 65535", file=sys.stderr)
        return 2
    if args.follow:
        from raftviz.share.protocol import ShareError, parse_address

        try:
            parse_address(args.follow, need_host=True)
        except ShareError as exc:
            print(f"error: --follow {exc}", file=sys.stderr)
            return 2
    if args.lesson:
        from raftviz import lessons

        try:
            lessons.find_lesson(args.lesson)
        except (FileNotFoundError, lessons.LessonError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.host in ("0.0.0.0", "::") and not args.public_url:
        print(
            f"error: --host {args.host} listens everywhere, but browsers need a real address: "
            f"add --public-url http://THIS-MACHINE:{args.port}",
            file=sys.stderr,
        )
        return 2
    command = app_command(args.follow, args.code, args.lesson, args.backend)
    try:
        server = make_server(command, args.host, args.port, args.max_sessions, args.public_url)
    except ImportError as exc:
        print(f"error: raftviz serve needs textual-serve ({exc}): pip install textual-serve", file=sys.stderr)
        return 2
    server.serve()
    return 0


def _cmd_tui(args: argparse.Namespace) -> int:
    from raftviz.tui.app import DEFAULT_SEED, AppOptions, RaftvizApp

    if not 3 <= args.nodes <= 9:
        print("error: --nodes must be 3 to 9", file=sys.stderr)
        return 2
    if args.load and not Path(args.load).is_file():
        problem = "is not a file" if Path(args.load).exists() else "does not exist"
        print(f"error: --load {args.load}: {problem}", file=sys.stderr)
        return 2
    seed = DEFAULT_SEED if args.seed is None else args.seed
    if args.follow:
        if args.share:
            print("error: --share and --follow cannot go together", file=sys.stderr)
            return 2
        from raftviz.share.client import join
        from raftviz.share.protocol import ShareError, parse_address

        try:
            host, port = parse_address(args.follow, need_host=True)
            stream = join(host, port, args.code or "")
        except ShareError as exc:
            print(f"error: --follow {exc}", file=sys.stderr)
            return 2
        return _run_app(RaftvizApp(AppOptions(backend=args.backend, theme=args.theme, follow=stream)))
    share = _share_server(args)
    if isinstance(share, int):
        return share
    options = AppOptions(
        nodes=args.nodes,
        seed=seed,
        backend=args.backend,
        load=args.load,
        theme=args.theme,
        share=share,
        node=args.node or "",
    )
    return _run_shared(RaftvizApp(options), share)


def _run_app(app: RaftvizApp) -> int:
    """Run the app; however it ends (q, a signal, an error), every node process and the lab's directory go.

    A stop signal quits the app from its event loop, as q does, so the
    terminal is restored before the lab closes; the exit code is then
    128 + the signal's number.
    """
    from raftviz.lab.exits import stop_signals

    with stop_signals(app.quit_on_signal):
        try:
            app.run()
        finally:
            app.shutdown()
    return app.return_code or 0


def main(argv: list[str] | None = None) -> int:
    from raftviz.lab.exits import Stopped, stop_signals

    parser = build_parser()
    args = parser.parse_args(argv)
    command = _cmd_tui if args.command is None else args.func
    try:
        # SIGTERM and SIGHUP end a command as Ctrl-C does: its clean-up runs
        # (a lab's node processes and temporary directory go).
        with stop_signals():
            return command(args)
    except KeyboardInterrupt as exc:
        _tell("interrupted")
        return exc.exit_code if isinstance(exc, Stopped) else 130  # 128 + SIGINT
    except BrokenPipeError:
        # The reader went away (`raftviz run s.txt | head`): stop quietly, as cat does.
        sys.stderr.close()
        return 141
    except OSError as exc:
        # The machine said no, not the command line: most often the output cannot be
        # written (`> /dev/full`). One line; what is still buffered for standard output
        # is dropped, or the exit would fail writing it again.
        _drop_stdout()
        _tell(f"error: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return 1


def _tell(text: str) -> None:
    """A line on standard error, if there is still one to write to (a closed terminal has none)."""
    try:
        print(text, file=sys.stderr)
    except (OSError, ValueError):
        pass


def _drop_stdout() -> None:
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass
