//! The server on PostgreSQL end to end (`--database-url`): a match played over WebSocket is
//! read back over REST, from PostgreSQL, also after a restart; `arcade migrate` copies a
//! database filled by the server on SQLite, and the server on PostgreSQL serves the same
//! record; `--redis` without `--database-url` is refused at start. Needs a PostgreSQL at
//! `ARCADE_TEST_POSTGRES_URL` (scripts/test.sh starts one): skipped with a note without it,
//! failing when `ARCADE_REQUIRE_POSTGRES=1`.

mod common;

use std::process::Command;

use common::{Server, fetch_record, get_json};
use serde_json::Value;

/// The PostgreSQL server to test on, or `None` (with a note) when there is none.
fn postgres_url() -> Option<String> {
    match std::env::var("ARCADE_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert_ne!(
                std::env::var("ARCADE_REQUIRE_POSTGRES").as_deref(),
                Ok("1"),
                "ARCADE_REQUIRE_POSTGRES=1 but ARCADE_TEST_POSTGRES_URL is not set"
            );
            eprintln!(
                "ARCADE_TEST_POSTGRES_URL is not set: skipped (scripts/test.sh starts a PostgreSQL)"
            );
            None
        }
    }
}

/// A fresh database of its own on the test PostgreSQL.
fn fresh_database(url: &str) -> String {
    arcade_data::pg::create_fresh_database(url, "arcade_e2e").expect("create a database")
}

/// Two guests play a pong 1v1 to 1 point on `server`; returns the match id once its record
/// is readable over REST, and the record.
async fn play_a_match(server: &Server) -> (String, Value) {
    let match_id = common::play_pong_to_end(server).await;
    let record = fetch_record(server, &match_id).await;
    (match_id, record)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_on_postgres_reads_back_over_rest_and_survives_a_restart() {
    let Some(url) = postgres_url() else { return };
    let database = fresh_database(&url);
    let server = Server::start(&["--database-url", &database]);
    let health = get_json(&server, "/health/details").await;
    assert_eq!(health["database"]["backend"], "postgres", "{health}");
    assert_eq!(health["database"]["ok"], true, "{health}");

    let (match_id, record) = play_a_match(&server).await;
    assert_eq!(record["id"], match_id.as_str());
    assert_eq!(record["game"], "pong");
    assert_eq!(record["players"].as_array().unwrap().len(), 2);
    let winner = record["players"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["result"] == "win")
        .expect("a winner");
    // Guests are stored only when needed (no `players` row), but their ratings are: the
    // winner leads the board.
    let board = get_json(&server, "/api/leaderboard?game=pong&limit=10").await;
    assert_eq!(board["players"][0]["player"]["id"], winner["id"], "{board}");
    let listed = get_json(&server, "/api/matches").await;
    assert_eq!(listed["matches"][0]["id"], match_id.as_str(), "{listed}");
    // No SQLite file was written: the data is in PostgreSQL.
    assert!(!server.dir.path().join("arcade.db").exists());
    assert!(server.terminate().success());

    let again = Server::start(&["--database-url", &database]);
    assert_eq!(fetch_record(&again, &match_id).await, record);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arcade_migrate_copies_a_database_filled_by_the_server() {
    let Some(url) = postgres_url() else { return };
    let on_sqlite = Server::start(&[]);
    let (match_id, record) = play_a_match(&on_sqlite).await;
    let visits = common::post_json(&on_sqlite, "/api/visit").await;
    let file = on_sqlite.dir.path().join("arcade.db");
    let dir = on_sqlite.dir.clone();
    assert!(on_sqlite.terminate().success());

    let database = fresh_database(&url);
    // (new matches, new players) expected of a run
    let migrate = |(new_matches, new_players): (u32, u32)| {
        let output = Command::new(env!("CARGO_BIN_EXE_arcade"))
            .arg("migrate")
            .arg("--from")
            .arg(&file)
            .arg("--to")
            .arg(&database)
            .output()
            .expect("arcade migrate runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stdout}\n{stderr}");
        assert!(stderr.contains("copying matches: 1/1"), "{stderr}");
        assert!(
            stdout.contains(&format!("matches 1 ({new_matches} new)")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("players 2 ({new_players} new)")),
            "{stdout}"
        );
        stdout
    };
    migrate((1, 2));
    migrate((0, 0)); // idempotent: nothing is copied twice

    let on_postgres = Server::start_in(dir, &["--database-url", &database]);
    assert_eq!(fetch_record(&on_postgres, &match_id).await, record);
    let counted = get_json(&on_postgres, "/api/visits").await;
    assert_eq!(counted["total"], visits["total"], "{counted} {visits}");
}

#[test]
fn redis_without_a_database_url_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_arcade"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--redis",
            "redis://127.0.0.1:6379",
        ])
        .arg("--db")
        .arg(dir.path().join("arcade.db"))
        .env_remove("ARCADE_DATABASE_URL")
        .output()
        .expect("arcade runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--redis needs --database-url"), "{stderr}");
    assert!(!dir.path().join("arcade.db").exists(), "nothing started");
}
