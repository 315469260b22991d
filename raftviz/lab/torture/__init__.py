"""``raftviz torture``: a Jepsen-style check of a free-mode cluster of real node processes.

Concurrent clients run puts, appends and gets while faults are injected on
the wall clock; the recorded history is then checked for linearizability
(:mod:`raftviz.lab.linearizability`) and for lost writes. This is the one
part of the lab that runs on the wall clock and starts processes outside the
udp backend: it tests free mode, which is not reproducible by nature
(docs/torture.md).

- :mod:`.cluster`: the node processes in a temporary directory;
- :mod:`.workload`: the client threads and the history they record;
- :mod:`.nemesis`: the fault thread;
- :mod:`.run`: one run, start to verdict, and its summary;
- :mod:`.report`: the HTML timeline.
"""
