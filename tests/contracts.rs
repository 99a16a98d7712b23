//! The ◆ contracts of PROTOCOL.md that the skeleton touches, over real sockets: the seed HTTP
//! routes, the error shape, request ids, health, the WebSocket ping and chat, the test page.

mod common;

use common::{Client, Server, get_json, http, post_json};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn seed_routes_keep_their_exact_shape_and_visits_persist() {
    let server = Server::start(&[]);
    let visits: Value = get_json(&server, "/api/visits").await;
    assert_eq!(visits, json!({"total": 0}));
    let visit: Value = post_json(&server, "/api/visit").await;
    assert_eq!(visit, json!({"ok": true, "total": 1}));
    let visit: Value = post_json(&server, "/api/visit").await;
    assert_eq!(visit, json!({"ok": true, "total": 2}));
    for route in [
        "/api/users/ping",
        "/api/games/ping",
        "/api/chat/ping",
        "/api/tournaments/ping",
    ] {
        assert_eq!(
            get_json(&server, route).await,
            json!({"ok": true}),
            "{route}"
        );
    }
    let dir = server.dir.clone();
    assert!(server.terminate().success());
    let server = Server::start_in(dir, &[]);
    let visits: Value = get_json(&server, "/api/visits").await;
    assert_eq!(visits, json!({"total": 2}), "visits are stored in SQLite");
}

#[tokio::test]
async fn errors_have_one_shape_and_every_response_a_request_id() {
    let server = Server::start(&[]);
    let client = http();
    let response = client
        .get(server.url("/api/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].is_string());

    let response = client
        .get(server.url("/api/matches/m_0000000000000001"))
        .header("X-Request-Id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-request-id"], "client-chosen-42");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let response = client
        .get(server.url("/api/matches?limit=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    let response = client
        .get(server.url("/api/matches?limit=101"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = client
        .get(server.url("/api/matches?game=chess"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let empty: Value = get_json(&server, "/api/matches").await;
    assert_eq!(empty, json!({"matches": [], "next": null}));
}

#[tokio::test]
async fn health_is_ok_while_ticking_and_the_database_answers() {
    let server = Server::start(&[]);
    let response = http().get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn ws_ping_gets_a_pong_and_chat_an_ack_and_a_broadcast() {
    let server = Server::start(&[]);
    let mut alice = Client::connect(&server, "").await;
    let mut bob = Client::connect(&server, "").await;
    let hello = &alice.hello["data"];
    assert_eq!(hello["protocol"], 1);
    assert_eq!(hello["player"]["guest"], true);
    assert!(hello["token"].is_string());
    assert_eq!(hello["tickRate"], 60);
    assert!(hello["serverTime"].is_i64());

    let pong = alice.request("ws.ping", Value::Null).await;
    assert_eq!(pong["type"], "ws.pong");
    assert!(pong["data"]["serverTime"].is_i64());
    assert!(pong["data"]["tick"].is_u64());

    alice
        .send(json!({"type": "chat.message", "data": {"text": "hi all"}, "requestId": "c1"}))
        .await;
    let ack = alice.recv_where(|m| m["requestId"] == "c1").await;
    assert_eq!(ack, json!({"type": "ack", "requestId": "c1"}));
    for client in [&mut alice, &mut bob] {
        let chat = client.recv_type("chat.message").await;
        assert_eq!(chat["data"]["text"], "hi all");
        assert_eq!(chat["data"]["channel"], "global");
        assert_eq!(chat["data"]["from"]["id"], alice_id(&chat));
        assert!(chat["data"]["at"].as_str().unwrap().ends_with('Z'));
    }
}

fn alice_id(chat: &Value) -> Value {
    chat["data"]["from"]["id"].clone()
}

#[tokio::test]
async fn plain_text_and_unknown_types_get_errors_and_the_connection_stays_open() {
    let server = Server::start(&[]);
    let mut client = Client::connect(&server, "").await;
    client.send_raw(Message::Text("hello there".into())).await;
    let error = client.recv_type("error").await;
    assert_eq!(error["data"]["code"], "bad_request");
    let unknown = client.request("no.such.thing", json!({})).await;
    assert_eq!(unknown["type"], "error");
    assert_eq!(unknown["data"]["code"], "unsupported");
    let bad_data = client.request("chat.message", json!({"text": 5})).await;
    assert_eq!(bad_data["data"]["code"], "bad_request");
    let pong = client.request("ws.ping", Value::Null).await;
    assert_eq!(pong["type"], "ws.pong", "still open and answering");
}

#[tokio::test]
async fn a_guest_token_brings_the_same_guest_back_and_a_bad_one_is_refused() {
    let server = Server::start(&[]);
    let first = Client::connect(&server, "").await;
    let token = first.token();
    let again = Client::connect(&server, &format!("?token={token}")).await;
    assert_eq!(again.player_id(), first.player_id());

    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url("?token=forged.token.here"))
        .await
        .unwrap();
    use futures_util::StreamExt;
    let Message::Text(first_frame) = ws.next().await.unwrap().unwrap() else {
        panic!("text")
    };
    let error: Value = serde_json::from_str(&first_frame).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["data"]["code"], "unauthorized");
    let Message::Text(second) = ws.next().await.unwrap().unwrap() else {
        panic!("text")
    };
    let hello: Value = serde_json::from_str(&second).unwrap();
    assert_eq!(hello["type"], "hello");
    assert_ne!(hello["data"]["player"]["id"], first.player_id().as_str());
}

#[tokio::test]
async fn the_ws_test_page_is_served_and_speaks_the_contract() {
    let server = Server::start(&[]);
    let response = http()
        .get(server.url("/ws-test.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    // The page's script is a file of its own (the Content-Security-Policy allows no inline
    // script): follow the page to it and check the message shapes there.
    assert!(
        html.contains(r#"<script type="module" src="/ws-test.js"></script>"#),
        "the page loads its script"
    );
    let script = http().get(server.url("/ws-test.js")).send().await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let page = script.text().await.unwrap();
    assert!(page.contains("new WebSocket("), "opens a socket");
    assert!(page.contains("/ws`"), "to /ws");
    assert!(page.contains(r#"type: "ws.ping""#), "sends ws.ping");
    assert!(
        page.contains(r#"type: "chat.message""#),
        "sends chat.message"
    );
    assert!(page.contains(r#"data: { text:"#), "chat carries data.text");
    assert!(
        page.contains(r#"message.type === "ws.pong""#),
        "shows the pong"
    );
    assert!(page.contains(r#"message.type === "ack""#), "shows the ack");
    let index = http().get(server.url("/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
}
