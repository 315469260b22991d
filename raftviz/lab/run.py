"""``raftviz run``: a whole script, headless, written out as a transcript.

The transcript echoes each command and its output and is identical on both
backends (docs/scenario-language.md). Exit codes: 0 all ran and every
``expect`` held, 1 an ``expect`` or ``until`` failed, 2 the script is malformed.
"""

from __future__ import annotations

from collections.abc import Callable

from raftviz.lab.backend import make_backend
from raftviz.lab.history import HISTORY, History
from raftviz.lab.script import ScriptError, parse_script
from raftviz.lab.session import BackendFactory, Session


def run_script(
    text: str,
    source: str,
    write: Callable[[str], None],
    backend: str | None = None,
    backend_factory: BackendFactory = make_backend,
) -> int:
    """Run a whole script, writing its transcript; the exit code of ``raftviz run``."""
    try:
        commands = parse_script(text, source)
    except ScriptError as exc:
        write(f"error: {exc}")
        return 2
    # A script that travels in time runs on a History (checkpoints, branches); one that
    # does not needs none of that and runs on a bare session.
    runner: Session | History
    if any(c.name in HISTORY for c in commands):
        runner = History(lambda: Session(backend, backend_factory))
    else:
        runner = Session(backend, backend_factory)
    try:
        for command in commands:
            write(f"> {command.text}")
            outcome = runner.run(command) if isinstance(runner, History) else runner.execute(command)
            for line in outcome.lines:
                write(line)
            if outcome.failure:
                write(f"FAILED {source}:{command.line}: {outcome.failure}")
                return 1
        return 0
    finally:
        runner.close()
