"""Immutable values are shared, never copied.

A checkpoint of the lab (raftviz.lab.checkpoint) copies every node's state;
log entries, commands, messages, configurations and snapshots are immutable,
so a copy may hold the very same objects as the original. Marking them so
makes a checkpoint cost the containers, not every entry ever written.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T", bound=type)


def shared_value(cls: T) -> T:
    """Class decorator for a frozen (immutable) class: ``copy`` and ``deepcopy`` return the object itself.

    A frozen dataclass with slots also gets a quicker ``__init__`` (``_quick_init``).
    """

    def same(self: Any, memo: dict[int, Any] | None = None) -> Any:
        return self

    cls.__copy__ = same  # type: ignore[attr-defined]
    cls.__deepcopy__ = same  # type: ignore[attr-defined]
    _quick_init(cls)
    return cls


def _quick_init(cls: type) -> None:
    """Give a frozen, slotted dataclass an ``__init__`` that sets each slot through its descriptor.

    The generated one calls ``object.__setattr__`` per field (frozen forbids plain
    assignment), which costs twice as much, and messages and entries are made
    for every event of a busy cluster. Same parameters, same defaults, the same
    object; a class with anything more (``__post_init__``, a default factory, a
    field left out of ``__init__`` or keyword-only) keeps the generated one.
    """
    params = getattr(cls, "__dataclass_params__", None)
    slotted = "__slots__" in cls.__dict__
    if params is None or not params.frozen or not slotted or hasattr(cls, "__post_init__"):
        return
    fields = dataclasses.fields(cls)
    if any(f.default_factory is not dataclasses.MISSING or not f.init or f.kw_only for f in fields):
        return
    namespace: dict[str, Any] = {}
    arguments, body = [], []
    for f in fields:
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            arguments.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            arguments.append(f"{f.name}=_default_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    source = f"def __init__(self, {', '.join(arguments)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)  # noqa: S102 - code made here from the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)  # the same signature for whoever reads it
    cls.__init__ = init  # type: ignore[misc]
