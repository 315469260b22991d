"""Forged messages in a running lab: no node crashes, no committed entry changes.

Without a cluster secret (the inprocess backend tags nothing), a forged
datagram from a peer's id looks like that peer's: terms may move and elections
may follow. What must never happen is an exception, or an entry a node has
committed being replaced; a message that would do that is dropped and shows up
as a protocol violation in the transcript.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    Command,
    Entry,
    InstallSnapshot,
    InstallSnapshotReply,
    RequestVote,
    RequestVoteReply,
)
from raftviz.lab.describe import describe_record
from raftviz.lab.lab import Lab, LabOptions
from raftviz.wire import datagram

WIRE_MAX = 2**63 - 1
numbers = st.one_of(
    st.integers(0, 12),
    st.integers(0, WIRE_MAX),
    st.sampled_from([2**31, 2_000_000_000, 10**9, 2**62 - 1, 2**62, 2**62 + 1, WIRE_MAX - 1, WIRE_MAX]),
)
entries = st.lists(
    st.builds(Entry, term=numbers, command=st.just(Command("put", "x", "forged"))), max_size=3
).map(tuple)
peers = st.tuples(st.integers(1, 3), st.integers(1, 3)).filter(lambda pair: pair[0] != pair[1])


def _message(
    kind: int, pair: tuple[int, int], n: list[int], ents: tuple[Entry, ...], flag: bool, data: bytes
):
    src, dst = pair
    return [
        lambda: RequestVote(src, dst, n[0], n[1], n[2]),
        lambda: RequestVoteReply(src, dst, n[0], flag),
        lambda: AppendEntries(src, dst, n[0], n[1], n[2], ents, n[3]),
        lambda: AppendEntriesReply(src, dst, n[0], flag, n[1], n[2], n[3]),
        lambda: InstallSnapshot(src, dst, n[0], n[1], n[2], n[3] % 64, data, flag, n[4] % 2**32),
        lambda: InstallSnapshotReply(src, dst, n[0], n[1], n[2], flag),
    ][kind]()


forged = st.builds(
    _message,
    st.integers(0, 5),
    peers,
    st.lists(numbers, min_size=5, max_size=5),
    entries,
    st.booleans(),
    st.binary(max_size=16),
)


def committed(lab: Lab) -> dict[tuple[int, int], int]:
    """Every committed entry each node still holds in its log, as (node, index) -> term."""
    out = {}
    for view in lab.views.values():
        for index in range(view.log.start_index + 1, view.commit + 1):
            out[(view.id, index)] = view.log.term_at(index) or 0
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 1000), plan=st.lists(st.one_of(forged, st.integers(1, 400)), max_size=25))
def test_forged_messages_interleaved_with_a_run(seed: int, plan: list[object]) -> None:
    lab = Lab(LabOptions(nodes=3, seed=seed, backend="inprocess"))
    try:
        assert lab.run_until(lambda: bool(lab.leaders()), 3000)[0]
        for i in range(3):
            lab.submit("put", f"k{i}", str(i))
        lab.advance(300, stop_on_violation=False)
        seen = committed(lab)
        for step in plan:
            if isinstance(step, int):
                lab.advance(step, stop_on_violation=False)
                if step % 3 == 0:
                    lab.submit("append", "k0", "+")
            else:
                lab.forge(datagram.encode(step))  # type: ignore[arg-type]
            now = committed(lab)
            for key, term in now.items():
                assert seen.get(key, term) == term, f"node {key[0]} changed its committed entry {key[1]}"
            seen.update(now)
    finally:
        lab.close()


@pytest.mark.parametrize("backend", ["inprocess", "udp"])
def test_a_forged_overwrite_is_a_protocol_violation_in_the_transcript(backend: str) -> None:
    # The same line on both backends: the udp one tags its datagrams, the guard is the same.
    lab = Lab(LabOptions(nodes=3, seed=1, backend=backend))
    try:
        assert lab.run_until(lambda: bool(lab.leaders()), 3000)[0]
        lab.submit("put", "x", "1")
        lab.advance(300)
        leader = lab.leader()
        victim = next(i for i in lab.ids if i != leader)
        other = next(i for i in lab.ids if i not in (leader, victim))
        assert lab.views[victim].commit >= 2
        term = lab.views[victim].term
        before = committed(lab)
        forged = AppendEntries(
            other, victim, 2_000_000_000, 1, 1, (Entry(2_000_000_000, Command("noop")),) * 2, 5
        )
        record = lab.forge(datagram.encode(forged))
        assert record.protocol == ["overwrite-committed"]
        assert lab.views[victim].term == term and lab.views[victim].violations == (
            ("overwrite-committed", 1),
        )
        assert describe_record(record, verbose=False) == [
            f"t={lab.now} PROTOCOL VIOLATION: node {victim} dropped AppendEntries term=2000000000 "
            f"prevIndex=1 prevTerm=1 entries=2..3 commit=5 from node {other}: overwrite-committed"
        ]
        lab.advance(1000)
        assert lab.violations == []
        assert all(committed(lab).get(key) == term for key, term in before.items())
    finally:
        lab.close()
