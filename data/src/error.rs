//! The one error type of the crate. It carries no database driver types, so that callers
//! never depend on how the store is implemented.

/// Why a storage call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// The database refused or failed (I/O, disk full, constraint, corrupt file...).
    #[error("database error: {0}")]
    Sqlite(String),
    /// PostgreSQL refused or failed (connection lost, pool exhausted, constraint...).
    #[error("postgres error: {0}")]
    Postgres(String),
    /// The database does not answer and reads are refused at once for now (PostgreSQL's
    /// circuit breaker is open: `crate::pg::breaker`).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A `--database-url` that is not a PostgreSQL connection URL.
    #[error("bad database url: {0}")]
    BadUrl(String),
    /// The database file or its folder could not be created or read.
    #[error("i/o error: {0}")]
    Io(String),
    /// The store was closed: its writer no longer takes writes.
    #[error("the store is closed")]
    Closed,
    /// A registered player already has this name (names compare case-insensitively).
    #[error("the name is taken")]
    NameTaken,
    /// The row the write refers to does not exist (a session for an unknown player...).
    #[error("not found")]
    NotFound,
    /// A stored row could not be read back into its type.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The file was written by a newer build with a schema this build does not know.
    #[error("database schema version {found} is newer than this build knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
}

/// Turns a driver error into a [`DataError`] (kept private: no `From` impl, so the driver's
/// type never shows in the public API).
pub(crate) fn sql(error: rusqlite::Error) -> DataError {
    DataError::Sqlite(error.to_string())
}

/// Whether a driver error is a UNIQUE or PRIMARY KEY constraint violation.
pub(crate) fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error().map(|e| e.extended_code),
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

/// Whether a driver error is a FOREIGN KEY constraint violation.
pub(crate) fn is_foreign_key_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error().map(|e| e.extended_code),
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
    )
}
