"""``raftviz serve``: the app in a browser tab, with textual-serve.

textual-serve runs a command per browser connection (a websocket) and
relays the terminal: each tab gets its own ``raftviz`` process, hence its
own cluster (or its own follower of a teacher). When the tab closes,
textual-serve asks the app to quit, which stops its node processes as ``q``
does. At most ``max_sessions`` tabs run at once: a page asked for when all
are in use says so, and a websocket opened past the limit is closed at once.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

#: The page shown when every session is in use.
FULL_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>raftviz: full</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>raftviz is full</h1>
<p>All {limit} sessions of this server are in use. Close a tab, or try again in a minute.</p>
</body></html>
"""


def app_command(
    follow: str | None = None, code: str = "", lesson: str | None = None, backend: str = "udp"
) -> list[str]:
    """The command a browser tab runs: this Python, this raftviz, the options given to serve."""
    command = [sys.executable, "-m", "raftviz", "--backend", backend]
    if follow:
        command += ["--follow", follow] + (["--code", code] if code else [])
    elif lesson:
        command += ["lesson", lesson, "--backend", backend]
    return command


def make_server(  # noqa: ANN201 - textual-serve's Server, imported lazily
    command: list[str], host: str, port: int, max_sessions: int, public_url: str | None = None
):
    """A textual-serve ``Server`` that runs ``command`` per tab, at most ``max_sessions`` at once."""
    from aiohttp import web
    from textual_serve.server import Server

    class LimitedServer(Server):
        """textual-serve's server with a limit on the apps running at once."""

        def __init__(self) -> None:
            super().__init__(
                shlex.join(command), host=host, port=port, title="raftviz", public_url=public_url
            )
            self.max_sessions = max_sessions
            self.sessions = 0

        async def handle_index(self, request: web.Request) -> Any:  # noqa: ANN401
            if self.sessions >= self.max_sessions:
                page = FULL_PAGE.format(limit=self.max_sessions)
                return web.Response(text=page, status=503, content_type="text/html")
            return await super().handle_index(request)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            if self.sessions >= self.max_sessions:
                websocket = web.WebSocketResponse()
                await websocket.prepare(request)
                await websocket.close(message=b"raftviz is full")
                return websocket
            self.sessions += 1
            try:
                return await super().handle_websocket(request)
            finally:
                self.sessions -= 1

    return LimitedServer()
