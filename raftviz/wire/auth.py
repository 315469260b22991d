"""The cluster secret's tag: an HMAC-SHA256, truncated to 16 bytes, after each datagram's message.

With a cluster secret (``raftviz node --secret-file``, and always in the
lab's udp backend) every datagram is the encoded message followed by
``TAG_SIZE`` bytes: the first 16 bytes of HMAC-SHA256(secret, message). A
receiver that has the secret accepts a datagram only if its last 16 bytes are
that tag for the bytes before them; everything else is dropped without an
answer and counted apart from malformed datagrams (docs/protocol.md, section
1, "Authentication"). The message itself is unchanged, so the codec and the
lab's digests see the same bytes with or without a secret.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

#: Bytes of tag after the message: half an HMAC-SHA256, as RFC 2104 section 5 allows.
TAG_SIZE: Final = 16


def tag(secret: bytes, message: bytes) -> bytes:
    """The tag of ``message`` under ``secret``."""
    return hmac.new(secret, message, hashlib.sha256).digest()[:TAG_SIZE]


def seal(secret: bytes, message: bytes) -> bytes:
    """The datagram that carries ``message``: the message, then its tag."""
    return message + tag(secret, message)


def unseal(secret: bytes, data: bytes) -> bytes | None:
    """The message of a datagram whose tag is valid under ``secret``; None if it has none or a wrong one."""
    if len(data) <= TAG_SIZE:
        return None
    message, received = data[:-TAG_SIZE], data[-TAG_SIZE:]
    if not hmac.compare_digest(received, tag(secret, message)):
        return None
    return message
