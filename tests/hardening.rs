//! Issue 15's hardening, over real sockets against the real binary (test threads only): a
//! `match.end` is never a lie (kill -9 right after it, the match is in history), slowloris
//! sockets are closed and connections capped, and the contract slips (413, JSON bodies on
//! 414/431/400, 1007, `ws.ping` data, login name checks, `/health/details` path).

mod common;

use std::time::{Duration, Instant};

use common::{Client, Server, http};
use serde_json::json;

/// How many times the crash test kills the server right after a `match.end`.
const CRASHES: u64 = 20;

/// A client told of a match's end finds it in history even when the server is killed
/// (SIGKILL, by pid) 0-5 ms after the client saw `match.end`, twenty times over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_end_survives_a_kill_right_after_it() {
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
    let mut ended: Vec<String> = Vec::new();
    for attempt in 0..CRASHES {
        let server = Server::start_in(dir.clone(), &[]);
        if let Some(previous) = ended.last() {
            assert_in_history(&server, previous).await;
        }
        let mut left = Client::connect(&server, "").await;
        let mut right = Client::connect(&server, "").await;
        let match_id = common::start_pong(&mut left, &mut right, 5).await;
        right
            .send_request("match.leave", json!({"matchId": match_id}))
            .await;
        let end = left.recv_type("match.end").await;
        let seen = Instant::now();
        assert_eq!(end["data"]["reason"], "forfeit", "{end}");
        // 0, 1, ... 5 ms after the client saw it.
        let delay = Duration::from_millis(attempt % 6);
        while seen.elapsed() < delay {
            std::hint::spin_loop();
        }
        server.kill();
        ended.push(match_id);
    }
    let server = Server::start_in(dir, &[]);
    let mut lost = Vec::new();
    for match_id in &ended {
        let response = http()
            .get(server.url(&format!("/api/matches/{match_id}")))
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            lost.push(match_id.clone());
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {CRASHES} matches announced as ended are not in history: {lost:?}",
        lost.len()
    );
}

/// Asserts (once, no waiting: the server just started) that a match is in history.
async fn assert_in_history(server: &Server, match_id: &str) {
    let response = http()
        .get(server.url(&format!("/api/matches/{match_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{match_id} is in history");
}
