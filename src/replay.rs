//! `arcade replay verify` (the main thread, before any server starts): plays every replay
//! stored in a database through the server's own simulation and prints each one that does
//! not reproduce its record (issue 16).

use std::path::Path;

use anyhow::Context;
use arcade_data::Store;
use arcade_systems::model::MatchId;
use arcade_systems::replay::{self, GAME_VERSION};

/// What a verification found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verified {
    /// Replays that reproduce their record.
    pub ok: usize,
    /// Replays that do not (each printed).
    pub mismatches: usize,
    /// Replays of another game version, which this build cannot play.
    pub skipped: usize,
}

/// Verifies the replay of `only`, or of every match stored with one, printing a line per
/// mismatch and a summary.
pub fn verify(db: &Path, only: Option<&str>) -> anyhow::Result<Verified> {
    anyhow::ensure!(db.exists(), "no database at {}", db.display());
    let store = Store::open(db).with_context(|| format!("opening {}", db.display()))?;
    let ids =
        match only {
            Some(text) => vec![text.parse::<MatchId>().map_err(|_| {
                anyhow::anyhow!("{text:?} is not a match id (m_ and 16 hex digits)")
            })?],
            None => store.replayed_matches()?,
        };
    let mut verified = Verified::default();
    for id in ids {
        let Some((stored, replay)) = store.get_replay(id)? else {
            println!("{id}: no such match");
            verified.mismatches += 1;
            continue;
        };
        let Some(replay) = replay else {
            println!("{id}: stored without a replay");
            verified.mismatches += 1;
            continue;
        };
        if replay.game_version != GAME_VERSION {
            println!(
                "{id}: skipped, recorded under game version {} (this build plays {GAME_VERSION})",
                replay.game_version
            );
            verified.skipped += 1;
            continue;
        }
        let differences = replay::verify(
            &stored.replay_header(),
            stored.reason,
            &stored.players,
            &replay,
        );
        if differences.is_empty() {
            verified.ok += 1;
        } else {
            verified.mismatches += 1;
            println!(
                "{id}: MISMATCH ({} {})",
                stored.game.as_str(),
                stored.mode.as_str()
            );
            for difference in differences {
                println!("  {difference}");
            }
        }
    }
    store.close()?;
    println!(
        "{} replays verified: {} reproduce their record, {} mismatches, {} skipped",
        verified.ok + verified.mismatches + verified.skipped,
        verified.ok,
        verified.mismatches,
        verified.skipped
    );
    Ok(verified)
}
