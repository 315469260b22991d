"""Node addresses in free mode: resolving them, and refusing to add a node that has none.

A free-mode node sends to its peers at the addresses given with ``--peers``,
fixed at start. A node added with ``kv add ID`` that no ``--peers`` list has
an address for would be a learner the leader can never reach: it would never
catch up, and a configuration waiting on it would block every later change.
So a node refuses such a request at once and says which nodes it knows.
"""

from __future__ import annotations

import socket

from raftviz.core.messages import ClientReply, ClientRequest


class AddressError(ValueError):
    """A host name that does not resolve (the message names it)."""


def resolve(host: str, port: int) -> tuple[str, int]:
    """``(IPv4 address, port)`` for ``host``; AddressError, naming it, if it does not resolve."""
    try:
        return socket.gethostbyname(host), port
    except (OSError, UnicodeError) as exc:  # socket.gaierror, or a name IDNA cannot encode
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise AddressError(f"cannot resolve {host!r}: {reason}") from None


def unaddressed_member(
    request: object, node_id: int, addresses: dict[int, tuple[str, int]]
) -> ClientReply | None:
    """The refusal of an ``add`` for a node with no address here; None for any other request."""
    if not isinstance(request, ClientRequest) or request.command.op != "add":
        return None
    key = request.command.key
    if not key.isdigit() or int(key) in addresses:
        return None  # a malformed id is the core's to refuse (docs/protocol.md)
    known = ", ".join(str(n) for n in sorted(addresses))
    error = (
        f"node {int(key)} has no address in --peers (addresses are known for nodes {known}); "
        f"restart the nodes with {int(key)}=HOST:PORT in --peers first"
    )
    return ClientReply(src=node_id, dst=request.src, seq=request.command.seq, ok=False, error=error)
