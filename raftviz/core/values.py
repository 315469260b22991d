"""Immutable values are shared, never copied.

A checkpoint of the lab (raftviz.lab.checkpoint) copies every node's state;
log entries, commands, messages, configurations and snapshots are immutable,
so a copy may hold the very same objects as the original. Marking them so
makes a checkpoint cost the containers, not every entry ever written.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T", bound=type)


def shared_value(cls: T) -> T:
    """Class decorator for a frozen (immutable) class: ``copy`` and ``deepcopy`` return the object itself."""

    def same(self: Any, memo: dict[int, Any] | None = None) -> Any:
        return self

    cls.__copy__ = same  # type: ignore[attr-defined]
    cls.__deepcopy__ = same  # type: ignore[attr-defined]
    return cls
