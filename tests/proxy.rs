//! proxy/nginx.conf in front of the real server: nginx from Debian's package runs on loopback
//! with this very file (only the upstream address and the listen port rewritten, into a
//! temporary copy), and the ◆ contracts and a whole match go through it.
//!
//! nginx must be installed (scripts/test.sh installs it). Without it the test is skipped with a
//! message, except under CI (`CI` set), where it fails.

mod common;

use std::time::{Duration, Instant};

use common::nginx::{nginx_binary, start_nginx};
use common::{Client, Server, http};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contracts_and_a_match_go_through_nginx() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let server = Server::start(&["--trust-forwarded-for"]);
    let nginx = start_nginx(&binary, &[&server.addr]);
    let url = |path: &str| format!("http://{}{path}", nginx.addr);
    let client = http();

    // ◆ HTTP contracts.
    let visits: Value = client
        .get(url("/api/visits"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(visits, json!({"total": 0}));
    let visit: Value = client
        .post(url("/api/visit"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(visit, json!({"ok": true, "total": 1}));
    for route in [
        "/api/users/ping",
        "/api/games/ping",
        "/api/chat/ping",
        "/api/tournaments/ping",
    ] {
        let response = client.get(url(route)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{route}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"ok": true}), "{route}");
    }

    // Request ids pass through both ways; health, metrics and the static client are reachable.
    let response = client
        .get(url("/health"))
        .header("X-Request-Id", "through-the-proxy-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "through-the-proxy-1");
    let made = client.get(url("/api/visits")).send().await.unwrap();
    assert!(made.headers().contains_key("x-request-id"));
    assert!(made.headers().contains_key("content-security-policy"));
    let metrics = client.get(url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let page = client.get(url("/ws-test.html")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let too_large = client
        .post(url("/api/visit"))
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    let body: Value = too_large.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_large");

    // ◆ WebSocket contracts: ws.ping and a chat message with its ack.
    let ws = |query: &str| format!("ws://{}/ws{query}", nginx.addr);
    let mut alice = Client::connect_url(&ws("")).await;
    let pong = alice.request("ws.ping", Value::Null).await;
    assert_eq!(pong["type"], "ws.pong");
    assert!(pong["data"]["serverTime"].is_i64());
    alice
        .send(json!({"type": "chat.message", "data": {"text": "via nginx"}, "requestId": "c1"}))
        .await;
    let ack = alice.recv_where(|m| m["requestId"] == "c1").await;
    assert_eq!(ack, json!({"type": "ack", "requestId": "c1"}));
    let chat = alice.recv_type("chat.message").await;
    assert_eq!(chat["data"]["text"], "via nginx");

    // A whole match through the proxy, one side in MessagePack.
    let mut left = Client::connect_url(&ws("?codec=msgpack")).await;
    let mut right = Client::connect_url(&ws("")).await;
    let created = left
        .request(
            "match.create",
            json!({"game": "pong", "mode": "1v1", "options": {"scoreLimit": 1}}),
        )
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let joined = right
        .request("match.join", json!({"matchId": match_id}))
        .await;
    assert_eq!(joined["type"], "ack", "{joined}");
    let left_play = tokio::spawn(common::dodge_until_end(left, match_id.clone(), "left"));
    let right_play = tokio::spawn(common::dodge_until_end(right, match_id.clone(), "right"));
    let (end, states) = left_play.await.unwrap();
    right_play.await.unwrap();
    assert_eq!(end["data"]["reason"], "score_limit");
    assert!(states > 60, "states flowed through the proxy: {states}");
    let deadline = Instant::now() + common::WAIT;
    let record: Value = loop {
        let response = client
            .get(url(&format!("/api/matches/{match_id}")))
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            break response.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "no record of {match_id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(record["reason"], "score_limit");

    // With the server gone, nginx answers in the JSON error shape.
    drop(server);
    let down = client.get(url("/api/visits")).send().await.unwrap();
    assert_eq!(down.status(), 503, "{}", nginx.log());
    let body: Value = down.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
}
