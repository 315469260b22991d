"""The wire codec: round trips, robustness against arbitrary bytes, and specific rejections."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftviz import wire
from raftviz.core.messages import (
    OPS,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    Entry,
    Message,
    RequestVote,
    RequestVoteReply,
    StatusReply,
    StatusRequest,
)
from raftviz.wire import (
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
)
ROLES = ("follower", "candidate", "leader")

# --------------------------------------------------------------------------- strategies

INDEX_MAX = 2**63 - 1
# Mostly small numbers (what a run produces), sometimes the extremes of the range.
indexes = st.one_of(st.integers(0, 1000), st.integers(0, INDEX_MAX), st.sampled_from([0, INDEX_MAX]))
node_ids = st.one_of(st.integers(1, 9), st.integers(1, MAX_NODE_ID), st.just(MAX_NODE_ID))
node_ids_or_zero = st.one_of(st.just(0), node_ids)
client_ids = st.text(min_size=1, max_size=64)
texts = st.text(max_size=40)

commands = st.builds(
    Command,
    op=st.sampled_from(OPS),
    key=texts,
    value=texts,
    client=st.text(max_size=64),
    seq=indexes,
    low=indexes,
)
entries = st.builds(Entry, term=indexes, command=commands)

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
    ),
    ClientRequest: st.builds(ClientRequest, src=client_ids, dst=node_ids, command=commands),
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
    ),
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
    st.sampled_from([*OPS, *ROLES, "Leader", "", "c1", 2**63, 2**31, 2**31 + 1, -1, 0, 1]),
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
        AppendEntries(1, 2, 5, 10, 4, (Entry(5, PUT_X),), 9),
        "99 01 03 01 02 05 0a 04 91 92 05 96 a3 70 75 74 a1 78 a1 31 a2 63 31 03 02 09",
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
        StatusReply(2, "c1", "follower", 7, 1, 1, 12, 12, 12, 0),
        "9c 01 08 02 a2 63 31 a8 66 6f 6c 6c 6f 77 65 72 07 01 01 0c 0c 0c 00",
    ),
]


@pytest.mark.parametrize(("msg", "hex_bytes"), GOLDEN, ids=lambda x: type(x).__name__)
def test_golden_bytes(msg: Message, hex_bytes: str) -> None:
    assert encode(msg).hex(" ") == hex_bytes
    assert decode(bytes.fromhex(hex_bytes)) == msg


def test_golden_bytes_are_the_documented_examples() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")
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
    assert raw == [entry.term, list(dataclasses.astuple(entry.command))]
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
    with pytest.raises(WireError, match=r"^Entry: expected list \[term, command\], got int$"):
        entry_from_wire(5)
    with pytest.raises(WireError, match=r"^field 'command\.seq' of Entry: expected int >= 0"):
        entry_from_wire([1, ["put", "k", "v", "c1", -2, 0]])
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


@pytest.mark.parametrize("tag", [0, 9, 63, 64, 65, 71, -1, 2**40])
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
    good = [1, ["put", "k", "v", "c1", 1, 0]]
    bad = [1, ["frobnicate", "k", "v", "c1", 1, 0]]
    with pytest.raises(
        WireError, match=r"field 'entries\[1\]\.command\.op' of AppendEntries: expected one of"
    ):
        decode(pack(1, 3, 1, 2, 1, 0, 0, [good, bad], 0))
    with pytest.raises(WireError, match=r"field 'command\.op' of ClientRequest"):
        encode(ClientRequest("c1", 1, Command("frobnicate")))


def test_reject_malformed_entry_shapes() -> None:
    with pytest.raises(
        WireError, match=r"field 'entries\[0\]' of AppendEntries: expected list \[term, command\]"
    ):
        decode(pack(1, 3, 1, 2, 1, 0, 0, [[1]], 0))
    with pytest.raises(WireError, match=r"field 'entries\[0\]\.term' of AppendEntries"):
        decode(pack(1, 3, 1, 2, 1, 0, 0, [[-5, ["noop", "", "", "", 0, 0]]], 0))
    with pytest.raises(
        WireError, match=r"field 'entries\[0\]\.command' of AppendEntries: expected list \[op"
    ):
        decode(pack(1, 3, 1, 2, 1, 0, 0, [[1, ["noop"]]], 0))
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
    raw = pack(1, 3, 1, 2, 1, 0, 0, [[1, ["noop", "", "", "", 0, 0]]] * (MAX_ENTRIES + 1), 0)
    with pytest.raises(WireError, match="exceeds MAX_DATAGRAM"):
        decode(raw)  # so many entries cannot fit in a datagram anyway
    monkeypatch.setattr(wire, "MAX_DATAGRAM", 10**6)
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
        decode(pack(1, 3, 1, 2, 1, 0, 0, {1: [1, ["noop", "", "", "", 0, 0]]}, 0))


def test_reject_str_keyed_map_in_a_field() -> None:
    with pytest.raises(WireError, match="field 'value' of ClientReply: expected str .* or None, got dict"):
        decode(pack(1, 6, 1, "c1", 0, True, {"a": "b"}, 0, ""))


# ClientReply.error, StatusRequest and StatusReply.

CLIENT_REPLY_ITEMS = (
    r"ClientReply: expected 9 items \[version, tag, src, dst, seq, ok, value, leader_hint, error\]"
)
STATUS_REPLY = (2, "c1", "leader", 7, 2, 2, 12, 11, 12, 0)  # the fields of a valid StatusReply


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
            MAX_NODE_ID, "c1", role, INDEX_MAX, 0, MAX_NODE_ID, INDEX_MAX, 0, INDEX_MAX, INDEX_MAX
        )
        assert decode(encode(reply)) == reply


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
    message = f"^field 'role' of StatusReply: expected one of 'follower', 'candidate', 'leader', got {got}$"
    with pytest.raises(WireError, match=message):
        decode(pack(1, 8, 2, "c1", role, 7, 2, 2, 12, 11, 12, 0))
    with pytest.raises(WireError, match=message):
        encode(StatusReply(2, "c1", role, 7, 2, 2, 12, 11, 12, 0))


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
    items = r"StatusReply: expected 12 items \[version, tag, src, dst, role, .*, dropped\]"
    with pytest.raises(WireError, match=f"^{items}, got 11$"):
        decode(pack(1, 8, *STATUS_REPLY[:-1]))
    with pytest.raises(WireError, match=f"^{items}, got 13$"):
        decode(pack(1, 8, *STATUS_REPLY, 0))


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
