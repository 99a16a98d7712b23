// End-to-end test of the browser client's account pages (assets/js/account.js) in headless
// Chromium: register, upload an avatar and rename on the profile page, enrol two-factor sign-in
// from the QR code the settings page draws (the canvas is read back module by module and must
// be the QR code of the page's otpauth:// URI), log out, log in with a code, see the session,
// and delete the account. Screenshots go to e2e/screenshots/accounts-*.png.
//
//   node e2e/accounts.mjs http://127.0.0.1:PORT
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { qrModules } from "../assets/js/qr.js";

const BASE = process.argv[2];
if (!BASE) {
  console.error("usage: node e2e/accounts.mjs http://127.0.0.1:PORT");
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), "screenshots");
/** The whole run's deadline. */
const RUN_DEADLINE_MS = 120_000;
/** One wait for something on a page. */
const WAIT_MS = 15_000;
/** Pixels a module as the settings page draws it (qr.js `drawQr`'s default), and its quiet zone. */
const QR_SCALE = 5;
const QR_QUIET = 4;

mkdirSync(SHOTS, { recursive: true });
const deadline = setTimeout(() => {
  console.error(`accounts e2e: over ${RUN_DEADLINE_MS / 1000} s`);
  process.exit(1);
}, RUN_DEADLINE_MS);

let passed = 0;
async function step(name, fn) {
  const started = Date.now();
  await fn();
  passed++;
  console.log(`ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** RFC 4648 base32 to bytes. */
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) of `secret` at Unix time `at` seconds. */
function totp(secret, at) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30)));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const offset = mac[19] & 15;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

/** A small RGB PNG (a gradient), made here so the test needs no file. */
function gradientPng(width, height) {
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    raw[y * (1 + width * 3)] = 0;
    for (let x = 0; x < width; x++) {
      const at = y * (1 + width * 3) + 1 + x * 3;
      raw[at] = (x * 255) / width;
      raw[at + 1] = (y * 255) / height;
      raw[at + 2] = 120;
    }
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  timeout: 30_000,
});
const page = await browser.newPage({ viewport: { width: 1100, height: 1300 } });
page.setDefaultTimeout(WAIT_MS);
const errors = [];
page.on("pageerror", (error) => errors.push(error.message));
const name = `e2e_${Date.now() % 100000}`;
const password = "e2e password 1";
let secret = "";
let code = 0;

try {
  await step("register in the lobby", async () => {
    await page.goto(`${BASE}/`);
    await page.waitForSelector("#conn-status[data-state=open]");
    await page.fill("#auth-name", name);
    await page.fill("#auth-password", password);
    await page.click("#register");
    await page.waitForFunction((n) => document.querySelector("#me-link").textContent === n, name);
  });

  await step("the profile page: an avatar uploaded, re-encoded, and a new name", async () => {
    await page.goto(`${BASE}/#/profile`);
    await page.waitForSelector("#view-profile:not([hidden])");
    await page.setInputFiles("#avatar-file", { name: "face.png", mimeType: "image/png", buffer: gradientPng(200, 150) });
    await page.click("#avatar-upload");
    await page.waitForFunction(() => document.querySelector("#avatar-message").textContent === "Avatar updated.");
    await page.waitForFunction(() => {
      const img = document.querySelector("#profile-avatar");
      return img.complete && img.naturalWidth === 128 && img.naturalHeight === 128;
    });
    await page.fill("#rename-name", `${name}_2`);
    await page.click("#rename");
    await page.waitForFunction((n) => document.querySelector("#me-link").textContent === n, `${name}_2`);
    await page.screenshot({ path: join(SHOTS, "accounts-1-profile.png") });
  });

  await step("the settings page draws the enrolment URI as a QR code", async () => {
    await page.goto(`${BASE}/#/settings`);
    await page.waitForSelector("#session-rows tr");
    // The sessions and the two-factor state load apart: wait for the state's own answer.
    await page.waitForFunction(() => document.querySelector("#totp-state").textContent !== "…");
    check((await page.textContent("#totp-state")).startsWith("Off"), "two-factor sign-in starts off");
    await page.fill("#totp-setup-password", password);
    await page.click("#totp-setup");
    await page.waitForSelector("#totp-enrol:not([hidden])");
    secret = (await page.textContent("#totp-secret")).trim();
    const drawn = await page.evaluate(({ scale, quiet }) => {
      const canvas = document.querySelector("#totp-qr");
      const side = canvas.width / scale - quiet * 2;
      const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      const rows = [];
      for (let y = 0; y < side; y++) {
        let row = "";
        for (let x = 0; x < side; x++) {
          const px = ((y + quiet) * scale + scale / 2) | 0;
          const at = (px * canvas.width + (((x + quiet) * scale + scale / 2) | 0)) * 4;
          row += pixels[at] < 128 ? "1" : "0";
        }
        rows.push(row);
      }
      return { uri: canvas.dataset.uri, rows };
    }, { scale: QR_SCALE, quiet: QR_QUIET });
    check(drawn.uri.startsWith(`otpauth://totp/arcade:${name}_2?`), `the URI names the account: ${drawn.uri}`);
    check(drawn.uri.includes(`secret=${secret}`), "the URI carries the secret shown");
    const expected = qrModules(drawn.uri).map((row) => row.map((dark) => (dark ? "1" : "0")).join(""));
    check(JSON.stringify(drawn.rows) === JSON.stringify(expected), "the canvas is the QR code of the URI");
    await page.screenshot({ path: join(SHOTS, "accounts-2-enrol.png") });
  });

  await step("a code from the secret turns it on and shows ten recovery codes", async () => {
    const now = Date.now() / 1000;
    await page.fill("#totp-code", totp(secret, now));
    await page.click("#totp-enable");
    await page.waitForSelector("#totp-codes:not([hidden])");
    code = now;
    check((await page.locator("#totp-code-list li").count()) === 10, "ten recovery codes");
    check((await page.textContent("#totp-state")).startsWith("On"), "on");
    await page.screenshot({ path: join(SHOTS, "accounts-3-codes.png"), fullPage: true });
  });

  await step("logged out, the login asks for a code and takes a fresh one", async () => {
    await page.goto(`${BASE}/#/`);
    await page.click("#logout");
    await page.waitForSelector("#auth-form:not([hidden])");
    await page.fill("#auth-name", `${name}_2`);
    await page.fill("#auth-password", password);
    await page.click("#login");
    await page.waitForSelector("#auth-code-label:not([hidden])");
    await page.screenshot({ path: join(SHOTS, "accounts-4-code-asked.png") });
    // The code that enabled it is used up: the next step's code is fresh (one step of skew).
    await page.fill("#auth-code", totp(secret, code + 30));
    await page.click("#login");
    await page.waitForFunction((n) => document.querySelector("#me-link").textContent === n, `${name}_2`);
  });

  await step("the session is listed, and deleting the account makes the tab a guest", async () => {
    await page.goto(`${BASE}/#/settings`);
    await page.waitForSelector("#session-rows tr");
    const current = await page.locator("#session-rows tr", { hasText: "this one" }).count();
    check(current === 1, "the current session is marked");
    await page.screenshot({ path: join(SHOTS, "accounts-5-settings.png"), fullPage: true });
    await page.fill("#delete-password", password);
    await page.check("#delete-confirm");
    await page.click("#delete-account");
    await page.waitForFunction(() => document.querySelector("#me-kind").textContent === "guest");
    const login = await fetch(`${BASE}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: `${name}_2`, password, code: totp(secret, Date.now() / 1000 + 30) }),
    });
    check(login.status === 401, `the deleted account cannot log in (${login.status})`);
  });
  check(errors.length === 0, `page errors: ${errors.join("; ")}`);
} catch (error) {
  console.log(`not ok - ${String(error.stack || error)}`);
  await page.screenshot({ path: join(SHOTS, "accounts-failure.png") }).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close().catch(() => {});
  clearTimeout(deadline);
}
console.log(`${passed} passed, ${process.exitCode ? 1 : 0} failed`);
