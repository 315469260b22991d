"""A leader's duties beyond Figure 2 (dissertation §6.2, §3.10): CheckQuorum and leadership transfer.

CheckQuorum: a leader cut off from a majority would otherwise lead on for
ever (taking writes it can never commit, and answering reads it should not);
with ``check_quorum`` on it counts, every ``election_min`` ms, the voters that
answered it in that window, and steps down if they are not a majority.

Leadership transfer: the leader stops taking client requests, brings the
target's log up to date, and sends it TimeoutNow, on which the target starts
an election at once (skipping Pre-Vote). If no new leader appears within an
election timeout (``election_max`` ms), the leader gives the transfer up and
takes requests again.
"""

from __future__ import annotations

from raftviz.core.messages import NodeId, TimeoutNow
from raftviz.core.reasons import (
    QUORUM_LOST,
    TRANSFER_ABORTED,
    TRANSFER_REFUSED,
    TRANSFER_STARTED,
    TRANSFER_TIMEOUT_NOW,
    Reason,
)
from raftviz.core.state import LEADER, ServerState


class Leadership(ServerState):
    """CheckQuorum and leadership transfer: what only a leader does, outside replication."""

    def start_quorum_check(self, now: int) -> None:
        """A new leader: the first check comes one window after its election."""
        self.heard_from = {}
        self.quorum_deadline = now + self.config.election_min

    def heard_from_peer(self, peer: NodeId, now: int) -> None:
        """A current-term answer from ``peer`` (CheckQuorum counts it as contact)."""
        if self.role == LEADER:
            self.heard_from[peer] = now

    def quorum_heard(self) -> tuple[int, ...]:
        """The voters the next check will count (itself included), sorted: those heard in its window."""
        since = self.quorum_deadline - self.config.election_min
        voters = self.configuration.voters
        return tuple(v for v in voters if v == self.id or self.heard_from.get(v, -1) > since)

    def check_quorum(self, now: int) -> None:
        """§6.2: step down unless a majority of voters answered within the last window."""
        window = self.config.election_min
        since = now - window
        voters = self.configuration.voters
        heard = [v for v in voters if v == self.id or self.heard_from.get(v, -1) > since]
        if voters and len(heard) < self.configuration.quorum:
            self._explain(
                Reason(
                    QUORUM_LOST,
                    term=self.current_term,
                    index=window,
                    count=len(voters),
                    after=",".join(map(str, heard)) or "none",
                )
            )
            self.become_follower(self.current_term, 0, now)
            return
        self.quorum_deadline = now + window

    def transfer_leadership(self, target: NodeId, now: int) -> str:
        """§3.10: start handing leadership to ``target``; the refusal's words, or "" if started."""
        self._now = now
        refusal = self._transfer_refusal(target)
        if refusal:
            self._explain(Reason(TRANSFER_REFUSED, peer=target, message=refusal))
            return refusal
        self.transfer_target = target
        self.transfer_deadline = now + self.config.election_max
        self.transfer_sent = False
        match = self.match_index.get(target, 0)
        self._explain(Reason(TRANSFER_STARTED, peer=target, their_index=match, our_index=self.log.last_index))
        if match >= self.log.last_index:
            self.send_timeout_now()
        elif target not in self.inflight and target not in self.snapshot_sent:
            self._send_append(target, now)
        return ""

    def _transfer_refusal(self, target: NodeId) -> str:
        if self.role != LEADER:
            return f"node {self.id} is not the leader" + (
                f" (node {self.leader_id} is)" if self.leader_id else ""
            )
        if target == self.id:
            return f"node {target} leads already"
        if target not in self.configuration.voters:
            return f"node {target} is not a voter of the configuration (only a voter may lead)"
        if self.transfer_target:
            return f"a transfer to node {self.transfer_target} is in progress"
        return ""

    def send_timeout_now(self) -> None:
        """The target's log matches ours up to the end: tell it to campaign now (once)."""
        target = self.transfer_target
        self._explain(Reason(TRANSFER_TIMEOUT_NOW, peer=target, index=self.log.last_index))
        self.transfer_sent = True
        self._send(TimeoutNow(src=self.id, dst=target, term=self.current_term))

    def transfer_progress(self, peer: NodeId) -> None:
        """After ``peer``'s successful append: if it is the caught-up target, send TimeoutNow."""
        if (
            self.transfer_target == peer
            and not self.transfer_sent
            and self.match_index.get(peer, 0) >= self.log.last_index
        ):
            self.send_timeout_now()

    def abort_transfer(self, now: int) -> None:
        """No new leader within an election timeout: lead on, and take requests again."""
        self._explain(
            Reason(
                TRANSFER_ABORTED,
                peer=self.transfer_target,
                count=self.config.election_max,
                message=f"no new leader within {self.config.election_max} ms, "
                "so this node takes requests again",
            )
        )
        self.transfer_target, self.transfer_sent = 0, False
