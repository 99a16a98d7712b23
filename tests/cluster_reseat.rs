//! A player who drops from a match another instance owns and reconnects with its token to any
//! instance is seated back at once (issue 18 item 4): `match.start`, `player_back`, a fresh
//! countdown, and the match played to its end with one record. Needs
//! `ARCADE_TEST_POSTGRES_URL` and `ARCADE_TEST_REDIS_URL` (scripts/test.sh starts both):
//! skipped with a note without them, failing when `ARCADE_REQUIRE_POSTGRES=1`.

mod common;

use std::time::{Duration, Instant};

use common::cluster::start_cluster;
use common::{Client, Server, WAIT, get_json};
use serde_json::json;

/// The Redis database this file's tests own (tests/cluster.rs holds 1 to 4).
const REDIS_DB: u32 = 7;

/// Waits until `server` lists `match_id` among the cluster's live matches.
async fn listed_on(server: &Server, match_id: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let body = get_json(server, "/api/matches/live").await;
        let listed = body["matches"]
            .as_array()
            .is_some_and(|all| all.iter().any(|m| m["id"] == match_id));
        if listed {
            return;
        }
        assert!(Instant::now() < deadline, "{match_id} never listed: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_dropped_from_a_match_elsewhere_is_reseated_on_any_instance() {
    let grace = ["--reconnect-grace", "10s"];
    let Some(servers) = start_cluster(&["ra", "rb", "rc"], REDIS_DB, &grace) else {
        return;
    };
    let (a, b, c) = (&servers[0], &servers[1], &servers[2]);
    let mut ada = Client::connect(a, "").await;
    let mut bob = Client::connect(b, "").await;
    let created = ada
        .request(
            "match.create",
            json!({"game": "pong", "mode": "1v1", "options": {"scoreLimit": 2}}),
        )
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    listed_on(b, &match_id).await;
    let joined = bob
        .request("match.join", json!({"matchId": match_id}))
        .await;
    assert_eq!(joined["type"], "ack", "{joined}");
    assert_eq!(joined["data"]["seat"], "right", "{joined}");
    ada.recv_type("match.start").await;
    bob.recv_type("match.start").await;
    bob.recv_where(|m| m["type"] == "state" && m["data"]["phase"] == "playing")
        .await;

    // bob's socket on b closes: a pauses the match for his grace.
    let (token, bob_id) = (bob.token(), bob.player_id());
    bob.ws.close(None).await.unwrap();
    drop(bob);
    let paused = ada
        .recv_where(|m| m["type"] == "match.event" && m["data"]["kind"] == "paused")
        .await;
    assert_eq!(paused["data"]["player"], bob_id.as_str(), "{paused}");

    // He comes back through c with his token, asking nothing: he is seated back at once.
    let mut back = Client::connect(c, &format!("?token={token}")).await;
    assert_eq!(back.player_id(), bob_id, "the same player");
    let start = back.recv_type("match.start").await;
    assert_eq!(start["data"]["matchId"], match_id.as_str(), "{start}");
    assert_eq!(start["data"]["seat"], "right", "{start}");
    let returned = ada
        .recv_where(|m| m["type"] == "match.event" && m["data"]["kind"] == "player_back")
        .await;
    assert_eq!(returned["data"]["player"], bob_id.as_str(), "{returned}");
    ada.recv_where(|m| m["type"] == "state" && m["data"]["phase"] == "countdown")
        .await;
    back.recv_where(|m| m["type"] == "state" && m["data"]["phase"] == "countdown")
        .await;

    // His inputs from c reach a, a's states reach c: the match is played to its end.
    let (ada_end, back_end) = tokio::join!(
        common::dodge_until_end(ada, match_id.clone(), "left"),
        common::dodge_until_end(back, match_id.clone(), "right"),
    );
    assert_eq!(ada_end.0["data"]["reason"], "score_limit", "{}", ada_end.0);
    assert_eq!(
        back_end.0["data"]["reason"], "score_limit",
        "{}",
        back_end.0
    );
    assert!(back_end.1 > 10, "bob saw the match: {} states", back_end.1);

    // One record, with the score the players were told.
    let record = common::fetch_record(b, &match_id).await;
    let ended = ada_end.0["data"]["players"].as_array().unwrap();
    let recorded = record["players"].as_array().unwrap();
    assert_eq!(recorded.len(), 2, "{record}");
    for player in ended {
        let stored = recorded
            .iter()
            .find(|p| p["id"] == player["id"])
            .unwrap_or_else(|| panic!("{} not in {record}", player["id"]));
        assert_eq!(stored["score"], player["score"], "{record}");
        assert_eq!(stored["result"], player["result"], "{record}");
    }
    assert!(
        ended.iter().any(|p| p["score"] == 2),
        "someone reached the limit: {}",
        ada_end.0
    );
    let listed = get_json(c, &format!("/api/matches?player={bob_id}")).await;
    let same = listed["matches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["id"] == match_id.as_str())
        .count();
    assert_eq!(same, 1, "{listed}");
}
