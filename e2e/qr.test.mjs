// Unit tests of the browser client's QR encoder (assets/js/qr.js): `node --test`. The expected
// symbols (fixtures/qr.json) were made by the Python `qrcode` package (level M, byte mode, each
// mask forced), so the two encoders agree module for module.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { qrModules } from "../assets/js/qr.js";

const fixture = JSON.parse(readFileSync(new URL("./fixtures/qr.json", import.meta.url), "utf8"));

for (const { text, mask, version, rows } of fixture.cases) {
  test(`version ${version}, mask ${mask}: ${text.slice(0, 24)}…`, () => {
    const modules = qrModules(text, { mask });
    assert.equal(modules.length, version * 4 + 17);
    assert.deepEqual(modules.map((row) => row.map((dark) => (dark ? "1" : "0")).join("")), rows);
  });
}

test("the mask is chosen when none is forced, and long texts are refused", () => {
  const modules = qrModules("otpauth://totp/arcade:ada?secret=JBSWY3DPEHPK3PXP&issuer=arcade");
  assert.ok(modules.length >= 21);
  assert.throws(() => qrModules("x".repeat(300)));
});
