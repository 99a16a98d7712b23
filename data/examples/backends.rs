//! Measures the store on each backend (run on the main thread): N fire-and-forget match records
//! then one flush (the writer's batched throughput), sequential blocking writes (create_guest:
//! queue → commit → answer), and reads by id. SQLite in a temporary folder; PostgreSQL when
//! `ARCADE_TEST_POSTGRES_URL` is set (a fresh database on it).
//!
//! ARCADE_TEST_POSTGRES_URL=postgres://… cargo run --release -p arcade-data --example backends

use std::time::Instant;

use arcade_data::Store;
use arcade_systems::model::{
    EndReason, Game, MatchId, MatchOptions, MatchRecord, Mode, PlayerId, PlayerResult,
    RecordPlayer, Seat,
};

/// Match records written in the throughput run.
const RECORDS: u64 = 20_000;
/// Blocking writes and reads timed one after the other.
const CALLS: u64 = 500;

fn record(id: u64) -> MatchRecord {
    let seat = |player: u64, seat, score, result| RecordPlayer {
        id: PlayerId(player),
        name: format!("p{player}"),
        seat,
        score,
        result,
    };
    MatchRecord {
        id: MatchId(id),
        game: Game::Pong,
        mode: Mode::OneVsOne,
        options: MatchOptions::default(),
        seed: id,
        started_at_ms: 0,
        ticks: 600,
        tick_rate: 60,
        reason: EndReason::ScoreLimit,
        players: vec![
            seat(id % 97 + 1, Seat::Left, 5, PlayerResult::Win),
            seat(id % 89 + 200, Seat::Right, 3, PlayerResult::Loss),
        ],
        replay: None,
    }
}

fn measure(name: &str, store: &Store) {
    let started = Instant::now();
    for id in 1..=RECORDS {
        store.record_match(record(id), 1);
    }
    store.flush().unwrap();
    let took = started.elapsed();
    println!(
        "{name}: {RECORDS} records (with ratings) in {:.2} s = {:.0} records/s",
        took.as_secs_f64(),
        RECORDS as f64 / took.as_secs_f64()
    );
    let started = Instant::now();
    for n in 0..CALLS {
        store.create_guest(&format!("g{n}")).unwrap();
    }
    let took = started.elapsed();
    println!(
        "{name}: create_guest one at a time: {:.3} ms each",
        took.as_secs_f64() * 1000.0 / CALLS as f64
    );
    let started = Instant::now();
    for id in 1..=CALLS {
        assert!(store.get_match(MatchId(id)).unwrap().is_some());
    }
    let took = started.elapsed();
    println!(
        "{name}: get_match one at a time: {:.3} ms each",
        took.as_secs_f64() * 1000.0 / CALLS as f64
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    measure(
        "sqlite",
        &Store::open(&dir.path().join("arcade.db")).unwrap(),
    );
    match std::env::var("ARCADE_TEST_POSTGRES_URL") {
        Ok(url) => {
            let fresh = arcade_data::pg::create_fresh_database(&url, "arcade_bench").unwrap();
            measure("postgres", &Store::connect(&fresh).unwrap());
        }
        Err(_) => println!("postgres: ARCADE_TEST_POSTGRES_URL is not set, skipped"),
    }
}
