"""Sharing a session with a class: the teacher publishes its command stream, followers replay it.

A run is a pure function of (seed, commands) (docs/architecture.md), so sharing
needs no shared state and no screen streaming: ``server`` publishes every
command the teacher's history runs, ``client`` receives them for a follower,
which runs them on its own history with its own node processes; ``serve`` puts
the app in a browser tab with textual-serve. The layer sits above the lab
(it only reads a ``History``'s command stream) and below the TUI.
"""
