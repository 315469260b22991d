"""The driver builds each Report by position (for speed): every field must get what its name says.

The reference below is the report built by keyword from the same sources;
the driver's report must equal it after every input of a lab run that
passes through every role, pending reads, leases, CheckQuorum and Pre-Vote.
"""

from __future__ import annotations

from raftviz.lab.lab import Lab, LabOptions
from raftviz.node.driver import NodeDriver, _waiting_reads
from raftviz.wire.control import Report


def _by_keyword(driver: NodeDriver, ready: object, sent: object, refused: str) -> Report:
    core, log = driver.core, driver.core.log
    leader = core.role == "leader"
    check_quorum = leader and core.config.check_quorum
    return Report(
        node=core.id,
        role=core.role,
        term=core.current_term,
        vote=core.voted_for,
        leader=core.leader_id,
        commit=core.commit_index,
        applied=core.last_applied,
        last_index=log.last_index,
        last_term=log.last_term,
        deadline=core.next_deadline(),
        election_timeout=core.election_timeout,
        log_from=ready.log_from,  # type: ignore[attr-defined]
        entries=ready.entries,  # type: ignore[attr-defined]
        sent=sent,  # type: ignore[arg-type]
        votes=tuple(sorted(core.votes_granted)) if core.role in ("candidate", "pre-candidate") else (),
        next_index=tuple(sorted(core.next_index.items())) if leader else (),
        match_index=tuple(sorted(core.match_index.items())) if leader else (),
        dropped=driver.dropped,
        refused=refused,
        start_index=log.start_index,
        start_term=log.start_term,
        voters=core.configuration.voters,
        learners=core.configuration.learners,
        snapshot=ready.snapshot.data if ready.snapshot is not None else b"",  # type: ignore[attr-defined]
        disk=driver.storage.disk.fault.text,
        violations=tuple(sorted(core.violation_counts.items())),
        reasons=tuple(ready.reasons),  # type: ignore[attr-defined]
        reads_waiting=len(core.pending_reads) if leader else 0,
        reads=_waiting_reads(core) if leader else (),
        lease=max(0, core.lease_expiry()) if leader else 0,
        recovering=core.recovering,
        transfer=core.transfer_target if leader else 0,
        quorum_check=core.quorum_deadline if check_quorum else 0,
        quorum_heard=core.quorum_heard() if check_quorum else (),
    )


def test_each_report_field_gets_what_its_name_says(monkeypatch) -> None:
    built = NodeDriver._report
    seen: dict[str, set[object]] = {}

    def checked(self: NodeDriver, ready: object, sent: object, refused: str) -> Report:
        report = built(self, ready, sent, refused)  # type: ignore[arg-type]
        assert report == _by_keyword(self, ready, sent, refused)
        for name in Report.__slots__:
            seen.setdefault(name, set()).add(repr(getattr(report, name)))
        return report

    monkeypatch.setattr(NodeDriver, "_report", checked)
    lab = Lab(LabOptions(nodes=3, seed=3, backend="inprocess", prevote=True, checkquorum=True))
    try:
        ok, _ = lab.run_until(lambda: lab.leader() != 0, 5000)
        assert ok
        for n in range(20):
            lab.submit("put", f"k{n}", "v", client_id="c1")
            lab.submit("get", f"k{n}", client_id="c2", read=("readindex", "lease")[n % 2])
            lab.run_until(lambda: False, 40)
    finally:
        lab.close()
    # The run gave the fields distinct values, so a swap of two of them would show.
    varied = {name for name, values in seen.items() if len(values) > 1}
    assert {"term", "commit", "applied", "last_index", "deadline", "next_index", "match_index"} <= varied
    assert {"lease", "quorum_check", "quorum_heard", "reads_waiting", "sent", "entries"} <= varied
