"""Single-server membership changes (dissertation chapter 4).

The rules that decide a change: a request to ``add`` or ``remove`` a server
becomes a configuration entry only when no other change is under way and the
leader has committed an entry of its term (§4.1); a new server joins as a
learner and is promoted to voter once it holds everything committed (§4.2.1).
The configuration values themselves are :mod:`raftviz.core.membership`; that a
configuration takes effect as soon as it is in the log is
:meth:`ServerState._note_entry`, and that a leader removing itself steps down
once the change commits is in ``Replication._set_commit_index`` (§4.2.2).
"""

from __future__ import annotations

from raftviz.core.messages import Command, Entry
from raftviz.core.state import LEADER, ServerState


class MembershipChanges(ServerState):
    """When a configuration may change, and how a learner becomes a voter."""

    def change_pending(self) -> bool:
        """A configuration change is under way: one is uncommitted or a learner awaits promotion."""
        if self.config_entries and self.config_entries[-1][0] > self.commit_index:
            return True
        return bool(self.configuration.learners)

    def _membership_entry(self, cmd: Command) -> Entry | str:
        """The configuration entry for an ``add``/``remove`` request, or why there is none.

        One change at a time (dissertation §4.1): with a change still under
        way, two single-server changes could together move the majority and
        let two leaders be elected in one term. A new leader must also have
        committed an entry of its own term first, so that a change appended by
        an earlier leader cannot be overwritten after a new one was based on it.
        """
        if not cmd.key.isdigit() or not 1 <= int(cmd.key) <= 2**31 or cmd.key != str(int(cmd.key)):
            return f"{cmd.op} needs a node id, not {cmd.key!r}"
        node = int(cmd.key)
        configuration = self.configuration
        if self.log.term_at(self.commit_index) != self.current_term:
            return "the leader has not committed an entry of its term yet; try again"
        uncommitted = bool(self.config_entries) and self.config_entries[-1][0] > self.commit_index
        # A learner awaiting promotion may be removed (it does not vote, so the majority
        # stays where it is); but not while any configuration entry is still uncommitted.
        learner_removal = cmd.op == "remove" and node in configuration.learners
        if uncommitted or (self.change_pending() and not learner_removal):
            return f"a configuration change is in progress ({configuration.describe()}); one at a time"
        if cmd.op == "add":
            if node in configuration.members:
                return f"node {node} is already a member ({configuration.describe()})"
            new = configuration.with_learner(node)
        else:
            if node not in configuration.members:
                return f"node {node} is not a member ({configuration.describe()})"
            new = configuration.without(node)
            if not new.voters:
                return "cannot remove the last voter"
        command = Command("config", value=new.to_value(), client=cmd.client, seq=cmd.seq, low=cmd.low)
        return Entry(self.current_term, command)

    def _maybe_promote(self) -> None:
        """Promote a learner that has caught up: it may vote from now on (§4.2.1).

        "Caught up" means it holds everything committed. Until then it does not
        count towards a quorum, so adding a slow server cannot stall commits.
        """
        configuration = self.configuration
        if not configuration.learners or self.role != LEADER:
            return
        if self.config_entries and self.config_entries[-1][0] > self.commit_index:
            return  # the learner's own entry (or another change) is not committed yet
        if self.log.term_at(self.commit_index) != self.current_term:
            return
        for learner in configuration.learners:
            if self.match_index.get(learner, 0) >= self.commit_index:
                self._append_local(Entry(self.current_term, configuration.promote(learner).to_command()))
                self._replicate(self._now)
                return
