"""The raftviz command: exit codes, and clear one-line errors instead of tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def raftviz(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raftviz", *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "scenario.txt"
    path.write_text(text)
    return str(path)


def test_run_ok_exits_0_and_echoes_commands(tmp_path: Path) -> None:
    result = raftviz(
        "run", write(tmp_path, "cluster 3 seed=1\nuntil leader\nexpect leader\n"), "--backend", "inprocess"
    )
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "> cluster 3 seed=1"
    assert "leader: ok" in result.stdout


def test_failed_expect_exits_1_naming_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "cluster 3 seed=1\n# a comment\nexpect leader\n")
    result = raftviz("run", path, "--backend", "inprocess")
    assert result.returncode == 1
    assert f"FAILED {path}:3: expect leader: false (no leader)" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_runtime_error_exits_1_without_traceback(tmp_path: Path) -> None:
    result = raftviz("run", write(tmp_path, "cluster 3\ncrash 9\n"), "--backend", "inprocess")
    assert result.returncode == 1
    assert "crash: no node 9" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("script", "line", "problem"),
    [
        ("cluster 3\nfrobnicate\n", 2, "unknown command 'frobnicate'"),
        ("cluster 3 seed=x\n", 1, "seed must be a whole number"),
        ("cluster 3\nuntil 1.colour = red\n", 2, "unknown field 'colour'"),
        ("cluster 3\npartition 1,2\n", 2, "at least two groups"),
        ("cluster 3\nstep 1\ndeliver\n", 3, "usage: deliver"),
    ],
)
def test_malformed_script_exits_2_naming_file_line_and_problem(
    tmp_path: Path, script: str, line: int, problem: str
) -> None:
    path = write(tmp_path, script)
    result = raftviz("run", path)
    assert result.returncode == 2
    assert result.stdout.startswith(f"error: {path}:{line}: ")
    assert problem in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_unreadable_script_and_stdin(tmp_path: Path) -> None:
    result = raftviz("run", str(tmp_path / "missing.txt"))
    assert result.returncode == 2 and "cannot read" in result.stderr
    result = raftviz("run", "-", "--backend", "inprocess", stdin="cluster 3 seed=2\nuntil leader\n")
    assert result.returncode == 0 and "reached at" in result.stdout


def test_lesson_list_and_unknown_lesson() -> None:
    listed = raftviz("lesson")
    assert listed.returncode == 0 and "01-meet-the-cluster" in listed.stdout
    unknown = raftviz("lesson", "no-such-lesson")
    assert unknown.returncode == 2 and "no single lesson matches" in unknown.stderr


def test_node_and_kv_argument_errors() -> None:
    result = raftviz("node", "--id", "4", "--peers", "1=127.0.0.1:7001,2=127.0.0.1:7002")
    assert result.returncode == 2 and "--peers must list every node" in result.stderr
    result = raftviz("node", "--id", "1", "--peers", "1=nonsense")
    assert result.returncode == 2 and "expected HOST:PORT" in result.stderr
    result = raftviz("kv", "--cluster", "127.0.0.1:1", "get")
    assert result.returncode == 2 and "usage: raftviz kv --cluster HOST:PORT,... get KEY" in result.stderr
    result = raftviz("--nodes", "12")
    assert result.returncode == 2 and "--nodes must be 3 to 9" in result.stderr


def test_the_app_starts_on_the_clean_election_seed_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    from raftviz import cli
    from raftviz.tui import app as tui

    seen: list[int] = []
    monkeypatch.setattr(tui.RaftvizApp, "run", lambda self: seen.append(self.options.seed))
    assert cli.main(["--backend", "inprocess"]) == 0
    assert cli.main(["--backend", "inprocess", "--seed", "7"]) == 0
    assert seen == [tui.DEFAULT_SEED, 7]


def test_a_closed_pipe_ends_run_quietly(tmp_path: Path) -> None:
    script = write(tmp_path, "cluster 5 seed=1\nadvance 3000\n")
    command = f"{sys.executable} -m raftviz run {script} --backend inprocess | head -1"
    result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert result.stdout == "> cluster 5 seed=1\n"
    assert "Traceback" not in result.stderr
