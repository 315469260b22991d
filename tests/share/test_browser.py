"""raftviz in a real browser: ``raftviz serve`` loaded by headless Chromium through Playwright.

The page is textual-serve's: an xterm.js terminal drawn on a canvas. The test
turns on xterm's screen-reader mode (an option of the terminal, set in the
page's script as it is loaded), so the terminal's rows are also in the DOM as
an accessibility tree, and reads them as text. Skipped, with the reason, where
Playwright or a Chromium is missing (``apt-get install chromium``, and
``pip install playwright``; no browser download is needed: the test points
Playwright at the system's Chromium, or at ``$RAFTVIZ_CHROMIUM``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from raftviz.lab.session import Session
from raftviz.share.server import ShareServer
from raftviz.tui.controller import LabController

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (test extra)")

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = os.environ.get("RAFTVIZ_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium installed (apt-get install chromium, or set RAFTVIZ_CHROMIUM)"
)
DEADLINE_S = 90.0
#: xterm.js's constructor in textual-serve's page: screen-reader mode makes its rows readable DOM.
TERMINAL = re.compile(r"new ([A-Za-z_$][\w$]*)\.Terminal\(\{")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[int, subprocess.Popen[bytes]]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> tuple[int, subprocess.Popen[bytes]]:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen(
            [sys.executable, "-m", "raftviz", "serve", "--port", str(port), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        wait_for(lambda: accepts(port) or process.poll() is not None, "raftviz serve to listen")
        assert process.poll() is None, "raftviz serve ended at once"
        return port, process

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def open_app(browser, port: int):  # noqa: ANN001, ANN201
    """A tab on raftviz serve, its terminal readable and focused."""

    def readable(route) -> None:  # noqa: ANN001
        response = route.fetch()
        script, found = TERMINAL.subn(r"new \1.Terminal({screenReaderMode:!0,", response.text())
        assert found, "textual-serve's page no longer builds an xterm.js Terminal as expected"
        route.fulfill(response=response, body=script)

    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.route("**/static/js/textual.js", readable)
    page.goto(f"http://127.0.0.1:{port}/")
    wait_for(lambda: "raftviz" in screen(page), "the app in the page")
    page.locator(".xterm-helper-textarea").focus()
    return page


def screen(page) -> str:  # noqa: ANN001
    tree = page.locator(".xterm-accessibility-tree")
    return tree.inner_text() if tree.count() else ""


def header(page) -> tuple[int, int] | None:  # noqa: ANN001
    """(virtual time, history position) as the page's header shows them."""
    text = screen(page)
    now, position = re.search(r"\bt=(\d+) ?ms", text), re.search(r"\bpos (\d+)", text)
    return (int(now.group(1)), int(position.group(1))) if now and position else None


def test_a_tab_steps_its_own_cluster_to_a_leader_and_closing_it_stops_its_nodes(serve, browser) -> None:  # noqa: ANN001
    port, process = serve("--max-sessions", "1")
    page = open_app(browser, port)
    wait_for(lambda: len(descendants(process.pid)) >= 5, "the tab's app and its node processes")
    for _ in range(200):
        if re.search(r"\b\d leader\b", screen(page), re.IGNORECASE):
            break
        page.keyboard.press("n")
        page.wait_for_timeout(50)  # lets the app draw; the loop's end is the leader, not a time
    assert re.search(r"\b\d leader\b", screen(page), re.IGNORECASE), screen(page)
    # A second tab past the limit gets a clear page.
    other = browser.new_page()
    answer = other.goto(f"http://127.0.0.1:{port}/")
    assert answer is not None and answer.status == 503
    assert "raftviz is full" in other.content()
    other.close()
    # Closing the tab ends its app, and the app stops its node processes.
    page.close()
    wait_for(lambda: not descendants(process.pid), "the closed tab's processes to end")


def test_a_tab_follows_a_teacher(serve, browser) -> None:  # noqa: ANN001
    share = ShareServer("127.0.0.1", 0, code="k7m2qx")
    teacher = LabController(lambda: Session(backend="inprocess"), lambda _update: None)
    teacher.on_history = share.attach
    try:
        teacher.start(["cluster 5 seed=3"]).result(timeout=30)
        port, _process = serve(
            "--follow", f"127.0.0.1:{share.port}", "--code", "k7m2qx", "--backend", "inprocess"
        )
        page = open_app(browser, port)
        for line in ("step 25", "put x 1", "step 10", "back 4"):
            assert not teacher.command(line).result(timeout=30).failure
            assert teacher.history is not None
            lab = teacher.history.session.lab
            assert lab is not None
            wanted = (lab.now, teacher.history.position)
            wait_for(lambda wanted=wanted: header(page) == wanted, f"the tab to show {wanted} after {line!r}")
            leader = next((n for n, v in sorted(lab.views.items()) if v.role == "leader"), None)
            if leader is not None:
                assert re.search(rf"\b{leader} leader\b", screen(page), re.IGNORECASE), screen(page)
        # Keys that would change the cluster are refused in the tab too.
        page.keyboard.press("n")
        wait_for(lambda: "press f to fork" in screen(page), "the refusal notice")
        assert header(page) == wanted
    finally:
        teacher.close()
        share.close()
