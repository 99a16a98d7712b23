// arcade's browser client: the lobby, the router between the views (hash routes on the one
// page), and the wiring of the connection's messages to the game view.
//
// Routes: #/ (lobby), #/play/m_… (the match being played or watched), #/watch/m_…,
// #/join/CODE, #/history, #/match/m_…, #/player/p_…, #/leaderboard?game=pong|breakout.
import { Connection, api, accountToken, setAccountToken } from "./net.js";
import { GameView } from "./game.js";
import { $, h, show, gameName, playerLink } from "./dom.js";
import { showHistory, showMatch, showPlayer, showLeaderboard } from "./history.js";
import { initAccountPages, showProfile, showSettings } from "./account.js";
import { Moderation } from "./moderation.js";
import { showTournaments, showTournament, onTournamentUpdate } from "./tournaments.js";

/** How often the live list (and a watched match's spectator count) is refreshed. */
const LIVE_REFRESH_MS = 2_000;
/** Chat lines kept on screen. */
const CHAT_KEEP = 100;

const conn = new Connection();
let queued = null;
let pendingOrigin = null;

const game = new GameView(conn, $("#view-game"), {});
// Roles, chat line tools, player page controls, the reports queue, typing (issue 14).
const moderation = new Moderation(conn, { toast: (...args) => toast(...args) });

// ---- small UI helpers -------------------------------------------------------------------

let toastTimer = 0;
function toast(text, kind = "info") {
  const el = $("#toast");
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

function failed(what) {
  return (error) => toast(`${what}: ${error.message}`, "error");
}

// ---- identity -----------------------------------------------------------------------------

function renderIdentity() {
  const player = conn.player;
  if (!player) return;
  $("#me-name").textContent = player.name;
  $("#me-guest").textContent = player.guest ? "(guest)" : "(registered)";
  $("#me-link").textContent = player.name;
  $("#me-link").href = `#/player/${player.id}`;
  $("#me-kind").textContent = player.guest ? "guest" : "";
  show($("#auth-form"), player.guest);
  show($("#logout"), !player.guest);
}

$("#auth-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const action = event.submitter?.value === "register" ? "register" : "login";
  const name = $("#auth-name").value.trim();
  const password = $("#auth-password").value;
  const code = $("#auth-code").value.trim();
  const error = $("#auth-error");
  error.hidden = true;
  try {
    const body = action === "login" && code ? { name, password, code } : { name, password };
    const answer = await api(`/api/auth/${action}`, { method: "POST", body });
    setAccountToken(answer.token);
    $("#auth-password").value = "";
    $("#auth-code").value = "";
    show($("#auth-code-label"), false);
    conn.reconnect();
    toast(action === "register" ? `Welcome, ${answer.player.name}!` : `Logged in as ${answer.player.name}`);
  } catch (e) {
    // Two-factor sign-in: ask for the code, then log in again with it.
    if (e.code === "totp_required") show($("#auth-code-label"), true);
    error.textContent = e.code === "totp_required" ? "Enter the code from your authenticator (or a recovery code)." : e.message;
    error.hidden = false;
  }
});

initAccountPages({
  player: () => conn.player,
  toast,
  onRenamed: (player) => {
    conn.player = { ...conn.player, name: player.name };
    renderIdentity();
  },
  onSignedOut: (message) => {
    setAccountToken(null);
    conn.reconnect();
    toast(message);
    go("#/");
  },
});

$("#logout").addEventListener("click", async () => {
  const token = accountToken();
  setAccountToken(null);
  try {
    if (token) await api("/api/auth/logout", { method: "POST", token });
  } catch {
    // Already invalid: logged out all the same.
  }
  conn.reconnect();
});

// ---- queue, create, join --------------------------------------------------------------------

function renderQueue() {
  show($("#queue-idle"), !queued);
  show($("#queue-busy"), Boolean(queued));
  if (queued) $("#queue-name").textContent = gameName(queued.game, queued.mode);
}

setInterval(() => {
  if (queued) $("#queue-time").textContent = `${Math.round((Date.now() - queued.since) / 1000)} s`;
}, 500);

async function joinQueue(gameKind, mode) {
  try {
    await conn.request("queue.join", { game: gameKind, mode });
    queued = { game: gameKind, mode, since: Date.now() };
    pendingOrigin = { kind: "queue", game: gameKind, mode };
    renderQueue();
  } catch (e) {
    failed("Could not queue")(e);
  }
}

document.querySelectorAll("button.queue").forEach((button) => {
  button.addEventListener("click", () => joinQueue(button.dataset.game, button.dataset.mode));
});

$("#queue-leave").addEventListener("click", async () => {
  try {
    await conn.request("queue.leave");
  } catch {
    // not_found: a match was found meanwhile; its match.start is on the way.
  }
  queued = null;
  renderQueue();
});

/** Creates a match; a match with open seats shows its field and join code while it waits. */
async function createMatch(gameKind, mode, options) {
  const origin = { kind: "create", game: gameKind, mode, options };
  pendingOrigin = origin;
  try {
    const answer = await conn.request("match.create", { game: gameKind, mode, options });
    origin.joinCode = answer.joinCode ?? null;
    origin.matchId = answer.matchId;
    // vs_bot and solo start at once (match.start is on its way); others wait for players.
    if (mode !== "vs_bot" && mode !== "solo" && game.match?.id !== answer.matchId) {
      const seat = gameKind === "pong" ? (mode === "2v2" ? "left_back" : "left") : "p1";
      game.waiting({ matchId: answer.matchId, game: gameKind, mode, options, seat }, origin);
      go(`#/play/${answer.matchId}`);
    }
  } catch (e) {
    failed("Could not create the match")(e);
  }
}

$("#bot-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const scoreLimit = Number($("#bot-score").value) || 5;
  createMatch("pong", "vs_bot", { bot: $("#bot-level").value, scoreLimit });
});

$("#play-solo").addEventListener("click", () => createMatch("breakout", "solo", {}));

function syncCreateForm() {
  const [gameKind] = $("#create-kind").value.split("/");
  show($("#create-score-label"), gameKind === "pong");
  show($("#create-time-label"), gameKind === "breakout");
}
$("#create-kind").addEventListener("change", syncCreateForm);

$("#create-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const [gameKind, mode] = $("#create-kind").value.split("/");
  const options = { private: $("#create-private").checked };
  if (gameKind === "pong") options.scoreLimit = Number($("#create-score").value) || 11;
  else options.timeLimit = Number($("#create-time").value) || 180;
  createMatch(gameKind, mode, options);
});

async function joinMatch(target, as = "player") {
  try {
    pendingOrigin = null;
    const answer = await conn.request("match.join", { ...target, as });
    return answer;
  } catch (e) {
    failed(as === "spectator" ? "Could not watch" : "Could not join")(e);
    return null;
  }
}

$("#join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const code = $("#join-code").value.trim();
  if (code) joinMatch({ joinCode: code });
});

// ---- the match ------------------------------------------------------------------------------

conn.on("match.start", (data) => {
  let origin = pendingOrigin;
  if (queued && queued.game === data.game && queued.mode === data.mode) origin = { kind: "queue", game: data.game, mode: data.mode };
  queued = null;
  renderQueue();
  if (game.match?.id === data.matchId) origin = game.match.origin || origin;
  if (!origin) origin = { kind: "create", game: data.game, mode: data.mode, options: { ...data.options, private: false } };
  game.start(data, origin);
  go(`#/play/${data.matchId}`);
  refreshLive();
});
conn.on("state", (data) => game.onState(data));
// Tournaments (issue 13): the bracket on screen stays live; a call to a match is announced.
conn.on("tournament.update", (data) => onTournamentUpdate(conn, go, data));
conn.on("tournament.match", (data) => toast(`Tournament round ${data.round}: your match against ${data.opponent.name} starts`));
conn.on("match.event", (data) => game.onEvent(data));
conn.on("match.end", (data) => {
  game.onEnd(data);
  refreshLive();
});

$("#game-leave").addEventListener("click", async () => {
  const m = game.match;
  if (m && !m.ended) {
    try {
      await conn.request("match.leave", { matchId: m.id });
    } catch {
      // Not a member any more: nothing to leave.
    }
  }
  game.stop();
  go("#/");
});

$("#game-lobby").addEventListener("click", () => {
  game.stop();
  go("#/");
});

$("#game-details").addEventListener("click", () => {
  const id = game.match?.id;
  game.stop();
  go(id ? `#/match/${id}` : "#/history");
});

$("#game-rematch").addEventListener("click", () => {
  const origin = game.match?.origin;
  game.stop();
  go("#/");
  if (!origin) return;
  if (origin.kind === "queue") joinQueue(origin.game, origin.mode);
  else createMatch(origin.game, origin.mode, origin.options);
});

// ---- live matches ---------------------------------------------------------------------------

async function refreshLive() {
  if (!conn.open) return;
  let list;
  try {
    list = await conn.request("match.list", {});
  } catch {
    return;
  }
  const rows = list.matches.map((m) => {
    const players = h("td", { class: "players" });
    m.players.forEach((p, i) => players.append(i ? " vs " : "", playerLink(p)));
    if (m.mode === "vs_bot") players.append(" vs bot");
    const watch = h("button", { type: "button", class: "watch secondary", dataset: { match: m.id } }, "Watch");
    watch.addEventListener("click", () => go(`#/watch/${m.id}`));
    return h(
      "tr",
      { dataset: { match: m.id } },
      h("td", {}, gameName(m.game, m.mode)),
      players,
      h("td", {}, m.score.join(" : ")),
      h("td", {}, m.phase),
      h("td", { class: "spectators" }, m.spectators),
      h("td", {}, game.match?.id === m.id ? "" : watch),
    );
  });
  $("#live-rows").replaceChildren(...rows);
  show($("#live-empty"), rows.length === 0);
  show($("#live-table"), rows.length > 0);
  const watched = game.match && list.matches.find((m) => m.id === game.match.id);
  if (watched) game.setSpectators(watched.spectators);
}

// ---- chat -----------------------------------------------------------------------------------

conn.on("chat.message", (data) => {
  if (data.channel !== "global") return;
  const log = $("#chat-log");
  const time = new Date(data.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  log.append(moderation.decorate(h("li", {}, h("time", { datetime: data.at }, time), " ", h("strong", {}, playerLink(data.from)), " ", data.text), data));
  while (log.children.length > CHAT_KEEP) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
});

$("#chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#chat-text");
  const text = input.value.trim();
  if (!text) return;
  try {
    await conn.request("chat.message", { text, channel: "global" });
    input.value = "";
  } catch (e) {
    failed("Not sent")(e);
  }
});

async function loadChatHistory() {
  try {
    const page = await api("/api/chat/global?limit=20");
    const log = $("#chat-log");
    if (log.children.length > 0) return;
    for (const message of page.messages.reverse()) {
      const time = new Date(message.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      log.append(moderation.decorate(h("li", { class: "old" }, h("time", { datetime: message.at }, time), " ", h("strong", {}, playerLink(message.from)), " ", message.text), message));
    }
    log.scrollTop = log.scrollHeight;
  } catch {
    // History is a nicety: live messages still arrive.
  }
}

// ---- connection state -----------------------------------------------------------------------

conn.on("open", () => {
  $("#conn-status").textContent = `connected · ${conn.codec}`;
  $("#conn-status").dataset.state = "open";
  renderIdentity();
  refreshLive();
  // Back after a drop during a match: take the seat again (the tab's token is the same
  // player) or go on watching; match.start follows.
  const m = game.match;
  if (m && !m.ended) {
    conn.request("match.join", { matchId: m.id, as: m.seat === null ? "spectator" : "player" })
      .catch(failed("Could not get back into the match"));
    return;
  }
  route();
});
conn.on("close", () => {
  $("#conn-status").textContent = "reconnecting…";
  $("#conn-status").dataset.state = "closed";
  queued = null;
  renderQueue();
});
conn.on("error", (data) => {
  // Errors without a request: a refused input (say, one sent as the match ended) is only
  // worth a note in the console; a refused token is worth telling.
  if (data.code === "unauthorized") toast(data.message, "error");
  else console.info("arcade:", data.code, data.message);
});

$("#codec").value = conn.codec;
$("#codec").addEventListener("change", (event) => conn.setCodec(event.target.value));
setInterval(() => { $("#rtt").textContent = conn.open ? `rtt ${conn.rttMs.toFixed(1)} ms` : ""; }, 1000);

// ---- routing --------------------------------------------------------------------------------

const VIEWS = ["lobby", "game", "history", "match", "player", "leaderboard", "profile", "settings", "reports", "tournaments", "tournament"];

function showView(name) {
  if (document.body.dataset.view !== name) window.scrollTo(0, 0);
  for (const view of VIEWS) show($(`#view-${view}`), view === name);
  const nav = { lobby: "lobby", game: "lobby", history: "history", match: "history", player: "history", leaderboard: "leaderboard", profile: "profile", settings: "settings", reports: "reports", tournaments: "tournaments", tournament: "tournaments" }[name];
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === nav));
  document.body.dataset.view = name;
}

function go(hash) {
  if (location.hash !== hash) location.hash = hash;
  else route();
}

let lastRoute = null;
async function route() {
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(query || "");
  const sameRoute = lastRoute === hash;
  lastRoute = hash;
  try {
    switch (parts[0] || "") {
      case "": {
        // Back in the lobby while seated in a finished or left match: let it go.
        if (game.match && game.match.ended) game.stop();
        showView("lobby");
        refreshLive();
        return;
      }
      case "play": {
        const id = parts[1];
        if (game.match?.id === id) {
          showView("game");
          return;
        }
        if (!conn.open) return;
        // A reload: rejoin the seat (the tab's guest token keeps the player), else watch.
        showView("game");
        if (!sameRoute || !game.match) {
          const answer = await conn.request("match.join", { matchId: id }).catch(() => null);
          if (!answer) await joinMatch({ matchId: id }, "spectator");
        }
        return;
      }
      case "watch": {
        if (!conn.open) return;
        const id = parts[1];
        showView("game");
        if (game.match?.id !== id) {
          const answer = await joinMatch({ matchId: id }, "spectator");
          if (!answer) go("#/");
        }
        return;
      }
      case "join": {
        if (!conn.open) return;
        showView("lobby");
        await joinMatch({ joinCode: parts[1] });
        return;
      }
      case "history":
        showView("history");
        await showHistory();
        return;
      case "match":
        showView("match");
        await showMatch(parts[1]);
        return;
      case "player":
        showView("player");
        await showPlayer(parts[1]);
        await moderation.playerControls(parts[1]);
        return;
      case "reports":
        showView("reports");
        await moderation.showReports();
        return;
      case "profile":
        if (!conn.player) return;
        showView("profile");
        showProfile();
        return;
      case "settings":
        if (!conn.player) return;
        showView("settings");
        await showSettings();
        return;
      case "leaderboard":
        showView("leaderboard");
        await showLeaderboard(params.get("game") || "pong");
        return;
      case "tournaments":
        showView("tournaments");
        await showTournaments(conn, go, params.get("status") || "");
        return;
      case "tournament":
        showView("tournament");
        await showTournament(conn, go, parts[1]);
        return;
      default:
        go("#/");
    }
  } catch (e) {
    toast(e.message, "error");
  }
}

window.addEventListener("hashchange", () => route());

setInterval(() => {
  if (document.body.dataset.view === "lobby" || document.body.dataset.view === "game") refreshLive();
}, LIVE_REFRESH_MS);

syncCreateForm();
renderQueue();
showView("lobby");
loadChatHistory();
conn.connect();
// The history pages need no socket: show them at once.
if (/^#\/(history|match|player|leaderboard|tournaments?)/.test(location.hash)) route();
