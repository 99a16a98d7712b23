//! What waiting for the commit adds to `match.end` (issue 15 item 1), measured on the store
//! alone: the main thread plays the tick thread (60 ticks a second, `--per-tick` matches
//! ending in each), queues each record with [`arcade_data::Store::record_match_then`] as
//! `persist_finished_matches` does, and the notice, run on the writer thread after the commit,
//! records how long after the queueing it came. That delay is what `match.end` now waits
//! (before, it went out in the tick that queued the record). Prints p50/p99/max.
//!
//! ```sh
//! cargo run --release -p arcade-bench --bin commit_wait -- [--ticks N] [--per-tick N]
//! ```

use std::time::{Duration, Instant};

use arcade_data::{CommitNotice, Store};
use arcade_systems::model::{
    EndReason, Game, MatchId, MatchOptions, MatchRecord, Mode, PlayerResult, RecordPlayer, Seat,
};

/// Ticks measured by default (10 s at 60 Hz).
const DEFAULT_TICKS: u64 = 600;
/// The tick period the records are queued at.
const TICK: Duration = Duration::from_micros(16_667);

fn main() {
    let mut ticks = DEFAULT_TICKS;
    let mut per_tick = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--ticks", Some(n)) => ticks = n,
            ("--per-tick", Some(n)) => per_tick = n,
            _ => {
                eprintln!("usage: commit_wait [--ticks N] [--per-tick N]");
                std::process::exit(2);
            }
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("arcade.db")).expect("open the store");
    let left = store.create_guest("left").expect("a player");
    let right = store.create_guest("right").expect("a player");
    let (waited, waits) = crossbeam_channel::unbounded();
    let started = Instant::now();
    let mut id = 0u64;
    for tick in 0..ticks {
        let deadline = started + TICK * (tick as u32 + 1);
        for _ in 0..per_tick {
            id += 1;
            let record = MatchRecord {
                id: MatchId(id),
                game: Game::Pong,
                mode: Mode::OneVsOne,
                options: MatchOptions::default(),
                seed: id,
                started_at_ms: 0,
                ticks: 3600,
                tick_rate: 60,
                reason: EndReason::ScoreLimit,
                players: vec![
                    seat(left.id, Seat::Left, PlayerResult::Win),
                    seat(right.id, Seat::Right, PlayerResult::Loss),
                ],
                replay: None,
            };
            let queued = Instant::now();
            let waited = waited.clone();
            let notice = CommitNotice::new(move |committed| {
                assert!(committed, "the record was committed");
                let _ = waited.send(queued.elapsed());
            });
            store.record_match_then(record, 1, notice);
        }
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    }
    store.flush().expect("flush");
    drop(waited);
    let mut samples: Vec<Duration> = waits.iter().collect();
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "commit wait over {} matches ({per_tick} per tick at 60 Hz): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0)),
    );
}

fn seat(id: arcade_systems::model::PlayerId, seat: Seat, result: PlayerResult) -> RecordPlayer {
    RecordPlayer {
        id,
        name: format!("player{}", id.0),
        seat,
        score: 5,
        result,
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
