"""Exports (lab/exports.py): the space-time diagram (SVG, HTML) and the Chrome trace of a run.

The counts the exports are checked against come from the lab's own records
(what the history published), not from the event model the exports are drawn from.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from raftviz.lab.exports import lanes, role_spans
from raftviz.lab.history import History
from raftviz.lab.lab import StepRecord
from raftviz.lab.run import run_script
from raftviz.lab.session import Session

SVG = "{http://www.w3.org/2000/svg}"

#: A small run with every fate: deliveries, losses at a cut link and at a crashed node, a drop,
#: a duplicate, a loss at send, a crash and a restart, a new leader.
SCRIPT = """\
cluster 3 seed=1
until leader
put x 1
advance 60
partition 1 | 2,3
advance 200
crash 3
advance 40
restart 3
heal
put y 2 via=2
deliver c1->2
drop 2->1 AppendEntries
duplicate 2->3 AppendEntries
loss 0.5
advance 120
loss 0
advance 100
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run SCRIPT with both exports, and count what the lab's records say happened."""
    out = tmp_path_factory.mktemp("exports")
    records: list[StepRecord] = []
    notes: list[str] = []

    def counting_session() -> Session:
        session = Session(backend="inprocess")
        session.listeners.append(records.append)
        return session

    lines: list[str] = []
    paths = {name: str(out / name) for name in ("run.svg", "run.html", "run.json")}
    # run_script builds its own sessions: count through a History run of the same script.
    history = History(counting_session)
    try:
        for line in SCRIPT.splitlines():
            assert not history.run_text(line).failure, line
    finally:
        history.close()
    code = run_script(
        SCRIPT, "small.txt", lines.append, backend="inprocess", diagram=paths["run.svg"],
        trace=paths["run.json"], note=notes.append,
    )  # fmt: skip
    assert code == 0, lines
    assert run_script(SCRIPT, "small.txt", [].append, backend="inprocess", diagram=paths["run.html"]) == 0
    delivered = Counter(r.flight.id for r in records if r.kind == "deliver" and r.flight is not None)
    lost_at_arrival = [r.flight.id for r in records if r.kind == "lost" and r.flight is not None]
    dropped = [r.flight.id for r in records if r.text.startswith("drop ") and r.flight is not None]
    lost_at_send = [f.id for r in records for f in r.lost]
    return {
        "paths": paths,
        "notes": notes,
        "transcript": lines,
        "delivered": delivered,
        "lost": sorted(lost_at_arrival + dropped + lost_at_send),
        "kinds": Counter(r.kind for r in records),
        "lost_at_send": lost_at_send,
    }


def test_the_run_has_every_fate(exported: dict) -> None:
    assert exported["lost_at_send"], "raise the loss or change the seed: nothing was lost at send"
    assert len(exported["lost"]) > len(exported["lost_at_send"]) + 1
    assert all(count == 1 for count in exported["delivered"].values())


def test_svg_has_one_titled_arrow_per_delivered_message(exported: dict) -> None:
    root = ET.parse(exported["paths"]["run.svg"]).getroot()
    arrows = [g for g in root.iter(f"{SVG}g") if "delivered" in g.get("class", "").split()]
    ids = sorted(int(g.get("data-id")) for g in arrows)
    assert ids == sorted(exported["delivered"])
    for g in arrows:
        title = g.find(f"{SVG}title")
        assert title is not None and title.text is not None
        # "#12 1->3 AppendEntries term=2 ...": the message's id, its link and its type.
        head = title.text.split()
        assert head[0] == f"#{g.get('data-id')}" and "->" in head[1] and head[2][0].isupper()
        assert g.find(f"{SVG}line") is not None


def test_svg_marks_each_lost_or_dropped_message(exported: dict) -> None:
    root = ET.parse(exported["paths"]["run.svg"]).getroot()
    lost = [g for g in root.iter(f"{SVG}g") if {"lost", "dropped"} & set(g.get("class", "").split())]
    assert sorted(int(g.get("data-id")) for g in lost) == exported["lost"]
    for g in lost:
        assert [p for p in g.iter(f"{SVG}path") if p.get("class") == "x"], "a lost message ends in an x"
        assert g.find(f"{SVG}title") is not None


def test_svg_has_a_lane_per_node_and_marks_crashes_restarts_and_partitions(exported: dict) -> None:
    root = ET.parse(exported["paths"]["run.svg"]).getroot()
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "lane-label"]
    assert labels == ["node 1", "node 2", "node 3", "client c1"]
    classes = Counter(g.get("class") for g in root.iter(f"{SVG}g"))
    assert classes["mark crash"] == 1
    assert classes["mark restart"] == 1
    assert classes["mark network"] == 4  # the partition, the heal, loss 0.5 and loss 0
    assert classes["mark timeout"] >= 1
    assert classes["mark role"] >= 3


def test_html_is_self_contained(exported: dict) -> None:
    text = Path(exported["paths"]["run.html"]).read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "<svg" in text and "<title>" in text and "mouseenter" in text
    # Nothing from the network: the only URL is the SVG namespace, which is never fetched.
    assert text.count("http") == text.count('xmlns="http://www.w3.org/2000/svg"')
    assert "<link" not in text and "src=" not in text


def test_trace_has_a_flow_per_delivered_message(exported: dict) -> None:
    data = json.loads(Path(exported["paths"]["run.json"]).read_text())
    events = data["traceEvents"]
    starts = [e for e in events if e["ph"] == "s"]
    finishes = [e for e in events if e["ph"] == "f"]
    assert sorted(e["id"] for e in starts) == sorted(exported["delivered"])
    assert sorted(e["id"] for e in finishes) == sorted(exported["delivered"])
    by_id = {e["id"]: e for e in starts}
    for f in finishes:
        s = by_id[f["id"]]
        assert f["bp"] == "e" and f["name"] == s["name"] and f["cat"] == s["cat"]
        assert s["ts"] <= f["ts"]
        # Each end lies inside a slice of its track (what it binds to).
        for end in (s, f):
            assert any(
                x["ph"] == "X" and x["tid"] == end["tid"] and x["ts"] <= end["ts"] <= x["ts"] + x["dur"]
                and x["cat"] == "event"
                for x in events
            )  # fmt: skip


def test_trace_has_role_slices_instants_and_named_tracks(exported: dict) -> None:
    events = json.loads(Path(exported["paths"]["run.json"]).read_text())["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert [names[t] for t in (1, 2, 3)] == ["node 1", "node 2", "node 3"]
    assert "client c1" in names.values()
    roles = [e for e in events if e["ph"] == "X" and e["cat"] == "role"]
    assert {e["name"] for e in roles} >= {"follower", "candidate", "leader", "down"}
    assert all(isinstance(e["args"]["term"], int) and e["dur"] >= 0 for e in roles)
    # A node's role slices follow one another without overlapping.
    for tid in (1, 2, 3):
        mine = sorted((e["ts"], e["ts"] + e["dur"]) for e in roles if e["tid"] == tid)
        assert all(a[1] <= b[0] for a, b in zip(mine, mine[1:], strict=False))
    instants = Counter(e["cat"] for e in events if e["ph"] == "i")
    assert instants["crash"] == 1 and instants["restart"] == 1
    assert instants["timeout"] >= 1 and instants["commit"] >= 1 and instants["network"] == 4
    assert all(e["ts"] >= 0 for e in events if "ts" in e)


def test_exports_are_deterministic_and_leave_the_transcript_alone(exported: dict, tmp_path: Path) -> None:
    lines: list[str] = []
    again = str(tmp_path / "again.svg")
    assert run_script(SCRIPT, "small.txt", lines.append, backend="inprocess", diagram=again) == 0
    assert Path(again).read_text() == Path(exported["paths"]["run.svg"]).read_text()
    plain: list[str] = []
    run_script(SCRIPT, "small.txt", plain.append, backend="inprocess")
    assert lines == plain == exported["transcript"]
    assert exported["notes"][0].startswith("diagram: ") and exported["notes"][1].startswith("trace: ")


def test_role_spans_start_every_node_a_follower() -> None:
    assert [(s.node, s.role, s.start, s.end) for s in role_spans([], [1, 2])] == [
        (1, "follower", 0, None),
        (2, "follower", 0, None),
    ]
    assert lanes([], [3, 1]) == [1, 3]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--diagram", "out.png"], 2, "--diagram writes .svg or .html"),
        (["--diagram", "/nonexistent-dir/x/out.svg"], 1, "cannot write /nonexistent-dir/x/out.svg"),
        (["--trace", "/nonexistent-dir/x/out.json"], 1, "cannot write /nonexistent-dir/x/out.json"),
    ],
)
def test_export_mistakes_are_one_line_errors(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    script = tmp_path / "s.txt"
    script.write_text("cluster 3 seed=1\nuntil leader\n")
    result = subprocess.run(
        [sys.executable, "-m", "raftviz", "run", str(script), "--backend", "inprocess", *args],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == code
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_the_readme_diagram_is_current(tmp_path: Path, rewrite: bool) -> None:
    """screenshots/diagram.svg is what screenshots/diagram.txt draws (the README shows it)."""
    shots = Path(__file__).parents[2] / "screenshots"
    out = tmp_path / "diagram.svg"
    script = shots / "diagram.txt"
    code = run_script(
        script.read_text(), "screenshots/diagram.txt", [].append, backend="inprocess", diagram=str(out)
    )
    assert code == 0
    if rewrite:
        (shots / "diagram.svg").write_text(out.read_text())
    assert out.read_text() == (shots / "diagram.svg").read_text(), "regenerate it: pytest --rewrite"


@pytest.mark.udp
def test_the_exports_are_the_same_on_real_processes(exported: dict, tmp_path: Path) -> None:
    svg, trace = str(tmp_path / "udp.svg"), str(tmp_path / "udp.json")
    assert run_script(SCRIPT, "small.txt", [].append, backend="udp", diagram=svg, trace=trace) == 0
    assert Path(svg).read_text() == Path(exported["paths"]["run.svg"]).read_text()
    assert Path(trace).read_text() == Path(exported["paths"]["run.json"]).read_text()
