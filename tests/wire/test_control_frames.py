"""Control frames between the lab and a lab-mode node: framing, round trips, robustness, rejections."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import typing
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftviz import wire
from raftviz.core.membership import Configuration
from raftviz.core.messages import OPS, ClientReply, Command, Entry, RequestVote, RequestVoteReply
from raftviz.core.reasons import KINDS as REASON_KINDS
from raftviz.core.reasons import VOTE_GRANTED, Reason
from raftviz.core.violations import KINDS
from raftviz.wire import (
    MAX_FRAME,
    MAX_NODE_ID,
    PROTOCOL_VERSION,
    ControlFrame,
    Deliver,
    Failure,
    Fire,
    ForceTimeout,
    Hello,
    Report,
    SetElection,
    Shutdown,
    TakeSnapshot,
    WireError,
    decode_frame,
    digest,
    encode_frame,
    parse_frame,
    read_frame,
    write_frame,
)
from raftviz.wire.control import GetState, LoadState, Secret, SetDisk, State, Transfer

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FRAME_CLASSES: tuple[type, ...] = (
    Hello,
    Deliver,
    Fire,
    ForceTimeout,
    SetElection,
    Shutdown,
    Failure,
    Report,
    TakeSnapshot,
    GetState,
    State,
    LoadState,
    SetDisk,
    Secret,
    Transfer,
)
TAGS = {
    Hello: 64,
    Deliver: 65,
    Fire: 66,
    ForceTimeout: 67,
    SetElection: 68,
    TakeSnapshot: 72,
    Shutdown: 69,
    Failure: 70,
    Report: 71,
    GetState: 73,
    State: 74,
    LoadState: 75,
    SetDisk: 80,
    Secret: 76,
    Transfer: 81,
}
ROLES = ("follower", "pre-candidate", "candidate", "leader")
HEADER = 4

# --------------------------------------------------------------------------- strategies

INDEX_MAX = 2**63 - 1
indexes = st.one_of(st.integers(0, 1000), st.integers(0, INDEX_MAX), st.sampled_from([0, INDEX_MAX]))
node_ids = st.one_of(st.integers(1, 9), st.integers(1, MAX_NODE_ID), st.just(MAX_NODE_ID))
node_ids_or_zero = st.one_of(st.just(0), node_ids)
client_ids = st.text(min_size=1, max_size=64)
texts = st.text(max_size=40)
configurations = st.builds(Configuration.of, st.lists(node_ids, max_size=7), st.lists(node_ids, max_size=3))
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
    configurations.map(Configuration.to_command),
)
entries = st.builds(Entry, term=indexes, command=commands, stamp=indexes)
# What a node sends: real datagrams usually, but the frame carries any bytes.
datagrams = st.one_of(
    st.sampled_from([wire.encode(RequestVote(1, 2, 3, 4, 5)), wire.encode(ClientReply(1, "c1", 0, True))]),
    st.binary(max_size=40),
)
pairs = st.lists(st.tuples(node_ids, indexes), max_size=4).map(tuple)

# The types are the ones decode_frame builds (lists and tuples exactly so), so that == compares values.
reports_without_configuration = st.builds(
    Report,
    node=node_ids,
    role=st.sampled_from(ROLES),
    term=indexes,
    vote=node_ids_or_zero,
    leader=node_ids_or_zero,
    commit=indexes,
    applied=indexes,
    last_index=indexes,
    last_term=indexes,
    deadline=indexes,
    election_timeout=indexes,
    log_from=indexes,
    entries=st.lists(entries, max_size=4),
    sent=st.lists(st.tuples(node_ids | client_ids, datagrams), max_size=4),
    votes=st.lists(node_ids, max_size=5).map(tuple),
    next_index=pairs,
    match_index=pairs,
    dropped=indexes,
    refused=texts,
    start_index=indexes,
    start_term=indexes,
    # Small here (some tests walk every byte of a frame); test_report_with_a_large_snapshot goes big.
    snapshot=st.binary(max_size=64),
    disk=st.one_of(
        st.sampled_from(["ok", "fail", "full"]), st.integers(1, 60_000).map(lambda ms: f"slow:{ms}")
    ),
    violations=st.dictionaries(
        st.sampled_from(KINDS) | texts.filter(bool), st.integers(1, INDEX_MAX), max_size=3
    ).map(lambda counts: tuple(sorted(counts.items()))),
    reasons=st.lists(
        st.builds(
            Reason,
            st.sampled_from(REASON_KINDS),
            node_ids_or_zero,
            node_ids_or_zero,
            *[indexes] * 7,
            texts,
            texts,
            texts,
        ),
        max_size=3,
    ).map(tuple),
    reads_waiting=indexes,
    reads=st.lists(texts, max_size=8).map(tuple),
    lease=indexes,
    recovering=texts,
    transfer=node_ids_or_zero,
    quorum_check=indexes,
    quorum_heard=st.sets(node_ids, max_size=5).map(lambda ids: tuple(sorted(ids))),
)
# voters and learners: sorted, without duplicates, disjoint (a Configuration's).
reports = st.builds(
    lambda report, configuration: dataclasses.replace(
        report, voters=configuration.voters, learners=configuration.learners
    ),
    reports_without_configuration,
    configurations,
)
STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    Hello: st.builds(Hello, node=node_ids, pid=indexes, port=st.integers(1, 65535), report=reports),
    Deliver: st.builds(Deliver, now=indexes, digest=st.binary(min_size=8, max_size=8)),
    Fire: st.builds(Fire, now=indexes),
    ForceTimeout: st.builds(ForceTimeout, now=indexes),
    SetElection: st.builds(SetElection, deadline=indexes),
    TakeSnapshot: st.builds(TakeSnapshot, now=indexes),
    Shutdown: st.just(Shutdown()),
    Failure: st.builds(Failure, reason=texts),
    Report: reports,
    GetState: st.just(GetState()),
    # Small here (some tests walk every byte of a frame); test_state_frames_carry_large_blobs goes big.
    State: st.builds(State, blob=st.binary(min_size=1, max_size=64)),
    LoadState: st.builds(LoadState, blob=st.binary(min_size=1, max_size=64)),
    SetDisk: st.one_of(
        st.builds(SetDisk, mode=st.sampled_from(["ok", "fail", "full"])),
        st.builds(SetDisk, mode=st.just("slow"), ms=st.integers(1, 60_000)),
    ),
    Secret: st.builds(Secret, secret=st.binary(min_size=1, max_size=64)),
    Transfer: st.builds(Transfer, now=indexes, target=node_ids),
}
frames = st.one_of(*STRATEGIES.values())

# Arbitrary msgpack-able values, to put where fields are expected.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=10),
    st.binary(max_size=10),
    st.sampled_from([*ROLES, *OPS, "", "c1", "1,2", b"\x00" * 8, 2**63, 2**31, 65535, 65536, -1, 0, 1]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(st.text(max_size=4) | st.integers(-(2**63), 2**64 - 1), inner, max_size=3)
    ),
    max_leaves=20,
)


def pack(*items: object) -> bytes:
    return msgpack.packb(list(items), use_bin_type=True)


def framed(body: bytes) -> bytes:
    return len(body).to_bytes(HEADER, "big") + body


def body_of(frame: ControlFrame) -> list[Any]:
    """The unpacked msgpack array of a frame: [version, tag, fields...]."""
    return msgpack.unpackb(encode_frame(frame)[HEADER:], raw=False)


def check_decode_frame(body: bytes) -> None:
    """decode_frame either returns a valid frame (which round-trips) or raises WireError; nothing else."""
    try:
        frame = decode_frame(body)
    except WireError:
        return
    assert type(frame) in FRAME_CLASSES
    assert decode_frame(encode_frame(frame)[HEADER:]) == frame


def check_parse_frame(buffer: bytes) -> None:
    """parse_frame either waits for more, returns a frame and its length, or raises WireError."""
    try:
        frame, used = parse_frame(buffer)
    except WireError:
        return
    if frame is None:
        assert used == 0
    else:
        assert type(frame) in FRAME_CLASSES
        assert HEADER < used <= len(buffer)


# --------------------------------------------------------------------------- the table


def test_strategies_cover_every_control_frame() -> None:
    assert set(STRATEGIES) == set(FRAME_CLASSES) == set(typing.get_args(ControlFrame)) == set(TAGS)


@pytest.mark.parametrize("cls", FRAME_CLASSES, ids=lambda c: c.__name__)
@FAST
@given(data=st.data())
def test_tag_and_field_order(cls: type, data: st.DataObject) -> None:
    frame = data.draw(STRATEGIES[cls])
    body = body_of(frame)
    assert body[:2] == [PROTOCOL_VERSION, TAGS[cls]]
    fields = body[2:]
    names = [f.name for f in dataclasses.fields(cls)]
    if cls is Hello:
        # Hello nests its report as an array of the 34 report fields.
        assert fields[:3] == [frame.node, frame.pid, frame.port]
        assert fields[3] == body_of(frame.report)[2:]
    elif cls is Report:
        assert len(fields) == 34
        nested = (
            *("entries", "sent", "votes", "next_index", "match_index", "voters", "learners"),
            *("violations", "reasons", "reads", "quorum_heard"),
        )
        plain = [n for n in names if n not in nested]
        assert [fields[names.index(n)] for n in plain] == [getattr(frame, n) for n in plain]
        assert names[-15:] == [
            "start_index",
            "start_term",
            "voters",
            "learners",
            "snapshot",
            "disk",
            "violations",
            "reasons",
            "reads_waiting",
            "reads",
            "lease",
            "recovering",
            "transfer",
            "quorum_check",
            "quorum_heard",
        ]
        assert fields[names.index("reads")] == list(frame.reads)
        assert fields[names.index("quorum_heard")] == list(frame.quorum_heard)
        assert fields[names.index("violations")] == [list(p) for p in frame.violations]
        assert fields[names.index("reasons")] == [
            [getattr(r, f.name) for f in dataclasses.fields(Reason)] for r in frame.reasons
        ]
        assert fields[names.index("voters")] == list(frame.voters)
        assert fields[names.index("learners")] == list(frame.learners)
        assert type(fields[names.index("snapshot")]) is bytes  # a bin
        assert fields[names.index("sent")] == [[dst, data] for dst, data in frame.sent]
        assert fields[names.index("entries")] == [wire.entry_to_wire(e) for e in frame.entries]
        assert fields[names.index("votes")] == list(frame.votes)
        assert fields[names.index("next_index")] == [list(p) for p in frame.next_index]
        assert fields[names.index("match_index")] == [list(p) for p in frame.match_index]
    else:
        assert fields == [getattr(frame, n) for n in names]


def test_control_tags_are_not_raft_tags() -> None:
    assert all(tag >= 64 for tag in TAGS.values())
    assert len(set(TAGS.values())) == len(TAGS)
    assert not set(TAGS.values()) & set(wire.TAGS)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("cls", FRAME_CLASSES, ids=lambda c: c.__name__)
@FAST
@given(data=st.data())
def test_round_trip_through_parse_frame(cls: type, data: st.DataObject) -> None:
    frame = data.draw(STRATEGIES[cls])
    encoded = encode_frame(frame)
    assert isinstance(encoded, bytes)
    assert int.from_bytes(encoded[:HEADER], "big") == len(encoded) - HEADER
    parsed, used = parse_frame(encoded)
    assert parsed == frame
    assert type(parsed) is cls
    assert used == len(encoded)
    assert parse_frame(bytearray(encoded)) == (frame, len(encoded))
    assert decode_frame(encoded[HEADER:]) == frame
    assert encode_frame(parsed) == encoded


@pytest.mark.parametrize("cls", FRAME_CLASSES, ids=lambda c: c.__name__)
@FAST
@given(data=st.data())
def test_round_trip_through_a_stream(cls: type, data: st.DataObject) -> None:
    frame = data.draw(STRATEGIES[cls])
    stream = io.BytesIO()
    write_frame(stream, frame)
    assert stream.getvalue() == encode_frame(frame)
    stream.seek(0)
    assert read_frame(stream) == frame
    assert read_frame(stream) is None


@FAST
@given(batch=st.lists(frames, max_size=6))
def test_many_frames_through_a_stream(batch: list[ControlFrame]) -> None:
    stream = io.BytesIO()
    for frame in batch:
        write_frame(stream, frame)
    stream.seek(0)
    assert [read_frame(stream) for _ in batch] == batch
    assert read_frame(stream) is None
    assert read_frame(stream) is None  # and it stays at the end


@FAST
@given(frame=frames)
def test_partial_buffers_wait_for_more(frame: ControlFrame) -> None:
    encoded = encode_frame(frame)
    for cut in range(len(encoded)):
        assert parse_frame(encoded[:cut]) == (None, 0)
        assert parse_frame(bytearray(encoded[:cut])) == (None, 0)


@FAST
@given(batch=st.lists(frames, min_size=1, max_size=6), data=st.data())
def test_concatenated_frames_parse_one_by_one(batch: list[ControlFrame], data: st.DataObject) -> None:
    encoded = [encode_frame(frame) for frame in batch]
    stream = b"".join(encoded)
    # A reader fed arbitrary chunks, like os.read on a pipe.
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    buffer = bytearray()
    parsed = []
    for chunk in chunks:
        buffer += chunk
        while True:
            frame, used = parse_frame(buffer)
            if frame is None:
                assert used == 0
                break
            assert used == len(encoded[len(parsed)])
            parsed.append(frame)
            del buffer[:used]
    assert parsed == batch
    assert buffer == b""


def test_frames_followed_by_a_partial_frame() -> None:
    whole = encode_frame(Fire(10)) + encode_frame(Shutdown())
    partial = encode_frame(Failure("disk full"))[:-1]
    buffer = whole + partial
    assert parse_frame(buffer) == (Fire(10), 8)  # 4-byte prefix and [1, 66, 10] in 4 bytes
    assert parse_frame(buffer[8:]) == (Shutdown(), 7)
    assert parse_frame(buffer[15:]) == (None, 0)


# --------------------------------------------------------------------------- digest


def test_digest_is_eight_bytes_of_blake2b() -> None:
    datagram = wire.encode(RequestVote(3, 1, 7, 12, 6))
    assert digest(datagram) == hashlib.blake2b(datagram, digest_size=8).digest()
    # BLAKE2b with an 8-byte output, which is not BLAKE2b-512 cut to 8 bytes.
    assert digest(datagram) != hashlib.blake2b(datagram).digest()[:8]
    assert digest(datagram).hex(" ") == "5a 82 27 e3 86 c8 5b 22"
    assert digest(b"").hex() == hashlib.blake2b(b"", digest_size=8).hexdigest()


@FAST
@given(data=st.binary(max_size=200))
def test_deliver_carries_any_digest(data: bytes) -> None:
    frame = Deliver(5, digest(data))
    assert len(frame.digest) == 8
    assert parse_frame(encode_frame(frame)) == (frame, len(encode_frame(frame)))


# --------------------------------------------------------------------------- documented examples

EMPTY_REPORT = Report(
    node=1, role="follower", term=0, vote=0, leader=0, commit=0, applied=0,
    last_index=0, last_term=0, deadline=183, election_timeout=183, voters=(1, 2, 3),
)  # fmt: skip
VOTING_REPORT = Report(
    node=1, role="follower", term=7, vote=3, leader=0, commit=0, applied=0, last_index=12, last_term=6,
    deadline=1687, election_timeout=187, sent=[(3, wire.encode(RequestVoteReply(1, 3, 7, True)))],
    voters=(1, 2, 3), violations=(("term-too-large", 1),),
    reasons=(Reason(VOTE_GRANTED, peer=3, term=7, our_term=6, our_index=12, their_term=6, their_index=12),),
)  # fmt: skip
GOLDEN = [
    # The examples of docs/protocol.md section 7; another implementation must produce exactly these.
    (
        Deliver(1500, bytes.fromhex("5a8227e386c85b22")),
        "00 00 00 10 94 01 41 cd 05 dc c4 08 5a 82 27 e3 86 c8 5b 22",
    ),
    (Fire(1500), "00 00 00 06 93 01 42 cd 05 dc"),
    (ForceTimeout(200), "00 00 00 05 93 01 43 cc c8"),
    (SetElection(300), "00 00 00 06 93 01 44 cd 01 2c"),
    (Shutdown(), "00 00 00 03 92 01 45"),
    (Failure("corrupt log"), "00 00 00 0f 93 01 46 ab 63 6f 72 72 75 70 74 20 6c 6f 67"),
    (GetState(), "00 00 00 03 92 01 49"),
    (State(b"RV"), "00 00 00 07 93 01 4a c4 02 52 56"),
    (LoadState(b"RV"), "00 00 00 07 93 01 4b c4 02 52 56"),
    (SetDisk("slow", 80), "00 00 00 09 94 01 50 a4 73 6c 6f 77 50"),
    (Secret(b"RV"), "00 00 00 07 93 01 4c c4 02 52 56"),
    (
        Hello(1, 4242, 40001, EMPTY_REPORT),
        "00 00 00 3f 96 01 40 01 cd 10 92 cd 9c 41 dc 00 22 01 a8 66 6f 6c 6c 6f 77 65 72 00 00 00 00 00 "
        "00 00 cc b7 cc b7 00 90 90 90 90 90 00 a0 00 00 93 01 02 03 90 c4 00 a2 6f 6b 90 90 00 90 00 a0 00 "
        "00 90",
    ),
    (
        VOTING_REPORT,
        "00 00 00 6e dc 00 24 01 47 01 a8 66 6f 6c 6c 6f 77 65 72 07 03 00 00 00 0c 06 cd 06 97 cc bb 00 "
        "90 91 92 03 c4 07 96 01 02 01 03 07 c3 90 90 90 00 a0 00 00 93 01 02 03 90 c4 00 a2 6f 6b 91 92 "
        "ae 74 65 72 6d 2d 74 6f 6f 2d 6c 61 72 67 65 01 91 9d ac 76 6f 74 65 2d 67 72 61 6e 74 65 64 03 "
        "00 07 00 06 0c 06 0c 00 a0 a0 a0 00 90 00 a0 00 00 90",
    ),
]


@pytest.mark.parametrize(("frame", "hex_bytes"), GOLDEN, ids=lambda x: type(x).__name__)
def test_golden_frames(frame: ControlFrame, hex_bytes: str) -> None:
    assert encode_frame(frame).hex(" ") == hex_bytes
    assert parse_frame(bytes.fromhex(hex_bytes)) == (frame, len(bytes.fromhex(hex_bytes)))


def test_golden_frames_are_the_documented_examples() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    # Each example is a code block of its own; long ones are wrapped over several lines.
    blocks = {" ".join(block.split()) for block in re.findall(r"\n```\n(.*?)\n```\n", doc, re.DOTALL)}
    for _, hex_bytes in GOLDEN:
        assert hex_bytes in blocks, hex_bytes


# --------------------------------------------------------------------------- robustness


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_frame_arbitrary_bytes(data: bytes) -> None:
    check_decode_frame(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parse_frame_arbitrary_bytes(data: bytes) -> None:
    check_parse_frame(data)


@FAST
@given(frame=frames, data=st.data())
def test_decode_frame_bit_flips(frame: ControlFrame, data: st.DataObject) -> None:
    body = bytearray(encode_frame(frame)[HEADER:])
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(body) - 1))
        body[position] ^= 1 << data.draw(st.integers(0, 7))
    check_decode_frame(bytes(body))


@FAST
@given(frame=frames, data=st.data())
def test_parse_frame_bit_flips_anywhere(frame: ControlFrame, data: st.DataObject) -> None:
    # Header included: a flipped length makes the frame look shorter, longer or oversize.
    encoded = bytearray(encode_frame(frame))
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] ^= 1 << data.draw(st.integers(0, 7))
    check_parse_frame(bytes(encoded))


@FAST
@given(frame=frames, data=st.data())
def test_decode_frame_truncated(frame: ControlFrame, data: st.DataObject) -> None:
    body = encode_frame(frame)[HEADER:]
    cut = data.draw(st.integers(0, len(body) - 1))
    with pytest.raises(WireError):
        decode_frame(body[:cut])


@FAST
@given(frame=frames, extra=st.binary(min_size=1, max_size=20))
def test_decode_frame_appended_bytes(frame: ControlFrame, extra: bytes) -> None:
    with pytest.raises(WireError, match="malformed control frame"):
        decode_frame(encode_frame(frame)[HEADER:] + extra)


@FAST
@given(frame=frames, data=st.data())
def test_decode_frame_byte_replacement_and_insertion(frame: ControlFrame, data: st.DataObject) -> None:
    body = bytearray(encode_frame(frame)[HEADER:])
    position = data.draw(st.integers(0, len(body)))
    chunk = data.draw(st.binary(min_size=1, max_size=4))
    if data.draw(st.booleans()) and position < len(body):
        body[position : position + len(chunk)] = chunk
    else:
        body[position:position] = chunk
    check_decode_frame(bytes(body))


@FAST
@given(frame=frames, data=st.data())
def test_decode_frame_one_field_replaced(frame: ControlFrame, data: st.DataObject) -> None:
    body = body_of(frame)
    if len(body) == 2:  # Shutdown: add a field instead
        body.append(data.draw(values))
    else:
        body[data.draw(st.integers(1, len(body) - 1))] = data.draw(values)
    check_decode_frame(msgpack.packb(body, use_bin_type=True))


@FAST
@given(frame=st.one_of(STRATEGIES[Report], STRATEGIES[Hello]), data=st.data())
def test_decode_frame_one_report_field_replaced(frame: ControlFrame, data: st.DataObject) -> None:
    # Reach the report's nested fields: a field of the report (in a Hello too), or an item inside one.
    body = body_of(frame)
    fields = body[5] if isinstance(frame, Hello) else body
    position = data.draw(st.integers(0 if isinstance(frame, Hello) else 2, len(fields) - 1))
    nested = fields[position]
    if isinstance(nested, list) and nested and data.draw(st.booleans()):
        nested[data.draw(st.integers(0, len(nested) - 1))] = data.draw(values)
    else:
        fields[position] = data.draw(values)
    check_decode_frame(msgpack.packb(body, use_bin_type=True))


@FAST
@given(tag=st.sampled_from(sorted(TAGS.values())), data=st.data())
def test_decode_frame_arbitrary_fields_for_each_tag(tag: int, data: st.DataObject) -> None:
    length = {
        64: 4,
        65: 2,
        66: 1,
        67: 1,
        68: 1,
        69: 0,
        70: 1,
        71: 26,
        72: 1,
        73: 0,
        74: 1,
        75: 1,
        76: 1,
        80: 2,
        81: 2,
    }[tag]
    count = data.draw(st.sampled_from([length, length, length, 0, max(0, length - 1), length + 1]))
    fields = data.draw(st.lists(values, min_size=count, max_size=count))
    check_decode_frame(pack(PROTOCOL_VERSION, tag, *fields))


def test_decode_frame_non_bytes_input() -> None:
    for value in ("not bytes", None, 5):
        with pytest.raises(WireError):
            decode_frame(value)  # type: ignore[arg-type]


def test_decode_frame_deep_nesting() -> None:
    with pytest.raises(WireError, match="malformed control frame"):
        decode_frame(b"\x91" * 60_000 + b"\xc0")


# --------------------------------------------------------------------------- length prefix and streams


def test_oversize_length_prefix_is_refused() -> None:
    too_big = (MAX_FRAME + 1).to_bytes(HEADER, "big")
    message = f"control frame of {MAX_FRAME + 1} bytes exceeds {MAX_FRAME}"
    # Refused from the header alone: nobody waits for (or buffers) 64 MiB first.
    with pytest.raises(WireError, match=message):
        parse_frame(too_big)
    with pytest.raises(WireError, match=message):
        read_frame(io.BytesIO(too_big + b"\x00" * 10))
    with pytest.raises(WireError, match="exceeds"):
        parse_frame(b"\xff\xff\xff\xff")


def test_largest_length_prefix_is_accepted() -> None:
    # A frame of exactly MAX_FRAME bytes is allowed; the buffer is still incomplete.
    assert parse_frame(MAX_FRAME.to_bytes(HEADER, "big") + b"\x00" * 100) == (None, 0)


def test_read_frame_clean_end_of_stream() -> None:
    assert read_frame(io.BytesIO(b"")) is None
    stream = io.BytesIO(encode_frame(Fire(1)))
    assert read_frame(stream) == Fire(1)
    assert read_frame(stream) is None


@pytest.mark.parametrize("size", [1, 2, 3])
def test_read_frame_end_of_stream_inside_the_header(size: int) -> None:
    with pytest.raises(WireError, match="control stream ended inside a frame header"):
        read_frame(io.BytesIO(encode_frame(Fire(1))[:size]))


@FAST
@given(frame=frames, data=st.data())
def test_read_frame_end_of_stream_inside_a_frame(frame: ControlFrame, data: st.DataObject) -> None:
    encoded = encode_frame(frame)
    cut = data.draw(st.integers(HEADER, len(encoded) - 1))
    stream = io.BytesIO(encode_frame(Shutdown()) + encoded[:cut])
    assert read_frame(stream) == Shutdown()
    with pytest.raises(WireError, match="control stream ended inside a frame$"):
        read_frame(stream)


def test_zero_length_frame_is_malformed() -> None:
    with pytest.raises(WireError, match="malformed control frame"):
        parse_frame(b"\x00\x00\x00\x00")
    with pytest.raises(WireError, match="malformed control frame"):
        read_frame(io.BytesIO(b"\x00\x00\x00\x00"))


def test_write_frame_flushes() -> None:
    class Recorder(io.BytesIO):
        flushed = 0

        def flush(self) -> None:
            self.flushed = len(self.getvalue())

    stream = Recorder()
    write_frame(stream, Fire(3))
    assert stream.flushed == len(encode_frame(Fire(3)))


# --------------------------------------------------------------------------- specific rejections


def test_reject_wrong_version() -> None:
    with pytest.raises(WireError, match=r"expected \[version, tag, \.\.\.\] of this protocol version"):
        decode_frame(pack(2, 66, 5))
    with pytest.raises(WireError, match="of this protocol version"):
        decode_frame(pack(0, 66, 5))


@pytest.mark.parametrize("body", [pack(), pack(1), msgpack.packb(1), msgpack.packb({"v": 1})], ids=repr)
def test_reject_not_an_envelope(body: bytes) -> None:
    with pytest.raises(WireError, match=r"expected \[version, tag, \.\.\.\]"):
        decode_frame(body)


@pytest.mark.parametrize("tag", [0, 1, 5, 8, 63, 77, 255, -64, 2**40, "Fire", None])
def test_reject_unknown_tag(tag: object) -> None:
    with pytest.raises(WireError, match="unknown control frame tag"):
        decode_frame(pack(1, tag, 5))


@pytest.mark.parametrize(
    ("tag", "fields"),
    [
        (64, [1, 2, 3]),
        (65, [1]),
        (65, [1, b"\x00" * 8, 0]),
        (66, []),
        (66, [1, 2]),
        (67, []),
        (68, [1, 2]),
        (69, [0]),
        (70, []),
        (70, ["a", "b"]),
        (73, [b"x"]),
        (74, []),
        (74, [b"x", b"y"]),
        (75, []),
    ],
)
def test_reject_wrong_field_count(tag: int, fields: list[Any]) -> None:
    with pytest.raises(WireError, match=f"unknown control frame tag {tag} with {len(fields)} fields"):
        decode_frame(pack(1, tag, *fields))


def test_reject_report_of_wrong_length() -> None:
    fields = body_of(EMPTY_REPORT)[2:]
    for bad in (fields[:-1], [*fields, 0], []):
        with pytest.raises(WireError, match="expected list of 34 report fields"):
            decode_frame(pack(1, 71, *bad))
    with pytest.raises(WireError, match="expected list of 34 report fields, got dict"):
        decode_frame(pack(1, 64, 1, 2, 3, {"report": 1}))


@pytest.mark.parametrize("tag", [74, 75])
@pytest.mark.parametrize(
    ("blob", "got"), [(b"", "empty bytes"), ("RV", "str"), (None, "None"), (5, "int"), ([b"x"], "list")]
)
def test_reject_bad_state_blob(tag: int, blob: object, got: str) -> None:
    expected = f"field 'blob' of control frame: expected non-empty bytes, got {got}"
    with pytest.raises(WireError, match=expected):
        decode_frame(pack(1, tag, blob))


def test_state_frames_carry_large_blobs() -> None:
    blob = bytes(range(256)) * 40_000  # 10 MB: a node with a long log
    for frame in (State(blob), LoadState(blob)):
        encoded = encode_frame(frame)
        assert parse_frame(encoded) == (frame, len(encoded))
        assert read_frame(io.BytesIO(encoded)) == frame
    with pytest.raises(WireError, match="exceeds"):
        encode_frame(State(b"x" * (MAX_FRAME + 1)))


def test_raft_datagrams_and_control_frames_do_not_mix() -> None:
    datagram = wire.encode(RequestVote(3, 1, 7, 12, 6))
    with pytest.raises(WireError, match="unknown control frame tag 1"):
        decode_frame(datagram)
    for frame in (Fire(5), Shutdown(), EMPTY_REPORT):
        with pytest.raises(WireError):
            wire.decode(encode_frame(frame)[HEADER:])
    with pytest.raises(WireError, match="cannot encode RequestVote: not a control frame"):
        encode_frame(RequestVote(3, 1, 7, 12, 6))  # type: ignore[arg-type]
    with pytest.raises(WireError, match="not a message of the wire protocol"):
        wire.encode(Fire(5))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("digest_value", "got"),
    [(b"\x00" * 7, "bytes"), (b"\x00" * 9, "bytes"), ("01234567", "str"), (None, "None")],
)
def test_reject_bad_digest(digest_value: object, got: str) -> None:
    with pytest.raises(WireError, match=f"field 'digest' of control frame: expected 8 bytes, got {got}"):
        decode_frame(pack(1, 65, 5, digest_value))


@pytest.mark.parametrize("tag", [65, 66, 67, 68])
@pytest.mark.parametrize("time", [-1, 2**63, True, 1.0, "5", None])
def test_reject_bad_time(tag: int, time: object) -> None:
    fields = [time, b"\x00" * 8] if tag == 65 else [time]
    with pytest.raises(WireError, match=r"expected int >= 0 and < 2\*\*63"):
        decode_frame(pack(1, tag, *fields))


@pytest.mark.parametrize(("port", "got"), [(0, "0"), (65536, "65536"), (-1, "-1"), ("80", "str")])
def test_reject_bad_hello_port(port: object, got: str) -> None:
    report = body_of(EMPTY_REPORT)[2:]
    with pytest.raises(
        WireError, match=rf"field 'port' of control frame: expected port \(int 1\.\.65535\), got {got}"
    ):
        decode_frame(pack(1, 64, 1, 4242, port, report))


def test_reject_bad_hello_node_and_pid() -> None:
    report = body_of(EMPTY_REPORT)[2:]
    with pytest.raises(WireError, match="expected node id"):
        decode_frame(pack(1, 64, 0, 4242, 40001, report))
    with pytest.raises(WireError, match="expected int >= 0"):
        decode_frame(pack(1, 64, 1, -1, 40001, report))


REPORT_FIELDS = [f.name for f in dataclasses.fields(Report)]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("node", 0, "expected node id"),
        ("role", "Leader", "expected follower, pre-candidate, candidate or leader, got 'Leader'"),
        ("role", 1, "expected follower, pre-candidate, candidate or leader, got int"),
        ("term", -1, "expected int >= 0"),
        ("vote", -1, "expected node id or 0"),
        ("leader", MAX_NODE_ID + 1, "expected node id or 0"),
        ("deadline", True, "expected int >= 0 .*, got bool"),
        ("entries", {"a": 1}, "expected lists for entries, sent and votes"),
        ("entries", [[1]], r"expected list \[term, command, stamp\]"),
        ("entries", [[1, ["frobnicate", "", "", "", 0, 0], 0]], "field 'command.op' of control frame"),
        ("sent", [[2]], r"expected list of \[destination, bytes\]"),
        ("sent", [[2, "not bytes"]], r"expected list of \[destination, bytes\]"),
        ("sent", [[0, b"x"]], "expected node id"),
        ("sent", [["", b"x"]], "expected client id"),
        ("sent", [[True, b"x"]], "expected node id"),
        ("votes", [0], "expected node id"),
        ("votes", None, "expected lists for entries, sent and votes"),
        ("next_index", [[1]], r"expected list of \[node, index\] pairs"),
        ("next_index", "x", r"expected list of \[node, index\] pairs, got str"),
        ("match_index", [[1, -1]], "expected int >= 0"),
        ("dropped", -1, "expected int >= 0"),
        ("refused", None, "expected str of at most 65536 UTF-8 bytes, got None"),
        ("start_index", -1, r"field 'start_index' of control frame: expected int >= 0 and < 2\*\*63, got -1"),
        ("start_term", True, r"field 'start_term' of control frame: expected int .*, got bool"),
        (
            "voters",
            [2, 1],
            "field 'voters' of control frame: expected list of node ids in ascending order, "
            "without duplicates, got 1 after 2",
        ),
        (
            "voters",
            [1, 1],
            "field 'voters' .*: expected list of node ids in ascending order, .*, got 1 after 1",
        ),
        ("voters", [1, 3, 2], "field 'voters' .*, got 2 after 3"),
        ("voters", [0], r"field 'voters' of control frame: expected node id \(int 1\.\.2147483648\), got 0"),
        ("voters", [MAX_NODE_ID + 1], "field 'voters' of control frame: expected node id"),
        ("voters", [1.0], "field 'voters' of control frame: expected node id .*, got float"),
        ("voters", "1,2,3", "field 'voters' of control frame: expected list of node ids .*, got str"),
        ("voters", None, "field 'voters' of control frame: expected list of node ids .*, got None"),
        (
            "learners",
            [5, 4],
            "field 'learners' of control frame: expected list of node ids .*, got 4 after 5",
        ),
        ("learners", [True], "field 'learners' of control frame: expected node id .*, got bool"),
        (
            "learners",
            [2, 4],
            r"field 'learners' of control frame: expected node ids that are not voters, "
            r"got \[2\] among the voters too",
        ),
        ("snapshot", "abc", "field 'snapshot' of control frame: expected bytes, got str"),
        ("snapshot", None, "field 'snapshot' of control frame: expected bytes, got None"),
        ("snapshot", [1, 2], "field 'snapshot' of control frame: expected bytes, got list"),
        ("violations", None, "field 'violations' of control frame: expected list of \\[kind, count\\]"),
        ("violations", [["term-too-large"]], "field 'violations' .*, got list"),
        ("violations", [["term-too-large", 0]], r"field 'violations' .*, got \['term-too-large', 0\]"),
        ("violations", [["", 1]], "field 'violations' .*, got \\[''"),
        ("violations", [[1, 1]], "field 'violations' .*, got list"),
        ("violations", [["b", 1], ["a", 1]], "field 'violations' .*, got \\['a', 1\\]"),
        ("violations", [["a", 1], ["a", 2]], "field 'violations' .*, got \\['a', 2\\]"),
        ("violations", [["a", -1]], "expected int >= 0"),
        ("reasons", None, "field 'reasons' of control frame: expected list of reasons, got None"),
        ("reasons", [["vote-granted"]], "field 'reason' .*: expected list of 13 reason fields, got list"),
        ("reasons", [["because", *[0] * 9, "", "", ""]], "field 'reason kind' .*: expected a kind of"),
        ("reasons", [["elected", *[0] * 9, "", "", ""][:12] + [None]], "field 'reason text' .*, got None"),
        ("reasons", [["elected", -1, *[0] * 8, "", "", ""]], "field 'reason peer' .*: expected node id or 0"),
        ("reasons", [["elected", 0, 0, -1, *[0] * 6, "", "", ""]], "field 'term' .*: expected int >= 0"),
        ("reasons", [["elected", *[0] * 8, True, "", "", ""]], "field 'count' .*: expected int"),
    ],
)
def test_reject_bad_report_field(name: str, value: object, message: str) -> None:
    fields = body_of(EMPTY_REPORT)[2:]
    fields[REPORT_FIELDS.index(name)] = value
    with pytest.raises(WireError, match=message):
        decode_frame(pack(1, 71, *fields))
    with pytest.raises(WireError, match=message):
        decode_frame(pack(1, 64, 1, 4242, 40001, fields))  # the same report inside a Hello


def test_report_with_a_large_snapshot() -> None:
    # No cap on the snapshot but MAX_FRAME: far over a datagram, and over MAX_CHUNK.
    snapshot = bytes(range(256)) * 4096  # 1 MiB
    report = dataclasses.replace(
        EMPTY_REPORT, start_index=5000, start_term=9, voters=(1, 3), learners=(4,), snapshot=snapshot
    )
    encoded = encode_frame(report)
    assert len(encoded) > len(snapshot) > wire.MAX_CHUNK
    assert parse_frame(encoded) == (report, len(encoded))
    stream = io.BytesIO(encoded)
    assert read_frame(stream) == report
    hello = Hello(1, 4242, 40001, report)
    assert decode_frame(encode_frame(hello)[HEADER:]) == hello


def test_report_of_a_membership_change() -> None:
    # A leader's report after logging a config entry, with an empty and a one-learner configuration.
    entry = Entry(8, Configuration((1, 2, 3), (4,)).to_command())
    report = dataclasses.replace(
        EMPTY_REPORT, role="leader", term=8, log_from=21, entries=[entry], voters=(1, 2, 3), learners=(4,)
    )
    assert decode_frame(encode_frame(report)[HEADER:]) == report
    nobody = dataclasses.replace(EMPTY_REPORT, voters=(), learners=())
    assert decode_frame(encode_frame(nobody)[HEADER:]) == nobody
    only_learners = dataclasses.replace(EMPTY_REPORT, voters=(), learners=(MAX_NODE_ID,))
    assert decode_frame(encode_frame(only_learners)[HEADER:]) == only_learners


def test_reject_report_with_a_bad_config_entry() -> None:
    fields = body_of(EMPTY_REPORT)[2:]
    fields[REPORT_FIELDS.index("log_from")] = 1
    fields[REPORT_FIELDS.index("entries")] = [[1, ["config", "", "3,2,1", "", 0, 0], 0]]
    with pytest.raises(
        WireError, match=r"^field 'command\.value' of control frame: expected configuration in canonical form"
    ):
        decode_frame(pack(1, 71, *fields))


def test_report_before_membership_changes_is_refused() -> None:
    # The 19-field report of before: refused, not read with defaults.
    fields = body_of(EMPTY_REPORT)[2:]
    with pytest.raises(WireError, match="expected list of 34 report fields, got list of 19 items"):
        decode_frame(pack(1, 71, *fields[:19]))


def test_reject_failure_reason_not_text() -> None:
    with pytest.raises(WireError, match="expected str of at most 65536 UTF-8 bytes, got bytes"):
        decode_frame(pack(1, 70, b"disk full"))


def test_reject_invalid_utf8() -> None:
    body = encode_frame(Failure("ab"))[HEADER:].replace(b"\xa2ab", b"\xa2\xff\xfe")
    with pytest.raises(WireError, match="malformed control frame"):
        decode_frame(body)


def test_reject_encoding_non_frames() -> None:
    with pytest.raises(WireError, match="cannot encode Command: not a control frame"):
        encode_frame(Command("noop"))  # type: ignore[arg-type]
    with pytest.raises(WireError, match="cannot encode control frame Failure"):
        encode_frame(Failure("\ud800"))  # a lone surrogate has no UTF-8 form
    with pytest.raises(WireError, match="cannot encode control frame Fire"):
        encode_frame(Fire(2**64))


# --------------------------------------------------------------------------- regressions
#
# Once bugs in raftviz/wire.py: non-int version/tag accepted, fields not validated on encode.


@pytest.mark.parametrize(
    "body",
    [pack(True, 66, 5), pack(1.0, 66, 5), pack(1, 66.0, 5), pack(1, 69.0)],
    ids=["version-true", "version-float", "tag-float", "shutdown-tag-float"],
)
def test_reject_version_and_tag_of_wrong_type(body: bytes) -> None:
    # The Raft codec refuses these ("a bool is not an int"; floats never appear); so must the control codec.
    with pytest.raises(WireError):
        decode_frame(body)


@pytest.mark.parametrize(
    "frame",
    [
        Fire(-1),
        Fire(True),
        SetElection("5"),
        Deliver(1, b"abc"),
        Failure(5),
        Hello(1, 4242, 0, EMPTY_REPORT),
        dataclasses.replace(EMPTY_REPORT, role="boss"),
        dataclasses.replace(EMPTY_REPORT, votes=(0,)),
        dataclasses.replace(EMPTY_REPORT, voters=(3, 1, 2)),
        dataclasses.replace(EMPTY_REPORT, voters=(1, 1, 2)),
        dataclasses.replace(EMPTY_REPORT, learners=(3,)),
        dataclasses.replace(EMPTY_REPORT, start_index=-1),
        dataclasses.replace(EMPTY_REPORT, snapshot="state"),
        dataclasses.replace(EMPTY_REPORT, disk="broken"),
        dataclasses.replace(EMPTY_REPORT, disk="slow:0"),
        dataclasses.replace(EMPTY_REPORT, disk="slow:007"),
        dataclasses.replace(EMPTY_REPORT, disk="full:5"),
        SetDisk("slow", 0),
        SetDisk("slow", 60_001),
        SetDisk("full", 5),
        SetDisk("melted"),
        SetDisk("ok", True),
    ],
    ids=[
        "negative-time",
        "bool-time",
        "str-deadline",
        "short-digest",
        "int-reason",
        "port-0",
        "bad-role",
        "vote-0",
        "unsorted-voters",
        "duplicate-voters",
        "voter-also-learner",
        "negative-start-index",
        "str-snapshot",
        "unknown-disk",
        "slow-disk-0",
        "slow-disk-leading-zero",
        "full-disk-with-ms",
        "setdisk-slow-0",
        "setdisk-slow-too-long",
        "setdisk-full-with-ms",
        "setdisk-unknown-mode",
        "setdisk-bool-ms",
    ],
)
def test_encode_frame_refuses_what_decode_frame_refuses(frame: ControlFrame) -> None:
    # encode() refuses to put a malformed Raft message on the wire; encode_frame should do the same.
    with pytest.raises(WireError):
        encode_frame(frame)
