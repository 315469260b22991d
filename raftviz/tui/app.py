"""The raftviz app: wiring only. Keys become scenario commands; snapshots become pictures.

Every key press is sugar for a scenario-language command (shown in the event
feed), carried out by the ``LabController`` on the lab's own thread. The app
draws only the ``Snapshot`` each action hands back.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen

from raftviz.lab import exits
from raftviz.lab.events import Event
from raftviz.lab.lab import MAX_NODES
from raftviz.lab.script import ScriptError, parse_script
from raftviz.lab.search import QueryError, parse_query
from raftviz.lab.session import Session
from raftviz.lessons import Lesson, LessonError, next_lesson, next_lesson_name
from raftviz.share.client import Stream
from raftviz.share.server import ShareServer
from raftviz.tui.collector import Collector
from raftviz.tui.controller import LabController, LessonView, Update
from raftviz.tui.diagram import DiagramRows
from raftviz.tui.follow import FollowController
from raftviz.tui.model import Snapshot
from raftviz.tui.screens.branches import BranchScreen
from raftviz.tui.screens.dialogs import (
    ConfirmScreen,
    Dialog,
    HelpScreen,
    PromptScreen,
    add_dialog,
    breakpoint_dialog,
    client_dialog,
    command_line,
    jump_dialog,
    network_dialog,
    partition_dialog,
    save_dialog,
    search_dialog,
)
from raftviz.tui.search import Search
from raftviz.tui.themes import FLOORS, HIGH_CONTRAST, LIGHT, ContrastFloor, theme_name
from raftviz.tui.widgets.cluster import ClusterView
from raftviz.tui.widgets.diagram import DiagramView
from raftviz.tui.widgets.footer import FooterItem, KeysFooter
from raftviz.tui.widgets.header import StatusBar
from raftviz.tui.widgets.lesson import LessonPanel
from raftviz.tui.widgets.logs import LogsView
from raftviz.tui.widgets.panels import SPEEDS, EventFeed, Inspector, MessagesTable
from raftviz.tui.widgets.rowlist import RowList

#: Wall-clock interval of the play loop (the animation frame rate).
FRAME_S = 0.05

#: The seed of the first cluster a newcomer sees: one clean election on 5 nodes
#: (node 1 times out at t=155 ms, alone, and leads at t=185 ms on both backends).
#: Seed 0 starts with a split vote 7 ms in: that is lesson 3's story, not the first screen's.
DEFAULT_SEED = 3

#: The pace play starts at, chosen by watching a leader crash in tmux. At 1/30× a
#: message trip (10-20 ms) takes 0.3-0.6 s of wall time, so a vote is seen leaving
#: and arriving; the followers' timers fill for 4-9 s after the crash; the candidate
#: collects its votes for about a second. At 1/10× the candidate is on screen for a
#: third of a second, at 1× the whole re-election is over in half a second.
DEFAULT_SPEED = "1/30×"

#: A lesson plays at the app's own pace. At 1× (the pace lessons first had) lesson 1's
#: votes came back and a leader was elected within half a second of wall time, gone
#: before a student had found the boxes; 1/10× still shows a vote's trip for only a
#: tenth of a second. At 1/30× the timers of lesson 1 fill for about six seconds and
#: each vote is seen travelling (0.3-0.6 s); most tasks (15-400 ms of virtual time,
#: measured over every lesson's solutions) take 0.5-12 s. The one step that waits long
#: (lesson 6's client retrying for ten virtual seconds) asks for 1× with ``pace:``.
LESSON_SPEED = DEFAULT_SPEED

#: The files ``E`` writes in the current directory (the same names every time: no clock in them).
EXPORT_STEM = "raftviz-session"


@dataclass(frozen=True, slots=True)
class AppOptions:
    nodes: int = 5
    seed: int = DEFAULT_SEED
    backend: str = "udp"
    load: str | None = None
    #: Start playing at once (False in tests and screenshots).
    play: bool = False
    #: A lesson to run beside the cluster (its setup replaces nodes/seed).
    lesson: Lesson | None = None
    #: ``dark``, ``light`` or ``high-contrast`` (themes.py), or any Textual theme's name.
    theme: str = "dark"
    #: ``--share``: publish every command to followers (raftviz/share).
    share: ShareServer | None = None
    #: ``--follow``: a joined teacher's stream; the app follows it (f forks).
    follow: Stream | None = None
    #: ``--node "CMD"``: every cluster's nodes run this command (docs/protocol.md §7.1).
    node: str = ""


class LessonProgress(Message):
    """Posted from the lab thread: how a long lesson action is getting on."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class LabUpdated(Message):
    """Posted from the lab thread: an action finished."""

    def __init__(self, update: Update) -> None:
        super().__init__()
        self.update = update


# (section, keys, action, footer label, what it does (help screen, palette), shown in the footer)
KEYS: list[tuple[str, str, str, str, str, bool]] = [
    ("Clock", "space", "toggle_play", "play", "play or pause the clock", True),
    ("Clock", "n,right", "step", "step", "run the next event (one message or timer)", True),
    ("Clock", "b,left", "step_back", "back", "step back one event (n then replays what was recorded)", True),
    ("Clock", "plus,equals_sign", "faster", "faster", "play faster (1/1000× … 1× … max)", False),
    ("Clock", "minus", "slower", "slower", "play slower", False),
    (
        "Panels",
        "i",
        "panel",
        "panels",
        "narrow terminal: show the next folded panel (event feed, node inspector, lesson)",
        False,
    ),
    ("Clock", "g", "jump", "jump", "go to any history position or mark, on any branch", False),
    ("Clock", "B", "branches", "branches", "the history tree: branches and marks (Enter goes there)", False),
    ("Logs", "less_than_sign", "log_left", "log ◂", "scroll the logs view towards index 1", False),
    (
        "Logs",
        "greater_than_sign",
        "log_right",
        "log ▸",
        "scroll the logs view towards the tail (follows it)",
        False,
    ),
    ("Nodes", "1,2,3,4,5,6,7,8,9", "select", "node", "select node N (the inspector shows it)", False),
    ("Nodes", "k", "crash", "crash", "crash the selected node (SIGKILL)", True),
    ("Nodes", "r", "restart", "restart", "restart the selected node from its disk", True),
    ("Nodes", "t", "timeout", "timeout", "fire the selected node's election timer now", True),
    ("Nodes", "R", "restart_leader", "restart leader", "restart the leader (crash, then restart)", False),
    (
        "Nodes",
        "l",
        "transfer",
        "lead",
        "leadership transfer: the leader hands over to the selected node (TimeoutNow)",
        False,
    ),
    ("Nodes", "T", "spread", "spread timers", "spread election timers (one node clearly first)", False),
    ("Nodes", "A", "align", "align timers", "align election timers (cause a split vote)", False),
    ("Members", "a", "add_node", "add", "add a node (dialog: a free id 1-9); it joins as a learner", True),
    (
        "Members",
        "delete,D",
        "remove_node",
        "remove",
        "remove the selected node from the configuration (it keeps running)",
        False,
    ),
    ("Members", "S", "snapshot", "snapshot", "the selected node takes a snapshot (compacts its log)", False),
    ("Messages", "d", "deliver", "deliver", "deliver the selected message now", True),
    ("Messages", "x", "drop", "drop", "drop the selected message", True),
    ("Messages", "u", "duplicate", "duplicate", "duplicate the selected message", False),
    ("Network", "P", "partition", "partition", "partition the cluster (dialog)", True),
    ("Network", "H", "heal", "heal", "heal every partition and cut link", True),
    ("Network", "L", "network", "loss/latency", "set message loss and latency (dialog)", False),
    ("Clients", "C", "client_request", "write", "a client write to the leader (put kN vN)", True),
    (
        "Clients",
        "c",
        "client_dialog",
        "client",
        "any client request: put, get, append, delete (dialog)",
        False,
    ),
    (
        "Lesson",
        "right_square_bracket",
        "next_line",
        "next",
        "lesson: next step (loaded script: its next command)",
        False,
    ),
    ("Lesson", "left_square_bracket", "lesson_back", "back", "lesson: back to the previous step", False),
    ("Lesson", "j", "lesson_jump", "jump", "lesson: jump to any step", False),
    ("Lesson", "h", "lesson_hint", "hint", "lesson: show the task's hint", False),
    ("Lesson", "0", "lesson_reset", "reset", "lesson: put the cluster back to where this step began", False),
    ("Lesson", "N", "next_lesson", "next lesson", "lesson: open the next lesson", False),
    (
        "Search",
        "slash",
        "search",
        "search",
        "search the history: type=AppendEntries to=3 term=4 rejected, lost, node=2, any words",
        False,
    ),
    ("Search", "f3", "search_next", "next match", "go to the next position the search matches", False),
    (
        "Search",
        "shift+f3,f15,f2",
        "search_previous",
        "previous match",
        "go to the previous position the search matches",
        False,
    ),
    (
        "Search",
        "F",
        "search_filter",
        "filter",
        "the event feed shows only the matching rows (F again: all)",
        False,
    ),
    (
        "View",
        "v",
        "toggle_diagram",
        "diagram",
        "the space-time diagram in place of the ring and logs (v or Esc: back; :view diagram, :view ring)",
        False,
    ),
    ("Session", "colon", "command", "command", "command line: any scenario command", True),
    (
        "Session",
        "f",
        "fork",
        "fork",
        "following a teacher (raftviz --follow): fork your own branch, or follow again; "
        "sharing (--share): show the join code again",
        False,
    ),
    (
        "Session",
        "right_square_bracket",
        "next_line",
        "next line",
        "loaded script: run its next command",
        False,
    ),
    ("Session", "right_curly_bracket", "run_script", "run script", "loaded script: run it to the end", False),
    ("Session", "s", "save", "save", "save the session as a scenario script", False),
    (
        "Session",
        "E",
        "export",
        "export",
        f"export the session (to the tip of the branch followed): a space-time diagram "
        f"({EXPORT_STEM}.svg, .html) and a trace ({EXPORT_STEM}.json, for Perfetto) in the current directory",
        False,
    ),
    ("Session", "question_mark", "help", "help", "this help: every key", True),
    ("Session", "q", "quit", "quit", "quit (stops every node process)", True),
]

#: Actions that act on the lab (disabled while a dialog is open).
LAB_ACTIONS = frozenset(action for _s, _k, action, _l, _t, _show in KEYS) - {"quit"}

KEY_LABELS = {
    "space": "Space",
    "n,right": "n/→",
    "b,left": "b/←",
    "plus,equals_sign": "+",
    "minus": "-",
    "1,2,3,4,5,6,7,8,9": "1-9",
    "delete,D": "Del/D",
    "colon": ":",
    "right_square_bracket": "]",
    "left_square_bracket": "[",
    "right_curly_bracket": "}",
    "question_mark": "?",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "slash": "/",
    "f3": "F3",
    "shift+f3,f15,f2": "⇧F3/F2",
}


def message_detail(msg: int, events: list[Event], error: str = "") -> tuple[str, ...]:
    """The diagram's words about message ``msg``, from the events of the row chosen: what it
    said, how it ended, and the reasons its receiver gave (``Event.reason``) when it acted."""
    if error:
        return (f"#{msg}: cannot read it: {error}",)
    mine = [e for e in events if e.msg_id == msg]
    if not mine:
        return (f"#{msg}: not found at this position",)
    event = mine[0]
    ending = {
        "deliver": f"delivered t={event.time}",
        "lost": f"LOST t={event.time} ({event.cause})",
        "drop": f"DROPPED t={event.time}",
        "duplicate": "a duplicate",
    }.get(event.kind, event.kind)
    sent = f"sent t={event.time}" if event.kind == "send" else f"sent t={event.sent_at}, {ending}"
    lines = [f"#{msg} {event.src}→{event.dst} {event.summary} · {sent}"]
    receiver = event.dst if event.kind == "deliver" else None
    reasons = [
        e.reason
        for e in events
        if e.reason and (e.msg_id == msg or (receiver is not None and e.node == receiver))
    ]
    lines += [f"because: {reason}" for reason in dict.fromkeys(reasons)]
    if len(lines) == 1:
        lines.append("(no reason reported for this step)")
    return tuple(lines)


def script_summary(lines: list[str]) -> str:
    """A saved session in words, the same on save and on load: its cluster line, then the count
    of commands that ] and } step through (the header's ``script i/N``)."""
    if lines and lines[0].startswith("cluster"):
        rest = len(lines) - 1
        return f"{lines[0]} then {rest} command{'s' if rest != 1 else ''}"
    return f"{len(lines)} command{'s' if len(lines) != 1 else ''}"


def _bindings() -> list[Binding]:
    out = []
    for _section, keys, action, label, text, _show in KEYS:
        if action == "select":
            out += [Binding(str(i), f"select({i})", f"node {i}", show=False) for i in range(1, 10)]
            continue
        # The footer is raftviz's own (``footer_items``), so no binding asks Textual for one.
        out.append(Binding(keys, action, label, show=False, key_display=KEY_LABELS.get(keys), tooltip=text))
    return out


#: The footer's keys in priority order: help and quit (no terminal is too narrow for them),
#: then what a class demo uses most. The other footer keys follow in the table's order.
FOOTER_FIRST = (
    "help",
    "quit",
    "toggle_play",
    "step",
    "step_back",
    "command",
    "client_request",
    "crash",
    "partition",
    "heal",
)


def footer_items(narrow: bool = False) -> list[FooterItem]:
    """Every footer key, most needed first (the footer shows as many as fit, whole);
    on a narrow terminal ``i`` (the folded panels) follows the demo keys."""
    shown = {action: (keys, label) for _s, keys, action, label, _t, show in KEYS if show}

    def item(action: str) -> FooterItem:
        keys, label = shown[action]
        # One key per item: the help lists the others (n/→ is "n" here).
        key = KEY_LABELS.get(keys, keys).split("/")[0] if "," in keys else KEY_LABELS.get(keys, keys)
        return FooterItem(key, label, action)

    first = [item(a) for a in FOOTER_FIRST]
    if narrow:
        # Where a 100-column footer still has room; at 80 the tabs' titles name i instead.
        first.append(FooterItem("i", "panels", "panel"))
    rest = [item(a) for a in shown if a not in FOOTER_FIRST]
    return [*first, *rest, FooterItem("^p", "palette", "command_palette")]


#: Below this many columns the screen is "narrow" (an 80 or 100 column terminal): the
#: bottom row keeps two panels side by side, each wide enough for its rows' essentials,
#: and the others fold into tabs (``i`` shows the next). At 120 columns and more every
#: panel has room of its own.
NARROW_BELOW = 120


class MainScreen(Screen):
    """The one screen: cluster, logs, messages, inspector, feed (and a lesson, if any).

    On a narrow terminal (screen class ``-narrow``) the layout changes rather than
    shrinks: the inspector and the event feed share one place (a tab each), and a
    lesson's narration takes the whole bottom row instead of a column beside
    everything (a tab too). ``tab`` says which of the folded panels is shown.
    """

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_BELOW, "-wide")]

    def __init__(self, lesson: bool = False) -> None:
        super().__init__()
        self.lesson = lesson
        #: The folded panel shown on a narrow terminal (one of ``tabs``).
        self.tab = self.tabs[0]

    @property
    def tabs(self) -> tuple[str, ...]:
        """The panels that take turns on a narrow terminal, in the order ``i`` shows them."""
        return ("lesson", "feed", "node") if self.lesson else ("feed", "node")

    @property
    def narrow(self) -> bool:
        return self.has_class("-narrow")

    def next_tab(self) -> str:
        """Show the next folded panel; its name."""
        tabs = self.tabs
        self.show_tab(tabs[(tabs.index(self.tab) + 1) % len(tabs)])
        return self.tab

    def show_tab(self, tab: str) -> None:
        self.tab = tab
        for name in self.tabs:
            self.set_class(name == tab, f"-tab-{name}")
        if not self.narrow:
            pass  # every panel is shown: the focus stays where the user put it
        elif tab == "feed":
            self.query_one(EventFeed).focus()
        else:
            # The feed is folded away: the arrow keys choose messages, never a hidden row.
            self.query_one(MessagesTable).focus()
        self._show_focus()

    def add_lesson(self) -> None:
        """Make room for a lesson's narration (a follower's teacher opened a lesson)."""
        if self.lesson:
            return
        self.lesson = True
        self.mount(LessonPanel(id="lesson"), before=self.query_one(StatusBar))
        self.show_tab("lesson")  # as a lesson opened from the start shows it first

    def compose(self) -> ComposeResult:
        if self.lesson:
            # Docked before the header, so the header docks into the width left beside it.
            yield LessonPanel(id="lesson")
        yield StatusBar(id="status")
        with Horizontal(id="top"):
            yield ClusterView(id="cluster")
            yield LogsView(id="logs")
            yield DiagramView(self.app.diagram_rows, id="diagram")  # type: ignore[attr-defined]
        with Horizontal(id="bottom"):
            with Vertical(id="messages-box"):
                yield MessagesTable(id="messages")
            with Vertical(id="inspector-box"):
                yield Inspector(id="inspector")
            with Vertical(id="feed-box"):
                yield EventFeed(id="feed")
        yield KeysFooter(footer_items())

    #: Each list's border title, unfocused and focused (the focused one says what its keys do).
    TITLES = {
        "messages-box": ("messages in flight (Tab: focus)", "▶ messages in flight · ↑/↓ choose · d x u"),
        "feed-box": ("event feed (Tab: focus)", "▶ event feed · ↑/↓ choose · Enter jumps back"),
    }

    def on_mount(self) -> None:
        self.show_tab(self.tab)
        # ↑/↓ choose the message that d/x/u act on, without a Tab first.
        self.query_one(MessagesTable).focus()
        self._show_focus()

    def on_descendant_focus(self) -> None:
        self._show_focus()

    def on_descendant_blur(self) -> None:
        self._show_focus()

    def _show_focus(self) -> None:
        """Title the focused list (its heavy accent border is in the stylesheet)."""
        for box_id, (plain, focused) in self.TITLES.items():
            box = self.query_one(f"#{box_id}")
            box.border_title = focused if box.has_focus_within else plain
        node = self.query_one("#inspector-box")
        node.border_title = "node"
        if self.narrow:
            # Short titles, each naming the panels folded behind it (i shows the next).
            others = " ".join(t for t in self.tabs if t != self.tab)
            feed = self.query_one("#feed-box")
            mark = "▶ " if feed.has_focus_within else ""
            feed.border_title = f"{mark}event feed · i: {others}"
            node.border_title = f"node · i: {others}"

    def on_resize(self) -> None:
        # The breakpoint classes are set as the screen resizes: titles and footer follow them.
        self.call_after_refresh(self._follow_width)

    def _follow_width(self) -> None:
        self._show_focus()
        footer = self.query_one(KeysFooter)
        footer.items = footer_items(self.narrow)
        footer.refresh()


def _terminal_gone() -> bool:
    """Whether the terminal the app draws on has hung up (Textual draws on standard error)."""
    try:
        return not os.isatty(sys.__stderr__.fileno())  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return True


class RaftvizApp(App[None]):
    """Step through a live Raft cluster."""

    CSS_PATH = "raftviz.tcss"
    TITLE = "raftviz"
    # f: fork a followed session, or follow again (follow mode only: the notices say so).
    BINDINGS = _bindings()

    def __init__(
        self, options: AppOptions | None = None, make_session: Callable[[], Session] | None = None
    ) -> None:
        super().__init__()
        self.options = options or AppOptions()
        backend, node = self.options.backend, self.options.node or None
        self.make_session = make_session or (lambda: Session(backend=backend, node=node))
        report = lambda u: self.post_message(LabUpdated(u))  # noqa: E731
        if self.options.follow is not None:
            self.controller: LabController = FollowController(self.make_session, report, self.options.follow)
        else:
            self.controller = LabController(self.make_session, report)
        if self.options.share is not None:
            share = self.options.share
            self.controller.on_history = share.attach
            self.controller.on_lesson = lambda lesson, step: share.lesson(lesson.name, lesson.text, step)
        self.controller.progress = lambda text: self.post_message(LessonProgress(text))
        self.snapshot: Snapshot | None = None
        self.selected = 1
        self.playing = self.options.play
        pace = DEFAULT_SPEED if self.options.lesson is None else LESSON_SPEED
        self.speed = [label for label, _factor in SPEEDS].index(pace)
        self._carry = 0.0
        self._last_tick = time.monotonic()
        self._writes = 0
        self.script_lines: list[str] = []
        self.script_next = 0
        self._violation_seen = 0
        self.closed = False
        self.lesson_view: LessonView | None = None
        self.show_hint = False
        #: The session's breakpoints, in number order (set by ``break``; shown in the header).
        self.breakpoints: tuple[str, ...] = ()
        #: What a lesson action in progress is doing ("" when none is running).
        self.lesson_busy = ""
        #: What a long action outside a lesson is doing (a far jump in history), for the header.
        self.working = ""
        #: The clock paused itself on a done task: Space waits once, for ], before playing on.
        self.await_next = False
        self._next_lesson_of: tuple[str, bool] = ("", False)
        #: Updates applied to the screen (equal to controller.reported when caught up).
        self.applied = 0
        #: Keys typed while a dialog was closing, for the screen below it (see ``Dialog``).
        self._held_keys: list[events.Key] = []
        #: Updates that came before the main screen was composed, in order.
        self._waiting: list[Update] = []
        #: The last search (``/``) and where it matched; what to do once its matches arrive.
        self.search: Search | None = None
        self._search_then = ""
        #: The space-time diagram's rows (kept whether it is shown or not: it may be opened any time).
        self.diagram_rows = DiagramRows()
        #: Where the diagram's cursor asked to go, and a later wish held until the lab is free.
        self._diagram_want: int | None = None
        self._diagram_next: int | None = None
        #: A goto the diagram asked for, to be sent once its cursor is painted.
        self._diagram_going = False
        #: The lab's answer to the last message chosen in the diagram (tests wait on it).
        self.diagram_detail: Future[list[Event]] | None = None
        self.collector = Collector()
        for theme in (LIGHT, HIGH_CONTRAST):
            self.register_theme(theme)
        #: The contrast floor of the theme in use (None: a theme without one).
        self._floor: ContrastFloor | None = None
        self.theme = theme_name(self.options.theme)

    def watch_theme(self, theme: str) -> None:
        floor = FLOORS.get(theme)
        self._floor = ContrastFloor(floor) if floor is not None else None

    def get_line_filters(self):  # noqa: ANN201 - Textual's own signature
        """Textual's filters, then the theme's contrast floor (on true colours: so last)."""
        filters = list(super().get_line_filters())
        return [*filters, self._floor] if self._floor is not None else filters

    def get_default_screen(self) -> Screen:
        return MainScreen(lesson=self.options.lesson is not None)

    async def on_event(self, event: events.Event) -> None:
        """Keys in the order they arrive: none typed after a dialog's Enter or Escape is lost to it.

        The decision is made here, on arrival, because a key reaches the
        dialog's widgets only later, through their own queues: by then the key
        after Enter was already on its way into the closing dialog.
        """
        if isinstance(event, events.Key) and not event.is_forwarded:
            screen = self.screen
            dialog = screen if isinstance(screen, Dialog) else None
            if (dialog is not None and dialog.closing) or self._held_keys:
                self._held_keys.append(events.Key(event.key, event.character))
                if len(self._held_keys) == 1:
                    self.call_after_refresh(self._replay_held_keys)
                return
            if dialog is not None and event.key in dialog.CLOSING_KEYS:
                dialog.closing = True
        await super().on_event(event)

    def _replay_held_keys(self) -> None:
        """Once the closing dialog is gone, hand its held keys on, in the order typed."""
        if isinstance(self.screen, Dialog) and self.screen.closing:
            self.call_after_refresh(self._replay_held_keys)
            return
        held, self._held_keys = self._held_keys, []
        for key in held:
            self.post_message(key)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While a dialog or the help is open, its keys are its own (a space is typed, not play)."""
        lab_action = action in LAB_ACTIONS or action == "fork"
        return not (lab_action and not isinstance(self.screen, MainScreen))

    # ------------------------------------------------------------------ start and stop

    def on_mount(self) -> None:
        opening = [f"cluster {self.options.nodes} seed={self.options.seed}"]
        if self.options.load:
            try:
                text = Path(self.options.load).read_text(encoding="utf-8")
                commands = parse_script(text, self.options.load)
            except (OSError, UnicodeDecodeError, ScriptError) as exc:
                self.notify(f"cannot load {self.options.load}: {exc}", severity="error", timeout=10)
                commands = []
            lines = [c.text for c in commands]
            if lines and lines[0].startswith("cluster"):
                opening = [lines.pop(0)]
                if lines:
                    self.notify(
                        f"loaded {self.options.load}: {script_summary(opening + lines)} "
                        "(] runs the next, } all)",
                        timeout=8,
                    )
            self.script_lines = lines
        if self.options.lesson is not None:
            self.controller.start_lesson(self.options.lesson)
        else:
            self.controller.start(opening)
        self.set_interval(FRAME_S, self._tick)
        self.set_interval(1.0, lambda: self.collector.when_idle(self.playing))
        if self.options.share is not None:
            self.notify(self.options.share.describe(), title="Sharing", timeout=120)
        if self.options.follow is not None:
            self.notify(f"following {self.options.follow.address}: f forks your own branch", timeout=10)

    async def action_quit(self) -> None:
        self.quit()

    def quit(self, return_code: int = 0) -> None:
        """Stop every node process, then end the app with ``return_code``."""
        self.playing = False
        self.shutdown()
        self.exit(return_code=return_code)

    def quit_on_signal(self, signum: int) -> None:
        """A stop signal (SIGTERM, SIGHUP, SIGINT): quit as ``q`` does, with exit code 128 + signum.

        Called in the signal handler, on the main thread, at any point of the
        event loop's work: so the quit is only scheduled, and runs in the loop
        as ``q`` does (the lab closes, then the app ends and restores the
        terminal). With no loop running (not started yet, or ended), there is
        nothing to schedule: raise, and the caller's clean-up runs.
        """
        if self.closed:
            return  # the clean-up is already under way
        if _terminal_gone():
            # A closed terminal (a window closed, ``tmux kill-session``): nothing to
            # restore and no one to tell. Textual's own exit would hang writing to it
            # (its writer thread dies on the first EIO, then its queue fills; and the
            # SIGCONT that follows a hang-up restarts its output), so close the lab
            # here and end at once.
            try:
                self.shutdown()
            finally:
                # os._exit runs no atexit hook: a lab the shutdown could not close (its
                # thread still busy past the wait) is closed here, directory and all.
                from raftviz.lab import udp_backend  # loaded already if a udp lab ran

                udp_backend.close_all()
                os._exit(exits.exit_code(signum))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise exits.Stopped(signum) from None
        loop.call_soon_threadsafe(self.quit, exits.exit_code(signum))

    def shutdown(self) -> None:
        """Stop every node process (idempotent)."""
        if not self.closed:
            self.closed = True
            self.controller.close()

    def on_unmount(self) -> None:
        self.shutdown()
        self.collector.release()

    # ------------------------------------------------------------------ updates from the lab

    def on_lab_updated(self, message: LabUpdated) -> None:
        self.apply_update(message.update)

    def on_lesson_progress(self, message: LessonProgress) -> None:
        if self.options.lesson is not None:
            self.lesson_busy = message.text
        # A jump in history or between lesson steps that takes a while (far back, or on
        # udp): say so in the header, where the eye is, so it never looks like a hang.
        # Cleared by the update that ends it.
        self.working = message.text
        # Only the words change (the cluster is the same until the action ends): redraw
        # the header and the lesson panel alone, not every view. A whole redraw each
        # 0.2 s held the interpreter lock against the lab thread, slowing the action.
        self.redraw(status_only=True)

    def apply_update(self, update: Update, waited: bool = False) -> None:
        screen = self.get_screen_stack_main()
        feeds = screen.query(EventFeed) if screen is not None else None
        if not feeds or (self._waiting and not waited):
            # The main screen is still being composed: try again after the next refresh,
            # in the order the updates came (a follower's second one may come at once).
            self._waiting.append(update)
            if len(self._waiting) == 1:
                self.call_after_refresh(self._apply_waiting)
            return
        feed = feeds.first()
        self.applied += 1
        if update.diagram is not None:
            self.diagram_rows.apply(update.diagram)
        if update.feed_reset is not None:
            feed.replace(update.feed_reset, update.feed_earlier)
        elif update.rewound_to is not None:
            feed.truncate(update.rewound_to)
        feed.add_items(update.feed)
        now = update.snapshot.now if update.snapshot else 0
        position = update.snapshot.position if update.snapshot else 0
        for line in update.lines:
            feed.add_note(line, position, now)
            if line.startswith("transfer to node ") and " refused: " in line:
                # An answer, not a failure, but the feed may be folded away: say it where it shows.
                self.notify(line, severity="warning", timeout=6)
        if update.failure:
            feed.add_note(update.failure, position, now, failure=True)
            self.notify(update.failure, severity="error", timeout=6)
            self.playing = False
        if update.breakpoint:
            if update.breakpoint not in update.lines:
                feed.add_note(update.breakpoint, position, now)
            self.notify(update.breakpoint, title="Breakpoint", timeout=6)
            self.playing = False
        self.breakpoints = update.breakpoints
        if update.found is not None:
            self._search_found(update)
        if update.lesson is not None:
            main = self.get_screen_stack_main()
            if main is not None:
                main.add_lesson()  # a follower's teacher may open a lesson at any time
            previous = self.lesson_view
            same_step = previous is not None and update.lesson.index == previous.index
            if not same_step or previous.title != update.lesson.title:
                self.show_hint = False
                self.await_next = False
                self._lesson_pace(previous, update.lesson)
            elif update.lesson.done and not previous.done and update.lesson.task and self.playing:
                # The moment the task is done may last only milliseconds: stop there,
                # and keep it on screen until the learner moves on (Space waits once).
                self.playing = False
                self.await_next = True
                self.notify("Task done: the clock is paused. Press ] for the next step.")
            self.lesson_view = update.lesson
            if not self.controller.busy:
                self.lesson_busy = ""
        if update.snapshot is not None:
            self.snapshot = update.snapshot
            if len(update.snapshot.violations) > self._violation_seen:
                self._violation_seen = len(update.snapshot.violations)
                self.playing = False
                self.notify(update.snapshot.violations[-1], title="Invariant violated", severity="error",
                            timeout=30)  # fmt: skip
            elif update.rewound_to is not None:
                self._violation_seen = len(update.snapshot.violations)
        self.redraw()
        # Once painted: freeze what this update left, so no full collection of the whole
        # history ever lands in the middle of a key press (collector.py).
        self.call_after_refresh(self.collector.after_update)

    def _apply_waiting(self) -> None:
        screen = self.get_screen_stack_main()
        if screen is None or not screen.query(EventFeed):
            self.call_after_refresh(self._apply_waiting)
            return
        waiting, self._waiting = self._waiting, []
        for update in waiting:
            self.apply_update(update, waited=True)

    def get_screen_stack_main(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    def redraw(self, status_only: bool = False) -> None:
        """Draw the current snapshot; ``status_only``: just the header and the lesson panel."""
        screen = self.get_screen_stack_main()
        if screen is None:
            return
        snap = self.snapshot
        script = ""
        if self.script_lines:
            script = f"script {self.script_next}/{len(self.script_lines)} (] next, }} all)"
        screen.query_one(StatusBar).show(
            snap,
            self.playing,
            SPEEDS[self.speed][0],
            script,
            busy=self.controller.busy > 0,
            working=self.working if self.controller.busy else "",
            breaks=self.breakpoint_text(),
        )
        if status_only:
            self._show_lesson(screen)
            return
        if snap is None:
            return
        cluster = screen.query_one(ClusterView)
        cluster.snapshot = snap
        cluster.selected = self.selected
        cluster.refresh()
        screen.query_one(LogsView).show(snap)
        screen.query_one(MessagesTable).show(snap)
        screen.query_one(Inspector).show(snap, self.selected)
        self._follow_in_diagram(screen, snap)
        self._show_lesson(screen)

    def _show_lesson(self, screen: Screen) -> None:
        has_next = self._has_next_lesson()
        for panel in screen.query(LessonPanel):
            panel.show(self.lesson_view, self.show_hint, busy=self.lesson_busy, has_next=has_next)

    def _has_next_lesson(self) -> bool:
        """Whether a lesson follows the open one (looked up once per lesson, not per frame)."""
        lesson = self.options.lesson
        if lesson is None:
            return False
        if self._next_lesson_of[0] != lesson.source:
            self._next_lesson_of = (lesson.source, next_lesson_name(lesson) is not None)
        return self._next_lesson_of[1]

    # ------------------------------------------------------------------ the clock

    def _tick(self) -> None:
        now = time.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        if not self.playing or self.controller.busy or self.snapshot is None:
            self._carry = 0.0
            return
        label, factor = SPEEDS[self.speed]
        if label == "max":
            self.controller.play_max(FRAME_S * 0.8)
            return
        self._carry += elapsed * 1000 * factor
        ms = int(self._carry)
        if ms >= 1:
            self._carry -= ms
            self.controller.play(ms)

    def action_toggle_play(self) -> None:
        if not self.playing and self.await_next:
            # Just after a task paused the clock, Space would play past what the step shows.
            self.await_next = False
            self.notify("The task is done: ] goes to the next step (Space again plays on here).")
            return
        self.playing = not self.playing
        self._last_tick = time.monotonic()
        self.redraw()

    def action_log_left(self) -> None:
        screen = self.get_screen_stack_main()
        if screen is not None:
            screen.query_one(LogsView).scroll_log(-10)

    def action_log_right(self) -> None:
        screen = self.get_screen_stack_main()
        if screen is not None:
            screen.query_one(LogsView).scroll_log(10)

    def action_faster(self) -> None:
        self._set_speed(self.speed + 1)

    def action_slower(self) -> None:
        self._set_speed(self.speed - 1)

    def _set_speed(self, index: int) -> None:
        """Change the pace and say so (also while paused: it is what Space plays at)."""
        clamped = min(max(index, 0), len(SPEEDS) - 1)
        label = SPEEDS[clamped][0]
        if clamped != index:
            end = "fastest" if index > clamped else "slowest"
            self.notify(f"speed {label} is the {end}", timeout=2)
        else:
            self.notify(f"speed {label}" + ("" if self.playing else " (paused: Space plays)"), timeout=2)
        self.speed = clamped
        self.redraw()

    def action_step(self) -> None:
        # After going back, a step follows the recorded future (the header says so).
        self.playing = False
        self.controller.step()

    def action_step_back(self) -> None:
        self.playing = False
        self.controller.step_back()

    def action_jump(self) -> None:
        last = self.snapshot.last_position if self.snapshot else 0

        def done(value: str | None) -> None:
            if not value or not value.strip():
                return
            self.playing = False
            self.controller.rewind(value.strip())  # the history says if there is no such place

        self.push_screen(jump_dialog(last), done)

    def action_branches(self) -> None:
        branches = self.controller.branches().result(timeout=30)
        position = self.snapshot.position if self.snapshot else 0

        def done(target: str | None) -> None:
            if target is not None:
                self.playing = False
                self.controller.rewind(target)

        self.push_screen(BranchScreen(branches, position), done)

    # ------------------------------------------------------------------ search and export

    def action_search(self) -> None:
        def done(value: str | None) -> None:
            if not value:
                return
            try:
                query = parse_query(value)
            except QueryError as exc:
                self.notify(f"search: {exc}", severity="error", timeout=8)
                return
            self.search = Search(query)
            self._search_then = "next"
            self.controller.search(query)

        self.push_screen(search_dialog(self.search.text if self.search else ""), done)

    def _search_found(self, update: Update) -> None:
        """The lab thread listed the matches: keep them, then go where the key asked."""
        search, snap = self.search, update.snapshot
        if search is None or snap is None:
            return
        search.positions = update.found or []
        search.made_at = (snap.last_position, snap.branch)
        for feed in self.query(EventFeed):
            if feed.row_filter is not None:
                feed.set_filter(search.matches_item, search.text)
        then, self._search_then = self._search_then, ""
        if not search.positions:
            self.notify(f"search: no position matches {search.text}", severity="warning")
        elif then:
            self._search_move(forward=then == "next")

    def _search_move(self, forward: bool) -> None:
        search, snap = self.search, self.snapshot
        if search is None:
            self.notify("no search yet: / searches the history", severity="warning")
            return
        if snap is None:
            return
        if search.stale(snap.last_position, snap.branch):
            # The history grew or another branch is followed: list the matches again first.
            self._search_then = "next" if forward else "previous"
            self.controller.search(search.query)
            return
        if not search.positions:
            self.notify(f"search: no position matches {search.text}", severity="warning")
            return
        target = search.after(snap.position) if forward else search.before(snap.position)
        wrapped = target is None
        if target is None:
            target = search.positions[0] if forward else search.positions[-1]
        self.playing = False
        if target != snap.position:
            self.controller.rewind(target)
        where = "from the start" if forward else "from the end"
        self.notify(
            f"match {search.index(target)}/{len(search.positions)}: position {target}"
            + (f" (wrapped {where})" if wrapped else ""),
            timeout=3,
        )

    def action_search_next(self) -> None:
        self._search_move(forward=True)

    def action_search_previous(self) -> None:
        self._search_move(forward=False)

    def action_search_filter(self) -> None:
        screen = self.get_screen_stack_main()
        if screen is None:
            return
        feed = screen.query_one(EventFeed)
        if feed.row_filter is not None:
            feed.set_filter(None)
            self.notify("filter off: every row", timeout=2)
        elif self.search is None:
            self.notify("no search yet: / searches the history, then F filters the feed", severity="warning")
        else:
            feed.set_filter(self.search.matches_item, self.search.text)

    def action_panel(self) -> None:
        screen = self.get_screen_stack_main()
        if not isinstance(screen, MainScreen):
            return
        if not screen.narrow:
            self.notify(f"every panel is shown (i folds them below {NARROW_BELOW} columns)", timeout=3)
            return
        screen.next_tab()

    def action_fork(self) -> None:
        if self.options.share is not None:
            # The teacher's f: the sharing notice again (the join code, for a latecomer).
            self.notify(self.options.share.describe(), title="Sharing", timeout=60)
            return
        if not isinstance(self.controller, FollowController):
            self.notify("f forks a followed session (raftviz --follow HOST:PORT)", severity="warning")
            return
        self.playing = False
        self.controller.toggle_fork()

    def action_export(self) -> None:
        self.controller.export(EXPORT_STEM)

    # ------------------------------------------------------------------ commands

    def run_command(self, text: str) -> None:
        words = text.split()
        if words and words[0] == "view":
            self.view_command(words[1:])
            return
        self.controller.command(text)

    # ------------------------------------------------------------------ the space-time diagram

    def view_command(self, args: list[str]) -> None:
        """``view diagram`` or ``view ring`` (the command line's words for ``v``)."""
        if args in (["diagram"], ["ring"]):
            self.show_diagram(args[0] == "diagram")
        else:
            self.notify("view: say view diagram or view ring", severity="error")

    def action_toggle_diagram(self) -> None:
        screen = self.get_screen_stack_main()
        if screen is not None:
            self.show_diagram(not screen.query_one(DiagramView).display)

    def show_diagram(self, shown: bool) -> None:
        """The diagram in place of the ring and the logs (or back)."""
        screen = self.get_screen_stack_main()
        if screen is None:
            return
        diagram = screen.query_one(DiagramView)
        screen.query_one(ClusterView).display = not shown
        screen.query_one(LogsView).display = not shown
        diagram.display = shown
        if shown:
            diagram.focus()
            if self.snapshot is not None:
                # Once laid out: how many rows fit decides where the window starts.
                self.call_after_refresh(diagram.show_position, self.snapshot.position)
        else:
            screen.query_one(MessagesTable).focus()

    def _follow_in_diagram(self, screen: MainScreen, snap: Snapshot) -> None:
        """The diagram's cursor follows the app, unless the cursor itself is leading it somewhere."""
        diagram = screen.query_one(DiagramView)
        diagram.nodes = snap.ids
        diagram.matches = self.search.positions if self.search is not None else []
        if self._diagram_next is not None and not self.controller.busy:
            target, self._diagram_next = self._diagram_next, None
            self._diagram_want = target
            self.controller.rewind(target)
            return
        if self._diagram_want is not None:
            # Still on its way there (a goto queued, running, or its update not applied yet):
            # do not pull the cursor back to where the app was.
            pending = self.controller.busy or self.applied < self.controller.reported
            if snap.position != self._diagram_want and (pending or self._diagram_going):
                diagram.refresh()
                return  # on its way there: do not pull the cursor back
            self._diagram_want = None
        if diagram.display:
            diagram.show_position(snap.position)

    def on_diagram_view_cursor_moved(self, event: DiagramView.CursorMoved) -> None:
        self.playing = False
        if self.controller.busy:
            self._diagram_next = event.position  # the last one wins: no queue of jumps
            self._diagram_want = event.position
            return
        self._diagram_want = event.position
        # After the diagram has painted its cursor: a goto's replay on the lab thread competes
        # with the paint for the interpreter, and the cursor must move at once.
        self._diagram_going = True
        self.call_after_refresh(self._diagram_go, event.position)

    def _diagram_go(self, position: int) -> None:
        if self._diagram_want != position:
            return  # the cursor moved on since: its own call follows
        self._diagram_going = False
        if self._diagram_next is None:
            self.controller.rewind(position)

    def on_diagram_view_closed(self, _event: DiagramView.Closed) -> None:
        self.show_diagram(False)

    def on_diagram_view_message_chosen(self, event: DiagramView.MessageChosen) -> None:
        """Show what the chosen message said, how it ended, and why its receiver acted as it did."""
        screen = self.get_screen_stack_main()
        if screen is None:
            return
        diagram = screen.query_one(DiagramView)
        diagram.chosen = event.msg
        diagram.detail = (f"#{event.msg}: reading it…",)
        diagram.refresh()
        future = self.diagram_detail = self.controller.events_at(event.position)
        loop = asyncio.get_running_loop()

        def done(_future: object) -> None:
            try:
                found, error = future.result(), ""
            except Exception as exc:  # noqa: BLE001 - shown, never a crash of the app
                found, error = [], f"{type(exc).__name__}: {exc}"
            loop.call_soon_threadsafe(self._show_message, diagram, event.msg, found, error)

        future.add_done_callback(done)

    def _show_message(self, diagram: DiagramView, msg: int, found: list[Event], error: str) -> None:
        if diagram.chosen != msg:
            return  # another message was chosen since
        diagram.chosen = msg
        diagram.detail = message_detail(msg, found, error)
        diagram.refresh()

    def action_select(self, node: int) -> None:
        if self.snapshot is not None and self.snapshot.node(node) is not None:
            self.selected = node
            for inspector in self.query(Inspector):
                inspector.inspect_message(None)  # a node chosen again: show it, not the message
            self.redraw()

    def action_crash(self) -> None:
        self.run_command(f"crash {self.selected}")

    def action_restart(self) -> None:
        self.run_command(f"restart {self.selected}")

    def action_timeout(self) -> None:
        self.run_command(f"timeout {self.selected}")

    def action_transfer(self) -> None:
        self.run_command(f"transfer {self.selected}")

    def action_restart_leader(self) -> None:
        leader = self.snapshot.leader if self.snapshot else 0
        if not leader:
            self.notify("there is no leader to restart", severity="warning")
            return
        self.run_command(f"crash {leader}")
        self.run_command(f"restart {leader}")

    def action_add_node(self) -> None:
        in_use = self.snapshot.ids if self.snapshot else ()
        free = [i for i in range(1, MAX_NODES + 1) if i not in in_use]
        if not free:
            self.notify(f"every node id 1-{MAX_NODES} is in use", severity="warning")
            return

        def done(value: str | None) -> None:
            if not value:
                return
            node, _, rest = value.partition(" ")
            if not node.isdigit() or int(node) not in free:
                free_text = ", ".join(map(str, free))
                self.notify(f"choose a free node id: {free_text}", severity="error")
                return
            self.run_command(f"add {node} {rest}".strip())

        self.push_screen(add_dialog(in_use, free), done)

    def action_remove_node(self) -> None:
        self.run_command(f"remove {self.selected}")

    def action_snapshot(self) -> None:
        self.run_command(f"snapshot {self.selected}")

    def action_spread(self) -> None:
        self.run_command("timers spread")

    def action_align(self) -> None:
        self.run_command("timers align")

    def _selected_message(self) -> int | None:
        if self.lesson_busy:
            # A lesson key is rewinding or replaying: the list on screen is about to be
            # replaced, and the id under the cursor may name another message afterwards
            # (after a rewind, history forks). Act only on what will still be shown.
            self.notify(
                "the lesson is still moving the cluster: select the message again", severity="warning"
            )
            return None
        screen = self.get_screen_stack_main()
        selected = screen.query_one(MessagesTable).selected_id() if screen else None
        if selected is None:
            self.notify("no message selected (messages in flight: bottom left)", severity="warning")
        return selected

    def action_deliver(self) -> None:
        if (flight := self._selected_message()) is not None:
            self.playing = False
            self.run_command(f"deliver {flight}")

    def action_drop(self) -> None:
        if (flight := self._selected_message()) is not None:
            self.run_command(f"drop {flight}")

    def action_duplicate(self) -> None:
        if (flight := self._selected_message()) is not None:
            self.run_command(f"duplicate {flight}")

    def action_partition(self) -> None:
        nodes = self.snapshot.ids if self.snapshot else (1, 2, 3, 4, 5)

        def done(value: str | None) -> None:
            if value:
                self.run_command(f"partition {value}")
            elif value is not None:  # Enter on an empty line: never silent
                self.notify(
                    "nothing partitioned: type groups of node ids, e.g. 1,2 | 3,4,5 (P again)",
                    severity="warning",
                )

        self.push_screen(partition_dialog(nodes), done)

    def action_heal(self) -> None:
        self.run_command("heal")

    def action_network(self) -> None:
        snap = self.snapshot
        loss, latency = (snap.loss, snap.latency) if snap else (0.0, (10, 20))

        def done(value: str | None) -> None:
            if not value:
                return
            words = value.split()
            for name, arg in zip(words[::2], words[1::2], strict=False):
                self.run_command(f"{name} {arg}")

        self.push_screen(network_dialog(loss, latency), done)

    def action_client_request(self) -> None:
        self._writes += 1
        leader = self.snapshot.leader if self.snapshot else 0
        via = f" via={leader}" if leader else ""
        self.run_command(f"put k{self._writes} v{self._writes}{via}")

    def action_client_dialog(self) -> None:
        def done(value: str | None) -> None:
            if value:
                self.run_command(value)

        self.push_screen(client_dialog(), done)

    def action_command(self, value: str = "") -> None:
        def done(value: str | None) -> None:
            if value:
                self.run_command(value)

        self.push_screen(command_line(value), done)

    def action_breakpoint(self) -> None:
        """The command line, prefilled: ``break leader``, ``break msg=AppendEntries``..."""

        def done(value: str | None) -> None:
            if value:
                self.run_command(value)  # "break" alone lists them

        self.push_screen(breakpoint_dialog(), done)

    def breakpoint_text(self) -> str:
        """The header's breakpoint field: the first one's condition, and how many more.
        (The header shortens it to "break" when the line is short of room.)"""
        if not self.breakpoints:
            return ""
        more = f" +{len(self.breakpoints) - 1}" if len(self.breakpoints) > 1 else ""
        return f"{self.breakpoints[0]}{more}"

    def _lesson_pace(self, previous: LessonView | None, entered: LessonView) -> None:
        """A step that asks for a pace plays at it; leaving such a step goes back to the
        lesson's pace. Otherwise the learner's own choice (+/-) stays."""
        labels = [label for label, _factor in SPEEDS]
        if entered.pace and entered.pace in labels:
            self.speed = labels.index(entered.pace)
            self.notify(f"this step plays at {entered.pace} (+/- to change)", timeout=4)
        elif previous is not None and previous.pace:
            self.speed = labels.index(LESSON_SPEED)

    def _lesson_working(self, text: str) -> None:
        """Say at once that a lesson action is under way (it may replay many events)."""
        self.playing = False
        self.await_next = False
        self.lesson_busy = self.working = text
        self.redraw()

    @property
    def _followed_lesson(self) -> bool:
        """A follower shows its teacher's lesson: its controller answers the lesson keys."""
        return (
            self.options.lesson is None and self.lesson_view is not None and self.options.follow is not None
        )

    def action_lesson_back(self) -> None:
        if self._followed_lesson:
            self.controller.lesson_back()
            return
        if self.options.lesson is None:
            self.notify("no lesson is open (raftviz lesson NAME opens one)", severity="warning")
            return
        self._lesson_working("back to the previous step…")
        self.controller.lesson_back()

    def action_next_lesson(self) -> None:
        if self._followed_lesson:
            self.notify("the teacher chooses the lesson", severity="warning")
            return
        lesson = self.options.lesson
        if lesson is None:
            self.notify("no lesson is open (raftviz lesson NAME opens one)", severity="warning")
            return
        try:
            following = next_lesson(lesson)
        except LessonError as exc:
            self.notify(f"cannot open the next lesson: {exc}", severity="error", timeout=10)
            return
        if following is None:
            self.notify("this is the last lesson (raftviz lesson lists them all)", severity="warning")
            return
        self.options = replace(self.options, lesson=following)
        self.lesson_view = None
        self.selected = 1  # the next lesson may have fewer nodes than the selected one
        self.show_hint = False
        self._violation_seen = 0
        self._lesson_working(f"opening {following.title}…")
        self.controller.start_lesson(following)

    def action_lesson_jump(self) -> None:
        if self._followed_lesson:
            self.controller.lesson_jump(0)
            return
        view = self.lesson_view
        if self.options.lesson is None:
            self.notify("no lesson is open (raftviz lesson NAME opens one)", severity="warning")
            return
        if view is None:
            # The lesson is still being set up: say so rather than seem to ignore the key.
            self.notify("the lesson is still loading: press j again in a moment", severity="warning")
            return

        def done(value: str | None) -> None:
            if value is None:
                return
            if not value.isdigit() or not 1 <= int(value) <= view.total:
                self.notify(f"a step is a number from 1 to {view.total}", severity="error")
                return
            self._lesson_working(f"going to step {value}…")
            self.controller.lesson_jump(int(value) - 1)

        titles = "  ".join(f"{i + 1}. {s.title}" for i, s in enumerate(self.options.lesson.steps))
        self.push_screen(PromptScreen("Jump to a step", titles, placeholder=str(view.index + 1)), done)

    def action_lesson_hint(self) -> None:
        self.show_hint = True
        self.redraw()

    def action_lesson_reset(self) -> None:
        if self._followed_lesson:
            self.controller.lesson_reset()
        elif self.options.lesson is not None:
            self._lesson_working("back to the start of this step…")
            self.controller.lesson_reset()

    def action_next_line(self) -> None:
        if self.options.lesson is not None or self._followed_lesson:
            self._lesson_working("next step…")
            self.controller.lesson_next()
            return
        if self.script_next >= len(self.script_lines):
            self.notify("no loaded script, or it has run to its end", severity="warning")
            return
        self.run_command(self.script_lines[self.script_next])
        self.script_next += 1
        self.redraw()

    def action_run_script(self) -> None:
        while self.script_next < len(self.script_lines):
            self.action_next_line()

    def action_save(self, default: str = "raftviz-session.txt") -> None:
        def write(path: str) -> None:
            lines = self.controller.script().result(timeout=30)
            try:
                Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
            except OSError as exc:
                self.notify(f"cannot save: {exc}", severity="error")
                return
            self.notify(f"saved to {path}: {script_summary(lines)}")

        def done(value: str | None) -> None:
            if not value:
                return
            if not Path(value).exists():
                write(value)
                return

            def confirmed(overwrite: bool | None) -> None:
                if overwrite:
                    write(value)
                else:
                    # Cancelled, not reopened: keys typed right after "n" belong to the main
                    # screen (a reopened name box would swallow them into the file name).
                    self.notify(f"not saved: {value} is unchanged (s to save under another name)")

            self.push_screen(
                ConfirmScreen(
                    "Overwrite?", f"{value} already exists. Replace it with this session? (n: not saved)"
                ),
                confirmed,
            )

        self.push_screen(save_dialog(default), done)

    def action_help(self) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for section, keys, _action, _label, text, _show in KEYS:
            label = KEY_LABELS.get(keys, keys)
            sections.setdefault(section, []).append((label, text))
        self.push_screen(HelpScreen(list(sections.items())))

    def on_cluster_view_node_clicked(self, event: ClusterView.NodeClicked) -> None:
        self.action_select(event.node_id)

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        """Enter (or a click on the highlighted row) on a feed row jumps there in history."""
        if isinstance(event.row_list, EventFeed):
            position = event.row_list.selected_position()
            if position is not None and self.snapshot and position != self.snapshot.position:
                self.playing = False
                self.controller.rewind(position)

    def get_system_commands(self, screen: Screen):  # noqa: ANN201 - Textual's own signature
        yield from super().get_system_commands(screen)
        for _section, _keys, action, _label, text, _show in KEYS:
            if action == "select":
                continue
            yield SystemCommand(
                text[0].upper() + text[1:], f"raftviz: {text}", getattr(self, f"action_{action}")
            )
        yield SystemCommand(
            "Breakpoint",
            "raftviz: stop play where a condition becomes true or an event happens (break COND)",
            self.action_breakpoint,
        )
