"""Immutable values (raftviz.core.values): shared by copies, built by a quicker ``__init__``.

``shared_value`` replaces the ``__init__`` of a frozen, slotted dataclass; the
replacement must take exactly the parameters the dataclass's own took, with
the same defaults, and build the same object, for every class that has one.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
import typing

import pytest

from raftviz.core import membership, messages, reasons, snapshot
from raftviz.core.values import shared_value

QUICK = [
    cls
    for module in (messages, reasons, snapshot, membership)
    for cls in vars(module).values()
    if isinstance(cls, type) and cls.__module__ == module.__name__ and "__deepcopy__" in cls.__dict__
]


def as_generated(cls: type) -> type:
    """The same fields in a plain frozen dataclass: what ``__init__`` dataclasses would give it."""
    fields = [(f.name, f.type, dataclasses.field(default=f.default)) for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(cls.__name__, fields, frozen=True, slots=True)


def test_every_shared_value_is_listed() -> None:
    assert {c.__name__ for c in QUICK} >= {"Entry", "Command", "AppendEntries", "Reason", "Snapshot"}


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__name__)
def test_the_quick_init_takes_what_the_generated_one_took(cls: type) -> None:
    if not dataclasses.is_dataclass(cls) or cls.__init__.__qualname__ != f"{cls.__qualname__}.__init__":
        pytest.skip("not a dataclass")
    assert inspect.signature(cls.__init__) == inspect.signature(as_generated(cls).__init__)


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__name__)
def test_the_quick_init_builds_the_same_object(cls: type) -> None:
    if not dataclasses.is_dataclass(cls):
        pytest.skip("not a dataclass")
    required = [f for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    values = [f"value of {f.name}" for f in required]
    built, reference = cls(*values), as_generated(cls)(*values)
    for f in dataclasses.fields(cls):
        assert getattr(built, f.name) == getattr(reference, f.name), f.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, dataclasses.fields(cls)[0].name, "changed")
    assert copy.deepcopy(built) is built
    assert pickle.loads(pickle.dumps(built)) == built
    # Its annotations resolve in the class's module, as the generated one's did.
    hints, fields = typing.get_type_hints(cls.__init__), typing.get_type_hints(cls)
    assert hints == {**{f.name: fields[f.name] for f in dataclasses.fields(cls)}, "return": type(None)}


def test_a_class_with_more_than_fields_keeps_its_generated_init() -> None:
    @shared_value
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        value: int
        seen: list[int] = dataclasses.field(default_factory=list)

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    with pytest.raises(ValueError, match="negative"):
        Checked(-1)
    assert Checked(1).seen == [] and Checked(1).seen is not Checked(1).seen


def test_a_class_the_quick_init_cannot_stand_for_keeps_its_own() -> None:
    """An init-only field, a field of a slotted base class, an ``__init__`` written by hand."""

    @shared_value
    @dataclasses.dataclass(frozen=True, slots=True)
    class WithInitVar:
        value: int
        extra: dataclasses.InitVar[int] = 0

    @dataclasses.dataclass(frozen=True, slots=True)
    class Base:
        a: int

    @shared_value
    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived(Base):
        b: int = 2

    @shared_value
    @dataclasses.dataclass(frozen=True, slots=True)
    class OwnInit:
        a: int

        def __init__(self, a: str) -> None:
            object.__setattr__(self, "a", int(a))

    assert WithInitVar(1, extra=5).value == 1
    assert Derived(1) == Derived(1, 2) and Derived(1).a == 1
    assert OwnInit("5").a == 5
