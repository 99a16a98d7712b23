//! PostgreSQL's schema and its migrations, by version like SQLite's (`crate::schema`): the
//! table `schema_version` holds the number of steps applied; opening applies the steps past
//! it, each in its own transaction together with the version bump. An advisory lock makes
//! instances that start together migrate one after the other. Runs on the backend's runtime.

use deadpool_postgres::Object;

use super::pg;
use crate::error::DataError;

/// The steps, in order, each the PostgreSQL twin of the SQLite step of the same number
/// (`crate::schema::MIGRATIONS`). Only ever append; a released step never changes.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../../postgres/0001_schema.sql"),
    // 2: per-game player statistics and ratings (src/ratings.rs)
    include_str!("../../postgres/0002_ratings.sql"),
    // 3: chat history, friends and blocks (src/social.rs)
    include_str!("../../postgres/0003_social.sql"),
    // 4: replays of finished matches (issue 16; src/pg/write.rs, src/pg/read.rs)
    include_str!("../../postgres/0004_replays.sql"),
    // 5: friendship is a request the other player accepts (src/social.rs)
    include_str!("../../postgres/0005_friend_requests.sql"),
    // 6: tournaments, entries, pairings and their matches (issue 13; src/pg/tournaments.rs)
    include_str!("../../postgres/0006_tournaments.sql"),
    // 7: sessions shown and ended, avatars, two-factor sign-in, deletion (src/accounts.rs)
    include_str!("../../postgres/0007_accounts.sql"),
    // 8: roles, mutes, bans, reports, the audit log, chat message ids (issue 14;
    // src/moderation.rs, src/pg/moderation.rs)
    include_str!("../../postgres/0008_moderation.sql"),
    // 9: live matches kept across a restart (issue 18; src/pg/live_matches.rs)
    include_str!("../../postgres/0009_live_matches.sql"),
];

/// The advisory lock key migrations hold (`arca` in ASCII).
const MIGRATION_LOCK: i64 = 0x6172_6361;

/// The schema version this build writes.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the database to [`latest_version`]; a no-op when it is there already.
pub(crate) async fn migrate(client: &mut Object) -> Result<(), DataError> {
    let known = latest_version();
    loop {
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .await
            .map_err(pg)?;
        let found: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0)::BIGINT FROM schema_version",
                &[],
            )
            .await
            .map_err(pg)?
            .get(0);
        if found > known {
            return Err(DataError::SchemaTooNew { found, known });
        }
        if found == known {
            tx.commit().await.map_err(pg)?;
            return Ok(());
        }
        let version = found + 1;
        tx.batch_execute(MIGRATIONS[found as usize])
            .await
            .map_err(pg)?;
        tx.execute("DELETE FROM schema_version", &[])
            .await
            .map_err(pg)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        tracing::info!(version, "postgres database migrated");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::{PgBackend, create_fresh_database};

    fn version(backend: &PgBackend) -> i64 {
        backend
            .read(|client| async move {
                let row = client
                    .query_one("SELECT max(version) FROM schema_version", &[])
                    .await
                    .map_err(pg)?;
                Ok(row.get::<_, i64>(0))
            })
            .unwrap()
    }

    #[test]
    fn migrates_a_fresh_database_once_and_refuses_a_newer_one() {
        let Ok(url) = std::env::var("ARCADE_TEST_POSTGRES_URL") else {
            eprintln!("ARCADE_TEST_POSTGRES_URL is not set: skipped");
            return;
        };
        let fresh = create_fresh_database(&url, "arcade_unit").unwrap();
        let first = PgBackend::connect(&fresh).unwrap();
        assert_eq!(version(&first), latest_version());
        let again = PgBackend::connect(&fresh).unwrap();
        assert_eq!(version(&again), latest_version());
        again
            .read(|client| async move {
                client
                    .execute("UPDATE schema_version SET version = version + 1", &[])
                    .await
                    .map_err(pg)?;
                Ok(())
            })
            .unwrap();
        assert!(matches!(
            PgBackend::connect(&fresh),
            Err(DataError::SchemaTooNew { .. })
        ));
    }
}
