//! The state every handler and session shares ([`AppState`], tokio threads): settings, the
//! store, the hub, the command queue to the tick thread, and the two ways to wait without
//! blocking: [`AppState::blocking`] for the store, [`AppState::ask_tick`] for the tick thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arcade_data::Store;
use arcade_data::guests::SessionState;
use arcade_systems::model::{ID_BITS_MASK, PlayerId};

use crate::auth::Tokens;
use crate::clock::ServerClock;
use crate::hub::Hub;
use crate::link::{Command, CommandSender};
use crate::metrics::Metrics;
use crate::wire::protocol::PlayerInfo;

/// Settings of the network layer.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Ticks per second, told to clients in `hello`.
    pub tick_rate: u32,
    /// The browser client's folder, served at `/`.
    pub assets: PathBuf,
    /// The bearer token of `/metrics` and `/health/details`; none leaves them open.
    pub admin_token: Option<String>,
    /// When silent connections are pinged and dropped.
    pub heartbeat: Heartbeat,
    /// Limits, CORS and proxy trust of the HTTP edge.
    pub ops: OpsConfig,
}

/// When a silent connection is pinged, and when it is given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// Silence before the server sends a WebSocket ping.
    pub idle: Duration,
    /// Further silence after the ping before the connection is dropped.
    pub timeout: Duration,
}

/// PROTOCOL.md: silence before the server pings a connection.
pub const HEARTBEAT_IDLE: Duration = Duration::from_secs(15);
/// PROTOCOL.md: further silence after the ping before the connection is dropped.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for Heartbeat {
    /// PROTOCOL.md: a ping after 15 s of silence, dropped 30 s later.
    fn default() -> Self {
        Heartbeat {
            idle: HEARTBEAT_IDLE,
            timeout: HEARTBEAT_TIMEOUT,
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
    /// The command queue is closed: the tick loop has stopped.
    #[error("the game loop is not running")]
    TickStopped,
    /// The tick thread did not answer within [`TICK_ANSWER_WAIT`].
    #[error("the game loop did not answer")]
    TickSilent,
}

/// Everything a handler or a session may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The network settings.
    pub config: Arc<NetConfig>,
    /// The database; call it through [`AppState::blocking`], never on an async thread.
    pub store: Store,
    /// Issues and verifies bearer tokens.
    pub tokens: Tokens,
    /// Every open connection (chat fan-out, logout, shutdown).
    pub hub: Arc<Hub>,
    /// The command queue to the tick thread (`bridge::receive_commands` drains it).
    pub commands: CommandSender,
    /// The tick thread's clock (health, `ws.pong`).
    pub clock: Arc<ServerClock>,
    /// The Prometheus registry.
    pub metrics: Arc<Metrics>,
    /// Limits shared by every connection of a player or an address.
    pub limits: Arc<crate::limits::SharedLimits>,
    /// This instance's cluster (`--redis`); `None` when it runs alone.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Mutes in force and the `--admin-name` player (issue 14; `crate::moderation`).
    pub moderation: Arc<crate::moderation::Moderation>,
    /// Who is typing where (`crate::social::typing`).
    pub typing: Arc<crate::social::typing::Typing>,
    /// Every tournament not over, and their watchers (`crate::tournament`).
    pub tournaments: Arc<crate::tournament::Tournaments>,
}

impl AppState {
    /// The player a token names, when it is well signed and its session is live. A guest's
    /// token whose session the database does not know is valid on its own claims (guests
    /// are written only when first needed, `arcade_data::guests`).
    pub async fn player_of_token(&self, token: &str) -> Option<PlayerInfo> {
        let claims = self.tokens.verify(token)?;
        let store = self.store.clone();
        let session = claims.sid.parse::<arcade_data::SessionId>().ok()?;
        let player = tokio::task::spawn_blocking(move || {
            let stored = match store.session_state(session, claims.sub).ok()? {
                SessionState::Revoked => return None,
                SessionState::Live => {
                    store.session_seen(session);
                    return store.get_player(claims.sub).ok().flatten();
                }
                SessionState::Unknown => store.get_player(claims.sub).ok()?,
            };
            let name = claims.guest?;
            Some(stored.unwrap_or(arcade_data::PlayerRow {
                id: claims.sub,
                name,
                guest: true,
                created_at_ms: 0,
            }))
        })
        .await
        .ok()??;
        Some(PlayerInfo {
            id: player.id,
            name: player.name,
            guest: player.guest,
        })
    }

    /// Whether a player has an open connection here or, in a cluster, on another instance.
    pub fn is_online(&self, player: PlayerId) -> bool {
        self.player_online(player).is_some()
    }

    /// A connected player, here or on another instance, as its connection knows it (a guest
    /// may not be stored yet).
    pub fn player_online(&self, player: PlayerId) -> Option<PlayerInfo> {
        self.hub.player(player).or_else(|| {
            let cluster = self.cluster.as_ref()?;
            Some(cluster.remote_player(player)?.info)
        })
    }

    /// A new guest and its token. Nothing is written: the token carries the guest's name,
    /// and the row is written when first needed ([`AppState::store_guest`]).
    pub fn new_guest(&self, name: Option<String>) -> (PlayerInfo, String) {
        let name = name.unwrap_or_else(|| format!("guest-{:04}", rand::random_range(0..10_000u32)));
        let id = PlayerId(rand::random_range(1..=ID_BITS_MASK));
        let session = arcade_data::SessionId(rand::random_range(1..=ID_BITS_MASK));
        let token = self.tokens.issue_guest(id, &session.to_string(), &name);
        let info = PlayerInfo {
            id,
            name,
            guest: true,
        };
        (info, token)
    }

    /// Writes `player` if it is a guest that is not stored yet (before a write that needs its
    /// row: a friend, a block).
    pub async fn store_guest(&self, player: &PlayerInfo) -> Result<(), Unavailable> {
        if !player.guest {
            return Ok(());
        }
        let (id, name) = (player.id, player.name.clone());
        self.blocking(move |store| store.ensure_guest(id, &name))
            .await??;
        Ok(())
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
    /// Why this instance takes no new match now, if it does not: it is draining (SIGTERM in a
    /// cluster), its cluster's Redis does not answer, or its database does not (PostgreSQL's
    /// circuit breaker is open). Live matches go on either way.
    pub fn refuses_new_matches(&self) -> Option<&'static str> {
        if let Some(cluster) = &self.cluster {
            if cluster.is_draining() {
                return Some("this instance is shutting down: connect again to play");
            }
            if !cluster.is_up() {
                return Some(
                    "Redis does not answer: no new match until this instance's cluster is back",
                );
            }
        }
        if self.store.breaker_open() {
            return Some("the database does not answer: no new match until it is back");
        }
        None
    }

    /// The live matches: this instance's, then (in a cluster) every other live instance's as
    /// of their last heartbeat (at most a second old), each as `GET /api/matches/live` and
    /// `match.list` list them, only `game`'s when given.
    pub async fn live_matches(
        &self,
        game: Option<arcade_systems::model::Game>,
    ) -> Result<Vec<serde_json::Value>, Unavailable> {
        let (reply, answer) = tokio::sync::oneshot::channel::<Vec<crate::link::LiveMatch>>();
        let here = self
            .ask_tick(Command::ListLive { game, reply }, answer)
            .await?;
        let mut listed: Vec<serde_json::Value> = here
            .iter()
            .filter_map(|live| serde_json::to_value(live).ok())
            .collect();
        if let Some(cluster) = &self.cluster {
            let wanted = game.map(|game| serde_json::json!(game));
            listed.extend(cluster.others_live().await.into_iter().filter(|live| {
                wanted
                    .as_ref()
                    .is_none_or(|game| live.get("game") == Some(game))
            }));
        }
        Ok(listed)
    }

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

/// Per-address request rates on `/api`, in requests per second (a burst of twice that is
/// allowed). 0 turns a class off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// GET and HEAD on `/api` (not `/api/auth/*`).
    pub reads: u32,
    /// Other methods on `/api` (not `/api/auth/*`).
    pub writes: u32,
    /// Everything under `/api/auth/`.
    pub auth: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            reads: 100,
            writes: 20,
            auth: 10,
        }
    }
}

/// The operator's settings of the HTTP edge.
#[derive(Clone, Debug, Default)]
pub struct OpsConfig {
    /// Per-address request rates on `/api`.
    pub rate_limits: RateLimits,
    /// Key the rate limit by the last `X-Forwarded-For` hop (the address the proxy saw)
    /// instead of the peer address. Only safe when every request comes through the proxy.
    pub trust_forwarded_for: bool,
    /// Origins, besides the server's own, allowed to call the API from a browser.
    pub cors_origins: Vec<String>,
    /// The limits on guests, WebSocket upgrades and chat (issue 15).
    pub abuse: AbuseLimits,
}

/// The operator's limits on what one address or player may cost (PROTOCOL.md "Limits").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbuseLimits {
    /// WebSocket upgrades allowed per second per address (bursts of twice that); 0 is
    /// unlimited. Over it, `GET /ws` answers 429 before upgrading.
    pub ws_upgrades: u32,
    /// WebSocket connections one address may hold open; 0 is unlimited. Over it, `GET /ws`
    /// answers 429.
    pub ws_per_address: u32,
    /// Guests written to the database (a friend request, a block, a logout) that have nothing
    /// attached after this long are deleted.
    pub guest_purge_age: Duration,
    /// `global` takes one line per player per this long (and
    /// [`crate::limits::GLOBAL_PER_ADDRESS_PER_INTERVAL`] per address); zero turns it off.
    pub global_slow_mode: Duration,
}

/// Default of [`AbuseLimits::ws_upgrades`].
pub const DEFAULT_WS_UPGRADES_PER_SECOND: u32 = 10;
/// Default of [`AbuseLimits::ws_per_address`].
pub const DEFAULT_WS_PER_ADDRESS: u32 = 64;
/// Default of [`AbuseLimits::guest_purge_age`]: one day.
pub const DEFAULT_GUEST_PURGE_AGE: Duration = Duration::from_secs(24 * 3600);
/// Default of [`AbuseLimits::global_slow_mode`].
pub const DEFAULT_GLOBAL_SLOW_MODE: Duration = Duration::from_secs(2);

impl Default for AbuseLimits {
    fn default() -> Self {
        AbuseLimits {
            ws_upgrades: DEFAULT_WS_UPGRADES_PER_SECOND,
            ws_per_address: DEFAULT_WS_PER_ADDRESS,
            guest_purge_age: DEFAULT_GUEST_PURGE_AGE,
            global_slow_mode: DEFAULT_GLOBAL_SLOW_MODE,
        }
    }
}
