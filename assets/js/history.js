// The history pages: recent matches (paged with `next`), one match, one player with stats,
// and the leaderboard. All read the REST API of PROTOCOL.md.
import { api } from "./net.js";
import { $, h, gameName, when, playerLink, show } from "./dom.js";
import { showReplay } from "./replay.js";

const RESULT_MARK = { win: "won", loss: "lost", draw: "drew", none: "—" };

function playersCell(match) {
  const cell = h("td", { class: "players" });
  match.players.forEach((player, i) => {
    if (i > 0) cell.append(" · ");
    cell.append(playerLink(player), ` ${player.score}`);
    if (player.result === "win") cell.append(h("span", { class: "badge win" }, "win"));
  });
  if (match.mode === "vs_bot") cell.append(` vs bot (${match.options?.bot || "normal"})`);
  return cell;
}

function matchRow(match) {
  return h(
    "tr",
    { dataset: { match: match.id } },
    h("td", { title: match.endedAt }, when(match.endedAt)),
    h("td", {}, gameName(match.game, match.mode)),
    playersCell(match),
    h("td", {}, match.reason.replace("_", " ")),
    h("td", {}, h("a", { href: `#/match/${match.id}` }, "details")),
  );
}

/** `#/history`: the newest matches, then older pages on demand. */
export async function showHistory() {
  const rows = $("#history-rows");
  const more = $("#history-more");
  const select = $("#history-game");
  let next = null;
  const load = async (reset) => {
    const params = new URLSearchParams({ limit: "20" });
    if (select.value) params.set("game", select.value);
    if (!reset && next) params.set("before", next);
    const page = await api(`/api/matches?${params}`);
    if (reset) rows.replaceChildren();
    rows.append(...page.matches.map(matchRow));
    next = page.next;
    show(more, Boolean(next));
    show($("#history-empty"), rows.children.length === 0);
  };
  more.onclick = () => load(false);
  select.onchange = () => load(true);
  await load(true);
}

/** `#/match/m_…`: one finished match. */
export async function showMatch(id) {
  const match = await api(`/api/matches/${encodeURIComponent(id)}`);
  $("#match-title").textContent = `${gameName(match.game, match.mode)} — ${match.reason.replace("_", " ")}`;
  const seconds = match.tickRate ? (match.ticks / match.tickRate).toFixed(1) : "?";
  const options = Object.entries(match.options || {}).map(([k, v]) => `${k} ${v}`).join(", ") || "defaults";
  const facts = [
    ["Match", match.id],
    ["Started", new Date(match.startedAt).toLocaleString()],
    ["Ended", new Date(match.endedAt).toLocaleString()],
    ["Length", `${match.ticks} ticks at ${match.tickRate} Hz (${seconds} s)`],
    ["Options", options],
    ["Seed", String(match.seed)],
  ];
  $("#match-facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  $("#match-players").replaceChildren(
    ...match.players.map((p) =>
      h("tr", {}, h("td", {}, p.seat), h("td", {}, playerLink(p)), h("td", {}, p.score), h("td", { class: `result ${p.result}` }, RESULT_MARK[p.result] || p.result)),
    ),
  );
  showReplay(match, $("#match-replay"));
}

/** `#/player/p_…`: a player's stats and recent matches. */
export async function showPlayer(id) {
  const [player, recent] = await Promise.all([
    api(`/api/players/${encodeURIComponent(id)}`),
    api(`/api/matches?player=${encodeURIComponent(id)}&limit=10`),
  ]);
  $("#player-title").textContent = player.name;
  const presence = player.presence ? ` · ${player.presence.replace("_", " ")}` : "";
  $("#player-facts").textContent = `${player.guest ? "guest" : "registered"} · since ${new Date(player.createdAt).toLocaleDateString()}${presence}`;
  $("#player-stats").replaceChildren(
    ...Object.entries(player.stats).map(([game, s]) =>
      h(
        "tr",
        {},
        h("td", {}, game === "pong" ? "Pong" : "Breakout"),
        h("td", {}, s.played), h("td", {}, s.wins), h("td", {}, s.losses), h("td", {}, s.draws),
        h("td", {}, s.ratedMatches ? `${Math.round(s.rating)} ± ${Math.round(s.rd)}` : "—"),
        h("td", {}, s.best ?? "—"),
      ),
    ),
  );
  $("#player-matches").replaceChildren(...recent.matches.map(matchRow));
}

/** `#/leaderboard?game=`: ranked by rating (pong) or best solo score (breakout). */
export async function showLeaderboard(game) {
  const board = await api(`/api/leaderboard?game=${encodeURIComponent(game)}&limit=50`);
  document.querySelectorAll("[data-board]").forEach((tab) => tab.classList.toggle("active", tab.dataset.board === game));
  $("#board-key").textContent = board.rankedBy === "best" ? "Best" : "Rating";
  $("#board-rows").replaceChildren(
    ...board.players.map((row) =>
      h(
        "tr",
        {},
        h("td", {}, row.rank),
        h("td", {}, playerLink(row.player), row.player.guest ? h("span", { class: "muted" }, " guest") : null),
        h("td", {}, row.played), h("td", {}, row.wins), h("td", {}, row.losses), h("td", {}, row.draws),
        h("td", {}, board.rankedBy === "best" ? row.best : `${Math.round(row.rating)} ± ${Math.round(row.rd)}`),
      ),
    ),
  );
  show($("#board-empty"), board.players.length === 0);
}
