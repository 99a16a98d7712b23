// The ◆ WebSocket test page's client: connects to /ws, sends ws.ping and chat.message, and
// shows what comes back. Served as a file so that the Content-Security-Policy can stay
// `script-src 'self'` (no inline scripts).
const log = document.getElementById("log");
const status = document.getElementById("status");
const scheme = location.protocol === "https:" ? "wss" : "ws";
const socket = new WebSocket(`${scheme}://${location.host}/ws`);
let next = 0;

function show(direction, message) {
  log.textContent += `${direction} ${JSON.stringify(message)}\n`;
}

function send(message) {
  socket.send(JSON.stringify(message));
  show("→", message);
}

function ping() {
  send({ type: "ws.ping", requestId: String(++next) });
}

function chat() {
  send({ type: "chat.message", data: { text: "hello from ws-test", channel: "global" }, requestId: String(++next) });
}

socket.addEventListener("open", () => {
  status.textContent = "connected";
  ping();
  chat();
});
socket.addEventListener("close", (event) => { status.textContent = `closed (${event.code})`; });
socket.addEventListener("message", (event) => {
  const message = JSON.parse(event.data);
  show("←", message);
  if (message.type === "ws.pong") document.getElementById("pong").textContent = JSON.stringify(message);
  if (message.type === "ack") document.getElementById("ack").textContent = JSON.stringify(message);
});
document.getElementById("ping").addEventListener("click", ping);
document.getElementById("chat").addEventListener("click", chat);
