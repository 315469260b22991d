"""raftviz: watch Raft work by stepping through a real cluster."""

__version__ = "0.1.0"
