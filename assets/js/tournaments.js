// The tournaments pages (issue 13): the list (open, running, finished) with the create form,
// and one tournament: sign-up with an alias, check-in, the host's start and cancel, "your next
// match", the live bracket drawn as a tree (the table for round robin and Swiss), and a jump
// from any bracket match to watching it. Reads REST, hears `tournament.update` by watching.
import { api, currentToken } from "./net.js";
import { $, h, show, gameName } from "./dom.js";

const FORMAT_NAMES = { single_elimination: "single elimination", round_robin: "round robin", swiss: "Swiss" };

/** The tournament shown now, and the watch this page holds on it. */
let shown = null;

function authed(path, body) {
  return api(path, { method: "POST", body, token: currentToken() });
}

function summaryRow(t) {
  return h(
    "tr",
    { dataset: { tournament: t.id } },
    h("td", {}, h("a", { href: `#/tournament/${t.id}` }, t.name)),
    h("td", {}, gameName(t.game, t.mode)),
    h("td", {}, FORMAT_NAMES[t.format] || t.format),
    h("td", {}, t.status),
    h("td", {}, `${t.entrants} / ${t.cap}`),
    h("td", { title: t.startsAt || "" }, t.startsAt ? new Date(t.startsAt).toLocaleString() : "host starts"),
  );
}

/** `#/tournaments?status=`: the list and the create form. */
export async function showTournaments(conn, go, status) {
  unwatch(conn);
  document.querySelectorAll("[data-tstatus]").forEach((a) => a.classList.toggle("active", (a.dataset.tstatus || "") === (status || "")));
  const params = new URLSearchParams({ limit: "50" });
  if (status) params.set("status", status);
  const page = await api(`/api/tournaments?${params}`);
  const rows = $("#tournament-rows");
  rows.replaceChildren(...page.tournaments.map(summaryRow));
  show($("#tournaments-empty"), page.tournaments.length === 0);
  const form = $("#tournament-form");
  const format = $("#tournament-format");
  const syncForm = () => {
    show($("#tournament-third-label"), format.value === "single_elimination");
    show($("#tournament-rounds-label"), format.value === "swiss");
  };
  format.onchange = syncForm;
  syncForm();
  form.onsubmit = async (event) => {
    event.preventDefault();
    const game = $("#tournament-game").value;
    const body = {
      name: $("#tournament-name").value.trim(),
      game,
      format: format.value,
      cap: Number($("#tournament-cap").value),
      options: game === "pong" ? { scoreLimit: Number($("#tournament-score").value) } : {},
    };
    if (format.value === "single_elimination") body.thirdPlace = $("#tournament-third").checked;
    if (format.value === "swiss") body.rounds = Number($("#tournament-rounds").value);
    const starts = $("#tournament-starts").value;
    if (starts) {
      body.startsAt = new Date(starts).toISOString();
      const window = Number($("#tournament-checkin").value);
      if (window > 0) body.checkinWindow = window * 60;
    }
    const error = $("#tournament-error");
    error.hidden = true;
    try {
      const created = await authed("/api/tournaments", body);
      go(`#/tournament/${created.id}`);
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  };
}

function unwatch(conn) {
  if (shown && conn.open) conn.request("tournament.unwatch", { tournamentId: shown }).catch(() => {});
  shown = null;
}

/** `#/tournament/t_…`: one tournament, kept live while shown. */
export async function showTournament(conn, go, id) {
  if (shown !== id) {
    unwatch(conn);
    shown = id;
  }
  let view;
  if (conn.open) {
    const answer = await conn.request("tournament.watch", { tournamentId: id });
    view = answer.tournament;
  } else {
    view = await api(`/api/tournaments/${encodeURIComponent(id)}`);
  }
  renderTournament(conn, go, view);
}

/** A `tournament.update` for the tournament on screen. */
export function onTournamentUpdate(conn, go, view) {
  if (shown === view.id && document.body.dataset.view === "tournament") renderTournament(conn, go, view);
}

/** The player's live match in the tournament, if any. */
function myLiveMatch(view, me) {
  return view.matches.find((m) => m.live && (m.home?.id === me || m.away?.id === me));
}

function renderTournament(conn, go, view) {
  const me = conn.player?.id;
  const mine = view.players.find((p) => p.id === me);
  const host = view.host.id === me;
  $("#tournament-title").textContent = view.name;
  const facts = [
    gameName(view.game, view.mode),
    FORMAT_NAMES[view.format] || view.format,
    `status ${view.status}`,
    `${view.entrants} / ${view.cap} players`,
    `host ${view.host.name}`,
    view.startsAt ? `starts ${new Date(view.startsAt).toLocaleString()}` : "the host starts it",
    view.round ? `round ${view.round} of ${view.rounds}` : "",
    view.status === "finished" && view.standings[0]?.place === 1 ? `champion ${view.standings[0].player.name}` : "",
  ].filter(Boolean);
  $("#tournament-facts").textContent = facts.join(" · ");

  const actions = $("#tournament-actions");
  actions.replaceChildren();
  const act = (label, path, body, secondary) =>
    h("button", {
      type: "button",
      class: secondary ? "secondary" : undefined,
      dataset: { action: path },
      onclick: async () => {
        try {
          renderTournament(conn, go, await authed(`/api/tournaments/${view.id}/${path}`, body && body()));
        } catch (e) {
          $("#tournament-error-line").textContent = e.message;
          show($("#tournament-error-line"), true);
        }
      },
    }, label);
  show($("#tournament-error-line"), false);
  const open = view.status === "registration" || view.status === "checkin";
  if (open && !mine) {
    const alias = h("input", { id: "tournament-alias", maxlength: 24, placeholder: "alias (optional)", "aria-label": "alias" });
    actions.append(alias, act("Sign up", "register", () => (alias.value.trim() ? { alias: alias.value.trim() } : {})));
  }
  if (view.status === "checkin" && mine && !mine.checkedIn) actions.append(act("Check in", "checkin"));
  if ((open || view.status === "running") && mine && !mine.withdrawn) actions.append(act(open ? "Leave" : "Withdraw", "unregister", null, true));
  if (host && open) actions.append(act("Start now", "start"));
  if (host && (open || view.status === "running")) actions.append(act("Cancel", "cancel", null, true));
  const next = me && myLiveMatch(view, me);
  const nextBox = $("#tournament-next");
  nextBox.replaceChildren();
  if (next) {
    const opponent = next.home?.id === me ? next.away : next.home;
    nextBox.append(
      h("strong", {}, `Your next match: round ${next.round} against ${opponent?.name ?? "?"} `),
      h("button", { type: "button", id: "tournament-play", onclick: () => go(`#/play/${next.matchId}`) }, "Go to your match"),
    );
  }
  show(nextBox, Boolean(next));

  const players = $("#tournament-players");
  players.replaceChildren(
    ...view.players.map((p) =>
      h("li", {},
        h("a", { href: `#/player/${p.id}` }, p.alias ? `${p.alias} (${p.name})` : p.name),
        p.seed ? ` seed ${p.seed}` : "",
        p.checkedIn ? " ✓ checked in" : "",
        p.withdrawn ? " (withdrew)" : ""),
    ),
  );
  const board = $("#tournament-bracket");
  board.replaceChildren();
  if (view.format === "single_elimination") board.append(bracketTree(view, go));
  else board.append(table(view), rounds(view, go));
}

function side(who, winner) {
  if (!who) return h("span", { class: "muted" }, "—");
  return h("span", { class: who.id === winner ? "win" : undefined }, who.name);
}

function pairingBox(m, go) {
  const score = m.outcome === "played" ? `${m.homeScore} : ${m.awayScore}` : (m.outcome || (m.live ? "live" : ""));
  const box = h("div", { class: `pairing${m.live ? " live" : ""}`, dataset: { round: m.round, slot: m.slot } },
    h("div", {}, side(m.home, m.winner)),
    h("div", {}, side(m.away, m.winner)),
    h("div", { class: "muted" }, score.replace("_", " ")),
  );
  if (m.live && m.matchId) box.append(h("button", { type: "button", class: "secondary", onclick: () => go(`#/watch/${m.matchId}`) }, "Watch"));
  else if (m.matchId && m.outcome === "played") box.append(h("a", { href: `#/match/${m.matchId}` }, "details"));
  return box;
}

/** The elimination tree: one column per round, the final (and third place) last. */
function bracketTree(view, go) {
  const tree = h("div", { class: "bracket" });
  const total = Math.max(view.rounds, ...view.matches.map((m) => m.round));
  for (let round = 1; round <= total; round += 1) {
    const column = h("div", { class: "round" }, h("h4", {}, round === total ? "Final" : round === total - 1 ? "Semifinals" : `Round ${round}`));
    view.matches.filter((m) => m.round === round).forEach((m) => {
      if (m.thirdPlace) column.append(h("h5", {}, "Third place"));
      column.append(pairingBox(m, go));
    });
    tree.append(column);
  }
  return tree;
}

function table(view) {
  return h("table", { class: "standings" },
    h("thead", {}, h("tr", {}, ...["#", "Player", "Pts", "W", "D", "L", "+/-"].map((c) => h("th", {}, c)))),
    h("tbody", {}, ...view.standings.map((s) =>
      h("tr", {},
        h("td", {}, s.place ?? ""),
        h("td", {}, h("a", { href: `#/player/${s.player.id}` }, s.player.name)),
        h("td", {}, s.points), h("td", {}, s.wins), h("td", {}, s.draws), h("td", {}, s.losses),
        h("td", {}, s.scored - s.conceded)))),
  );
}

function rounds(view, go) {
  const list = h("div", { class: "bracket" });
  const last = Math.max(0, ...view.matches.map((m) => m.round));
  for (let round = 1; round <= last; round += 1) {
    list.append(h("div", { class: "round" }, h("h4", {}, `Round ${round}`),
      ...view.matches.filter((m) => m.round === round).map((m) => pairingBox(m, go))));
  }
  return list;
}
