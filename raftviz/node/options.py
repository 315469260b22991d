"""Checking what a user gives ``raftviz node`` and ``raftviz kv``: every mistake is one clear line.

Each function either returns the value ready to use or raises
:class:`OptionsError`, whose message the CLI prints as ``error: ...`` with
exit code 2. A check lives here when the value would otherwise fail deep
inside (a node id too large to encode, a host that does not resolve, a
data directory that is the current one), or be accepted and make no sense
(a node id twice in ``--peers``, a heartbeat that lets elections start
between heartbeats, a timeout that allows no attempt).
"""

from __future__ import annotations

import math

from raftviz.core.config import RaftConfig
from raftviz.node.addresses import AddressError, resolve
from raftviz.wire.validate import MAX_NODE_ID

#: The longest ``raftviz kv --timeout``, in seconds: a day is already far beyond any use.
MAX_CLIENT_TIMEOUT = 86_400.0


class OptionsError(ValueError):
    """An option that cannot be used (the message says which and why)."""


def node_id(text: str, what: str = "a node id") -> int:
    """A node id, ``1..MAX_NODE_ID`` (what the wire carries)."""
    if not text.isdigit() or not 1 <= int(text) <= MAX_NODE_ID or text != str(int(text)):
        raise OptionsError(f"{what} is a number from 1 to {MAX_NODE_ID}, not {text!r}")
    return int(text)


def address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` with an IPv4 address or a host name (the nodes use IPv4 sockets)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise OptionsError(f"expected HOST:PORT, not {text!r}")
    if ":" in host or host.startswith("["):
        raise OptionsError(f"IPv6 addresses are not supported (use 127.0.0.1), not {text!r}")
    return host, int(port)


def peers(text: str) -> dict[int, tuple[str, int]]:
    """``ID=HOST:PORT,...``: each id once (a repeated one would silently lose an address)."""
    result: dict[int, tuple[str, int]] = {}
    for item in text.split(","):
        node, sep, where = item.partition("=")
        if not sep or not node.isdigit():
            raise OptionsError(f"expected ID=HOST:PORT, not {item!r}")
        nid = node_id(node, "a node id in --peers")
        if nid in result:
            raise OptionsError(f"node {nid} is given twice")
        result[nid] = address(where)
    return result


def resolve_peers(given: dict[int, tuple[str, int]]) -> None:
    """Every host resolves, and no two nodes share an address (each would receive the other's datagrams)."""
    owner: dict[tuple[str, int], int] = {}
    for nid in sorted(given):
        host, port = given[nid]
        try:
            resolved = resolve(host, port)
        except AddressError as exc:
            raise OptionsError(f"--peers: node {nid}: {exc}") from None
        if resolved in owner:
            raise OptionsError(
                f"--peers: nodes {owner[resolved]} and {nid} have the same address {resolved[0]}:{port}"
            )
        owner[resolved] = nid


def resolve_cluster(cluster: list[tuple[str, int]]) -> None:
    """Every host of ``kv --cluster`` resolves."""
    for host, port in cluster:
        try:
            resolve(host, port)
        except AddressError as exc:
            raise OptionsError(f"--cluster: {exc}") from None


def members(text: str) -> tuple[int, ...]:
    """``ID,ID,...``: the initial voters, sorted, each once."""
    try:
        return tuple(sorted({node_id(m) for m in text.split(",")}))
    except OptionsError:
        raise OptionsError(f"--members takes node ids, ID,ID,..., not {text!r}") from None


def data_directory(text: str) -> str:
    """A data directory: a path, not the empty string (which would be the current directory)."""
    if not text.strip():
        raise OptionsError("--data needs a directory name (an empty one would be the current directory)")
    return text


def check_timing(config: RaftConfig) -> None:
    """A heartbeat shorter than the shortest election timeout, or followers would start elections.

    Raft needs broadcastTime << electionTimeout (§5.6): with a heartbeat as long as
    the election timeout's minimum, a follower may time out before the next
    heartbeat arrives, and the cluster elects leader after leader. The lab
    allows it (to watch it happen); a free-running node refuses it.
    """
    if config.heartbeat >= config.election_min:
        raise OptionsError(
            f"--heartbeat ({config.heartbeat} ms) must be shorter than the election timeout's minimum "
            f"({config.election_min} ms), or followers time out between heartbeats and elections never end"
        )


def timeout_seconds(text: str) -> float:
    """``kv --timeout``: a finite number of seconds above 0 (at most a day)."""
    try:
        value = float(text)
    except ValueError:
        raise OptionsError(f"--timeout takes seconds, not {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_CLIENT_TIMEOUT):
        raise OptionsError(
            f"--timeout must be above 0 and at most {MAX_CLIENT_TIMEOUT:g} seconds, not {text}"
        )
    return value
