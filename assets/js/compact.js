// The compact `state` decoder of the browser client (PROTOCOL.md "Compact snapshots"): an ES
// module without dependencies, run on the page's main thread for every binary `state` frame.
//
// A frame whose first byte is 0x4b ('K') is a keyframe, 0x44 ('D') a delta; anything else is a
// MessagePack envelope. `CompactDecoder.decode(bytes)` returns `{ state }` (the same object as
// the `data` of a JSON `state` message) or `{ broken: tag }` when a delta does not continue the
// state held: the client then sends `state.resync` and waits for a keyframe.

export const KEYFRAME_TAG = 0x4b;
export const DELTA_TAG = 0x44;
/** Positions and velocities travel in eighths of a unit (of a unit per second). */
export const SCALE = 8;

const PHASES = ["waiting", "countdown", "playing", "paused", "finished"];
const BRICK_ROWS = 6;
const FIELD_VALUES = 10 + BRICK_ROWS;
const PONG_MATCH_VALUES = 7;
const PONG_SEAT_VALUES = 3;

/** Layouts by their wire number: game and seats in seat order. */
const LAYOUTS = [
  { game: "pong", seats: ["left", "right"] },
  { game: "pong", seats: ["left", "right"] },
  { game: "pong", seats: ["left_back", "right_back", "left_front", "right_front"] },
  { game: "breakout", seats: ["p1"] },
  { game: "breakout", seats: ["p1", "p2"] },
].map((layout) => {
  const n = layout.seats.length;
  const count = layout.game === "pong" ? PONG_MATCH_VALUES + PONG_SEAT_VALUES * n : 1 + FIELD_VALUES * n;
  // kinds[i]: "plain", "bits", or the index of the velocity that moves value i.
  const kinds = Array.from({ length: count }, (_, i) => {
    if (layout.game === "pong") return i === 3 || i === 4 ? i + 2 : "plain";
    if (i === 0) return "plain";
    const j = (i - 1) % FIELD_VALUES;
    if (j === 1 || j === 2) return i + 2;
    if (j >= 6 && j < 6 + BRICK_ROWS) return "bits";
    return "plain";
  });
  const ack = (seat) =>
    layout.game === "pong" ? PONG_MATCH_VALUES + PONG_SEAT_VALUES * seat + 2 : FIELD_VALUES * (seat + 1);
  return { ...layout, count, kinds, ack, maskBytes: Math.ceil(count / 8) };
});

/** Whether a binary frame is a compact `state` (and not a MessagePack envelope). */
export function isCompactState(bytes) {
  return bytes.length > 0 && (bytes[0] === KEYFRAME_TAG || bytes[0] === DELTA_TAG);
}

class Reader {
  constructor(bytes, at) {
    this.bytes = bytes;
    this.at = at;
  }
  byte() {
    if (this.at >= this.bytes.length) throw new Error("compact frame cut short");
    return this.bytes[this.at++];
  }
  u16() {
    return this.byte() | (this.byte() << 8);
  }
  u64() {
    let value = 0n;
    for (let i = 0n; i < 8n; i++) value |= BigInt(this.byte()) << (8n * i);
    return value;
  }
  varint() {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.byte();
      if (shift === 63n && byte > 1) throw new Error("varint over 64 bits");
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
    throw new Error("varint over 64 bits");
  }
  end() {
    if (this.at !== this.bytes.length) throw new Error("compact frame too long");
  }
}

const unzigzag = (v) => BigInt.asIntN(64, (v >> 1n) ^ -(v & 1n));
const wrap = (v) => BigInt.asIntN(64, v);
/** ⌊(2a + b) / 2b⌋ for b > 0: a / b rounded half up. */
function roundDiv(a, b) {
  const n = 2n * a + b;
  const d = 2n * b;
  const q = n / d;
  return n % d !== 0n && n < 0n ? q - 1n : q;
}

function predict(held, i, step) {
  const kind = held.layout.kinds[i];
  if (typeof kind !== "number") return held.values[i];
  const rate = BigInt(Math.max(held.tickRate, 1));
  return wrap(held.values[i] + wrap(roundDiv(held.values[kind] * step, rate)));
}

const num = (big) => (big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big);
const hex16 = (prefix, id) => prefix + id.toString(16).padStart(16, "0");
const units = (v) => Number(v) / SCALE;

/** The `data` of a JSON `state` message from a held snapshot. */
function toState(s) {
  const { layout, values: v } = s;
  const acks = {};
  s.players.forEach((id, seat) => {
    if (id !== null) acks[hex16("p_", id)] = num(BigInt.asUintN(64, v[layout.ack(seat)]));
  });
  const state = {
    matchId: hex16("m_", s.matchId),
    tick: num(s.tick),
    phase: PHASES[Number(v[0])] ?? "waiting",
    acks,
  };
  const ball = (at) => ({ x: units(v[at]), y: units(v[at + 1]), vx: units(v[at + 2]), vy: units(v[at + 3]) });
  if (layout.game === "pong") {
    state.pong = {
      ball: ball(3),
      paddles: layout.seats.map((seat, i) => {
        const at = PONG_MATCH_VALUES + PONG_SEAT_VALUES * i;
        return { seat, x: units(v[at]), y: units(v[at + 1]) };
      }),
      score: [num(v[1]), num(v[2])],
    };
  } else {
    state.breakout = {
      fields: layout.seats.map((seat, i) => {
        const at = 1 + FIELD_VALUES * i;
        return {
          seat,
          paddle: { x: units(v[at]) },
          ball: { ...ball(at + 1), resting: v[at + 5] !== 0n },
          bricks: v.slice(at + 6, at + 6 + BRICK_ROWS).map(num),
          score: num(v[at + 12]),
          lives: num(v[at + 13]),
          level: num(v[at + 14]),
        };
      }),
    };
  }
  return state;
}

function readKeyframe(bytes) {
  const r = new Reader(bytes, 1);
  const layout = LAYOUTS[r.byte()];
  if (!layout) throw new Error("unknown layout");
  const matchId = r.u64();
  const tick = r.varint();
  const tickRate = Number(r.varint());
  const present = r.byte();
  if (present >> layout.seats.length !== 0) throw new Error("seat bit past the layout");
  const players = layout.seats.map((_, s) => ((present >> s) & 1 ? r.u64() : null));
  const values = [];
  for (let i = 0; i < layout.count; i++) values.push(unzigzag(r.varint()));
  r.end();
  return { layout, matchId, tick, tickRate, players, values, broken: false };
}

/** The values after a delta's mask and changes (`r` just past its step) on top of `held`. */
function readChanges(held, r, step) {
  const { layout } = held;
  const bytes = r.bytes;
  const mask = r.at;
  r.at += layout.maskBytes;
  if (r.at > bytes.length) throw new Error("compact frame cut short");
  const values = layout.kinds.map((kind, i) => {
    const change = (bytes[mask + (i >> 3)] >> (i & 7)) & 1 ? r.varint() : 0n;
    if (kind === "bits") return wrap(held.values[i] ^ change);
    return wrap(predict(held, i, step) + unzigzag(change));
  });
  const last = bytes[mask + layout.maskBytes - 1];
  if (last >> (layout.count - 8 * (layout.maskBytes - 1)) !== 0) throw new Error("mask bit past the layout");
  r.end();
  return values;
}

/** One connection's compact states, per match. */
export class CompactDecoder {
  constructor() {
    /** match id (BigInt) → held snapshot */
    this.matches = new Map();
  }

  /** The last state of a match (`m_…` id), as a JSON `state`'s data; null if none or broken. */
  state(matchId) {
    const held = this.matches.get(BigInt("0x" + matchId.slice(2)));
    return held && !held.broken ? toState(held) : null;
  }

  /** Forgets a match (after its `match.end`, or on leaving it). */
  forget(matchId) {
    this.matches.delete(BigInt("0x" + matchId.slice(2)));
  }

  /** Applies one compact frame (a Uint8Array): `{ state }` or `{ broken: tag }`; throws on a malformed frame. */
  decode(bytes) {
    if (bytes[0] === KEYFRAME_TAG) {
      const held = readKeyframe(bytes);
      this.matches.set(held.matchId, held);
      return { state: toState(held) };
    }
    if (bytes[0] !== DELTA_TAG) throw new Error("not a compact state");
    const r = new Reader(bytes, 1);
    const tag = r.u16();
    let held = null;
    for (const m of this.matches.values()) {
      if (Number(m.matchId & 0xffffn) === tag) {
        held = m;
        break;
      }
    }
    if (!held) return { broken: tag };
    let step, values;
    try {
      const base = r.u16();
      step = r.varint();
      if (held.broken || Number(held.tick & 0xffffn) !== base || step === 0n) {
        held.broken = true;
        return { broken: tag };
      }
      values = readChanges(held, r, step);
    } catch (error) {
      held.broken = true;
      throw error;
    }
    held.values = values;
    held.tick = BigInt.asUintN(64, held.tick + step);
    return { state: toState(held) };
  }
}
