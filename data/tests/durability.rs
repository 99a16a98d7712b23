//! Acknowledged writes survive `kill -9`: a child process (this test binary, re-run on one
//! test) writes and reports what was acknowledged; the parent kills it mid-stream and checks
//! every acknowledged write is in the file (or, when `ARCADE_TEST_POSTGRES_URL` is set, in
//! PostgreSQL too).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arcade_data::{Database, Store};
use arcade_systems::model::{Game, MatchId};

/// Set in the child's environment to the database path or PostgreSQL URL.
const CHILD_DB: &str = "ARCADE_DATA_DURABILITY_CHILD_DB";
/// How many acknowledged records the parent waits for before it kills the child.
const KILL_AFTER_ACKED: u64 = 2000;
/// How long the parent waits for that at most.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// The child: writes forever, printing `acked N visits V` after each flush returns.
#[test]
fn durability_child() {
    let Ok(target) = std::env::var(CHILD_DB) else {
        return;
    };
    let database = if target.starts_with("postgres") {
        Database::Postgres(target)
    } else {
        Database::Sqlite(target.into())
    };
    let store = Store::open_database(&database).unwrap();
    let mut id = 0;
    loop {
        for _ in 0..7 {
            id += 1;
            store.record_match(common::record(id, Game::Pong, 10, 11), 0);
        }
        let visits = store.increment_visits().unwrap();
        store.flush().unwrap();
        println!("acked {id} visits {visits}");
    }
}

#[test]
fn every_acknowledged_write_survives_kill_9() {
    common::each_backend(survives_kill_9);
}

fn survives_kill_9(db: &common::TempDb) {
    let target = match &db.database {
        Database::Sqlite(path) => path.display().to_string(),
        Database::Postgres(url) => url.clone(),
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "durability_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &target)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let (mut acked, mut visits) = (0u64, 0i64);
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["acked", id, "visits", total] = words.as_slice() {
            (acked, visits) = (id.parse().unwrap(), total.parse().unwrap());
        }
        if acked >= KILL_AFTER_ACKED || started.elapsed() > CHILD_DEADLINE {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, no close
    child.wait().unwrap();
    assert!(
        acked >= KILL_AFTER_ACKED,
        "the child acknowledged only {acked} records"
    );

    let store = common::open(db);
    for id in 1..=acked {
        assert!(
            store.get_match(MatchId(id)).unwrap().is_some(),
            "acknowledged match {id} lost"
        );
    }
    assert!(store.visits().unwrap() >= visits);
}
