//! Several instances sharing one PostgreSQL and one Redis act as one server (issue 18 item 3):
//! `global` and `dm:` chat, friend requests and presence cross instances, a logout on one
//! instance closes that token's socket on another, and every instance lists every
//! instance's live matches. Needs `ARCADE_TEST_POSTGRES_URL` and `ARCADE_TEST_REDIS_URL`
//! (scripts/test.sh starts both): skipped with a note without them, failing when
//! `ARCADE_REQUIRE_POSTGRES=1`.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{poll, services};
use common::{Client, NO_WS_LIMITS, Server, WAIT, http, start_pong};
use serde_json::{Value, json};

/// A cluster of `size` instances (`i0`, `i1`, …) on a fresh PostgreSQL database and its own
/// Redis database (`redis_db`: each test its own).
fn cluster(size: usize, redis_db: u32) -> Option<Vec<Server>> {
    let names: Vec<String> = (0..size).map(|index| format!("i{index}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    common::cluster::start_cluster(&names, redis_db, &[])
}

async fn post(server: &Server, path: &str, token: &str) -> (u16, Value) {
    let response = http()
        .post(server.url(path))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Sends `text` on `channel` from `client` until `receiver` gets it (the first messages may
/// go out before the receiver's instance has subscribed to the bus).
async fn chat_until_heard(client: &mut Client, receiver: &mut Client, channel: &str, text: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let ack = client
            .request("chat.message", json!({"channel": channel, "text": text}))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        let heard = tokio::time::timeout(
            Duration::from_millis(500),
            receiver.recv_where(|m| m["type"] == "chat.message" && m["data"]["text"] == text),
        )
        .await;
        if let Ok(message) = heard {
            assert_eq!(message["data"]["from"]["id"], client.player_id().as_str());
            return;
        }
        assert!(Instant::now() < deadline, "{text} never crossed instances");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_friends_presence_and_logout_cross_instances() {
    let Some(servers) = cluster(2, 1) else { return };
    let (a, b) = (&servers[0], &servers[1]);
    let mut ada = Client::connect(a, "").await;
    let mut bob = Client::connect(b, "").await;

    // `global` from one instance reaches a connection on the other.
    chat_until_heard(&mut ada, &mut bob, "global", "hello from a").await;

    // A direct message to a guest connected elsewhere (stored nowhere yet: known by presence).
    let to_ada = format!("dm:{}", ada.player_id());
    chat_until_heard(&mut bob, &mut ada, &to_ada, "hello from b").await;

    // A friend request asked on a, told to bob on b; accepted on b, told to ada on a.
    let path = format!("/api/players/{}/friend", bob.player_id());
    let (status, asked) = post(a, &path, &ada.token()).await;
    assert_eq!(
        (status, &asked["state"]),
        (200, &json!("pending")),
        "{asked}"
    );
    let request = bob.recv_type("friend.request").await;
    assert_eq!(
        request["data"]["from"]["id"],
        ada.player_id().as_str(),
        "{request}"
    );
    let path = format!("/api/players/{}/friend", ada.player_id());
    let (status, accepted) = post(b, &path, &bob.token()).await;
    assert_eq!(
        (status, &accepted["state"]),
        (200, &json!("friends")),
        "{accepted}"
    );
    ada.recv_type("friend.accepted").await;

    // Presence is the cluster's: a sees bob (connected to b) online.
    let friends = poll(a, "/api/friends", &ada.token(), |body| {
        body["friends"][0]["presence"] == "online"
    })
    .await;
    assert_eq!(friends["friends"][0]["id"], bob.player_id().as_str());

    // bob logs out through a: his socket on b is closed at once.
    let (status, body) = post(a, "/api/auth/logout", &bob.token()).await;
    assert_eq!(status, 200, "{body}");
    let error = bob.recv_type("error").await;
    assert_eq!(error["data"]["code"], "unauthorized");
    assert_eq!(bob.expect_close().await, Some(1008));
    // ... and a sees him go.
    poll(a, "/api/friends", &ada.token(), |body| {
        body["friends"][0]["presence"] == "offline"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_lists_every_instances_live_matches() {
    let Some(servers) = cluster(2, 2) else { return };
    let (a, b) = (&servers[0], &servers[1]);
    let mut left = Client::connect(a, "").await;
    let mut right = Client::connect(a, "").await;
    let match_id = start_pong(&mut left, &mut right, 21).await;
    let token = left.token();
    // Until a's list says both players (its early beat may have seen only the creator).
    let listed = poll(b, "/api/matches/live", &token, |body| {
        body["matches"].as_array().is_some_and(|all| {
            all.iter().any(|m| {
                m["id"] == match_id.as_str()
                    && m["players"].as_array().is_some_and(|p| p.len() == 2)
            })
        })
    })
    .await;
    let found = listed["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == match_id.as_str())
        .unwrap();
    assert_eq!(found["game"], "pong", "{found}");
    assert_eq!(found["players"].as_array().unwrap().len(), 2, "{found}");
    // Filtered by game, the other game's list leaves it out.
    let breakout = poll(b, "/api/matches/live?game=breakout", &token, |_| true).await;
    assert!(
        !breakout["matches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == match_id.as_str()),
        "{breakout}"
    );
}

/// A Redis of the test's own on a free loopback port (so that it can be stopped without
/// touching other tests), stopped by its pid when dropped.
struct OwnRedis {
    child: std::process::Child,
    port: u16,
}

impl OwnRedis {
    fn start_on(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts (scripts/test.sh installs it)");
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis { child, port }
    }

    fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        OwnRedis::start_on(port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn health(server: &Server) -> (u16, Value) {
    let response = http().get(server.url("/health")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `/health` until it answers `status`.
async fn health_becomes(server: &Server, status: u16) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (now, body) = health(server).await;
        if now == status {
            return body;
        }
        assert!(Instant::now() < deadline, "/health stayed {now}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_is_reported_and_survived() {
    let Some((postgres, _)) = services() else {
        return;
    };
    let database = arcade_data::pg::create_fresh_database(&postgres, "arcade_cluster")
        .expect("create a database");
    let redis = OwnRedis::start();
    let url = redis.url();
    let start = |instance: &str| {
        let mut args = vec![
            "--database-url",
            &database,
            "--redis",
            &url,
            "--instance-id",
            instance,
            "--jwt-secret",
            "one key for the whole cluster",
        ];
        args.extend_from_slice(NO_WS_LIMITS);
        Server::start(&args)
    };
    let (a, b) = (start("a"), start("b"));
    let mut ada = Client::connect(&a, "").await;
    let mut bob = Client::connect(&b, "").await;
    chat_until_heard(&mut ada, &mut bob, "global", "before").await;
    let mut left = Client::connect(&a, "").await;
    let mut right = Client::connect(&a, "").await;
    let match_id = start_pong(&mut left, &mut right, 1).await;

    // Redis goes away: both instances say so on /health, the match keeps ticking.
    let port = redis.port;
    drop(redis);
    let body = health_becomes(&a, 503).await;
    assert_eq!(body["redis"], false, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    health_becomes(&b, 503).await;
    // The cluster's queues are in Redis: `queue.join` says they cannot be reached.
    let queued = ada
        .request("queue.join", json!({"game": "pong", "mode": "1v1"}))
        .await;
    assert_eq!(queued["data"]["code"], "unavailable", "{queued}");
    let (left_end, right_end) = tokio::join!(
        common::dodge_until_end(left, match_id.clone(), "left"),
        common::dodge_until_end(right, match_id.clone(), "right"),
    );
    assert_eq!(left_end.0["data"]["reason"], "score_limit");
    assert_eq!(right_end.0["data"]["reason"], "score_limit");
    // The record is in PostgreSQL, whichever instance is asked.
    let record = common::fetch_record(&b, &match_id).await;
    assert_eq!(record["id"], match_id.as_str());

    // Redis comes back on the same address: health recovers, the bus carries chat again.
    let _redis = OwnRedis::start_on(port);
    health_becomes(&a, 200).await;
    health_becomes(&b, 200).await;
    chat_until_heard(&mut ada, &mut bob, "global", "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_nginx_are_one_server() {
    let Some(binary) = common::nginx::nginx_binary() else {
        return;
    };
    let Some(servers) = cluster(3, 3) else { return };
    let upstreams: Vec<&str> = servers.iter().map(|server| server.addr.as_str()).collect();
    let nginx = common::nginx::start_nginx(&binary, &upstreams);
    let url = format!("ws://{}/ws", nginx.addr);
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(Client::connect_url(&url).await);
    }
    // nginx spreads the sockets: each instance holds two.
    for server in &servers {
        let response = http()
            .get(server.url("/health/details"))
            .send()
            .await
            .unwrap();
        let details: Value = response.json().await.unwrap();
        assert_eq!(
            details["connections"]["total"],
            2,
            "{}: {details}",
            nginx.log()
        );
        // Each sees the three heartbeats (refreshed every second).
        poll(server, "/health/details", "", |details| {
            details["cluster"]["instancesAlive"] == 3
        })
        .await;
    }
    // A `global` line from the first reaches the five others, wherever they are.
    let (first, others) = clients.split_first_mut().unwrap();
    chat_until_heard(first, &mut others[0], "global", "through nginx").await;
    for other in &mut others[1..] {
        other
            .recv_where(|m| m["type"] == "chat.message" && m["data"]["text"] == "through nginx")
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_on_one_instance_is_played_and_watched_from_the_others() {
    let Some(servers) = cluster(3, 4) else { return };
    let (a, b, c) = (&servers[0], &servers[1], &servers[2]);
    let mut ada = Client::connect(a, "").await;
    let mut bob = Client::connect(b, "").await;
    // cy watches in the compact codec, as the browser client does.
    let mut cy = Client::connect(c, "?codec=compact").await;
    let created = ada
        .request(
            "match.create",
            json!({"game": "pong", "mode": "1v1", "options": {"scoreLimit": 1}}),
        )
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    // b and c learn where it lives from a's live list (refreshed every second).
    for server in [b, c] {
        poll(server, "/api/matches/live", &ada.token(), |body| {
            body["matches"]
                .as_array()
                .is_some_and(|all| all.iter().any(|m| m["id"] == match_id.as_str()))
        })
        .await;
    }
    let joined = bob
        .request("match.join", json!({"matchId": match_id}))
        .await;
    assert_eq!(joined["type"], "ack", "{joined}");
    assert_eq!(joined["data"]["seat"], "right", "{joined}");
    let watching = cy
        .request(
            "match.join",
            json!({"matchId": match_id, "as": "spectator"}),
        )
        .await;
    assert_eq!(watching["type"], "ack", "{watching}");
    ada.recv_type("match.start").await;
    bob.recv_type("match.start").await;

    // bob's inputs cross to a, a's states cross to b and c: the match is played to its end.
    let watched = tokio::spawn(async move {
        let end = cy.recv_type("match.end").await;
        (end, cy)
    });
    let (ada_end, bob_end) = tokio::join!(
        common::dodge_until_end(ada, match_id.clone(), "left"),
        common::dodge_until_end(bob, match_id.clone(), "right"),
    );
    assert_eq!(ada_end.0["data"]["reason"], "score_limit");
    assert_eq!(bob_end.0["data"]["reason"], "score_limit");
    assert!(bob_end.1 > 10, "bob saw the match: {} states", bob_end.1);
    let (cy_end, _) = watched.await.unwrap();
    assert_eq!(cy_end["data"]["reason"], "score_limit", "{cy_end}");

    // One record, whichever instance is asked.
    let record = common::fetch_record(c, &match_id).await;
    let players = record["players"].as_array().unwrap();
    assert_eq!(players.len(), 2, "{record}");
    let listed = poll(b, "/api/matches?limit=5", "", |body| {
        body["matches"]
            .as_array()
            .is_some_and(|all| !all.is_empty())
    })
    .await;
    let same: Vec<&Value> = listed["matches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["id"] == match_id.as_str())
        .collect();
    assert_eq!(same.len(), 1, "{listed}");
}
