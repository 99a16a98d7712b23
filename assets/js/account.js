// The account pages of the browser client (the main thread): #/profile (avatar upload and name)
// and #/settings (password, sessions with "end" and "log out everywhere", two-factor enrolment
// with a QR code drawn here, deleting the account). Every call is a REST route of PROTOCOL.md
// "Managing an account" with the tab's token; `onSignedOut` runs when this token stops being
// valid (its session ended, the account deleted), so the app can start over as a guest.
import { api, currentToken } from "./net.js";
import { $, h, show, when } from "./dom.js";
import { drawQr } from "./qr.js";

/** The largest avatar the server takes (checked here too, to say so before uploading). */
const MAX_AVATAR_BYTES = 256 * 1024;

let hooks = { player: () => null, onSignedOut: () => {}, onRenamed: () => {}, toast: () => {} };

/** Wires the pages' forms once; `player()` answers the connection's player. */
export function initAccountPages(given) {
  hooks = { ...hooks, ...given };
  $("#avatar-form").addEventListener("submit", uploadAvatar);
  $("#avatar-remove").addEventListener("click", removeAvatar);
  $("#rename-form").addEventListener("submit", rename);
  $("#password-form").addEventListener("submit", changePassword);
  $("#logout-all").addEventListener("click", logoutAll);
  $("#totp-setup-form").addEventListener("submit", setupTwoFactor);
  $("#totp-enable-form").addEventListener("submit", enableTwoFactor);
  $("#totp-disable-form").addEventListener("submit", disableTwoFactor);
  $("#delete-form").addEventListener("submit", deleteAccount);
}

/** The URL of a player's avatar (`bust` forces a fresh copy after a change). */
export function avatarUrl(playerId, bust = "") {
  return `/api/players/${playerId}/avatar${bust ? `?v=${bust}` : ""}`;
}

function call(path, options = {}) {
  return api(path, { ...options, token: currentToken() });
}

function say(selector, text, kind = "info") {
  const element = $(selector);
  element.textContent = text;
  element.dataset.kind = kind;
  element.hidden = !text;
}

// ---- profile ---------------------------------------------------------------------------------

export function showProfile() {
  const player = hooks.player();
  if (!player) return;
  $("#profile-avatar").src = avatarUrl(player.id, Date.now());
  $("#profile-name").textContent = player.name;
  $("#rename-name").value = player.name;
  show($("#rename-form"), !player.guest);
  show($("#rename-guest"), player.guest);
  say("#avatar-message", "");
  say("#rename-message", "");
}

async function uploadAvatar(event) {
  event.preventDefault();
  const file = $("#avatar-file").files[0];
  if (!file) return say("#avatar-message", "Choose a PNG or JPEG first.", "error");
  if (file.size > MAX_AVATAR_BYTES) return say("#avatar-message", "An avatar is at most 256 KiB.", "error");
  const response = await fetch("/api/auth/me/avatar", {
    method: "PUT",
    headers: { authorization: `Bearer ${currentToken()}`, "content-type": file.type || "application/octet-stream" },
    body: file,
  });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    return say("#avatar-message", body?.error?.message || `upload failed (${response.status})`, "error");
  }
  say("#avatar-message", "Avatar updated.");
  $("#profile-avatar").src = avatarUrl(hooks.player().id, Date.now());
}

async function removeAvatar() {
  try {
    await call("/api/auth/me/avatar", { method: "DELETE" });
    say("#avatar-message", "Avatar removed.");
    $("#profile-avatar").src = avatarUrl(hooks.player().id, Date.now());
  } catch (e) {
    say("#avatar-message", e.message, "error");
  }
}

async function rename(event) {
  event.preventDefault();
  try {
    const answer = await call("/api/auth/me", { method: "PATCH", body: { name: $("#rename-name").value.trim() } });
    say("#rename-message", `You are ${answer.player.name} from now on.`);
    $("#profile-name").textContent = answer.player.name;
    hooks.onRenamed(answer.player);
  } catch (e) {
    say("#rename-message", e.message, "error");
  }
}

// ---- settings --------------------------------------------------------------------------------

export async function showSettings() {
  const player = hooks.player();
  if (!player) return;
  for (const id of ["#password-card", "#totp-card"]) show($(id), !player.guest);
  show($("#delete-password-label"), !player.guest);
  say("#password-message", "");
  say("#totp-message", "");
  say("#delete-message", "");
  await Promise.all([loadSessions(), player.guest ? null : loadTwoFactor()]);
}

async function loadSessions() {
  const rows = $("#session-rows");
  rows.replaceChildren();
  try {
    const { sessions } = await call("/api/auth/sessions");
    for (const session of sessions) {
      const end = h("button", { type: "button", class: "secondary", onclick: () => endSession(session) }, "End");
      rows.append(h("tr", { dataset: { session: session.id } },
        h("td", {}, when(session.createdAt)),
        h("td", {}, session.lastSeenAt ? when(session.lastSeenAt) : "—"),
        h("td", {}, session.userAgent || "—"),
        h("td", {}, session.address || "—"),
        h("td", {}, session.current ? h("strong", {}, "this one") : ""),
        h("td", {}, end)));
    }
  } catch (e) {
    hooks.toast(`Sessions: ${e.message}`, "error");
  }
}

async function endSession(session) {
  try {
    await call(`/api/auth/sessions/${session.id}`, { method: "DELETE" });
    if (session.current) return hooks.onSignedOut("This session was ended.");
    hooks.toast("Session ended.");
    await loadSessions();
  } catch (e) {
    hooks.toast(e.message, "error");
  }
}

async function logoutAll() {
  try {
    const { ended } = await call("/api/auth/logout-all", { method: "POST" });
    hooks.onSignedOut(`Logged out everywhere (${ended} session${ended === 1 ? "" : "s"}).`);
  } catch (e) {
    hooks.toast(e.message, "error");
  }
}

async function changePassword(event) {
  event.preventDefault();
  try {
    const { ended } = await call("/api/auth/password", {
      method: "POST",
      body: { oldPassword: $("#password-old").value, newPassword: $("#password-new").value },
    });
    event.target.reset();
    say("#password-message", `Password changed; ${ended} other session${ended === 1 ? "" : "s"} ended.`);
    await loadSessions();
  } catch (e) {
    say("#password-message", e.message, "error");
  }
}

// ---- two-factor sign-in ----------------------------------------------------------------------

async function loadTwoFactor() {
  try {
    const state = await call("/api/auth/2fa");
    $("#totp-state").textContent = state.enabled
      ? `On (${state.recoveryCodesLeft} recovery codes left).`
      : "Off.";
    show($("#totp-setup-form"), !state.enabled);
    show($("#totp-disable-form"), state.enabled);
    show($("#totp-enrol"), false);
    show($("#totp-codes"), false);
  } catch (e) {
    say("#totp-message", e.message, "error");
  }
}

async function setupTwoFactor(event) {
  event.preventDefault();
  try {
    const { secret, uri } = await call("/api/auth/2fa/setup", {
      method: "POST",
      body: { password: $("#totp-setup-password").value },
    });
    event.target.reset();
    drawQr($("#totp-qr"), uri);
    $("#totp-qr").dataset.uri = uri;
    $("#totp-secret").textContent = secret;
    show($("#totp-enrol"), true);
    say("#totp-message", "Scan the code with an authenticator app, then type the 6 digits it shows.");
  } catch (e) {
    say("#totp-message", e.message, "error");
  }
}

async function enableTwoFactor(event) {
  event.preventDefault();
  try {
    const { recoveryCodes } = await call("/api/auth/2fa/enable", {
      method: "POST",
      body: { code: $("#totp-code").value.trim() },
    });
    event.target.reset();
    await loadTwoFactor();
    $("#totp-code-list").replaceChildren(...recoveryCodes.map((code) => h("li", {}, h("code", {}, code))));
    show($("#totp-codes"), true);
    say("#totp-message", "Two-factor sign-in is on. Keep these recovery codes: each works once, and they are not shown again.");
  } catch (e) {
    say("#totp-message", e.message, "error");
  }
}

async function disableTwoFactor(event) {
  event.preventDefault();
  try {
    await call("/api/auth/2fa/disable", { method: "POST", body: { password: $("#totp-disable-password").value } });
    event.target.reset();
    say("#totp-message", "Two-factor sign-in is off.");
    await loadTwoFactor();
  } catch (e) {
    say("#totp-message", e.message, "error");
  }
}

// ---- deletion --------------------------------------------------------------------------------

async function deleteAccount(event) {
  event.preventDefault();
  if (!$("#delete-confirm").checked) return say("#delete-message", "Tick the box to confirm.", "error");
  const player = hooks.player();
  const body = player?.guest ? {} : { password: $("#delete-password").value };
  try {
    await call("/api/auth/me", { method: "DELETE", body });
    event.target.reset();
    hooks.onSignedOut("Your account was deleted.");
  } catch (e) {
    say("#delete-message", e.message, "error");
  }
}
