//! A dependency that goes away (issue 18 item 7): PostgreSQL stopped mid-play and started
//! again. The match in play finishes and its players get `match.end` at once; `/health` says
//! the database is down and `/health/details` counts the held record; once PostgreSQL is back
//! the record is written, and no finished record is lost or written twice. While it is away,
//! reads fail fast (the circuit breaker opens, `arcade_db_breaker_open` is 1) and resume
//! once it is back. Runs a PostgreSQL of its own (so that stopping it touches no other test)
//! when `ARCADE_TEST_POSTGRES_URL` is set (scripts/test.sh installs PostgreSQL); skipped with
//! a note otherwise, failing when `ARCADE_REQUIRE_POSTGRES=1`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{NO_HTTP_LIMITS, Server, WAIT, fetch_record, get_json, http, metric};
use serde_json::Value;

/// The folder of PostgreSQL's server programs (Debian keeps them per version).
fn pg_bindir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.flatten()
                .map(|entry| entry.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().unwrap_or_else(|| PathBuf::from("/usr/bin"))
}

/// Runs `program` as the owner of the data folder: PostgreSQL refuses to run as root.
fn as_postgres(program: &Path) -> Command {
    if unsafe { libc_geteuid() } == 0 {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A PostgreSQL of the test's own on a free loopback port, stopped (by its pid) when dropped.
struct OwnPostgres {
    dir: tempfile::TempDir,
    port: u16,
    /// The running server's wrapper process (`runuser` as root), reaped on stop.
    child: Option<std::process::Child>,
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Command::new("chmod")
            .arg("777")
            .arg(dir.path())
            .status()
            .unwrap();
        let initdb = as_postgres(&pg_bindir().join("initdb"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-U", "arcade", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(initdb.success(), "initdb failed");
        let mut postgres = OwnPostgres {
            dir,
            port,
            child: None,
        };
        postgres.run();
        postgres
    }

    /// Starts the server on the data folder and waits until it accepts connections.
    fn run(&mut self) {
        let child = as_postgres(&pg_bindir().join("postgres"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            .args(["-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err()
            || !self.dir.path().join("data/postmaster.pid").exists()
        {
            assert!(Instant::now() < deadline, "postgres did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (a fast shutdown: connections are cut) and waits until it is gone.
    fn stop(&mut self) {
        let pid_file = self.dir.path().join("data/postmaster.pid");
        let Ok(text) = std::fs::read_to_string(&pid_file) else {
            return;
        };
        let pid = text.lines().next().unwrap_or_default().trim().to_owned();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let deadline = Instant::now() + WAIT;
        while pid_file.exists() {
            assert!(Instant::now() < deadline, "postgres did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("postgres://arcade@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `/health/details`, whatever its status.
async fn details(server: &Server) -> Value {
    let response = http()
        .get(server.url("/health/details"))
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

async fn health_status(server: &Server) -> u16 {
    http()
        .get(server.url("/health"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_away_mid_play_loses_no_finished_record() {
    if std::env::var("ARCADE_TEST_POSTGRES_URL").is_err() {
        assert_ne!(
            std::env::var("ARCADE_REQUIRE_POSTGRES").as_deref(),
            Ok("1"),
            "ARCADE_REQUIRE_POSTGRES=1 but ARCADE_TEST_POSTGRES_URL is not set"
        );
        eprintln!("ARCADE_TEST_POSTGRES_URL is not set: skipped");
        return;
    }
    let mut postgres = OwnPostgres::start();
    let url = postgres.url();
    let mut args = vec!["--database-url", &url];
    args.extend_from_slice(NO_HTTP_LIMITS);
    let server = Server::start(&args);
    let before = common::play_pong_to_end(&server).await;
    fetch_record(&server, &before).await;

    // PostgreSQL goes away mid-play: the match still plays to its end, its players told at
    // once (a new match is refused meanwhile, below).
    let mut left = common::Client::connect(&server, "").await;
    let mut right = common::Client::connect(&server, "").await;
    let during = common::start_pong(&mut left, &mut right, 1).await;
    postgres.stop();
    let (left_end, right_end) = tokio::join!(
        common::dodge_until_end(left, during.clone(), "left"),
        common::dodge_until_end(right, during.clone(), "right"),
    );
    assert_eq!(left_end.0["data"]["reason"], "score_limit");
    assert_eq!(right_end.0["data"]["reason"], "score_limit");
    let deadline = Instant::now() + WAIT;
    loop {
        let details = details(&server).await;
        if details["database"]["heldRecords"] == 1 {
            assert_eq!(details["database"]["ok"], false, "{details}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the record was not held: {details}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(health_status(&server).await, 503);

    // Reads stop trying to connect: after a few failures the circuit breaker opens, and a
    // read fails fast with 503 `unavailable`.
    let deadline = Instant::now() + WAIT;
    while metric(&server, "arcade_db_breaker_open").await != 1.0 {
        assert!(Instant::now() < deadline, "the breaker did not open");
        let _ = http().get(server.url("/api/matches")).send().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let open = details(&server).await;
    assert_ne!(open["database"]["breaker"]["state"], "closed", "{open}");
    let asked = Instant::now();
    let response = http().get(server.url("/api/matches")).send().await.unwrap();
    let took = asked.elapsed();
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(took < Duration::from_millis(500), "a read took {took:?}");
    // No new match while the database is away (live ones go on).
    let mut late = common::Client::connect(&server, "").await;
    let pong = serde_json::json!({"game": "pong", "mode": "1v1"});
    let refused = late.request("match.create", pong.clone()).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["data"]["code"], "unavailable", "{refused}");

    // Back: reads work again once a probe finds it (the breaker waits at most 5 s).
    postgres.run();
    let deadline = Instant::now() + WAIT;
    loop {
        let response = http().get(server.url("/api/matches")).send().await.unwrap();
        if response.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "reads did not resume");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric(&server, "arcade_db_breaker_open").await, 0.0);
    let created = late.request("match.create", pong).await;
    assert_eq!(created["type"], "ack", "{created}");
    let closed = details(&server).await;
    assert_eq!(closed["database"]["breaker"]["state"], "closed", "{closed}");

    // The held record is written, exactly once, and the first one is still there.
    let record = fetch_record(&server, &during).await;
    assert_eq!(record["id"], during.as_str());
    assert_eq!(record["reason"], "score_limit");
    let deadline = Instant::now() + WAIT;
    while health_status(&server).await != 200 {
        assert!(Instant::now() < deadline, "/health did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let details = details(&server).await;
    assert_eq!(details["database"]["heldRecords"], 0, "{details}");
    let listed = get_json(&server, "/api/matches?limit=10").await;
    let ids: Vec<&str> = listed["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m: &Value| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [during.as_str(), before.as_str()], "{listed}");
}
