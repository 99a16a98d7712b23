// The game view: draws Pong and Breakout on canvases at the display's frame rate, between
// the server's `state`s (rendered a couple of ticks behind, interpolated), predicts the
// player's own paddle from the inputs sent (reconciled with `acks`), and turns keyboard and
// touch into `input` messages. Numbers are GAMES.md's.

export const PONG = {
  width: 800, height: 600, paddleWidth: 10, paddleHeight: 80, paddleSpeed: 420,
  paddleMin: 40, paddleMax: 560, ballRadius: 7, countdownTicks: 180,
};
export const BREAKOUT = {
  width: 800, height: 600, paddleWidth: 100, paddleHeight: 12, paddleY: 570, paddleSpeed: 520,
  paddleMin: 50, paddleMax: 750, ballRadius: 6, columns: 12, rows: 6, brickWidth: 60,
  brickHeight: 20, brickGap: 4, brickLeft: 18, brickTop: 60, countdownTicks: 180,
};

/** How far behind the newest snapshot the other objects are drawn, in snapshot intervals. */
const INTERPOLATION_SNAPSHOTS = 1.5;
/** A jump larger than this (field units) between two snapshots is drawn as a jump, not a
 * glide (a serve from the centre, a new ball on the paddle). */
const TELEPORT = 120;
/** How often the held axis is sent again while it does not change. */
const INPUT_REFRESH_MS = 1_000;
/** States kept for interpolation. */
const BUFFER = 32;
/** A touch within this many field units of the own paddle holds still. */
const TOUCH_DEADZONE = 8;

const ROW_COLOURS = ["#ff5d73", "#ff9f43", "#feca57", "#48dbfb", "#1dd1a1", "#a29bfe"];

const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));
const lerp = (a, b, t) => a + (b - a) * t;

export class GameView {
  /**
   * @param conn the Connection
   * @param root the element holding the view (see index.html `#game`)
   * @param hooks {onRematch(view), onLeave(view), onDetails(matchId)}
   */
  constructor(conn, root, hooks) {
    this.conn = conn;
    this.root = root;
    this.hooks = hooks;
    this.el = {
      title: root.querySelector("#game-title"),
      players: root.querySelector("#game-players"),
      score: root.querySelector("#game-score"),
      status: root.querySelector("#game-status"),
      spectators: root.querySelector("#game-spectators"),
      fields: root.querySelector("#game-fields"),
      share: root.querySelector("#game-share"),
      result: root.querySelector("#game-result"),
      resultText: root.querySelector("#game-result-text"),
      help: root.querySelector("#game-help"),
    };
    this.match = null;
    this.keys = new Set();
    this.pointer = null;
    this.frameHandle = 0;
    window.addEventListener("keydown", (event) => this.key(event, true));
    window.addEventListener("keyup", (event) => this.key(event, false));
    window.addEventListener("blur", () => { this.keys.clear(); this.pointer = null; });
  }

  get active() {
    return this.match !== null;
  }

  /** A match began (or was joined): `match.start` data, plus how it came about (for rematch). */
  start(data, origin) {
    const playerId = this.conn.player?.id;
    this.match = {
      id: data.matchId,
      game: data.game,
      mode: data.mode,
      options: data.options || {},
      seat: data.seat ?? null,
      players: data.players || [],
      me: playerId,
      origin,
      states: [],
      snapshotTicks: 1,
      clockBase: null,
      countdownFrom: data.tick ?? 0,
      lastPhase: null,
      paused: null,
      ended: null,
      seq: 0,
      axis: 0,
      ack: 0,
      launchSeq: 0,
      inputs: [],
      lastSentMs: 0,
      displayOwn: null,
      flash: null,
      joinCode: origin?.joinCode ?? null,
    };
    this.buildFields();
    this.renderHeader();
    this.el.spectators.textContent = "";
    this.el.result.hidden = true;
    const waitingForPlayers = Boolean(this.match.joinCode) && this.match.players.length < 2;
    this.el.share.hidden = !waitingForPlayers;
    if (waitingForPlayers) {
      const link = `${location.origin}/#/join/${this.match.joinCode}`;
      this.el.share.querySelector("#game-code").textContent = this.match.joinCode;
      const anchor = this.el.share.querySelector("#game-link");
      anchor.href = link;
      anchor.textContent = link;
    }
    this.el.help.textContent = this.match.seat === null
      ? "Watching."
      : data.game === "pong"
        ? "Move: ↑/↓ or W/S, or touch and drag on the field."
        : "Move: ←/→ or A/D, launch: space, or touch and drag (tap to launch).";
    // The keys now steer a paddle: a focused button must not take the space bar.
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
    cancelAnimationFrame(this.frameHandle);
    this.frameHandle = requestAnimationFrame((now) => this.frame(now));
  }

  /** A created match that waits for its opponent: shows the field and the join code. */
  waiting(data, origin) {
    this.start({ ...data, tick: 0, players: [{ id: this.conn.player?.id, name: this.conn.player?.name, seat: data.seat }] }, origin);
    this.el.status.textContent = "Waiting for an opponent…";
  }

  stop() {
    cancelAnimationFrame(this.frameHandle);
    this.match = null;
    this.keys.clear();
    this.pointer = null;
  }

  buildFields() {
    const m = this.match;
    this.el.fields.replaceChildren();
    this.el.fields.className = `fields ${m.game}`;
    const seats = m.game === "pong" ? ["field"] : m.mode === "versus" ? ["p1", "p2"] : ["p1"];
    this.canvases = seats.map((seat) => {
      const figure = document.createElement("figure");
      figure.className = "field";
      const canvas = document.createElement("canvas");
      canvas.width = 800;
      canvas.height = 600;
      canvas.dataset.seat = seat;
      canvas.setAttribute("aria-label", `${m.game} field ${seat}`);
      canvas.addEventListener("pointerdown", (event) => this.pointerAt(event, canvas, true));
      canvas.addEventListener("pointermove", (event) => { if (this.pointer) this.pointerAt(event, canvas, false); });
      const release = () => { this.pointer = null; };
      canvas.addEventListener("pointerup", release);
      canvas.addEventListener("pointercancel", release);
      canvas.addEventListener("pointerleave", release);
      figure.append(canvas);
      if (m.game === "breakout") {
        const caption = document.createElement("figcaption");
        caption.dataset.seat = seat;
        figure.append(caption);
      }
      this.el.fields.append(figure);
      return canvas;
    });
  }

  nameOf(seat) {
    if (this.match.mode === "vs_bot" && seat === "right") return `bot (${this.match.options.bot || "normal"})`;
    const player = this.match.players.find((p) => p.seat === seat);
    return player ? player.name : "…";
  }

  renderHeader() {
    const m = this.match;
    const modeName = { "1v1": "1 v 1", "2v2": "2 v 2", vs_bot: "vs bot", solo: "solo", versus: "versus" }[m.mode] || m.mode;
    this.el.title.textContent = `${m.game === "pong" ? "Pong" : "Breakout"} · ${modeName}`;
    let text;
    if (m.game === "pong") {
      const side = (prefix) => m.players.filter((p) => p.seat.startsWith(prefix)).map((p) => p.name);
      const left = m.mode === "2v2" ? side("left").join(" & ") : this.nameOf("left");
      const right = m.mode === "2v2" ? side("right").join(" & ") : this.nameOf("right");
      text = `${left || "…"} vs ${right || "…"}`;
    } else {
      text = m.players.map((p) => p.name).join(" vs ");
    }
    if (m.seat) text += ` — you play ${m.seat}`;
    this.el.players.textContent = text;
  }

  setSpectators(count) {
    if (this.el.spectators) this.el.spectators.textContent = `${count} watching`;
  }

  // ---- messages ---------------------------------------------------------------------------

  onState(data) {
    const m = this.match;
    if (!m || data.matchId !== m.id || m.ended) return;
    const now = performance.now();
    const dtMs = 1000 / this.conn.tickRate;
    const newest = m.states[m.states.length - 1];
    if (newest && data.tick <= newest.tick) return;
    if (newest) m.snapshotTicks = m.snapshotTicks * 0.9 + (data.tick - newest.tick) * 0.1;
    // The tick clock: the earliest arrival seen for a tick number, rising slowly so that
    // a drifting clock or a latency spike that has passed does not hold it back for good.
    const sample = now - data.tick * dtMs;
    m.clockBase = m.clockBase === null || sample < m.clockBase ? sample : m.clockBase + (sample - m.clockBase) * 0.02;
    if (data.phase === "countdown" && m.lastPhase !== "countdown" && m.lastPhase !== null) m.countdownFrom = data.tick;
    if (data.phase !== "paused") m.paused = null;
    m.lastPhase = data.phase;
    m.states.push({ tick: data.tick, at: now, data });
    if (m.states.length > BUFFER) m.states.shift();
    // Reconcile: inputs the server has applied (seq <= ack) are history, except the newest of
    // them, whose axis is still the one the server holds.
    const ack = m.seat ? data.acks?.[m.me] ?? 0 : 0;
    const firstPending = m.inputs.findIndex((input) => input.seq > ack);
    const keepFrom = firstPending === -1 ? m.inputs.length - 1 : firstPending - 1;
    if (keepFrom > 0) m.inputs.splice(0, keepFrom);
    m.ack = ack;
  }

  onEvent(data) {
    const m = this.match;
    if (!m || data.matchId !== m.id) return;
    switch (data.kind) {
      case "paused": {
        const who = m.players.find((p) => p.id === data.player);
        m.paused = `Paused: ${who ? who.name : "a player"} dropped — waiting for them to come back…`;
        break;
      }
      case "player_back": {
        // The countdown starts again now; `resumed` comes when it is over.
        m.paused = null;
        m.countdownFrom = data.tick;
        const who = m.players.find((p) => p.id === data.player);
        m.flash = { text: `${who ? who.name : "A player"} is back`, until: performance.now() + 1500 };
        break;
      }
      case "resumed":
        m.paused = null;
        break;
      case "point":
        m.flash = { text: `Point ${this.pointName(data.seat)}`, until: performance.now() + 900 };
        break;
      case "player_left": {
        const who = m.players.find((p) => p.id === data.player);
        m.flash = { text: `${who ? who.name : "A player"} left`, until: performance.now() + 2000 };
        break;
      }
      case "level":
        m.flash = { text: `${data.seat}: level ${data.level}`, until: performance.now() + 1500 };
        break;
      default:
        break;
    }
  }

  pointName(seat) {
    if (this.match.mode === "2v2") return seat.startsWith("left") ? "left team" : "right team";
    return this.nameOf(seat);
  }

  onEnd(data) {
    const m = this.match;
    if (!m || data.matchId !== m.id) return;
    m.ended = data;
    const mine = data.players.find((p) => p.id === m.me);
    let headline;
    if (data.reason === "aborted") headline = "The match was aborted";
    else if (mine) headline = { win: "You win!", loss: "You lose", draw: "Draw" }[mine.result] || "Finished";
    else {
      const winners = data.players.filter((p) => p.result === "win").map((p) => this.nameOf(p.seat));
      headline = winners.length ? `${winners.join(" & ")} won` : "Draw";
    }
    const scores = data.players.map((p) => `${this.nameOf(p.seat)} ${p.score}`).join(" · ");
    this.el.resultText.textContent = `${headline} — ${scores || "no score"} (${data.reason.replace("_", " ")})`;
    this.el.result.dataset.result = mine?.result || "none";
    m.headline = headline;
    // No state follows the end: the final score comes from match.end.
    const scoreOf = (seat) => data.players.find((p) => p.seat === seat)?.score;
    if (m.game === "pong") {
      const side = (prefix) => data.players.find((p) => p.seat.startsWith(prefix))?.score;
      const newest = m.states[m.states.length - 1]?.data.pong.score || [0, 0];
      m.finalScore = [side("left") ?? newest[0], side("right") ?? newest[1]];
      // The bot is no player: its last point, when it won, is its score limit.
      if (m.mode === "vs_bot" && mine) m.finalScore = [mine.score, mine.result === "loss" ? m.options.scoreLimit ?? newest[1] : newest[1]];
      this.el.score.textContent = m.finalScore.join(" : ");
      if (m.mode === "vs_bot") this.el.resultText.textContent = this.el.resultText.textContent.replace(" (", ` · bot ${m.finalScore[1]} (`);
    } else {
      this.el.score.textContent = ["p1", "p2"].map(scoreOf).filter((x) => x !== undefined).join(" : ");
    }
    this.el.result.querySelector("#game-rematch").hidden = m.seat === null;
    this.el.result.hidden = false;
    this.el.status.textContent = "Finished";
  }

  // ---- input ------------------------------------------------------------------------------

  key(event, down) {
    if (!this.match || this.match.seat === null) return;
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
    const code = event.code;
    const used = ["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "KeyW", "KeyS", "KeyA", "KeyD", "Space"];
    if (!used.includes(code)) return;
    event.preventDefault();
    if (code === "Space") {
      if (down && !event.repeat) this.launch();
      return;
    }
    if (down) this.keys.add(code);
    else this.keys.delete(code);
  }

  pointerAt(event, canvas, down) {
    if (!this.match || this.match.seat === null) return;
    const rect = canvas.getBoundingClientRect();
    const x = ((event.clientX - rect.left) / rect.width) * 800;
    const y = ((event.clientY - rect.top) / rect.height) * 600;
    if (down && this.match.game === "breakout") this.launch();
    this.pointer = { x, y, seat: canvas.dataset.seat };
    if (down) canvas.setPointerCapture?.(event.pointerId);
  }

  heldAxis() {
    const m = this.match;
    const [minus, plus] = m.game === "pong" ? [["ArrowUp", "KeyW"], ["ArrowDown", "KeyS"]] : [["ArrowLeft", "KeyA"], ["ArrowRight", "KeyD"]];
    const axis = (plus.some((k) => this.keys.has(k)) ? 1 : 0) - (minus.some((k) => this.keys.has(k)) ? 1 : 0);
    if (axis !== 0 || !this.pointer) return axis;
    const own = m.displayOwn;
    if (own === null) return 0;
    const target = m.game === "pong" ? this.pointer.y : this.pointer.x;
    return Math.abs(target - own) <= TOUCH_DEADZONE ? 0 : Math.sign(target - own);
  }

  launch() {
    const m = this.match;
    if (!m || m.game !== "breakout" || m.ended) return;
    this.send(m.axis, true);
  }

  /** Sends `input` with the next seq (nothing once the match is over). */
  send(axis, launch = false) {
    const m = this.match;
    if (!m || m.seat === null || m.ended) return;
    m.seq += 1;
    const now = performance.now();
    m.axis = axis;
    m.inputs.push({ seq: m.seq, axis, at: now });
    m.lastSentMs = now;
    const data = { matchId: m.id, seq: m.seq, axis };
    // The server keeps only the newest input of a tick: a launch is repeated on the inputs
    // that follow it until one of them is acknowledged, so a key pressed right after the
    // space bar does not swallow it (a launch while the ball is in play does nothing).
    if (launch) m.launchSeq = m.seq;
    if (launch || (m.launchSeq && (m.ack ?? 0) < m.launchSeq)) data.launch = true;
    this.conn.send("input", data);
  }

  // ---- prediction and interpolation ------------------------------------------------------

  /** The own paddle's coordinate (pong: y, breakout: x) now, predicted from the newest state
   * and the inputs the server has not applied by then. */
  predictOwn(now) {
    const m = this.match;
    const newest = m.states[m.states.length - 1];
    if (!newest) return null;
    const g = m.game === "pong" ? PONG : BREAKOUT;
    let position;
    if (m.game === "pong") position = newest.data.pong.paddles.find((p) => p.seat === m.seat)?.y;
    else position = newest.data.breakout.fields.find((f) => f.seat === m.seat)?.paddle.x;
    if (position === undefined) return null;
    if (newest.data.phase !== "playing") return position;
    // The server had applied the inputs sent up to about one round trip before the state
    // arrived, and the acknowledged one for sure.
    const acked = m.inputs.filter((input) => input.seq <= (m.ack ?? 0)).pop();
    let from = Math.max(newest.at - this.conn.rttMs, acked ? acked.at : -Infinity);
    const speed = g.paddleSpeed / 1000;
    let axis = 0;
    for (const input of m.inputs) {
      if (input.at <= from) { axis = input.axis; continue; }
      position = clamp(position + axis * speed * (input.at - from), g.paddleMin, g.paddleMax);
      from = input.at;
      axis = input.axis;
    }
    if (from < now) position = clamp(position + axis * speed * (now - from), g.paddleMin, g.paddleMax);
    return position;
  }

  /** The two states around the render tick and how far between them. */
  bracket(now) {
    const m = this.match;
    const states = m.states;
    if (states.length === 0) return null;
    const dtMs = 1000 / this.conn.tickRate;
    const renderTick = (now - m.clockBase) / dtMs - INTERPOLATION_SNAPSHOTS * Math.max(1, m.snapshotTicks);
    let i = states.length - 1;
    while (i > 0 && states[i - 1].tick > renderTick) i--;
    const b = states[i];
    const a = i > 0 ? states[i - 1] : b;
    if (renderTick >= b.tick || a === b) return { a: b, b, t: 0, tick: b.tick };
    const t = clamp((renderTick - a.tick) / (b.tick - a.tick), 0, 1);
    return { a, b, t, tick: renderTick };
  }

  frame(now) {
    const m = this.match;
    if (!m) return;
    this.frameHandle = requestAnimationFrame((next) => this.frame(next));
    if (m.seat !== null && !m.ended) {
      const axis = this.heldAxis();
      if (axis !== m.axis || (m.lastPhase === "playing" && now - m.lastSentMs > INPUT_REFRESH_MS)) this.send(axis);
    }
    const own = m.seat !== null ? this.predictOwn(now) : null;
    if (own !== null) {
      if (m.displayOwn === null || Math.abs(own - m.displayOwn) > TELEPORT) m.displayOwn = own;
      else m.displayOwn = lerp(m.displayOwn, own, 0.6);
    }
    const at = this.bracket(now);
    if (!at) return;
    this.renderStatus(at);
    if (m.game === "pong") this.drawPong(this.canvases[0], at);
    else this.canvases.forEach((canvas) => this.drawBreakout(canvas, at));
  }

  renderStatus(at) {
    const m = this.match;
    if (m.ended) return;
    const state = at.b.data;
    let status;
    if (m.paused || state.phase === "paused") status = m.paused || "Paused";
    else if (state.phase === "countdown") {
      const left = Math.max(1, Math.ceil((PONG.countdownTicks - (at.tick - m.countdownFrom)) / this.conn.tickRate));
      status = `Starting in ${left}…`;
    } else if (state.phase === "waiting") status = "Waiting for players…";
    else status = "Playing";
    if (this.el.status.textContent !== status) this.el.status.textContent = status;
    if (m.game === "pong") {
      const [l, r] = state.pong.score;
      const score = `${l} : ${r}`;
      if (this.el.score.textContent !== score) this.el.score.textContent = score;
    } else {
      const score = state.breakout.fields.map((f) => f.score).join(" : ");
      if (this.el.score.textContent !== score) this.el.score.textContent = score;
    }
  }

  prepare(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(canvas.clientWidth * ratio) || 800;
    const height = Math.round(canvas.clientHeight * ratio) || 600;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(width / 800, 0, 0, height / 600, 0, 0);
    ctx.fillStyle = "#0b1021";
    ctx.fillRect(0, 0, 800, 600);
    return ctx;
  }

  overlay(ctx, state) {
    const m = this.match;
    let text = null;
    if (m.ended) text = m.headline || "Finished";
    else if (m.paused || state.phase === "paused") text = "PAUSED";
    else if (state.phase === "countdown") text = this.el.status.textContent.replace("Starting in ", "").replace("…", "");
    else if (state.phase === "waiting") text = "WAITING";
    else if (m.flash && performance.now() < m.flash.until) {
      // A passing note (a point, a level): small, under the score, not over the play.
      ctx.fillStyle = "#ffd166";
      ctx.font = "bold 28px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(m.flash.text, 400, 110, 700);
      return;
    }
    if (!text) return;
    ctx.fillStyle = "rgba(11, 16, 33, 0.6)";
    ctx.fillRect(0, 262, 800, 76);
    ctx.fillStyle = "#ffffff";
    ctx.font = "bold 56px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(text, 400, 300, 760);
  }

  drawPong(canvas, { a, b, t }) {
    const m = this.match;
    const ctx = this.prepare(canvas);
    const pa = a.data.pong;
    const pb = b.data.pong;
    ctx.strokeStyle = "#2b3560";
    ctx.lineWidth = 4;
    ctx.setLineDash([16, 16]);
    ctx.beginPath();
    ctx.moveTo(400, 0);
    ctx.lineTo(400, 600);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = "#8d97c7";
    ctx.font = "bold 64px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const score = m.finalScore || pb.score;
    ctx.fillText(String(score[0]), 300, 20);
    ctx.fillText(String(score[1]), 500, 20);
    for (const paddle of pb.paddles) {
      const before = pa.paddles.find((p) => p.seat === paddle.seat) || paddle;
      let y = lerp(before.y, paddle.y, t);
      const mine = paddle.seat === m.seat;
      if (mine && m.displayOwn !== null) y = m.displayOwn;
      ctx.fillStyle = mine ? "#ffd166" : "#e8ecff";
      ctx.fillRect(paddle.x - PONG.paddleWidth / 2, y - PONG.paddleHeight / 2, PONG.paddleWidth, PONG.paddleHeight);
    }
    const ball = glide(pa.ball, pb.ball, t);
    ctx.fillStyle = "#ffffff";
    ctx.beginPath();
    ctx.arc(ball.x, ball.y, PONG.ballRadius, 0, Math.PI * 2);
    ctx.fill();
    this.overlay(ctx, b.data);
  }

  drawBreakout(canvas, { a, b, t }) {
    const m = this.match;
    const seat = canvas.dataset.seat;
    const fa = a.data.breakout.fields.find((f) => f.seat === seat);
    const fb = b.data.breakout.fields.find((f) => f.seat === seat);
    const ctx = this.prepare(canvas);
    if (!fb) return;
    const B = BREAKOUT;
    for (let row = 0; row < B.rows; row++) {
      const bits = fb.bricks[row] ?? 0;
      ctx.fillStyle = ROW_COLOURS[row];
      for (let column = 0; column < B.columns; column++) {
        if (!(bits & (1 << column))) continue;
        ctx.fillRect(B.brickLeft + column * (B.brickWidth + B.brickGap), B.brickTop + row * (B.brickHeight + B.brickGap), B.brickWidth, B.brickHeight);
      }
    }
    const mine = seat === m.seat;
    let x = lerp((fa || fb).paddle.x, fb.paddle.x, t);
    if (mine && m.displayOwn !== null) x = m.displayOwn;
    ctx.fillStyle = mine ? "#ffd166" : "#e8ecff";
    ctx.fillRect(x - B.paddleWidth / 2, B.paddleY - B.paddleHeight / 2, B.paddleWidth, B.paddleHeight);
    let ball = glide((fa || fb).ball, fb.ball, t);
    // A resting ball rides on the paddle as drawn (the own paddle is predicted).
    if (fb.ball.resting) ball = { x, y: B.paddleY - B.paddleHeight / 2 - B.ballRadius };
    ctx.fillStyle = "#ffffff";
    ctx.beginPath();
    ctx.arc(ball.x, ball.y, B.ballRadius, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = "#8d97c7";
    ctx.font = "bold 26px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    ctx.fillText(`${fb.score}`, 18, 30);
    ctx.textAlign = "center";
    ctx.fillText(`level ${fb.level}`, 400, 30);
    ctx.textAlign = "right";
    ctx.fillText("●".repeat(Math.max(0, fb.lives)) || "out", 782, 30);
    const caption = canvas.parentElement.querySelector("figcaption");
    const label = `${this.nameOf(seat)}${mine ? " (you)" : ""} · ${plural(fb.score, "point")} · ${plural(fb.lives, "life", "lives")} · level ${fb.level}`;
    if (caption && caption.textContent !== label) caption.textContent = label;
    this.overlay(ctx, b.data);
  }
}

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

function glide(from, to, t) {
  if (!from || Math.hypot(to.x - from.x, to.y - from.y) > TELEPORT) return { x: to.x, y: to.y };
  return { x: lerp(from.x, to.x, t), y: lerp(from.y, to.y, t) };
}
