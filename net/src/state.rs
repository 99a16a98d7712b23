//! The state every handler and session shares ([`AppState`], tokio threads): settings, the
//! store, the hub, the command channel to the tick thread, and the two ways to wait without
//! blocking: [`AppState::blocking`] for the store, [`AppState::ask_tick`] for the tick thread.

use crate::auth::Tokens;
use crate::bridge::Command;
use crate::clock::ServerClock;
use crate::metrics::Metrics;
use crate::wire::protocol::PlayerInfo;
use crate::ws::hub::Hub;
use arcade_data::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Settings of the network layer.
#[derive(Clone, Debug)]
pub struct NetConfig {
    pub tick_rate: u32,
    pub assets: PathBuf,
    pub admin_token: Option<String>,
    pub heartbeat: Heartbeat,
    /// Limits, CORS and proxy trust of the HTTP edge.
    pub ops: crate::http::ops::OpsConfig,
}

/// When a silent connection is pinged, and when it is given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// Silence before the server sends a WebSocket ping.
    pub idle: Duration,
    /// Further silence after the ping before the connection is dropped.
    pub timeout: Duration,
}

impl Default for Heartbeat {
    /// PROTOCOL.md: a ping after 15 s of silence, dropped 30 s later.
    fn default() -> Self {
        Heartbeat {
            idle: Duration::from_secs(15),
            timeout: Duration::from_secs(30),
        }
    }
}

/// How long a REST handler or a session waits for the tick thread's answer.
pub const TICK_ANSWER_WAIT: Duration = Duration::from_secs(2);

/// Why work handed off the async threads did not answer.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// The blocking task running a store call failed.
    #[error("storage task failed")]
    Storage,
    /// The store answered with an error.
    #[error(transparent)]
    Data(#[from] arcade_data::DataError),
    /// The command channel is closed: the tick loop has stopped.
    #[error("the game loop is not running")]
    TickStopped,
    /// The tick thread did not answer within [`TICK_ANSWER_WAIT`].
    #[error("the game loop did not answer")]
    TickSilent,
}

/// Everything a handler or a session may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<NetConfig>,
    pub store: Store,
    pub tokens: Tokens,
    pub hub: Arc<Hub>,
    pub commands: crossbeam_channel::Sender<Command>,
    pub clock: Arc<ServerClock>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// The player a token names, when it is well signed and its session is live.
    pub async fn player_of_token(&self, token: &str) -> Option<PlayerInfo> {
        let claims = self.tokens.verify(token)?;
        let store = self.store.clone();
        let session = claims.sid.parse::<arcade_data::SessionId>().ok()?;
        let player = tokio::task::spawn_blocking(move || {
            if !store.session_valid(session, claims.sub).unwrap_or(false) {
                return None;
            }
            store.get_player(claims.sub).ok().flatten()
        })
        .await
        .ok()??;
        Some(PlayerInfo {
            id: player.id,
            name: player.name,
            guest: player.guest,
        })
    }

    /// Creates a guest with a session and returns it with its token.
    pub async fn new_guest(&self) -> Result<(PlayerInfo, String), Unavailable> {
        let store = self.store.clone();
        let (player, session) = tokio::task::spawn_blocking(move || {
            let name = format!("guest-{:04}", rand::random_range(0..10_000u32));
            let player = store.create_guest(&name)?;
            let session = store.create_session(player.id)?;
            Ok::<_, arcade_data::DataError>((player, session))
        })
        .await
        .map_err(|_| Unavailable::Storage)??;
        let token = self.tokens.issue(player.id, &session.to_string());
        Ok((
            PlayerInfo {
                id: player.id,
                name: player.name,
                guest: player.guest,
            },
            token,
        ))
    }

    /// Runs a blocking store call off the async threads.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> T + Send + 'static,
    ) -> Result<T, Unavailable> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|_| Unavailable::Storage)
    }

    /// Sends `command` to the tick thread and waits, at most [`TICK_ANSWER_WAIT`], for the
    /// answer it sends on `answered`.
    pub async fn ask_tick<T>(
        &self,
        command: Command,
        answered: tokio::sync::oneshot::Receiver<T>,
    ) -> Result<T, Unavailable> {
        self.commands
            .send(command)
            .map_err(|_| Unavailable::TickStopped)?;
        tokio::time::timeout(TICK_ANSWER_WAIT, answered)
            .await
            .map_err(|_| Unavailable::TickSilent)?
            .map_err(|_| Unavailable::TickStopped)
    }
}
