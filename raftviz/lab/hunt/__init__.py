"""``raftviz hunt``: random fault schedules as scripts, a runner that finds the first
invariant violation, and a shrinker that cuts a failing script down to a minimal one.

generate.py writes a schedule (a scenario script) from a seed; runner.py runs one
and reports the first violation; shrink.py minimises a failing one; search.py
runs many seeds over worker processes and writes the counterexample.
"""
