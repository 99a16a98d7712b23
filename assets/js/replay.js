// The replay player of a finished match's page (#/match/m_…), main thread of the browser:
// plays the `state` frames the server renders from the match's replay
// (GET /api/matches/{id}/replay/frames, PROTOCOL.md "Replays") with play/pause, speed ×0.5
// to ×8 and a seek bar, drawn by the live game's own drawing (GameView's drawPong and
// drawBreakout). The player keeps, while it plays, a checkpoint every 5 s of match time (the
// frame of that tick, which the server computed) and only the frames of the chunk being played
// and the next: a seek jumps at once to the nearest earlier checkpoint, drawn from memory, then
// on to the tick asked as soon as its chunk is here (fetched again if it was let go).
import { api } from "./net.js";
import { h } from "./dom.js";
import { GameView } from "./game.js";

/** Match time between two checkpoints. */
const CHECKPOINT_SECONDS = 5;
/** Checkpoints per request of frames (a chunk starts on a checkpoint): 20 s of play. */
const CHECKPOINTS_PER_CHUNK = 4;
/** The speeds offered. */
const SPEEDS = [0.5, 1, 2, 4, 8];
/** Fetch the next chunk when this close (in ticks) to the end of the loaded ones. */
const PREFETCH_TICKS = 600;

let current = null;

/** Stops the replay playing on the page, if any. */
export function stopReplay() {
  if (current) current.stop();
  current = null;
}

/** Shows the replay player of `match` (a record of GET /api/matches/{id}) in `box`. */
export function showReplay(match, box) {
  stopReplay();
  if (!match.hasReplay) {
    box.replaceChildren(h("p", { class: "muted", id: "replay-none" }, "No replay: this match was stored without one, or under another game version."));
    return;
  }
  current = new ReplayPlayer(match, box);
}

class ReplayPlayer {
  constructor(match, box) {
    this.match = match;
    this.ticks = match.ticks;
    this.rate = match.tickRate || 60;
    this.frames = new Map(); // tick → state data, for the chunks kept
    this.checkpointTicks = CHECKPOINT_SECONDS * this.rate;
    this.chunkTicks = CHECKPOINTS_PER_CHUNK * this.checkpointTicks;
    this.checkpoints = new Map(); // checkpoint tick → state data, kept for the whole replay
    this.loading = new Map(); // chunk start → promise
    this.pos = 1;
    this.speed = 1;
    this.playing = false;
    this.last = null;
    this.names = Object.fromEntries(match.players.map((p) => [p.seat, p.name]));
    const fields = match.game === "breakout" ? match.players.map((p) => p.seat) : [null];
    this.canvases = fields.map((seat) => {
      const canvas = h("canvas", { width: 800, height: 600 });
      if (seat) canvas.dataset.seat = seat;
      return canvas;
    });
    const figures = this.canvases.map((canvas) => h("figure", {}, canvas, h("figcaption", {})));
    this.el = {
      play: h("button", { id: "replay-play", type: "button" }, "▶ Play"),
      speed: h("select", { id: "replay-speed" }, ...SPEEDS.map((s) => h("option", { value: String(s) }, `×${s}`))),
      seek: h("input", { id: "replay-seek", type: "range", min: "1", max: String(this.ticks), value: "1", step: "1" }),
      tick: h("span", { id: "replay-tick", class: "muted" }, ""),
      score: h("strong", { id: "replay-score" }, ""),
    };
    this.el.speed.value = "1";
    box.replaceChildren(
      h("h3", {}, "Replay"),
      h("div", { class: "replay-controls" }, this.el.play, " speed ", this.el.speed, " ", this.el.seek, " ", this.el.tick, " score ", this.el.score),
      h("div", { class: "fields" }, ...figures),
    );
    // The live game's drawing, borrowed with a view of this replay (no seat of ours).
    this.painter = {
      match: { seat: null, displayOwn: null, finalScore: null, ended: false, paused: null, flash: null, headline: "Replay finished" },
      el: { status: { textContent: "" } },
      nameOf: (seat) => this.names[seat] || seat,
      prepare: GameView.prototype.prepare,
      overlay: GameView.prototype.overlay,
    };
    this.el.play.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    this.el.speed.addEventListener("change", () => (this.speed = Number(this.el.speed.value)));
    this.el.seek.addEventListener("input", () => this.seek(Number(this.el.seek.value)));
    this.frame = (now) => this.tick(now);
    this.load(1).then(() => this.render());
  }

  stop() {
    this.playing = false;
    this.stopped = true;
  }

  play() {
    if (this.pos >= this.ticks) this.seek(1);
    this.playing = true;
    this.last = null;
    this.el.play.textContent = "❚❚ Pause";
    requestAnimationFrame(this.frame);
  }

  pause() {
    this.playing = false;
    this.el.play.textContent = "▶ Play";
  }

  /** The checkpoint at or before `tick`. */
  checkpointOf(tick) {
    return Math.floor((tick - 1) / this.checkpointTicks) * this.checkpointTicks + 1;
  }

  /**
   * Jumps to the nearest checkpoint at or before `tick` (drawn at once when this replay has
   * played past it), then to `tick` itself once its chunk is loaded, unless another seek came
   * first.
   */
  seek(tick) {
    const target = Math.min(Math.max(1, Math.floor(tick)), this.ticks);
    const checkpoint = this.checkpointOf(target);
    const seeking = (this.seeking = {});
    this.el.seek.dataset.from = String(checkpoint);
    this.pos = checkpoint;
    this.last = null;
    const known = this.checkpoints.get(checkpoint);
    if (known && !this.frames.has(checkpoint)) this.frames.set(checkpoint, known);
    this.render();
    this.load(target).then(() => {
      if (this.seeking !== seeking) return;
      this.pos = target;
      this.last = null;
      this.render();
    });
  }

  /** The first tick of the chunk holding `tick`. */
  chunkOf(tick) {
    return Math.floor((tick - 1) / this.chunkTicks) * this.chunkTicks + 1;
  }

  /** Loads the chunk holding `tick` (and nothing twice while it is kept). */
  load(tick) {
    const start = this.chunkOf(tick);
    if (start > this.ticks) return Promise.resolve();
    if (!this.loading.has(start)) {
      const to = Math.min(start + this.chunkTicks - 1, this.ticks);
      const promise = api(`/api/matches/${encodeURIComponent(this.match.id)}/replay/frames?from=${start}&to=${to}`).then((body) => {
        if (this.loading.get(start) !== promise) return;
        for (const frame of body.frames) {
          const kept = { data: frame };
          this.frames.set(frame.tick, kept);
          if (this.checkpointOf(frame.tick) === frame.tick) this.checkpoints.set(frame.tick, kept);
        }
        this.el.seek.dataset.checkpoints = String(this.checkpoints.size);
        this.forget();
      });
      promise.catch(() => this.loading.delete(start));
      this.loading.set(start, promise);
    }
    return this.loading.get(start);
  }

  /** Lets go of the frames of every chunk but the one being played and the next. */
  forget() {
    const here = this.chunkOf(Math.floor(this.pos));
    for (const start of [...this.loading.keys()]) {
      if (start === here || start === here + this.chunkTicks) continue;
      this.loading.delete(start);
      const end = Math.min(start + this.chunkTicks - 1, this.ticks);
      for (let t = start; t <= end; t++) this.frames.delete(t);
    }
    this.el.seek.dataset.chunks = [...this.loading.keys()].sort((a, b) => a - b).join(" ");
  }

  tick(now) {
    if (!this.playing || this.stopped) return;
    if (this.last !== null) {
      const advance = ((now - this.last) / 1000) * this.rate * this.speed;
      const next = Math.min(this.pos + advance, this.ticks);
      // Wait for frames not loaded yet rather than skip them.
      if (this.frames.has(Math.floor(next))) this.pos = next;
      else this.load(Math.floor(next));
    }
    this.last = now;
    if (this.pos + PREFETCH_TICKS < this.ticks) this.load(Math.floor(this.pos) + PREFETCH_TICKS);
    this.render();
    if (this.pos >= this.ticks) this.pause();
    else requestAnimationFrame(this.frame);
  }

  render() {
    const whole = Math.floor(this.pos);
    const b = this.frames.get(whole);
    if (!b) return;
    const a = this.frames.get(whole - 1) || b;
    const next = this.frames.get(whole + 1);
    // Between two frames, glide from this one to the next, as live play does.
    const at = next ? { a: b, b: next, t: this.pos - whole } : { a, b, t: 1 };
    const state = b.data;
    this.painter.match.ended = whole >= this.ticks;
    for (const canvas of this.canvases) {
      if (this.match.game === "pong") GameView.prototype.drawPong.call(this.painter, canvas, at);
      else GameView.prototype.drawBreakout.call(this.painter, canvas, at);
    }
    const score = state.pong ? state.pong.score.join(" : ") : state.breakout.fields.map((f) => f.score).join(" : ");
    this.el.score.textContent = score;
    this.el.tick.textContent = `tick ${whole} / ${this.ticks} (${(whole / this.rate).toFixed(1)} s)`;
    this.el.seek.value = String(whole);
  }
}
