// Unit tests of the browser client's MessagePack module (assets/js/msgpack.js): `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { encode, decode, Float32 } from "../assets/js/msgpack.js";

const hex = (bytes) => Buffer.from(bytes).toString("hex");
const fromHex = (text) => new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));

test("encodes every kind to the spec's smallest form", () => {
  const cases = [
    [null, "c0"],
    [false, "c2"],
    [true, "c3"],
    [0, "00"],
    [127, "7f"],
    [128, "cc80"],
    [255, "ccff"],
    [256, "cd0100"],
    [65535, "cdffff"],
    [65536, "ce00010000"],
    [4294967295, "ceffffffff"],
    [4294967296, "cf0000000100000000"],
    [Number.MAX_SAFE_INTEGER, "cf001fffffffffffff"],
    [-1, "ff"],
    [-32, "e0"],
    [-33, "d0df"],
    [-128, "d080"],
    [-129, "d1ff7f"],
    [-32768, "d18000"],
    [-32769, "d2ffff7fff"],
    [-2147483648, "d280000000"],
    [-2147483649, "d3ffffffff7fffffff"],
    [0.5, "cb3fe0000000000000"],
    [-0, "cb8000000000000000"],
    [new Float32(1.5), "ca3fc00000"],
    [2n ** 64n - 1n, "cfffffffffffffffff"],
    [-(2n ** 63n), "d38000000000000000"],
    ["", "a0"],
    ["a", "a161"],
    ["é", "a2c3a9"],
    ["x".repeat(32), "d920" + "78".repeat(32)],
    ["x".repeat(256), "da0100" + "78".repeat(256)],
    [[], "90"],
    [[1, [2]], "920191" + "02"],
    [{}, "80"],
    [{ a: 1, b: undefined }, "81a16101"],
    [new Uint8Array([1, 2, 3]), "c403010203"],
  ];
  for (const [value, expected] of cases) {
    assert.equal(hex(encode(value)), expected, `encode(${String(value)})`);
  }
});

test("decodes what it encodes", () => {
  const values = [
    null, true, false, 0, 1, -1, 127, 128, -33, 300, -300, 70000, -70000, 2 ** 32, -(2 ** 31) - 1,
    Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 0.1, -123.456, 1e300, Infinity,
    "", "hello", "日本語 ✓", "y".repeat(70000),
    [], [1, "two", [3, { four: 4 }]], new Array(20).fill(7), new Array(70000).fill(0),
    { type: "state", data: { matchId: "m_0123456789abcdef", tick: 1234, acks: { p_1: 57 } } },
    Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
    new Uint8Array(300).fill(9),
  ];
  for (const value of values) {
    assert.deepEqual(decode(encode(value)), value);
  }
  assert.ok(Number.isNaN(decode(encode(NaN))));
});

test("64-bit integers stay numbers while safe and become BigInts past that", () => {
  assert.equal(decode(fromHex("cf001fffffffffffff")), Number.MAX_SAFE_INTEGER);
  assert.equal(decode(fromHex("cf0020000000000000")), 2n ** 53n);
  assert.equal(decode(fromHex("cfffffffffffffffff")), 2n ** 64n - 1n);
  assert.equal(decode(fromHex("d3ffffffffffffffff")), -1);
  assert.equal(decode(fromHex("d38000000000000000")), -(2n ** 63n));
  // serverTime in milliseconds is a uint 64 on the wire and a plain number here.
  assert.equal(decode(encode(1795000000000)), 1795000000000);
});

test("decodes floats 32 and 64, and the rarer heads", () => {
  assert.equal(decode(fromHex("ca3fc00000")), 1.5);
  assert.equal(decode(fromHex("cb400921fb54442d18")), Math.PI);
  assert.equal(decode(fromHex("d0ff")), -1);
  assert.equal(decode(fromHex("d1fc18")), -1000);
  assert.deepEqual(decode(fromHex("dc0002 01 02")), [1, 2]);
  assert.deepEqual(decode(fromHex("dd00000001 c3")), [true]);
  assert.deepEqual(decode(fromHex("de0001 a178 05")), { x: 5 });
  assert.deepEqual(decode(fromHex("df00000001 a178 c0")), { x: null });
  assert.equal(decode(fromHex("db00000002 6869")), "hi");
  assert.deepEqual(decode(fromHex("c50002 aabb")), new Uint8Array([0xaa, 0xbb]));
  assert.deepEqual(decode(fromHex("d501 0102")), { extType: 1, data: new Uint8Array([1, 2]) });
});

test("decodes a state frame as the server (rmp_serde, named fields) writes it", () => {
  // {"type":"state","data":{"tick":7,"phase":"playing","pong":{"ball":{"x":400.5},"score":[3,2]}}}
  const frame = fromHex(
    "82 a474797065 a57374617465 a464617461 83 a47469636b 07 a570686173 65 a7706c6179696e67" +
      " a4706f6e67 82 a462616c6c 81 a178 ca43c84000 a573636f7265 92 03 02",
  );
  assert.deepEqual(decode(frame), {
    type: "state",
    data: { tick: 7, phase: "playing", pong: { ball: { x: 400.5 }, score: [3, 2] } },
  });
});

test("refuses broken input instead of guessing", () => {
  assert.throws(() => decode(fromHex("a3 6162")), /end of input/);
  assert.throws(() => decode(fromHex("c1")), /unknown type byte/);
  assert.throws(() => decode(fromHex("01 02")), /trailing/);
  assert.throws(() => decode(fromHex("a2 c328")), TypeError, "invalid UTF-8");
  assert.throws(() => decode(new Uint8Array(100).fill(0x91)), /too deep/);
  assert.throws(() => encode(() => 1), /cannot encode/);
  const hostile = decode(fromHex("81 a95f5f70726f746f5f5f 81 a1 78 01"));
  assert.equal(Object.getPrototypeOf(hostile), Object.prototype, "__proto__ is a plain key");
  assert.deepEqual(hostile.__proto__, { x: 1 });
});
