"""Modal screens: help, the command line, and the dialogs that build commands.

Every dialog ends in a scenario-language command (shown in the event feed),
so anything done with a dialog can be typed, saved and replayed.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, ScreenResultType
from textual.widgets import Input, Label, Static


class Dialog(ModalScreen[ScreenResultType]):
    """A modal screen that knows when it is closing.

    A key reaches a widget through message queues, and dismissing takes a few
    turns of the event loop. A key typed right after Enter or Escape (a fast
    typist, a burst from ``tmux send-keys``) used to reach the closing dialog
    (typed into its input, or taken as its own key) and be lost. The app marks
    the dialog closing when one of its ``CLOSING_KEYS`` *arrives*, holds every
    key after it, and hands them to the screen below once the dialog is gone.
    """

    #: Keys that always close this dialog (Textual key names).
    CLOSING_KEYS: frozenset[str] = frozenset({"escape"})
    closing = False

    def close(self, result: ScreenResultType) -> None:
        self.closing = True
        self.dismiss(result)


class PromptScreen(Dialog[str | None]):
    """One line of input; dismissed with the text (Enter, "" for an empty line) or None (Escape)."""

    CLOSING_KEYS = frozenset({"enter", "escape"})

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(
        self, title: str, hint: str, value: str = "", placeholder: str = "", select: bool = False
    ) -> None:
        super().__init__()
        self.title_text = title
        self.hint = hint
        self.value = value
        self.placeholder = placeholder
        #: The value is a ready example: selected, so Enter applies it and typing replaces it.
        self.select = select

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield Static(self.hint, id="dialog-hint")
            # Not selected on focus: a prefilled "put " is meant to be typed after.
            yield Input(
                value=self.value, placeholder=self.placeholder, id="dialog-input", select_on_focus=False
            )

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.focus()
        field.cursor_position = len(field.value)
        if self.select:
            field.select_all()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # "" (Enter on an empty line) is not None (Escape): a dialog may say what to type.
        self.close(event.value.strip())

    def action_cancel(self) -> None:
        self.close(None)


def command_line(value: str = "") -> PromptScreen:
    return PromptScreen(
        "Command",
        "Any scenario command: step 5 · crash 3 · partition 1,2 | 3,4,5 · put x 1 · until leader · "
        "deliver 2->3 AppendEntries · add 6 · remove leader · snapshot 2 · writes 300 · log 1 · status "
        "(Enter runs it, Escape cancels)",
        value=value,
        placeholder="until leader",
    )


def search_dialog(value: str = "") -> PromptScreen:
    return PromptScreen(
        "Search the history",
        "Fields and words, all must hold: type=AppendEntries · from=1 · to=3 · node=2 · term=4 · id=12 · "
        'kind=role · rejected · lost · dropped · "link cut" · any words of an event. Enter goes to the next '
        "match; then F3 next, F2 or shift+F3 previous, F shows only matching rows (Escape cancels)",
        value=value,
        placeholder="type=AppendEntries rejected",
        select=bool(value),
    )


def breakpoint_dialog() -> PromptScreen:
    return PromptScreen(
        "Breakpoint: stop play when…",
        "A condition becoming true or an event: leader · leader=2 · role=candidate node=2 · "
        "3.term >= 4 · msg=AppendEntries node=3 · lost=RequestVote · commit node=1 · kv x=1 · "
        "invariant. 'break' alone lists them; unbreak N removes one (Enter sets it, Escape cancels)",
        value="break ",
        placeholder="break leader",
    )


def partition_dialog(nodes: tuple[int, ...]) -> PromptScreen:
    half = len(nodes) // 2
    example = " | ".join(",".join(str(n) for n in group) for group in (nodes[:half], nodes[half:]) if group)
    return PromptScreen(
        "Partition the cluster",
        f"Groups of node ids separated by |, e.g. {example} or 1 | 2 | 3,4,5. "
        "Nodes you leave out form one more group. Enter applies the groups below "
        "(type to replace them); Escape cancels; H heals everything.",
        value=example,
        select=True,
    )


def add_dialog(in_use: tuple[int, ...], free: list[int]) -> PromptScreen:
    return PromptScreen(
        "Add a node",
        f"A free node id ({', '.join(map(str, free))}; in use: {', '.join(map(str, in_use)) or 'none'}). "
        "It starts empty, with no configuration; the leader adds it as a learner, sends it the log "
        "(or a snapshot), and makes it a voter once it has caught up. Add via=N to ask node N.",
        value=str(free[0]),
    )


def client_dialog() -> PromptScreen:
    return PromptScreen(
        "Client request",
        "put KEY VALUE · get KEY · append KEY VALUE · delete KEY  (add via=N to send it to node N first)",
        value="put ",
    )


def network_dialog(loss: float, latency: tuple[int, int]) -> PromptScreen:
    return PromptScreen(
        "Network settings",
        "loss P (0 to 1) and/or latency MIN-MAX in ms, e.g. 'loss 0.1' or 'latency 5-40' "
        "or 'loss 0 latency 10-20'",
        value=f"loss {loss:g} latency {latency[0]}-{latency[1]}",
    )


def jump_dialog(last: int) -> PromptScreen:
    return PromptScreen(
        "Go anywhere in history",
        f"A history position from 0 to {last} (the feed's first column, on any branch) or a mark's name. "
        "Acting there starts a new branch; the future you left stays (B shows the branches).",
        placeholder=str(max(last - 10, 0)),
    )


def save_dialog(default: str) -> PromptScreen:
    return PromptScreen(
        "Save the session as a scenario script",
        "Replaying it (raftviz run FILE, or raftviz --load FILE) reproduces this session exactly.",
        value=default,
    )


class ConfirmScreen(Dialog[bool]):
    """A yes/no question: y answers yes, n or Escape answers no.

    Enter does not answer: after Enter in the save dialog, a second Enter
    should not replace a file by accident.
    """

    BINDINGS = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]
    CLOSING_KEYS = frozenset({"y", "n", "escape"})

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self.title_text = title
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield Static(self.question, id="dialog-hint")
            yield Static("[b]y[/b]: yes    [b]n[/b] or Escape: no", id="dialog-keys")

    def action_answer(self, yes: bool) -> None:
        self.close(yes)


class HelpScreen(Dialog[None]):
    """Every key, grouped, with what it does."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "close")]
    CLOSING_KEYS = frozenset({"escape", "q", "question_mark"})

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        lines = [
            "[b]raftviz — keys[/b]  (↑/↓ PgUp/PgDn Home/End scroll; Escape closes; "
            "every key is also a command you can type after ':')",
            "",
        ]
        for title, rows in self.sections:
            lines.append(f"[b u]{title}[/b u]")
            for key, text in rows:
                # Escaped: the key "[" would otherwise open a markup tag and eat the line.
                label = f"{key:<14}".replace("[", "\\[")
                lines.append(f"  [b cyan]{label}[/b cyan] {text}")
            lines.append("")
        lines.append(
            "Breakpoints (: or the palette's Breakpoint): break leader · break role=candidate node=2 · "
            "break msg=AppendEntries · break lost=RequestVote · break commit · break kv x=1; play, "
            "advance and until stop where one fires and say which; 'break' lists them, unbreak N removes one."
        )
        lines.append("↑/↓ choose a message in flight (Tab moves to the event feed: ↑/↓, Enter jumps back).")
        lines.append("Mouse: click a node to select it; click a message or feed row to select it.")
        lines.append("Ctrl+P opens the command palette with every action.")
        # A focused scroll container: ↑/↓, PageUp/PageDown, Home/End reach every line.
        with VerticalScroll(id="help"):
            yield Static("\n".join(lines), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help").focus()

    def action_close(self) -> None:
        self.close(None)
