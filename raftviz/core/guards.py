"""The guard before the rules: a peer's message that no correct Raft server could send is dropped.

Raft assumes peers that follow the protocol; a node that obeyed a forged or
corrupted message could overwrite a committed entry, or adopt a term it could
never increment and encode again. ``check`` looks at a message against the
node's state *before* any rule sees it (before even the higher-term rule of
Figure 2, so a dropped message moves nothing) and names the invariant it would
break, as a :class:`~raftviz.core.violations.Violation`. The node drops the
message and counts it; it never asserts on what a peer sent.

Stale messages are not violations: a lower term is Raft's normal case (the
message was delayed, or its sender has not heard of the new term yet) and the
rules already answer it by term. So the state-dependent checks apply only to
messages the rules would act on: a current or higher term. A term that "goes
backwards for the same sender" across messages is not flagged either, since
the network reorders datagrams; what cannot happen is terms going backwards
*inside* one message, and that is checked.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Final

from raftviz.core.messages import (
    LEADER_MESSAGES,
    AppendEntries,
    AppendEntriesReply,
    InstallSnapshot,
    InstallSnapshotReply,
    Message,
    PreVote,
    PreVoteReply,
    RequestVote,
    RequestVoteReply,
    TimeoutNow,
)
from raftviz.core.state import LEADER, ServerState
from raftviz.core.violations import (
    ENTRY_BEFORE_SNAPSHOT,
    INDEX_TOO_LARGE,
    MATCH_BEYOND_LOG,
    OVERWRITE_COMMITTED,
    SECOND_LEADER,
    TERM_BACKWARDS,
    TERM_TOO_LARGE,
    Violation,
)

#: The largest term a node accepts. The wire encodes terms below 2**63; a
#: node must be able to increment its term at every election and still
#: encode it, so it refuses terms above 2**62, leaving 2**62 elections of
#: headroom (more than any cluster will ever hold).
MAX_TERM: Final = 2**62
#: The last term the wire can encode. A node whose term has reached it (one
#: that adopted a huge term before MAX_TERM was enforced, and kept it on disk)
#: cannot start an election: its next term would not encode.
LAST_TERM: Final = 2**63 - 1
#: The largest log index (prevLogIndex, lastIncludedIndex, matchIndex, ...) a
#: node accepts: a forged snapshot near the wire's limit would otherwise make
#: index arithmetic (the next index, a reply's matchIndex) overflow the codec.
MAX_INDEX: Final = 2**62

#: A peer message: the ones the guard checks (clients' and tools' are not Raft's).
PeerMessage = (
    RequestVote
    | RequestVoteReply
    | AppendEntries
    | AppendEntriesReply
    | InstallSnapshot
    | InstallSnapshotReply
    | PreVote
    | PreVoteReply
    | TimeoutNow
)


def check(state: ServerState, msg: Message) -> Violation | None:
    """The invariant ``msg`` would break if ``state``'s node obeyed it; None if it is safe to handle."""
    if not isinstance(msg, PeerMessage):
        return None
    if _plainly_well_formed(msg):
        problem = _against_state(state, msg)  # the common case: one call for the first two checks
    else:
        problem = _out_of_bounds(msg) or _terms_backwards(msg) or _against_state(state, msg)
    if problem is None:
        return None
    kind, detail = problem
    return Violation(kind, msg.src, type(msg).__name__, detail)


Problem = tuple[str, str] | None


def _terms_and_indexes(msg: PeerMessage) -> tuple[dict[str, int], dict[str, int]]:
    """The message's terms and log indexes by field name (entries' terms as ``entries[i].term``)."""
    terms = {"term": msg.term}
    indexes: dict[str, int] = {}
    if isinstance(msg, RequestVote | PreVote):
        terms["last_log_term"] = msg.last_log_term
        indexes["last_log_index"] = msg.last_log_index
    elif isinstance(msg, AppendEntries):
        terms["prev_log_term"] = msg.prev_log_term
        for i, entry in enumerate(msg.entries):
            terms[f"entries[{i}].term"] = entry.term
        indexes["prev_log_index"] = msg.prev_log_index
        indexes["index of the last entry"] = msg.prev_log_index + len(msg.entries)
        indexes["leader_commit"] = msg.leader_commit
    elif isinstance(msg, AppendEntriesReply):
        terms["conflict_term"] = msg.conflict_term
        indexes["match_index"] = msg.match_index
        indexes["conflict_index"] = msg.conflict_index
    elif isinstance(msg, InstallSnapshot):
        terms["last_included_term"] = msg.last_included_term
        indexes["last_included_index"] = msg.last_included_index
    elif isinstance(msg, InstallSnapshotReply):
        indexes["last_included_index"] = msg.last_included_index
    return terms, indexes


#: Per message class, every term and index field _terms_and_indexes names (bar the
#: entries' terms and the last entry's index, which ``_within_bounds`` adds).
_BOUNDED: Final = {
    RequestVote: attrgetter("term", "last_log_term", "last_log_index"),
    RequestVoteReply: attrgetter("term", "term"),
    AppendEntries: attrgetter("term", "prev_log_term", "prev_log_index", "leader_commit"),
    AppendEntriesReply: attrgetter("term", "conflict_term", "match_index", "conflict_index"),
    InstallSnapshot: attrgetter("term", "last_included_term", "last_included_index"),
    InstallSnapshotReply: attrgetter("term", "last_included_index"),
}
_BOUND: Final = min(MAX_TERM, MAX_INDEX)
_TERM: Final = attrgetter("term")


def _within_bounds(msg: PeerMessage) -> bool:
    """True if no term or index of ``msg`` can exceed its limit: the common case, decided
    without building the field names only a violation's detail needs."""
    fields = _BOUNDED.get(type(msg))
    if fields is None or max(fields(msg)) > _BOUND:
        return False  # (a subclass: the slow path knows it by isinstance)
    if type(msg) is AppendEntries and msg.entries:
        if msg.prev_log_index + len(msg.entries) > _BOUND:
            return False
        return max(map(_TERM, msg.entries)) <= _BOUND
    return True


def _plainly_well_formed(msg: PeerMessage) -> bool:
    """True if an AppendEntries or its reply is within bounds and its terms do not go
    backwards, so that ``_out_of_bounds`` and ``_terms_backwards`` would find nothing;
    False if it is not, or for any other message (those two then look for themselves).

    The two commonest messages, checked by their own fields in one call: a run of
    terms that never decreases and ends at most at ``term`` (itself within bounds)
    holds no term above the bound either.
    """
    kind = type(msg)
    if kind is AppendEntries:
        if max(msg.term, msg.prev_log_term, msg.prev_log_index, msg.leader_commit) > _BOUND:
            return False
        if msg.prev_log_index + len(msg.entries) > _BOUND:
            return False
        return _entry_terms_backwards(msg) is None
    if kind is AppendEntriesReply:
        if max(msg.term, msg.match_index, msg.conflict_index) > _BOUND:
            return False
        return msg.conflict_term <= msg.term
    return False


def _out_of_bounds(msg: PeerMessage) -> Problem:
    if _within_bounds(msg):
        return None
    terms, indexes = _terms_and_indexes(msg)
    for name, value in terms.items():
        if value > MAX_TERM:
            return TERM_TOO_LARGE, f"{name} {value} > {MAX_TERM}"
    for name, value in indexes.items():
        if value > MAX_INDEX:
            return INDEX_TOO_LARGE, f"{name} {value} > {MAX_INDEX}"
    return None


def _terms_backwards(msg: PeerMessage) -> Problem:
    """A log's terms never decrease, and no server holds an entry newer than its own term."""
    # The commonest messages are tested first; a message is of one class only.
    if isinstance(msg, AppendEntries):
        return _entry_terms_backwards(msg)
    if isinstance(msg, AppendEntriesReply):
        if msg.conflict_term > msg.term:
            return TERM_BACKWARDS, f"conflict_term {msg.conflict_term} > term {msg.term}"
        return None
    if isinstance(msg, RequestVote | PreVote) and msg.last_log_term > msg.term:
        return TERM_BACKWARDS, f"last_log_term {msg.last_log_term} > term {msg.term}"
    if isinstance(msg, InstallSnapshot) and msg.last_included_term > msg.term:
        return TERM_BACKWARDS, f"last_included_term {msg.last_included_term} > term {msg.term}"
    return None


def _entry_terms_backwards(msg: AppendEntries) -> Problem:
    """prev_log_term, then each entry's term, never decrease, and none is above the message's term."""
    previous = msg.prev_log_term
    for i, entry in enumerate(msg.entries):
        if entry.term < previous:
            return TERM_BACKWARDS, f"entries[{i}].term {entry.term} < {_entry_term_name(i - 1)} {previous}"
        previous = entry.term
    if previous > msg.term:
        return TERM_BACKWARDS, f"{_entry_term_name(len(msg.entries) - 1)} {previous} > term {msg.term}"
    return None


def _entry_term_name(i: int) -> str:
    """The field holding term ``i`` of an AppendEntries's run of terms (-1: the one before the entries)."""
    return f"entries[{i}].term" if i >= 0 else "prev_log_term"


def _against_state(state: ServerState, msg: PeerMessage) -> Problem:
    """Checks of a current-or-newer message against what this node knows is committed."""
    if msg.term < state.current_term:
        return None  # stale: the rules reject it by term
    if isinstance(msg, LEADER_MESSAGES):
        leads = state.id if state.role == LEADER else state.leader_id
        if msg.term == state.current_term and leads not in (0, msg.src):
            # Election Safety (§5.2): at most one leader per term.
            return SECOND_LEADER, f"node {leads} already leads term {msg.term}"
        if isinstance(msg, AppendEntries):
            return _against_log(state, msg)
        return None  # InstallSnapshot: nothing more to compare
    if msg.term != state.current_term or state.role != LEADER:
        return None  # a reply the rules ignore (or that makes this node a follower)
    last = state.log.last_index
    if isinstance(msg, AppendEntriesReply) and msg.success and msg.match_index > last:
        return MATCH_BEYOND_LOG, f"match_index {msg.match_index} > last log index {last}"
    if isinstance(msg, InstallSnapshotReply) and msg.done and msg.last_included_index > last:
        return MATCH_BEYOND_LOG, f"last_included_index {msg.last_included_index} > last log index {last}"
    return None


def _against_log(state: ServerState, msg: AppendEntries) -> Problem:
    """Leader Completeness (§5.4): a legitimate leader's log holds every committed entry."""
    log, commit = state.log, state.commit_index
    prev = msg.prev_log_index
    if prev == log.start_index and log.start_index and msg.prev_log_term != log.start_term:
        return ENTRY_BEFORE_SNAPSHOT, (
            f"prev_log_term {msg.prev_log_term} at {prev}, the snapshot's last entry term {log.start_term}"
        )
    if log.start_index < prev <= commit and msg.prev_log_term != log.term_at(prev):
        return OVERWRITE_COMMITTED, (
            f"prev_log_term {msg.prev_log_term} at {prev}, committed there: term {log.term_at(prev)}"
        )
    if prev > log.last_index:
        return None  # the consistency check rejects it
    for offset, entry in enumerate(msg.entries[: max(0, commit - prev)]):
        index = prev + 1 + offset
        if index < log.start_index:
            continue  # compacted: only the snapshot's last entry can be compared
        if index == log.start_index:
            if entry.term != log.start_term:
                return ENTRY_BEFORE_SNAPSHOT, (
                    f"entry {index} has term {entry.term}, the snapshot's last entry term {log.start_term}"
                )
            continue
        held = log.term_at(index)
        if held != entry.term:
            return OVERWRITE_COMMITTED, f"entry {index} has term {entry.term}, committed there: term {held}"
    return None
