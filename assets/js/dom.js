// Tiny DOM helpers: build elements from data without innerHTML (names and chat come from
// other people), and format the protocol's values for people.

/** `h("a", {href: "#/"}, "text", child)`: an element with attributes and children. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "onclick") element.addEventListener("click", value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export const $ = (selector) => document.querySelector(selector);

export function show(element, visible) {
  element.hidden = !visible;
}

const MODE_NAMES = { "1v1": "1 v 1", "2v2": "2 v 2", vs_bot: "vs bot", solo: "solo", versus: "versus" };

export function gameName(game, mode) {
  return `${game === "pong" ? "Pong" : "Breakout"} ${MODE_NAMES[mode] || mode}`;
}

/** "3 min ago", or the date for older times. */
export function when(rfc3339) {
  if (!rfc3339) return "—";
  const at = new Date(rfc3339);
  const seconds = Math.round((Date.now() - at.getTime()) / 1000);
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return at.toLocaleString();
}

export function playerLink(player) {
  // Each player's avatar (PROTOCOL.md "Profile and avatar"), cached by the browser.
  const avatar = h("img", { class: "avatar small", src: `/api/players/${player.id}/avatar`, alt: "", width: 20, height: 20, loading: "lazy" });
  return h("a", { href: `#/player/${player.id}` }, avatar, player.name ?? player.id);
}
