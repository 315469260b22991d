"""Run a schedule (a script) and report the first invariant violation, fast.

A ``QuietSession`` is the scenario session of ``raftviz run`` without the
transcript: the same commands do the same things (so a schedule found here
fails the same way under ``raftviz run`` and in the TUI), but no event is
described in words, which is most of a transcript's cost.

Two modes for a command the lab cannot carry out at that moment (a LabError:
``deliver 1->2 AppendEntries`` with no such message in flight, ``timeout 3``
while node 3 is down...):

* lenient (hunting): the command is skipped and left out of ``RunResult.ran``,
  so the script made of ``ran`` replays the same run under ``raftviz run``
  (a command that fails changes nothing first);
* strict (shrinking, replaying): the run is invalid, as ``raftviz run`` would
  stop there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftviz.lab.lab import StepRecord
from raftviz.lab.script import ScriptError, parse_line
from raftviz.lab.session import Outcome, Session


@dataclass(frozen=True, slots=True)
class Found:
    """The first invariant a run broke, and where."""

    invariant: str
    #: Index into the script's lines of the command during which it broke.
    line: int
    #: The checker's words (raftviz.lab.invariants.Violation.describe).
    detail: str


@dataclass(slots=True)
class RunResult:
    """What a run of a schedule came to."""

    found: Found | None = None
    #: The lines that ran (lenient mode leaves out the skipped ones), up to the violation.
    ran: list[str] = field(default_factory=list)
    #: Why a strict run is invalid ("" when it is not): a command failed, or a line is malformed.
    invalid: str = ""
    #: Events the lab executed.
    events: int = 0


class QuietSession(Session):
    """A session that checks every event but describes none of them."""

    def _records(self, records: list[StepRecord], outcome: Outcome, verbose: bool) -> None:
        for record in records:
            if record.violations:
                outcome.failure = record.violations[0].describe()


def run_lines(
    lines: list[str], backend: str = "inprocess", strict: bool = False, node: str | None = None
) -> RunResult:
    """Run a schedule; stop at the first violation. ``backend`` overrides the script's;
    ``node`` is a node command every node runs (``raftviz conform``)."""
    result = RunResult()
    session = QuietSession(backend, node=node)
    try:
        for index, text in enumerate(lines):
            try:
                command = parse_line(text, index + 1)
            except ScriptError as exc:
                result.invalid = str(exc)
                return result
            if command is None:
                result.ran.append(text)
                continue
            outcome = session.execute(command)
            lab = session.lab
            if lab is not None and lab.violations:
                violation = lab.violations[0]
                result.ran.append(text)
                result.found = Found(violation.invariant, len(result.ran) - 1, violation.describe())
                result.events = lab.steps
                return result
            if outcome.failure:
                if strict:
                    result.invalid = f"line {index + 1}: {outcome.failure}"
                    return result
                continue
            result.ran.append(text)
        if session.lab is not None:
            result.events = session.lab.steps
        return result
    finally:
        session.close()


def fails_with(lines: list[str], invariant: str, backend: str = "inprocess", node: str | None = None) -> bool:
    """Whether a strict run of ``lines`` breaks ``invariant`` first."""
    result = run_lines(lines, backend, strict=True, node=node)
    return not result.invalid and result.found is not None and result.found.invariant == invariant
