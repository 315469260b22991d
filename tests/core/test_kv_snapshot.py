"""A snapshot's bytes are canonical JSON of the whole state, however they were put together.

``KVStore.snapshot_json`` re-encodes only the keys written since the store's
last snapshot (raftviz.core.kv). Whatever the history (writes, appends,
deletes, sessions, snapshots between them, a checkpoint copy, a pickle round
trip, a restore), the bytes must be exactly those of encoding the whole state
at once, as every earlier raftviz wrote them: nodes, the lab and saved files
compare and checksum them.
"""

from __future__ import annotations

import copy
import json
import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from raftviz.core.kv import KVStore, restore_snapshot
from raftviz.core.membership import Configuration
from raftviz.core.messages import Command
from raftviz.core.snapshot import FORMAT, encode_snapshot

CONFIG = Configuration.of([1, 2, 3])

#: Keys and values with what JSON must escape: quotes, backslashes, control and non-ASCII characters.
TEXT = st.text(
    alphabet=st.sampled_from(["a", "b", "k", '"', "\\", "\n", "\x01", "é", "日", "\u2028", "😀"]), max_size=4
)

#: Few keys, so that writes, deletes and snapshots meet on the same ones; some need escaping.
KEY = st.sampled_from(["a", "b", "k1", "k10", "k2", 'q"', "é", "\n", "日", ""])
COMMAND = st.tuples(st.sampled_from(["put", "append", "delete", "get"]), KEY, TEXT, st.integers(0, 3))
STEP = st.one_of(
    COMMAND,
    st.sampled_from(["snapshot", "copy", "pickle", "restore", "by-hand"]),
)


def whole(kv: KVStore, index: int) -> bytes:
    """The snapshot's bytes as json.dumps of the whole body writes them."""
    body = {
        "format": FORMAT,
        "index": index,
        "term": 1,
        "configuration": CONFIG.to_value(),
        **kv.snapshot_state(),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(STEP, max_size=60))
def test_a_snapshot_is_the_whole_state_encoded_at_once(steps: list[object]) -> None:
    kv = KVStore(expiry=0)
    index = 0
    for step in steps:
        if isinstance(step, tuple):
            op, key, value, client = step
            index += 1
            seq = index
            command = Command(
                op, key, value if op in ("put", "append") else "", f"c{client}" if client else "", seq
            )
            kv.execute(command, index, index)
        elif step == "snapshot":
            assert encode_snapshot(index, 1, CONFIG, kv).data == whole(kv, index)
        elif step == "copy":
            kv = copy.deepcopy(kv)
        elif step == "pickle":
            kv = pickle.loads(pickle.dumps(kv))
        elif step == "restore":
            _, kv = restore_snapshot(encode_snapshot(index, 1, CONFIG, kv).data)
        else:
            kv.data["by-hand"] = str(index)  # as a test might: then it says so
            kv.forget_encoding()
    assert encode_snapshot(index, 1, CONFIG, kv).data == whole(kv, index)


def test_many_keys_deleted_between_snapshots_are_not_remembered() -> None:
    """Keys written and deleted between snapshots do not pile up (a long run stays bounded)."""
    kv = KVStore()
    kv.execute(Command("put", "kept", "1"), 1)
    encode_snapshot(1, 1, CONFIG, kv)
    for n in range(10_000):
        kv.execute(Command("put", f"k{n}", "v"), n + 2)
        kv.execute(Command("delete", f"k{n}"), n + 2)
    assert len(kv._touched) <= 2 * len(kv.data) + 65
    assert encode_snapshot(n + 2, 1, CONFIG, kv).data == whole(kv, n + 2)


def test_equal_stores_pickle_alike_whether_or_not_they_were_snapshotted() -> None:
    a, b = KVStore(), KVStore()
    for kv in (a, b):
        kv.execute(Command("put", "x", "1"), 1)
    encode_snapshot(1, 1, CONFIG, a)
    assert pickle.dumps(a) == pickle.dumps(b)
