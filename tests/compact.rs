//! The compact `state` mode over real sockets (issue 17, PROTOCOL.md "Compact snapshots"): a
//! `?codec=compact` client decodes keyframes and deltas into the very states a MessagePack
//! client of the same match gets (to the nearest eighth), in every game and mode; keyframes
//! on arrival, reconnect and `state.resync`.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Client, Server, dodge_and_record, metric, start_pong};
use serde_json::{Map, Value, json};

/// A `state`'s `data` as the compact mode carries it: positions and velocities rounded to the
/// nearest eighth, every number as a float.
fn quantized(value: &Value, key: &str) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), quantized(v, k)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| quantized(v, key)).collect()),
        Value::Number(number) => {
            let v = number.as_f64().unwrap();
            let v = if matches!(key, "x" | "y" | "vx" | "vy") {
                (v * 8.0).round() / 8.0
            } else {
                v
            };
            json!(v)
        }
        other => other.clone(),
    }
}

/// The `data` of each `state` by tick.
fn by_tick(states: &[Value]) -> BTreeMap<u64, Value> {
    states
        .iter()
        .map(|m| (m["data"]["tick"].as_u64().unwrap(), m["data"].clone()))
        .collect()
}

/// Asserts that every tick both saw carries the same state (MessagePack quantized); returns
/// how many ticks were compared.
fn assert_same_states(compact: &[Value], msgpack: &[Value]) -> usize {
    let (compact, msgpack) = (by_tick(compact), by_tick(msgpack));
    let mut compared = 0;
    for (tick, data) in &compact {
        if let Some(packed) = msgpack.get(tick) {
            assert_eq!(
                quantized(data, ""),
                quantized(packed, ""),
                "tick {tick}: compact vs MessagePack"
            );
            compared += 1;
        }
    }
    compared
}

/// Reads every message for `time`, returning the `state`s (a broken chain fails the test).
async fn states_for(client: &mut Client, time: Duration) -> Vec<Value> {
    let deadline = Instant::now() + time;
    let mut states = Vec::new();
    while Instant::now() < deadline {
        match client.next_message().await {
            Some(Ok(message)) if message["type"] == "state" => states.push(message),
            Some(Ok(message)) => {
                assert_ne!(message["type"], "compact.broken", "a delta broke the chain");
                client.backlog.push_back(message);
            }
            other => panic!("connection ended: {other:?}"),
        }
    }
    states
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compact_player_plays_pong_to_the_end_seeing_what_a_msgpack_player_sees() {
    let server = Server::start(&[]);
    let mut compact = Client::connect(&server, "?codec=compact").await;
    let mut packed = Client::connect(&server, "?codec=msgpack").await;
    assert!(compact.binary_frames >= 1, "hello came as MessagePack");
    let match_id = start_pong(&mut compact, &mut packed, 2).await;
    let left = tokio::spawn(dodge_and_record(compact, match_id.clone(), "left"));
    let right = tokio::spawn(dodge_and_record(packed, match_id.clone(), "right"));

    // A spectator arriving mid-match gets a keyframe, then deltas.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut watcher = Client::connect(&server, "?codec=compact").await;
    let joined = watcher
        .request(
            "match.join",
            json!({"matchId": match_id, "as": "spectator"}),
        )
        .await;
    assert_eq!(joined["type"], "ack", "{joined}");
    let watched = states_for(&mut watcher, Duration::from_millis(500)).await;
    assert!(watched.len() > 10, "{} states", watched.len());
    assert_eq!(watched[0]["compact"], "keyframe");
    // Deltas after it, but for a keyframe after each state an outbox dropped (a loaded
    // machine can make a reader fall a tick behind).
    let rekeyed = watched[1..]
        .iter()
        .filter(|m| m["compact"] != "delta")
        .count();
    let dropped_so_far = metric(&server, "arcade_ws_dropped_frames_total").await;
    assert!(
        rekeyed as f64 <= dropped_so_far,
        "{rekeyed} keyframes after the first, {dropped_so_far} states dropped"
    );
    assert!(watcher.keyframes as f64 <= 1.0 + dropped_so_far);

    let (left_end, left_states, compact) = left.await.unwrap();
    let (right_end, right_states, _) = right.await.unwrap();
    assert_eq!(left_end["data"], right_end["data"], "the same end");
    assert_eq!(left_end["data"]["reason"], "score_limit");
    let compared = assert_same_states(&left_states, &right_states);
    assert!(compared > 200, "{compared} ticks compared");
    assert_same_states(&watched, &right_states);
    // A keyframe for the first state, one more when the second player takes its seat (a seat
    // that changes hands keys every member) if a state went out before, and one after each
    // state an outbox dropped (the machine may be loaded); deltas otherwise; small frames.
    let keyed: Vec<u64> = left_states
        .iter()
        .filter(|m| m["compact"] == "keyframe")
        .map(|m| m["data"]["tick"].as_u64().unwrap())
        .collect();
    let dropped = metric(&server, "arcade_ws_dropped_frames_total").await;
    assert!(
        compact.keyframes as f64 <= 2.0 + dropped,
        "keyframes at {keyed:?}"
    );
    // Every state recorded came as a compact frame (a few more were read while waiting for
    // `match.start`).
    let frames = compact.keyframes + compact.deltas;
    assert!(frames >= left_states.len() && frames <= left_states.len() + 30);
    let mean = compact.compact_bytes as f64 / (compact.keyframes + compact.deltas) as f64;
    assert!(mean < 20.0, "mean compact frame {mean:.1} bytes");
    let sample = "arcade_ws_bytes_total{codec=\"compact\",direction=\"out\"}";
    assert!(metric(&server, sample).await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_and_resync_bring_a_keyframe_and_a_paused_reader_never_applies_a_stale_delta() {
    let server = Server::start(&[]);
    let mut left = Client::connect(&server, "?codec=compact").await;
    let mut right = Client::connect(&server, "?codec=compact").await;
    let match_id = start_pong(&mut left, &mut right, 5).await;
    let states = states_for(&mut left, Duration::from_millis(300)).await;
    assert_eq!(states[0]["compact"], "keyframe");

    // state.resync: ack, then a keyframe within the next two states (one delta may already be
    // on its way); a match it is not in: not_found.
    let ack = left
        .request("state.resync", json!({"matchId": match_id}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let next = states_for(&mut left, Duration::from_millis(200)).await;
    assert!(
        next.iter().take(2).any(|m| m["compact"] == "keyframe"),
        "{:?}",
        next.iter().map(|m| &m["compact"]).collect::<Vec<_>>()
    );
    let stranger = "m_00000000000003e7";
    let missing = left
        .request("state.resync", json!({"matchId": stranger}))
        .await;
    assert_eq!(missing["data"]["code"], "not_found", "{missing}");

    // A reader that stops for a while, then resumes: whatever its outbox dropped, every
    // frame it then reads continues its chain (or is a keyframe).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let resumed = states_for(&mut left, Duration::from_millis(500)).await;
    let ticks: Vec<u64> = resumed
        .iter()
        .map(|m| m["data"]["tick"].as_u64().unwrap())
        .collect();
    assert!(ticks.windows(2).all(|w| w[0] < w[1]), "{ticks:?}");

    // Reconnecting: the new connection's first state of the match is a keyframe.
    let token = right.token();
    drop(right);
    let mut back = Client::connect(&server, &format!("?codec=compact&token={token}")).await;
    back.recv_type("match.start").await;
    let states = states_for(&mut back, Duration::from_millis(300)).await;
    assert_eq!(states[0]["compact"], "keyframe");
    assert!(states[1..].iter().all(|m| m["compact"] == "delta"));
    assert_eq!(states[0]["data"]["matchId"], match_id.as_str());
}

/// Creates a match of `game`/`mode` by the first client, seats the others, and returns its id
/// once everyone got `match.start`.
async fn start_match(clients: &mut [Client], game: &str, mode: &str) -> String {
    let created = clients[0]
        .request("match.create", json!({"game": game, "mode": mode}))
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    for client in &mut clients[1..] {
        let joined = client
            .request("match.join", json!({"matchId": match_id}))
            .await;
        assert_eq!(joined["type"], "ack", "{joined}");
    }
    for client in clients.iter_mut() {
        client.recv_type("match.start").await;
    }
    match_id
}

/// Every client reads for two seconds; the compact ones' states equal the MessagePack ones'.
async fn compare_modes(server: &Server, game: &str, mode: &str, codecs: &[&str]) {
    let mut clients = Vec::new();
    for codec in codecs {
        clients.push(Client::connect(server, &format!("?codec={codec}")).await);
    }
    let match_id = start_match(&mut clients, game, mode).await;
    let reads = clients.into_iter().map(|mut client| {
        tokio::spawn(async move {
            let states = states_for(&mut client, Duration::from_secs(2)).await;
            (states, client)
        })
    });
    let mut compact = Vec::new();
    let mut packed = Vec::new();
    for read in reads.collect::<Vec<_>>() {
        let (states, client) = read.await.unwrap();
        assert!(states.len() > 60, "{game} {mode}: {} states", states.len());
        assert_eq!(states[0]["data"]["matchId"], match_id.as_str());
        if client.keyframes > 0 {
            assert_eq!(states[0]["compact"], "keyframe");
            compact.push(states);
        } else {
            packed.push(states);
        }
    }
    for states in &compact {
        let compared = assert_same_states(states, &packed[0]);
        assert!(compared > 60, "{game} {mode}: {compared} ticks compared");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakout_versus_and_pong_2v2_in_compact_mode() {
    let server = Server::start(&[]);
    compare_modes(&server, "breakout", "versus", &["compact", "msgpack"]).await;
    let codecs = ["compact", "msgpack", "compact", "json"];
    compare_modes(&server, "pong", "2v2", &codecs).await;
}
