//! Matchmaking end to end: `queue.join` pairs players into one match with every seat taken,
//! `queue.leave` and a closed socket leave the queue, and a queued player can neither create
//! nor take a seat elsewhere.

mod common;

use std::collections::HashSet;

use common::{Client, Server, http};
use serde_json::{Value, json};

async fn queue(client: &mut Client, game: &str, mode: &str) -> Value {
    client
        .request("queue.join", json!({"game": game, "mode": mode}))
        .await
}

/// The `match.start` each client gets: all for the same match, with `players` seated.
async fn one_match(clients: &mut [&mut Client], players: usize) -> (String, Vec<Value>) {
    let mut starts = Vec::new();
    for client in clients.iter_mut() {
        starts.push(client.recv_type("match.start").await);
    }
    let match_id = starts[0]["data"]["matchId"].as_str().unwrap().to_owned();
    for (client, start) in clients.iter().zip(&starts) {
        assert_eq!(start["data"]["matchId"], match_id.as_str(), "{start}");
        let seated = start["data"]["players"].as_array().unwrap();
        assert_eq!(seated.len(), players, "{start}");
        let mine = seated
            .iter()
            .find(|p| p["id"] == client.player_id().as_str())
            .expect("seated in the match");
        assert_eq!(start["data"]["seat"], mine["seat"]);
    }
    (match_id, starts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_queue_for_pong_1v1_and_get_one_match() {
    let server = Server::start(&[]);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;

    let joined = queue(&mut left, "pong", "1v1").await;
    assert_eq!(joined["type"], "ack", "{joined}");
    assert_eq!(joined["data"], json!({"queue": "pong:1v1"}));
    let joined = queue(&mut right, "pong", "1v1").await;
    assert_eq!(joined["data"]["queue"], "pong:1v1", "{joined}");

    let (match_id, starts) = one_match(&mut [&mut left, &mut right], 2).await;
    let seats: HashSet<&str> = starts
        .iter()
        .map(|s| s["data"]["seat"].as_str().unwrap())
        .collect();
    assert_eq!(seats, HashSet::from(["left", "right"]));
    assert_eq!(starts[0]["data"]["game"], "pong");
    assert_eq!(starts[0]["data"]["mode"], "1v1");

    let live: Value = http()
        .get(server.url("/api/matches/live"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = live["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == match_id.as_str())
        .expect("the queue match is live");
    assert_eq!(entry["players"].as_array().unwrap().len(), 2);

    // Seated now: a second queue.join is a conflict, and the queue is empty again.
    let again = queue(&mut left, "pong", "1v1").await;
    assert_eq!(again["data"]["code"], "conflict", "{again}");
    let left_queue = left.request("queue.leave", json!({})).await;
    assert_eq!(left_queue["data"]["code"], "not_found", "{left_queue}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_leave_and_a_closed_socket_leave_the_queue() {
    let server = Server::start(&[]);
    let mut leaver = Client::connect(&server, "").await;
    let mut closer = Client::connect(&server, "").await;
    let mut first = Client::connect(&server, "").await;
    let mut second = Client::connect(&server, "").await;

    assert_eq!(queue(&mut leaver, "pong", "1v1").await["type"], "ack");
    let left = leaver.request("queue.leave", Value::Null).await;
    assert_eq!(left["type"], "ack", "{left}");
    assert_eq!(left["data"], json!({"queue": "pong:1v1"}));
    let twice = leaver.request("queue.leave", json!({})).await;
    assert_eq!(twice["data"]["code"], "not_found", "{twice}");

    assert_eq!(queue(&mut closer, "pong", "1v1").await["type"], "ack");
    let closer_token = closer.token();
    closer.ws.close(None).await.unwrap();
    drop(closer);
    // The same player, from a new connection, is free to queue once the close is through
    // (`conflict` until then: the queue is the player's).
    let mut back = Client::connect(&server, &format!("?token={closer_token}")).await;
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let again = queue(&mut back, "pong", "1v1").await;
        if again["type"] == "ack" {
            break;
        }
        assert_eq!(again["data"]["code"], "conflict", "{again}");
        assert!(
            std::time::Instant::now() < deadline,
            "the closed socket left no queue"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(back.request("queue.leave", json!({})).await["type"], "ack");

    // Had the leaver or the closer stayed queued, being older it would have been paired
    // with `first`.
    assert_eq!(queue(&mut first, "pong", "1v1").await["type"], "ack");
    assert_eq!(queue(&mut second, "pong", "1v1").await["type"], "ack");
    let (_, starts) = one_match(&mut [&mut first, &mut second], 2).await;
    let ids: HashSet<String> = starts[0]["data"]["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, HashSet::from([first.player_id(), second.player_id()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_player_cannot_create_join_or_queue_twice() {
    let server = Server::start(&[]);
    let mut queued = Client::connect(&server, "").await;
    let mut host = Client::connect(&server, "").await;

    let created = host
        .request("match.create", json!({"game": "pong", "mode": "1v1"}))
        .await;
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    // A seated player cannot queue.
    let seated = queue(&mut host, "pong", "2v2").await;
    assert_eq!(seated["data"]["code"], "conflict", "{seated}");

    assert_eq!(queue(&mut queued, "pong", "2v2").await["type"], "ack");
    let create = queued
        .request("match.create", json!({"game": "pong", "mode": "1v1"}))
        .await;
    assert_eq!(create["type"], "error");
    assert_eq!(create["data"]["code"], "conflict", "{create}");
    let join = queued
        .request("match.join", json!({"matchId": match_id}))
        .await;
    assert_eq!(join["data"]["code"], "conflict", "{join}");
    // Watching is not playing: a queued player may spectate.
    let watch = queued
        .request(
            "match.join",
            json!({"matchId": match_id, "as": "spectator"}),
        )
        .await;
    assert_eq!(watch["type"], "ack", "{watch}");
    let other_queue = queue(&mut queued, "breakout", "versus").await;
    assert_eq!(other_queue["data"]["code"], "conflict", "{other_queue}");
    let same_queue = queue(&mut queued, "pong", "2v2").await;
    assert_eq!(same_queue["data"]["code"], "conflict", "{same_queue}");

    // Modes without an opponent to wait for, and modes of another game, are refused.
    for (game, mode) in [("pong", "vs_bot"), ("breakout", "solo"), ("pong", "versus")] {
        let refused = queue(&mut host, game, mode).await;
        assert_eq!(
            refused["data"]["code"], "bad_request",
            "{game} {mode}: {refused}"
        );
    }
    let unknown = queue(&mut host, "chess", "1v1").await;
    assert_eq!(unknown["data"]["code"], "bad_request", "{unknown}");

    // After leaving the queue, creating works.
    assert_eq!(
        queued.request("queue.leave", json!({})).await["type"],
        "ack"
    );
    let create = queued
        .request("match.create", json!({"game": "pong", "mode": "1v1"}))
        .await;
    assert_eq!(create["type"], "ack", "{create}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_players_queue_for_pong_2v2_and_fill_every_seat() {
    let server = Server::start(&[]);
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut client = Client::connect(&server, "").await;
        let joined = queue(&mut client, "pong", "2v2").await;
        assert_eq!(joined["data"]["queue"], "pong:2v2", "{joined}");
        clients.push(client);
    }
    let mut refs: Vec<&mut Client> = clients.iter_mut().collect();
    let (_, starts) = one_match(&mut refs, 4).await;
    let seats: HashSet<&str> = starts
        .iter()
        .map(|s| s["data"]["seat"].as_str().unwrap())
        .collect();
    assert_eq!(
        seats,
        HashSet::from(["left_back", "left_front", "right_back", "right_front"])
    );
    assert_eq!(starts[0]["data"]["mode"], "2v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_queue_for_breakout_versus() {
    let server = Server::start(&[]);
    let mut one = Client::connect(&server, "").await;
    let mut two = Client::connect(&server, "").await;
    for client in [&mut one, &mut two] {
        let joined = queue(client, "breakout", "versus").await;
        assert_eq!(joined["data"]["queue"], "breakout:versus", "{joined}");
    }
    let (_, starts) = one_match(&mut [&mut one, &mut two], 2).await;
    assert_eq!(starts[0]["data"]["game"], "breakout");
    let seats: HashSet<&str> = starts
        .iter()
        .map(|s| s["data"]["seat"].as_str().unwrap())
        .collect();
    assert_eq!(seats, HashSet::from(["p1", "p2"]));
}
