"""The ``raftviz`` command and its subcommands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from raftviz import __version__

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

    if args.file == "-":
        text, source = sys.stdin.read(), "<stdin>"
    else:
        path = Path(args.file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
            return 2
        source = args.file

    def write(line: str) -> None:
        print(line, flush=False)

    code = run_script(
        text,
        source,
        write,
        backend=args.backend,
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


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host, int(port)


def _peers(text: str) -> dict[int, tuple[str, int]]:
    peers = {}
    for item in text.split(","):
        node, _, address = item.partition("=")
        if not node.isdigit() or int(node) < 1:
            raise argparse.ArgumentTypeError(f"expected ID=HOST:PORT, not {item!r}")
        peers[int(node)] = _address(address)
    return peers


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
    )


def _cmd_node(args: argparse.Namespace) -> int:
    from raftviz.node import process

    try:
        config = _raft_config(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    members: tuple[int, ...] | None = None
    if args.members:
        try:
            members = tuple(sorted({int(m) for m in args.members.split(",")}))
        except ValueError:
            print(f"error: --members takes node ids, ID,ID,..., not {args.members!r}", file=sys.stderr)
            return 2
    if args.join:
        members = ()  # a new server: it learns its configuration from the leader
    if args.lab:
        if not (args.router and members is not None and args.data):
            print("error: --lab needs --router, --members (or --join) and --data", file=sys.stderr)
            return 2
        lab_args = process.LabModeArgs(
            args.id, members, config, args.seed, args.incarnation, args.data, args.router, args.now
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
    data = args.data or f"raftviz-node{args.id}"
    free = process.FreeModeArgs(args.id, args.peers, config, args.seed, data, args.allow_public, members)
    return process.run_free_mode(free)


def _cmd_kv(args: argparse.Namespace) -> int:
    from raftviz.node.client import KVClient, NoLeaderError, RequestError

    client = KVClient(args.cluster, timeout=args.timeout)
    try:
        if args.op == "status":
            for address, status in zip(args.cluster, client.statuses(), strict=True):
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
                    f"snap={status.snapshot_index} ({where})"
                )
            return 0
        if args.key is None:
            print(f"error: {args.op} needs a KEY", file=sys.stderr)
            return 2
        if args.op in ("put", "append"):
            if args.value is None:
                print(f"error: {args.op} needs KEY VALUE", file=sys.stderr)
                return 2
            client.request(args.op, args.key, args.value)
            print("OK")
        elif args.op in ("delete", "add", "remove"):
            client.request(args.op, args.key, "")
            print("OK")
        else:
            value = client.request("get", args.key, "")
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
    finally:
        client.close()
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raftviz", description="Watch Raft work, one event at a time.")
    parser.add_argument("--version", action="version", version=f"raftviz {__version__}")
    parser.add_argument("--nodes", type=int, default=5, help="cluster size for the app (3 to 9)")
    parser.add_argument(
        "--seed", type=int, help="seed of the app's cluster (default: 3, whose first election is clean)"
    )
    parser.add_argument("--backend", choices=("udp", "inprocess"), default="udp", help="node backend")
    parser.add_argument("--load", help="a scenario script to load into the app (run with ] and })")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run a scenario script headless and print its transcript")
    run.add_argument("file", help="the scenario script ('-' for standard input)")
    run.add_argument("--backend", choices=("udp", "inprocess"), help="override the script's backend")
    run.add_argument("--diagram", metavar="OUT.svg|OUT.html", help="draw the run as a space-time diagram")
    run.add_argument("--trace", metavar="OUT.json", help="write the run as a Chrome trace (Perfetto)")
    run.set_defaults(func=_cmd_run)
    demo = sub.add_parser("demo", help="run a short built-in scenario")
    demo.set_defaults(func=_cmd_demo)

    node = sub.add_parser("node", help="run one Raft node (free-running, or driven by a lab)")
    node.add_argument("--id", type=int, required=True, help="this node's id")
    node.add_argument("--peers", type=_peers, help="every node as ID=HOST:PORT,... (free mode)")
    node.add_argument("--data", help="data directory (default: ./raftviz-nodeID)")
    node.add_argument("--election", type=_range, default=(150, 300), help="election timeout MIN-MAX ms")
    node.add_argument("--heartbeat", type=int, default=50, help="heartbeat interval, ms")
    node.add_argument("--noop", choices=("on", "off"), default="on", help="no-op entry on election")
    node.add_argument("--batch", type=int, default=64, help="most entries per AppendEntries")
    node.add_argument("--seed", type=int, default=0, help="seed of the election-timeout randomness")
    node.add_argument("--allow-public", action="store_true", help="allow binding a non-loopback address")
    node.add_argument("--snapshot", type=int, default=10_000, help="compact after this many entries (0: off)")
    node.add_argument("--snapshot-bytes", type=int, default=4_000_000, help="... or this many bytes (0: off)")
    node.add_argument("--chunk", type=int, default=16_384, help="snapshot bytes per InstallSnapshot")
    node.add_argument("--members", help="the initial voters, ID,ID,... (default: every node in --peers)")
    node.add_argument(
        "--join", action="store_true", help="start with no configuration: wait to be added (kv add ID)"
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
    lesson.set_defaults(func=_cmd_lesson)

    kv = sub.add_parser("kv", help="a key-value client of a free-running cluster")
    kv.add_argument(
        "--cluster",
        required=True,
        type=lambda t: [_address(a) for a in t.split(",")],
        help="the nodes' addresses, HOST:PORT,...",
    )
    kv.add_argument("--timeout", type=float, default=5.0, help="give up after this many seconds")
    kv.add_argument("op", choices=("put", "get", "delete", "append", "add", "remove", "status"))
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

    app = RaftvizApp(AppOptions(backend=args.backend or "udp", lesson=lesson))
    try:
        app.run()
    finally:
        app.shutdown()
    return 0


def _cmd_tui(args: argparse.Namespace) -> int:
    from raftviz.tui.app import DEFAULT_SEED, AppOptions, RaftvizApp

    if not 3 <= args.nodes <= 9:
        print("error: --nodes must be 3 to 9", file=sys.stderr)
        return 2
    if args.load and not Path(args.load).is_file():
        print(f"error: no such file: {args.load}", file=sys.stderr)
        return 2
    seed = DEFAULT_SEED if args.seed is None else args.seed
    app = RaftvizApp(AppOptions(nodes=args.nodes, seed=seed, backend=args.backend, load=args.load))
    try:
        app.run()
    finally:
        app.shutdown()  # every node process stops, however the app ended
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return _cmd_tui(args)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`raftviz run s.txt | head`): stop quietly, as cat does.
        sys.stderr.close()
        return 141
