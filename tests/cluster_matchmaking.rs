//! Matchmaking and join codes across the instances of a cluster (issue 18 item 5): players
//! queued on different instances are paired (1v1 played to its end, 2v2 over three
//! instances, a burst of twenty), a player of a killed instance is never paired, and a join
//! code made on one instance works on another. Needs `ARCADE_TEST_POSTGRES_URL` and
//! `ARCADE_TEST_REDIS_URL` (scripts/test.sh starts both): skipped with a note without them,
//! failing when `ARCADE_REQUIRE_POSTGRES=1`.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::{Client, Server, WAIT, http};
use serde_json::{Value, json};

/// A cluster of `size` instances on a fresh PostgreSQL database and Redis database
/// `redis_db` (each test its own). Instance ids carry this process's id, so that queue entries
/// a killed earlier run left behind belong to dead instances (and are swept, never paired).
fn cluster(size: usize, redis_db: u32) -> Option<Vec<Server>> {
    let names: Vec<String> = (0..size)
        .map(|index| format!("mm{}-{index}", std::process::id()))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    common::cluster::start_cluster(&names, redis_db, &[])
}

/// `queue.join`, asserting its `ack`.
async fn queue(client: &mut Client, mode: &str) {
    let joined = client
        .request("queue.join", json!({"game": "pong", "mode": mode}))
        .await;
    assert_eq!(joined["type"], "ack", "{joined}");
    assert_eq!(joined["data"]["queue"], format!("pong:{mode}"), "{joined}");
}

/// The `match.start` a queued client gets, asserting that no other answer (an `ack` or an
/// `error` nobody asked for) comes before it.
async fn started(client: &mut Client) -> Value {
    let first = client
        .recv_where(|m| ["match.start", "ack", "error"].contains(&m["type"].as_str().unwrap_or("")))
        .await;
    assert_eq!(first["type"], "match.start", "{first}");
    let mine = first["data"]["players"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == client.player_id().as_str())
        .cloned()
        .expect("seated in the match it starts");
    assert_eq!(first["data"]["seat"], mine["seat"], "{first}");
    first
}

/// Both get the `match.start` of one match that seats the two of them.
async fn paired_together(first: &mut Client, second: &mut Client) {
    let start = started(first).await;
    let players: HashSet<String> = start["data"]["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        players,
        HashSet::from([first.player_id(), second.player_id()])
    );
    let other = started(second).await;
    assert_eq!(other["data"]["matchId"], start["data"]["matchId"]);
}

/// The sum of a metric over the instances.
async fn total(servers: &[Server], sample: &str) -> f64 {
    let mut sum = 0.0;
    for server in servers {
        sum += common::metric(server, sample).await;
    }
    sum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_two_queued_players_play_to_the_end_and_a_third_instance_watches() {
    let Some(binary) = common::nginx::nginx_binary() else {
        return;
    };
    let Some(servers) = cluster(3, 10) else {
        return;
    };
    let (a, b) = (&servers[0], &servers[1]);
    let upstreams: Vec<&str> = servers.iter().map(|server| server.addr.as_str()).collect();
    let nginx = common::nginx::start_nginx(&binary, &upstreams);
    let url = format!("ws://{}/ws", nginx.addr);
    // Through nginx (least_conn): one socket on each instance.
    let mut ada = Client::connect_url(&url).await;
    let mut bob = Client::connect_url(&url).await;
    let mut cy = Client::connect_url(&url).await;
    for server in &servers {
        let details: Value = http()
            .get(server.url("/health/details"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(details["connections"]["total"], 1, "{}", nginx.log());
    }
    queue(&mut ada, "1v1").await;
    queue(&mut bob, "1v1").await;
    let (ada_start, bob_start) = (started(&mut ada).await, started(&mut bob).await);
    let match_id = ada_start["data"]["matchId"].as_str().unwrap().to_owned();
    assert_eq!(bob_start["data"]["matchId"], match_id.as_str());
    let seats: HashSet<&str> = [&ada_start, &bob_start]
        .iter()
        .map(|start| start["data"]["seat"].as_str().unwrap())
        .collect();
    assert_eq!(seats, HashSet::from(["left", "right"]));
    let seat_of = |start: &Value| start["data"]["seat"].as_str().unwrap().to_owned();
    let (ada_seat, bob_seat) = (seat_of(&ada_start), seat_of(&bob_start));
    // The third watches from its own instance.
    let watching = cy
        .request(
            "match.join",
            json!({"matchId": match_id, "as": "spectator"}),
        )
        .await;
    assert_eq!(watching["type"], "ack", "{watching}");
    // A queue match plays to the default score: longer than one wait of `recv_type`.
    let watched = tokio::spawn(async move {
        loop {
            match cy.next_message().await {
                Some(Ok(message)) if message["type"] == "match.end" => return (message, cy),
                Some(Ok(_)) => continue,
                other => panic!("the spectator's connection ended: {other:?}"),
            }
        }
    });

    // Whoever owns it, the other's inputs and states cross: played to its end.
    let (ada_end, bob_end) = tokio::join!(
        common::dodge_until_end(ada, match_id.clone(), &ada_seat),
        common::dodge_until_end(bob, match_id.clone(), &bob_seat),
    );
    assert_eq!(ada_end.0["data"]["reason"], "score_limit", "{}", ada_end.0);
    assert_eq!(bob_end.0["data"]["reason"], "score_limit", "{}", bob_end.0);
    let (cy_end, _) = watched.await.unwrap();
    assert_eq!(cy_end["data"]["reason"], "score_limit", "{cy_end}");
    let record = common::fetch_record(b, &match_id).await;
    assert_eq!(record["players"].as_array().unwrap().len(), 2, "{record}");
    assert_eq!(common::times_listed(a, &match_id).await, 1, "one record");
    assert_eq!(
        total(&servers, "arcade_cluster_queue_pairs_total").await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_players_on_three_instances_are_seated_in_one_2v2() {
    let Some(servers) = cluster(3, 11) else {
        return;
    };
    let mut clients = vec![
        Client::connect(&servers[0], "").await,
        Client::connect(&servers[0], "?codec=msgpack").await,
        Client::connect(&servers[1], "?codec=compact").await,
        Client::connect(&servers[2], "").await,
    ];
    for client in &mut clients {
        queue(client, "2v2").await;
    }
    let mut match_ids = HashSet::new();
    let mut seats = HashSet::new();
    for client in &mut clients {
        let start = started(client).await;
        assert_eq!(start["data"]["players"].as_array().unwrap().len(), 4);
        match_ids.insert(start["data"]["matchId"].as_str().unwrap().to_owned());
        seats.insert(start["data"]["seat"].as_str().unwrap().to_owned());
    }
    assert_eq!(match_ids.len(), 1, "{match_ids:?}");
    assert_eq!(seats.len(), 4, "{seats:?}");
    // Every member gets the match's `state`, whichever instance it is on.
    for client in &mut clients {
        let state = client.recv_type("state").await;
        assert!(match_ids.contains(state["data"]["matchId"].as_str().unwrap()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_twenty_over_two_instances_makes_ten_matches() {
    let Some(servers) = cluster(2, 12) else {
        return;
    };
    let mut clients = Vec::new();
    for index in 0..20 {
        clients.push(Client::connect(&servers[index % 2], "").await);
    }
    // All at once: every `queue.join` is sent before any answer is read.
    let mut asked = Vec::new();
    for client in &mut clients {
        let data = json!({"game": "pong", "mode": "1v1"});
        asked.push(client.send_request("queue.join", data).await);
    }
    for (client, id) in clients.iter_mut().zip(&asked) {
        let joined = client.recv_where(|m| m["requestId"] == id.as_str()).await;
        assert_eq!(joined["type"], "ack", "{joined}");
    }
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    let starts = futures_util::future::join_all(clients.iter_mut().map(|client| async {
        let start = started(client).await;
        (client.player_id(), start)
    }))
    .await;
    for (player, start) in starts {
        let id = start["data"]["matchId"].as_str().unwrap().to_owned();
        members.entry(id).or_default().push(player);
    }
    assert_eq!(members.len(), 10, "{members:?}");
    let mut everyone = HashSet::new();
    for players in members.values() {
        assert_eq!(players.len(), 2, "{members:?}");
        for player in players {
            assert!(everyone.insert(player.clone()), "{player} paired twice");
        }
    }
    assert_eq!(everyone.len(), 20);
    assert_eq!(
        total(&servers, "arcade_cluster_queue_pairs_total").await,
        10.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_queued_on_a_killed_instance_is_never_paired() {
    let Some(mut servers) = cluster(2, 13) else {
        return;
    };
    let doomed = servers.pop().unwrap();
    let a = &servers[0];
    let mut ghost = Client::connect(&doomed, "").await;
    queue(&mut ghost, "1v1").await;
    // kill -9 of that instance's process, by its pid: its entry stays in Redis until found.
    doomed.kill();
    let mut live = Client::connect(a, "").await;
    queue(&mut live, "1v1").await;
    // Not paired with the dead instance's player: nothing starts while the heartbeat key
    // expires (5 s) and any group holding the ghost is discarded (3 s).
    let quiet = tokio::time::timeout(
        Duration::from_secs(8),
        live.recv_where(|m| m["type"] == "match.start"),
    )
    .await;
    assert!(
        quiet.is_err(),
        "paired with a dead instance's player: {quiet:?}"
    );
    // Still queued (at the front): the next live player is paired with it, not the ghost.
    let mut next = Client::connect(a, "").await;
    queue(&mut next, "1v1").await;
    paired_together(&mut live, &mut next).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_code_made_on_one_instance_works_on_another() {
    let Some(servers) = cluster(2, 14) else {
        return;
    };
    let (a, b) = (&servers[0], &servers[1]);
    let mut ada = Client::connect(a, "").await;
    let mut bob = Client::connect(b, "").await;
    let created = ada
        .request(
            "match.create",
            json!({"game": "pong", "mode": "1v1", "options": {"private": true}}),
        )
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let code = created["data"]["joinCode"].as_str().unwrap().to_owned();
    let joined = bob
        .request("match.join", json!({"joinCode": code.to_lowercase()}))
        .await;
    assert_eq!(joined["type"], "ack", "{joined}");
    assert_eq!(joined["data"]["matchId"], match_id.as_str(), "{joined}");
    assert_eq!(joined["data"]["seat"], "right", "{joined}");
    ada.recv_type("match.start").await;
    bob.recv_type("match.start").await;
    // An unknown code is still `not_found` on either instance.
    let unknown = bob
        .request("match.join", json!({"joinCode": "ZZZZZZ"}))
        .await;
    assert_eq!(unknown["data"]["code"], "not_found", "{unknown}");
    // The code goes with its match: once it ended, the code finds nothing anywhere.
    let left = ada
        .request("match.leave", json!({"matchId": match_id}))
        .await;
    assert_eq!(left["type"], "ack", "{left}");
    let deadline = Instant::now() + WAIT;
    let mut carol = Client::connect(b, "").await;
    loop {
        let again = carol.request("match.join", json!({"joinCode": code})).await;
        if again["data"]["code"] == "not_found" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the code outlived its match: {again}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_socket_leaves_the_cluster_queue_at_once() {
    let Some(servers) = cluster(2, 15) else {
        return;
    };
    let (a, b) = (&servers[0], &servers[1]);
    let mut gone = Client::connect(a, "").await;
    queue(&mut gone, "1v1").await;
    drop(gone);
    // The entry goes with the socket: the next two are paired together, in one group taken.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut yan = Client::connect(b, "").await;
    queue(&mut yan, "1v1").await;
    let mut zoe = Client::connect(b, "").await;
    queue(&mut zoe, "1v1").await;
    paired_together(&mut yan, &mut zoe).await;
    assert_eq!(
        total(&servers, "arcade_cluster_queue_pairs_total").await,
        1.0
    );
    // queue.leave answers as on one instance.
    let mut xia = Client::connect(a, "").await;
    queue(&mut xia, "2v2").await;
    let left = xia.request("queue.leave", json!({})).await;
    assert_eq!(left["data"], json!({"queue": "pong:2v2"}), "{left}");
    let again = xia.request("queue.leave", json!({})).await;
    assert_eq!(again["data"]["code"], "not_found", "{again}");
}
