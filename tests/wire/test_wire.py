"""The wire codec: round trips, robustness against arbitrary bytes, and specific rejections."""

from __future__ import annotations

import dataclasses
import random
import zlib
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftviz import wire
from raftviz.core.membership import Configuration
from raftviz.core.messages import (
    OPS,
    READ_MODES,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    Entry,
    InstallSnapshot,
    InstallSnapshotReply,
    Message,
    PreVote,
    PreVoteReply,
    RequestVote,
    RequestVoteReply,
    StatusReply,
    StatusRequest,
    TimeoutNow,
    TransferRequest,
)
from raftviz.wire import (
    MAX_CHUNK,
    MAX_DATAGRAM,
    MAX_ENTRIES,
    MAX_NODE_ID,
    MAX_STR_BYTES,
    PROTOCOL_VERSION,
    TAGS,
    WireError,
    decode,
    encode,
    entry_from_wire,
    entry_to_wire,
)

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MESSAGE_CLASSES = (
    RequestVote,
    RequestVoteReply,
    AppendEntries,
    AppendEntriesReply,
    ClientRequest,
    ClientReply,
    StatusRequest,
    StatusReply,
    InstallSnapshot,
    InstallSnapshotReply,
    PreVote,
    PreVoteReply,
    TimeoutNow,
    TransferRequest,
)
ROLES = ("follower", "pre-candidate", "candidate", "leader")

# --------------------------------------------------------------------------- strategies

INDEX_MAX = 2**63 - 1
# Mostly small numbers (what a run produces), sometimes the extremes of the range.
indexes = st.one_of(st.integers(0, 1000), st.integers(0, INDEX_MAX), st.sampled_from([0, INDEX_MAX]))
node_ids = st.one_of(st.integers(1, 9), st.integers(1, MAX_NODE_ID), st.just(MAX_NODE_ID))
node_ids_or_zero = st.one_of(st.just(0), node_ids)
client_ids = st.text(min_size=1, max_size=64)
texts = st.text(max_size=40)

# Valid configurations in their canonical text (Configuration.of sorts, removes duplicates and overlap).
configurations = st.builds(
    Configuration.of, st.lists(node_ids, max_size=7), st.lists(node_ids, max_size=3)
).map(Configuration.to_value)
commands = st.one_of(
    st.builds(
        Command,
        op=st.sampled_from([op for op in OPS if op != "config"]),
        key=texts,
        value=texts,
        client=st.text(max_size=64),
        seq=indexes,
        low=indexes,
    ),
    # A config command's value must be a configuration; its other fields are free.
    st.builds(
        Command,
        op=st.just("config"),
        key=texts,
        value=configurations,
        client=st.text(max_size=64),
        seq=indexes,
        low=indexes,
    ),
)
entries = st.builds(Entry, term=indexes, command=commands, stamp=indexes)
# Snapshot chunks: small random ones, and slices of a random MAX_CHUNK block up to its whole length.
BIG_CHUNK = random.Random(9).randbytes(MAX_CHUNK)
chunks = st.one_of(
    st.binary(max_size=64),
    st.integers(0, MAX_CHUNK).map(lambda n: BIG_CHUNK[:n]),
    st.just(BIG_CHUNK),
)
checksums = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 2**32 - 1]))

#: A heartbeat round: 0 (left off the wire) or a number (raftviz.core.reads).
rounds = st.one_of(st.just(0), st.integers(1, 2**63 - 1))

STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    RequestVote: st.builds(
        RequestVote,
        src=node_ids,
        dst=node_ids,
        term=indexes,
        last_log_index=indexes,
        last_log_term=indexes,
    ),
    RequestVoteReply: st.builds(
        RequestVoteReply, src=node_ids, dst=node_ids, term=indexes, vote_granted=st.booleans()
    ),
    AppendEntries: st.builds(
        AppendEntries,
        src=node_ids,
        dst=node_ids,
        term=indexes,
        prev_log_index=indexes,
        prev_log_term=indexes,
        entries=st.lists(entries, max_size=8).map(tuple),
        leader_commit=indexes,
        round=rounds,
    ),
    AppendEntriesReply: st.builds(
        AppendEntriesReply,
        src=node_ids,
        dst=node_ids,
        term=indexes,
        success=st.booleans(),
        match_index=indexes,
        conflict_index=indexes,
        conflict_term=indexes,
        round=rounds,
    ),
    ClientRequest: st.builds(
        ClientRequest, src=client_ids, dst=node_ids, command=commands, read=st.sampled_from(["", *READ_MODES])
    ),
    ClientReply: st.builds(
        ClientReply,
        src=node_ids,
        dst=client_ids,
        seq=indexes,
        ok=st.booleans(),
        value=st.none() | texts,
        leader_hint=node_ids_or_zero,
        error=texts,
    ),
    StatusRequest: st.builds(StatusRequest, src=client_ids, dst=node_ids),
    StatusReply: st.builds(
        StatusReply,
        src=node_ids,
        dst=client_ids,
        role=st.sampled_from(ROLES),
        term=indexes,
        vote=node_ids_or_zero,
        leader=node_ids_or_zero,
        commit=indexes,
        applied=indexes,
        last_index=indexes,
        dropped=indexes,
        configuration=configurations,
        snapshot_index=indexes,
    ),
    InstallSnapshot: st.builds(
        InstallSnapshot,
        src=node_ids,
        dst=node_ids,
        term=indexes,
        last_included_index=indexes,
        last_included_term=indexes,
        offset=indexes,
        data=chunks,
        done=st.booleans(),
        checksum=checksums,
    ),
    InstallSnapshotReply: st.builds(
        InstallSnapshotReply,
        src=node_ids,
        dst=node_ids,
        term=indexes,
        last_included_index=indexes,
        offset=indexes,
        done=st.booleans(),
    ),
    PreVote: st.builds(
        PreVote, src=node_ids, dst=node_ids, term=indexes, last_log_index=indexes, last_log_term=indexes
    ),
    PreVoteReply: st.builds(
        PreVoteReply, src=node_ids, dst=node_ids, term=indexes, vote_granted=st.booleans()
    ),
    TimeoutNow: st.builds(TimeoutNow, src=node_ids, dst=node_ids, term=indexes),
    TransferRequest: st.builds(TransferRequest, src=client_ids, dst=node_ids, target=node_ids),
}
messages = st.one_of(*STRATEGIES.values())

# Arbitrary msgpack-able values, to put where fields are expected.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=10),
    st.binary(max_size=10),
    st.sampled_from(
        [*OPS, *ROLES, "Leader", "", "c1", "1,2,3", "1/2", "3,1", 2**63, 2**32, 2**31, 2**31 + 1, -1, 0, 1]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(st.text(max_size=4) | st.integers(-(2**63), 2**64 - 1), inner, max_size=3)
    ),
    max_leaves=20,
)


def check_decode(data: bytes) -> None:
    """decode either returns a valid message (which round-trips) or raises WireError; nothing else."""
    try:
        msg = decode(data)
    except WireError:
        return
    assert type(msg) in MESSAGE_CLASSES
    assert decode(encode(msg)) == msg


def pack(*items: object) -> bytes:
    return msgpack.packb(list(items), use_bin_type=True)


# --------------------------------------------------------------------------- the table


def test_strategies_cover_every_message_class() -> None:
    assert set(STRATEGIES) == set(MESSAGE_CLASSES) == set(TAGS.values())


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
def test_wire_field_order_is_the_dataclass_field_order(cls: type) -> None:
    # decode builds messages positionally: a field added to messages.py must be added here too.
    spec = wire._BY_CLASS[cls]
    assert spec.fields == tuple(f.name for f in dataclasses.fields(cls))


def test_tags_are_distinct_small_ints() -> None:
    assert len(TAGS) == len(MESSAGE_CLASSES)
    assert all(0 < tag < 64 for tag in TAGS)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
@FAST
@given(data=st.data())
def test_round_trip(cls: type, data: st.DataObject) -> None:
    msg = data.draw(STRATEGIES[cls])
    encoded = encode(msg)
    assert isinstance(encoded, bytes)
    assert len(encoded) <= MAX_DATAGRAM
    decoded = decode(encoded)
    assert decoded == msg
    assert type(decoded) is cls
    assert encode(decoded) == encoded


def test_round_trip_long_strings() -> None:
    # Longer than the fast path's character bound, still within 64 KiB and one datagram.
    cmd = Command("put", "k" * 20_000, "é" * 15_000, "c1", 1, 0)
    msg = ClientRequest("c1", 3, cmd)
    assert decode(encode(msg)) == msg
    reply = ClientReply(3, "c1", 1, True, "v" * 30_000)
    assert decode(encode(reply)) == reply
    refusal = ClientReply(3, "c1", 1, False, None, 0, "€" * 20_000)  # 60,000 UTF-8 bytes
    assert decode(encode(refusal)) == refusal


def test_round_trip_bytes_like_input() -> None:
    msg = RequestVote(1, 2, 3, 4, 5)
    data = encode(msg)
    assert decode(bytearray(data)) == msg
    assert decode(memoryview(data)) == msg


PUT_X = Command("put", "x", "1", "c1", 3, 2)
GOLDEN = [
    # The examples of docs/protocol.md section 6; another implementation must produce exactly these.
    (AppendEntries(1, 2, 5, 10, 4, (), 9), "99 01 03 01 02 05 0a 04 90 09"),
    (RequestVote(3, 1, 7, 12, 6), "97 01 01 03 01 07 0c 06"),
    (RequestVoteReply(2, 1, 7, True), "96 01 02 02 01 07 c3"),
    (
        AppendEntries(1, 2, 5, 10, 4, (Entry(5, PUT_X, 1200),), 9),
        "99 01 03 01 02 05 0a 04 91 93 05 96 a3 70 75 74 a1 78 a1 31 a2 63 31 03 02 cd 04 b0 09",
    ),
    (AppendEntriesReply(2, 1, 5, False, 0, 8, 4), "99 01 04 02 01 05 c2 00 08 04"),
    (ClientRequest("c1", 1, PUT_X), "95 01 05 a2 63 31 01 96 a3 70 75 74 a1 78 a1 31 a2 63 31 03 02"),
    (ClientReply(1, "c1", 3, False, None, 2), "99 01 06 01 a2 63 31 03 c2 c0 02 a0"),
    (
        ClientReply(1, "c1", 4, False, None, 0, "too large"),
        "99 01 06 01 a2 63 31 04 c2 c0 00 a9 74 6f 6f 20 6c 61 72 67 65",
    ),
    (StatusRequest("c1", 2), "94 01 07 a2 63 31 02"),
    (
        StatusReply(2, "c1", "follower", 7, 1, 1, 12, 12, 12, 0, "1,2,3", 8, 3, (("term-too-large", 1),)),
        "dc 00 10 01 08 02 a2 63 31 a8 66 6f 6c 6c 6f 77 65 72 07 01 01 0c 0c 0c 00 a5 31 2c 32 2c 33 08 03 "
        "91 92 ae 74 65 72 6d 2d 74 6f 6f 2d 6c 61 72 67 65 01",
    ),
    (
        ClientRequest("c1", 1, Command("add", "4", "", "c1", 6, 6)),
        "95 01 05 a2 63 31 01 96 a3 61 64 64 a1 34 a0 a2 63 31 06 06",
    ),
    (
        AppendEntries(1, 2, 5, 10, 4, (Entry(5, Command("config", "", "1,2,3/4", "c1", 6, 6), 1450),), 10),
        "99 01 03 01 02 05 0a 04 91 93 05 96 a6 63 6f 6e 66 69 67 a0 a7 31 2c 32 2c 33 2f 34 a2 63 31 "
        "06 06 cd 05 aa 0a",
    ),
    (
        ClientRequest("c1", 1, Command("register", "", "", "c1", 0, 0)),
        "95 01 05 a2 63 31 01 96 a8 72 65 67 69 73 74 65 72 a0 a0 a2 63 31 00 00",
    ),
    (
        ClientReply(1, "c1", 0, True, "c1@7", 0, ""),
        "99 01 06 01 a2 63 31 00 c3 a4 63 31 40 37 00 a0",
    ),
    (
        ClientReply(1, "c1@7", 5, False, None, 0, "SESSION_EXPIRED"),
        "99 01 06 01 a4 63 31 40 37 05 c2 c0 00 af 53 45 53 53 49 4f 4e 5f 45 58 50 49 52 45 44",
    ),
    (
        InstallSnapshot(1, 2, 5, 40, 4, 0, b"\x01\x02\x03", True, zlib.crc32(b"\x01\x02\x03")),
        "9b 01 09 01 02 05 28 04 00 c4 03 01 02 03 c3 ce 55 bc 80 1d",
    ),
    (InstallSnapshotReply(2, 1, 5, 40, 3, True), "98 01 0a 02 01 05 28 03 c3"),
]


@pytest.mark.parametrize(("msg", "hex_bytes"), GOLDEN, ids=lambda x: type(x).__name__)
def test_golden_bytes(msg: Message, hex_bytes: str) -> None:
    assert encode(msg).hex(" ") == hex_bytes
    assert decode(bytes.fromhex(hex_bytes)) == msg


def test_golden_bytes_are_the_documented_examples() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    for _, hex_bytes in GOLDEN:
        assert f"\n{hex_bytes}\n" in doc


def test_non_shortest_int_encodings_are_accepted() -> None:
    # msgpack allows several encodings of one int; receivers must accept any of them.
    data = bytes.fromhex("97 01 01 03 01 cf 00 00 00 00 00 00 00 07 0c 06")  # term as uint 64
    assert decode(data) == RequestVote(3, 1, 7, 12, 6)


@FAST
@given(entry=entries)
def test_entry_round_trip(entry: Entry) -> None:
    raw = entry_to_wire(entry)
    assert raw == [entry.term, list(dataclasses.astuple(entry.command)), entry.stamp]
    assert entry_from_wire(msgpack.unpackb(msgpack.packb(raw, use_bin_type=True))) == entry


@FAST
@given(raw=values)
def test_entry_from_wire_arbitrary_values(raw: Any) -> None:
    try:
        entry = entry_from_wire(raw)
    except WireError:
        return
    assert entry_from_wire(entry_to_wire(entry)) == entry


def test_entry_rejections() -> None:
    with pytest.raises(WireError, match=r"^Entry: expected list \[term, command, stamp\], got int$"):
        entry_from_wire(5)
    with pytest.raises(WireError, match=r"^field 'command\.seq' of Entry: expected int >= 0"):
        entry_from_wire([1, ["put", "k", "v", "c1", -2, 0], 0])
    with pytest.raises(
        WireError, match=r"^field 'term' of Entry: expected int >= 0 and < 2\*\*63, got bool$"
    ):
        entry_to_wire(Entry(True, Command("noop")))  # type: ignore[arg-type]
    with pytest.raises(WireError, match=r"^Entry: expected Entry, got Command$"):
        entry_to_wire(Command("noop"))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- robustness


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_arbitrary_bytes(data: bytes) -> None:
    check_decode(data)


@FAST
@given(msg=messages, data=st.data())
def test_decode_bit_flips(msg: Message, data: st.DataObject) -> None:
    encoded = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] ^= 1 << data.draw(st.integers(0, 7))
    check_decode(bytes(encoded))


@FAST
@given(msg=messages, data=st.data())
def test_decode_truncated(msg: Message, data: st.DataObject) -> None:
    encoded = encode(msg)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(WireError):
        decode(encoded[:cut])


@FAST
@given(msg=messages, extra=st.binary(min_size=1, max_size=20))
def test_decode_appended_bytes(msg: Message, extra: bytes) -> None:
    with pytest.raises(WireError, match="malformed msgpack"):
        decode(encode(msg) + extra)


@FAST
@given(msg=messages, data=st.data())
def test_decode_byte_replacement_and_insertion(msg: Message, data: st.DataObject) -> None:
    encoded = bytearray(encode(msg))
    position = data.draw(st.integers(0, len(encoded)))
    chunk = data.draw(st.binary(min_size=1, max_size=4))
    if data.draw(st.booleans()) and position < len(encoded):
        encoded[position : position + len(chunk)] = chunk
    else:
        encoded[position:position] = chunk
    check_decode(bytes(encoded))


@FAST
@given(tag=st.sampled_from(sorted(TAGS)), data=st.data())
def test_decode_arbitrary_fields_in_a_valid_envelope(tag: int, data: st.DataObject) -> None:
    # Reach the field validators: right version, right tag, usually the right length.
    length = wire._BY_TAG[tag].length - 2
    count = data.draw(st.sampled_from([length, length, length, 0, length - 1, length + 1]))
    fields = data.draw(st.lists(values, min_size=count, max_size=count))
    check_decode(pack(PROTOCOL_VERSION, tag, *fields))


@FAST
@given(msg=messages, data=st.data())
def test_decode_one_field_replaced(msg: Message, data: st.DataObject) -> None:
    # A valid message with one field (or one command field) swapped for an arbitrary value.
    body = msgpack.unpackb(encode(msg))
    position = data.draw(st.integers(2, len(body) - 1))
    body[position] = data.draw(values)
    check_decode(msgpack.packb(body, use_bin_type=True))


# --------------------------------------------------------------------------- specific rejections


def test_reject_wrong_version() -> None:
    with pytest.raises(WireError, match=r"unsupported protocol version 2 \(this codec speaks 1\)"):
        decode(pack(2, 1, 1, 2, 3, 4, 5))
    with pytest.raises(WireError, match="unsupported protocol version bool"):
        decode(pack(True, 1, 1, 2, 3, 4, 5))


@pytest.mark.parametrize("tag", [0, 15, 19, 63, 64, 65, 71, -1, 2**40])
def test_reject_unknown_tag(tag: int) -> None:
    with pytest.raises(WireError, match="unknown message type tag"):
        decode(pack(1, tag, 1, 2, 3, 4, 5))


def test_reject_tag_of_wrong_type() -> None:
    with pytest.raises(WireError, match="unknown message type tag str"):
        decode(pack(1, "RequestVote", 1, 2, 3, 4, 5))


def test_reject_bool_where_int_expected() -> None:
    message = r"field 'term' of RequestVote: expected int >= 0 and < 2\*\*63, got bool"
    with pytest.raises(WireError, match=message):
        decode(pack(1, 1, 1, 2, True, 4, 5))
    with pytest.raises(WireError, match=message):
        encode(RequestVote(1, 2, True, 4, 5))  # type: ignore[arg-type]


def test_reject_int_where_bool_expected() -> None:
    with pytest.raises(WireError, match="field 'vote_granted' of RequestVoteReply: expected bool, got int"):
        decode(pack(1, 2, 1, 2, 3, 1))


def test_reject_wrong_type_message_names_the_type() -> None:
    with pytest.raises(WireError, match="field 'term' of AppendEntries: expected int >= 0 .*, got str"):
        decode(pack(1, 3, 1, 2, "5", 0, 0, [], 0))


def test_reject_negative_term() -> None:
    with pytest.raises(WireError, match="field 'term' of AppendEntries: .* got -1"):
        decode(pack(1, 3, 1, 2, -1, 0, 0, [], 0))
    with pytest.raises(WireError, match="field 'term' of AppendEntries"):
        encode(AppendEntries(1, 2, -1, 0, 0, (), 0))


def test_index_range_boundaries() -> None:
    assert decode(pack(1, 1, 1, 2, 2**63 - 1, 0, 0)) == RequestVote(1, 2, 2**63 - 1, 0, 0)
    with pytest.raises(WireError, match="field 'term'"):
        decode(pack(1, 1, 1, 2, 2**63, 0, 0))
    with pytest.raises(WireError, match="field 'term'"):
        encode(RequestVote(1, 2, 2**64, 0, 0))


@pytest.mark.parametrize("node", [0, -1, MAX_NODE_ID + 1])
def test_reject_node_id_out_of_range(node: int) -> None:
    with pytest.raises(WireError, match="field 'src' of RequestVote: expected node id"):
        decode(pack(1, 1, node, 2, 3, 4, 5))


def test_node_id_where_client_expected_and_back() -> None:
    with pytest.raises(WireError, match="field 'src' of ClientRequest: expected client id"):
        decode(pack(1, 5, 1, 2, ["noop", "", "", "", 0, 0]))
    with pytest.raises(WireError, match="field 'src' of RequestVote: expected node id .*, got str"):
        decode(pack(1, 1, "c1", 2, 3, 4, 5))
    with pytest.raises(WireError, match="field 'dst' of ClientReply: expected client id"):
        encode(ClientReply(1, 2, 0, True))  # type: ignore[arg-type]


@pytest.mark.parametrize("client", ["", "c" * 65])
def test_reject_bad_client_id(client: str) -> None:
    with pytest.raises(WireError, match="field 'src' of ClientRequest: expected client id"):
        encode(ClientRequest(client, 1, Command("get", "x", client="c1")))


def test_reject_unknown_op_with_nested_path() -> None:
    good = [1, ["put", "k", "v", "c1", 1, 0], 0]
    bad = [1, ["frobnicate", "k", "v", "c1", 1, 0], 0]
    with pytest.raises(
        WireError, match=r"field 'entries\[1\]\.command\.op' of AppendEntries: expected one of"
    ):
        decode(pack(1, 3, 1, 2, 1, 0, 0, [good, bad], 0))
    with pytest.raises(WireError, match=r"field 'command\.op' of ClientRequest"):
        encode(ClientRequest("c1", 1, Command("frobnicate")))


def test_reject_malformed_entry_shapes() -> None:
    with pytest.raises(
        WireError, match=r"field 'entries\[0\]' of AppendEntries: expected list \[term, command, stamp\]"
    ):
        decode(pack(1, 3, 1, 2, 1, 0, 0, [[1]], 0))
    with pytest.raises(WireError, match=r"field 'entries\[0\]\.term' of AppendEntries"):
        decode(pack(1, 3, 1, 2, 1, 0, 0, [[-5, ["noop", "", "", "", 0, 0], 0]], 0))
    with pytest.raises(WireError, match=r"field 'entries\[0\]\.stamp' of AppendEntries"):
        decode(pack(1, 3, 1, 2, 1, 0, 0, [[1, ["noop", "", "", "", 0, 0], -1]], 0))
    with pytest.raises(WireError, match=r"expected list \[term, command, stamp\], got list of 2 items"):
        decode(pack(1, 3, 1, 2, 1, 0, 0, [[1, ["noop", "", "", "", 0, 0]]], 0))  # before stamps
    with pytest.raises(
        WireError, match=r"field 'entries\[0\]\.command' of AppendEntries: expected list \[op"
    ):
        decode(pack(1, 3, 1, 2, 1, 0, 0, [[1, ["noop"], 0]], 0))
    with pytest.raises(WireError, match=r"field 'entries' of AppendEntries: expected list of at most"):
        decode(pack(1, 3, 1, 2, 1, 0, 0, {"a": 1}, 0))
    with pytest.raises(
        WireError, match=r"field 'entries\[0\]' of AppendEntries: expected Entry, got Command"
    ):
        encode(AppendEntries(1, 2, 1, 0, 0, (Command("noop"),), 0))  # type: ignore[arg-type]
    with pytest.raises(WireError, match=r"field 'entries' of AppendEntries: expected tuple"):
        encode(AppendEntries(1, 2, 1, 0, 0, [], 0))  # type: ignore[arg-type]


def test_reject_wrong_field_count() -> None:
    with pytest.raises(WireError, match="RequestVote: expected 7 items"):
        decode(pack(1, 1, 1, 2, 3, 4))
    with pytest.raises(WireError, match="RequestVote: expected 7 items"):
        decode(pack(1, 1, 1, 2, 3, 4, 5, 6))
    with pytest.raises(WireError, match="envelope: expected at least 4 items"):
        decode(pack(1, 1))


def test_reject_non_array_envelope() -> None:
    with pytest.raises(WireError, match="envelope: expected list .*, got dict"):
        decode(msgpack.packb({"version": 1}))
    with pytest.raises(WireError, match="envelope: expected list .*, got int"):
        decode(msgpack.packb(1))


def test_reject_oversize_entry_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = Entry(1, Command("noop"))
    with pytest.raises(
        WireError, match=f"field 'entries' of AppendEntries: expected tuple of at most {MAX_ENTRIES}"
    ):
        encode(AppendEntries(1, 2, 1, 0, 0, (entry,) * (MAX_ENTRIES + 1), 0))
    raw = pack(1, 3, 1, 2, 1, 0, 0, [[1, ["noop", "", "", "", 0, 0], 0]] * (MAX_ENTRIES + 1), 0)
    with pytest.raises(WireError, match="exceeds MAX_DATAGRAM"):
        decode(raw)  # so many entries cannot fit in a datagram anyway
    monkeypatch.setattr(wire.datagram, "MAX_DATAGRAM", 10**6)  # the limit decode reads
    with pytest.raises(
        WireError, match=f"expected list of at most {MAX_ENTRIES} entries, got list of 10001 items"
    ):
        decode(raw)


def test_reject_encoding_over_max_datagram() -> None:
    batch = tuple(Entry(1, Command("put", f"k{i}", "v" * 1000, "c1", i, 0)) for i in range(64))
    with pytest.raises(WireError, match=r"encoded AppendEntries is \d+ bytes, over MAX_DATAGRAM"):
        encode(AppendEntries(1, 2, 1, 0, 0, batch, 0))
    assert len(encode(AppendEntries(1, 2, 1, 0, 0, batch[:60], 0))) <= MAX_DATAGRAM


def test_reject_oversize_datagram() -> None:
    with pytest.raises(WireError, match="datagram of 65001 bytes exceeds MAX_DATAGRAM"):
        decode(b"\x00" * (MAX_DATAGRAM + 1))


def test_reject_string_over_64_kib() -> None:
    # 17,000 four-byte characters: within the character fast path's reach only by count.
    with pytest.raises(
        WireError, match=r"field 'command\.key' of ClientRequest: expected str of at most 65536"
    ):
        encode(ClientRequest("c1", 1, Command("get", "\U0001f600" * 17_000, client="c1")))


def test_reject_int_keyed_map() -> None:
    with pytest.raises(WireError, match="malformed msgpack"):
        decode(pack(1, 3, 1, 2, 1, 0, 0, {1: [1, ["noop", "", "", "", 0, 0], 0]}, 0))


def test_reject_str_keyed_map_in_a_field() -> None:
    with pytest.raises(WireError, match="field 'value' of ClientReply: expected str .* or None, got dict"):
        decode(pack(1, 6, 1, "c1", 0, True, {"a": "b"}, 0, ""))


# ClientReply.error, StatusRequest and StatusReply.

CLIENT_REPLY_ITEMS = (
    r"ClientReply: expected 9 items \[version, tag, src, dst, seq, ok, value, leader_hint, error\]"
)
# the fields of a valid StatusReply
STATUS_REPLY = (2, "c1", "leader", 7, 2, 2, 12, 11, 12, 0, "1,2,3", 10, 0, ())


def test_client_reply_error_field_round_trips_and_defaults_to_empty() -> None:
    assert ClientReply(1, "c1", 0, True).error == ""
    assert decode(pack(1, 6, 1, "c1", 0, True, None, 0, "")) == ClientReply(1, "c1", 0, True)
    reply = ClientReply(1, "c1", 9, True, None, 0, "value of x would exceed 16384 bytes")
    assert decode(encode(reply)) == reply  # ok with an error: applied, but without effect


def test_reject_client_reply_without_error_field() -> None:
    # The 8-item layout of before the error field is not a valid datagram any more.
    with pytest.raises(WireError, match=CLIENT_REPLY_ITEMS + ", got 8$"):
        decode(pack(1, 6, 1, "c1", 3, False, None, 2))
    with pytest.raises(WireError, match=CLIENT_REPLY_ITEMS + ", got 10$"):
        decode(pack(1, 6, 1, "c1", 3, False, None, 2, "", ""))


@pytest.mark.parametrize(
    ("error", "got"),
    [(None, "None"), (0, "int"), (False, "bool"), (b"too large", "bytes"), (["too large"], "list")],
    ids=repr,
)
def test_reject_client_reply_error_not_a_str(error: Any, got: str) -> None:
    message = (
        f"^field 'error' of ClientReply: expected str of at most {MAX_STR_BYTES} UTF-8 bytes, got {got}$"
    )
    with pytest.raises(WireError, match=message):
        decode(pack(1, 6, 1, "c1", 3, True, None, 0, error))
    with pytest.raises(WireError, match=message):
        encode(ClientReply(1, "c1", 3, True, None, 0, error))


def test_reject_client_reply_error_too_long() -> None:
    with pytest.raises(
        WireError,
        match=r"^field 'error' of ClientReply: expected str of at most 65536 UTF-8 bytes, got str of 68000",
    ):
        encode(ClientReply(1, "c1", 3, False, None, 0, "\U0001f600" * 17_000))
    # A valid text, but no datagram can carry it.
    with pytest.raises(WireError, match=r"^encoded ClientReply is \d+ bytes, over MAX_DATAGRAM"):
        encode(ClientReply(1, "c1", 3, False, None, 0, "e" * MAX_DATAGRAM))


def test_status_messages_at_their_limits() -> None:
    request = StatusRequest("c" * 64, MAX_NODE_ID)
    assert decode(encode(request)) == request
    for role in ROLES:
        reply = StatusReply(
            MAX_NODE_ID, "c1", role, INDEX_MAX, 0, MAX_NODE_ID, INDEX_MAX, 0, INDEX_MAX, INDEX_MAX,
            f"1,2,3/{MAX_NODE_ID}", INDEX_MAX,
        )  # fmt: skip
        assert decode(encode(reply)) == reply
    # The defaults: no configuration known (an empty one), no snapshot.
    empty = StatusReply(2, "c1", "follower", 0, 0, 0, 0, 0, 0, 0)
    assert (empty.configuration, empty.snapshot_index) == ("", 0)
    assert decode(encode(empty)) == empty


@pytest.mark.parametrize(
    ("role", "got"),
    [
        ("Leader", "'Leader'"),
        ("learner", "'learner'"),
        ("", "''"),
        ("leader ", "'leader '"),
        (1, "int"),
        (True, "bool"),
        (None, "None"),
        (b"leader", "bytes"),
        (["leader"], "list"),
    ],
    ids=repr,
)
def test_reject_bad_role(role: Any, got: str) -> None:
    roles = "'follower', 'pre-candidate', 'candidate', 'leader'"
    message = f"^field 'role' of StatusReply: expected one of {roles}, got {got}$"
    with pytest.raises(WireError, match=message):
        decode(pack(1, 8, 2, "c1", role, 7, 2, 2, 12, 11, 12, 0, "1,2,3", 0, 0, []))
    with pytest.raises(WireError, match=message):
        encode(StatusReply(2, "c1", role, 7, 2, 2, 12, 11, 12, 0, "1,2,3", 0))


def test_reject_status_request_addressing() -> None:
    with pytest.raises(WireError, match=r"^field 'src' of StatusRequest: expected client id .*, got int$"):
        decode(pack(1, 7, 1, 2))
    with pytest.raises(WireError, match=r"^field 'src' of StatusRequest: expected client id .*, got ''$"):
        encode(StatusRequest("", 2))
    with pytest.raises(WireError, match=r"^field 'dst' of StatusRequest: expected node id .*, got str$"):
        decode(pack(1, 7, "c1", "n2"))
    with pytest.raises(WireError, match=r"^field 'dst' of StatusRequest: expected node id .*, got 0$"):
        encode(StatusRequest("c1", 0))


def test_reject_status_request_wrong_length() -> None:
    with pytest.raises(
        WireError, match=r"^StatusRequest: expected 4 items \[version, tag, src, dst\], got 5$"
    ):
        decode(pack(1, 7, "c1", 2, 0))
    with pytest.raises(WireError, match="^envelope: expected at least 4 items"):
        decode(pack(1, 7, "c1"))


@pytest.mark.parametrize(
    ("position", "value", "message"),
    [
        (0, "c1", r"field 'src' of StatusReply: expected node id .*, got str"),
        (1, 2, r"field 'dst' of StatusReply: expected client id .*, got int"),
        (3, -1, r"field 'term' of StatusReply: expected int >= 0 and < 2\*\*63, got -1"),
        (4, -1, r"field 'vote' of StatusReply: expected node id or 0 .*, got -1"),
        (4, MAX_NODE_ID + 1, r"field 'vote' of StatusReply: expected node id or 0 .*, got 2147483649"),
        (5, "2", r"field 'leader' of StatusReply: expected node id or 0 .*, got str"),
        (
            6,
            2**63,
            r"field 'commit' of StatusReply: expected int >= 0 and < 2\*\*63, got 9223372036854775808",
        ),
        (7, None, r"field 'applied' of StatusReply: expected int .*, got None"),
        (8, 1.0, r"field 'last_index' of StatusReply: expected int .*, got float"),
        (9, True, r"field 'dropped' of StatusReply: expected int .*, got bool"),
        (
            10,
            "3,1",
            r"field 'configuration' of StatusReply: expected configuration in canonical form .*, got '3,1'",
        ),
        (10, None, r"field 'configuration' of StatusReply: expected configuration .*, got None"),
        (10, 123, r"field 'configuration' of StatusReply: expected configuration .*, got int"),
        (11, -1, r"field 'snapshot_index' of StatusReply: expected int >= 0 and < 2\*\*63, got -1"),
    ],
)
def test_reject_bad_status_reply_field(position: int, value: Any, message: str) -> None:
    fields = list(STATUS_REPLY)
    fields[position] = value
    with pytest.raises(WireError, match=f"^{message}$"):
        decode(pack(1, 8, *fields))
    with pytest.raises(WireError, match=f"^{message}$"):
        encode(StatusReply(*fields))


def test_reject_status_reply_wrong_length() -> None:
    items = (
        r"StatusReply: expected 16 or 17 items \[version, tag, src, dst, role, .*, snapshot_index, "
        r"unauthenticated, violations, recovering\]"
    )
    with pytest.raises(WireError, match=f"^{items}, got 15$"):
        decode(pack(1, 8, *STATUS_REPLY[:-1]))
    with pytest.raises(WireError, match=f"^{items}, got 18$"):
        decode(pack(1, 8, *STATUS_REPLY, "lost entries 3..?", 0))
    with pytest.raises(WireError, match=f"^{items}, got 14$"):
        decode(pack(1, 8, *STATUS_REPLY[:-2]))  # the layout of before the cluster secret
    with pytest.raises(WireError, match=f"^{items}, got 12$"):
        decode(pack(1, 8, *STATUS_REPLY[:-4]))  # the layout of before membership changes


def test_reject_trailing_bytes() -> None:
    with pytest.raises(WireError, match="ExtraData"):
        decode(encode(RequestVote(1, 2, 3, 4, 5)) + b"\xc0")


def test_reject_empty_and_truncated() -> None:
    for data in (b"", b"\x97", b"\x97\x01\x01"):
        with pytest.raises(WireError, match="malformed msgpack"):
            decode(data)


def test_reject_ext_types_and_bin() -> None:
    timestamp = msgpack.Timestamp(1, 0)
    with pytest.raises(WireError, match="field 'term' of RequestVote: expected int .*, got Timestamp"):
        decode(pack(1, 1, 1, 2, timestamp, 4, 5))
    with pytest.raises(WireError, match="got ExtType"):
        decode(pack(1, 1, 1, 2, msgpack.ExtType(5, b"x"), 4, 5))
    with pytest.raises(WireError, match="field 'dst' of ClientReply: expected client id .*, got bytes"):
        decode(pack(1, 6, 1, b"c1", 0, True, None, 0, ""))


def test_reject_deep_nesting() -> None:
    with pytest.raises(WireError, match="malformed msgpack"):
        decode(b"\x91" * 60_000 + b"\xc0")


def test_reject_invalid_utf8() -> None:
    data = encode(ClientReply(1, "c1", 0, True, "ab")).replace(b"\xa2ab", b"\xa2\xff\xfe")
    with pytest.raises(WireError, match="UnicodeDecodeError"):
        decode(data)


def test_reject_non_bytes_input() -> None:
    with pytest.raises(WireError, match="expected bytes, got str"):
        decode("not bytes")  # type: ignore[arg-type]


def test_reject_encoding_non_messages() -> None:
    with pytest.raises(WireError, match="cannot encode Command"):
        encode(Command("noop"))  # type: ignore[arg-type]
    with pytest.raises(WireError, match="cannot encode ClientReply"):
        encode(ClientReply(1, "c1", 0, True, "\ud800"))  # a lone surrogate has no UTF-8 form


def test_wire_error_is_a_value_error() -> None:
    assert issubclass(WireError, ValueError)


# --------------------------------------------------------------------------- membership: config commands

BAD_CONFIGURATIONS = [
    ("3,1", "not ascending"),
    ("1,1", "a duplicate"),
    ("1,2/", "'/' without learners"),
    ("1,2/2", "a voter that is also a learner"),
    ("1,2/4,3", "learners not ascending"),
    ("01", "a leading zero"),
    ("0", "node id 0"),
    ("2147483649", "a node id above MAX_NODE_ID"),
    ("1, 2", "a space"),
    (" 1", "a leading space"),
    ("1,", "a trailing comma"),
    ("+1", "a sign"),
    ("x", "not a number"),
    ("\u00b2", "a superscript digit (str.isdigit, but not int())"),
    ("\u0663", "an Arabic-Indic digit (int() reads it, but it is not canonical)"),
    ("1" * 5000, "a number int() refuses to read (over 4300 digits)"),
]


@pytest.mark.parametrize(("value", "why"), BAD_CONFIGURATIONS, ids=[w for _, w in BAD_CONFIGURATIONS])
def test_reject_config_command_with_bad_value(value: str, why: str) -> None:
    message = r"expected configuration in canonical form \(voters, then '/' and learners if any"
    command = Command("config", "", value, "c1", 1, 0)
    raw_command = ["config", "", value, "c1", 1, 0]
    with pytest.raises(WireError, match=rf"^field 'command\.value' of ClientRequest: {message}"):
        encode(ClientRequest("c1", 1, command))
    with pytest.raises(WireError, match=rf"^field 'command\.value' of ClientRequest: {message}"):
        decode(pack(1, 5, "c1", 1, raw_command))
    good = [1, ["noop", "", "", "", 0, 0], 0]
    with pytest.raises(
        WireError, match=rf"^field 'entries\[1\]\.command\.value' of AppendEntries: {message}"
    ):
        decode(pack(1, 3, 1, 2, 1, 0, 0, [good, [1, raw_command, 0]], 0))
    with pytest.raises(WireError, match=r"^field 'entries\[0\]\.command\.value' of AppendEntries"):
        encode(AppendEntries(1, 2, 1, 0, 0, (Entry(1, command),), 0))
    # Storage validates entries the same way.
    with pytest.raises(WireError, match=rf"^field 'command\.value' of Entry: {message}"):
        entry_to_wire(Entry(1, command))
    with pytest.raises(WireError, match=rf"^field 'command\.value' of Entry: {message}"):
        entry_from_wire([1, raw_command, 0])
    # The same text is an ordinary value for any other op.
    for op in ("put", "append", "add", "remove"):
        other = ClientRequest("c1", 1, Command(op, "k", value, "c1", 1, 0))
        assert decode(encode(other)) == other


def test_reject_config_value_error_names_the_value() -> None:
    with pytest.raises(WireError, match=r", got '3,1'$"):
        encode(ClientRequest("c1", 1, Command("config", "", "3,1", "c1", 1, 0)))
    long_bad = "1," * 10_000 + "1"
    with pytest.raises(WireError, match=r", got str of 20001 characters$"):
        encode(ClientRequest("c1", 1, Command("config", "", long_bad, "c1", 1, 0)))


@pytest.mark.parametrize(
    ("value", "got"), [(None, "None"), (5, "int"), (b"1,2", "bytes"), (["1"], "list")], ids=repr
)
def test_reject_config_value_not_a_str(value: Any, got: str) -> None:
    # The value's own (text) check comes first, with its own message.
    message = (
        rf"^field 'command\.value' of ClientRequest: expected str of at most 65536 UTF-8 bytes, got {got}$"
    )
    with pytest.raises(WireError, match=message):
        decode(pack(1, 5, "c1", 1, ["config", "", value, "c1", 1, 0]))
    with pytest.raises(WireError, match=message):
        encode(ClientRequest("c1", 1, Command("config", "", value, "c1", 1, 0)))


@pytest.mark.parametrize(
    "value",
    ["", "1", "1,2,3", "1,2,3/4", "/4", "1/2,3", f"1,{MAX_NODE_ID}", ",".join(map(str, range(1, 500)))],
)
def test_config_command_round_trips(value: str) -> None:
    command = Command("config", "", value, "", 0, 0)
    assert Configuration.from_value(value).to_value() == value
    for msg in (
        ClientRequest("c1", 1, dataclasses.replace(command, client="c1")),
        AppendEntries(1, 2, 3, 0, 0, (Entry(3, command),) * 3, 0),
    ):
        assert decode(encode(msg)) == msg
    assert entry_from_wire(entry_to_wire(Entry(3, command))) == Entry(3, command)


def test_config_command_on_the_slow_path() -> None:
    # A key longer than the fast path's bound sends the command down the per-field checks,
    # which must check a config value too.
    key = "k" * 20_000
    good = ClientRequest("c1", 1, Command("config", key, "1,2", "c1", 1, 0))
    assert decode(encode(good)) == good
    with pytest.raises(WireError, match=r"^field 'command\.value' of ClientRequest: expected configuration"):
        encode(ClientRequest("c1", 1, Command("config", key, "2,1", "c1", 1, 0)))
    with pytest.raises(WireError, match=r"^field 'command\.value' of ClientRequest: expected configuration"):
        decode(pack(1, 5, "c1", 1, ["config", key, "2,1", "c1", 1, 0]))


@pytest.mark.parametrize("op", OPS)
def test_every_op_travels(op: str) -> None:
    # The codec carries every op; which ones a client may request is the node's business.
    value = "1,2,3" if op == "config" else "v"
    msg = ClientRequest("c1", 1, Command(op, "4", value, "c1", 1, 0))
    assert decode(encode(msg)) == msg


# --------------------------------------------------------------------------- InstallSnapshot

SNAPSHOT = (1, 2, 5, 40, 4, 0, b"abc", True, 12345)  # the fields of a valid InstallSnapshot
SNAPSHOT_REPLY = (2, 1, 5, 40, 3, True)  # and of a valid InstallSnapshotReply


def test_install_snapshot_at_its_limits() -> None:
    msg = InstallSnapshot(
        MAX_NODE_ID,
        MAX_NODE_ID,
        INDEX_MAX,
        INDEX_MAX,
        INDEX_MAX,
        INDEX_MAX,
        b"\xff" * MAX_CHUNK,
        False,
        2**32 - 1,
    )
    data = encode(msg)
    assert len(data) <= MAX_CHUNK + 64  # everything but the chunk is small: a datagram half empty
    assert decode(data) == msg
    empty = InstallSnapshot(1, 2, 1, 1, 1, 0, b"", True, 0)
    assert decode(encode(empty)) == empty
    reply = InstallSnapshotReply(MAX_NODE_ID, 1, INDEX_MAX, INDEX_MAX, INDEX_MAX, False)
    assert decode(encode(reply)) == reply


def test_install_snapshot_data_is_bin() -> None:
    body = msgpack.unpackb(encode(InstallSnapshot(*SNAPSHOT)), raw=False)
    assert body[8] == b"abc"  # a bin unpacks to bytes (a str would unpack to str)
    # bin 8, not a str: the byte after the offset is the bin 8 marker.
    assert encode(InstallSnapshot(*SNAPSHOT)).endswith(b"\x00\xc4\x03abc\xc3\xcd\x30\x39")


def test_reject_oversized_chunk() -> None:
    message = (
        f"^field 'data' of InstallSnapshot: expected bytes of length at most {MAX_CHUNK}, "
        f"got bytes of length {MAX_CHUNK + 1}$"
    )
    fields = list(SNAPSHOT)
    fields[6] = b"x" * (MAX_CHUNK + 1)
    with pytest.raises(WireError, match=message):
        encode(InstallSnapshot(*fields))
    with pytest.raises(WireError, match=message):
        decode(pack(1, 9, *fields))


@pytest.mark.parametrize(
    ("position", "value", "message"),
    [
        (0, "1", r"field 'src' of InstallSnapshot: expected node id .*, got str"),
        (1, 0, r"field 'dst' of InstallSnapshot: expected node id .*, got 0"),
        (2, -1, r"field 'term' of InstallSnapshot: expected int >= 0 and < 2\*\*63, got -1"),
        (3, True, r"field 'last_included_index' of InstallSnapshot: expected int .*, got bool"),
        (
            4,
            2**63,
            r"field 'last_included_term' of InstallSnapshot: expected int .*, got 9223372036854775808",
        ),
        (5, None, r"field 'offset' of InstallSnapshot: expected int >= 0 and < 2\*\*63, got None"),
        (6, "abc", r"field 'data' of InstallSnapshot: expected bytes of length at most 32768, got str"),
        (6, None, r"field 'data' of InstallSnapshot: expected bytes .*, got None"),
        (6, [97, 98], r"field 'data' of InstallSnapshot: expected bytes .*, got list"),
        (6, 0, r"field 'data' of InstallSnapshot: expected bytes .*, got int"),
        (7, 1, r"field 'done' of InstallSnapshot: expected bool, got int"),
        (7, None, r"field 'done' of InstallSnapshot: expected bool, got None"),
        (7, "true", r"field 'done' of InstallSnapshot: expected bool, got str"),
        (8, -1, r"field 'checksum' of InstallSnapshot: expected int >= 0 and < 2\*\*32, got -1"),
        (8, 2**32, r"field 'checksum' of InstallSnapshot: expected int >= 0 and < 2\*\*32, got 4294967296"),
        (8, True, r"field 'checksum' of InstallSnapshot: expected int .*, got bool"),
        (8, 1.0, r"field 'checksum' of InstallSnapshot: expected int .*, got float"),
        (8, b"\x00\x00\x00\x01", r"field 'checksum' of InstallSnapshot: expected int .*, got bytes"),
    ],
)
def test_reject_bad_install_snapshot_field(position: int, value: Any, message: str) -> None:
    fields = list(SNAPSHOT)
    fields[position] = value
    with pytest.raises(WireError, match=f"^{message}$"):
        decode(pack(1, 9, *fields))
    with pytest.raises(WireError, match=f"^{message}$"):
        encode(InstallSnapshot(*fields))


@pytest.mark.parametrize(
    ("value", "got"), [(bytearray(b"abc"), "bytearray"), (memoryview(b"abc"), "memoryview"), ("abc", "str")]
)
def test_encode_accepts_only_bytes_as_data(value: Any, got: str) -> None:
    # decode produces bytes; encode takes exactly that, so what it sends is what the receiver builds.
    fields = list(SNAPSHOT)
    fields[6] = value
    with pytest.raises(WireError, match=f"^field 'data' of InstallSnapshot: expected bytes .*, got {got}$"):
        encode(InstallSnapshot(*fields))


@pytest.mark.parametrize(
    ("position", "value", "message"),
    [
        (0, "c1", r"field 'src' of InstallSnapshotReply: expected node id .*, got str"),
        (2, -1, r"field 'term' of InstallSnapshotReply: expected int >= 0 and < 2\*\*63, got -1"),
        (3, 1.5, r"field 'last_included_index' of InstallSnapshotReply: expected int .*, got float"),
        (4, -3, r"field 'offset' of InstallSnapshotReply: expected int >= 0 and < 2\*\*63, got -3"),
        (5, 0, r"field 'done' of InstallSnapshotReply: expected bool, got int"),
        (5, b"\x01", r"field 'done' of InstallSnapshotReply: expected bool, got bytes"),
    ],
)
def test_reject_bad_install_snapshot_reply_field(position: int, value: Any, message: str) -> None:
    fields = list(SNAPSHOT_REPLY)
    fields[position] = value
    with pytest.raises(WireError, match=f"^{message}$"):
        decode(pack(1, 10, *fields))
    with pytest.raises(WireError, match=f"^{message}$"):
        encode(InstallSnapshotReply(*fields))


def test_reject_install_snapshot_wrong_length() -> None:
    items = r"InstallSnapshot: expected 11 items \[version, tag, src, dst, term, .*, done, checksum\]"
    with pytest.raises(WireError, match=f"^{items}, got 10$"):
        decode(pack(1, 9, *SNAPSHOT[:-1]))
    with pytest.raises(WireError, match=f"^{items}, got 12$"):
        decode(pack(1, 9, *SNAPSHOT, 0))
    reply_items = r"InstallSnapshotReply: expected 8 items \[version, tag, src, dst, .*, offset, done\]"
    with pytest.raises(WireError, match=f"^{reply_items}, got 7$"):
        decode(pack(1, 10, *SNAPSHOT_REPLY[:-1]))
    with pytest.raises(WireError, match=f"^{reply_items}, got 9$"):
        decode(pack(1, 10, *SNAPSHOT_REPLY, True))


def test_reject_bin_where_text_expected_and_text_where_bin_expected() -> None:
    # str and bin never stand in for each other, even with the same bytes inside.
    with pytest.raises(WireError, match=r"field 'command\.key' of ClientRequest: expected str .*, got bytes"):
        decode(pack(1, 5, "c1", 1, ["put", b"k", "v", "c1", 1, 0]))
    with pytest.raises(WireError, match=r"field 'data' of InstallSnapshot: expected bytes .*, got str"):
        decode(pack(1, 9, 1, 2, 5, 40, 4, 0, "abc", True, 0))


def test_optional_last_fields_are_left_off_at_their_default_and_refused_written_out() -> None:
    """ClientRequest.read and the heartbeat round (dissertation §6.4 reads): an older peer's
    messages, without them, read the same; written out, the default is not canonical."""
    cmd = Command("get", "x", "", "c1", 1, 1)
    plain = encode(ClientRequest("c1", 1, cmd))
    assert msgpack.unpackb(plain)[-1] == ["get", "x", "", "c1", 1, 1]
    assert decode(encode(ClientRequest("c1", 1, cmd, read="lease"))).read == "lease"
    with pytest.raises(WireError, match="field 'read' of ClientRequest"):
        decode(msgpack.packb([1, 5, "c1", 1, ["get", "x", "", "c1", 1, 1], ""]))
    with pytest.raises(WireError, match="field 'read' of ClientRequest"):
        encode(ClientRequest("c1", 1, cmd, read="log"))
    heartbeat = AppendEntries(1, 2, 5, 10, 4, (), 9)
    assert encode(heartbeat).hex(" ") == "99 01 03 01 02 05 0a 04 90 09"
    assert (
        encode(AppendEntries(1, 2, 5, 10, 4, (), 9, round=3)).hex(" ") == "9a 01 03 01 02 05 0a 04 90 09 03"
    )
    with pytest.raises(WireError, match="AppendEntries: round holds its default"):
        decode(msgpack.packb([1, 3, 1, 2, 5, 10, 4, [], 9, 0]))
    with pytest.raises(WireError, match="expected 9 or 10 items"):
        decode(msgpack.packb([1, 3, 1, 2, 5, 10, 4, []]))
    reply = AppendEntriesReply(2, 1, 5, True, 10, round=3)
    assert decode(encode(reply)) == reply


def test_an_optional_last_field_is_left_off_when_it_holds_its_default() -> None:
    """AppendEntriesReply.recovering and StatusReply.recovering (protocol-aware recovery): a
    healthy node's messages are byte for byte what they were before the fields existed."""
    healthy = AppendEntriesReply(1, 2, 3, True, 4)
    assert encode(healthy) == pack(1, 4, 1, 2, 3, True, 4, 0, 0)
    assert decode(pack(1, 4, 1, 2, 3, True, 4, 0, 0)) == healthy
    recovering = AppendEntriesReply(1, 2, 3, False, 0, 5, 1, recovering=True)
    assert encode(recovering) == pack(1, 4, 1, 2, 3, False, 0, 5, 1, 0, True)
    assert decode(encode(recovering)) == recovering
    status = decode(pack(1, 8, *STATUS_REPLY, "lost entries 3..?"))
    assert isinstance(status, StatusReply) and status.recovering == "lost entries 3..?"
    assert encode(status) == pack(1, 8, *STATUS_REPLY, "lost entries 3..?")
    with pytest.raises(WireError, match="recovering"):
        decode(pack(1, 4, 1, 2, 3, True, 4, 0, 0, 0, 1))  # not a bool
