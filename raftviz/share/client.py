"""The follower's side: join a teacher's session and receive its command stream.

``join`` connects and says hello with the join code, and raises ``ShareError``
with the teacher's reason if refused, before any app starts (the CLI exits 2).
``Stream.start`` then reads on a thread of its own and hands every message to a
callback; the callback must not block (the follower's app queues the commands
for its lab thread).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

from raftviz.share.protocol import MAX_LINE, VERSION, ShareError, decode, encode

#: How long joining may take (connecting and the teacher's answer).
JOIN_TIMEOUT_S = 10.0


class Stream:
    """A joined session: the teacher's messages, in order, as they come."""

    def __init__(self, sock: socket.socket, rest: bytes, address: str) -> None:
        self._sock = sock
        self._rest = rest
        self.address = address
        self._thread: threading.Thread | None = None
        self.closed = False

    def start(self, on_message: Callable[[dict[str, Any]], None], on_end: Callable[[str], None]) -> None:
        """Read on a thread: ``on_message`` for each message, ``on_end`` (why) once the stream ends."""

        def read() -> None:
            buffer = self._rest
            why = "the teacher ended the session"
            try:
                while True:
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        on_message(decode(line))
                    if len(buffer) > MAX_LINE:
                        raise ShareError("the teacher sent a line too long")
                    data = self._sock.recv(65536)
                    if not data:
                        break
                    buffer += data
            except ShareError as exc:
                why = str(exc)
            except OSError as exc:
                why = "" if self.closed else f"the connection to the teacher broke: {exc.strerror or exc}"
            on_end(why)

        self._thread = threading.Thread(target=read, name="raftviz-follow", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


def join(host: str, port: int, code: str = "") -> Stream:
    """Connect to a teacher and say hello; the stream, or ``ShareError`` saying why not."""
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=JOIN_TIMEOUT_S)
    except OSError as exc:
        raise ShareError(f"cannot reach the teacher at {where}: {exc.strerror or exc}") from None
    try:
        sock.sendall(encode({"hello": VERSION, "code": code}))
        buffer = b""
        while b"\n" not in buffer:
            data = sock.recv(65536)
            if not data:
                raise ShareError(f"the teacher at {where} closed the connection without an answer")
            buffer += data
            if len(buffer) > MAX_LINE:
                raise ShareError(f"{where} is not a raftviz teacher")
        line, rest = buffer.split(b"\n", 1)
        answer = decode(line)
        if answer.get("type") == "refused":
            raise ShareError(f"the teacher at {where} refused: {answer.get('reason', 'no reason given')}")
        if answer.get("type") != "welcome":
            raise ShareError(f"{where} is not a raftviz teacher")
    except ShareError:
        sock.close()
        raise
    except OSError as exc:
        sock.close()
        raise ShareError(f"joining the teacher at {where} failed: {exc.strerror or exc}") from None
    sock.settimeout(None)
    return Stream(sock, rest, where)
