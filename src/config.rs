//! The server's settings: every flag of PROTOCOL.md "Running the server", each with its
//! environment twin (`--listen` ↔ `ARCADE_LISTEN`). The defaults serve a fresh checkout.

use std::path::PathBuf;
use std::time::Duration;

use arcade_data::Database;
use arcade_net::http::guard::{DEFAULT_MAX_CONNECTIONS, GuardConfig};
use arcade_net::http::ops::{OpsConfig, RateLimits};
use arcade_net::state::AbuseLimits;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "arcade",
    version,
    about = "An authoritative, fixed-tick multiplayer game server"
)]
pub struct Config {
    /// Address of the one HTTP + WebSocket port (port 0 picks a free one).
    #[arg(long, env = "ARCADE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// The SQLite file (created with its folder; WAL mode). Ignored with `--database-url`
    /// (except that the token secret is kept beside it when `--jwt-secret` is not given).
    #[arg(long, env = "ARCADE_DB", default_value = "./data/arcade.db")]
    pub db: PathBuf,

    /// Keep all durable data in PostgreSQL instead of the SQLite file:
    /// `postgres://user[:password]@host[:port]/database`.
    #[arg(long, env = "ARCADE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Join a cluster through this Redis (`redis://host:port[/db]`). Needs `--database-url`
    /// and `--jwt-secret`; instances on the same Redis database form one cluster.
    #[arg(long, env = "ARCADE_REDIS_URL", hide_env_values = true)]
    pub redis: Option<String>,

    /// This instance's name in a cluster (default: host name and listen port).
    #[arg(long, env = "ARCADE_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// Simulation ticks per second.
    #[arg(long, env = "ARCADE_TICK_RATE", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub tick_rate: u32,

    /// Send `state` every N ticks.
    #[arg(long, env = "ARCADE_SNAPSHOT_EVERY", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub snapshot_every: u64,

    /// How long a dropped player keeps the seat (e.g. 10s, 500ms, 1m).
    #[arg(long, env = "ARCADE_RECONNECT_GRACE", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub reconnect_grace: Duration,

    /// The static client served at `/`.
    #[arg(long, env = "ARCADE_ASSETS", default_value = "./assets")]
    pub assets: PathBuf,

    /// Signs tokens; generated once and kept beside the database when not given.
    #[arg(long, env = "ARCADE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Tracing filter, e.g. `arcade=debug,tower_http=info`.
    #[arg(long, env = "ARCADE_LOG", default_value = "info")]
    pub log: String,

    /// `text` for people, `json` for log shippers.
    #[arg(long, env = "ARCADE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// When set, `/metrics` and `/health/details` need `Authorization: Bearer <it>`.
    #[arg(long, env = "ARCADE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Silence on a WebSocket before the server pings it (PROTOCOL.md: 15 s; for tests).
    #[arg(long, env = "ARCADE_HEARTBEAT_IDLE", default_value = "15s", hide = true,
          value_parser = humantime::parse_duration)]
    pub heartbeat_idle: Duration,

    /// Silence after that ping before the connection is dropped (PROTOCOL.md: 30 s; for tests).
    #[arg(long, env = "ARCADE_HEARTBEAT_TIMEOUT", default_value = "30s", hide = true,
          value_parser = humantime::parse_duration)]
    pub heartbeat_timeout: Duration,

    /// `/api` reads (GET) allowed per second per client address (bursts of twice that);
    /// 0 is unlimited.
    #[arg(long, env = "ARCADE_RATE_LIMIT_READS", default_value_t = RateLimits::default().reads)]
    pub rate_limit_reads: u32,

    /// `/api` writes (POST, PUT, DELETE) allowed per second per client address; 0 is unlimited.
    #[arg(long, env = "ARCADE_RATE_LIMIT_WRITES", default_value_t = RateLimits::default().writes)]
    pub rate_limit_writes: u32,

    /// `/api/auth/*` requests allowed per second per client address; 0 is unlimited.
    #[arg(long, env = "ARCADE_RATE_LIMIT_AUTH", default_value_t = RateLimits::default().auth)]
    pub rate_limit_auth: u32,

    /// Rate-limit by the address the proxy saw (the last `X-Forwarded-For` hop) instead of the
    /// peer address. Set it only when every request comes through the proxy.
    #[arg(long, env = "ARCADE_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// WebSocket upgrades allowed per second per client address (bursts of twice that; 429
    /// before the upgrade); 0 is unlimited.
    #[arg(long, env = "ARCADE_WS_UPGRADES", default_value_t = AbuseLimits::default().ws_upgrades)]
    pub ws_upgrades: u32,

    /// WebSocket connections one client address may hold open (429 past it); 0 is unlimited.
    #[arg(long, env = "ARCADE_WS_PER_ADDRESS",
          default_value_t = AbuseLimits::default().ws_per_address)]
    pub ws_per_address: u32,

    /// Stored guests with nothing attached (no friend, request or block, no live revocation)
    /// are deleted after this long (e.g. 1d, 30m).
    #[arg(long, env = "ARCADE_GUEST_PURGE_AGE", default_value = "1d",
          value_parser = humantime::parse_duration)]
    pub guest_purge_age: Duration,

    /// Slow mode of the `global` chat channel: one line per player per this long (0s is off).
    #[arg(long, env = "ARCADE_GLOBAL_SLOW_MODE", default_value = "2s",
          value_parser = humantime::parse_duration)]
    pub global_slow_mode: Duration,

    /// Another origin allowed to call the API from a browser (repeatable; same-origin needs none).
    #[arg(
        long = "cors-origin",
        env = "ARCADE_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// How long a request header may take to arrive (from the first byte, or from the previous
    /// response on a kept-alive connection); slower connections are closed.
    #[arg(long, env = "ARCADE_HEADER_READ_TIMEOUT", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// Open TCP connections (HTTP and WebSocket) at most; those beyond are closed at once.
    /// 0 is unlimited.
    #[arg(long, env = "ARCADE_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// The registered player (by name, any case) who is an admin from the start, whatever the
    /// database says (issue 14: the first admin; more are granted over REST).
    #[arg(long, env = "ARCADE_ADMIN_NAME")]
    pub admin_name: Option<String>,

    /// On SIGTERM, keep the live matches instead of ending them `aborted`: their checkpoints go
    /// into the database and the next start restores them, paused for the reconnect grace
    /// (issue 18; PROTOCOL.md "Keeping live matches across a restart").
    #[arg(long, env = "ARCADE_KEEP_LIVE_MATCHES")]
    pub keep_live_matches: bool,

    /// Run the tick thread under the real-time policy SCHED_FIFO (priority 1), so that the
    /// workers it wakes and the other processes of the machine never preempt a tick midway.
    /// Needs CAP_SYS_NICE (else a warning, and the raised nice value as without the flag).
    /// For a host that runs arcade alone: a FIFO thread that never slept would keep its core.
    #[arg(long, env = "ARCADE_TICK_REALTIME")]
    pub tick_realtime: bool,

    /// Worker threads of the network runtime (HTTP and WebSocket). 0: one per core, so the
    /// network can use every core under load. The ones the load does not need are held asleep
    /// (`spare_workers`) unless `--net-workers-all-awake`.
    #[arg(long, env = "ARCADE_NET_WORKERS", default_value_t = 0)]
    pub net_workers: usize,

    /// Keep every network worker awake. By default the workers the load does not need are
    /// held asleep (one thread then takes every wake-up) and let go as soon as the active
    /// ones are 80 % busy (BENCHMARKS.md "Spare workers held" (session 14)).
    #[arg(long, env = "ARCADE_NET_WORKERS_ALL_AWAKE")]
    pub net_workers_all_awake: bool,

    /// Microseconds a network worker that ran out of work sleeps before it parks, so that the
    /// inputs arriving meanwhile wake it once, not one by one (`linger`); 0 parks at once.
    /// Whatever arrives in that time waits for it. At most 20000.
    #[arg(
        long,
        env = "ARCADE_NET_IDLE_LINGER_US",
        default_value_t = 2000,
        value_parser = clap::value_parser!(u64).range(0..=20_000)
    )]
    pub net_idle_linger_us: u64,

    /// A tool to run instead of the server.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The tools of the binary (`arcade migrate ...`, `arcade replay verify ...`); without one,
/// it serves.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Copy a single-process SQLite database into PostgreSQL (idempotent: run it again and
    /// nothing is copied twice).
    Migrate {
        /// The SQLite file to read.
        #[arg(long, default_value = "./data/arcade.db")]
        from: PathBuf,
        /// The PostgreSQL database to fill (`postgres://…`).
        #[arg(long)]
        to: String,
    },
    /// Replays (issue 16).
    #[command(subcommand)]
    Replay(ReplayCommand),
    /// Roles on the database (issue 14), e.g. `arcade admin grant NAME --role admin`.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Writes a consistent copy of the SQLite database (`--db`) to PATH with SQLite's online
    /// backup API, safe while a server serves from it; prints its size. Restoring is starting
    /// a server on the copy. (With PostgreSQL, `pg_dump` is the tool.)
    Backup {
        /// Where the copy goes (must not exist).
        path: PathBuf,
    },
}

/// `arcade admin ...`.
#[derive(Subcommand, Debug, Clone)]
pub enum AdminCommand {
    /// Gives the registered player NAME a role (`player` takes a role away), on the database
    /// of `--db` or `--database-url`.
    Grant {
        /// The registered player's name (any case).
        name: String,
        /// `player`, `moderator` or `admin`.
        #[arg(long)]
        role: arcade_data::moderation::Role,
    },
}

/// `arcade replay ...`.
#[derive(Subcommand, Debug, Clone)]
pub enum ReplayCommand {
    /// Plays every stored replay (or one) through the simulation and prints each that does
    /// not reproduce its record's score, ticks and state hash; exits 1 on any mismatch.
    Verify {
        /// The SQLite file to read.
        #[arg(long)]
        db: PathBuf,
        /// Only this match (`m_` and 16 hex digits).
        #[arg(long = "match")]
        match_id: Option<String>,
    },
}

/// Why the flags cannot serve.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `--redis` without `--database-url`.
    #[error(
        "--redis needs --database-url: instances of a cluster share one PostgreSQL database \
         (two SQLite files are not one server)"
    )]
    RedisWithoutDatabase,
    /// A `--database-url` that is not `postgres://` or `postgresql://`.
    #[error("--database-url must be a postgres:// URL")]
    NotPostgres,
    /// A `--redis` that is not `redis://` or `rediss://`.
    #[error("--redis must be a redis:// or rediss:// URL")]
    NotRedis,
    /// `--redis` without `--jwt-secret`.
    #[error(
        "--redis needs --jwt-secret (ARCADE_JWT_SECRET): every instance of a cluster must sign \
         tokens with the same key, so a token from one is valid on all"
    )]
    RedisWithoutSecret,
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The machine's host name (`localhost` when it has none).
fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    match std::str::from_utf8(&buffer[..end]) {
        Ok(name) if status == 0 && !name.is_empty() => name.to_owned(),
        _ => "localhost".to_owned(),
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// The database to open: PostgreSQL with `--database-url`, else the SQLite file. Refuses
    /// `--redis` without `--database-url`, and URLs of the wrong kind.
    pub fn database(&self) -> Result<Database, ConfigError> {
        if let Some(redis) = &self.redis
            && !(redis.starts_with("redis://") || redis.starts_with("rediss://"))
        {
            return Err(ConfigError::NotRedis);
        }
        if self.redis.is_some() && self.database_url.is_some() && self.jwt_secret.is_none() {
            return Err(ConfigError::RedisWithoutSecret);
        }
        match (&self.database_url, &self.redis) {
            (Some(url), _) if is_postgres_url(url) => Ok(Database::Postgres(url.clone())),
            (Some(_), _) => Err(ConfigError::NotPostgres),
            (None, Some(_)) => Err(ConfigError::RedisWithoutDatabase),
            (None, None) => Ok(Database::Sqlite(self.db.clone())),
        }
    }

    /// The network runtime's worker threads: `--net-workers`, or one per core.
    pub fn net_workers(&self) -> usize {
        if self.net_workers > 0 {
            return self.net_workers;
        }
        std::thread::available_parallelism().map_or(1, usize::from)
    }

    /// `--net-idle-linger-us` as a duration.
    pub fn net_idle_linger(&self) -> Duration {
        Duration::from_micros(self.net_idle_linger_us)
    }

    /// `--instance-id`, or the host name and the port this instance listens on.
    pub fn instance_id(&self, port: u16) -> String {
        self.instance_id
            .clone()
            .unwrap_or_else(|| format!("{}:{port}", host_name()))
    }

    /// The settings of the HTTP edge.
    pub fn ops(&self) -> OpsConfig {
        OpsConfig {
            rate_limits: RateLimits {
                reads: self.rate_limit_reads,
                writes: self.rate_limit_writes,
                auth: self.rate_limit_auth,
            },
            trust_forwarded_for: self.trust_forwarded_for,
            cors_origins: self.cors_origins.clone(),
            abuse: AbuseLimits {
                ws_upgrades: self.ws_upgrades,
                ws_per_address: self.ws_per_address,
                guest_purge_age: self.guest_purge_age,
                global_slow_mode: self.global_slow_mode,
            },
        }
    }

    /// The connection guard's settings.
    pub fn guard(&self) -> GuardConfig {
        GuardConfig {
            header_read_timeout: self.header_read_timeout,
            max_connections: self.max_connections,
        }
    }

    /// The listen address, with a bare port or `:port` read as on 127.0.0.1.
    pub fn listen_addr(&self) -> String {
        let listen = self.listen.trim();
        if listen.chars().all(|c| c.is_ascii_digit()) {
            format!("127.0.0.1:{listen}")
        } else if let Some(port) = listen.strip_prefix(':') {
            format!("127.0.0.1:{port}")
        } else {
            listen.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_a_fresh_checkout() {
        let config = Config::try_parse_from(["arcade"]).unwrap();
        assert_eq!(config.listen_addr(), "127.0.0.1:8080");
        assert_eq!(config.db, PathBuf::from("./data/arcade.db"));
        assert_eq!(config.tick_rate, 60);
        assert_eq!(config.snapshot_every, 1);
        assert_eq!(config.reconnect_grace, Duration::from_secs(10));
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(config.admin_token.is_none());
        assert_eq!(
            config.header_read_timeout,
            arcade_net::http::guard::DEFAULT_HEADER_READ_TIMEOUT
        );
        assert_eq!(config.max_connections, DEFAULT_MAX_CONNECTIONS);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(config.net_workers(), cores);
        let config = Config::try_parse_from(["arcade", "--net-workers", "3"]).unwrap();
        assert_eq!(config.net_workers(), 3);
        assert_eq!(config.net_idle_linger(), Duration::from_millis(2));
    }

    #[test]
    fn the_idle_linger_is_bounded_to_a_tick() {
        let linger = |value: &str| {
            Config::try_parse_from(["arcade", "--net-idle-linger-us", value])
                .map(|config| config.net_idle_linger())
        };
        assert_eq!(linger("0").unwrap(), Duration::ZERO);
        assert_eq!(linger("20000").unwrap(), Duration::from_millis(20));
        assert!(linger("20001").is_err());
        assert!(linger("-1").is_err());
        assert!(linger("2ms").is_err());
    }

    #[test]
    fn flags_parse_and_bad_values_are_refused() {
        let config = Config::try_parse_from([
            "arcade",
            "--listen",
            "0",
            "--tick-rate",
            "30",
            "--reconnect-grace",
            "1500ms",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(config.listen_addr(), "127.0.0.1:0");
        assert_eq!(config.tick_rate, 30);
        assert_eq!(config.reconnect_grace, Duration::from_millis(1500));
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(Config::try_parse_from(["arcade", "--tick-rate", "0"]).is_err());
        assert_eq!(
            config.database(),
            Ok(Database::Sqlite(PathBuf::from("./data/arcade.db")))
        );
        assert!(Config::try_parse_from(["arcade", "--reconnect-grace", "soon"]).is_err());
    }

    #[test]
    fn cluster_flags_need_postgres() {
        let parse = |args: &[&str]| {
            let mut all = vec!["arcade"];
            all.extend_from_slice(args);
            Config::try_parse_from(all).unwrap()
        };
        let url = "postgres://arcade@127.0.0.1:5432/arcade";
        assert_eq!(
            parse(&["--database-url", url]).database(),
            Ok(Database::Postgres(url.into()))
        );
        assert_eq!(
            parse(&["--redis", "redis://127.0.0.1:6379"]).database(),
            Err(ConfigError::RedisWithoutDatabase)
        );
        let redis = "redis://127.0.0.1:6379";
        assert_eq!(
            parse(&["--database-url", url, "--redis", redis]).database(),
            Err(ConfigError::RedisWithoutSecret)
        );
        assert_eq!(
            parse(&["--database-url", url, "--redis", redis, "--jwt-secret", "k"]).database(),
            Ok(Database::Postgres(url.into()))
        );
        assert_eq!(
            parse(&["--database-url", "mysql://x"]).database(),
            Err(ConfigError::NotPostgres)
        );
        assert_eq!(
            parse(&["--database-url", url, "--redis", "http://x"]).database(),
            Err(ConfigError::NotRedis)
        );
        assert_eq!(parse(&["--instance-id", "a1"]).instance_id(80), "a1");
        assert!(parse(&[]).instance_id(8080).ends_with(":8080"));
        let migrate = parse(&["migrate", "--from", "x.db", "--to", url]);
        assert!(matches!(migrate.command, Some(Command::Migrate { .. })));
    }
}
