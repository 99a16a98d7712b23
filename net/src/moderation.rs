//! Roles, mutes and bans as the network layer enforces them (tokio threads; issue 14): the
//! cache of mutes chat checks without touching the database, the role of a player, the ban
//! that refuses a connection, and the closing of a banned player's sockets.
//!
//! - A **mute** is checked on every chat line against [`Moderation::muted_until`], a map kept
//!   in step with the database (loaded at start, updated by every mute and unmute), so a mute
//!   survives reconnects and restarts and costs chat no query.
//! - A **ban** is checked where an identity is taken: the WebSocket's token (at connect and on
//!   `auth`), login, and every authenticated REST request. Banning closes the player's live
//!   sockets at once (`error` `banned`, then close 1008 `banned`).
//! - A **role** is read from the database on each request that needs one (so a change takes
//!   effect at once); the `--admin-name` player is an admin whatever the database says.
//!   Sockets are told of a change with `role.changed`.

use std::collections::HashMap;
use std::sync::RwLock;

use arcade_data::Store;
use arcade_data::moderation::{Role, Sanction};
use arcade_systems::model::PlayerId;
use serde::Serialize;

use crate::outbox::CloseReason;
use crate::state::AppState;
use crate::wire::protocol::{Envelope, PlayerInfo};

/// How a banned player's connections are closed.
pub const CLOSE_BANNED: CloseReason = CloseReason {
    code: 1008,
    reason: "banned",
};

/// What the network layer keeps of moderation.
#[derive(Default)]
pub struct Moderation {
    /// Every mute in force: player → Unix ms when it ends.
    mutes: RwLock<HashMap<PlayerId, i64>>,
    /// `--admin-name`: this registered player is an admin (compared ignoring case).
    admin_name: Option<String>,
}

impl Moderation {
    /// Loads the mutes in force and, when the `--admin-name` player is registered, stores its
    /// admin role. Blocking: call it before serving.
    pub fn load(
        store: &Store,
        admin_name: Option<String>,
    ) -> Result<Moderation, arcade_data::DataError> {
        let mutes = store.active_mutes()?.into_iter().collect();
        if let Some(name) = &admin_name
            && let Some(found) = store.find_credentials(name)?
        {
            let grant = arcade_data::moderation::ModAction::SetRole {
                player: found.player.id,
                role: Role::Admin,
            };
            store.moderate(grant, None)?;
        }
        Ok(Moderation {
            mutes: RwLock::new(mutes),
            admin_name,
        })
    }

    /// When `player`'s mute ends (Unix ms), if one is in force at `now_ms`.
    pub fn muted_until(&self, player: PlayerId, now_ms: i64) -> Option<i64> {
        let mutes = self.mutes.read().expect("mutes lock");
        mutes.get(&player).copied().filter(|until| *until > now_ms)
    }

    /// Records a mute (`Some(until)`) or its end (`None`), once it is stored.
    pub fn set_mute(&self, player: PlayerId, until_ms: Option<i64>) {
        let mut mutes = self.mutes.write().expect("mutes lock");
        match until_ms {
            Some(until) => mutes.insert(player, until),
            None => mutes.remove(&player),
        };
    }

    /// Whether `player` is the `--admin-name` player.
    fn is_named_admin(&self, player: &PlayerInfo) -> bool {
        !player.guest
            && self
                .admin_name
                .as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case(&player.name))
    }
}

/// `player`'s role now (read from the database; the `--admin-name` player is an admin).
pub async fn role_of(
    state: &AppState,
    player: &PlayerInfo,
) -> Result<Role, crate::state::Unavailable> {
    if state.moderation.is_named_admin(player) {
        return Ok(Role::Admin);
    }
    let id = player.id;
    Ok(state.blocking(move |store| store.role(id)).await??)
}

/// The ban in force on `player`, if any.
pub async fn ban_of(
    state: &AppState,
    player: PlayerId,
) -> Result<Option<Sanction>, crate::state::Unavailable> {
    Ok(state
        .blocking(move |store| store.sanctions(player))
        .await??
        .ban)
}

/// An `error` about a sanction: `muted` or `banned`, with when it ends.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SanctionError {
    /// `muted` or `banned`.
    pub code: &'static str,
    pub message: String,
    /// RFC 3339 UTC; `null` for a ban for good.
    pub until: Option<String>,
    /// Milliseconds left; `null` for a ban for good.
    pub remaining_ms: Option<i64>,
}

impl SanctionError {
    /// `code` ending at `until_ms` (`None`: never), seen at `now_ms`.
    pub fn new(code: &'static str, until_ms: Option<i64>, now_ms: i64) -> SanctionError {
        let (what, verb) = match code {
            "muted" => ("chat", "muted"),
            _ => ("this account", "banned"),
        };
        let message = match until_ms {
            Some(until) => format!(
                "{what} is {verb} for {} s more",
                ((until - now_ms).max(0) as u64).div_ceil(1000)
            ),
            None => format!("{what} is {verb} for good"),
        };
        SanctionError {
            code,
            message,
            until: until_ms.map(arcade_data::time::format_rfc3339_ms),
            remaining_ms: until_ms.map(|until| (until - now_ms).max(0)),
        }
    }
}

/// Tells every socket of `player` its ban, then closes them (1008 `banned`). Returns how many
/// there were.
pub fn close_banned(state: &AppState, player: PlayerId, until_ms: Option<i64>) -> usize {
    let error = SanctionError::new("banned", until_ms, crate::clock::now_ms());
    state
        .hub
        .close_player(player, &Envelope::event("error", error), CLOSE_BANNED)
}

/// 403 `banned` for an authenticated request of a banned account (the end in the message).
pub fn banned_error(ban: &Sanction) -> crate::http::error::ApiError {
    let error = SanctionError::new("banned", ban.until_ms, crate::clock::now_ms());
    let message = match &error.until {
        Some(until) => format!("this account is banned until {until}"),
        None => error.message,
    };
    crate::http::error::ApiError::new(axum::http::StatusCode::FORBIDDEN, "banned", message)
}

/// 403 `{"error": {"code": "banned", "message", "until", "remainingMs"}}` for a login.
pub fn banned_response(ban: &Sanction) -> axum::response::Response {
    use axum::response::IntoResponse;
    let error = SanctionError::new("banned", ban.until_ms, crate::clock::now_ms());
    let body = serde_json::json!({ "error": error });
    (axum::http::StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

/// Sets or lifts `player`'s mute here and, in a cluster, on every other instance (each keeps
/// the mutes in memory for chat to check).
pub fn set_mute_everywhere(state: &AppState, player: PlayerId, until_ms: Option<i64>) {
    state.moderation.set_mute(player, until_ms);
    if let Some(cluster) = &state.cluster {
        cluster.tell(crate::cluster::bus::Said::Muted { player, until_ms });
    }
}

/// `role.changed` to every socket of `player`.
pub fn announce_role(state: &AppState, player: PlayerId, role: Role) {
    #[derive(Serialize)]
    struct RoleChanged {
        role: &'static str,
    }
    let event = Envelope::event(
        "role.changed",
        RoleChanged {
            role: role.as_str(),
        },
    );
    state.hub.send_to_players(&event, &[player]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mute_ends_on_time_and_messages_say_how_long_is_left() {
        let moderation = Moderation::default();
        let ada = PlayerId(1);
        moderation.set_mute(ada, Some(10_000));
        assert_eq!(moderation.muted_until(ada, 9_999), Some(10_000));
        assert_eq!(moderation.muted_until(ada, 10_000), None);
        moderation.set_mute(ada, None);
        assert_eq!(moderation.muted_until(ada, 0), None);
        let error = SanctionError::new("muted", Some(10_000), 8_500);
        assert_eq!(error.message, "chat is muted for 2 s more");
        assert_eq!(error.remaining_ms, Some(1_500));
        let error = SanctionError::new("banned", None, 0);
        assert_eq!(
            (error.until, error.message.as_str()),
            (None, "this account is banned for good")
        );
    }
}
