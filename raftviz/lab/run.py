"""``raftviz run``: a whole script, headless, written out as a transcript.

The transcript echoes each command and its output and is identical on both
backends (docs/scenario-language.md). Exit codes: 0 all ran and every
``expect`` held, 1 an ``expect`` or ``until`` failed, 2 the script is malformed.
"""

from __future__ import annotations

from collections.abc import Callable

from raftviz.lab import exports
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
    diagram: str | None = None,
    trace: str | None = None,
    note: Callable[[str], None] | None = None,
    node: str | None = None,
) -> int:
    """Run a whole script, writing its transcript; the exit code of ``raftviz run``.

    ``node`` is a node command every cluster runs (``--node``, docs/protocol.md §7.1).
    ``diagram`` and ``trace`` name files to export the run to once it ends (lab/exports.py),
    whether it succeeded or failed; ``note`` is told what was written (not the transcript).
    """
    try:
        commands = parse_script(text, source)
        for path, kind in ((diagram, "diagram"), (trace, "trace")):
            if path:
                exports.check_path(path, kind)
    except (ScriptError, exports.ExportError) as exc:
        write(f"error: {exc}")
        return 2
    # A script that travels in time runs on a History (checkpoints, branches); one that
    # does not needs none of that and runs on a bare session. Exports read the history.
    runner: Session | History
    if any(c.name in HISTORY for c in commands) or diagram or trace:
        runner = History(lambda: Session(backend, backend_factory, node))
    else:
        runner = Session(backend, backend_factory, node)
    try:
        for command in commands:
            write(f"> {command.text}")
            outcome = runner.run(command) if isinstance(runner, History) else runner.execute(command)
            for line in outcome.lines:
                write(line)
            if outcome.failure:
                write(f"FAILED {source}:{command.line}: {outcome.failure}")
                return _export(runner, diagram, trace, source, note, write) or 1
        session = runner.session if isinstance(runner, History) else runner
        unmet = session.unmet_expectation()
        if unmet:
            write(f"FAILED {source}: {unmet}")
            return _export(runner, diagram, trace, source, note, write) or 1
        return _export(runner, diagram, trace, source, note, write)
    finally:
        runner.close()


def _export(
    runner: Session | History,
    diagram: str | None,
    trace: str | None,
    source: str,
    note: Callable[[str], None] | None,
    write: Callable[[str], None],
) -> int:
    """Write the exports asked for; 0, or 1 when one could not be written."""
    if not isinstance(runner, History) or not (diagram or trace):
        return 0
    events = runner.events()  # to the followed branch's tip: a recorded future counts, as in find
    lab = runner.session.lab
    nodes = lab.ids if lab is not None else []
    for path, kind in ((diagram, "diagram"), (trace, "trace")):
        if not path:
            continue
        try:
            said = exports.write(path, kind, events, nodes, f"raftviz run {source}")
        except exports.ExportError as exc:
            write(f"error: {exc}")
            return 1
        if note is not None:
            note(said)
    return 0
