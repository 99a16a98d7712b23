//! `--keep-live-matches` over real sockets (issue 18 item 6, one process on SQLite): SIGTERM
//! keeps the live matches in the database, the next start restores them paused, the players
//! come back with their tokens and finish; nobody back: the grace rules end it; without the
//! flag the documented `aborted` end.

mod common;

use std::process::Command;

use common::{Client, Server, fetch_record, get_json, http, start_pong};
use serde_json::{Value, json};

const KEEP: &[&str] = &["--keep-live-matches", "--reconnect-grace", "20s"];

fn is_event(message: &Value, kind: &str) -> bool {
    message["type"] == "match.event" && message["data"]["kind"] == kind
}

/// Plays one side until the next `point` event: this side dodges the ball when it comes
/// (so a point is scored soon). Returns the point's score `[left, right]`.
async fn dodge_until_point(client: &mut Client, match_id: &str, seat: &str) -> [u64; 2] {
    let mut seq = 0u64;
    let mut states = 0u64;
    loop {
        let message = match client.backlog.pop_front() {
            Some(message) => message,
            None => client
                .next_message()
                .await
                .expect("open")
                .expect("no close"),
        };
        if is_event(&message, "point") {
            let score = message["data"]["score"].as_array().unwrap();
            return [score[0].as_u64().unwrap(), score[1].as_u64().unwrap()];
        }
        assert_ne!(message["type"], "match.end", "{message}");
        if message["type"] != "state" {
            continue;
        }
        states += 1;
        let Some(axis) = common::dodge_axis(&message["data"], seat) else {
            continue;
        };
        if states.is_multiple_of(6) {
            seq += 1;
            let input = json!({"matchId": match_id, "seq": seq, "axis": axis});
            client.send(json!({"type": "input", "data": input})).await;
        }
    }
}

/// Reads until the server closes the socket: asserts that no `match.end` came first and
/// returns the close code.
async fn closed_without_end(client: &mut Client) -> Option<u16> {
    loop {
        match client.next_message().await {
            Some(Ok(message)) => assert_ne!(message["type"], "match.end", "{message}"),
            Some(Err(code)) => return code,
            None => return None,
        }
    }
}

/// `GET /api/matches/{id}`'s status.
async fn record_status(server: &Server, match_id: &str) -> u16 {
    http()
        .get(server.url(&format!("/api/matches/{match_id}")))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_match_is_finished_after_the_restart_and_recorded_once() {
    let server = Server::start(KEEP);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let (left_token, right_token) = (left.token(), right.token());
    let (left_id, right_id) = (left.player_id(), right.player_id());
    let match_id = start_pong(&mut left, &mut right, 2).await;

    // One point, then SIGTERM.
    let (before, _) = tokio::join!(
        dodge_until_point(&mut left, &match_id, "left"),
        dodge_until_point(&mut right, &match_id, "right"),
    );
    assert_eq!(before[0] + before[1], 1, "{before:?}");
    let dir = server.dir.clone();
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
    assert_eq!(closed_without_end(&mut left).await, Some(1001));
    assert_eq!(closed_without_end(&mut right).await, Some(1001));

    // The next start: the match is back, paused, and not recorded.
    let server = Server::start_in(dir.clone(), KEEP);
    assert_eq!(record_status(&server, &match_id).await, 404);
    let live = get_json(&server, "/api/matches/live").await;
    let listed = live["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == match_id.as_str())
        .unwrap_or_else(|| panic!("{live}"))
        .clone();
    assert_eq!(listed["phase"], "paused", "{listed}");
    assert_eq!(listed["score"], json!(before), "{listed}");

    // Both come back with their tokens: seated back, a fresh countdown.
    let mut left = Client::connect(&server, &format!("?token={left_token}")).await;
    let start = left.recv_type("match.start").await;
    assert_eq!(start["data"]["matchId"], match_id.as_str());
    assert_eq!(start["data"]["seat"], "left");
    left.recv_where(|m| is_event(m, "player_back")).await;
    let mut right = Client::connect(&server, &format!("?token={right_token}")).await;
    assert_eq!(
        right.recv_type("match.start").await["data"]["seat"],
        "right"
    );
    left.recv_where(|m| is_event(m, "player_back") && m["data"]["player"] == right_id.as_str())
        .await;
    left.recv_where(|m| m["type"] == "state" && m["data"]["phase"] == "countdown")
        .await;

    // Played to the end: the points before the restart count.
    let (left_end, right_end) = tokio::join!(
        common::dodge_until_end(left, match_id.clone(), "left"),
        common::dodge_until_end(right, match_id.clone(), "right"),
    );
    for end in [&left_end.0, &right_end.0] {
        assert_eq!(end["data"]["reason"], "score_limit", "{end}");
    }
    let record = fetch_record(&server, &match_id).await;
    assert_eq!(record["reason"], "score_limit", "{record}");
    let score_of = |id: &str| {
        record["players"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()["score"]
            .as_u64()
            .unwrap()
    };
    let (left_score, right_score) = (score_of(&left_id), score_of(&right_id));
    assert!(
        left_score >= before[0] && right_score >= before[1],
        "{record}"
    );
    assert_eq!(left_score.max(right_score), 2, "{record}");
    let ended: Vec<u64> = left_end.0["data"]["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["score"].as_u64().unwrap())
        .collect();
    assert_eq!(ended.iter().sum::<u64>(), left_score + right_score);

    // Recorded once, with a replay that plays.
    let history = get_json(&server, &format!("/api/matches?player={left_id}")).await;
    let ids: Vec<&Value> = history["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert_eq!(ids, [match_id.as_str()], "{history}");
    let replay = http()
        .get(server.url(&format!("/api/matches/{match_id}/replay")))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    let status = server.terminate();
    assert!(status.success());
    let output = Command::new(env!("CARGO_BIN_EXE_arcade"))
        .args(["replay", "verify", "--db"])
        .arg(dir.path().join("arcade.db"))
        .args(["--match", &match_id])
        .output()
        .expect("arcade replay verify runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    // Restored once: the rows were deleted, a third start restores nothing.
    let server = Server::start_in(dir, KEEP);
    let live = get_json(&server, "/api/matches/live").await;
    assert_eq!(live["matches"], json!([]), "{live}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_match_nobody_returns_to_ends_by_the_grace_rules() {
    let args = ["--keep-live-matches", "--reconnect-grace", "2s"];
    let server = Server::start(&args);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let match_id = start_pong(&mut left, &mut right, 5).await;
    let dir = server.dir.clone();
    assert!(server.terminate().success());
    assert_eq!(closed_without_end(&mut left).await, Some(1001));

    let server = Server::start_in(dir, &args);
    assert_eq!(record_status(&server, &match_id).await, 404);
    // Everyone away past the grace: no one left to win, so it ends `aborted`, recorded.
    let record = fetch_record(&server, &match_id).await;
    assert_eq!(record["reason"], "aborted", "{record}");
    let live = get_json(&server, "/api/matches/live").await;
    assert_eq!(live["matches"], json!([]), "{live}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_sigterm_aborts_and_records_as_before() {
    let server = Server::start(&[]);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let match_id = start_pong(&mut left, &mut right, 5).await;
    let dir = server.dir.clone();
    assert!(server.terminate().success());
    let end = left.recv_type("match.end").await;
    assert_eq!(end["data"]["reason"], "aborted");

    let server = Server::start_in(dir, &[]);
    let record = fetch_record(&server, &match_id).await;
    assert_eq!(record["reason"], "aborted");
    let live = get_json(&server, "/api/matches/live").await;
    assert_eq!(live["matches"], json!([]), "{live}");
}
