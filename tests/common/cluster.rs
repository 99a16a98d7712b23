//! Clusters of real instances for the end-to-end tests: several `arcade` processes on one
//! fresh PostgreSQL database and one Redis database of the test's own
//! (`ARCADE_TEST_POSTGRES_URL` and `ARCADE_TEST_REDIS_URL`, which scripts/test.sh sets).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{NO_WS_LIMITS, Server, WAIT, http};

/// PostgreSQL and Redis URLs to test on, or `None` (with a note); failing instead when
/// `ARCADE_REQUIRE_POSTGRES=1`.
pub fn services() -> Option<(String, String)> {
    match (
        std::env::var("ARCADE_TEST_POSTGRES_URL"),
        std::env::var("ARCADE_TEST_REDIS_URL"),
    ) {
        (Ok(postgres), Ok(redis)) => Some((postgres, redis)),
        _ => {
            assert_ne!(
                std::env::var("ARCADE_REQUIRE_POSTGRES").as_deref(),
                Ok("1"),
                "ARCADE_REQUIRE_POSTGRES=1 but the PostgreSQL or Redis URL is not set"
            );
            eprintln!("ARCADE_TEST_POSTGRES_URL or ARCADE_TEST_REDIS_URL unset: skipped");
            None
        }
    }
}

/// What starting one more instance of a cluster needs.
#[derive(Clone)]
pub struct ClusterSpec {
    pub database: String,
    pub redis: String,
    pub extra: Vec<String>,
}

impl ClusterSpec {
    /// A fresh PostgreSQL database and Redis database `redis_db` (each test its own, so that
    /// tests running together do not hear each other), with `extra` flags for every instance.
    pub fn new(redis_db: u32, extra: &[&str]) -> Option<ClusterSpec> {
        let (postgres, redis) = services()?;
        let database = arcade_data::pg::create_fresh_database(&postgres, "arcade_cluster")
            .expect("create a database");
        let redis = format!("{}/{redis_db}", redis.trim_end_matches('/'));
        // A database number is reused by the next run of the same test: start it empty.
        let url = redis.clone();
        let flushed = std::process::Command::new("redis-cli")
            .args(["-u", &url, "FLUSHDB"])
            .output();
        if let Err(error) = flushed {
            eprintln!("redis-cli FLUSHDB {url}: {error}");
        }
        Some(ClusterSpec {
            database,
            redis,
            extra: extra.iter().map(|flag| (*flag).to_owned()).collect(),
        })
    }

    /// Starts the instance `instance` of this cluster.
    pub fn start(&self, instance: &str) -> Server {
        let mut args: Vec<&str> = vec![
            "--database-url",
            &self.database,
            "--redis",
            &self.redis,
            "--instance-id",
            instance,
            "--jwt-secret",
            "one key for the whole cluster",
        ];
        args.extend_from_slice(NO_WS_LIMITS);
        args.extend(self.extra.iter().map(String::as_str));
        Server::start(&args)
    }
}

/// GETs `path` on `server` until `done` holds (or fails after [`WAIT`]).
pub async fn poll(
    server: &Server,
    path: &str,
    token: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let response = http()
            .get(server.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One instance per id in `instances`, on a fresh PostgreSQL database and Redis database
/// `redis_db`, with `extra` flags; `None` without the services.
pub fn start_cluster(instances: &[&str], redis_db: u32, extra: &[&str]) -> Option<Vec<Server>> {
    let spec = ClusterSpec::new(redis_db, extra)?;
    Some(
        instances
            .iter()
            .map(|instance| spec.start(instance))
            .collect(),
    )
}
