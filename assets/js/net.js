// The connection to arcade: one WebSocket to /ws speaking the envelope protocol of PROTOCOL.md
// with compact `state` frames (the default: MessagePack envelopes, keyframes and deltas decoded
// by compact.js), in plain MessagePack, or in JSON (text frames, for debugging), plus the token
// and the REST helpers. Requests get a promise of their reply (`ack`, `error` or `ws.pong`); every
// other message goes to the listeners registered with `on(type, fn)`.
import { encode, decode } from "./msgpack.js";
import { CompactDecoder, isCompactState } from "./compact.js";

/** A registered player's token, kept across visits. */
const ACCOUNT_TOKEN = "arcade.token";
/** A guest's token, kept for this tab only (so two tabs are two guests, and a reload of a tab
 * resumes its guest, seat included). */
const GUEST_TOKEN = "arcade.guestToken";
/** The codec toggle, kept across visits: "compact" (default), "msgpack" or "json". */
const CODEC = "arcade.codec";
const CODECS = ["compact", "msgpack", "json"];
/** How long a request waits for its reply before it fails. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Reconnect delays after a lost connection: doubling from the first, capped at the last. */
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 8_000;
/** How often the round trip is measured with ws.ping. */
const PING_EVERY_MS = 2_000;

export function storedCodec() {
  const forced = new URLSearchParams(location.search).get("codec");
  if (CODECS.includes(forced)) return forced;
  const stored = localStorage.getItem(CODEC);
  return CODECS.includes(stored) ? stored : "compact";
}

export function setStoredCodec(codec) {
  localStorage.setItem(CODEC, codec);
}

export function accountToken() {
  return localStorage.getItem(ACCOUNT_TOKEN);
}

export function currentToken() {
  return localStorage.getItem(ACCOUNT_TOKEN) || sessionStorage.getItem(GUEST_TOKEN);
}

export function setAccountToken(token) {
  if (token) localStorage.setItem(ACCOUNT_TOKEN, token);
  else localStorage.removeItem(ACCOUNT_TOKEN);
}

/** Calls the REST API; resolves to the JSON body, rejects with an Error carrying `code`. */
export async function api(path, { method = "GET", body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const error = new Error(json?.error?.message || `${response.status} ${response.statusText}`);
    error.code = json?.error?.code || String(response.status);
    error.status = response.status;
    throw error;
  }
  return json;
}

export class Connection {
  constructor() {
    this.codec = storedCodec();
    this.socket = null;
    this.nextRequest = 0;
    this.pending = new Map();
    this.listeners = new Map();
    this.player = null;
    this.tickRate = 60;
    this.rttMs = 0;
    this.reconnectDelay = RECONNECT_FIRST_MS;
    this.reconnectTimer = 0;
    /** The compact states held per match (a new one for each socket). */
    this.compact = new CompactDecoder();
  }

  /** Registers `fn(data, message)` for messages of `type` ("*" for all; "open"/"close" too). */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }

  emit(type, data, message) {
    for (const fn of this.listeners.get(type) || []) fn(data, message);
    for (const fn of this.listeners.get("*") || []) fn(data, message);
  }

  get open() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Opens the socket (closing any previous one); reopens it by itself when it is lost. */
  connect() {
    clearTimeout(this.reconnectTimer);
    const old = this.socket;
    this.socket = null;
    if (old && old.readyState <= WebSocket.OPEN) old.close(1000, "reconnecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const params = new URLSearchParams({ codec: this.codec });
    const token = currentToken();
    if (token) params.set("token", token);
    const socket = new WebSocket(`${scheme}://${location.host}/ws?${params}`);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.compact = new CompactDecoder();
    let pingTimer = 0;
    socket.addEventListener("open", () => {
      this.reconnectDelay = RECONNECT_FIRST_MS;
      pingTimer = setInterval(() => this.measureRoundTrip(), PING_EVERY_MS);
    });
    socket.addEventListener("message", (event) => {
      if (this.socket === socket) this.receive(event.data);
    });
    socket.addEventListener("close", (event) => {
      clearInterval(pingTimer);
      if (this.socket !== socket) return;
      for (const { reject, timer } of this.pending.values()) {
        clearTimeout(timer);
        reject(Object.assign(new Error("connection closed"), { code: "closed" }));
      }
      this.pending.clear();
      this.emit("close", { code: event.code, reason: event.reason });
      this.reconnectTimer = setTimeout(() => this.connect(), this.reconnectDelay);
      this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
    });
  }

  /** Closes and opens again (a new token or codec). */
  reconnect() {
    this.connect();
  }

  setCodec(codec) {
    this.codec = codec;
    setStoredCodec(codec);
    this.reconnect();
  }

  receive(frame) {
    let message;
    try {
      if (typeof frame === "string") message = JSON.parse(frame);
      else {
        const bytes = new Uint8Array(frame);
        if (isCompactState(bytes)) return this.receiveCompact(bytes);
        message = decode(bytes);
      }
    } catch (error) {
      console.warn("arcade: an undecodable frame", error);
      return;
    }
    if (message.type === "match.end" && message.data?.matchId) this.compact.forget(message.data.matchId);
    if (message.type === "hello") {
      this.player = message.data.player;
      this.tickRate = message.data.tickRate || 60;
      if (!message.data.player.guest) setAccountToken(message.data.token);
      else {
        // A stored account token that the server refused (logged out, expired) is dropped.
        if (accountToken()) setAccountToken(null);
        sessionStorage.setItem(GUEST_TOKEN, message.data.token);
      }
      this.emit("open", message.data, message);
    }
    const id = message.requestId;
    if (id !== undefined && this.pending.has(id)) {
      const { resolve, reject, timer } = this.pending.get(id);
      this.pending.delete(id);
      clearTimeout(timer);
      if (message.type === "error") {
        reject(Object.assign(new Error(message.data?.message || "error"), { code: message.data?.code }));
      } else {
        resolve(message.data ?? {});
      }
      return;
    }
    this.emit(message.type, message.data ?? {}, message);
  }

  /** A compact `state` frame: the decoded state goes to the `state` listeners as any other
   * codec's would; a broken chain asks once for a keyframe (`state.resync`). */
  receiveCompact(bytes) {
    const result = this.compact.decode(bytes);
    if (result.state) {
      const message = { type: "state", data: result.state };
      this.emit("state", message.data, message);
      return;
    }
    for (const held of this.compact.matches.values()) {
      if (Number(held.matchId & 0xffffn) !== result.broken || held.resyncAsked) continue;
      held.resyncAsked = true;
      const matchId = "m_" + held.matchId.toString(16).padStart(16, "0");
      this.request("state.resync", { matchId }).catch(() => {});
    }
  }

  /** Sends one envelope without waiting for anything. */
  send(type, data) {
    if (!this.open) return false;
    const message = data === undefined ? { type } : { type, data };
    this.socket.send(this.codec === "json" ? JSON.stringify(message) : encode(message));
    return true;
  }

  /** Sends a request and resolves to its reply's `data` (rejects on `error`). */
  request(type, data) {
    if (!this.open) return Promise.reject(Object.assign(new Error("not connected"), { code: "closed" }));
    const requestId = `c${++this.nextRequest}`;
    const message = data === undefined ? { type, requestId } : { type, data, requestId };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(Object.assign(new Error(`${type}: no reply`), { code: "timeout" }));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(requestId, { resolve, reject, timer });
      this.socket.send(this.codec === "json" ? JSON.stringify(message) : encode(message));
    });
  }

  async measureRoundTrip() {
    const sent = performance.now();
    try {
      await this.request("ws.ping");
      const sample = performance.now() - sent;
      this.rttMs = this.rttMs === 0 ? sample : this.rttMs * 0.8 + sample * 0.2;
    } catch {
      // A lost ping is a lost connection, which the close handler deals with.
    }
  }
}
