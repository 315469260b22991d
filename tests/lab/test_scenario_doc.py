"""Every example in docs/scenario-language.md does what the doc says.

Untagged code blocks are scripts: each parses and runs on the in-process
backend without a failure (a block that does not start a cluster runs on a
5-node cluster with a leader). Blocks tagged ``sh`` (shell) and ``text``
(output) are not scenario commands. Every example in the tables' example
column parses.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from raftviz.lab.run import run_script
from raftviz.lab.script import PARSERS, parse_line, parse_script

DOC = Path(__file__).parents[2] / "docs" / "scenario-language.md"
SETUP = "cluster 5 seed=1\nuntil leader\n"


def _blocks() -> list[tuple[int, str, str]]:
    """(line, tag, text) of every fenced block."""
    blocks = []
    lines = DOC.read_text().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            tag, start = lines[i][3:].strip(), i + 1
            end = start
            while not lines[end].startswith("```"):
                end += 1
            blocks.append((start + 1, tag, "\n".join(lines[start:end]) + "\n"))
            i = end
        i += 1
    return blocks


def _table_examples() -> list[str]:
    """The example column of the command tables: `cmd` cells, 'or' between alternatives."""
    examples = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) != 3 or cells[0] in ("command", "---") or not cells[2].startswith("`"):
            continue
        examples += [e.replace("\\|", "|") for e in re.findall(r"`([^`]+)`", cells[2])]
    return examples


SCRIPTS = [(line, text) for line, tag, text in _blocks() if tag == ""]
EXAMPLES = _table_examples()


def test_the_doc_has_examples() -> None:
    assert len(SCRIPTS) >= 3
    assert len(EXAMPLES) >= 30
    assert {"cluster 5 seed=42", "deliver #12", "cut leader->1", "break leader"} <= set(EXAMPLES)


def test_other_blocks_are_tagged() -> None:
    """A block of output or shell is tagged, so the script check above misses nothing."""
    for line, tag, _text in _blocks():
        assert tag in ("", "sh", "text"), f"line {line}: unknown tag {tag!r}"


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_table_example_parses(example: str) -> None:
    command = parse_line(example, 1, "doc")
    assert command is not None and command.name in PARSERS


@pytest.mark.parametrize("line,text", SCRIPTS, ids=[f"line{line}" for line, _ in SCRIPTS])
def test_every_script_block_parses_and_runs(line: int, text: str) -> None:
    parse_script(text, f"doc line {line}")
    script = text if text.startswith("cluster") else SETUP + text
    out: list[str] = []
    code = run_script(script, f"doc:{line}", out.append, backend="inprocess")
    assert code == 0, "\n".join(out[-20:])
