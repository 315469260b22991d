"""Words for what the lab shows: messages, events and state changes as text.

One module so that the transcript, the TUI's event feed and the lessons all
say the same thing the same way. Names follow Figure 2 of the Raft paper.
"""

from __future__ import annotations

from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    InstallSnapshot,
    InstallSnapshotReply,
    Message,
    PreVote,
    PreVoteReply,
    RequestVote,
    RequestVoteReply,
    StatusReply,
    StatusRequest,
    TimeoutNow,
    TransferRequest,
)
from raftviz.lab.clients import Request
from raftviz.lab.lab import Change, StepRecord
from raftviz.lab.network import Flight


def snapshot_progress(msg: InstallSnapshot | InstallSnapshotReply) -> str:
    """Where a snapshot transfer stands: a chunk's bytes (``bytes=0..1024``, `` done`` on the
    last), or what a reply asks for next (``next=1024``) or that it installed (``installed``)."""
    if isinstance(msg, InstallSnapshot):
        return f"bytes={msg.offset}..{msg.offset + len(msg.data)}{' done' if msg.done else ''}"
    return "installed" if msg.done else f"next={msg.offset}"


def _round(msg: AppendEntries | AppendEntriesReply) -> str:
    """The heartbeat round a leader serving reads numbers its broadcasts with (raftviz.core.reads)."""
    return f" round={msg.round}" if msg.round else ""


def _append_reply(msg: AppendEntriesReply) -> str:
    if msg.success:
        return f"AppendEntriesReply term={msg.term} ok match={msg.match_index}"
    if msg.conflict_index == 0:
        return f"AppendEntriesReply term={msg.term} stale"
    return (
        f"AppendEntriesReply term={msg.term} reject "
        f"conflictIndex={msg.conflict_index} conflictTerm={msg.conflict_term}"
    )


def describe_message(msg: Message) -> str:
    """One line for a message, e.g. ``RequestVote term=2 lastIndex=4 lastTerm=1``."""
    if isinstance(msg, RequestVote):
        return f"RequestVote term={msg.term} lastIndex={msg.last_log_index} lastTerm={msg.last_log_term}"
    if isinstance(msg, RequestVoteReply):
        return f"RequestVoteReply term={msg.term} {'granted' if msg.vote_granted else 'denied'}"
    if isinstance(msg, AppendEntries):
        n = len(msg.entries)
        if n == 0:
            entries = "entries=none"
        elif n == 1:
            entries = f"entries={msg.prev_log_index + 1}"
        else:
            entries = f"entries={msg.prev_log_index + 1}..{msg.prev_log_index + n}"
        return (
            f"AppendEntries term={msg.term} prevIndex={msg.prev_log_index} prevTerm={msg.prev_log_term} "
            f"{entries} commit={msg.leader_commit}{_round(msg)}"
        )
    if isinstance(msg, AppendEntriesReply):
        # ``recovering`` is said only when set, so that healthy followers' replies read as they always did.
        return _append_reply(msg) + (" recovering" if msg.recovering else "") + _round(msg)
    if isinstance(msg, InstallSnapshot):
        return (
            f"InstallSnapshot term={msg.term} lastIndex={msg.last_included_index} "
            f"lastTerm={msg.last_included_term} {snapshot_progress(msg)}"
        )
    if isinstance(msg, InstallSnapshotReply):
        progress = snapshot_progress(msg)
        return f"InstallSnapshotReply term={msg.term} {progress} lastIndex={msg.last_included_index}"
    if isinstance(msg, ClientRequest):
        read = f" read={msg.read}" if msg.read else ""
        return f"ClientRequest {msg.command.describe()}{read}"
    if isinstance(msg, ClientReply):
        error = f" error={msg.error!r}" if msg.error else ""
        if msg.ok:
            value = "" if msg.value is None else f" value={msg.value}"
            return f"ClientReply #{msg.seq} ok{value}{error}"
        if msg.error:
            return f"ClientReply #{msg.seq} refused{error}"
        hint = msg.leader_hint or "?"
        return f"ClientReply #{msg.seq} redirect leader={hint}"
    if isinstance(msg, PreVote):
        return f"PreVote term={msg.term} lastIndex={msg.last_log_index} lastTerm={msg.last_log_term}"
    if isinstance(msg, PreVoteReply):
        return f"PreVoteReply term={msg.term} {'granted' if msg.vote_granted else 'denied'}"
    if isinstance(msg, TimeoutNow):
        return f"TimeoutNow term={msg.term}"
    if isinstance(msg, TransferRequest):
        return f"TransferRequest target={msg.target}"
    if isinstance(msg, StatusRequest):
        return "StatusRequest"
    if isinstance(msg, StatusReply):
        return f"StatusReply role={msg.role} term={msg.term} commit={msg.commit}"
    raise TypeError(f"not a message: {msg!r}")


def describe_flight(flight: Flight) -> str:
    """``#12 3->1 RequestVote ...``"""
    return f"#{flight.id} {flight.src}->{flight.dst} {describe_message(flight.msg)}"


def describe_change(change: Change, verbose: bool) -> str | None:
    """What changed on a node, in a step: ``node 3: candidate term=2`` and the like."""
    role0, term0, vote0, commit0, last0, config0, snap0 = change.before
    role1, term1, vote1, commit1, last1, config1, snap1 = change.after
    parts: list[str] = []
    if role1 != role0 or term1 != term0:
        parts.append(f"{role1} term={term1}")
    if config1 != config0:
        voters, _, learners = config1.partition("/")
        parts.append(f"voters={voters}" + (f" learners={learners}" if learners else ""))
    if snap1 != snap0 and role1 != "down":
        parts.append(f"snapshot={snap1}")
    if verbose:
        if vote1 != vote0 and vote1:
            parts.append(f"vote={vote1}")
        if last1 != last0:
            parts.append(f"last={last1}")
    if commit1 != commit0 and role1 != "down" and (verbose or role1 == "leader"):
        parts.append(f"commit={commit1}")
    if not parts:
        return None
    return f"node {change.node}: " + " ".join(parts)


def describe_answer_run(run: list[tuple[int, Request]]) -> list[str]:
    """Answers to a bulk load (``writes``) that arrived one after another with nothing
    else printed between them: one line each for a few, one line for a long run
    (``t=316..402 100 answers -> ok (c1, seq 5..104)``) so that a transcript stays readable.
    Answers of a bulk load may arrive in any order: the seq range is the lowest and highest."""
    if len(run) <= FOLD_ANSWERS:
        return [f"t={t} {r.describe()} -> {r.outcome()}" for t, r in run]
    clients = ",".join(sorted({r.client for _, r in run}))
    seqs = sorted(r.seq for _, r in run)
    return [f"t={run[0][0]}..{run[-1][0]} {len(run)} answers -> ok ({clients}, seq {seqs[0]}..{seqs[-1]})"]


#: Longer runs of bulk-load answers than this are folded into one transcript line.
FOLD_ANSWERS = 3


def describe_record(record: StepRecord, verbose: bool, fold_quiet: bool = False) -> list[str]:
    """Transcript lines for one executed event.

    ``verbose`` (the ``step`` command) shows the event, every state change, why
    the node decided as it did (``because:``, raftviz.core.reasons) and every
    message sent; otherwise (``advance``, ``until``) only what a reader
    follows: role and term changes, a leader's commits, client answers, and
    invariant violations.
    """
    t = f"t={record.time}"
    lines: list[str] = []
    if verbose:
        head = record.text
        if record.flight is not None and record.kind in ("deliver", "lost"):
            if record.kind == "deliver":
                head = f"deliver {describe_flight(record.flight)}"
            else:
                head = f"{record.text} ({describe_message(record.flight.msg)})"
        lines.append(f"{t} {head}")
        if record.refused:
            lines.append(f"  refused: {record.refused}")
        for change in record.changes:
            text = describe_change(change, verbose=True)
            if text:
                lines.append(f"  {text}")
        for _node, reason in record.reasons:
            lines.append(f"  because: {reason.describe()}")
        for flight in record.sent:
            lines.append(f"  send {describe_flight(flight)}")
        for flight in record.lost:
            lines.append(f"  lost at send {describe_flight(flight)}")
    else:
        for change in record.changes:
            text = describe_change(change, verbose=False)
            if text:
                lines.append(f"{t} {text}")
    # Every answer, a bulk load's (``writes``) too, as it arrives; ``fold_quiet`` leaves a
    # bulk load's successful answers to the caller, which folds long runs of them.
    for request in record.answers:
        if fold_quiet and request.quiet and not request.error:
            continue
        lines.append(f"{t} {request.describe()} -> {request.outcome()}")
    for note in record.sessions:
        lines.append(f"{t} {note}")
    if record.stopped:
        lines.append(f"{t} {record.stopped}")
    if record.protocol:
        lines.append(f"{t} PROTOCOL VIOLATION: {describe_protocol(record)}")
    for violation in record.violations:
        lines.append(f"{t} INVARIANT VIOLATED: {violation.describe()}")
    return lines


def describe_protocol(record: StepRecord) -> str:
    """Which node dropped what from whom, and why (the kinds of docs/protocol.md, section 5)."""
    kinds = ", ".join(record.protocol)
    flight = record.flight
    if flight is None:
        return f"a message was dropped: {kinds}"
    return f"node {flight.dst} dropped {describe_message(flight.msg)} from node {flight.src}: {kinds}"
