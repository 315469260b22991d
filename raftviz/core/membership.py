"""Cluster membership: which servers vote and which only follow (dissertation ch. 4).

A ``Configuration`` names the *voters* (they elect leaders and form quorums)
and the *learners* (they receive the log but neither vote nor count towards a
commit; a new server is a learner until it has caught up). Configurations
travel in the log as ordinary entries whose command has op ``config`` and the
configuration written as text in ``value`` (``"1,2,3"`` or ``"1,2,3/4"`` with
learners after the slash), so they are replicated, persisted and compacted
exactly like any other entry. A server always uses the latest configuration
in its log, committed or not (dissertation §4.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from raftviz.core.messages import Command, NodeId
from raftviz.core.values import shared_value

#: The highest node id a configuration may name.
MAX_MEMBER_ID = 2**31


class ConfigurationError(ValueError):
    """A configuration's text that does not parse, or a change that is not allowed."""


@shared_value
@dataclass(frozen=True, slots=True)
class Configuration:
    """The voters and learners of the cluster, each sorted and disjoint."""

    voters: tuple[NodeId, ...]
    learners: tuple[NodeId, ...] = ()

    @staticmethod
    def of(voters: Iterable[NodeId], learners: Iterable[NodeId] = ()) -> Configuration:
        v = tuple(sorted(set(voters)))
        lrn = tuple(sorted(set(learners) - set(v)))
        return Configuration(v, lrn)

    @property
    def members(self) -> tuple[NodeId, ...]:
        return tuple(sorted((*self.voters, *self.learners)))

    @property
    def quorum(self) -> int:
        """A majority of the voters."""
        return len(self.voters) // 2 + 1

    def is_voter(self, node: NodeId) -> bool:
        return node in self.voters

    def with_learner(self, node: NodeId) -> Configuration:
        return Configuration.of(self.voters, (*self.learners, node))

    def promote(self, node: NodeId) -> Configuration:
        return Configuration.of((*self.voters, node), (n for n in self.learners if n != node))

    def without(self, node: NodeId) -> Configuration:
        voters = (n for n in self.voters if n != node)
        return Configuration.of(voters, (n for n in self.learners if n != node))

    def to_value(self) -> str:
        """The text form carried in a ``config`` command: ``1,2,3`` or ``1,2,3/4,5``."""
        text = ",".join(map(str, self.voters))
        if self.learners:
            text += "/" + ",".join(map(str, self.learners))
        return text

    @staticmethod
    def from_value(text: str) -> Configuration:
        """Parse :meth:`to_value`'s form strictly (it may arrive from the network)."""
        voters_text, _, learners_text = text.partition("/")
        voters = _ids(voters_text, "voters")
        learners = _ids(learners_text, "learners") if "/" in text else ()
        if "/" in text and not learners:
            raise ConfigurationError(f"configuration {text!r}: learners after '/' may not be empty")
        if set(voters) & set(learners):
            raise ConfigurationError(f"configuration {text!r}: a server is both voter and learner")
        config = Configuration.of(voters, learners)
        if config.to_value() != text:
            raise ConfigurationError(f"configuration {text!r} is not in canonical form ({config.to_value()})")
        return config

    def to_command(self) -> Command:
        return Command("config", value=self.to_value())

    def describe(self) -> str:
        text = "voters " + (",".join(map(str, self.voters)) or "none")
        if self.learners:
            text += " learners " + ",".join(map(str, self.learners))
        return text


def _ids(text: str, what: str) -> tuple[NodeId, ...]:
    if not text:
        return ()
    out = []
    for part in text.split(","):
        # isascii first: "²".isdigit() is true but int() refuses it; 11 digits bound int()'s cost.
        if not (part.isascii() and part.isdigit() and len(part) <= 11) or part != str(int(part)):
            raise ConfigurationError(f"{what}: {part!r} is not a node id")
        if not 1 <= int(part) <= MAX_MEMBER_ID:
            raise ConfigurationError(f"{what}: {part!r} is not a node id")
        out.append(int(part))
    return tuple(out)


def configuration_of(command: Command) -> Configuration:
    """The configuration a ``config`` command carries."""
    return Configuration.from_value(command.value)
