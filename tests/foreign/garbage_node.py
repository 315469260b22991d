"""A node that breaks docs/protocol.md on purpose, for the lab's foreign-node tests.

It greets the lab properly (a Hello, from raftviz's own codec), then answers
its Nth input (``--break-at``, default 1) in the way ``--mode`` says:
``garbage`` writes bytes that are no frame, ``wrong-frame`` a Hello instead of
a Report, ``bad-sent`` a Report listing a datagram that is not a message,
``silent`` nothing at all (the lab's timeout). Every input before that gets a
Report of an idle follower. It writes a line to standard error at each input,
so the lab's stop message has something to quote.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

from raftviz.wire import control


def _report(node: int, members: list[int], sent: tuple = ()) -> control.Report:
    return control.Report(
        node=node, role="follower", term=0, vote=0, leader=0, commit=0, applied=0, last_index=0,
        last_term=0, deadline=1_000_000, election_timeout=200, log_from=0, entries=(), sent=sent,
        votes=(), next_index=(), match_index=(), dropped=0, refused="", start_index=0, start_term=0,
        voters=tuple(members), learners=(), snapshot=b"", disk="ok", violations=(), reasons=(),
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="garbage")
    parser.add_argument("--break-at", type=int, default=1)
    parser.add_argument("--id", type=int, required=True)
    parser.add_argument("--members", default="1")
    args, _ = parser.parse_known_args()
    members = [int(m) for m in args.members.split(",")]
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    control.read_frame(stdin)  # the Secret
    hello = control.Hello(args.id, os.getpid(), sock.getsockname()[1], _report(args.id, members))
    control.write_frame(stdout, hello)
    inputs = 0
    while True:
        frame = control.read_frame(stdin)
        if frame is None or isinstance(frame, control.Shutdown):
            return 0
        inputs += 1
        print(f"input {inputs}: {type(frame).__name__}", file=sys.stderr, flush=True)
        if inputs < args.break_at:
            control.write_frame(stdout, _report(args.id, members))
            continue
        print(f"now misbehaving: {args.mode}", file=sys.stderr, flush=True)
        if args.mode == "garbage":
            stdout.write(b"\x00\x00\x00\x05hello")
            stdout.flush()
        elif args.mode == "wrong-frame":
            control.write_frame(stdout, hello)
        elif args.mode == "bad-sent":
            control.write_frame(stdout, _report(args.id, members, sent=((1, b"\x91\x01"),)))
        # silent: nothing; the lab's timeout ends the wait
        while control.read_frame(stdin) is not None:  # then wait to be killed
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
