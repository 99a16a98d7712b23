//! The schema and its migrations, and the settings every connection is opened with.
//!
//! The file's `PRAGMA user_version` is the number of migration steps applied; opening runs the
//! steps past it, each in its own transaction together with the version bump, so a crash
//! mid-migration leaves the file at the previous version. Step 1 is `schema.sql`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{DataError, sql};

/// The migration steps, in order: `MIGRATIONS[i]` takes the file from version `i` to `i + 1`.
/// Only ever append to this list; a released step never changes.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../schema.sql"),
    // 2: per-game player statistics and ratings (src/ratings.rs)
    include_str!("../migrations/0002_ratings.sql"),
    // 3: chat history, friends and blocks (src/social.rs)
    include_str!("../migrations/0003_social.sql"),
    // 4: replays of finished matches (issue 16; src/writer.rs, src/read.rs)
    include_str!("../migrations/0004_replays.sql"),
    // 5: friendship is a request the other player accepts (src/social.rs)
    include_str!("../migrations/0005_friend_requests.sql"),
    // 6: tournaments, entries, pairings and their matches (issue 13; src/tournaments.rs)
    include_str!("../migrations/0006_tournaments.sql"),
    // 7: sessions shown and ended, avatars, two-factor sign-in, deletion (src/accounts.rs)
    include_str!("../migrations/0007_accounts.sql"),
    // 8: roles, mutes, bans, reports, the audit log, chat message ids (issue 14;
    // src/moderation.rs)
    include_str!("../migrations/0008_moderation.sql"),
    // 9: live matches kept across a restart (issue 18; src/live_matches.rs)
    include_str!("../migrations/0009_live_matches.sql"),
];

/// How long a connection waits for a lock held by another connection before it fails.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema version this build writes.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Opens the one write connection: WAL journal, `synchronous=FULL` (every commit is on disk
/// before it returns, so an acknowledged write survives a crash or power loss), foreign keys
/// on. Creates the file's folder and the file.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, DataError> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .map_err(|e| DataError::Io(format!("creating {}: {e}", folder.display())))?;
    }
    let conn = Connection::open(path).map_err(sql)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(DataError::Sqlite(format!(
            "journal_mode is {mode}, not wal"
        )));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(sql)?;
    Ok(conn)
}

/// Opens a read connection: read-only, `query_only`, so it can never write by mistake.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, DataError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(sql)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    conn.execute_batch("PRAGMA query_only = ON;").map_err(sql)?;
    Ok(conn)
}

/// Brings the file to [`latest_version`]; a no-op when it is there already.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), DataError> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sql)?;
    let known = latest_version();
    if found > known {
        return Err(DataError::SchemaTooNew { found, known });
    }
    for (index, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        tx.execute_batch(step).map_err(sql)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        tracing::info!(version, "database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn migrates_a_fresh_file_once_and_then_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/folder/arcade.db");
        let mut conn = open_writer(&path).unwrap();
        assert_eq!(version(&conn), 0);
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), latest_version());
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), latest_version());
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for table in [
            "counters",
            "match_players",
            "matches",
            "player_stats",
            "players",
            "sessions",
        ] {
            assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
        }
    }

    #[test]
    fn step_5_keeps_pairs_as_friends_and_one_sided_rows_as_requests() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_writer(&dir.path().join("arcade.db")).unwrap();
        for step in &MIGRATIONS[..3] {
            conn.execute_batch(step).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute_batch(
            "INSERT INTO players (id, name, guest, created_at) VALUES \
             (1, 'ada', 1, 0), (2, 'bob', 1, 0), (3, 'cy', 1, 0), (4, 'dee', 1, 0);
             INSERT INTO friends (player_id, friend_id, created_at) VALUES \
             (1, 2, 0), (2, 1, 0), (1, 3, 0), (4, 1, 0), (1, 4, 0);
             INSERT INTO blocks (player_id, blocked_id, created_at) VALUES (4, 1, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), latest_version());
        let rows: Vec<(i64, i64)> = conn
            .prepare("SELECT player_id, friend_id FROM friends ORDER BY player_id, friend_id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // ada and bob stay friends, ada's request to cy stays, the blocked pair is cleared.
        assert_eq!(rows, [(1, 2), (1, 3), (2, 1)]);
    }

    #[test]
    fn refuses_a_file_from_a_newer_build() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arcade.db");
        let mut conn = open_writer(&path).unwrap();
        conn.pragma_update(None, "user_version", latest_version() + 1)
            .unwrap();
        assert_eq!(
            migrate(&mut conn),
            Err(DataError::SchemaTooNew {
                found: latest_version() + 1,
                known: latest_version()
            })
        );
    }

    #[test]
    fn connections_have_their_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arcade.db");
        let mut writer = open_writer(&path).unwrap();
        migrate(&mut writer).unwrap();
        let get = |conn: &Connection, pragma: &str| -> i64 {
            conn.query_row(&format!("PRAGMA {pragma}"), [], |row| row.get(0))
                .unwrap()
        };
        assert_eq!(get(&writer, "synchronous"), 2, "FULL");
        assert_eq!(get(&writer, "foreign_keys"), 1);
        let reader = open_reader(&path).unwrap();
        assert_eq!(get(&reader, "query_only"), 1);
        assert!(
            reader
                .execute("INSERT INTO counters VALUES ('x', 1)", [])
                .is_err()
        );
    }
}
