//! Helpers shared by the integration tests (run on the test thread): a store in a temporary
//! folder or a fresh PostgreSQL database, and match records.

#![allow(dead_code)]

use arcade_data::{Database, Store};
use arcade_systems::model::{
    BotLevel, EndReason, Game, MatchId, MatchOptions, MatchRecord, Mode, PlayerId, PlayerResult,
    RecordPlayer, Seat,
};

/// The PostgreSQL server the storage tests also run on, when set (scripts/test.sh sets it).
pub const POSTGRES_URL_VAR: &str = "ARCADE_TEST_POSTGRES_URL";

/// A database for one test: a SQLite file in a temporary folder that lives as long as the
/// test holds it, or a fresh PostgreSQL database of its own.
pub struct TempDb {
    pub dir: tempfile::TempDir,
    pub database: Database,
}

impl TempDb {
    /// Another empty database on the same backend.
    pub fn fresh(&self) -> TempDb {
        match &self.database {
            Database::Sqlite(_) => temp_db(),
            Database::Postgres(_) => postgres_db().expect("postgres is configured"),
        }
    }

    /// Where it is, as [`Store::location`] says it.
    pub fn location(&self) -> String {
        match &self.database {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(url) => url.clone(),
        }
    }
}

/// A SQLite database in a temporary folder.
pub fn temp_db() -> TempDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db/arcade.db");
    TempDb {
        dir,
        database: Database::Sqlite(path),
    }
}

/// A fresh PostgreSQL database, when [`POSTGRES_URL_VAR`] is set.
pub fn postgres_db() -> Option<TempDb> {
    let url = std::env::var(POSTGRES_URL_VAR).ok()?;
    let fresh = arcade_data::pg::create_fresh_database(&url, "arcade_test").expect("create db");
    Some(TempDb {
        dir: tempfile::tempdir().expect("temp dir"),
        database: Database::Postgres(fresh),
    })
}

/// Runs `test` on SQLite, then on PostgreSQL when [`POSTGRES_URL_VAR`] is set.
pub fn each_backend(test: impl Fn(&TempDb)) {
    test(&temp_db());
    if let Some(db) = postgres_db() {
        test(&db);
    }
}

pub fn open(db: &TempDb) -> Store {
    Store::open_database(&db.database).expect("open store")
}

/// A pong 1v1 record between players `a` and `b`, or a breakout solo one of `a` alone.
pub fn record(id: u64, game: Game, a: u64, b: u64) -> MatchRecord {
    let (mode, options, players, reason) = match game {
        Game::Pong => (
            Mode::OneVsOne,
            MatchOptions {
                score_limit: Some(5),
                ..Default::default()
            },
            vec![
                seat(a, "ann", Seat::Left, 5, PlayerResult::Win),
                seat(b, "bob", Seat::Right, 3, PlayerResult::Loss),
            ],
            EndReason::ScoreLimit,
        ),
        Game::Breakout => (
            Mode::Solo,
            MatchOptions::default(),
            vec![seat(a, "ann", Seat::P1, 120, PlayerResult::Win)],
            EndReason::Lives,
        ),
    };
    MatchRecord {
        id: MatchId(id),
        game,
        mode,
        options,
        seed: id.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        started_at_ms: 1_795_304_700_000 + id as i64,
        ticks: 600 + id,
        tick_rate: 60,
        reason,
        players,
        replay: None,
    }
}

pub fn seat(id: u64, name: &str, seat: Seat, score: u32, result: PlayerResult) -> RecordPlayer {
    RecordPlayer {
        id: PlayerId(id),
        name: name.into(),
        seat,
        score,
        result,
    }
}

/// A vs_bot record with every optional field set.
pub fn vs_bot_record(id: u64) -> MatchRecord {
    MatchRecord {
        id: MatchId(id),
        game: Game::Pong,
        mode: Mode::VsBot,
        options: MatchOptions {
            score_limit: Some(21),
            bot: Some(BotLevel::Hard),
            private: true,
            ..Default::default()
        },
        seed: u64::MAX - 1,
        started_at_ms: 1_795_304_700_123,
        ticks: 12_345,
        tick_rate: 120,
        reason: EndReason::Aborted,
        players: vec![seat(77, "Zoë", Seat::Left, 4, PlayerResult::None)],
        replay: None,
    }
}
