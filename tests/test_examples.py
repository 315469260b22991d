"""The examples in examples/ run and say what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


def _run(name: str) -> str:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout


def test_embed_core_elects_and_replicates() -> None:
    out = _run("embed_core.py")
    assert "is leader of term 1" in out
    assert "answered: ok=True" in out
    assert out.count("kv={'x': '42'}") == 3


@pytest.mark.udp
def test_free_cluster_survives_kill_9_of_its_leader() -> None:
    out = _run("free_cluster.py")
    assert "put greeting=hello -> hello" in out
    assert "after the fail-over: hello, world" in out
    assert "restarted and caught up" in out
