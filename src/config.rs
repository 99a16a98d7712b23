//! The server's settings: every flag of PROTOCOL.md "Running the server", each with its
//! environment twin (`--listen` ↔ `ARCADE_LISTEN`). The defaults serve a fresh checkout.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

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

    /// The SQLite file (created with its folder; WAL mode).
    #[arg(long, env = "ARCADE_DB", default_value = "./data/arcade.db")]
    pub db: PathBuf,

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
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
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
        assert!(Config::try_parse_from(["arcade", "--reconnect-grace", "soon"]).is_err());
    }
}
