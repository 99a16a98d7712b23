//! Live matches kept across a restart (`--keep-live-matches`, issue 18, migration step 9): the
//! write that saves the checkpoints of a stopping server in one transaction and the one that
//! deletes them once restored ([`LiveMatchWrite`], writer thread), and the SQLite read (read
//! connections). The PostgreSQL twins are in `crate::pg::live_matches`.
//!
//! The store does not read a checkpoint: it is the network layer's encoded bytes.

use arcade_systems::model::MatchId;
use rusqlite::{Connection, params};

use crate::error::{DataError, sql};
use crate::reply::{Ack, Reply, reply};
use crate::sql::{in_savepoint, u64_from_sql, u64_to_sql};
use crate::time::now_ms;

/// A kept match: its id and its encoded checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptMatch {
    /// The match.
    pub id: MatchId,
    /// The checkpoint, as the network layer encoded it.
    pub checkpoint: Vec<u8>,
}

/// A write of kept matches, queued for the writer.
pub(crate) enum LiveMatchWrite {
    /// Writes every checkpoint (replacing a row of the same match), all or none.
    Save(Vec<KeptMatch>, Reply<()>),
    /// Deletes the rows of these matches.
    Delete(Vec<MatchId>, Reply<()>),
}

impl LiveMatchWrite {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            LiveMatchWrite::Save(..) => "save_live_matches",
            LiveMatchWrite::Delete(..) => "delete_live_matches",
        }
    }

    pub(crate) fn refuse(self, error: DataError) {
        match self {
            LiveMatchWrite::Save(_, to) | LiveMatchWrite::Delete(_, to) => {
                drop(to.send(Err(error)))
            }
        }
    }

    /// Applies the write inside its own savepoint of the writer's transaction.
    pub(crate) fn apply(self, tx: &mut rusqlite::Transaction<'_>) -> Ack {
        match self {
            LiveMatchWrite::Save(kept, to) => reply(to, in_savepoint(tx, |conn| save(conn, &kept))),
            LiveMatchWrite::Delete(ids, to) => {
                reply(to, in_savepoint(tx, |conn| delete(conn, &ids)))
            }
        }
    }
}

fn save(conn: &Connection, kept: &[KeptMatch]) -> Result<(), DataError> {
    let now = now_ms();
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO live_matches (match_id, checkpoint, saved_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (match_id) DO UPDATE SET checkpoint = excluded.checkpoint, \
             saved_at = excluded.saved_at",
        )
        .map_err(sql)?;
    for kept in kept {
        insert
            .execute(params![u64_to_sql(kept.id.0), kept.checkpoint, now])
            .map_err(sql)?;
    }
    Ok(())
}

fn delete(conn: &Connection, ids: &[MatchId]) -> Result<(), DataError> {
    let mut delete = conn
        .prepare_cached("DELETE FROM live_matches WHERE match_id = ?1")
        .map_err(sql)?;
    for id in ids {
        delete.execute([u64_to_sql(id.0)]).map_err(sql)?;
    }
    Ok(())
}

/// Every kept match, oldest save first.
pub(crate) fn kept_matches(conn: &Connection) -> Result<Vec<KeptMatch>, DataError> {
    let mut select = conn
        .prepare_cached("SELECT match_id, checkpoint FROM live_matches ORDER BY saved_at, match_id")
        .map_err(sql)?;
    let rows = select
        .query_map([], |row| {
            Ok(KeptMatch {
                id: MatchId(u64_from_sql(row.get(0)?)),
                checkpoint: row.get(1)?,
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<_, _>>().map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_matches_are_saved_together_read_and_deleted() {
        crate::store::each_store(|store| {
            assert_eq!(store.kept_matches().unwrap(), []);
            let kept = |id: u64, bytes: &[u8]| KeptMatch {
                id: MatchId(id),
                checkpoint: bytes.to_vec(),
            };
            // A seed-sized id (all 64 bits) survives the signed column.
            let big = u64::MAX - 3;
            store
                .save_live_matches(vec![kept(7, &[1, 2, 3]), kept(big, &[0, 255])])
                .unwrap();
            let mut found = store.kept_matches().unwrap();
            found.sort_by_key(|k| k.id);
            assert_eq!(found, [kept(7, &[1, 2, 3]), kept(big, &[0, 255])]);
            // Saving a match again replaces its row.
            store.save_live_matches(vec![kept(7, &[9])]).unwrap();
            let mut found = store.kept_matches().unwrap();
            found.sort_by_key(|k| k.id);
            assert_eq!(found[0], kept(7, &[9]));
            store
                .delete_live_matches(vec![MatchId(7), MatchId(big)])
                .unwrap();
            assert_eq!(store.kept_matches().unwrap(), []);
        });
    }
}
