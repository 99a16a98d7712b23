//! The history API end to end over real sockets: paging through 250 finished matches with a
//! cursor while new matches keep finishing, and ratings after a rated match (profile and
//! leaderboard).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Client, NO_HTTP_LIMITS, Server, WAIT, get_json, http};
use serde_json::{Value, json};

/// Finishes one short match: a pong vs_bot match that its player leaves at once. With nobody
/// left in it, it ends as `aborted` and is recorded like any finished match. Returns its id.
async fn finish_one_match(client: &mut Client) -> String {
    let created = client
        .request("match.create", json!({"game": "pong", "mode": "vs_bot"}))
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let left = client.request("match.leave", json!({"matchId": id})).await;
    assert_eq!(left["type"], "ack", "{left}");
    client.backlog.clear();
    id
}

/// Waits until `GET path` satisfies `done`.
async fn poll(server: &Server, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let body = get_json(server, path).await;
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never got there: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_250_matches_shows_each_once_while_new_ones_finish() {
    const OLD: usize = 250;
    const CLIENTS: usize = 5;
    let server = Server::start(NO_HTTP_LIMITS);

    // 250 finished matches, by five players at once.
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let mut client = Client::connect(&server, "").await;
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..OLD / CLIENTS {
                ids.push(finish_one_match(&mut client).await);
            }
            ids
        }));
    }
    let mut old = HashSet::new();
    for task in tasks {
        old.extend(task.await.unwrap());
    }
    assert_eq!(old.len(), OLD);
    // The records are written asynchronously: wait until the 250th is listed.
    let mut stored = 0;
    let deadline = Instant::now() + WAIT;
    while stored < OLD {
        assert!(Instant::now() < deadline, "only {stored} of {OLD} stored");
        let mut before = String::new();
        stored = 0;
        loop {
            let page = get_json(&server, &format!("/api/matches?limit=100{before}")).await;
            stored += page["matches"].as_array().unwrap().len();
            match page["next"].as_str() {
                Some(next) => before = format!("&before={next}"),
                None => break,
            }
        }
    }

    // Meanwhile another player keeps finishing matches.
    let stop = Arc::new(AtomicBool::new(false));
    let landed = Arc::new(AtomicUsize::new(0));
    let mut newcomer = Client::connect(&server, "").await;
    let background = {
        let (stop, landed) = (stop.clone(), landed.clone());
        tokio::spawn(async move {
            let mut ids = HashSet::new();
            while !stop.load(Ordering::Relaxed) {
                ids.insert(finish_one_match(&mut newcomer).await);
                landed.fetch_add(1, Ordering::Relaxed);
            }
            ids
        })
    };

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/api/matches?limit=20".to_owned(),
            Some(next) => format!("/api/matches?limit=20&before={next}"),
        };
        let page = get_json(&server, &path).await;
        let matches = page["matches"].as_array().unwrap();
        assert!(matches.len() <= 20);
        for record in matches {
            *seen
                .entry(record["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        pages += 1;
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        // Let a few new matches finish between pages.
        let before = landed.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(2);
        while landed.load(Ordering::Relaxed) < before + 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let new = background.await.unwrap();

    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "listed more than once: {twice:?}");
    let missing: Vec<_> = old.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(missing.is_empty(), "never listed: {missing:?}");
    let unknown: Vec<_> = seen
        .keys()
        .filter(|id| !old.contains(*id) && !new.contains(*id))
        .collect();
    assert!(unknown.is_empty(), "listed but never played: {unknown:?}");
    assert!(pages >= OLD / 20, "{pages} pages");
    assert!(
        new.len() >= pages / 2,
        "matches kept finishing during the paging: {} during {pages} pages",
        new.len()
    );

    // The listing filtered by one player pages the same way.
    let player = common_player_of(&server, old.iter().next().unwrap()).await;
    let mut count = 0;
    let mut before = String::new();
    loop {
        let page = get_json(
            &server,
            &format!("/api/matches?player={player}&limit=7{before}"),
        )
        .await;
        for record in page["matches"].as_array().unwrap() {
            assert!(
                record["players"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["id"] == player.as_str())
            );
            count += 1;
        }
        match page["next"].as_str() {
            Some(next) => before = format!("&before={next}"),
            None => break,
        }
    }
    assert_eq!(count, OLD / CLIENTS);
}

/// The (only) player of a recorded match.
async fn common_player_of(server: &Server, match_id: &str) -> String {
    let record = get_json(server, &format!("/api/matches/{match_id}")).await;
    record["players"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rated_match_moves_both_ratings_by_the_same_amount() {
    let server = Server::start(NO_HTTP_LIMITS);
    let mut tokens = Vec::new();
    for name in ["winner", "loser"] {
        let response = http()
            .post(server.url("/api/auth/register"))
            .json(&json!({"name": name, "password": "password123"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let body: Value = response.json().await.unwrap();
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    let mut winner = Client::connect(&server, &format!("?token={}", tokens[0])).await;
    let mut loser = Client::connect(&server, &format!("?token={}", tokens[1])).await;
    let (winner_id, loser_id) = (winner.player_id(), loser.player_id());

    // An aborted match first: it counts for nothing.
    finish_one_match(&mut loser).await;

    let created = loser
        .request("match.create", json!({"game": "pong", "mode": "1v1"}))
        .await;
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let joined = winner
        .request("match.join", json!({"matchId": match_id}))
        .await;
    assert_eq!(joined["type"], "ack", "{joined}");
    loser.recv_type("match.start").await;
    let left = loser
        .request("match.leave", json!({"matchId": match_id}))
        .await;
    assert_eq!(left["type"], "ack");
    let end = winner.recv_type("match.end").await;
    assert_eq!(end["data"]["reason"], "forfeit");

    let rated = |body: &Value| body["stats"]["pong"]["ratedMatches"] == 1;
    let w = poll(&server, &format!("/api/players/{winner_id}"), rated).await;
    let l = poll(&server, &format!("/api/players/{loser_id}"), rated).await;
    let (w, l) = (&w["stats"]["pong"], &l["stats"]["pong"]);
    assert_eq!(
        (w["played"].as_u64(), w["wins"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (l["played"].as_u64(), l["losses"].as_u64()),
        (Some(1), Some(1)),
        "the aborted vs_bot match does not count: {l}"
    );
    let (wr, lr) = (w["rating"].as_f64().unwrap(), l["rating"].as_f64().unwrap());
    assert!(wr > 1500.0 && lr < 1500.0, "{wr} {lr}");
    assert!(
        (wr + lr - 3000.0).abs() <= 0.02,
        "equal players move by equal amounts: {wr} + {lr}"
    );
    assert!(w["rd"].as_f64().unwrap() < 350.0);
    assert_eq!(w["best"], Value::Null);

    let board = get_json(&server, "/api/leaderboard?game=pong&limit=10").await;
    assert_eq!(board["game"], "pong");
    assert_eq!(board["rankedBy"], "rating");
    let players = board["players"].as_array().unwrap();
    assert_eq!(players.len(), 2, "{board}");
    assert_eq!(players[0]["rank"], 1);
    assert_eq!(players[0]["player"]["id"], winner_id.as_str());
    assert_eq!(players[0]["player"]["name"], "winner");
    assert_eq!(players[0]["rating"], w["rating"]);
    assert_eq!(players[1]["player"]["id"], loser_id.as_str());
    let breakout = get_json(&server, "/api/leaderboard?game=breakout").await;
    assert_eq!(breakout["rankedBy"], "best");
    assert_eq!(breakout["players"], json!([]));

    let bad = http()
        .get(server.url("/api/leaderboard?game=chess"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let unknown = http()
        .get(server.url("/api/players/p_0000000000000001"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
}
