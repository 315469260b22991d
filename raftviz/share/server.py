"""The teacher's side: a small TCP server that publishes the session's command stream.

``publish`` is called on the teacher's lab thread and never blocks: it appends
one encoded line to the stream and wakes the server's own thread, which does
all the socket work with ``selectors``. Each follower has a cursor into the
stream and at most ``SEND_BUFFER`` bytes copied out for it, so a follower
costs the teacher no memory beyond the stream itself; a follower that accepts
nothing for ``STALL_S`` seconds while data waits (asleep, gone, or far too
slow) is dropped. A late joiner starts from the stream's beginning (the last
``new``): it replays the session so far on its own machine.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from raftviz.lab.history import History
from raftviz.share.protocol import MAX_LINE, VERSION, ShareError, decode, encode, is_loopback, new_code

#: Bytes copied out of the stream for one follower at a time (its bounded queue).
SEND_BUFFER = 64 * 1024
#: A follower whose socket accepts nothing for this long, with data waiting, is dropped.
STALL_S = 10.0
#: A follower must say hello (and give the join code) within this long.
HELLO_S = 5.0


@dataclass(eq=False)
class _Follower:
    sock: socket.socket
    address: str
    joined: float
    inbox: bytes = b""
    outbox: bytearray = field(default_factory=bytearray)
    live: bool = False  # said hello with the right code
    closing: bool = False  # refused: close once the answer is sent
    cursor: int = 0  # the next stream sequence number to copy out
    last_progress: float = 0.0


class ShareServer:
    """Publishes a session's command stream to any number of followers."""

    def __init__(self, host: str, port: int, code: str | None = None) -> None:
        loopback = is_loopback(host)
        #: The join code followers must give ("" on loopback, where anyone local may follow).
        self.code = code if code is not None else ("" if loopback else new_code())
        try:
            self._listener = socket.create_server((host, port), reuse_port=False)
        except OSError as exc:
            raise ShareError(f"cannot share on {host}:{port}: {exc.strerror or exc}") from None
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._stream: list[bytes] = []
        self._base = 0  # sequence number of _stream[0]
        self._seq = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._followers: dict[socket.socket, _Follower] = {}
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._stopping = False
        #: Followers dropped so far, and why (for the teacher's notices and the tests).
        self.dropped: list[str] = []
        self._thread = threading.Thread(target=self._serve, name="raftviz-share", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the teacher's side

    @property
    def followers(self) -> int:
        """How many followers are in step (said hello with the right code)."""
        with self._lock:
            return sum(1 for f in self._followers.values() if f.live)

    def describe(self) -> str:
        where = f"{self.host}:{self.port}"
        code = f" --code {self.code}" if self.code else ""
        return f"sharing on {where}: students run  raftviz --follow {where}{code}"

    def attach(self, history: History) -> None:
        """Publish everything ``history`` runs from now on; a new history starts a new stream."""
        self._publish({"type": "new"}, restart=True)
        history.commands.append(self.publish)

    def publish(self, text: str, position: int) -> None:
        """One command the teacher's history ran (called on the lab thread; never blocks)."""
        self._publish({"type": "command", "text": text, "position": position})

    def lesson(self, name: str, text: str, step: int) -> None:
        """The lesson step the teacher is on, after the commands that took it there (lab thread)."""
        self._publish({"type": "lesson", "name": name, "text": text, "step": step})

    def _publish(self, message: dict[str, Any], restart: bool = False) -> None:
        with self._lock:
            message["seq"] = self._seq
            self._seq += 1
            if restart:
                # What came before belongs to a history that is gone: late joiners skip it.
                self._base += len(self._stream)
                self._stream = []
            self._stream.append(encode(message))
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"!")

    def close(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"!")
        self._thread.join(timeout=5)
        for follower in list(self._followers.values()):
            follower.sock.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()

    # ------------------------------------------------------------------ the server's thread

    def _serve(self) -> None:
        while not self._stopping:
            for key, mask in self._selector.select(timeout=0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    self._accept()
                elif sock is self._wake_r:
                    with contextlib.suppress(BlockingIOError, OSError):
                        sock.recv(4096)
                elif sock in self._followers:
                    follower = self._followers[sock]
                    if mask & selectors.EVENT_READ:
                        self._read(follower)
                    if mask & selectors.EVENT_WRITE and sock in self._followers:
                        self._write(follower)
            now = time.monotonic()
            for follower in list(self._followers.values()):
                self._fill(follower)
                if follower.outbox:
                    self._write(follower)
                if follower.sock not in self._followers:
                    continue
                if not follower.live and not follower.closing and now - follower.joined > HELLO_S:
                    self._drop(follower, "said no hello")
                elif follower.outbox and now - follower.last_progress > STALL_S:
                    self._drop(follower, f"took nothing for {STALL_S:g} s")
                else:
                    self._watch(follower)

    def _accept(self) -> None:
        try:
            sock, address = self._listener.accept()
        except (BlockingIOError, OSError):
            return
        sock.setblocking(False)
        now = time.monotonic()
        follower = _Follower(sock, f"{address[0]}:{address[1]}", now, last_progress=now)
        with self._lock:
            self._followers[sock] = follower
        self._selector.register(sock, selectors.EVENT_READ)

    def _read(self, follower: _Follower) -> None:
        try:
            data = follower.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(follower, "left")
            return
        if follower.live or follower.closing:
            return  # followers have nothing more to say
        follower.inbox += data
        if b"\n" not in follower.inbox:
            if len(follower.inbox) > MAX_LINE:
                self._drop(follower, "sent a line too long")
            return
        line = follower.inbox.split(b"\n", 1)[0]
        try:
            hello = decode(line)
        except ShareError:
            hello = {}
        if hello.get("hello") != VERSION:
            self._refuse(follower, f"not a raftviz follower of share version {VERSION}")
        elif self.code and hello.get("code") != self.code:
            given = "no join code" if not hello.get("code") else "a wrong join code"
            self._refuse(follower, f"{given} (the code is on the teacher's screen: --code CODE)")
        else:
            follower.outbox += encode({"type": "welcome", "version": VERSION})
            with self._lock:
                follower.live = True
                follower.cursor = self._base

    def _refuse(self, follower: _Follower, reason: str) -> None:
        follower.outbox += encode({"type": "refused", "reason": reason})
        follower.closing = True
        self.dropped.append(f"{follower.address}: refused: {reason}")

    def _fill(self, follower: _Follower) -> None:
        """Copy the next lines of the stream out for this follower, up to its buffer's size."""
        if not follower.live or len(follower.outbox) >= SEND_BUFFER:
            return
        with self._lock:
            follower.cursor = max(follower.cursor, self._base)  # a new history: skip the old one
            start = follower.cursor - self._base
            end = start
            size = len(follower.outbox)
            while end < len(self._stream) and size < SEND_BUFFER:
                size += len(self._stream[end])
                end += 1
            chunk = b"".join(self._stream[start:end])
            follower.cursor += end - start
        if chunk and not follower.outbox:
            follower.last_progress = time.monotonic()  # the stall clock starts when data waits
        follower.outbox += chunk

    def _write(self, follower: _Follower) -> None:
        try:
            sent = follower.sock.send(follower.outbox)
        except BlockingIOError:
            return
        except OSError:
            self._drop(follower, "went away")
            return
        if sent:
            del follower.outbox[:sent]
            follower.last_progress = time.monotonic()
        if follower.closing and not follower.outbox:
            self._drop(follower, "")

    def _watch(self, follower: _Follower) -> None:
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if follower.outbox else 0)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.modify(follower.sock, events)

    def _drop(self, follower: _Follower, why: str) -> None:
        if why:
            # Said before the follower leaves the count: whoever sees it gone finds why.
            self.dropped.append(f"{follower.address}: {why}")
        with self._lock:
            self._followers.pop(follower.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(follower.sock)
        follower.sock.close()
