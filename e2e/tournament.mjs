// The tournaments page in a real headless Chromium (issue 13): two pages sign up on the
// tournament page (one with an alias), the host (over REST) starts it, both pages are taken
// to their match, play it out, and the bracket page shows the result filled in.
//
//   node e2e/tournament.mjs http://127.0.0.1:PORT
//
// Run by tests/browser.rs on a temporary database; screenshots go to e2e/screenshots/.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const BASE = process.argv[2] || process.env.ARCADE_URL;
if (!BASE) {
  console.error("usage: node e2e/tournament.mjs http://127.0.0.1:PORT");
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), "screenshots");
/** The whole run's deadline. */
const RUN_DEADLINE_MS = 120_000;
/** One wait for something on a page. */
const WAIT_MS = 20_000;

mkdirSync(SHOTS, { recursive: true });
setTimeout(() => {
  console.error(`e2e: the run took longer than ${RUN_DEADLINE_MS / 1000} s`);
  process.exit(1);
}, RUN_DEADLINE_MS).unref();

let passed = 0;
async function step(name, fn) {
  const started = Date.now();
  await fn();
  passed++;
  console.log(`ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

async function rest(path, { method = "GET", body, token } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${BASE}${path}`, { method, headers, body: body && JSON.stringify(body) });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  timeout: 30_000,
});

async function person(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const who = { name, page, errors: [] };
  page.on("pageerror", (error) => who.errors.push(`pageerror: ${error.message}`));
  return who;
}

let failed = false;
try {
  const host = await rest("/api/auth/guest", { method: "POST", body: { name: "host" } });
  const created = await rest("/api/tournaments", {
    method: "POST",
    token: host.token,
    body: { name: "Browser cup", game: "pong", format: "single_elimination", cap: 2, options: { scoreLimit: 1 } },
  });
  const ann = await person("ann");
  const bob = await person("bob");

  await step("both pages open the tournament from the list and sign up", async () => {
    for (const [who, alias] of [[ann, "Annie"], [bob, ""]]) {
      await who.page.goto(`${BASE}/#/tournaments`);
      await who.page.waitForSelector('#conn-status[data-state="open"]');
      await who.page.click(`tr[data-tournament="${created.id}"] a`);
      await who.page.waitForSelector("#tournament-alias");
      if (alias) await who.page.fill("#tournament-alias", alias);
      await who.page.click('button[data-action="register"]');
      await who.page.waitForSelector('button[data-action="unregister"]');
    }
    await ann.page.waitForFunction(() => document.querySelectorAll("#tournament-players li").length === 2);
    await ann.page.screenshot({ path: join(SHOTS, "tournament-signed-up.png") });
  });

  await step("the host starts it: both pages are taken to their match and play it out", async () => {
    await rest(`/api/tournaments/${created.id}/start`, { method: "POST", token: host.token });
    for (const who of [ann, bob]) {
      await who.page.waitForFunction(() => location.hash.startsWith("#/play/"));
      await who.page.focus("body");
      await who.page.keyboard.down("ArrowUp");
    }
    for (const who of [ann, bob]) {
      await who.page.waitForSelector("#game-result:not([hidden])", { timeout: 60_000 });
      await who.page.keyboard.up("ArrowUp");
    }
    await ann.page.screenshot({ path: join(SHOTS, "tournament-match-over.png") });
  });

  await step("the bracket page shows the result filled in", async () => {
    await ann.page.goto(`${BASE}/#/tournament/${created.id}`);
    await ann.page.waitForSelector(".pairing .win");
    const text = await ann.page.textContent("#tournament-bracket");
    if (!/1 : 0|0 : 1/.test(text)) throw new Error(`no score in the bracket: ${text}`);
    const facts = await ann.page.textContent("#tournament-facts");
    if (!facts.includes("finished")) throw new Error(`not finished: ${facts}`);
    await ann.page.screenshot({ path: join(SHOTS, "tournament-bracket.png") });
  });

  for (const who of [ann, bob]) {
    if (who.errors.length) throw new Error(`${who.name}: ${who.errors.join("; ")}`);
  }
} catch (error) {
  failed = true;
  console.log(`not ok - ${String(error.stack || error)}`);
}
await browser.close();
console.log(`${passed} passed, ${failed ? 1 : 0} failed`);
process.exit(failed ? 1 : 0);
