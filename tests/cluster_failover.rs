//! Failover (issue 18 item 6), over real PostgreSQL and Redis: the owner of a live match is
//! killed (`kill -9`) or drained (SIGTERM) mid-match; a surviving instance adopts the match
//! from its last checkpoint, the players reconnect (through nginx, with the token they hold)
//! and are seated back, the match is played to its end, and PostgreSQL holds its record
//! exactly once with every point, those scored before the owner died included.

mod common;

use std::time::Duration;

use common::cluster::ClusterSpec;
use common::{Client, WAIT, fetch_record, http};
use serde_json::{Value, json};

/// Long enough that a loaded machine reconnects within it.
const GRACE: &[&str] = &["--reconnect-grace", "30s"];

/// Plays both sides (dodging) until the first point; returns the score after it.
async fn play_first_point(ada: Client, bob: Client, match_id: &str) -> (Client, Client, Value) {
    let is_point =
        |message: &Value| message["type"] == "match.event" && message["data"]["kind"] == "point";
    let ((ada_point, _, ada), (_, _, bob)) = tokio::join!(
        common::dodge_until(ada, match_id.to_owned(), "left", is_point),
        common::dodge_until(bob, match_id.to_owned(), "right", is_point),
    );
    (ada, bob, ada_point["data"]["score"].clone())
}

/// The reply to request `id`, or `None` once the connection closes.
async fn answer_to(client: &mut Client, id: &str) -> Option<Value> {
    loop {
        match client.next_message().await {
            Some(Ok(message)) if message["requestId"] == id => return Some(message),
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

/// Waits for `client` to be seated back into `match_id` (its `match.start`).
async fn seated_back(client: &mut Client, match_id: &str) {
    let start = tokio::time::timeout(WAIT * 2, client.recv_type("match.start"))
        .await
        .expect("seated back within 20 s");
    assert_eq!(start["data"]["matchId"], match_id, "{start}");
}

/// Plays both to the end; asserts a score-limit end for both.
async fn finish(ada: Client, bob: Client, match_id: &str) {
    let (ada_end, bob_end) = tokio::join!(
        common::dodge_until_end(ada, match_id.to_owned(), "left"),
        common::dodge_until_end(bob, match_id.to_owned(), "right"),
    );
    assert_eq!(ada_end.0["data"]["reason"], "score_limit", "{}", ada_end.0);
    assert_eq!(bob_end.0["data"]["reason"], "score_limit", "{}", bob_end.0);
}

/// The record of `match_id` is stored once, ended by the score limit, and counts `before`
/// (the score `[left, right]` when the owner went away).
async fn recorded_once(server: &common::Server, match_id: &str, before: &Value) {
    let record = fetch_record(server, match_id).await;
    assert_eq!(record["reason"], "score_limit", "{record}");
    let players = record["players"].as_array().unwrap();
    let score_of = |seat: &str| {
        players
            .iter()
            .find(|player| player["seat"] == seat)
            .and_then(|player| player["score"].as_u64())
            .unwrap()
    };
    let (left, right) = (score_of("left"), score_of("right"));
    assert_eq!(left.max(right), 3, "{record}");
    assert!(
        left >= before[0].as_u64().unwrap() && right >= before[1].as_u64().unwrap(),
        "the points before the failover count: {record} (before {before})"
    );
    assert_eq!(
        common::times_listed(server, match_id).await,
        1,
        "one record"
    );
    let replay = http()
        .get(server.url(&format!("/api/matches/{match_id}/replay")))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200, "the adopted match has its replay");
}

/// ada (on the owner) and bob (on another instance) in a pong 1v1 to 3 held by `owner`; bob
/// joins at once (his instance waits for the owner's live list to name the new match).
async fn start_match(owner: &common::Server, other: &common::Server) -> (Client, Client, String) {
    let mut ada = Client::connect(owner, "").await;
    let mut bob = Client::connect(other, "").await;
    let match_id = common::start_pong(&mut ada, &mut bob, 3).await;
    (ada, bob, match_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_owners_match_is_adopted_and_finished() {
    let Some(binary) = common::nginx::nginx_binary() else {
        return;
    };
    let Some(spec) = ClusterSpec::new(8, GRACE) else {
        return;
    };
    let (a, b, c) = (spec.start("a"), spec.start("b"), spec.start("c"));
    let nginx = common::nginx::start_nginx(&binary, &[&a.addr, &b.addr, &c.addr]);
    let (ada, bob, match_id) = start_match(&a, &b).await;
    let (ada, bob, before) = play_first_point(ada, bob, &match_id).await;
    // The point's checkpoint is taken at the next tick: give it a few ticks to reach Redis.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let token = ada.token();
    drop(ada);
    a.kill();

    // ada comes back through nginx with her token; bob never left his instance.
    let mut ada = Client::connect_url(&format!("ws://{}/ws?token={token}", nginx.addr)).await;
    let mut bob = bob;
    seated_back(&mut ada, &match_id).await;
    seated_back(&mut bob, &match_id).await;
    finish(ada, bob, &match_id).await;
    recorded_once(&c, &match_id, &before).await;
    let adopted = [&b, &c]
        .iter()
        .any(|server| server.log_text().contains("adopting the live matches"));
    assert!(adopted, "a survivor logged the adoption");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_owner_hands_its_matches_over() {
    let Some(spec) = ClusterSpec::new(9, GRACE) else {
        return;
    };
    let (a, b) = (spec.start("a"), spec.start("b"));
    let (ada, bob, match_id) = start_match(&a, &b).await;
    let (mut ada, bob, before) = play_first_point(ada, bob, &match_id).await;
    let token = ada.token();
    let mut late = Client::connect(&a, "").await;
    a.signal("TERM");
    // From the signal on, the draining instance takes no new match: until it closes this
    // socket, a `match.create` is refused `unavailable` (or was acked before the signal).
    let pong = json!({"game": "pong", "mode": "1v1"});
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        let asked = late.send_request("match.create", pong.clone()).await;
        let Some(answer) = answer_to(&mut late, &asked).await else {
            break; // closed: the drain went on before a refusal was seen
        };
        if answer["type"] == "error" {
            assert_eq!(answer["data"]["code"], "unavailable", "{answer}");
            break;
        }
        // Created before the signal was seen: given up again (a player holds one seat).
        let left = json!({"matchId": answer["data"]["matchId"]});
        let asked = late.send_request("match.leave", left).await;
        if answer_to(&mut late, &asked).await.is_none() {
            break;
        }
    }
    // The draining instance closes its sockets (1001) without ending the match.
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match ada.next_message().await {
                Some(Ok(message)) => assert_ne!(message["type"], "match.end", "{message}"),
                Some(Err(code)) => return code,
                None => return None,
            }
        }
    })
    .await;
    assert_eq!(closed.ok().flatten(), Some(1001));
    let status = a.wait_exit(WAIT);
    assert!(status.success(), "a drained instance exits 0: {status}");

    let mut ada = Client::connect(&b, &format!("?token={token}")).await;
    let mut bob = bob;
    seated_back(&mut ada, &match_id).await;
    seated_back(&mut bob, &match_id).await;
    finish(ada, bob, &match_id).await;
    recorded_once(&b, &match_id, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_checkpoint_of_a_dead_instance_is_dropped_and_logged() {
    let Some(spec) = ClusterSpec::new(5, &[]) else {
        return;
    };
    // A holder with no heartbeat (dead) whose hash holds bytes that are no checkpoint.
    for args in [
        &[
            "HSET",
            "arcade:5:held:ghost",
            "m_0000000000000001",
            "not a checkpoint",
        ][..],
        &["SADD", "arcade:5:holders", "ghost"][..],
    ] {
        let done = std::process::Command::new("redis-cli")
            .args(["-u", &spec.redis])
            .args(args)
            .output()
            .expect("redis-cli runs");
        assert!(done.status.success(), "{done:?}");
    }
    let a = spec.start("a");
    let deadline = std::time::Instant::now() + WAIT;
    while !a
        .log_text()
        .contains("an adopted checkpoint could not be read")
    {
        assert!(std::time::Instant::now() < deadline, "{}", a.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing else happened: the instance serves, and the bytes are gone from Redis (the
    // ghost's hash and the adopter's), so nobody adopts them again.
    let health = http().get(a.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let exists = |key: &str| {
        let out = std::process::Command::new("redis-cli")
            .args(["-u", &spec.redis, "EXISTS", key])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    };
    while exists("arcade:5:held:ghost") || exists("arcade:5:held:a") {
        assert!(
            std::time::Instant::now() < deadline,
            "the bad checkpoint stayed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
