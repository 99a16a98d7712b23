//! The PostgreSQL backend (`--database-url postgres://…`): a pool of tokio-postgres connections
//! (deadpool-postgres) driven by a small tokio runtime of its own (threads `arcade-pg`), so the
//! store's blocking API works the same from any thread, inside the server's runtime or not.
//! Reads are spawned on that runtime and their caller waits for the answer; the writer thread
//! keeps one connection of its own, driven on its own thread (module `write`); `schema` brings
//! the database up to date.
//!
//! Connections are plain TCP (no TLS): PostgreSQL is expected on loopback or a private network.

pub(crate) mod accounts;
pub mod breaker;
pub mod copy;
pub(crate) mod live_matches;
pub(crate) mod moderation;
pub(crate) mod read;
pub(crate) mod schema;
pub(crate) mod tournaments;
pub(crate) mod write;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, TimeoutType,
};
use tokio::runtime::{Handle, Runtime};
use tokio_postgres::NoTls;

use crate::error::DataError;
use breaker::{Breaker, BreakerStatus, Permit};

/// The most connections the pool opens (the writer holds one per batch; reads share the rest).
pub(crate) const POOL_MAX_SIZE: usize = 16;
/// How long a caller waits for a free connection, a new connection or a recycle check.
pub(crate) const POOL_WAIT: Duration = Duration::from_secs(5);
/// Worker threads of the backend's runtime (the queries are IO-bound).
const RUNTIME_THREADS: usize = 2;

/// A pool of connections to one PostgreSQL database and the runtime that drives it.
pub(crate) struct PgBackend {
    /// The runtime; `None` only while dropping.
    runtime: Option<Runtime>,
    /// A handle on it, for the writer thread and the reads.
    handle: Handle,
    /// The connections.
    pool: Pool,
    /// The database URL without its password, for logs and `/health/details`.
    location: String,
    /// The connection settings (the writer opens its own connection with them).
    config: tokio_postgres::Config,
    /// Fails reads at once while PostgreSQL does not answer ([`breaker`]).
    breaker: Arc<Breaker>,
}

/// The read pool's connections now (`arcade_db_pool_*` metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// The most connections it opens.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Connections lent to a read (or the schema check) now.
    pub in_use: usize,
    /// Open connections waiting in the pool.
    pub idle: usize,
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        self.pool.close();
        // Dropping a runtime from inside another one panics; this never blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Turns a driver error into a [`DataError`] (its database message when it has one).
pub(crate) fn pg(error: tokio_postgres::Error) -> DataError {
    match error.as_db_error() {
        Some(db) => DataError::Postgres(format!("{}: {}", db.code().code(), db.message())),
        None => DataError::Postgres(error.to_string()),
    }
}

/// Turns a pool error (no free connection in time, connection refused...) into a [`DataError`].
pub(crate) fn pool_error(error: PoolError) -> DataError {
    match error {
        PoolError::Backend(error) => pg(error),
        other => DataError::Postgres(format!("connection pool: {other}")),
    }
}

/// Whether a pool error says that no connection could be had from PostgreSQL (it refused,
/// failed or did not answer in time), rather than that every connection was busy.
fn is_unreachable(error: &PoolError) -> bool {
    !matches!(
        error,
        PoolError::Timeout(TimeoutType::Wait) | PoolError::Closed
    )
}

/// Whether a driver error is a FOREIGN KEY constraint violation.
pub(crate) fn is_foreign_key_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
}

/// `url` without its password (`postgres://user:secret@host/db` → `postgres://user@host/db`).
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

impl PgBackend {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`), checks that the
    /// database answers, and brings its schema up to date.
    pub(crate) fn connect(url: &str) -> Result<PgBackend, DataError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| DataError::BadUrl(format!("{}: {e}", redact(url))))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("arcade-pg")
            .enable_all()
            .build()
            .map_err(|e| DataError::Io(format!("starting the postgres runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_MAX_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| DataError::Postgres(format!("building the pool: {e}")))?;
        let backend = PgBackend {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            pool,
            location: redact(url),
            config,
            breaker: Arc::new(Breaker::default()),
        };
        backend.read(|mut client| async move { schema::migrate(&mut client).await })?;
        Ok(backend)
    }

    /// The database URL without its password.
    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    /// The writer thread's own connection (see [`write::PgWriter`]).
    pub(crate) fn writer(&self) -> Result<write::PgWriter, DataError> {
        write::PgWriter::new(self.config.clone())
    }

    /// Runs `future` on the backend's runtime and waits for its output. Works from any thread
    /// (the caller blocks, like a SQLite call).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        future: impl Future<Output = Result<T, DataError>> + Send + 'static,
    ) -> Result<T, DataError> {
        let (answer, receive) = crossbeam_channel::bounded(1);
        self.handle.spawn(async move {
            let _ = answer.send(future.await);
        });
        receive.recv().unwrap_or(Err(DataError::Closed))
    }

    /// Runs `read` on a pooled connection and waits for its result.
    pub(crate) fn read<T, F, Fut>(&self, read: F) -> Result<T, DataError>
    where
        T: Send + 'static,
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, DataError>> + Send,
    {
        let permit = self.breaker.admit(Instant::now())?;
        let (pool, breaker) = (self.pool.clone(), self.breaker.clone());
        self.run(async move {
            let client = match pool.get().await {
                Ok(client) => {
                    breaker.succeeded();
                    client
                }
                Err(error) => {
                    // A probe that fails in any way keeps the breaker open.
                    if permit == Permit::Probe || is_unreachable(&error) {
                        breaker.failed(permit, Instant::now());
                    }
                    return Err(pool_error(error));
                }
            };
            read(client).await
        })
    }

    /// The read pool's connections now.
    pub(crate) fn pool_status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            max_size: status.max_size,
            size: status.size,
            in_use: status.size.saturating_sub(status.available),
            idle: status.available,
        }
    }

    /// Whether reads fail fast now.
    pub(crate) fn breaker_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// The breaker's state now.
    pub(crate) fn breaker_status(&self) -> BreakerStatus {
        self.breaker.status(Instant::now())
    }
}

/// Creates a new, empty database beside the one `url` names (on the same server, named
/// `<prefix>_<random hex>`) and returns its URL: each test gets a database of its own. The
/// URL's user must be allowed to create databases.
pub fn create_fresh_database(url: &str, prefix: &str) -> Result<String, DataError> {
    let name = format!(
        "{prefix}_{:016x}",
        getrandom::u64().map_err(|e| DataError::Io(format!("random name: {e}")))?
    );
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| DataError::BadUrl(format!("{}: {e}", redact(url))))?;
    // A thread of its own, so this works from inside an async test as well.
    let create = {
        let name = name.clone();
        std::thread::spawn(move || -> Result<(), DataError> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| DataError::Io(e.to_string()))?;
            runtime.block_on(async move {
                let (client, connection) = config.connect(NoTls).await.map_err(pg)?;
                let driver = tokio::spawn(connection);
                client
                    .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .map_err(pg)?;
                drop(client);
                let _ = driver.await;
                Ok(())
            })
        })
    };
    create
        .join()
        .map_err(|_| DataError::Io("creating a database panicked".into()))??;
    Ok(with_database(url, &name))
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_retargeted() {
        assert_eq!(
            redact("postgres://arcade:secret@db:5432/arcade"),
            "postgres://arcade@db:5432/arcade"
        );
        assert_eq!(redact("postgres://db/arcade"), "postgres://db/arcade");
        assert_eq!(
            with_database("postgres://a@127.0.0.1:5/postgres?sslmode=disable", "t_1"),
            "postgres://a@127.0.0.1:5/t_1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://a@127.0.0.1:5", "t_1"),
            "postgres://a@127.0.0.1:5/t_1"
        );
    }
}
