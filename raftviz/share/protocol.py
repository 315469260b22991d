"""The share stream's format: one JSON object per line over TCP, and addresses and join codes.

A follower opens with ``{"hello": VERSION, "code": CODE}``; the teacher answers
``{"type": "welcome"}`` or ``{"type": "refused", "reason": ...}`` and closes.
After a welcome come, in order: ``{"type": "new"}`` (the teacher started a new
history: a new lesson; followers start one too) and ``{"type": "command",
"seq": N, "text": "step", "position": P}`` (a command the teacher's history
ran, and the position it led to, so a follower can check it is in step), and
``{"type": "lesson", "name": NAME, "text": TEXT, "step": I}`` after the
commands of a lesson action (the teacher is on step I of the lesson whose file
text is TEXT: followers show its narration and check its task on their own
cluster; the text travels so a lesson of the teacher's own is followed too).
JSON lines keep the stream readable with ``nc`` when a class set-up goes wrong.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from typing import Any

VERSION = 1
#: The longest line either side accepts (a command is a line of the scenario language).
MAX_LINE = 64 * 1024
DEFAULT_HOST = "127.0.0.1"


class ShareError(Exception):
    """Anything that stops sharing or following: said to the user in one line."""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), sort_keys=True).encode("utf-8") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One line as a message; ``ShareError`` for anything that is not a JSON object with a type."""
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ShareError(f"not a share message: {exc}") from None
    if not isinstance(message, dict):
        raise ShareError("not a share message: not a JSON object")
    return message


def parse_address(text: str, need_host: bool = False) -> tuple[str, int]:
    """``[HOST:]PORT`` as (host, port); the host defaults to loopback (``HOST:PORT`` when ``need_host``)."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        if need_host:
            raise ShareError(f"{text!r}: give HOST:PORT (the teacher's address and port)")
        host = DEFAULT_HOST
    host = host.strip("[]") or DEFAULT_HOST
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ShareError(f"{text!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_code() -> str:
    """A join code a teacher can read out and a student can type: six letters and digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: said aloud, they are confused
    return "".join(secrets.choice(alphabet) for _ in range(6))
