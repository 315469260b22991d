"""The command line of sharing: every mistake is one clear line and exit code 2, before any app starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from raftviz.share.server import ShareServer

ROOT = Path(__file__).resolve().parent.parent.parent


def raftviz(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "raftviz", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def teacher():  # noqa: ANN201
    share = ShareServer("127.0.0.1", 0, code="k7m2qx")
    yield share
    share.close()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--follow", "{addr}", "--code", "nope"], "refused: a wrong join code"),
        (["--follow", "{addr}"], "refused: no join code"),
        (["--follow", "9000"], "give HOST:PORT"),
        (["--follow", "127.0.0.1:1"], "cannot reach the teacher at 127.0.0.1:1"),
        (["--share", "abc"], "the port must be a number"),
        (["--share", "9000", "--follow", "{addr}"], "cannot go together"),
        (["lesson", "1", "--share", "nohost:x"], "the port must be a number"),
        (["serve", "--max-sessions", "0"], "--max-sessions must be at least 1"),
        (["serve", "--follow", "9000"], "give HOST:PORT"),
        (["serve", "--lesson", "no-such-lesson"], "no-such-lesson"),
        (["serve", "--host", "0.0.0.0"], "add --public-url"),
    ],
)
def test_share_mistakes_exit_2_with_one_clear_line(teacher: ShareServer, args: list[str], said: str) -> None:
    addr = f"{teacher.host}:{teacher.port}"
    result = raftviz(*[a.format(addr=addr) for a in args])
    assert result.returncode == 2, result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
