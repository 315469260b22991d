"""Reads that do not write the log: ReadIndex and leases (dissertation §6.4, §6.4.1).

A ``get`` sent with ``read=""`` goes through the log like any command: it is
linearizable because it is ordered among the writes, at the cost of an entry
and a commit round. The dissertation gives two cheaper ways, and a client
asks for one with ``ClientRequest.read``:

``readindex`` (§6.4). The leader

1. makes sure it has committed an entry of its own term (its no-op): until it
   has, it may not know which entries are committed, so the read waits;
2. notes its commit index as the read's *read index*;
3. confirms it still leads: it sends a heartbeat round and waits until a
   majority of voters has acknowledged that round (a deposed leader would
   hear of the newer term instead, or nothing);
4. waits until it has applied up to the read index, then answers from its
   state machine.

How a reply is matched to its round: a leader that serves such reads numbers
each heartbeat broadcast (``AppendEntries.round``) and followers echo the
number in their reply (``AppendEntriesReply.round``), the way etcd attaches a
context to its heartbeats. Counting "acks received after the read arrived"
instead would be wrong: such an ack may answer a heartbeat sent before the
read arrived, and a new leader may have been elected in between. A read
waits for a round sent *after* it arrived (it starts one at once).

``lease`` (§6.4.1). The leader keeps the send time (on its own clock) of the
latest round a majority acknowledged. No server times out into an election
sooner than the minimum election timeout after hearing from the leader, so
until ``sent + election_min - drift`` no other leader can exist, and the
leader answers at once from its state, with no message at all. ``drift`` is
:data:`LEASE_DRIFT_PERCENT` of ``election_min``: the bound on how much faster
another server's clock may run. The lease is only as good as that
assumption, and one more: a server that acked the round must not help elect
another candidate within the lease. Plain Raft votes at once, so a leader
holds a lease only with Pre-Vote's leader stickiness on (``prevote=on``: a
server that heard from its leader within the minimum election timeout grants
no pre-vote), as etcd takes leases only with CheckQuorum; without it a lease
read is confirmed by a round like a ReadIndex read. An election forced past
the pre-vote (the lab's ``timeout N``, a TimeoutNow) breaks stickiness as a
drifting clock does. The lab's ``clock N rate=R``
breaks the first assumption on purpose, and a lease read then returns a
stale value (``expect linearizable`` fails); ReadIndex stays right, since it
relies on no clock. When the lease does not hold (not yet taken, or run
out), a lease read is confirmed by a round like a ReadIndex read.

Both are served by the leader only; any other server redirects the client
(§8). A leader that stops leading answers its waiting reads with a leader
hint, and the client tries again. At most :data:`MAX_PENDING_READS` reads
wait at once; one more is refused, so a leader cut off from its majority
cannot grow its list without bound.
"""

from __future__ import annotations

from raftviz.core.messages import ClientReply, ClientRequest, NodeId
from raftviz.core.reasons import READ_HELD, READ_REFUSED, READ_SERVED, Reason
from raftviz.core.state import LEADER, PendingRead, ServerState

#: The lease is cut short by this share of the minimum election timeout: the bound on
#: clock drift between servers the lease assumes (dissertation §6.4.1).
LEASE_DRIFT_PERCENT = 10
#: At most this many reads wait at a leader at once (a bound on its memory).
MAX_PENDING_READS = 1000
#: At most this many heartbeat rounds' send times are remembered (rounds older than the
#: minimum election timeout are forgotten sooner: they can no longer give a lease).
MAX_ROUNDS_KEPT = 4096


class Reads(ServerState):
    """ReadIndex and lease reads on the leader; the round numbers that confirm its leadership."""

    def handle_read_request(self, msg: ClientRequest, now: int) -> None:
        """A ``get`` with ``read=readindex|lease`` (already checked well formed)."""
        cmd = msg.command
        what = f"{msg.src}#{cmd.seq} get {cmd.key}"
        if self.role != LEADER:
            self._explain(Reason(READ_REFUSED, message=msg.read, before=what, peer=self.leader_id))
            self._send(ClientReply(self.id, msg.src, cmd.seq, ok=False, leader_hint=self.leader_id))
            return
        key = (msg.src, cmd.seq)
        if key in self.pending_reads:
            return  # a retry of a read already waiting: it is answered once
        committed = self._committed_in_term()
        if msg.read == "lease" and committed and self.lease_holds(now):
            value = self.kv.data.get(cmd.key)
            self._explain(
                Reason(
                    READ_SERVED,
                    message="lease",
                    before=what,
                    index=self.commit_index,
                    our_index=self.last_applied,
                    their_index=self.lease_expiry(),
                    term=self.current_term,
                    after="lease",
                )
            )
            self._send(ClientReply(self.id, msg.src, cmd.seq, ok=True, value=value))
            return
        if len(self.pending_reads) >= MAX_PENDING_READS:
            error = f"too many reads waiting at this leader (at most {MAX_PENDING_READS})"
            self._send(ClientReply(self.id, msg.src, cmd.seq, ok=False, error=error))
            return
        # A round sent after the read arrived: one is started now (the broadcast numbers it).
        self.numbering_rounds = True
        self._broadcast_append(now, heartbeat=False)
        index = self.commit_index if committed else 0
        read = PendingRead(msg.src, cmd.seq, cmd.key, msg.read, index, self.read_round)
        self.pending_reads[key] = read
        if not committed:
            why = "noop"  # §6.4 step 1 comes first, whatever the mode
        elif msg.read == "lease":
            if not self.config.prevote:
                why = "no stickiness"  # plain Raft votes at once: no lease is safe
            else:
                why = "lease expired" if self.lease_start >= 0 else "no lease yet"
        else:
            why = "round"
        self._explain(
            Reason(
                READ_HELD,
                message=msg.read,
                before=what,
                index=index,
                count=read.round,
                after=why,
                term=self.current_term,
                their_index=max(0, self.lease_expiry()),
            )
        )
        self._serve_reads(now)

    # ------------------------------------------------------------------ rounds

    def next_round(self, now: int) -> int:
        """The number of a heartbeat broadcast about to leave (0: this leader does not number them)."""
        if not self.numbering_rounds:
            return 0
        self.read_round += 1
        sent = self.round_sent
        sent[self.read_round] = now
        # Rounds sent longer than a lease ago can give neither a lease nor a newer ReadIndex
        # confirmation than a later round: forget them, oldest first (the dict is in round order).
        horizon = now - self.config.election_min
        while len(sent) > 1:
            oldest = next(iter(sent))
            if sent[oldest] >= horizon and len(sent) <= MAX_ROUNDS_KEPT:
                break
            del sent[oldest]
        return self.read_round

    def note_round_ack(self, peer: NodeId, round_: int, now: int) -> None:
        """A current-term AppendEntriesReply echoed heartbeat round ``round_``."""
        if not round_ or round_ > self.read_round or round_ <= self.round_acks.get(peer, 0):
            return  # no round, one never sent (ignored), or an older one than already acked
        self.round_acks[peer] = round_
        self._update_acked_round()
        if self.pending_reads:
            self._serve_reads(now)

    def _update_acked_round(self) -> None:
        """The highest round a majority of voters acknowledged (the leader acks its own at once)."""
        voters = self.configuration.voters
        if not voters:
            return
        acks = sorted(
            (self.read_round if v == self.id else self.round_acks.get(v, 0) for v in voters), reverse=True
        )
        acked = acks[self.configuration.quorum - 1]
        if acked > self.acked_round:
            self.acked_round = acked
            if acked in self.round_sent:
                # (A round forgotten as too old leaves the older, shorter lease: never a longer one.)
                self.lease_start = self.round_sent[acked]
            for old in [r for r in self.round_sent if r < acked]:
                del self.round_sent[old]

    def lease_expiry(self) -> int:
        """When this leader's lease runs out, on its own clock (-1: it holds none; never
        without Pre-Vote's leader stickiness, which the lease's safety rests on)."""
        if self.role != LEADER or self.lease_start < 0 or not self.config.prevote:
            return -1
        drift = self.config.election_min * LEASE_DRIFT_PERCENT // 100
        return self.lease_start + self.config.election_min - drift

    def lease_holds(self, now: int) -> bool:
        return now < self.lease_expiry()

    def _committed_in_term(self) -> bool:
        """§6.4 step 1: a leader knows what is committed only once an entry of its term is."""
        return self.log.term_at(self.commit_index) == self.current_term

    # ------------------------------------------------------------------ answering

    def _serve_reads(self, now: int) -> None:
        """Answer every waiting read whose round a majority acked and whose read index is applied."""
        self._update_acked_round()
        committed = self._committed_in_term()
        done = []
        for key, read in self.pending_reads.items():
            if not read.index and committed:
                read.index = self.commit_index
            # A lease read is confirmed by its own round, or by a lease that holds now.
            leased = read.mode == "lease" and self.lease_holds(now)
            if self.acked_round < read.round and not leased:
                continue
            if not read.index or self.last_applied < read.index:
                continue
            done.append(key)
            by_round = self.acked_round >= read.round
            self._explain(
                Reason(
                    READ_SERVED,
                    message=read.mode,
                    before=read.describe(),
                    index=read.index,
                    our_index=self.last_applied,
                    count=read.round,
                    term=self.current_term,
                    their_index=0 if by_round else self.lease_expiry(),
                    after="round" if by_round else "lease",
                )
            )
            self._send(ClientReply(self.id, read.client, read.seq, ok=True, value=self.kv.data.get(read.key)))
        for key in done:
            del self.pending_reads[key]

    def drop_reads(self, leader: NodeId) -> None:
        """No longer leader: every waiting read is answered with a hint, and the rounds start over."""
        for read in self.pending_reads.values():
            self._explain(Reason(READ_REFUSED, message=read.mode, before=read.describe(), peer=leader))
            self._send(ClientReply(self.id, read.client, read.seq, ok=False, leader_hint=leader))
        self.reset_reads()

    def reset_reads(self) -> None:
        """A new term of leadership numbers its rounds afresh and holds no lease yet."""
        self.pending_reads = {}
        self.numbering_rounds = False
        self.read_round = 0
        self.round_sent = {}
        self.round_acks = {}
        self.acked_round = 0
        self.lease_start = -1
