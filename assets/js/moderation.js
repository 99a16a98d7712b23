// Moderation and typing in the browser (issue 14): the bearer's role (from `hello` and
// `role.changed`), report / delete / mute / ban buttons on chat lines, `message.deleted`
// removing a line live, moderator controls on player pages, the reports queue (#/reports),
// and typing indicators for `global` (`chat.typing` out, `typing.start` / `typing.stop` in).
import { api, currentToken } from "./net.js";
import { $, h, show, playerLink, when } from "./dom.js";

/** How often `chat.typing {typing: true}` is sent while keys are pressed (the server sends
 * at most one `typing.start` every 2 s anyway). */
const TYPING_EVERY_MS = 1_500;
/** A default mute from a chat line: ten minutes. */
const QUICK_MUTE_SECONDS = 600;
/** A default ban from a chat line: one day. */
const QUICK_BAN_SECONDS = 86_400;
const RANK = { player: 0, moderator: 1, admin: 2 };

export class Moderation {
  constructor(conn, { toast }) {
    this.conn = conn;
    this.toast = toast;
    this.role = "player";
    /** Who types in `global`: player id → name. */
    this.typists = new Map();
    this.lastTyping = 0;
    conn.on("open", (data) => this.setRole(data.role || "player"));
    conn.on("role.changed", (data) => {
      this.setRole(data.role);
      toast(`Your role is now ${data.role}`);
    });
    conn.on("message.deleted", (data) => {
      document.querySelectorAll(`[data-message="${CSS.escape(data.id)}"]`).forEach((li) => li.remove());
    });
    conn.on("typing.start", (data) => {
      if (data.channel !== "global") return;
      this.typists.set(data.player.id, data.player.name);
      this.renderTyping();
    });
    conn.on("typing.stop", (data) => {
      if (data.channel !== "global") return;
      this.typists.delete(data.player.id);
      this.renderTyping();
    });
    conn.on("chat.message", (data) => {
      // A line sent ends its author's typing.
      if (data.channel === "global" && this.typists.delete(data.from.id)) this.renderTyping();
    });
    const input = $("#chat-text");
    input?.addEventListener("input", () => this.typing(input.value.trim() !== ""));
    input?.addEventListener("blur", () => this.typing(false));
    $("#chat-form")?.addEventListener("submit", () => this.typing(false));
  }

  get staff() {
    return RANK[this.role] >= RANK.moderator;
  }

  setRole(role) {
    this.role = role;
    document.body.dataset.role = role;
    show($("#nav-reports"), this.staff);
  }

  /** Tells the others this player types (throttled), or stopped. */
  typing(on) {
    if (!this.conn.open) return;
    const now = Date.now();
    if (on && now - this.lastTyping < TYPING_EVERY_MS) return;
    if (!on && this.lastTyping === 0) return;
    this.lastTyping = on ? now : 0;
    this.conn.request("chat.typing", { channel: "global", typing: on }).catch(() => {});
  }

  renderTyping() {
    const names = [...this.typists.values()];
    const line = $("#chat-typing");
    if (!line) return;
    line.textContent = names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
  }

  /** Adds the line's id and its buttons: report for everyone, delete / mute / ban for staff. */
  decorate(li, message) {
    if (!message.id) return li;
    li.dataset.message = message.id;
    const mine = this.conn.player && message.from.id === this.conn.player.id;
    const tools = h("span", { class: "line-tools" });
    if (!mine) {
      tools.append(h("button", { type: "button", class: "link", title: "report this message", onclick: () => this.report({ message: message.id }) }, "report"));
    }
    tools.append(
      h("button", { type: "button", class: "link staff-only", title: "delete for everyone", onclick: () => this.deleteMessage(message.id) }, "delete"),
    );
    if (!mine) {
      tools.append(
        h("button", { type: "button", class: "link staff-only", title: "mute for 10 minutes", onclick: () => this.sanction(message.from, "mute", QUICK_MUTE_SECONDS) }, "mute"),
        h("button", { type: "button", class: "link staff-only", title: "ban for a day", onclick: () => this.sanction(message.from, "ban", QUICK_BAN_SECONDS) }, "ban"),
      );
    }
    li.append(" ", tools);
    return li;
  }

  async call(path, method = "POST", body = undefined) {
    return api(path, { method, body, token: currentToken() });
  }

  async report(target) {
    const reason = prompt("Why do you report this?");
    if (!reason) return;
    try {
      await this.call("/api/reports", "POST", { ...target, reason });
      this.toast("Reported: a moderator will look at it");
    } catch (e) {
      this.toast(`Not reported: ${e.message}`, "error");
    }
  }

  async deleteMessage(id) {
    try {
      await this.call(`/api/chat/messages/${encodeURIComponent(id)}`, "DELETE");
    } catch (e) {
      this.toast(`Not deleted: ${e.message}`, "error");
    }
  }

  async sanction(player, what, seconds) {
    const reason = prompt(`Why ${what} ${player.name}?`);
    if (!reason) return false;
    try {
      const body = seconds === null ? { reason } : { seconds, reason };
      await this.call(`/api/admin/players/${encodeURIComponent(player.id)}/${what}`, "POST", body);
      this.toast(`${player.name}: ${what === "mute" ? "muted" : "banned"}`);
      return true;
    } catch (e) {
      this.toast(`Not done: ${e.message}`, "error");
      return false;
    }
  }

  /** The moderation box of a player page: standing and controls for staff, report for all. */
  async playerControls(id) {
    const box = $("#player-moderation");
    if (!box) return;
    box.replaceChildren();
    const me = this.conn.player;
    if (me && me.id !== id) {
      box.append(h("button", { type: "button", onclick: () => this.report({ player: id }) }, "Report player"));
    }
    if (!this.staff) return;
    let standing;
    try {
      standing = await this.call(`/api/admin/players/${encodeURIComponent(id)}`, "GET");
    } catch (e) {
      box.append(h("p", { class: "muted" }, `Moderation: ${e.message}`));
      return;
    }
    const refresh = () => this.playerControls(id);
    const minutes = h("input", { type: "number", min: 1, max: 525600, value: 10, "aria-label": "minutes", class: "minutes" });
    const act = (what, method, body) => async () => {
      try {
        await this.call(`/api/admin/players/${encodeURIComponent(id)}/${what}`, method, body?.());
        refresh();
      } catch (e) {
        this.toast(`Not done: ${e.message}`, "error");
      }
    };
    const reason = () => prompt("Reason?") || "no reason given";
    const facts = [`role: ${standing.role}`];
    if (standing.mute) facts.push(`muted until ${new Date(standing.mute.until).toLocaleString()} (${standing.mute.reason})`);
    if (standing.ban) facts.push(standing.ban.until ? `banned until ${new Date(standing.ban.until).toLocaleString()} (${standing.ban.reason})` : `banned for good (${standing.ban.reason})`);
    box.append(
      h("h3", {}, "Moderation"),
      h("p", { class: "muted", id: "player-standing" }, facts.join(" · ")),
      h(
        "div",
        { class: "row" },
        minutes,
        h("span", { class: "muted" }, "min"),
        h("button", { type: "button", onclick: act("mute", "POST", () => ({ seconds: Number(minutes.value) * 60, reason: reason() })) }, "Mute"),
        standing.mute && h("button", { type: "button", onclick: act("mute", "DELETE") }, "Unmute"),
        h("button", { type: "button", onclick: act("ban", "POST", () => ({ seconds: Number(minutes.value) * 60, reason: reason() })) }, "Ban"),
        h("button", { type: "button", onclick: act("ban", "POST", () => ({ reason: reason() })) }, "Ban for good"),
        standing.ban && h("button", { type: "button", onclick: act("ban", "DELETE") }, "Unban"),
      ),
    );
    if (this.role === "admin") {
      const select = h("select", { "aria-label": "role" }, ...["player", "moderator", "admin"].map((r) => h("option", { value: r, selected: r === standing.role }, r)));
      box.append(h("div", { class: "row" }, select, h("button", { type: "button", onclick: act("role", "POST", () => ({ role: select.value })) }, "Set role")));
    }
  }

  /** `#/reports`: the open reports, oldest first, with resolve and delete. */
  async showReports() {
    const list = $("#reports-list");
    const page = await this.call("/api/admin/reports?limit=100", "GET");
    const rows = page.reports.map((report) => {
      const resolve = async () => {
        const note = prompt("What was done?") ?? "";
        try {
          await this.call(`/api/admin/reports/${report.id}/resolve`, "POST", { note });
          this.showReports();
        } catch (e) {
          this.toast(`Not resolved: ${e.message}`, "error");
        }
      };
      const message = report.message;
      return h(
        "li",
        { class: "report", "data-report": report.id },
        h("p", {}, playerLink(report.reporter), " reported ", playerLink(report.player), " · ", when(report.at)),
        h("p", {}, h("strong", {}, "Reason: "), report.reason),
        message && h("blockquote", { class: message.deleted ? "deleted" : "" }, message.text, message.deleted ? " (deleted)" : ""),
        h(
          "div",
          { class: "row" },
          message && !message.deleted && h("button", { type: "button", onclick: async () => { await this.deleteMessage(message.id); this.showReports(); } }, "Delete message"),
          h("button", { type: "button", onclick: () => this.sanction(report.player, "mute", QUICK_MUTE_SECONDS) }, "Mute 10 min"),
          h("button", { type: "button", onclick: () => this.sanction(report.player, "ban", QUICK_BAN_SECONDS) }, "Ban a day"),
          h("button", { type: "button", onclick: resolve }, "Resolve"),
        ),
      );
    });
    list.replaceChildren(...rows);
    show($("#reports-empty"), rows.length === 0);
  }
}
