"""The ``raftviz`` command and its subcommands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from raftviz import __version__

DEMO = """\
# The default demo until the TUI exists: a first election and one write.
cluster 5 seed=1
until leader
put greeting hello
until kv greeting=hello
status
"""


def _cmd_run(args: argparse.Namespace) -> int:
    from raftviz.lab.session import run_script

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

    code = run_script(text, source, write, backend=args.backend)
    sys.stdout.flush()
    return code


def _cmd_demo(args: argparse.Namespace) -> int:
    from raftviz.lab.session import run_script

    return run_script(DEMO, "<demo>", print, backend=getattr(args, "backend", None))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raftviz", description="Watch Raft work, one event at a time.")
    parser.add_argument("--version", action="version", version=f"raftviz {__version__}")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run a scenario script headless and print its transcript")
    run.add_argument("file", help="the scenario script ('-' for standard input)")
    run.add_argument("--backend", choices=("udp", "inprocess"), help="override the script's backend")
    run.set_defaults(func=_cmd_run)
    demo = sub.add_parser("demo", help="run a short built-in scenario")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return _cmd_demo(args)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
