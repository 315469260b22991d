"""``raftviz hunt``: the generator, the runner, the shrinker and the seed-ordered search.

For each planted bug, a hunt with a fixed seed and budget finds a counterexample,
shrunk to at most 30 commands, that breaks the bug's documented invariant on both
backends; with no bug, the same budget finds nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raftviz.core.bugs import BUGS
from raftviz.lab.hunt.generate import generate
from raftviz.lab.hunt.runner import fails_with, run_lines
from raftviz.lab.hunt.search import HuntError, HuntOptions, check_options, hunt, parse_shard, render
from raftviz.lab.hunt.shrink import shrink
from raftviz.lab.script import parse_line

#: (bug, first seed, schedules): a window of seeds that holds a counterexample the
#: generator finds for the bug (3 nodes). Each is the first from seed 0 (truncate-always's,
#: seed 249, shrank to 36 commands before ``step N`` was tried as a short ``advance``).
HUNTS = [
    ("forget-vote", 91, 5),
    ("vote-any-log", 2, 5),
    ("commit-old-term", 1743, 5),
    ("skip-prev-check", 1, 5),
    ("truncate-always", 249, 1),
    ("ack-before-persist", 54, 5),
    ("no-step-down", 31, 5),
]


@pytest.mark.parametrize(("bug", "seed", "schedules"), HUNTS, ids=[h[0] for h in HUNTS])
def test_hunt_finds_a_short_counterexample_on_both_backends(bug: str, seed: int, schedules: int) -> None:
    options = HuntOptions(bug=bug, nodes=3, schedules=schedules, seed=seed, workers=1)
    example = hunt(options)
    assert example is not None, f"no counterexample for {bug}"
    invariant = BUGS[bug].invariant
    assert example.found.invariant == invariant
    commands = example.shrunk[1:]
    assert len(commands) <= 30, "\n".join(example.shrunk)
    assert fails_with(example.shrunk, invariant, "inprocess")
    assert fails_with(example.shrunk, invariant, "udp"), "\n".join(example.shrunk)
    text = render(example, options, "cx.txt")
    assert f"bug={bug}" in text and "raftviz --load cx.txt" in text and invariant in text


@pytest.mark.parametrize(("bug", "seed", "schedules"), HUNTS, ids=[h[0] for h in HUNTS])
def test_the_same_budget_without_a_bug_finds_nothing(bug: str, seed: int, schedules: int) -> None:
    assert hunt(HuntOptions(nodes=3, schedules=schedules, seed=seed, workers=1)) is None


def test_generated_schedules_are_deterministic_scripts() -> None:
    for seed in range(5):
        lines = generate(seed, 3, "forget-vote")
        assert lines == generate(seed, 3, "forget-vote")
        assert lines[0].startswith(f"cluster 3 seed={seed}") and "bug=forget-vote" in lines[0]
        assert all(parse_line(line) is not None for line in lines)
    assert generate(1, 3) != generate(2, 3)


def test_lenient_run_skips_what_cannot_apply_and_strict_run_refuses_it() -> None:
    lines = ["cluster 3 seed=1", "deliver 1->2 AppendEntries", "timeout 1", "advance 100"]
    lenient = run_lines(lines)
    assert lenient.ran == ["cluster 3 seed=1", "timeout 1", "advance 100"]
    assert lenient.found is None and not lenient.invalid
    strict = run_lines(lines, strict=True)
    assert "no message 1->2 AppendEntries in flight" in strict.invalid


def test_results_do_not_depend_on_the_worker_count() -> None:
    one = hunt(HuntOptions(bug="no-step-down", schedules=45, seed=0, workers=1))
    two = hunt(HuntOptions(bug="no-step-down", schedules=45, seed=0, workers=2))
    assert one is not None and two is not None
    assert (one.seed, one.shrunk) == (two.seed, two.shrunk)


def test_shards_split_the_seeds() -> None:
    options = HuntOptions(seed=10, schedules=10, shard=(1, 3))
    assert options.seeds() == [10, 13, 16, 19]
    assert parse_shard("2/4") == (2, 4)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (HuntOptions(bug="nope"), "no planted bug"),
        (HuntOptions(nodes=1), "--nodes"),
        (HuntOptions(schedules=0), "--schedules"),
        (HuntOptions(seed=-1), "--seed"),
        (HuntOptions(workers=-2), "--workers"),
        (HuntOptions(shard=(3, 2)), "--shard"),
    ],
)
def test_bad_options_are_refused(options: HuntOptions, words: str) -> None:
    with pytest.raises(HuntError, match=words):
        check_options(options)


@pytest.mark.parametrize("text", ["3", "a/b", "1/", "4/4", "0/0"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(HuntError):
        parse_shard(text)


# ---------------------------------------------------------------------- the shrinker, on fakes


def _in_order(lines: list[str], wanted: list[str]) -> bool:
    it = iter(lines)
    return all(any(line == w for line in it) for w in wanted)


def test_shrink_keeps_only_the_lines_that_matter() -> None:
    lines = ["cluster 5 seed=1 election=1000-2000 bug=forget-vote", *[f"put k{i} v{i}" for i in range(20)]]
    lines[7:7] = ["crash 2"]
    lines[15:15] = ["restart 2"]
    shrunk = shrink(lines, lambda c: _in_order(c, ["crash 2", "restart 2"]))
    assert shrunk == ["cluster 1 seed=1 bug=forget-vote", "crash 2", "restart 2"]


def test_shrink_merges_and_shortens_advances() -> None:
    lines = ["cluster 3 seed=1", "advance 400", "advance 400", "step 8", "timeout 1"]

    def test(c: list[str]) -> bool:
        total = sum(int(line.split()[1]) for line in c if line.startswith("advance "))
        return total >= 500 and any(line.startswith("step") for line in c)

    assert shrink(lines, test) == ["cluster 1 seed=1", "advance 600", "step 1"]


def test_shrink_turns_a_step_into_an_advance_that_merges_with_its_neighbour() -> None:
    lines = ["cluster 1 seed=1", "advance 100", "step 3", "timeout 1"]

    def test(c: list[str]) -> bool:
        # Fails once 110 ms or more have passed before the timeout, however they passed.
        waited = sum(int(line.split()[1]) for line in c if line.startswith("advance "))
        steps = sum(int(line.split()[1]) for line in c if line.startswith("step "))
        return "timeout 1" in c and waited + 5 * steps >= 110

    assert shrink(lines, test) == ["cluster 1 seed=1", "advance 110", "timeout 1"]


def test_shrink_deletes_two_lines_that_only_go_together() -> None:
    lines = ["cluster 3 seed=1", "crash 1", "put a 1", "restart 1", "timeout 2"]

    def test(c: list[str]) -> bool:
        # A crash without its restart is invalid; the timeout is what fails.
        return ("crash 1" in c) == ("restart 1" in c) and "timeout 2" in c

    assert shrink(lines, test) == ["cluster 1 seed=1", "timeout 2"]


def test_shrink_is_deterministic() -> None:
    lines = generate(3, 3)
    test = lambda c: sum(line.startswith("timeout") for line in c) >= 2  # noqa: E731
    assert shrink(lines, test) == shrink(lines, test)


# ---------------------------------------------------------------------- the command


@pytest.mark.parametrize(
    "argv",
    [
        ["hunt", "--bug", "nope"],
        ["hunt", "--nodes", "0"],
        ["hunt", "--schedules", "0"],
        ["hunt", "--shard", "2/2"],
        ["hunt", "--workers", "x"],
        ["hunt", "--out", "/no/such/dir/cx.txt"],
    ],
)
def test_hunt_exits_2_on_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from raftviz.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals (a number that is not one)
        code = exc.code
    assert code == 2
    assert "error" in capsys.readouterr().err


def test_hunt_writes_a_script_that_raftviz_run_fails_with(tmp_path, capsys) -> None:  # noqa: ANN001
    from raftviz.cli import main

    out = tmp_path / "cx.txt"
    assert (
        main(
            [
                "hunt",
                "--bug",
                "no-step-down",
                "--seed",
                "35",
                "--schedules",
                "5",
                "--workers",
                "1",
                "--out",
                str(out),
            ]
        )
        == 1
    )
    assert "written:" in capsys.readouterr().out
    assert main(["run", str(out), "--backend", "inprocess"]) == 1
    assert "Term Rule violated" in capsys.readouterr().out
    assert main(["hunt", "--seed", "35", "--schedules", "5", "--workers", "1"]) == 0


# ---------------------------------------------------------------------- the committed counterexamples

TESTDATA = Path(__file__).parents[1] / "testdata"


@pytest.mark.parametrize("path", sorted(TESTDATA.glob("hunted-*.txt")), ids=lambda p: p.stem)
def test_a_hunted_script_breaks_nothing_without_its_bug(path: Path) -> None:
    """tests/testdata/hunted-*.txt are shrunk counterexamples (their transcripts are checked
    by test_transcripts.py); taken without the bug, the same run breaks no invariant."""
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith(("#", "expect"))]
    bug = path.stem.removeprefix("hunted-")
    assert f" bug={bug}" in lines[0]
    result = run_lines([lines[0].replace(f" bug={bug}", ""), *lines[1:]], strict=True)
    assert not result.invalid and result.found is None
