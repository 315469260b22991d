"""Raft as a pure, deterministic state machine: no I/O, no clock, seeded randomness."""
