#!/usr/bin/env node
// A Raft node in JavaScript, written from docs/protocol.md alone: a second
// implementation that proves the protocol, and an example of "bring your own
// node" (README.md). Node.js 20, built-in modules only.
//
//   raftviz run FILE --node "node examples/js-node/node.js"
//   cluster 5 node@4="node examples/js-node/node.js" node@5="node examples/js-node/node.js"
//
// It runs in lab mode only (docs/protocol.md §7): the lab starts it with the
// arguments of §7.1, hands it inputs one at a time over standard input and
// reads a Report for each on standard output. Raft: election (§5.2),
// replication with the fast back-up of AppendEntriesReply (§5.3), the commit
// rule of Figure 8 (§5.4.2), a no-op entry on election, persistence of
// term, vote and log (state.json in its data directory, fsync'd before it
// answers), and the key-value state machine with client sessions
// (dissertation §6.3). What it does not do, and how it says so, is listed in
// examples/js-node/README.md.
//
// RAFTVIZ_JS_BUG=forget-vote plants a bug: votedFor is never written to disk
// (what `raftviz conform` must find).
'use strict';

const crypto = require('crypto');
const dgram = require('dgram');
const fs = require('fs');
const path = require('path');
const { encode, decode, WireError } = require('./msgpack.js');
const { blake2b } = require('./blake2b.js');

const VERSION = 1;
const TAG_SIZE = 16;
const MAX_DATAGRAM = 65000;
const MAX_FRAME = 64 * 1024 * 1024;
const DELIVER_WAIT_MS = 10000;
const MAX_KEY = 1024;
const MAX_VALUE = 16384;
const CLIENT_OPS = ['put', 'get', 'delete', 'append', 'add', 'remove', 'register'];
const VALUELESS_OPS = ['get', 'delete', 'add', 'remove', 'register'];
const ALL_OPS = ['noop', 'put', 'get', 'delete', 'append', 'config', 'add', 'remove', 'register'];
const ROLES = ['follower', 'candidate', 'leader'];
const BUG = process.env.RAFTVIZ_JS_BUG || '';

// ------------------------------------------------------------------ arguments

function parseArgs(argv) {
  const out = { members: [], join: false, election: [150, 300], heartbeat: 50, noop: true, batch: 64, now: 0 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${name} needs a value`, 2);
      return argv[++i];
    };
    switch (name) {
      case '--lab': out.lab = true; break;
      case '--join': out.join = true; break;
      case '--id': out.id = int(value()); break;
      case '--members': out.members = value().split(',').map(int); break;
      case '--data': out.data = value(); break;
      case '--seed': out.seed = int(value()); break;
      case '--incarnation': out.incarnation = int(value()); break;
      case '--router': {
        const [host, port] = value().split(':');
        out.router = { host, port: int(port) };
        break;
      }
      case '--election': out.election = value().split('-').map(int); break;
      case '--heartbeat': out.heartbeat = int(value()); break;
      case '--noop': out.noop = value() === 'on'; break;
      case '--batch': out.batch = int(value()); break;
      case '--now': out.now = int(value()); break;
      // raftviz's own settings this node does not use (no snapshots, no session expiry, no bugs by flag).
      case '--snapshot': case '--snapshot-bytes': case '--chunk': case '--sessions': case '--bug':
        value();
        break;
      default:
        fail(`unknown argument ${name}`, 2);
    }
  }
  if (!out.lab) fail('this node runs in lab mode only (--lab)', 2);
  if (!out.id || !out.data || !out.router) fail('--id, --data and --router are required', 2);
  return out;
}

function int(text) {
  if (!/^\d+$/.test(text)) fail(`not a number: ${text}`, 2);
  return Number(text);
}

function log(text) {
  process.stderr.write(`js-node ${ARGS ? ARGS.id : '?'}: ${text}\n`);
}

function fail(text, code) {
  log(text);
  process.exit(code);
}

// A seeded generator (mulberry32 over a FNV-1a hash of seed/id/incarnation): a run is a pure
// function of the lab's seed and commands, as docs/protocol.md §7.5 asks of a lab-mode node.
function seededRandom(text) {
  let h = 0x811c9dc5;
  for (const ch of Buffer.from(text)) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
  return () => {
    h = (h + 0x6d2b79f5) >>> 0;
    let t = h;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------------ wire: datagrams (§3-§5)

const isIndex = (x) => Number.isSafeInteger(x) && x >= 0;
const isNode = (x) => Number.isSafeInteger(x) && x >= 1 && x <= 2 ** 31;
const isNodeOr0 = (x) => Number.isSafeInteger(x) && x >= 0 && x <= 2 ** 31;
const isBool = (x) => x === true || x === false;
const isText = (x) => typeof x === 'string' && Buffer.byteLength(x) <= 65536;
const isClient = (x) => typeof x === 'string' && x.length >= 1 && [...x].length <= 64;
const isClientField = (x) => typeof x === 'string' && [...x].length <= 64;

function checkCommand(c) {
  if (!Array.isArray(c) || c.length !== 6) throw new WireError('command: expected an array of 6');
  const [op, key, value, client, seq, low] = c;
  if (!ALL_OPS.includes(op)) throw new WireError(`command: unknown op ${JSON.stringify(op)}`);
  if (!isText(key) || !isText(value) || !isClientField(client) || !isIndex(seq) || !isIndex(low)) {
    throw new WireError('command: a field has the wrong type');
  }
  if (op === 'config' && parseConfiguration(value) === null) throw new WireError('command: bad configuration');
  return { op, key, value, client, seq, low };
}

function checkEntry(e) {
  if (!Array.isArray(e) || e.length !== 3 || !isIndex(e[0]) || !isIndex(e[2])) {
    throw new WireError('entry: expected [term, command, stamp]');
  }
  return { term: e[0], command: checkCommand(e[1]), stamp: e[2] };
}

const isReadMode = (x) => x === 'readindex' || x === 'lease';
// tag -> [name, array length, field checks after src/dst, optional trailing fields' checks and defaults].
// Optional fields (protocol.md §2) are left off while they hold their default; the last one
// written must differ from it.
const MESSAGES = {
  1: ['RequestVote', 7, [isIndex, isIndex, isIndex]],
  2: ['RequestVoteReply', 6, [isIndex, isBool]],
  3: ['AppendEntries', 9, [isIndex, isIndex, isIndex, Array.isArray, isIndex], [[isIndex, 0]]],
  4: ['AppendEntriesReply', 9, [isIndex, isBool, isIndex, isIndex, isIndex], [[isIndex, 0], [isBool, false]]],
  5: ['ClientRequest', 5, [Array.isArray], [[isReadMode, '']]],
  6: ['ClientReply', 9, [isIndex, isBool, (x) => x === null || isText(x), isNodeOr0, isText]],
  7: ['StatusRequest', 4, []],
  8: ['StatusReply', 16, null],
  9: ['InstallSnapshot', 11, null],
  10: ['InstallSnapshotReply', 8, null],
};
const FROM_CLIENT = new Set([5, 7]);
const TO_CLIENT = new Set([6, 8]);

function decodeDatagram(buf) {
  if (buf.length > MAX_DATAGRAM) throw new WireError('datagram too large');
  const a = decode(buf);
  if (!Array.isArray(a) || a.length < 4) throw new WireError('envelope: expected [version, tag, src, dst, ...]');
  if (a[0] !== VERSION) throw new WireError(`unsupported protocol version ${a[0]}`);
  const spec = MESSAGES[a[1]];
  if (!spec) throw new WireError(`unknown message tag ${a[1]}`);
  const [name, length, checks, optional = []] = spec;
  if (a.length < length || a.length > length + optional.length) {
    throw new WireError(`${name}: expected ${length} to ${length + optional.length} items, got ${a.length}`);
  }
  optional.slice(0, a.length - length).forEach(([check], i) => {
    if (!check(a[length + i])) throw new WireError(`${name}: optional field ${length + i} has the wrong type or range`);
  });
  if (a.length > length && a[a.length - 1] === optional[a.length - length - 1][1]) {
    throw new WireError(`${name}: an optional last field holds its default: it is left off`);
  }
  const src = a[2];
  const dst = a[3];
  if (FROM_CLIENT.has(a[1]) ? !isClient(src) : !isNode(src)) throw new WireError(`${name}: bad src`);
  if (TO_CLIENT.has(a[1]) ? !isClient(dst) : !isNode(dst)) throw new WireError(`${name}: bad dst`);
  if (checks === null) return { type: name, src, dst, unsupported: true };
  checks.forEach((check, i) => {
    if (!check(a[4 + i])) throw new WireError(`${name}: field ${4 + i} has the wrong type or range`);
  });
  const f = a.slice(4);
  switch (name) {
    case 'RequestVote':
      return { type: name, src, dst, term: f[0], lastLogIndex: f[1], lastLogTerm: f[2] };
    case 'RequestVoteReply':
      return { type: name, src, dst, term: f[0], voteGranted: f[1] };
    case 'AppendEntries':
      if (f[3].length > 10000) throw new WireError('AppendEntries: too many entries');
      return {
        type: name, src, dst, term: f[0], prevLogIndex: f[1], prevLogTerm: f[2],
        entries: f[3].map(checkEntry), leaderCommit: f[4], round: f[5] || 0,
      };
    case 'AppendEntriesReply':
      return {
        type: name, src, dst, term: f[0], success: f[1], matchIndex: f[2], conflictIndex: f[3], conflictTerm: f[4],
      };
    case 'ClientRequest':
      // A ReadIndex or lease read (f[1]) is served through the log here: slower, never stale.
      return { type: name, src, dst, command: checkCommand(f[0]) };
    default:
      return { type: name, src, dst };
  }
}

const cmdArray = (c) => [c.op, c.key, c.value, c.client, c.seq, c.low];
const entryArray = (e) => [e.term, cmdArray(e.command), e.stamp];

function encodeMessage(m) {
  switch (m.type) {
    case 'RequestVote': return encode([VERSION, 1, m.src, m.dst, m.term, m.lastLogIndex, m.lastLogTerm]);
    case 'RequestVoteReply': return encode([VERSION, 2, m.src, m.dst, m.term, m.voteGranted]);
    case 'AppendEntries':
      return encode([VERSION, 3, m.src, m.dst, m.term, m.prevLogIndex, m.prevLogTerm,
        m.entries.map(entryArray), m.leaderCommit]);
    case 'AppendEntriesReply':
      // The heartbeat round is echoed (the leader's ReadIndex counts it), left off when 0.
      return encode([VERSION, 4, m.src, m.dst, m.term, m.success, m.matchIndex, m.conflictIndex, m.conflictTerm,
        ...(m.round ? [m.round] : [])]);
    case 'ClientReply':
      return encode([VERSION, 6, m.src, m.dst, m.seq, m.ok, m.value, m.leaderHint, m.error]);
    default: throw new Error(`cannot send ${m.type}`);
  }
}

// The configuration text of §4 ("1,2,3/4"); null if not canonical.
function parseConfiguration(text) {
  if (!/^(\d+(,\d+)*)?(\/\d+(,\d+)*)?$/.test(text) || text.startsWith('/') && text.length === 1) return null;
  const [v, l] = text.split('/');
  const ids = (s) => (s ? s.split(',').map(Number) : []);
  const voters = ids(v);
  const learners = ids(l);
  const ascending = (xs) => xs.every((x, i) => isNode(x) && String(x) === String(x).replace(/^0+/, '') && (i === 0 || xs[i - 1] < x));
  if (!ascending(voters) || !ascending(learners) || voters.some((x) => learners.includes(x))) return null;
  if (text.split(/[,/]/).some((s) => s.startsWith('0'))) return null;
  return { voters, learners };
}

// ------------------------------------------------------------------ wire: control frames (§7)

function frame(fields) {
  const body = encode([VERSION, ...fields]);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

function writeFrame(fields) {
  fs.writeSync(1, frame(fields));
}

function failure(reason, code) {
  writeFrame([70, reason]);
  fail(reason, code);
}

// ------------------------------------------------------------------ storage

// state.json: {"term", "vote", "log": [[term, command, stamp], ...]}, written whole to a
// temporary file, fsync'd, renamed into place, and the directory fsync'd.
class Storage {
  constructor(dir) {
    this.dir = dir;
    this.file = path.join(dir, 'state.json');
    fs.mkdirSync(dir, { recursive: true });
  }

  load() {
    if (!fs.existsSync(this.file)) return { term: 0, vote: 0, log: [] };
    const state = JSON.parse(fs.readFileSync(this.file, 'utf8'));
    if (!isIndex(state.term) || !isNodeOr0(state.vote) || !Array.isArray(state.log)) throw new Error('bad fields');
    return { term: state.term, vote: state.vote, log: state.log.map(checkEntry) };
  }

  save(term, vote, log) {
    const tmp = `${this.file}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    fs.writeSync(fd, JSON.stringify({ term, vote, log: log.map(entryArray) }));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, this.file);
    const dirFd = fs.openSync(this.dir, 'r');
    fs.fsyncSync(dirFd);
    fs.closeSync(dirFd);
  }
}

// ------------------------------------------------------------------ the Raft node

class Raft {
  constructor(args, persisted) {
    this.id = args.id;
    this.args = args;
    this.random = seededRandom(`raftviz-js/${args.seed}/${args.id}/${args.incarnation}`);
    this.term = persisted.term;
    this.vote = persisted.vote;
    this.log = persisted.log; // log[i - 1] is the entry at index i
    this.initial = { voters: args.join ? [] : args.members, learners: [] };
    this.role = 'follower';
    this.leader = 0;
    this.commit = 0;
    this.applied = 0;
    this.kv = new Map();
    this.sessions = new Map(); // client -> {low, results: Map(seq -> {value, error, digest})}
    this.votes = new Set();
    this.nextIndex = new Map();
    this.matchIndex = new Map();
    this.inflight = new Map(); // peer -> [last index sent, time]
    this.proposed = new Map(); // "client/seq" -> digest of a request in the log, not applied yet
    this.heartbeatDeadline = 0;
    this.commitHeldAt = 0; // the index a leader last said it could not commit (Figure 8)
    this.resetElectionTimer(args.now);
    this.begin(args.now);
  }

  // ---- one input's bookkeeping
  begin(now) {
    this.now = now;
    this.sent = [];
    this.logFrom = 0;
    this.reasons = [];
  }

  // Why a rule decided as it did: a reason of docs/protocol.md §7.3 (kinds of raftviz/core/reasons.py).
  explain(kind, f) {
    this.reasons.push([kind, f.peer || 0, f.other || 0, f.term || 0, f.index || 0, f.ourTerm || 0,
      f.ourIndex || 0, f.theirTerm || 0, f.theirIndex || 0, f.count || 0, f.message || '', f.before || '',
      f.after || '']);
  }

  send(message) {
    this.sent.push([message.dst, encodeMessage(message)]);
  }

  get lastIndex() { return this.log.length; }
  get lastTerm() { return this.log.length ? this.log[this.log.length - 1].term : 0; }
  termAt(i) { return i === 0 ? 0 : i <= this.log.length ? this.log[i - 1].term : null; }

  configuration() {
    for (let i = this.log.length; i >= 1; i--) {
      const c = this.log[i - 1].command;
      if (c.op === 'config') return parseConfiguration(c.value);
    }
    return this.initial;
  }

  peers() {
    const { voters, learners } = this.configuration();
    return [...voters, ...learners].filter((p) => p !== this.id).sort((a, b) => a - b);
  }

  hasQuorum(granted) {
    const { voters } = this.configuration();
    return voters.length > 0 && voters.filter((v) => granted.has(v)).length >= Math.floor(voters.length / 2) + 1;
  }

  resetElectionTimer(now) {
    const [lo, hi] = this.args.election;
    this.electionTimeout = lo + Math.floor(this.random() * (hi - lo + 1));
    this.electionDeadline = now + this.electionTimeout;
  }

  appendLocal(entry) {
    this.log.push(entry);
    this.markChanged(this.log.length);
  }

  truncateFrom(index) {
    this.log.length = index - 1;
    this.markChanged(index);
  }

  markChanged(index) {
    if (!this.logFrom || index < this.logFrom) this.logFrom = index;
  }

  // ---- roles (§5.2)
  becomeFollower(term, leader, now) {
    if (term > this.term) {
      this.term = term;
      this.vote = 0;
    }
    const wasLeader = this.role === 'leader';
    this.role = 'follower';
    this.leader = leader;
    this.votes = new Set();
    if (wasLeader) {
      this.nextIndex = new Map();
      this.matchIndex = new Map();
      this.inflight = new Map();
      this.proposed = new Map();
      this.resetElectionTimer(now);
    }
  }

  becomeCandidate(now) {
    this.resetElectionTimer(now);
    if (!this.configuration().voters.includes(this.id)) return; // a learner or a joining server waits
    this.role = 'candidate';
    this.term += 1;
    this.vote = this.id;
    this.leader = 0;
    this.votes = new Set([this.id]);
    this.nextIndex = new Map();
    this.matchIndex = new Map();
    this.inflight = new Map();
    if (this.hasQuorum(this.votes)) {
      this.explainElected();
      this.becomeLeader(now);
      return;
    }
    for (const peer of this.configuration().voters) {
      if (peer === this.id) continue;
      this.send({ type: 'RequestVote', src: this.id, dst: peer, term: this.term,
        lastLogIndex: this.lastIndex, lastLogTerm: this.lastTerm });
    }
  }

  explainElected() {
    const { voters } = this.configuration();
    const votes = [...this.votes].filter((v) => voters.includes(v)).sort((a, b) => a - b);
    this.explain('elected', { term: this.term, count: voters.length, after: votes.join(',') });
  }

  becomeLeader(now) {
    this.role = 'leader';
    this.commitHeldAt = 0;
    this.leader = this.id;
    this.nextIndex = new Map();
    this.matchIndex = new Map();
    this.inflight = new Map();
    this.proposed = new Map();
    this.trackPeers();
    if (this.args.noop) this.appendStamped({ op: 'noop', key: '', value: '', client: '', seq: 0, low: 0 });
    this.broadcast(now, true);
  }

  trackPeers() {
    for (const peer of this.peers()) {
      if (!this.nextIndex.has(peer)) {
        this.nextIndex.set(peer, this.lastIndex + 1);
        this.matchIndex.set(peer, 0);
      }
    }
  }

  // A leader's new entry carries its time, never below the entry before it.
  appendStamped(command) {
    const last = this.log.length ? this.log[this.log.length - 1].stamp : 0;
    this.appendLocal({ term: this.term, command, stamp: Math.max(this.now, last) });
  }

  // ---- timers
  fire(now) {
    if (this.role === 'leader') {
      if (now >= this.heartbeatDeadline) this.broadcast(now, true);
    } else if (now >= this.electionDeadline) {
      this.becomeCandidate(now);
    }
  }

  deadline() {
    return this.role === 'leader' ? this.heartbeatDeadline : this.electionDeadline;
  }

  // ---- messages
  step(m, now) {
    if (m.type === 'ClientRequest') return this.handleClientRequest(m);
    if (m.type === 'ClientReply' || m.type === 'StatusRequest' || m.type === 'StatusReply' || m.dst !== this.id) return;
    if (m.term > this.term) {
      this.explain('step-down', { peer: m.src, term: m.term, ourTerm: this.term, message: m.type, before: this.role });
      this.becomeFollower(m.term, m.type === 'AppendEntries' ? m.src : 0, now);
    }
    switch (m.type) {
      case 'RequestVote': return this.handleRequestVote(m, now);
      case 'RequestVoteReply': return this.handleRequestVoteReply(m, now);
      case 'AppendEntries': return this.handleAppendEntries(m, now);
      case 'AppendEntriesReply': return this.handleAppendEntriesReply(m, now);
      default: return undefined;
    }
  }

  // The log is up to date if its last term is higher, or the same and it is at least as long (§5.4.1).
  handleRequestVote(m, now) {
    const upToDate = m.lastLogTerm > this.lastTerm || (m.lastLogTerm === this.lastTerm && m.lastLogIndex >= this.lastIndex);
    const granted = m.term === this.term && (this.vote === 0 || this.vote === m.src) && upToDate;
    const logs = { theirTerm: m.lastLogTerm, theirIndex: m.lastLogIndex, ourTerm: this.lastTerm, ourIndex: this.lastIndex };
    if (granted) this.explain('vote-granted', { peer: m.src, term: m.term, ...logs });
    else if (m.term < this.term) this.explain('vote-denied-stale', { peer: m.src, term: this.term, theirTerm: m.term });
    else if (this.vote !== 0 && this.vote !== m.src) {
      this.explain('vote-denied-voted', { peer: m.src, other: this.vote, term: this.term });
    } else this.explain('vote-denied-log', { peer: m.src, term: this.term, ...logs });
    if (granted) {
      this.vote = m.src;
      this.resetElectionTimer(now);
    }
    this.send({ type: 'RequestVoteReply', src: this.id, dst: m.src, term: this.term, voteGranted: granted });
  }

  handleRequestVoteReply(m, now) {
    if (this.role !== 'candidate' || m.term !== this.term || !m.voteGranted) return;
    this.votes.add(m.src);
    if (this.hasQuorum(this.votes)) {
      this.explainElected();
      this.becomeLeader(now);
    }
  }

  handleAppendEntries(m, now) {
    const reply = (fields) => this.send({ type: 'AppendEntriesReply', src: this.id, dst: m.src, term: this.term,
      success: false, matchIndex: 0, conflictIndex: 0, conflictTerm: 0, round: m.round, ...fields });
    if (m.term < this.term) {
      this.explain('append-rejected-stale', { peer: m.src, term: this.term, theirTerm: m.term });
      return reply({});
    }
    if (this.role !== 'follower' || this.leader !== m.src) {
      if (this.role === 'candidate') this.explain('leader-seen', { peer: m.src, term: m.term, message: 'AppendEntries' });
      this.becomeFollower(m.term, m.src, now);
    }
    this.resetElectionTimer(now);
    if (m.prevLogIndex > this.lastIndex) {
      this.explain('append-rejected-missing', { peer: m.src, index: m.prevLogIndex, ourIndex: this.lastIndex });
      return reply({ conflictIndex: this.lastIndex + 1 });
    }
    const prevTerm = this.termAt(m.prevLogIndex);
    if (prevTerm !== m.prevLogTerm) {
      this.explain('append-rejected-mismatch', { peer: m.src, index: m.prevLogIndex, ourTerm: prevTerm,
        theirTerm: m.prevLogTerm });
      // Fast back-up: the first index of the conflicting term.
      let first = m.prevLogIndex;
      while (first > 1 && this.termAt(first - 1) === prevTerm) first--;
      return reply({ conflictIndex: first, conflictTerm: prevTerm });
    }
    let index = m.prevLogIndex;
    for (const entry of m.entries) {
      index += 1;
      const existing = this.termAt(index);
      if (existing === null) {
        this.appendLocal(entry);
      } else if (existing !== entry.term) {
        if (index <= this.commit) {
          log(`refusing to overwrite committed entry ${index}`);
          return undefined;
        }
        const last = this.lastIndex;
        this.explain('log-truncated', { peer: m.src, index, ourIndex: last, count: last - index + 1,
          ourTerm: existing, theirTerm: entry.term });
        this.truncateFrom(index);
        this.appendLocal(entry);
      }
    }
    const match = m.prevLogIndex + m.entries.length;
    const learned = Math.min(m.leaderCommit, match);
    if (learned > this.commit) {
      this.explain('commit-learned', { peer: m.src, index: learned, ourIndex: this.commit, theirIndex: m.leaderCommit });
      this.setCommit(learned);
    }
    return reply({ success: true, matchIndex: match });
  }

  handleAppendEntriesReply(m, now) {
    if (this.role !== 'leader' || m.term !== this.term || !this.nextIndex.has(m.src)) return;
    const peer = m.src;
    if (m.success) {
      if (m.matchIndex > this.matchIndex.get(peer)) this.matchIndex.set(peer, m.matchIndex);
      this.nextIndex.set(peer, Math.max(this.nextIndex.get(peer), this.matchIndex.get(peer) + 1));
      const inflight = this.inflight.get(peer);
      if (inflight && this.matchIndex.get(peer) >= inflight[0]) this.inflight.delete(peer);
      this.advanceCommit();
    } else {
      let hint = m.conflictIndex;
      if (m.conflictTerm) {
        let last = 0;
        for (let i = this.lastIndex; i >= 1; i--) {
          if (this.termAt(i) === m.conflictTerm) { last = i; break; }
        }
        if (last) hint = last + 1;
      }
      const current = this.nextIndex.get(peer);
      if (hint >= current && this.inflight.has(peer)) return;
      this.inflight.delete(peer);
      this.nextIndex.set(peer, Math.max(Math.min(hint, current - 1), this.matchIndex.get(peer) + 1, 1));
    }
    if (!this.inflight.has(peer) && this.nextIndex.get(peer) <= this.lastIndex) this.sendAppend(peer, now, true);
  }

  // Figure 8: the highest index a majority of voters holds, committed only if it is of this term.
  advanceCommit() {
    const { voters } = this.configuration();
    const matches = voters.map((v) => (v === this.id ? this.lastIndex : this.matchIndex.get(v) || 0)).sort((a, b) => b - a);
    if (!matches.length) return;
    const n = matches[Math.floor(voters.length / 2)];
    if (n <= this.commit) return;
    const term = this.termAt(n);
    const explain = (kind) => {
      const holders = voters.filter((v) => (v === this.id ? this.lastIndex : this.matchIndex.get(v) || 0) >= n);
      this.explain(kind, { term: this.term, index: n, ourIndex: this.commit, theirTerm: term,
        count: voters.length, after: holders.join(',') });
    };
    if (term === this.term) {
      explain('commit-advanced');
      this.commitHeldAt = 0;
      this.setCommit(n);
    } else if (n !== this.commitHeldAt) {
      // Figure 8: an entry of an earlier term is not committed by counting replicas.
      this.commitHeldAt = n;
      explain('commit-held');
    }
  }

  setCommit(index) {
    if (index <= this.commit) return;
    this.commit = index;
    while (this.applied < this.commit) {
      this.applied += 1;
      const entry = this.log[this.applied - 1];
      const [ok, value, error] = this.execute(entry.command, this.applied);
      const c = entry.command;
      if (this.role === 'leader' && c.client) {
        this.proposed.delete(`${c.client}/${c.seq}`);
        this.send({ type: 'ClientReply', src: this.id, dst: c.client, seq: c.seq, ok, value, leaderHint: 0, error });
      }
    }
  }

  broadcast(now, heartbeat) {
    for (const peer of this.peers()) {
      const sent = this.inflight.get(peer);
      // A batch in flight is resent after two heartbeats without an answer.
      const resend = !sent || now - sent[1] >= 2 * this.args.heartbeat;
      this.sendAppend(peer, now, resend);
    }
    if (this.configuration().voters.length === 1 && this.configuration().voters[0] === this.id) this.advanceCommit();
    if (heartbeat) this.heartbeatDeadline = now + this.args.heartbeat;
  }

  sendAppend(peer, now, withEntries) {
    const next = this.nextIndex.get(peer);
    const prev = next - 1;
    const entries = [];
    if (withEntries) {
      let bytes = 0;
      for (let i = next; i <= this.lastIndex && entries.length < this.args.batch; i++) {
        const size = encode(entryArray(this.log[i - 1])).length;
        // Well under the 65,000-byte datagram (docs/protocol.md §1), envelope included.
        if (entries.length && bytes + size > 40000) break;
        bytes += size;
        entries.push(this.log[i - 1]);
      }
    }
    if (entries.length) this.inflight.set(peer, [prev + entries.length, now]);
    this.send({ type: 'AppendEntries', src: this.id, dst: peer, term: this.term, prevLogIndex: prev,
      prevLogTerm: this.termAt(prev), entries, leaderCommit: this.commit });
  }

  // ---- clients (docs/protocol.md §5, ClientRequest; dissertation §6.3)
  handleClientRequest(m) {
    const c = m.command;
    const refuse = (error) => this.send({ type: 'ClientReply', src: this.id, dst: m.src, seq: c.seq, ok: false,
      value: null, leaderHint: 0, error });
    const error = malformed(m);
    if (error) return refuse(error);
    if (this.role !== 'leader') {
      return this.send({ type: 'ClientReply', src: this.id, dst: m.src, seq: c.seq, ok: false, value: null,
        leaderHint: this.leader, error: '' });
    }
    const known = this.lookup(c);
    if (known) {
      const [ok, value, err] = known;
      return this.send({ type: 'ClientReply', src: this.id, dst: m.src, seq: c.seq, ok, value, leaderHint: 0, error: err });
    }
    const pending = this.proposed.get(`${c.client}/${c.seq}`);
    if (pending !== undefined) {
      if (pending !== digest(c)) refuse(`seq ${c.seq} is already in the log for a different command`);
      return undefined; // a retry of a request in the log: answered when it is applied
    }
    if (c.op === 'add' || c.op === 'remove') return refuse('membership changes are not implemented by this node');
    if (c.op !== 'register') this.proposed.set(`${c.client}/${c.seq}`, digest(c));
    this.appendStamped(c);
    for (const peer of this.peers()) {
      if (!this.inflight.has(peer)) this.sendAppend(peer, this.now, true);
    }
    if (this.configuration().voters.length === 1) this.advanceCommit();
    return undefined;
  }

  // What the session table says of a request: [ok, value, error], or null if it is new.
  lookup(c) {
    if (c.op === 'register' || !c.client) return null;
    const session = this.sessions.get(c.client);
    if (!session) return null;
    const result = session.results.get(c.seq);
    if (result) {
      if (result.digest !== digest(c) && c.op !== 'add' && c.op !== 'remove') {
        return [false, null, `seq ${c.seq} was already used for a different command`];
      }
      return [true, result.value, result.error];
    }
    if (c.seq < session.low) return [false, null, `seq ${c.seq} is below the session's low ${session.low}: answered and forgotten`];
    return null;
  }

  // Apply one committed command: [applied, value, error].
  execute(c, index) {
    if (c.op === 'noop' || c.op === 'config') return [true, null, ''];
    if (c.op === 'register') {
      const client = `${[...c.client].slice(0, 40).join('')}@${index}`;
      this.sessions.set(client, { low: 0, results: new Map() });
      return [true, client, ''];
    }
    if (c.client) {
      const known = this.lookup(c);
      if (known) return known;
      if (c.low > c.seq) return [false, null, `low ${c.low} is above seq ${c.seq}`];
    }
    let value = null;
    let error = '';
    if (c.op === 'put') this.kv.set(c.key, c.value);
    else if (c.op === 'get') value = this.kv.has(c.key) ? this.kv.get(c.key) : null;
    else if (c.op === 'delete') this.kv.delete(c.key);
    else if (c.op === 'append') {
      const joined = (this.kv.get(c.key) || '') + c.value;
      if (Buffer.byteLength(joined) > MAX_VALUE) error = `value of ${c.key} would exceed ${MAX_VALUE} bytes`;
      else this.kv.set(c.key, joined);
    }
    if (c.client) {
      let session = this.sessions.get(c.client);
      if (!session) {
        session = { low: 0, results: new Map() };
        this.sessions.set(c.client, session);
      }
      if (c.low > session.low) {
        session.low = c.low;
        for (const seq of [...session.results.keys()]) if (seq < c.low) session.results.delete(seq);
      }
      if (c.seq >= session.low) session.results.set(c.seq, { value, error, digest: digest(c) });
    }
    return [true, value, error];
  }

  report() {
    const cfg = this.configuration();
    const leader = this.role === 'leader';
    const table = (map) => (leader ? [...map.entries()].sort((a, b) => a[0] - b[0]).map(([p, i]) => [p, i]) : []);
    return [
      this.id, this.role, this.term, this.vote, this.leader, this.commit, this.applied, this.lastIndex,
      this.lastTerm, this.deadline(), this.electionTimeout, this.logFrom,
      this.logFrom ? this.log.slice(this.logFrom - 1).map(entryArray) : [],
      this.sent.map(([dst, data]) => [dst, data]),
      this.role === 'candidate' ? [...this.votes].sort((a, b) => a - b) : [],
      table(this.nextIndex), table(this.matchIndex),
      DROPPED.count, REFUSED.text, 0, 0, cfg.voters, cfg.learners, Buffer.alloc(0), 'ok', [], this.reasons,
      0, [], 0, '', 0, 0, [], // no reads held, no lease, not recovering, no transfer, no CheckQuorum (fields 27-33)
    ];
  }
}

function digest(c) {
  return `${c.op}\u0000${c.key}\u0000${c.value}`;
}

function malformed(m) {
  const c = m.command;
  if (c.client !== m.src) return 'command.client is not the sender';
  if (!CLIENT_OPS.includes(c.op)) return `'${c.op}' is not an operation a client may request`;
  if (Buffer.byteLength(c.key) > MAX_KEY || Buffer.byteLength(c.value) > MAX_VALUE) {
    return `key or value too large (limits ${MAX_KEY} and ${MAX_VALUE} bytes)`;
  }
  if (VALUELESS_OPS.includes(c.op) && c.value) return `${c.op} takes no value`;
  if (c.op !== 'register' && c.seq < 1) return 'seq starts at 1';
  if (c.low > c.seq) return `low ${c.low} is above seq ${c.seq}`;
  return '';
}

// ------------------------------------------------------------------ lab mode (§7.4)

const ARGS = parseArgs(process.argv.slice(2));
const DROPPED = { count: 0 };
const REFUSED = { text: '' };
let secret = null;
let raft = null;
let storage = null;
let persisted = null;
let socket = null;
let input = Buffer.alloc(0);
const kept = []; // datagrams from the router not yet announced: {digest, data}
let ready = false; // the Hello is written: inputs may be handled
let waiting = null; // a Deliver waiting for its datagram: {now, digest, timer}
const frames = [];

function seal(message) {
  if (!secret) return message;
  const tag = crypto.createHmac('sha256', secret).update(message).digest().subarray(0, TAG_SIZE);
  return Buffer.concat([message, tag]);
}

function unseal(data) {
  if (!secret) return data;
  if (data.length <= TAG_SIZE) return null;
  const message = data.subarray(0, data.length - TAG_SIZE);
  const tag = crypto.createHmac('sha256', secret).update(message).digest().subarray(0, TAG_SIZE);
  return crypto.timingSafeEqual(tag, data.subarray(data.length - TAG_SIZE)) ? Buffer.from(message) : null;
}

// Persist what the input changed (term, vote, log), then send, then report (§7.4 steps 4-6).
function finish() {
  const vote = BUG === 'forget-vote' ? 0 : raft.vote; // the planted bug: the vote lives in memory only
  if (raft.logFrom || raft.term !== persisted.term || vote !== persisted.vote) {
    storage.save(raft.term, vote, raft.log);
    persisted = { term: raft.term, vote };
  }
  for (const [, data] of raft.sent) socket.send(seal(data), ARGS.router.port, ARGS.router.host);
  writeFrame([71, ...raft.report()]);
  REFUSED.text = '';
}

function handleDatagram(data, now) {
  raft.begin(now);
  let message = null;
  try {
    message = decodeDatagram(data);
    if (message.unsupported) throw new WireError(`${message.type} is not implemented by this node`);
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    DROPPED.count += 1;
    REFUSED.text = e.message;
  }
  if (message && !message.unsupported) raft.step(message, now);
  finish();
}

function pump() {
  while (ready && frames.length && !waiting) {
    const f = frames.shift();
    const tag = f[1];
    if (tag === 65) {
      const [, , now, digestBytes] = f;
      const at = kept.findIndex((k) => k.digest.equals(digestBytes));
      if (at >= 0) {
        const [{ data }] = kept.splice(at, 1);
        handleDatagram(data, now);
      } else {
        const timer = setTimeout(() => failure(`datagram ${digestBytes.toString('hex')} never arrived`, 5), DELIVER_WAIT_MS);
        waiting = { now, digest: digestBytes, timer };
      }
    } else if (tag === 66 || tag === 67) {
      raft.begin(f[2]);
      if (tag === 66) raft.fire(f[2]);
      else raft.becomeCandidate(f[2]);
      finish();
    } else if (tag === 68) {
      raft.begin(raft.now);
      if (raft.role !== 'leader') raft.electionDeadline = f[2];
      finish();
    } else if (tag === 69) {
      process.exit(0);
    } else if (tag === 72) {
      log('TakeSnapshot: this node takes no snapshots; nothing changes');
      raft.begin(f[2]);
      finish();
    } else if (tag === 80) {
      if (f[2] !== 'ok') failure('SetDisk: this node cannot simulate disk faults', 4);
      raft.begin(raft.now);
      finish();
    } else if (tag === 73 || tag === 75) {
      failure('GetState/LoadState are optional and not implemented by this node', 4);
    } else if (tag === 64 || tag === 70 || tag === 71 || tag === 74) {
      log(`ignoring frame ${tag}, meant for the lab`);
    } else {
      fail(`unknown control frame tag ${tag}`, 4);
    }
  }
}

function onDatagram(data, rinfo) {
  if (rinfo.address !== ARGS.router.host || rinfo.port !== ARGS.router.port) {
    DROPPED.count += 1;
    return;
  }
  const message = unseal(data);
  if (message === null) return; // unauthenticated: never decoded
  const entry = { digest: blake2b(message, 8), data: message };
  if (waiting && entry.digest.equals(waiting.digest)) {
    const { now, timer } = waiting;
    clearTimeout(timer);
    waiting = null;
    handleDatagram(message, now);
    pump();
  } else {
    kept.push(entry);
  }
}

// Frames from standard input: a 4-byte big-endian length, then one msgpack array.
function onInput(chunk) {
  input = Buffer.concat([input, chunk]);
  for (;;) {
    if (input.length < 4) break;
    const length = input.readUInt32BE(0);
    if (length === 0 || length > MAX_FRAME) fail(`malformed control frame: length ${length}`, 4);
    if (input.length < 4 + length) break;
    let f;
    try {
      f = decode(input.subarray(4, 4 + length));
    } catch (e) {
      fail(`malformed control frame: ${e.message}`, 4);
    }
    input = input.subarray(4 + length);
    if (!Array.isArray(f) || f[0] !== VERSION) fail('malformed control frame: not [1, tag, ...]', 4);
    if (f[1] === 76 && !raft) {
      secret = f[2];
      start();
      continue;
    }
    if (!raft) start(); // no Secret: untagged datagrams (docs/protocol.md §7.3, Secret)
    frames.push(f);
  }
  pump();
}

function start() {
  storage = new Storage(ARGS.data);
  let state;
  try {
    state = storage.load();
  } catch (e) {
    failure(`cannot read ${storage.file}: ${e.message}`, 3);
  }
  persisted = { term: state.term, vote: state.vote };
  raft = new Raft(ARGS, state);
  socket = dgram.createSocket('udp4');
  socket.on('message', onDatagram);
  socket.bind(0, '127.0.0.1', () => {
    raft.begin(ARGS.now);
    writeFrame([64, ARGS.id, process.pid, socket.address().port, raft.report()]);
    ready = true;
    pump();
  });
}

process.stdin.on('data', onInput);
process.stdin.on('end', () => {
  if (input.length) fail('standard input ended inside a frame', 4);
  process.exit(0);
});
