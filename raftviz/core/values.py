"""Immutable values are shared, never copied.

A checkpoint of the lab (raftviz.lab.checkpoint) copies every node's state;
log entries, commands, messages, configurations and snapshots are immutable,
so a copy may hold the very same objects as the original. Marking them so
makes a checkpoint cost the containers, not every entry ever written.
"""

from __future__ import annotations

import dataclasses
import sys
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
    field left out of ``__init__``, keyword-only or init-only fields, slots of a
    base class, an ``__init__`` of its own) keeps the one it has.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or hasattr(cls, "__post_init__"):
        return
    original = cls.__init__
    code = getattr(original, "__code__", None)
    fields = dataclasses.fields(cls)
    if (
        code is None
        or code.co_filename != "<string>"
        or code.co_varnames[1 : code.co_argcount] != tuple(f.name for f in fields)
    ):
        # Not the plain generated __init__ of every field: none (init=False), one of its
        # own, or one with an InitVar, a keyword-only field or a field left out of it.
        return
    if any(f.default_factory is not dataclasses.MISSING for f in fields):
        return
    slots = [cls.__dict__.get(f.name) for f in fields]
    if not all(hasattr(slot, "__set__") for slot in slots):
        return  # not slotted here (a field of a slotted base class)
    arguments, body, closed = [], [], []
    for f in fields:
        closed.append(f"_set_{f.name}")
        if f.default is dataclasses.MISSING:
            arguments.append(f.name)
        else:
            closed.append(f"_default_{f.name}")
            arguments.append(f"{f.name}=_default_{f.name}")
        body.append(f"        _set_{f.name}(self, {f.name})")
    source = (
        f"def _make({', '.join(closed)}):\n"
        f"    def __init__(self, {', '.join(arguments)}):\n" + "\n".join(body or ["        pass"]) + "\n"
        "    return __init__\n"
    )
    # Made in the class's module, so the function's globals are the module's (its
    # annotations resolve there, for typing.get_type_hints), without adding names to it.
    made: dict[str, Any] = {}
    exec(source, vars(sys.modules[cls.__module__]), made)  # noqa: S102 - from the class's own field names
    values: list[Any] = []
    for f, slot in zip(fields, slots, strict=True):
        values.append(slot.__set__)  # type: ignore[union-attr]
        if f.default is not dataclasses.MISSING:
            values.append(f.default)
    init = made["_make"](*values)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = original.__doc__
    init.__annotations__ = dict(original.__annotations__)  # the same signature for whoever reads it
    cls.__init__ = init  # type: ignore[misc]
