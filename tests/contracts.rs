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

// ---- issue 12: four contract slips ----------------------------------------------------------

/// A frame that parses but is not an envelope is malformed in both codecs: `bad_request`, and
/// it counts toward the 20-in-10-s limit (a JSON array used to get `unsupported`, uncounted,
/// and a MessagePack array was even served as an envelope).
#[tokio::test]
async fn frames_that_parse_but_are_not_envelopes_are_malformed_and_counted() {
    let server = Server::start(&[]);
    let mut client = Client::connect(&server, "").await;
    let texts = [
        r#"["ws.ping"]"#,
        r#"["ws.ping", null, "r1"]"#,
        "[]",
        r#""ws.ping""#,
        "42",
        "null",
        r#"{"data": {}}"#,
        r#"{"type": 7}"#,
    ];
    let packed = [
        json!(["ws.ping"]),
        json!("ws.ping"),
        json!(42),
        json!({"data": {}}),
        json!({"type": 7}),
    ];
    let mut frames: Vec<Message> = texts
        .iter()
        .map(|text| Message::Text((*text).into()))
        .collect();
    frames.extend(
        packed
            .iter()
            .map(|value| Message::Binary(rmp_serde::to_vec(value).unwrap().into())),
    );
    // Up to twenty: each is answered `bad_request`, and the connection stays.
    let count = frames.len();
    for frame in frames {
        client.send_raw(frame).await;
        let error = client.recv_type("error").await;
        assert_eq!(error["data"]["code"], "bad_request", "{error}");
    }
    for _ in count..20 {
        client.send_raw(Message::Text("[1]".into())).await;
        let error = client.recv_type("error").await;
        assert_eq!(error["data"]["code"], "bad_request", "{error}");
    }
    let pong = client.request("ws.ping", Value::Null).await;
    assert_eq!(pong["type"], "ws.pong", "twenty are tolerated");
    // The twenty-first in the window closes the connection.
    client.send_raw(Message::Text("[]".into())).await;
    assert_eq!(client.expect_close().await, Some(1008));
}

/// Ids are opaque strings: one that names nothing is `not_found` on WebSocket and REST; only a
/// wrong JSON type is `bad_request`.
#[tokio::test]
async fn an_id_that_names_nothing_is_not_found_and_a_wrong_type_is_bad_request() {
    let server = Server::start(&[]);
    for id in [
        "m_nope",
        "m_does_not_exist",
        "xyz",
        "p_",
        "m_00000000000000ff",
    ] {
        // A connection per id: each sends two chat messages (at most 5 a second).
        let mut client = Client::connect(&server, "").await;
        let nobody = client.player_id();
        for (kind, data) in [
            ("match.join", json!({"matchId": id})),
            ("match.join", json!({"matchId": id, "as": "spectator"})),
            ("match.leave", json!({"matchId": id})),
            ("input", json!({"matchId": id, "seq": 1, "axis": 0.0})),
            (
                "chat.message",
                json!({"channel": format!("match:{id}"), "text": "hi"}),
            ),
            (
                "chat.message",
                json!({"channel": format!("dm:{id}"), "text": "hi"}),
            ),
        ] {
            let reply = client.request(kind, data.clone()).await;
            assert_eq!(reply["data"]["code"], "not_found", "{kind} {data}: {reply}");
        }
        let invite = client
            .request("match.invite", json!({"matchId": id, "playerId": nobody}))
            .await;
        assert_eq!(invite["type"], "error", "{invite}");
        let invite = client
            .request("match.invite", json!({"matchId": "m_1", "playerId": id}))
            .await;
        assert_eq!(invite["data"]["code"], "not_found", "{id}: {invite}");
        for path in [
            format!("/api/matches/{id}"),
            format!("/api/players/{id}"),
            format!("/api/chat/dm:{id}"),
        ] {
            let response = http()
                .get(server.url(&path))
                .bearer_auth(client.token())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 404, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "not_found", "{path}");
        }
        let page = get_json(&server, &format!("/api/matches?player={id}")).await;
        assert_eq!(
            page["matches"],
            json!([]),
            "a filter by nobody matches nothing"
        );
    }
    let mut client = Client::connect(&server, "").await;
    for (kind, data) in [
        ("match.join", json!({"matchId": 7})),
        ("match.leave", json!({"matchId": ["m_1"]})),
        ("input", json!({"matchId": {}, "seq": 1, "axis": 0.0})),
        ("match.invite", json!({"matchId": "m_1", "playerId": 7})),
    ] {
        let reply = client.request(kind, data.clone()).await;
        assert_eq!(
            reply["data"]["code"], "bad_request",
            "{kind} {data}: {reply}"
        );
    }
}

/// Every player of a match gets exactly one `match.end`, the one who left with `match.leave`
/// included (a forfeit: `loss` for the leaver).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_player_who_leaves_gets_the_match_end_of_the_forfeit() {
    let server = Server::start(&[]);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let match_id = common::start_pong(&mut left, &mut right, 5).await;
    let leaver_id = right.player_id();
    let ack = right
        .request("match.leave", json!({"matchId": match_id}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    for (client, result) in [(&mut right, "loss"), (&mut left, "win")] {
        let end = client.recv_type("match.end").await;
        assert_eq!(end["data"]["matchId"], match_id.as_str());
        assert_eq!(end["data"]["reason"], "forfeit", "{end}");
        let players = end["data"]["players"].as_array().unwrap();
        let me = client.player_id();
        let mine = players.iter().find(|p| p["id"] == me.as_str()).unwrap();
        assert_eq!(mine["result"], result, "{end}");
        assert!(players.iter().any(|p| p["id"] == leaver_id.as_str()));
        // Exactly one: nothing more of this match arrives after it.
        let pong = client.request("ws.ping", Value::Null).await;
        assert_eq!(pong["type"], "ws.pong");
        assert!(
            !client.backlog.iter().any(|m| m["type"] == "match.end"),
            "{:?}",
            client.backlog
        );
    }
}
