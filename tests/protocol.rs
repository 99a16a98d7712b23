//! The whole wire protocol over real sockets (issue 4): both codecs, replies, limits and bad
//! input, slow clients, reconnection and heartbeats.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Server, dodge_until_end, fetch_record, metric, start_pong};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_msgpack_client_and_a_json_client_play_one_match_together() {
    let server = Server::start(&[]);
    let mut packed = Client::connect(&server, "?codec=msgpack").await;
    let mut plain = Client::connect(&server, "").await;
    assert!(packed.binary_frames >= 1, "hello came as MessagePack");
    let match_id = start_pong(&mut packed, &mut plain, 1).await;
    let left = tokio::spawn(dodge_until_end(packed, match_id.clone(), "left"));
    let right = tokio::spawn(dodge_until_end(plain, match_id.clone(), "right"));
    let (left_end, left_states) = left.await.unwrap();
    let (right_end, right_states) = right.await.unwrap();
    assert_eq!(
        left_end["data"], right_end["data"],
        "the same end in both codecs"
    );
    assert_eq!(left_end["data"]["reason"], "score_limit");
    assert!(left_states > 60 && right_states > 60);
}

#[tokio::test]
async fn the_first_frame_sets_the_codec_and_replies_use_the_request_encoding() {
    let server = Server::start(&[]);
    let mut client = Client::connect(&server, "").await;
    assert_eq!(client.text_frames, 1, "hello is JSON before any frame");
    // The first frame is MessagePack: the connection's codec becomes MessagePack.
    client.codec = common::Codec::Msgpack;
    let pong = client.request("ws.ping", Value::Null).await;
    assert_eq!(pong["type"], "ws.pong");
    assert_eq!(client.binary_frames, 1);
    // A JSON request still gets a JSON reply.
    client.codec = common::Codec::Json;
    let pong = client.request("ws.ping", Value::Null).await;
    assert_eq!(pong["type"], "ws.pong");
    assert_eq!(client.text_frames, 2);
    // Pushes (chat) follow the connection's codec: MessagePack.
    let ack = client.request("chat.message", json!({"text": "hi"})).await;
    assert_eq!(ack["type"], "ack");
    let chat = client.recv_type("chat.message").await;
    assert_eq!(chat["data"]["text"], "hi");
    assert_eq!(client.binary_frames, 2, "the broadcast came as MessagePack");
    // A number requestId is echoed as a number.
    client
        .send(json!({"type": "ws.ping", "requestId": 99}))
        .await;
    let pong = client.recv_where(|m| m["requestId"] == 99).await;
    assert_eq!(pong["type"], "ws.pong");
}

#[tokio::test]
async fn every_request_gets_exactly_one_reply() {
    let server = Server::start(&[]);
    let mut client = Client::connect(&server, "").await;
    let ids = [
        client.send_request("ws.ping", Value::Null).await,
        client
            .send_request("chat.message", json!({"text": "one"}))
            .await,
        client.send_request("match.list", json!({})).await,
        client
            .send_request("match.join", json!({"matchId": "m_0000000000000001"}))
            .await,
        client.send_request("nope", json!({})).await,
    ];
    let mut kinds = Vec::new();
    for id in &ids {
        let reply = client.recv_where(|m| m["requestId"] == id.as_str()).await;
        kinds.push(reply["type"].as_str().unwrap().to_owned());
    }
    // Whatever else comes (a round trip through the tick thread later) answers none of them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let last = client.request("match.list", json!({})).await;
    assert_eq!(last["type"], "ack");
    for id in &ids {
        let again = client
            .backlog
            .iter()
            .filter(|m| m["requestId"] == id.as_str())
            .count();
        assert_eq!(again, 0, "a second reply to {id}");
    }
    assert_eq!(kinds, ["ws.pong", "ack", "ack", "error", "error"]);
}

#[tokio::test]
async fn an_oversized_message_closes_only_that_connection_with_1009() {
    let server = Server::start(&[]);
    let mut big = Client::connect(&server, "").await;
    let mut other = Client::connect(&server, "").await;
    let text = "x".repeat(17 * 1024);
    big.send_raw(Message::Text(
        json!({"type": "chat.message", "data": {"text": text}})
            .to_string()
            .into(),
    ))
    .await;
    assert_eq!(big.expect_close().await, Some(1009));
    let pong = other.request("ws.ping", Value::Null).await;
    assert_eq!(pong["type"], "ws.pong", "everyone else is still served");
    // Just under the limit is fine (and then refused for its length, not its size).
    let mut fine = Client::connect(&server, "").await;
    let text = "y".repeat(15 * 1024);
    let reply = fine.request("chat.message", json!({"text": text})).await;
    assert_eq!(reply["data"]["code"], "bad_request");
}

#[tokio::test]
async fn more_than_twenty_malformed_frames_in_ten_seconds_close_with_1008() {
    let server = Server::start(&[]);
    let mut client = Client::connect(&server, "").await;
    for _ in 0..20 {
        client.send_raw(Message::Text("not json".into())).await;
    }
    for _ in 0..20 {
        let error = client.recv_type("error").await;
        assert_eq!(error["data"]["code"], "bad_request");
    }
    let pong = client.request("ws.ping", Value::Null).await;
    assert_eq!(pong["type"], "ws.pong", "twenty are tolerated");
    // Unknown types are not malformed.
    for _ in 0..5 {
        let reply = client.request("unknown.kind", json!({})).await;
        assert_eq!(reply["data"]["code"], "unsupported");
    }
    client
        .send_raw(Message::Binary(vec![0xc1, 0x00].into()))
        .await;
    assert_eq!(client.expect_close().await, Some(1008));
}

#[tokio::test]
async fn chat_over_five_a_second_is_rate_limited() {
    // The per-second rate alone: `global`'s slow mode off.
    let server = Server::start(&["--global-slow-mode", "0s"]);
    let mut client = Client::connect(&server, "").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            client
                .send_request("chat.message", json!({"text": format!("m{i}")}))
                .await,
        );
    }
    let mut codes = Vec::new();
    for id in &ids {
        let reply = client.recv_where(|m| m["requestId"] == id.as_str()).await;
        codes.push(if reply["type"] == "ack" {
            "ack".to_owned()
        } else {
            reply["data"]["code"].as_str().unwrap().to_owned()
        });
    }
    assert_eq!(codes[..5], ["ack"; 5]);
    assert_eq!(codes[5..], ["rate_limited"; 2]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = client
        .request("chat.message", json!({"text": "later"}))
        .await;
    assert_eq!(reply["type"], "ack", "the window slides");
}

#[tokio::test]
async fn inputs_are_refused_as_the_protocol_says() {
    let server = Server::start(&[]);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let mut watcher = Client::connect(&server, "").await;
    let mut stranger = Client::connect(&server, "").await;
    let match_id = start_pong(&mut left, &mut right, 11).await;
    let watched = watcher
        .request(
            "match.join",
            json!({"matchId": match_id, "as": "spectator"}),
        )
        .await;
    assert_eq!(watched["type"], "ack");

    let input = |seq: u64, axis: f64| json!({"matchId": match_id, "seq": seq, "axis": axis});
    let reply = watcher.request("input", input(1, 1.0)).await;
    assert_eq!(reply["data"]["code"], "forbidden", "a spectator's input");
    let reply = stranger.request("input", input(1, 1.0)).await;
    assert_eq!(reply["data"]["code"], "forbidden", "not in the match");
    let reply = left
        .request(
            "input",
            json!({"matchId": "m_0000000000000042", "seq": 1, "axis": 0}),
        )
        .await;
    assert_eq!(reply["data"]["code"], "not_found");
    let reply = left.request("input", input(1, 3.0)).await;
    assert_eq!(reply["data"]["code"], "bad_request", "axis out of range");
    let reply = left
        .request("input", json!({"matchId": match_id, "seq": "x", "axis": 0}))
        .await;
    assert_eq!(reply["data"]["code"], "bad_request");

    // An applied input has no reply; its seq shows in `acks`. A stale seq is ignored.
    let id = left.player_id();
    left.send(json!({"type": "input", "data": input(5, 1.0), "requestId": "i5"}))
        .await;
    left.send(json!({"type": "input", "data": input(3, -1.0), "requestId": "i3"}))
        .await;
    let state = left
        .recv_where(|m| m["type"] == "state" && m["data"]["acks"][&id] == 5)
        .await;
    assert_eq!(state["data"]["acks"][&id], 5);
    let later = left
        .recv_where(|m| {
            m["type"] == "state"
                && m["data"]["tick"].as_u64() > state["data"]["tick"].as_u64().map(|t| t + 5)
        })
        .await;
    assert_eq!(later["data"]["acks"][&id], 5, "seq 3 was not applied");
    assert!(
        left.backlog
            .iter()
            .all(|m| m["requestId"] != "i5" && m["requestId"] != "i3")
    );
}

#[tokio::test]
async fn an_input_flood_is_dropped_and_counted() {
    let server = Server::start(&[]);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let match_id = start_pong(&mut left, &mut right, 11).await;
    for seq in 1..=300u64 {
        let input = json!({"matchId": match_id, "seq": seq, "axis": 0.5});
        left.ws
            .feed(Message::Text(
                json!({"type": "input", "data": input}).to_string().into(),
            ))
            .await
            .unwrap();
    }
    left.ws.flush().await.unwrap();
    let pong = left.request("ws.ping", Value::Null).await;
    assert_eq!(pong["type"], "ws.pong", "still connected");
    let dropped = metric(&server, "arcade_inputs_rejected_total{reason=\"rate\"}").await;
    assert!(
        dropped >= 150.0,
        "at most 120 a second pass: {dropped} dropped"
    );
    let id = left.player_id();
    let state = left.recv_type("state").await;
    assert!(state["data"]["acks"][&id].as_u64().unwrap() <= 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_slow_anyone_else() {
    let server = Server::start(&[]);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let match_id = start_pong(&mut left, &mut right, 21).await;
    // `right` never reads again; a silent spectator watches too.
    let mut silent = Client::connect(&server, "").await;
    silent
        .request(
            "match.join",
            json!({"matchId": match_id, "as": "spectator"}),
        )
        .await;
    let window = Duration::from_secs(3);
    let started = Instant::now();
    let mut states = 0;
    while started.elapsed() < window {
        if let Some(Ok(message)) = left.next_message().await
            && message["type"] == "state"
        {
            states += 1;
        }
    }
    let expected = 60.0 * window.as_secs_f64();
    assert!(
        states as f64 >= 0.9 * expected,
        "{states} states in {window:?}, expected ~{expected}"
    );
    drop((right, silent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_inside_the_grace_resumes_the_match() {
    let server = Server::start(&["--reconnect-grace", "5s"]);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let match_id = start_pong(&mut left, &mut right, 11).await;
    let token = right.token();
    let right_id = right.player_id();
    right.ws.close(None).await.unwrap();
    drop(right);

    let paused = left
        .recv_where(|m| m["type"] == "match.event" && m["data"]["kind"] == "paused")
        .await;
    assert_eq!(paused["data"]["player"], right_id.as_str());
    let state = left
        .recv_where(|m| m["type"] == "state" && m["data"]["phase"] == "paused")
        .await;
    let paused_tick = state["data"]["tick"].as_u64().unwrap();

    let mut back = Client::connect(&server, &format!("?token={token}")).await;
    assert_eq!(back.player_id(), right_id, "the same player");
    let start = back.recv_type("match.start").await;
    assert_eq!(start["data"]["matchId"], match_id.as_str());
    assert_eq!(start["data"]["seat"], "right");
    assert!(
        start["data"]["tick"].as_u64().unwrap() >= paused_tick,
        "the current tick"
    );
    let returned = left
        .recv_where(|m| m["type"] == "match.event" && m["data"]["kind"] == "player_back")
        .await;
    assert_eq!(returned["data"]["player"], right_id.as_str());
    left.recv_where(|m| m["type"] == "state" && m["data"]["phase"] == "countdown")
        .await;
    let resumed = left
        .recv_where(|m| m["type"] == "match.event" && m["data"]["kind"] == "resumed")
        .await;
    assert_eq!(resumed["data"]["matchId"], match_id.as_str());
    back.recv_where(|m| m["type"] == "state" && m["data"]["phase"] == "playing")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_past_the_grace_forfeits_and_is_recorded() {
    let server = Server::start(&["--reconnect-grace", "1s"]);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let match_id = start_pong(&mut left, &mut right, 11).await;
    let right_id = right.player_id();
    right.ws.close(None).await.unwrap();
    drop(right);
    let end = left.recv_type("match.end").await;
    assert_eq!(end["data"]["reason"], "forfeit");
    let players = end["data"]["players"].as_array().unwrap();
    let loser = players
        .iter()
        .find(|p| p["id"] == right_id.as_str())
        .unwrap();
    assert_eq!(loser["result"], "loss");
    let record = fetch_record(&server, &match_id).await;
    assert_eq!(record["reason"], "forfeit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_on_purpose_forfeits_at_once() {
    let server = Server::start(&[]);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let match_id = start_pong(&mut left, &mut right, 11).await;
    let reply = right
        .request("match.leave", json!({"matchId": match_id}))
        .await;
    assert_eq!(reply["type"], "ack");
    let end = left.recv_type("match.end").await;
    assert_eq!(end["data"]["reason"], "forfeit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_vanishes_is_found_by_the_heartbeat_and_dropped() {
    let server = Server::start(&[
        "--heartbeat-idle",
        "300ms",
        "--heartbeat-timeout",
        "600ms",
        "--reconnect-grace",
        "30s",
    ]);
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let _match_id = start_pong(&mut left, &mut right, 11).await;
    // `right` goes silent: it neither sends nor reads, so pings go unanswered; `left` keeps
    // talking (its inputs count as life).
    let right_id = right.player_id();
    let started = Instant::now();
    let paused = loop {
        left.send(json!({"type": "chat.message", "data": {"text": "still here"}}))
            .await;
        let message = left.next_message().await.unwrap().unwrap();
        if message["type"] == "match.event" && message["data"]["kind"] == "paused" {
            break message;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "the vanished client was never dropped"
        );
        if message["type"] == "state" {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert_eq!(paused["data"]["player"], right_id.as_str());
    drop(right);
}
