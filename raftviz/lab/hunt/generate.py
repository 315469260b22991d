"""Random fault schedules, written as scenario scripts (docs/scenario-language.md, "Hunting").

``generate(seed, nodes, bug)`` is a pure function of its arguments: it draws from
``random.Random`` seeded with a string built from them, never from global state,
so a schedule can be written out, replayed by ``raftviz run`` and opened by
``raftviz --load``.

Targets are chosen blind: the generator keeps a small model of which nodes it
crashed and restarted (so ``crash`` names a node it believes is up, ``restart``
one it believes is down), but it cannot see the messages in flight, so a
``deliver 1->2 AppendEntries`` may find no such message when it runs. The
runner skips a command that fails that way (runner.py); the schedule that is
written out keeps only the commands that ran.

The weights favour what breaks the rules of Figure 2: forced election timeouts
close together, a crash followed at once by a restart (a node that keeps only
what it persisted), single messages delivered, dropped or duplicated with a
long delay (a late copy), one-way cuts, and client writes; and a few episodes
of several lines each (an election with a reboot in it, a cut-off leader that
takes a write and crashes, leaders in turn: Figure 8), which random single
commands would almost never line up.
"""

from __future__ import annotations

import random
from collections.abc import Callable

#: Commands in a generated schedule, the cluster line excluded.
LENGTH = 80

#: Message types a selector names (the replies too: a lost reply is a classic).
TYPES = ("AppendEntries", "AppendEntriesReply", "RequestVote", "RequestVoteReply")

#: Elections: the default (timers drive them), or slow timers so that the forced
#: ``timeout`` commands decide who runs (what the hand-written bug scenarios do).
ELECTIONS = ("", " election=1000-2000")  # even odds


class _Model:
    """What the generator believes about the cluster: enough to name real targets."""

    def __init__(self, rng: random.Random, nodes: int) -> None:
        self.rng = rng
        self.ids = list(range(1, nodes + 1))
        self.down: set[int] = set()
        #: ``crash leader`` crashed a node the generator cannot name: restarts may then name any.
        self.unknown_down = 0
        self.writes = 0

    def up(self) -> list[int]:
        return [i for i in self.ids if i not in self.down]

    def node(self) -> int:
        return self.rng.choice(self.ids)

    def pair(self) -> tuple[int, int]:
        a, b = self.rng.sample(self.ids, 2)
        return a, b


def _timeout(m: _Model) -> list[str]:
    up = m.up()
    if not up:
        return []
    first = m.rng.choice(up)
    lines = [f"timeout {first}"]
    # Two candidates at once: split votes, and two elections in one term.
    if m.rng.random() < 0.5 and len(up) > 1:
        lines.append(f"timeout {m.rng.choice([i for i in up if i != first])}")
    return lines


def _crash(m: _Model) -> list[str]:
    up = m.up()
    if len(up) < 2:
        return []
    node = m.rng.choice(up)
    m.down.add(node)
    return [f"crash {node}"]


def _restart(m: _Model) -> list[str]:
    if m.unknown_down and m.rng.random() < 0.5:
        # The one ``crash leader`` took down, perhaps: if it is up, the runner skips this.
        m.unknown_down -= 1
        return [f"restart {m.node()}"]
    if not m.down:
        return []
    node = m.rng.choice(sorted(m.down))
    m.down.discard(node)
    return [f"restart {node}"]


def _crash_leader(m: _Model) -> list[str]:
    """The leader, whoever it is when the command runs (skipped if there is none)."""
    m.unknown_down += 1
    return ["crash leader"]


def _election_race(m: _Model) -> list[str]:
    """Two candidates at once, a few events, and a node that reboots in the middle."""
    up = m.up()
    if len(up) < 2:
        return []
    a, b = m.rng.sample(up, 2)
    c = m.rng.choice(up)
    return [f"timeout {a}", f"timeout {b}", f"step {m.rng.randint(1, 4)}", f"crash {c}", f"restart {c}"]


def _write_then_crash_leader(m: _Model) -> list[str]:
    """A write the leader may not have passed on yet, and the leader crashes: the
    entry waits in its log for a later term (the Figure 8 situation, §5.4.2)."""
    m.unknown_down += 1
    return [*_put(m), *(["step 1"] if m.rng.random() < 0.5 else []), "crash leader"]


def _isolated_write(m: _Model) -> list[str]:
    """The leader is cut off (one ``cut leader-N`` per node: the one that names the leader
    itself is skipped), takes a write, and crashes: its entry is in its log only, and
    waits there for a later term (Figure 8: what §5.4.2 is for)."""
    m.unknown_down += 1
    m.writes += 1
    return [
        *(f"cut leader-{i}" for i in m.ids),
        f"put k{m.writes} v{m.writes} via=leader",
        f"advance {m.rng.choice((20, 50))}",
        "crash leader",
        "heal",
    ]


def _comeback(m: _Model) -> list[str]:
    """A node comes back and stands for election until it wins or gives up (twice)."""
    if m.down and m.rng.random() < 0.5:
        node = m.rng.choice(sorted(m.down))
        m.down.discard(node)
    elif m.unknown_down:
        m.unknown_down -= 1
        node = m.node()
    else:
        return []
    return [f"restart {node}", f"timeout {node}", "advance 100", f"timeout {node}", "advance 100"]


def _churn(m: _Model) -> list[str]:
    """Leaders in turn: two or three rounds of "the leader, cut off, takes a write and
    crashes; some node comes back and stands". Entries of several terms end up on
    minorities, and a later leader finds those of an earlier term in its log: the
    Figure 8 situation, where only the current-term rule of §5.4.2 keeps commits safe."""
    lines: list[str] = []
    for _ in range(m.rng.randint(2, 3)):
        lines += _isolated_write(m)
        lines += _comeback(m)
    return lines


def _write_then_reboot(m: _Model) -> list[str]:
    """A write, a few events (it is being replicated), and a node that reboots then."""
    up = m.up()
    if not up:
        return []
    c = m.rng.choice(up)
    return [*_put(m), f"step {m.rng.randint(1, 6)}", f"crash {c}", f"restart {c}"]


def _reboot(m: _Model) -> list[str]:
    """Crash and restart at once: the node keeps only what it made durable."""
    up = m.up()
    if not up:
        return []
    node = m.rng.choice(up)
    return [f"crash {node}", f"restart {node}"]


def _partition(m: _Model) -> list[str]:
    ids = m.ids[:]
    m.rng.shuffle(ids)
    cut = m.rng.randint(1, len(ids) - 1)
    left, right = sorted(ids[:cut]), sorted(ids[cut:])
    return [f"partition {','.join(map(str, left))} | {','.join(map(str, right))}"]


def _cut(m: _Model) -> list[str]:
    a, b = m.pair()
    return [f"cut {a}->{b}" if m.rng.random() < 0.7 else f"cut {a}-{b}"]


def _heal(m: _Model) -> list[str]:
    return ["heal"]


def _selector(m: _Model) -> str:
    """``FROM->TO TYPE``; FROM may be ``leader`` or ``*`` and TO ``*``, which name a
    message far more often than two blind node ids (the first due one that matches)."""
    a, b = m.pair()
    kind = m.rng.choice(TYPES)
    if kind.endswith("Reply"):
        a, b = b, a  # the reply goes back: same link, other way (reads naturally in a script)
    src = m.rng.choices((str(a), "leader", "*"), (2, 1, 1))[0]
    if src == "leader" and kind.endswith("Reply"):
        src = "*"  # a leader sends requests; its replies are rare
    dst = m.rng.choices((str(b), "*"), (3, 2))[0]
    return f"{src}->{dst} {kind}"


def _deliver(m: _Model) -> list[str]:
    return [f"deliver {_selector(m)}"]


def _drop(m: _Model) -> list[str]:
    return [f"drop {_selector(m)}"]


def _duplicate(m: _Model) -> list[str]:
    """A copy of a message, often a late one (the copy leaves with the latency in force)."""
    if m.rng.random() < 0.6:
        late = m.rng.randint(200, 600)
        return [f"latency {late}-{late}", f"duplicate {_selector(m)}", "latency 10-20"]
    return [f"duplicate {_selector(m)}"]


def _latency(m: _Model) -> list[str]:
    lo = m.rng.randint(1, 60)
    return [f"latency {lo}-{lo + m.rng.randint(0, 100)}"]


def _loss(m: _Model) -> list[str]:
    return [f"loss {m.rng.choice((0, 0, 0.1, 0.2, 0.3))}"]


def _put(m: _Model) -> list[str]:
    m.writes += 1
    via = f" via={m.node()}" if m.rng.random() < 0.5 else ""
    return [f"put k{m.writes} v{m.writes}{via}"]


def _advance(m: _Model) -> list[str]:
    return [f"advance {m.rng.choice((10, 20, 50, 100, 200, 400))}"]


def _step(m: _Model) -> list[str]:
    return [f"step {m.rng.choice((1, 1, 2, 3, 5, 8))}"]


def _snapshot(m: _Model) -> list[str]:
    up = m.up()
    return [f"snapshot {m.rng.choice(up)}"] if up else []


def _add(m: _Model) -> list[str]:
    if len(m.ids) >= 9:
        return []
    node = max(m.ids) + 1
    m.ids.append(node)
    return [f"add {node}"]


def _remove(m: _Model) -> list[str]:
    return [f"remove {m.node()}"] if len(m.ids) > 3 else []


#: (weight, maker): a maker returns the lines of one action (none if it cannot apply).
ACTIONS: tuple[tuple[float, Callable[[_Model], list[str]]], ...] = (
    (5, _timeout),
    (2, _crash),
    (3, _restart),
    (3, _reboot),
    (1, _crash_leader),
    (2, _election_race),
    (2, _write_then_reboot),
    (2, _write_then_crash_leader),
    (2, _isolated_write),
    (2, _comeback),
    (1, _churn),
    (1, _partition),
    (2, _cut),
    (2, _heal),
    (4, _deliver),
    (2, _drop),
    (2, _duplicate),
    (1, _latency),
    (0.5, _loss),
    (5, _put),
    (6, _advance),
    (3, _step),
    (0.5, _snapshot),
    (0.3, _add),
    (0.3, _remove),
)


def cluster_line(seed: int, nodes: int, bug: str | None, rng: random.Random) -> str:
    """The opening ``cluster`` line: the lab's seed, the bug, and a variant of the options."""
    line = f"cluster {nodes} seed={seed}"
    line += ELECTIONS[rng.random() < 0.5]
    # Without the no-op, or one entry per message, the Figure 8 situation comes up (§5.4.2).
    if rng.random() < 0.3:
        line += " noop=off"
    if rng.random() < 0.3:
        line += " batch=1"
    # Clients that do not retry: a retried write is an entry of the new leader's term,
    # which hides what a missing no-op would show.
    if rng.random() < 0.3:
        line += " client-timeout=600000"
    if bug:
        line += f" bug={bug}"
    return line


def generate(
    seed: int, nodes: int = 3, bug: str | None = None, length: int = LENGTH, beyond: bool = True
) -> list[str]:
    """A schedule: a ``cluster`` line, then about ``length`` commands, all from ``seed``.

    ``beyond`` False keeps to Figure 2 (no Pre-Vote, CheckQuorum or transfers): for a
    foreign node (``node=``), which need not implement the dissertation's additions.
    """
    rng = random.Random(f"raftviz-hunt/{seed}/{nodes}/{bug or ''}")
    model = _Model(rng, nodes)
    lines = [cluster_line(seed, nodes, bug, rng)]
    weights = [w for w, _ in ACTIONS]
    makers = [f for _, f in ACTIONS]
    while len(lines) <= length:
        (maker,) = rng.choices(makers, weights)
        lines.extend(maker(model))
    if bug is None and beyond:
        _beyond_figure_2(lines, seed, nodes)
    return lines


def _beyond_figure_2(lines: list[str], seed: int, nodes: int) -> None:
    """Without a planted bug, half the schedules run Pre-Vote and CheckQuorum (dissertation
    §9.6, §6.2) and a few leadership transfers (§3.10) are mixed in.

    From a generator of their own, so the schedules of a bug hunt (and the counterexamples
    already found from them) stay exactly what they were.
    """
    extra = random.Random(f"raftviz-hunt-beyond/{seed}/{nodes}")
    if extra.random() < 0.5:
        lines[0] += " prevote=on"
    if extra.random() < 0.5:
        lines[0] += " checkquorum=on"
    for _ in range(extra.randint(0, 3)):
        # A transfer to any node: refused (down, not a voter, no leader) is an answer too.
        lines.insert(extra.randint(1, len(lines)), f"transfer {extra.randint(1, nodes)}")
