//! SQL helpers shared by the writer, the reads, ratings and social storage: integer
//! conversions, the savepoint wrapper, the `players` row shape and counter names. Runs on
//! whichever thread holds the connection (the writer thread or a reader).

use arcade_systems::model::PlayerId;
use rusqlite::{Connection, Row, Transaction};

use crate::error::{DataError, sql};
use crate::types::PlayerRow;

/// The name of the counter behind `/api/visits`.
pub(crate) const VISITS_COUNTER: &str = "visits";

/// Runs `write` in a savepoint: kept if it succeeds, rolled back alone if it fails.
pub(crate) fn in_savepoint<T>(
    tx: &mut Transaction<'_>,
    write: impl FnOnce(&Connection) -> Result<T, DataError>,
) -> Result<T, DataError> {
    let savepoint = tx.savepoint().map_err(sql)?;
    let result = write(&savepoint)?; // dropping the savepoint on error rolls it back
    savepoint.commit().map_err(sql)?;
    Ok(result)
}

/// A `u64` kept bit for bit in SQLite's signed INTEGER (seeds use all 64 bits).
pub(crate) fn u64_to_sql(value: u64) -> i64 {
    value as i64
}

/// The inverse of [`u64_to_sql`].
pub(crate) fn u64_from_sql(value: i64) -> u64 {
    value as u64
}

/// A [`PlayerRow`] from the columns `id, name, guest, created_at` (in that order, from 0).
pub(crate) fn player_row(row: &Row<'_>) -> rusqlite::Result<PlayerRow> {
    Ok(PlayerRow {
        id: PlayerId(u64_from_sql(row.get(0)?)),
        name: row.get(1)?,
        guest: row.get(2)?,
        created_at_ms: row.get(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcade_systems::model::ID_BITS_MASK;

    #[test]
    fn seeds_keep_all_64_bits() {
        for seed in [0, 1, u64::MAX, 1 << 63, ID_BITS_MASK] {
            assert_eq!(u64_from_sql(u64_to_sql(seed)), seed);
        }
    }
}
