// A small MessagePack codec: exactly the types docs/protocol.md §2 allows
// (array, int, str, bin, true/false, nil), nothing else.
//
// Values in JavaScript: arrays are Arrays, ints are Numbers (the node never
// meets an index above 2**53: the decoder refuses one rather than round it),
// str is a JS string, bin is a Buffer, nil is null.
'use strict';

class WireError extends Error {}

function encode(value) {
  const parts = [];
  write(value, parts);
  return Buffer.concat(parts);
}

function header(bytes) {
  return Buffer.from(bytes);
}

function write(value, parts) {
  if (value === null) {
    parts.push(header([0xc0]));
  } else if (value === true || value === false) {
    parts.push(header([value ? 0xc3 : 0xc2]));
  } else if (typeof value === 'number') {
    writeInt(value, parts);
  } else if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    const n = bytes.length;
    if (n < 32) parts.push(header([0xa0 | n]));
    else if (n < 0x100) parts.push(header([0xd9, n]));
    else if (n < 0x10000) parts.push(header([0xda, n >> 8, n & 0xff]));
    else parts.push(u32(0xdb, n));
    parts.push(bytes);
  } else if (Buffer.isBuffer(value)) {
    const n = value.length;
    if (n < 0x100) parts.push(header([0xc4, n]));
    else if (n < 0x10000) parts.push(header([0xc5, n >> 8, n & 0xff]));
    else parts.push(u32(0xc6, n));
    parts.push(value);
  } else if (Array.isArray(value)) {
    const n = value.length;
    if (n < 16) parts.push(header([0x90 | n]));
    else if (n < 0x10000) parts.push(header([0xdc, n >> 8, n & 0xff]));
    else parts.push(u32(0xdd, n));
    for (const item of value) write(item, parts);
  } else {
    throw new WireError(`cannot encode ${typeof value}`);
  }
}

function u32(code, n) {
  const b = Buffer.alloc(5);
  b[0] = code;
  b.writeUInt32BE(n, 1);
  return b;
}

// The shortest encoding, as Python's msgpack writes it.
function writeInt(n, parts) {
  if (!Number.isSafeInteger(n)) throw new WireError(`not an integer: ${n}`);
  if (n >= 0) {
    if (n < 0x80) parts.push(header([n]));
    else if (n < 0x100) parts.push(header([0xcc, n]));
    else if (n < 0x10000) parts.push(header([0xcd, n >> 8, n & 0xff]));
    else if (n < 0x100000000) parts.push(u32(0xce, n));
    else {
      const b = Buffer.alloc(9);
      b[0] = 0xcf;
      b.writeBigUInt64BE(BigInt(n), 1);
      parts.push(b);
    }
  } else if (n >= -32) {
    parts.push(header([n & 0xff]));
  } else if (n >= -0x80) {
    parts.push(header([0xd0, n & 0xff]));
  } else if (n >= -0x8000) {
    const b = Buffer.alloc(3);
    b[0] = 0xd1;
    b.writeInt16BE(n, 1);
    parts.push(b);
  } else if (n >= -0x80000000) {
    const b = Buffer.alloc(5);
    b[0] = 0xd2;
    b.writeInt32BE(n, 1);
    parts.push(b);
  } else {
    const b = Buffer.alloc(9);
    b[0] = 0xd3;
    b.writeBigInt64BE(BigInt(n), 1);
    parts.push(b);
  }
}

// Decode exactly one value filling all of `buf`; WireError on anything else.
function decode(buf) {
  const reader = { buf, pos: 0 };
  const value = read(reader, 0);
  if (reader.pos !== buf.length) throw new WireError('bytes left over after the message');
  return value;
}

function need(r, n) {
  if (r.pos + n > r.buf.length) throw new WireError('truncated');
}

function read(r, depth) {
  if (depth > 8) throw new WireError('nested too deeply');
  need(r, 1);
  const b = r.buf[r.pos++];
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 0x100;
  if ((b & 0xf0) === 0x90) return readArray(r, b & 0x0f, depth);
  if ((b & 0xe0) === 0xa0) return readStr(r, b & 0x1f);
  switch (b) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: need(r, 1); return readBin(r, r.buf[r.pos++]);
    case 0xc5: need(r, 2); r.pos += 2; return readBin(r, r.buf.readUInt16BE(r.pos - 2));
    case 0xc6: need(r, 4); r.pos += 4; return readBin(r, r.buf.readUInt32BE(r.pos - 4));
    case 0xcc: need(r, 1); return r.buf[r.pos++];
    case 0xcd: need(r, 2); r.pos += 2; return r.buf.readUInt16BE(r.pos - 2);
    case 0xce: need(r, 4); r.pos += 4; return r.buf.readUInt32BE(r.pos - 4);
    case 0xcf: need(r, 8); r.pos += 8; return safe(r.buf.readBigUInt64BE(r.pos - 8));
    case 0xd0: need(r, 1); r.pos += 1; return r.buf.readInt8(r.pos - 1);
    case 0xd1: need(r, 2); r.pos += 2; return r.buf.readInt16BE(r.pos - 2);
    case 0xd2: need(r, 4); r.pos += 4; return r.buf.readInt32BE(r.pos - 4);
    case 0xd3: need(r, 8); r.pos += 8; return safe(r.buf.readBigInt64BE(r.pos - 8));
    case 0xd9: need(r, 1); return readStr(r, r.buf[r.pos++]);
    case 0xda: need(r, 2); r.pos += 2; return readStr(r, r.buf.readUInt16BE(r.pos - 2));
    case 0xdb: need(r, 4); r.pos += 4; return readStr(r, r.buf.readUInt32BE(r.pos - 4));
    case 0xdc: need(r, 2); r.pos += 2; return readArray(r, r.buf.readUInt16BE(r.pos - 2), depth);
    case 0xdd: need(r, 4); r.pos += 4; return readArray(r, r.buf.readUInt32BE(r.pos - 4), depth);
    default: throw new WireError(`msgpack type 0x${b.toString(16)} is not allowed`);
  }
}

function safe(big) {
  if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new WireError('integer beyond 2**53: this node does not handle it');
  }
  return Number(big);
}

function readArray(r, n, depth) {
  if (n > r.buf.length - r.pos) throw new WireError('array longer than the message');
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = read(r, depth + 1);
  return out;
}

function readStr(r, n) {
  need(r, n);
  const bytes = r.buf.subarray(r.pos, r.pos + n);
  r.pos += n;
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) throw new WireError('str is not valid UTF-8');
  return text;
}

function readBin(r, n) {
  need(r, n);
  const out = Buffer.from(r.buf.subarray(r.pos, r.pos + n));
  r.pos += n;
  return out;
}

module.exports = { encode, decode, WireError };
