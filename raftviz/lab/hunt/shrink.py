"""Cut a failing schedule down to a minimal one that still breaks the same invariant.

Deterministic and greedy, in passes repeated until none helps (or the run budget
is spent):

1. delete chunks of commands, halving the chunk size down to single lines
   (ddmin-like: a chunk that can go, goes);
2. merge two ``advance`` commands in a row into one;
3. shorten the numbers: ``advance MS`` and ``step N`` to the smallest of a few
   smaller values that still fail;
4. ``step N`` as a short ``advance`` (which pass 2 can then merge with an
   ``advance`` beside it);
5. fewer nodes: ``cluster N-1`` (a script that names node N then fails to run, so
   it is kept only when nothing needs node N);
6. drop cluster options one at a time (``seed`` and ``bug`` stay);
7. when none of these helps, delete two lines at once (a crash and its restart).

A candidate counts only if a strict run (runner.py: every command must apply, as
under ``raftviz run``) breaks the same invariant; ``test`` decides, so the unit
tests can shrink against a fake.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: Options of the cluster line the shrinker never drops: they make the run what it is.
KEEP_OPTIONS = ("seed", "bug")

#: Scripts up to this many lines also try deleting any two lines at once.
PAIRS_UP_TO = 60

#: ... the two at most this many lines apart (what goes together is usually close).
PAIR_SPAN = 12

#: Runs of ``test`` a shrink may spend before it returns what it has.
MAX_RUNS = 3000


class _Budget:
    """``test`` with a run budget, remembering answers: the last pass, which finds that
    nothing helps any more, asks again about candidates already tried."""

    def __init__(self, test: Callable[[list[str]], bool], runs: int) -> None:
        self.test = test
        self.left = runs
        self.seen: dict[tuple[str, ...], bool] = {}

    def __call__(self, lines: list[str]) -> bool:
        key = tuple(lines)
        if key in self.seen:
            return self.seen[key]
        if self.left <= 0:
            return False
        self.left -= 1
        self.seen[key] = answer = self.test(lines)
        return answer


def shrink(lines: list[str], test: Callable[[list[str]], bool], max_runs: int = MAX_RUNS) -> list[str]:
    """The smallest script this greedy search finds for which ``test`` holds.

    ``lines[0]`` is the ``cluster`` line; ``test(lines)`` must hold on entry.
    """
    check = _Budget(test, max_runs)
    current = list(lines)
    while True:
        before = current
        current = _delete_chunks(current, check)
        current = _merge_advances(current, check)
        current = _shorten_numbers(current, check)
        current = _steps_to_advances(current, check)
        current = _fewer_nodes(current, check)
        current = _drop_options(current, check)
        if current == before:
            # Stuck: two lines that only go together (a crash and its restart, a cut
            # and its heal), near each other. Only for short scripts: it costs.
            if len(current) <= PAIRS_UP_TO:
                current = _delete_pairs(current, check)
            if current == before:
                return current
        if check.left <= 0:
            return current


def _delete_chunks(lines: list[str], test: Callable[[list[str]], bool]) -> list[str]:
    head, body = lines[:1], lines[1:]
    size = max(len(body) // 2, 1)
    while size >= 1:
        start = 0
        while start < len(body):
            candidate = body[:start] + body[start + size :]
            if test(head + candidate):
                body = candidate
            else:
                start += size
        if size == 1:
            break
        size //= 2
    return head + body


def _delete_pairs(lines: list[str], test: Callable[[list[str]], bool]) -> list[str]:
    for i in range(len(lines) - 1, 0, -1):
        for j in range(i - 1, max(i - PAIR_SPAN, 0), -1):
            if i >= len(lines):
                break
            candidate = [line for k, line in enumerate(lines) if k not in (i, j)]
            if test(candidate):
                lines = candidate
                break
    return lines


def _merge_advances(lines: list[str], test: Callable[[list[str]], bool]) -> list[str]:
    i = 1
    while i + 1 < len(lines):
        a, b = _number(lines[i], "advance"), _number(lines[i + 1], "advance")
        if a is not None and b is not None:
            candidate = [*lines[:i], f"advance {a + b}", *lines[i + 2 :]]
            if test(candidate):
                lines = candidate
                continue
        i += 1
    return lines


def _number(line: str, name: str) -> int | None:
    m = re.fullmatch(rf"{name} (\d+)", line)
    return int(m.group(1)) if m else None


def _shorten_numbers(lines: list[str], test: Callable[[list[str]], bool]) -> list[str]:
    for i in range(1, len(lines)):
        for name, least in (("advance", 1), ("step", 1)):
            value = _number(lines[i], name)
            if value is None or value <= least:
                continue
            # Smallest first: the first that still fails is kept.
            tries = sorted({least, value // 2, (3 * value) // 4} - {0, value})
            for smaller in tries:
                candidate = [*lines[:i], f"{name} {smaller}", *lines[i + 1 :]]
                if test(candidate):
                    lines = candidate
                    break
    return lines


#: What ``step N`` is tried as instead: a short ``advance`` (which can then merge with
#: an ``advance`` beside it, one line fewer).
STEP_AS_ADVANCE = (1, 2, 5, 10, 20, 50)


def _steps_to_advances(lines: list[str], test: Callable[[list[str]], bool]) -> list[str]:
    for i in range(1, len(lines)):
        if _number(lines[i], "step") is None:
            continue
        for ms in STEP_AS_ADVANCE:
            candidate = [*lines[:i], f"advance {ms}", *lines[i + 1 :]]
            if test(candidate):
                lines = candidate
                break
    return lines


def _fewer_nodes(lines: list[str], test: Callable[[list[str]], bool]) -> list[str]:
    while True:
        words = lines[0].split()
        if len(words) < 2 or not words[1].isdigit() or int(words[1]) <= 1:
            return lines
        candidate = [" ".join([words[0], str(int(words[1]) - 1), *words[2:]]), *lines[1:]]
        if not test(candidate):
            return lines
        lines = candidate


def _drop_options(lines: list[str], test: Callable[[list[str]], bool]) -> list[str]:
    words = lines[0].split()
    i = 2
    while i < len(words):
        key = words[i].partition("=")[0]
        if key in KEEP_OPTIONS:
            i += 1
            continue
        candidate_words = words[:i] + words[i + 1 :]
        if test([" ".join(candidate_words), *lines[1:]]):
            words = candidate_words
        else:
            i += 1
    return [" ".join(words), *lines[1:]]
