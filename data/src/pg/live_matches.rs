//! Kept live matches on PostgreSQL (migration step 9): the twins of `crate::live_matches`'
//! writes (writer thread, inside the batch's transaction) and read (the backend's runtime).

use arcade_systems::model::MatchId;
use deadpool_postgres::{Object, Transaction};

use super::pg;
use crate::error::DataError;
use crate::live_matches::KeptMatch;
use crate::sql::{u64_from_sql, u64_to_sql};
use crate::time::now_ms;

/// `crate::live_matches`' save on PostgreSQL.
pub(crate) async fn save(tx: &Transaction<'_>, kept: &[KeptMatch]) -> Result<(), DataError> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO live_matches (match_id, checkpoint, saved_at) VALUES ($1, $2, $3) \
             ON CONFLICT (match_id) DO UPDATE SET checkpoint = excluded.checkpoint, \
             saved_at = excluded.saved_at",
        )
        .await
        .map_err(pg)?;
    let now = now_ms();
    for kept in kept {
        tx.execute(&insert, &[&u64_to_sql(kept.id.0), &kept.checkpoint, &now])
            .await
            .map_err(pg)?;
    }
    Ok(())
}

/// `crate::live_matches`' delete on PostgreSQL.
pub(crate) async fn delete(tx: &Transaction<'_>, ids: &[MatchId]) -> Result<(), DataError> {
    let ids: Vec<i64> = ids.iter().map(|id| u64_to_sql(id.0)).collect();
    tx.execute("DELETE FROM live_matches WHERE match_id = ANY($1)", &[&ids])
        .await
        .map_err(pg)?;
    Ok(())
}

/// `crate::live_matches`' read on PostgreSQL.
pub(crate) async fn kept_matches(client: Object) -> Result<Vec<KeptMatch>, DataError> {
    let rows = client
        .query(
            "SELECT match_id, checkpoint FROM live_matches ORDER BY saved_at, match_id",
            &[],
        )
        .await
        .map_err(pg)?;
    Ok(rows
        .iter()
        .map(|row| KeptMatch {
            id: MatchId(u64_from_sql(row.get(0))),
            checkpoint: row.get(1),
        })
        .collect())
}
