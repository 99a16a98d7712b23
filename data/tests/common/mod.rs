//! Helpers shared by the integration tests: a store in a temporary folder and match records.

#![allow(dead_code)]

use std::path::PathBuf;

use arcade_data::Store;
use arcade_systems::model::{
    BotLevel, EndReason, Game, MatchId, MatchOptions, MatchRecord, Mode, PlayerId, PlayerResult,
    RecordPlayer, Seat,
};

/// A temporary folder that lives as long as the test holds it, and the db path inside it.
pub struct TempDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn temp_db() -> TempDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db/arcade.db");
    TempDb { dir, path }
}

pub fn open(db: &TempDb) -> Store {
    Store::open(&db.path).expect("open store")
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
