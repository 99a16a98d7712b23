//! Clusters for the end-to-end tests (test threads): instances of the real server sharing one
//! fresh PostgreSQL database and one Redis database of the test's own.

use super::{NO_WS_LIMITS, Server};

/// PostgreSQL and Redis URLs to test on (`ARCADE_TEST_POSTGRES_URL`, `ARCADE_TEST_REDIS_URL`),
/// or `None` with a note; fails when `ARCADE_REQUIRE_POSTGRES=1` and one is missing.
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

/// One instance per id in `instances`, on a fresh PostgreSQL database and Redis database
/// `redis_db` (each test its own, so that tests running together do not hear each other),
/// with `extra` flags; `None` without the services.
pub fn start_cluster(instances: &[&str], redis_db: u32, extra: &[&str]) -> Option<Vec<Server>> {
    let (postgres, redis) = services()?;
    let database = arcade_data::pg::create_fresh_database(&postgres, "arcade_cluster")
        .expect("create a database");
    let redis = format!("{}/{redis_db}", redis.trim_end_matches('/'));
    Some(
        instances
            .iter()
            .map(|instance| {
                let mut args = vec![
                    "--database-url",
                    &database,
                    "--redis",
                    &redis,
                    "--instance-id",
                    instance,
                    "--jwt-secret",
                    "one key for the whole cluster",
                ];
                args.extend_from_slice(NO_WS_LIMITS);
                args.extend_from_slice(extra);
                Server::start(&args)
            })
            .collect(),
    )
}
