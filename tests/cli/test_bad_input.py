"""Bad input never ends in a traceback: each bad command line gets one clear line and a non-zero exit.

One table: the command line (``{tmp}`` is a directory of prepared files,
``{port}`` the port of a running one-node cluster), what it reads on standard
input, the exit code (2 for a usage error; 3 for a data directory a node
cannot use; 4 for a request the cluster refuses) and a part of the message.
The first rows are the cases of issue 14 (item 7); the rest were found trying
the command as a new user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftviz.core.ready import HardState, Ready
from raftviz.lab.torture.cluster import free_udp_ports, pid_running
from raftviz.node.client import KVClient
from raftviz.node.storage import DEFAULT_CLUSTER, FileStorage

RAFTVIZ = [sys.executable, "-m", "raftviz"]
HUGE = str(10**23)
#: Three node addresses nothing listens on (a node that gets past its checks would run).
PEERS = "1=127.0.0.1:47551,2=127.0.0.1:47552,3=127.0.0.1:47553"
NODE = ["node", "--id", "1", "--peers", PEERS]
KV = ["kv", "--cluster", "127.0.0.1:{port}", "--timeout", "5"]
#: First in a command line: its standard output is /dev/full (every write fails with ENOSPC).
FULL = ">/dev/full"

#: (name, argv, stdin, exit code, part of the message)
CASES: list[tuple[str, list[str], bytes | None, int, str]] = [
    # --- issue 14, item 7
    ("data dir is a file", [*NODE, "--data", "{tmp}/afile"], None, 3, "exists and is not a directory"),
    ("data dir under a file", [*NODE, "--data", "{tmp}/afile/sub"], None, 3, "Not a directory"),
    ("data dir not writable", [*NODE, "--data", "{tmp}/readonly/sub"], None, 3, "Permission denied"),
    ("raft.dat a directory", [*NODE, "--data", "{tmp}/dirdat"], None, 3, "raft.dat: Is a directory"),
    # Issue 14 item 6 (d): a data directory records whose it is.
    (
        "another node's data",
        [*NODE, "--data", "{tmp}/node2"],
        None,
        3,
        "is node 2's of cluster 'raftviz', not node 1's",
    ),
    (
        "another cluster's data",
        [*NODE, "--cluster", "b", "--data", "{tmp}/node1"],
        None,
        3,
        "not node 1's of cluster 'b'",
    ),
    (
        "kv host does not resolve",
        ["kv", "--cluster", "no.such.host.invalid:47551", "put", "a", "1"],
        None,
        2,
        "cannot resolve 'no.such.host.invalid'",
    ),
    ("kv add a node with no address", [*KV, "add", "9"], None, 4, "node 9 has no address in --peers"),
    ("partition repeats a node", ["run", "-"], b"cluster 3\npartition 1,1 | 2\n", 2, "node 1 is named twice"),
    (
        "peers repeat an id",
        ["node", "--id", "1", "--peers", "1=127.0.0.1:47551,1=127.0.0.1:47552"],
        None,
        2,
        "node 1 is given twice",
    ),
    (
        "peers share an address",
        ["node", "--id", "1", "--peers", "1=127.0.0.1:47551,2=localhost:47551"],
        None,
        2,
        "nodes 1 and 2 have the same address 127.0.0.1:47551",
    ),
    ("kv timeout negative", [*KV, "--timeout", "-1", "get", "a"], None, 2, "--timeout must be above 0"),
    ("kv timeout zero", [*KV, "--timeout", "0", "get", "a"], None, 2, "--timeout must be above 0"),
    ("kv remove without id", [*KV, "remove"], None, 2, "usage: raftviz kv --cluster HOST:PORT,... remove ID"),
    ("advance absurd", ["run", "-"], f"cluster 3\nadvance {HUGE}\n".encode(), 2, "at most 604800000 ms"),
    ("step absurd", ["run", "-"], f"cluster 3\nstep {HUGE}\n".encode(), 2, "count must be 1..1000000"),
    ("join with members", [*NODE, "--join", "--members", "1,2"], None, 2, "--join and --members exclude"),
    (
        "heartbeat above election",
        [*NODE, "--heartbeat", "300", "--election", "150-300"],
        None,
        2,
        "--heartbeat (300 ms) must be shorter than the election timeout's minimum (150 ms)",
    ),
    ("heartbeat equal to election", [*NODE, "--heartbeat", "150"], None, 2, "must be shorter"),
    ("sessions negative", [*NODE, "--sessions", "-1"], None, 2, "--sessions must be 0 (off) or a positive"),
    ("sessions not a number", [*NODE, "--sessions", "nan"], None, 2, "--sessions must be 0 (off) or"),
    ("sessions absurd", [*NODE, "--sessions", "1e12"], None, 2, "session expiry must be 0 (off) to"),
    ("script sessions bad", ["run", "-"], b"cluster 3 sessions=-1\n", 2, "sessions (idle seconds"),
    ("script sessions absurd", ["run", "-"], b"cluster 3 sessions=99999999\n", 2, "at most 604800 (a week)"),
    # --- tried as a new user would
    ("run a missing file", ["run", "{tmp}/missing.txt"], None, 2, "No such file or directory"),
    ("run a directory", ["run", "{tmp}"], None, 2, "Is a directory"),
    ("run a binary file", ["run", "{tmp}/binary"], None, 2, "not UTF-8 text"),
    ("run bad UTF-8", ["run", "{tmp}/badutf.txt"], None, 2, "not UTF-8 text (byte 10)"),
    ("run binary stdin", ["run", "-"], b"\x7fELF\x02\x01\xff\xfe", 2, "<stdin>: not UTF-8 text"),
    ("run a NUL in a line", ["run", "-"], b"cluster 3\x00\n", 2, "cluster size must be a whole number"),
    ("run without a file", ["run"], None, 2, "the following arguments are required: file"),
    ("script heartbeat absurd", ["run", "-"], f"cluster 3 heartbeat={HUGE}\n".encode(), 2, "1..3600000"),
    ("script election absurd", ["run", "-"], f"cluster 3 election={HUGE}\n".encode(), 2, "at most 3600000"),
    ("script until max absurd", ["run", "-"], f"cluster 3\nuntil leader max={HUGE}\n".encode(), 2, "at most"),
    ("lesson that does not exist", ["lesson", "99"], None, 2, "no single lesson matches '99'"),
    ("check a lesson that does not exist", ["lesson", "--check", "99"], None, 2, "no single lesson matches"),
    ("app seed not a number", ["--seed", "x"], None, 2, "invalid int value: 'x'"),
    ("app too few nodes", ["--nodes", "2"], None, 2, "--nodes must be 3 to 9"),
    ("app load a directory", ["--load", "{tmp}"], None, 2, "is not a file"),
    ("app load a missing file", ["--load", "{tmp}/missing.txt"], None, 2, "does not exist"),
    ("node id absurd", ["node", "--id", HUGE, "--peers", f"{HUGE}=127.0.0.1:47551"], None, 2, "from 1 to"),
    ("node id zero", ["node", "--id", "0", "--peers", PEERS], None, 2, "a number from 1 to"),
    ("node election absurd", [*NODE, "--election", f"{HUGE}-{HUGE}"], None, 2, "at most 3600000 ms"),
    (
        "node peer does not resolve",
        ["node", "--id", "1", "--peers", "1=127.0.0.1:47551,2=no.such.host.invalid:47552"],
        None,
        2,
        "node 2: cannot resolve 'no.such.host.invalid'",
    ),
    ("node empty data dir", [*NODE, "--data", ""], None, 2, "--data needs a directory name"),
    ("node empty members", [*NODE, "--members", ""], None, 2, "--members takes node ids"),
    ("node IPv6 peer", ["node", "--id", "1", "--peers", "1=[::1]:47551"], None, 2, "IPv6 addresses"),
    ("kv value too large", [*KV, "put", "a", "x" * 70_000], None, 2, "cannot send that request"),
    ("kv timeout nan", [*KV, "--timeout", "nan", "get", "a"], None, 2, "--timeout must be above 0"),
    ("kv timeout inf", [*KV, "--timeout", "inf", "get", "a"], None, 2, "at most 86400 seconds"),
    (
        "kv get with a value",
        [*KV, "get", "a", "b"],
        None,
        2,
        "usage: raftviz kv --cluster HOST:PORT,... get KEY",
    ),
    (
        "kv status with a key",
        [*KV, "status", "a"],
        None,
        2,
        "usage: raftviz kv --cluster HOST:PORT,... status",
    ),
    ("kv add not a number", [*KV, "add", "x"], None, 2, "add takes a node id"),
    ("kv --read on a put", [*KV, "--read", "lease", "put", "a", "b"], None, 2, "--read is for get only"),
    ("kv --read unknown", [*KV, "--read", "fast", "get", "a"], None, 2, "invalid choice: 'fast'"),
    ("script get read= unknown", ["run", "-"], b"cluster 3\nget x read=fast\n", 2, "read= is log, readindex"),
    ("script clock without rate", ["run", "-"], b"cluster 3\nclock 1\n", 2, "usage: clock N rate=R"),
    ("script clock rate zero", ["run", "-"], b"cluster 3\nclock 1 rate=0\n", 2, "must be 0.01 to 100"),
    ("script clock rate text", ["run", "-"], b"cluster 3\nclock 1 rate=fast\n", 2, "a decimal such as 2"),
    ("script clock no such node", ["run", "-"], b"cluster 3\nclock 7 rate=2\n", 1, "no node 7"),
    ("kv remove node 0", [*KV, "remove", "0"], None, 2, "remove takes a node id"),
    ("kv put without value", [*KV, "put", "a"], None, 2, "put KEY VALUE"),
    (
        "run output to a full disk",
        [FULL, "run", "-"],
        b"cluster 3 backend=inprocess\nstatus\n",
        1,
        "No space left on device",
    ),
    ("lesson list to a full disk", [FULL, "lesson"], None, 1, "No space left on device"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files that bad command lines point at."""
    tmp = tmp_path_factory.mktemp("bad-input")
    (tmp / "afile").write_text("not a directory\n")
    (tmp / "dirdat" / "raft.dat").mkdir(parents=True)
    for node in (1, 2):  # the data directories of nodes 1 and 2 of cluster "raftviz"
        store = FileStorage(tmp / f"node{node}", identity=(DEFAULT_CLUSTER, node))
        store.load()
        store.save(Ready(hard_state=HardState(1, node)))
        store.close()
    (tmp / "readonly").mkdir()
    (tmp / "readonly").chmod(0o555)
    (tmp / "binary").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    (tmp / "badutf.txt").write_bytes(b"cluster 3\n\xff\xfe\n")
    return tmp


@pytest.fixture(scope="module")
def one_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The port of a running one-node free-mode cluster (it answers status)."""
    (port,) = free_udp_ports(1)
    data = tmp_path_factory.mktemp("one-node") / "node1"
    proc = subprocess.Popen(
        [*RAFTVIZ, "node", "--id", "1", "--peers", f"1=127.0.0.1:{port}", "--data", str(data)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        client = KVClient([("127.0.0.1", port)], timeout=1)
        try:
            while client.statuses(wait=0.3) == [None]:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "the node never answered"
        finally:
            client.close()
        yield port
    finally:
        proc.kill()
        proc.wait()
        assert not pid_running(proc.pid)


@pytest.mark.parametrize(
    ("argv", "stdin", "code", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_gets_one_clear_line(
    request: pytest.FixtureRequest,
    workspace: Path,
    argv: list[str],
    stdin: bytes | None,
    code: int,
    message: str,
) -> None:
    if "readonly" in " ".join(argv) and os.geteuid() == 0:
        pytest.skip("root writes to any directory: 'not writable' cannot be made here")
    port = request.getfixturevalue("one_node") if any("{port}" in a for a in argv) else 0
    args = [a.replace("{tmp}", str(workspace)).replace("{port}", str(port)) for a in argv if a != FULL]
    with open("/dev/full" if FULL in argv else os.devnull, "wb") as full:
        done = subprocess.run(
            [*RAFTVIZ, *args],
            input=stdin if stdin is not None else b"",
            stdout=full if FULL in argv else subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=120,
            cwd=workspace,
        )
    out, err = (done.stdout or b"").decode(errors="replace"), done.stderr.decode(errors="replace")
    assert "Traceback" not in out + err, err
    assert done.returncode == code, f"exit {done.returncode}, expected {code}: {err}"
    # One line says what is wrong: on standard error, or for a malformed script in the
    # transcript, which names the file and line (docs/scenario-language.md).
    said = [line for line in (err + "\n" + out).splitlines() if message in line]
    assert len(said) == 1, err + out
    # ... and nothing else is said on standard error but argparse's usage lines.
    others = [line for line in err.splitlines() if line.strip() and not line.startswith(("usage:", " "))]
    assert len(others) <= 1, err
