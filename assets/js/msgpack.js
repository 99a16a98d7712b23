// A small MessagePack encoder and decoder (https://msgpack.org spec), enough for arcade's wire
// protocol: maps with string keys, arrays, integers (negative and 64-bit included), floats (32
// and 64 bit), strings, booleans, nil and binary. No dependency; runs in browsers and in node.
//
// Numbers: an integer that fits a JavaScript number exactly is encoded as the smallest
// MessagePack integer; any other number as a float 64. A 64-bit integer read from the wire
// becomes a number while it is safe (|n| <= 2^53 - 1) and a BigInt past that, so nothing is
// silently rounded. BigInts are encoded as 64-bit integers. Binary is a Uint8Array both ways.
// Extension types decode to {extType, data} and are never produced.

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** A number to be encoded as a float 32 (the encoder writes float 64 otherwise). */
export class Float32 {
  constructor(value) {
    this.value = value;
  }
}

/** Encodes a value as MessagePack; returns a Uint8Array. */
export function encode(value) {
  const writer = new Writer();
  writer.value(value, 0);
  return writer.bytes();
}

/** Decodes one MessagePack value from a Uint8Array, ArrayBuffer or DataView. */
export function decode(input) {
  const bytes = input instanceof Uint8Array
    ? input
    : ArrayBuffer.isView(input)
      ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
      : new Uint8Array(input);
  const reader = new Reader(bytes);
  const value = reader.value(0);
  if (reader.offset !== bytes.length) {
    throw new Error(`msgpack: ${bytes.length - reader.offset} trailing bytes`);
  }
  return value;
}

/** How deep arrays and maps may nest, both ways (a guard against hostile input). */
const MAX_DEPTH = 64;

class Writer {
  constructor() {
    this.buffer = new Uint8Array(256);
    this.view = new DataView(this.buffer.buffer);
    this.offset = 0;
  }

  bytes() {
    return this.buffer.slice(0, this.offset);
  }

  reserve(n) {
    if (this.offset + n <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.offset + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.buffer.subarray(0, this.offset));
    this.buffer = bigger;
    this.view = new DataView(bigger.buffer);
  }

  u8(byte) {
    this.reserve(1);
    this.buffer[this.offset++] = byte;
  }

  head(byte, size, n) {
    this.reserve(1 + size);
    this.buffer[this.offset++] = byte;
    if (size === 1) this.view.setUint8(this.offset, n);
    else if (size === 2) this.view.setUint16(this.offset, n);
    else if (size === 4) this.view.setUint32(this.offset, n);
    this.offset += size;
  }

  raw(bytes) {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.offset);
    this.offset += bytes.length;
  }

  value(value, depth) {
    if (depth > MAX_DEPTH) throw new Error("msgpack: nested too deep");
    if (value === null || value === undefined) return this.u8(0xc0);
    switch (typeof value) {
      case "boolean":
        return this.u8(value ? 0xc3 : 0xc2);
      case "number":
        return Number.isSafeInteger(value) && !Object.is(value, -0) ? this.int(value) : this.float64(value);
      case "bigint":
        return this.bigint(value);
      case "string":
        return this.string(value);
      default:
        break;
    }
    if (value instanceof Float32) return this.float32(value.value);
    if (value instanceof Uint8Array) return this.binary(value);
    if (value instanceof ArrayBuffer) return this.binary(new Uint8Array(value));
    if (Array.isArray(value)) {
      this.length(value.length, 0x90, 0xdc, 0xdd);
      for (const item of value) this.value(item, depth + 1);
      return undefined;
    }
    if (typeof value === "object") {
      // Like JSON.stringify, keys whose value is undefined (or a function) are left out.
      const entries = Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== "function");
      this.length(entries.length, 0x80, 0xde, 0xdf);
      for (const [key, item] of entries) {
        this.string(key);
        this.value(item, depth + 1);
      }
      return undefined;
    }
    throw new Error(`msgpack: cannot encode a ${typeof value}`);
  }

  length(n, fix, head16, head32) {
    if (n < 16) this.u8(fix | n);
    else if (n < 0x10000) this.head(head16, 2, n);
    else this.head(head32, 4, n);
  }

  int(n) {
    if (n >= 0) {
      if (n < 0x80) return this.u8(n);
      if (n < 0x100) return this.head(0xcc, 1, n);
      if (n < 0x10000) return this.head(0xcd, 2, n);
      if (n < 0x100000000) return this.head(0xce, 4, n);
      return this.bigint(BigInt(n));
    }
    if (n >= -32) return this.u8(n & 0xff);
    if (n >= -0x80) {
      this.reserve(2);
      this.buffer[this.offset++] = 0xd0;
      this.view.setInt8(this.offset++, n);
      return undefined;
    }
    if (n >= -0x8000) {
      this.reserve(3);
      this.buffer[this.offset++] = 0xd1;
      this.view.setInt16(this.offset, n);
      this.offset += 2;
      return undefined;
    }
    if (n >= -0x80000000) {
      this.reserve(5);
      this.buffer[this.offset++] = 0xd2;
      this.view.setInt32(this.offset, n);
      this.offset += 4;
      return undefined;
    }
    return this.bigint(BigInt(n));
  }

  bigint(n) {
    this.reserve(9);
    if (n >= 0n) {
      if (n > 0xffffffffffffffffn) throw new Error("msgpack: integer above 2^64 - 1");
      this.buffer[this.offset++] = 0xcf;
      this.view.setBigUint64(this.offset, n);
    } else {
      if (n < -0x8000000000000000n) throw new Error("msgpack: integer below -2^63");
      this.buffer[this.offset++] = 0xd3;
      this.view.setBigInt64(this.offset, n);
    }
    this.offset += 8;
  }

  float64(n) {
    this.reserve(9);
    this.buffer[this.offset++] = 0xcb;
    this.view.setFloat64(this.offset, n);
    this.offset += 8;
  }

  float32(n) {
    this.reserve(5);
    this.buffer[this.offset++] = 0xca;
    this.view.setFloat32(this.offset, n);
    this.offset += 4;
  }

  string(text) {
    const bytes = textEncoder.encode(text);
    const n = bytes.length;
    if (n < 32) this.u8(0xa0 | n);
    else if (n < 0x100) this.head(0xd9, 1, n);
    else if (n < 0x10000) this.head(0xda, 2, n);
    else this.head(0xdb, 4, n);
    this.raw(bytes);
  }

  binary(bytes) {
    const n = bytes.length;
    if (n < 0x100) this.head(0xc4, 1, n);
    else if (n < 0x10000) this.head(0xc5, 2, n);
    else this.head(0xc6, 4, n);
    this.raw(bytes);
  }
}

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = 0;
  }

  need(n) {
    if (this.offset + n > this.bytes.length) throw new Error("msgpack: unexpected end of input");
  }

  take(n) {
    this.need(n);
    const start = this.offset;
    this.offset += n;
    return start;
  }

  u8() { return this.view.getUint8(this.take(1)); }
  u16() { return this.view.getUint16(this.take(2)); }
  u32() { return this.view.getUint32(this.take(4)); }

  u64() {
    const n = this.view.getBigUint64(this.take(8));
    return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }

  i64() {
    const n = this.view.getBigInt64(this.take(8));
    return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n;
  }

  string(n) {
    const start = this.take(n);
    return textDecoder.decode(this.bytes.subarray(start, start + n));
  }

  binary(n) {
    const start = this.take(n);
    return this.bytes.slice(start, start + n);
  }

  array(n, depth) {
    const items = new Array(n);
    for (let i = 0; i < n; i++) items[i] = this.value(depth + 1);
    return items;
  }

  map(n, depth) {
    const object = {};
    for (let i = 0; i < n; i++) {
      const key = this.value(depth + 1);
      if (typeof key !== "string" && typeof key !== "number") {
        throw new Error("msgpack: map keys must be strings or numbers");
      }
      const item = this.value(depth + 1);
      // Own data properties only: a "__proto__" key must not change the object's prototype.
      Object.defineProperty(object, String(key), { value: item, enumerable: true, writable: true, configurable: true });
    }
    return object;
  }

  ext(n) {
    const extType = this.view.getInt8(this.take(1));
    return { extType, data: this.binary(n) };
  }

  value(depth) {
    if (depth > MAX_DEPTH) throw new Error("msgpack: nested too deep");
    const byte = this.u8();
    if (byte < 0x80) return byte;
    if (byte >= 0xe0) return byte - 0x100;
    if (byte < 0x90) return this.map(byte & 0x0f, depth);
    if (byte < 0xa0) return this.array(byte & 0x0f, depth);
    if (byte < 0xc0) return this.string(byte & 0x1f);
    switch (byte) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.binary(this.u8());
      case 0xc5: return this.binary(this.u16());
      case 0xc6: return this.binary(this.u32());
      case 0xc7: return this.ext(this.u8());
      case 0xc8: return this.ext(this.u16());
      case 0xc9: return this.ext(this.u32());
      case 0xca: return this.view.getFloat32(this.take(4));
      case 0xcb: return this.view.getFloat64(this.take(8));
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: return this.u64();
      case 0xd0: return this.view.getInt8(this.take(1));
      case 0xd1: return this.view.getInt16(this.take(2));
      case 0xd2: return this.view.getInt32(this.take(4));
      case 0xd3: return this.i64();
      case 0xd4: return this.ext(1);
      case 0xd5: return this.ext(2);
      case 0xd6: return this.ext(4);
      case 0xd7: return this.ext(8);
      case 0xd8: return this.ext(16);
      case 0xd9: return this.string(this.u8());
      case 0xda: return this.string(this.u16());
      case 0xdb: return this.string(this.u32());
      case 0xdc: return this.array(this.u16(), depth);
      case 0xdd: return this.array(this.u32(), depth);
      case 0xde: return this.map(this.u16(), depth);
      case 0xdf: return this.map(this.u32(), depth);
      default: throw new Error(`msgpack: unknown type byte 0x${byte.toString(16)}`);
    }
  }
}
