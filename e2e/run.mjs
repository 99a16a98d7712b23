// End-to-end tests of arcade's browser client in a real headless Chromium (Debian's package,
// driven by playwright-core; no browser is ever downloaded).
//
//   node e2e/run.mjs http://127.0.0.1:PORT
//
// The server is started (and stopped) by the caller: tests/browser.rs does it on a temporary
// database. This script starts one browser, drives pages like people would (clicks, keys),
// checks what they show, saves screenshots into e2e/screenshots/, and exits 0 when every step
// passed, 1 otherwise. Every wait is bounded; the whole run has a deadline.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decode } from "../assets/js/msgpack.js";
import { CompactDecoder, isCompactState } from "../assets/js/compact.js";

const BASE = process.argv[2] || process.env.ARCADE_URL;
if (!BASE) {
  console.error("usage: node e2e/run.mjs http://127.0.0.1:PORT");
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const HERE = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(HERE, "screenshots");
/** The whole run's deadline. */
const RUN_DEADLINE_MS = 240_000;
/** One wait for something on a page. */
const WAIT_MS = 15_000;
/** A queued Pong 1v1 is first to 11: one side plays, the other dodges, about 30 s. */
const MATCH_MS = 90_000;

mkdirSync(SHOTS, { recursive: true });
const deadline = setTimeout(() => {
  console.error(`e2e: the run took longer than ${RUN_DEADLINE_MS / 1000} s`);
  process.exit(1);
}, RUN_DEADLINE_MS);

let passed = 0;
let failed = 0;
const problems = [];

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(error.stack || error).split("\n").join("\n  ")}`);
    throw error;
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  // playwright-core gives every launch a fresh, empty profile (--user-data-dir in a new temp
  // folder, removed on close).
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  timeout: 30_000,
});

/** A person: a browser context of its own (own storage, own guest) with one page, whose
 * console errors and page errors are collected and whose socket frames are decoded. */
async function person(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const who = { name, context, page, errors: [], messages: [], lastState: null, compactStates: 0, brokenChains: 0 };
  page.on("pageerror", (error) => who.errors.push(`pageerror: ${error.message}`));
  page.on("response", (response) => {
    if (response.status() >= 400) who.errors.push(`HTTP ${response.status()} ${response.url()}`);
  });
  page.on("console", (message) => {
    if (message.type() === "error") who.errors.push(`console: ${message.text()}`);
  });
  page.on("websocket", (socket) => {
    // The page's compact states, decoded as the page decodes them (a chain of its own).
    const compact = new CompactDecoder();
    socket.on("framereceived", ({ payload }) => {
      let message;
      try {
        const bytes = typeof payload === "string" ? null : new Uint8Array(payload);
        if (bytes && isCompactState(bytes)) {
          who.compactStates += 1;
          const result = compact.decode(bytes);
          if (result.broken !== undefined) who.brokenChains += 1;
          message = { type: "state", data: result.state };
        } else {
          message = bytes ? decode(bytes) : JSON.parse(payload);
        }
      } catch (error) {
        who.errors.push(`undecodable frame: ${error.message}`);
        return;
      }
      if (message.type === "state" && !message.data) return;
      who.codec = typeof payload === "string" ? "json" : who.compactStates > 0 ? "compact" : "msgpack";
      if (message.type === "state") who.lastState = message.data;
      else who.messages.push(message);
    });
  });
  return who;
}

async function shot(who, file) {
  await who.page.screenshot({ path: join(SHOTS, file) });
}

async function openLobby(who) {
  await who.page.goto(`${BASE}/`);
  await who.page.waitForSelector('#conn-status[data-state="open"]');
  await who.page.waitForFunction(() => !document.querySelector("#me-name").textContent.includes("…"));
  who.player = (await who.page.textContent("#me-name")).trim();
}

/** Holds the keys for `axis` (-1, 0, +1) down, releasing the others. */
async function hold(who, axis, [minus, plus]) {
  if (who.axis === axis) return;
  who.axis = axis;
  if (axis < 0) { await who.page.keyboard.up(plus); await who.page.keyboard.down(minus); }
  else if (axis > 0) { await who.page.keyboard.up(minus); await who.page.keyboard.down(plus); }
  else { await who.page.keyboard.up(minus); await who.page.keyboard.up(plus); }
}

/** Plays Pong from the keyboard until the page shows the result: `mode` "play" follows the
 * ball, "dodge" moves away from it whenever it comes this way (so that the other side
 * scores). The ball is read from the `state` frames the page itself received. */
async function playPong(who, seat, mode, keys) {
  const until = Date.now() + MATCH_MS;
  while (Date.now() < until) {
    if (await who.page.isVisible("#game-result")) return;
    const state = who.lastState;
    const paddle = state?.pong?.paddles.find((p) => p.seat === seat);
    let axis = 0;
    if (state?.phase === "playing" && paddle) {
      const ball = state.pong.ball;
      const coming = seat.startsWith("left") === ball.vx < 0;
      if (mode === "play") axis = Math.abs(ball.y - paddle.y) < 12 ? 0 : Math.sign(ball.y - paddle.y);
      else if (coming) axis = paddle.y > ball.y ? 1 : -1;
      // A paddle at the wall holds still rather than pushing into it.
      if (mode === "dodge" && ((axis > 0 && paddle.y >= 558) || (axis < 0 && paddle.y <= 42))) axis = -axis;
    }
    await hold(who, axis, keys);
    await who.page.waitForTimeout(30);
  }
  throw new Error(`${who.name}: the match did not end within ${MATCH_MS / 1000} s`);
}

const PONG_KEYS = { arrows: ["ArrowUp", "ArrowDown"], ws: ["KeyW", "KeyS"] };

let exitCode = 0;
const people = [];
try {
  const alice = await person("alice");
  const bob = await person("bob");
  const carol = await person("carol");
  people.push(alice, bob, carol);
  let matchId;

  await step("the lobby loads as a guest (MessagePack envelopes, compact states), with no console error", async () => {
    await Promise.all([openLobby(alice), openLobby(bob), openLobby(carol)]);
    check(alice.player !== bob.player, "two pages are two guests");
    check((await alice.page.textContent("#conn-status")).includes("compact"), "compact states by default");
    check(alice.messages.some((m) => m.type === "hello") && alice.codec === "msgpack", "hello arrived as a binary frame");
    await shot(alice, "01-lobby.png");
  });

  await step("chat on global reaches the other pages", async () => {
    await alice.page.fill("#chat-text", "good luck, have fun");
    await alice.page.click("#chat-send");
    await bob.page.waitForSelector('#chat-log li:has-text("good luck, have fun")');
    await carol.page.waitForSelector('#chat-log li:has-text("good luck, have fun")');
  });

  await step("two pages queue for Pong 1v1 and are paired", async () => {
    await alice.page.click('button.queue[data-game="pong"][data-mode="1v1"]');
    await alice.page.waitForSelector("#queue-busy:not([hidden])");
    await shot(alice, "02-queued.png");
    await bob.page.click('button.queue[data-game="pong"][data-mode="1v1"]');
    await alice.page.waitForSelector('body[data-view="game"]');
    await bob.page.waitForSelector('body[data-view="game"]');
    matchId = alice.page.url().split("#/play/")[1];
    check(/^m_[0-9a-f]{16}$/.test(matchId), `the game view's route names the match: ${alice.page.url()}`);
    check(bob.page.url().endsWith(matchId), "both play the same match");
    await alice.page.waitForSelector('#game-status:text-matches("Starting in|Playing")');
    await shot(alice, "03-countdown.png");
  });

  const aliceStart = () => alice.messages.find((m) => m.type === "match.start");
  const bobStart = () => bob.messages.find((m) => m.type === "match.start");

  await step("a third page watches the match from the live list", async () => {
    await carol.page.waitForSelector(`#live-rows tr[data-match="${matchId}"] button.watch`);
    await shot(carol, "04-live-list.png");
    await carol.page.click(`#live-rows tr[data-match="${matchId}"] button.watch`);
    await carol.page.waitForSelector('body[data-view="game"]');
    const start = await waitFor(() => carol.messages.find((m) => m.type === "match.start"), "carol's match.start");
    check(start.data.seat === null || start.data.seat === undefined, "carol watches, without a seat");
    await alice.page.waitForSelector('#game-spectators:text("1 watching")');
    await carol.page.waitForSelector('#game-status:text("Playing")', { timeout: 10_000 });
  });

  await step("both play from the keyboard until one wins; the own paddle is predicted and acked", async () => {
    const aliceSeat = aliceStart().data.seat;
    const bobSeat = bobStart().data.seat;
    check(aliceSeat && bobSeat && aliceSeat !== bobSeat, "two seats");
    const spectate = (async () => {
      // Mid-match pictures: a player's view and the spectator's.
      await alice.page.waitForFunction(() => /[1-9]/.test(document.querySelector("#game-score").textContent), null, { timeout: 30_000 });
      await alice.page.waitForTimeout(1500);
      await shot(alice, "05-playing.png");
      await shot(carol, "06-spectating.png");
    })();
    await Promise.all([
      playPong(alice, aliceSeat, "play", PONG_KEYS.arrows),
      playPong(bob, bobSeat, "dodge", PONG_KEYS.ws),
      spectate,
    ]);
    await hold(alice, 0, PONG_KEYS.arrows);
    await hold(bob, 0, PONG_KEYS.ws);
    const aliceId = aliceStart().data.players.find((p) => p.seat === aliceSeat).id;
    const end = await waitFor(() => alice.messages.find((m) => m.type === "match.end"), "match.end");
    const result = end.data.players.find((p) => p.id === aliceId).result;
    check(result === "win", `alice (who played) won: ${JSON.stringify(end.data)}`);
    check((await alice.page.textContent("#game-result-text")).startsWith("You win!"), "alice's page says she won");
    check((await bob.page.textContent("#game-result-text")).startsWith("You lose"), "bob's page says he lost");
    await carol.page.waitForSelector("#game-result:not([hidden])");
    check((await carol.page.textContent("#game-result-text")).includes("won"), "the spectator sees who won");
    check(await carol.page.isHidden("#game-rematch"), "no rematch for a spectator");
    check(await alice.page.isVisible("#game-rematch"), "a rematch button for a player");
    await shot(alice, "07-won.png");
    await shot(bob, "08-lost.png");
    await shot(carol, "09-spectator-end.png");
  });

  await step("the inputs were acknowledged through acks (seq counting up)", async () => {
    const sent = await alice.page.evaluate(() => document.body.dataset.view);
    check(sent === "game", "still on the result");
    // The last state's acks name alice's player with a positive seq.
    const aliceId = aliceStart().data.players.find((p) => p.seat === aliceStart().data.seat).id;
    const lastAck = alice.lastState?.acks?.[aliceId];
    check(Number.isInteger(lastAck) && lastAck > 5, `alice's inputs were applied (ack ${lastAck})`);
    check(alice.compactStates > 100 && carol.compactStates > 100, "the states came as compact frames");
    check(alice.brokenChains + bob.brokenChains + carol.brokenChains === 0, "no delta broke a chain");
  });

  await step("the history page lists the match; its detail, the players and the leaderboard show", async () => {
    await carol.page.click("#game-lobby");
    await carol.page.click('nav a[data-nav="history"]');
    await carol.page.waitForSelector(`#history-rows tr[data-match="${matchId}"]`);
    const row = await carol.page.textContent(`#history-rows tr[data-match="${matchId}"]`);
    check(row.includes("Pong 1 v 1") && row.includes("11") && row.includes("score limit"), `the row: ${row}`);
    await shot(carol, "10-history.png");
    await carol.page.click(`#history-rows tr[data-match="${matchId}"] a:text("details")`);
    await carol.page.waitForSelector('#match-players tr:has-text("won")');
    check((await carol.page.textContent("#match-facts")).includes(matchId), "the detail names the match");
    await shot(carol, "11-match.png");
    await carol.page.click(`#match-players a:text("${alice.player}")`);
    await carol.page.waitForSelector('#player-stats tr:has-text("Pong")');
    const stats = await carol.page.textContent("#player-stats");
    check(/Pong\s*1\s*1\s*0\s*0/.test(stats.replace(/\s+/g, " ")) || stats.includes("1"), `alice's stats: ${stats}`);
    await carol.page.waitForSelector(`#player-matches tr[data-match="${matchId}"]`);
    await shot(carol, "12-player.png");
    await carol.page.click('nav a[data-nav="leaderboard"]');
    await carol.page.waitForSelector(`#board-rows tr:has-text("${alice.player}")`);
    await carol.page.waitForSelector(`#board-rows tr:has-text("${bob.player}")`);
    const rank = async (who) => Number(await carol.page.textContent(`#board-rows tr:has-text("${who.player}") td:first-child`));
    check((await rank(alice)) < (await rank(bob)), "the winner ranks above the loser");
    await shot(carol, "13-leaderboard.png");
  });

  await step("the match's page plays its replay at ×4, seeks forwards and backwards (from 5-s checkpoints), and ends on the record's score", async () => {
    const page = carol.page;
    await page.goto(`${BASE}/#/match/${matchId}`);
    await page.waitForSelector("#replay-play");
    const record = await page.evaluate(async (id) => (await fetch(`/api/matches/${id}`)).json(), matchId);
    check(record.hasReplay === true, "the record says it has a replay");
    const side = (left) => record.players.find((p) => p.seat.startsWith("left") === left).score;
    const expected = `${side(true)} : ${side(false)}`;
    await page.waitForFunction(() => document.querySelector("#replay-tick").textContent.startsWith("tick 1 /"));
    await page.selectOption("#replay-speed", "4");
    await page.click("#replay-play");
    await page.waitForFunction(() => Number(/tick (\d+)/.exec(document.querySelector("#replay-tick").textContent)[1]) > 400);
    await shot(carol, "14-replay-playing.png");
    // The player keeps a checkpoint every 5 s of match time: a seek jumps to the nearest one
    // at or before the tick asked (drawn at once when played past), then to the tick itself.
    const every = 5 * record.tickRate;
    const checkpointOf = (t) => Math.floor((t - 1) / every) * every + 1;
    const shown = () => page.evaluate(() => Number(/tick (\d+)/.exec(document.querySelector("#replay-tick").textContent)[1]));
    const seek = (value) =>
      page.$eval("#replay-seek", (el, value) => {
        el.value = String(value);
        el.dispatchEvent(new Event("input"));
        // What the page shows right after the seek, before any frame is fetched.
        return { from: Number(el.dataset.from), tick: Number(/tick (\d+)/.exec(document.querySelector("#replay-tick").textContent)[1]) };
      }, value);
    // Forwards, past what was loaded: into the second chunk of frames (20 s) when the match
    // has one, so that the first is let go and seeking back fetches it again.
    const chunk = 4 * every;
    const target = Math.max(Math.floor(record.ticks * 0.7), Math.min(chunk + 60, record.ticks - 60));
    const chunks = () => page.$eval("#replay-seek", (el) => el.dataset.chunks || "");
    const forward = await seek(target);
    check(forward.from === checkpointOf(target), `a forward seek starts from checkpoint ${checkpointOf(target)}: ${forward.from}`);
    await page.waitForFunction((t) => Number(/tick (\d+)/.exec(document.querySelector("#replay-tick").textContent)[1]) >= t, target);
    await shot(carol, "15-replay-seeked.png");
    const secondChunk = target > chunk;
    if (secondChunk) {
      await page.waitForFunction(() => !(document.querySelector("#replay-seek").dataset.chunks || "").split(" ").includes("1"));
      console.log(`  (frames kept for chunks ${await chunks()} after the seek to tick ${target})`);
    }
    // Backwards, to a tick played before: the checkpoint is drawn from memory at once.
    const back = every + 50;
    check(back < target, `the match is long enough to seek back to ${back}`);
    const backward = await seek(back);
    check(backward.from === checkpointOf(back), `a backward seek starts from checkpoint ${checkpointOf(back)}: ${backward.from}`);
    check(backward.tick === checkpointOf(back), `the checkpoint is shown at once: tick ${backward.tick}`);
    await page.waitForFunction((t) => Number(/tick (\d+)/.exec(document.querySelector("#replay-tick").textContent)[1]) >= t, back);
    if (secondChunk) check((await chunks()).split(" ").includes("1"), `the first chunk fetched again: ${await chunks()}`);
    check((await shown()) < target, "playing on from the tick sought back to");
    const kept = Number(await page.$eval("#replay-seek", (el) => el.dataset.checkpoints));
    check(kept >= Math.floor(target / every), `checkpoints kept for what was played: ${kept}`);
    await shot(carol, "15b-replay-seeked-back.png");
    // Forwards again, and on to the end.
    const again = Math.floor(record.ticks * 0.85);
    await seek(again);
    await page.waitForFunction((t) => Number(/tick (\d+)/.exec(document.querySelector("#replay-tick").textContent)[1]) >= t, again);
    const rest = ((record.ticks - again) / record.tickRate / 4) * 1000;
    await page.waitForFunction((ticks) => document.querySelector("#replay-tick").textContent.startsWith(`tick ${ticks} /`), record.ticks, { timeout: rest + WAIT_MS });
    const score = (await page.textContent("#replay-score")).trim();
    check(score === expected, `the replay ends on the record's score: ${score} vs ${expected}`);
    check((await page.textContent("#replay-play")).includes("Play"), "paused at the end");
    await shot(carol, "16-replay-end.png");
  });

  await step("a private match with a score limit of 1 from the create form, joined by code, with the rematch", async () => {
    await alice.page.click("#game-lobby");
    await bob.page.click("#game-lobby");
    await alice.page.selectOption("#create-kind", "pong/1v1");
    await alice.page.fill("#create-score", "1");
    await alice.page.check("#create-private");
    await alice.page.click("#create");
    await alice.page.waitForSelector("#game-share:not([hidden])");
    const code = (await alice.page.textContent("#game-code")).trim();
    check(/^[A-Z0-9]{6}$/.test(code), `a join code: ${code}`);
    await shot(alice, "14-private-waiting.png");
    await bob.page.fill("#join-code", code.toLowerCase());
    await bob.page.click("#join");
    await bob.page.waitForSelector('body[data-view="game"]');
    await alice.page.waitForSelector("#game-share", { state: "hidden" });
    // Bob drops (his tab leaves the page, closing its socket): the match pauses for alice;
    // back on the page, his tab is the same guest (sessionStorage), takes the seat back, and
    // the match resumes after a countdown.
    await bob.page.waitForSelector('#game-status:text("Starting in")');
    const gameUrl = bob.page.url();
    await bob.page.goto("about:blank");
    await alice.page.waitForSelector('#game-status:text-matches("Paused: .* dropped")');
    await alice.page.waitForTimeout(200);
    await shot(alice, "15-paused.png");
    await bob.page.goto(gameUrl);
    await bob.page.waitForSelector('body[data-view="game"]');
    await alice.page.waitForSelector('#game-status:text-matches("Starting in|Playing")');
    await bob.page.waitForSelector('#game-status:text-matches("Starting in|Playing")');
    await waitFor(() => alice.messages.some((m) => m.type === "match.event" && m.data.kind === "player_back"), "player_back");
    await waitFor(() => alice.messages.some((m) => m.type === "match.event" && m.data.kind === "resumed"), "resumed", 6000);
    const bobSeat = bob.messages.filter((m) => m.type === "match.start").pop().data.seat;
    const aliceSeat = alice.messages.filter((m) => m.type === "match.start").pop().data.seat;
    alice.axis = undefined;
    bob.axis = undefined;
    await Promise.all([
      playPong(alice, aliceSeat, "dodge", PONG_KEYS.arrows),
      playPong(bob, bobSeat, "play", PONG_KEYS.arrows),
    ]);
    await hold(alice, 0, PONG_KEYS.arrows);
    await hold(bob, 0, PONG_KEYS.arrows);
    check((await bob.page.textContent("#game-result-text")).startsWith("You win!"), "bob won the private match");
    check((await bob.page.textContent("#game-result-text")).includes("1"), "to one point");
    await shot(bob, "16-private-won.png");
    // Rematch creates the same private match again, with a new code.
    await alice.page.click("#game-rematch");
    await alice.page.waitForSelector("#game-share:not([hidden])");
    const again = (await alice.page.textContent("#game-code")).trim();
    check(again !== code, "a new match");
    await alice.page.click("#game-leave");
    await alice.page.waitForSelector('body[data-view="lobby"]');
    await bob.page.click("#game-lobby");
  });

  await step("Breakout versus: both fields side by side for a spectator, keyboard and launch", async () => {
    await alice.page.selectOption("#create-kind", "breakout/versus");
    await alice.page.uncheck("#create-private");
    await alice.page.click("#create");
    await alice.page.waitForURL(/#\/play\/m_/);
    const created = alice.page.url().split("#/play/")[1];
    await alice.page.waitForSelector("#game-share", { state: "hidden" });
    await bob.page.waitForSelector(`#live-rows tr[data-match="${created}"] button.watch`);
    // Bob takes the open seat through the same page a link would open.
    await bob.page.evaluate((id) => { location.hash = `#/play/${id}`; }, created);
    await bob.page.waitForSelector("#game-fields canvas[data-seat='p2']");
    await carol.page.click('nav a[data-nav="lobby"]');
    await carol.page.click(`#live-rows tr[data-match="${created}"] button.watch`);
    await carol.page.waitForSelector("#game-fields canvas[data-seat='p2']");
    check((await carol.page.locator("#game-fields canvas").count()) === 2, "two fields");
    await alice.page.waitForSelector('#game-status:text("Playing")', { timeout: 10_000 });
    // The ball would leave by itself 3 s into play: the space bar must release it sooner.
    await alice.page.keyboard.press("Space");
    await bob.page.keyboard.press("Space");
    await waitFor(() => alice.lastState?.breakout?.fields?.every((f) => !f.ball.resting), "both balls released by space", 1500);
    await alice.page.keyboard.down("ArrowLeft");
    await bob.page.keyboard.down("KeyD");
    await alice.page.waitForTimeout(700);
    await alice.page.keyboard.up("ArrowLeft");
    await bob.page.keyboard.up("KeyD");
    const fields = alice.lastState?.breakout?.fields || [];
    check(fields.length === 2 && fields[0].paddle.x < 400 && fields[1].paddle.x > 400, `the paddles moved: ${JSON.stringify(fields.map((f) => f.paddle))}`);
    await carol.page.waitForTimeout(300);
    await shot(carol, "17-breakout-spectator.png");
    await shot(alice, "18-breakout-player.png");
    await alice.page.click("#game-leave");
    await bob.page.waitForSelector("#game-result:not([hidden])");
    check((await bob.page.textContent("#game-result-text")).includes("forfeit"), "the other player forfeits on leaving");
  });

  await step("Pong against the bot to one point, and Breakout solo", async () => {
    await bob.page.waitForSelector('body[data-view="game"]');
    await bob.page.click("#game-lobby");
    await bob.page.selectOption("#bot-level", "hard");
    await bob.page.fill("#bot-score", "1");
    await bob.page.click("#play-bot");
    await bob.page.waitForSelector('body[data-view="game"]');
    const start = bob.messages.filter((m) => m.type === "match.start").pop();
    check(start.data.mode === "vs_bot" && start.data.options.scoreLimit === 1, `vs_bot to 1: ${JSON.stringify(start.data)}`);
    bob.axis = undefined;
    await playPong(bob, start.data.seat, "dodge", PONG_KEYS.arrows);
    await hold(bob, 0, PONG_KEYS.arrows);
    // Bob dodges; the bot (hard) wins unless it misses the very first serve.
    const text = await bob.page.textContent("#game-result-text");
    const score = (await bob.page.textContent("#game-score")).trim();
    check(text.startsWith("You lose") ? score === "0 : 1" : text.startsWith("You win!") && score === "1 : 0", `the final score counts the bot's point: ${text} ${score}`);
    await shot(bob, "19-vs-bot-end.png");
    await bob.page.click("#game-lobby");
    await bob.page.click("#play-solo");
    await bob.page.waitForSelector("#game-fields canvas[data-seat='p1']");
    check((await bob.page.locator("#game-fields canvas").count()) === 1, "one field");
    await bob.page.waitForSelector('#game-status:text("Playing")', { timeout: 10_000 });
    await bob.page.keyboard.press("Space");
    await bob.page.keyboard.down("KeyA");
    await bob.page.waitForTimeout(800);
    await bob.page.keyboard.up("KeyA");
    const field = bob.lastState.breakout.fields[0];
    check(!field.ball.resting && field.paddle.x < 400, `launched and moved: ${JSON.stringify(field)}`);
    await shot(bob, "20-breakout-solo.png");
    await bob.page.click("#game-leave");
    await bob.page.waitForSelector('body[data-view="lobby"]');
  });

  await step("register, stay logged in across a reload, log out", async () => {
    const name = `e2e_${Date.now().toString(36)}`;
    await bob.page.fill("#auth-name", name);
    await bob.page.fill("#auth-password", "correct horse battery");
    await bob.page.click("#register");
    await bob.page.waitForSelector(`#me-name:text("${name}")`);
    await bob.page.waitForSelector('#me-guest:text("(registered)")');
    await bob.page.reload();
    await bob.page.waitForSelector(`#me-name:text("${name}")`);
    await shot(bob, "21-registered.png");
    await bob.page.click("#logout");
    await bob.page.waitForSelector('#me-guest:text("(guest)")');
    await bob.page.fill("#auth-name", name);
    await bob.page.fill("#auth-password", "wrong password!");
    await bob.page.click("#login");
    await bob.page.waitForSelector('#auth-error:text("wrong name or password")');
    await bob.page.fill("#auth-password", "correct horse battery");
    await bob.page.click("#login");
    await bob.page.waitForSelector(`#me-name:text("${name}")`);
  });

  await step("the JSON toggle reconnects with JSON frames", async () => {
    await carol.page.click("#game-lobby").catch(() => {});
    await carol.page.selectOption("#codec", "json");
    await carol.page.waitForSelector('#conn-status:text("connected · json")');
    await carol.page.click('nav a[data-nav="lobby"]');
    await carol.page.fill("#chat-text", "now in JSON");
    await carol.page.click("#chat-send");
    await alice.page.waitForSelector('#chat-log li:has-text("now in JSON")');
    check(carol.codec === "json", "text frames");
    await carol.page.selectOption("#codec", "compact");
  });

  await step("an admin sees typing, deletes a chat line, and it vanishes from another page (issue 14)", async () => {
    // The server runs with `--admin-name e2e_boss` (tests/browser.rs).
    const dave = await person("dave");
    people.push(dave);
    await openLobby(dave);
    await dave.page.fill("#auth-name", "e2e_boss");
    await dave.page.fill("#auth-password", "correct horse battery");
    await dave.page.click("#register");
    await dave.page.waitForSelector('body[data-role="admin"]');
    await dave.page.waitForSelector("#nav-reports", { state: "visible" });
    await alice.page.click('nav a[data-nav="lobby"]').catch(() => {});
    await alice.page.type("#chat-text", "a line");
    await dave.page.waitForSelector('#chat-typing:has-text("is typing")');
    await shot(dave, "23-typing-indicator.png");
    await alice.page.fill("#chat-text", "a line to delete");
    await alice.page.click("#chat-send");
    const line = '#chat-log li:has-text("a line to delete")';
    await dave.page.waitForSelector(line);
    await carol.page.waitForSelector(line);
    check(!(await alice.page.isVisible(`${line} button:text("delete")`)), "a player has no delete button");
    await dave.page.hover(line);
    await shot(dave, "24-moderator-line-tools.png");
    await dave.page.click(`${line} button:text("delete")`);
    await carol.page.waitForSelector(line, { state: "detached" });
    await dave.page.waitForSelector(line, { state: "detached" });
    await shot(carol, "25-deleted-on-another-page.png");
    check(carol.messages.some((m) => m.type === "message.deleted"), "carol got message.deleted");
  });

  await step("/ws-test.html shows the pong and the ack", async () => {
    const page = carol.page;
    await page.goto(`${BASE}/ws-test.html`);
    await page.waitForSelector('#status:text("connected")');
    await page.waitForFunction(() => document.querySelector("#pong").textContent.includes('"ws.pong"'));
    await page.waitForFunction(() => document.querySelector("#ack").textContent.includes('"ack"'));
    const pong = JSON.parse(await page.textContent("#pong"));
    check(pong.type === "ws.pong" && Number.isInteger(pong.data.serverTime), `the pong: ${JSON.stringify(pong)}`);
    const ack = JSON.parse(await page.textContent("#ack"));
    check(ack.type === "ack" && ack.requestId, `the ack: ${JSON.stringify(ack)}`);
    await shot(carol, "22-ws-test.png");
  });

  await step("no page logged an error", async () => {
    const bob = people[1];
    // The one wrong password was meant to be refused (401).
    const expected = (e) => e.includes("/api/auth/login") || /status of 401/.test(e);
    const errors = people.flatMap((who) => who.errors.filter((e) => !(who === bob && expected(e))).map((e) => `${who.name}: ${e}`));
    check(errors.length === 0, errors.join("\n"));
  });
} catch (error) {
  exitCode = 1;
  problems.push(error);
  for (const who of people) {
    await who.page.screenshot({ path: join(SHOTS, `failure-${who.name}.png`) }).catch(() => {});
    if (who.errors.length) console.log(`# ${who.name}'s errors:\n#   ${who.errors.join("\n#   ")}`);
  }
} finally {
  await browser.close().catch(() => {});
  clearTimeout(deadline);
}
console.log(`# screenshots in ${SHOTS}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(exitCode || (failed ? 1 : 0));

async function waitFor(fn, what, ms = WAIT_MS) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const value = fn();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no ${what} within ${ms / 1000} s`);
}
