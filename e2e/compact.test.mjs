// Unit tests of the browser client's compact `state` decoder (assets/js/compact.js): `node --test`.
// The frames come from the Rust encoder (fixtures/compact.json, written by the arcade-systems
// test `compact::tests::writes_the_javascript_fixture`), with the state each must decode to.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CompactDecoder, isCompactState, SCALE } from "../assets/js/compact.js";

const fixture = JSON.parse(readFileSync(new URL("./fixtures/compact.json", import.meta.url), "utf8"));
const fromHex = (text) => new Uint8Array(Buffer.from(text, "hex"));

test("the fixture's scale is the decoder's", () => {
  assert.equal(fixture.scale, SCALE);
});

for (const { layout, frames } of fixture.cases) {
  test(`${layout}: every frame decodes to the server's state, a broken chain is noticed`, () => {
    const client = new CompactDecoder();
    let broken = 0;
    for (const [n, { frame, expect }] of frames.entries()) {
      const bytes = fromHex(frame);
      assert.ok(isCompactState(bytes));
      const result = client.decode(bytes);
      if (expect === null) {
        assert.ok("broken" in result, `frame ${n}: expected a broken chain`);
        broken++;
      } else {
        assert.deepEqual(result.state, expect, `frame ${n}`);
        assert.deepEqual(client.state(expect.matchId), expect);
      }
    }
    if (!layout.includes("synthetic")) assert.ok(broken > 0);
  });
}

test("a MessagePack envelope is not a compact state", () => {
  // {"type": "ack"} as MessagePack: a fixmap.
  const envelope = new Uint8Array([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa3, 0x61, 0x63, 0x6b]);
  assert.equal(isCompactState(envelope), false);
  assert.throws(() => new CompactDecoder().decode(envelope));
});

test("a cut keyframe throws and a delta without its keyframe is broken", () => {
  const { frames } = fixture.cases[0];
  const keyframe = fromHex(frames[0].frame);
  assert.throws(() => new CompactDecoder().decode(keyframe.subarray(0, keyframe.length - 1)));
  assert.ok("broken" in new CompactDecoder().decode(fromHex(frames[1].frame)));
});

test("a malformed delta breaks its match's chain until a keyframe", () => {
  const { frames } = fixture.cases[0];
  const client = new CompactDecoder();
  const first = client.decode(fromHex(frames[0].frame)).state;
  const delta = fromHex(frames[1].frame);
  assert.throws(() => client.decode(delta.subarray(0, delta.length - 1)));
  assert.equal(client.state(first.matchId), null);
  assert.ok("broken" in client.decode(delta));
  assert.deepEqual(client.decode(fromHex(frames[0].frame)).state, first);
});
