//! The walking skeleton end to end: two players play a Pong 1v1 match to `match.end` while a
//! spectator watches; the record is read over REST, and again after a restart on the same
//! database.

mod common;

use common::{Client, Server, dodge_until_end, fetch_record, get_json, http};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_players_play_pong_to_the_end_and_the_record_survives_a_restart() {
    let server = Server::start(&[]);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let mut spectator = Client::connect(&server, "").await;
    assert_ne!(left.player_id(), right.player_id());

    let created = left
        .request(
            "match.create",
            json!({"game": "pong", "mode": "1v1", "options": {"scoreLimit": 1}}),
        )
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    assert!(match_id.starts_with("m_"));

    let listed = spectator.request("match.list", json!({})).await;
    let live = listed["data"]["matches"].as_array().unwrap();
    let entry = live
        .iter()
        .find(|m| m["id"] == match_id.as_str())
        .expect("listed as live");
    assert_eq!(entry["phase"], "waiting");
    assert_eq!(entry["players"].as_array().unwrap().len(), 1);

    let watched = spectator
        .request(
            "match.join",
            json!({"matchId": match_id, "as": "spectator"}),
        )
        .await;
    assert_eq!(watched["type"], "ack", "{watched}");
    assert_eq!(watched["data"]["seat"], Value::Null);

    let joined = right
        .request("match.join", json!({"matchId": match_id}))
        .await;
    assert_eq!(joined["type"], "ack", "{joined}");
    assert_eq!(joined["data"]["seat"], "right");

    let third = Client::connect(&server, "").await;
    let mut third = third;
    let full = third
        .request("match.join", json!({"matchId": match_id}))
        .await;
    assert_eq!(full["type"], "error");
    assert_eq!(full["data"]["code"], "conflict");

    for client in [&mut left, &mut right, &mut spectator] {
        let start = client.recv_type("match.start").await;
        assert_eq!(start["data"]["matchId"], match_id.as_str());
        assert_eq!(start["data"]["game"], "pong");
        assert_eq!(start["data"]["players"].as_array().unwrap().len(), 2);
    }

    let live = http()
        .get(server.url("/api/matches/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let live: Value = live.json().await.unwrap();
    let entry = live["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == match_id.as_str());
    assert_eq!(entry.expect("live over REST")["spectators"], 1);

    let left_id = left.player_id();
    let right_id = right.player_id();
    let left_play = tokio::spawn(dodge_until_end(left, match_id.clone(), "left"));
    let right_play = tokio::spawn(dodge_until_end(right, match_id.clone(), "right"));
    let watch = tokio::spawn(dodge_until_end(spectator, match_id.clone(), "spectator"));
    let (left_end, left_states) = left_play.await.unwrap();
    let (right_end, _) = right_play.await.unwrap();
    let (watch_end, watch_states) = watch.await.unwrap();
    assert!(left_states > 60, "states flowed: {left_states}");
    assert!(
        watch_states > 60,
        "the spectator saw states: {watch_states}"
    );
    for end in [&left_end, &right_end, &watch_end] {
        assert_eq!(end["data"]["matchId"], match_id.as_str());
        assert_eq!(end["data"]["reason"], "score_limit");
    }
    let players = left_end["data"]["players"].as_array().unwrap();
    let winners: Vec<_> = players.iter().filter(|p| p["result"] == "win").collect();
    assert_eq!(winners.len(), 1, "{left_end}");
    assert_eq!(winners[0]["score"], 1);

    // The record lands in SQLite through the writer; poll briefly for it.
    let record = fetch_record(&server, &match_id).await;
    check_record(&record, &match_id, &left_id, &right_id);

    let listed: Value = http()
        .get(server.url(&format!("/api/matches?player={left_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["matches"][0]["id"], match_id.as_str());
    assert_eq!(listed["next"], Value::Null);

    // Both guests played, so both are stored: their player pages answer.
    for id in [&left_id, &right_id] {
        let player = get_json(&server, &format!("/api/players/{id}")).await;
        assert_eq!(player["id"], id.as_str(), "{player}");
    }

    let dir = server.dir.clone();
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
    let server = Server::start_in(dir, &[]);
    let again = fetch_record(&server, &match_id).await;
    assert_eq!(again, record, "the same record after a restart");
}

fn check_record(record: &Value, match_id: &str, left_id: &str, right_id: &str) {
    assert_eq!(record["id"], match_id);
    assert_eq!(record["game"], "pong");
    assert_eq!(record["mode"], "1v1");
    assert_eq!(record["options"]["scoreLimit"], 1);
    assert!(record["seed"].is_u64());
    assert!(record["startedAt"].as_str().unwrap().ends_with('Z'));
    assert!(record["endedAt"].as_str().unwrap() >= record["startedAt"].as_str().unwrap());
    assert!(
        record["ticks"].as_u64().unwrap() > 180,
        "countdown alone is 180 ticks"
    );
    assert_eq!(record["tickRate"], 60);
    assert_eq!(record["reason"], "score_limit");
    let players = record["players"].as_array().unwrap();
    assert_eq!(players.len(), 2);
    let left = players.iter().find(|p| p["seat"] == "left").unwrap();
    let right = players.iter().find(|p| p["seat"] == "right").unwrap();
    assert_eq!(left["id"], left_id);
    assert_eq!(right["id"], right_id);
    let results = [
        left["result"].as_str().unwrap(),
        right["result"].as_str().unwrap(),
    ];
    assert!(
        results == ["win", "loss"] || results == ["loss", "win"],
        "{results:?}"
    );
}
