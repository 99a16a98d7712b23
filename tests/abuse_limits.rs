//! End-to-end tests of issue 15 items 2 and 7 over real sockets (test threads): guests cost
//! nothing durable (a churn of 20,000 connections), the WebSocket upgrade rate and the
//! per-address connection cap, and chat, invitations and join codes limited per player and per
//! address rather than per connection, with the `global` slow mode.

mod common;

use std::time::{Duration, Instant};

use common::{Client, NO_HTTP_LIMITS, NO_WS_LIMITS, Server, WAIT};
use serde_json::json;

/// Rows that would make a connection cost something durable.
fn durable_rows(server: &Server) -> (i64, i64) {
    let db = rusqlite::Connection::open(server.dir.path().join("arcade.db")).unwrap();
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .unwrap()
    };
    (count("players"), count("sessions"))
}

fn db_bytes(server: &Server) -> u64 {
    ["arcade.db", "arcade.db-wal"]
        .iter()
        .filter_map(|file| std::fs::metadata(server.dir.path().join(file)).ok())
        .map(|meta| meta.len())
        .sum()
}

/// Fails before the fix: every upgrade wrote a guest and a session row (20,000 of each).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_churn_of_twenty_thousand_connections_writes_nothing_durable() {
    let server = Server::start(NO_WS_LIMITS);
    // One connection first, so the file and its WAL exist before the count.
    Client::connect(&server, "").await.ws.close(None).await.ok();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (rows_before, size_before) = (durable_rows(&server), db_bytes(&server));
    let url = server.ws_url("");
    let started = Instant::now();
    let workers = (0..40).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            for _ in 0..500 {
                let connect = tokio_tungstenite::connect_async(url.as_str());
                let (mut ws, _) = tokio::time::timeout(WAIT, connect)
                    .await
                    .expect("connect in time")
                    .expect("connect");
                ws.close(None).await.ok();
            }
        })
    });
    for worker in workers.collect::<Vec<_>>() {
        worker.await.unwrap();
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (rows_after, size_after) = (durable_rows(&server), db_bytes(&server));
    eprintln!("20,000 connections in {took:?}; rows {rows_after:?}, {size_after} bytes");
    assert_eq!(rows_after, rows_before, "guest and session rows");
    assert_eq!(size_after, size_before, "database bytes");
}

/// Fails before the fix: upgrades were neither rate-limited nor capped per address.
#[tokio::test]
async fn upgrades_are_rate_limited_and_connections_capped_per_address() {
    let server = Server::start(&["--ws-upgrades", "5", "--ws-per-address", "1000"]);
    let mut statuses = Vec::new();
    let mut open = Vec::new();
    for _ in 0..20 {
        match tokio_tungstenite::connect_async(server.ws_url("")).await {
            Ok((ws, _)) => open.push(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                statuses.push(response.status().as_u16());
            }
            Err(other) => panic!("{other}"),
        }
    }
    // A burst of twice the rate, plus what refills while the 20 attempts run.
    assert!(
        (10..20).contains(&open.len()),
        "{} open: {statuses:?}",
        open.len()
    );
    assert!(statuses.iter().all(|&status| status == 429), "{statuses:?}");
    drop(open);

    let server = Server::start(&["--ws-upgrades", "0", "--ws-per-address", "3"]);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Client::connect(&server, "").await);
    }
    match tokio_tungstenite::connect_async(server.ws_url("")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
        }
        other => panic!("the fourth connection was not refused: {:?}", other.is_ok()),
    }
    let mut first = held.remove(0);
    first.ws.close(None).await.ok();
    first.expect_close().await;
    let deadline = Instant::now() + WAIT;
    loop {
        match tokio_tungstenite::connect_async(server.ws_url("")).await {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the slot was not given back: {error}"),
        }
    }
}

/// Fails before the fix: one token on 10 connections sent 10× the chat limit.
#[tokio::test]
async fn chat_is_counted_per_player_not_per_connection() {
    let server = Server::start(&["--ws-upgrades", "0", "--global-slow-mode", "0s"]);
    let first = Client::connect(&server, "").await;
    let token = first.token();
    let mut clients = vec![first];
    for _ in 0..9 {
        clients.push(Client::connect(&server, &format!("?token={token}")).await);
    }
    let mut accepted = 0;
    for client in &mut clients {
        let reply = client
            .request("chat.message", json!({"channel": "global", "text": "hi"}))
            .await;
        if reply["type"] == "ack" {
            accepted += 1;
        } else {
            assert_eq!(reply["data"]["code"], "rate_limited", "{reply}");
        }
    }
    assert!(
        accepted <= 5,
        "{accepted} lines in one burst from one player"
    );
}

/// Fails before the fix: `global` had no slow mode.
#[tokio::test]
async fn global_has_a_slow_mode() {
    let server = Server::start(&["--global-slow-mode", "5s"]);
    let mut client = Client::connect(&server, "").await;
    let line = json!({"channel": "global", "text": "first"});
    assert_eq!(
        client.request("chat.message", line.clone()).await["type"],
        "ack"
    );
    let again = client.request("chat.message", line).await;
    assert_eq!(again["data"]["code"], "rate_limited", "{again}");
    assert!(
        again["data"]["message"]
            .as_str()
            .unwrap()
            .contains("slow mode")
    );
}

/// Fails before the fix: 300 invitations in one burst all went through the checks.
#[tokio::test]
async fn invitations_are_limited() {
    let server = Server::start(NO_HTTP_LIMITS);
    let mut client = Client::connect(&server, "").await;
    let mut limited = 0;
    for _ in 0..30 {
        let invite = json!({"matchId": "m_0000000000000001", "playerId": "p_0000000000000002"});
        let reply = client.request("match.invite", invite).await;
        if reply["data"]["code"] == "rate_limited" {
            limited += 1;
        }
    }
    assert_eq!(limited, 20, "ten invitations a minute, then rate_limited");
}

/// Fails before the fix: 3,000 join-code guesses on one connection were all checked.
#[tokio::test]
async fn join_code_guesses_are_limited() {
    let server = Server::start(&[]);
    let mut client = Client::connect(&server, "").await;
    let started = Instant::now();
    let mut checked = 0;
    let mut limited = 0;
    // In bursts of 100, reading the answers between them (a client that reads nothing is
    // closed for being too slow, which is another limit).
    for burst in 0..30 {
        for guess in 0..100 {
            let code = format!("{:06}", burst * 100 + guess);
            client
                .send_request("match.join", json!({"joinCode": code}))
                .await;
        }
        for _ in 0..100 {
            let reply = client.recv_type("error").await;
            match reply["data"]["code"].as_str() {
                Some("rate_limited") => limited += 1,
                _ => checked += 1,
            }
        }
    }
    eprintln!("3,000 guesses in {:?}", started.elapsed());
    assert!(checked <= 10, "{checked} codes checked");
    assert_eq!(limited + checked, 3000);
    // Another connection of the same player shares the limit.
    let token = client.token();
    let mut again = Client::connect(&server, &format!("?token={token}")).await;
    let reply = again
        .request("match.join", json!({"joinCode": "ABCDEF"}))
        .await;
    assert_eq!(reply["data"]["code"], "rate_limited");
}
