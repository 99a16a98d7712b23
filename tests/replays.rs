//! Replays end to end (issue 16): matches of every game and mode are played over real sockets
//! (one with a dropped-and-returned player, one forfeited), then each replay is fetched, its
//! frames rendered by the server reproduce the record's score and ticks, the route's errors
//! (404, 410) are checked, and `arcade replay verify` runs on the database.

mod common;

use std::process::Command;

use common::{Client, Server, fetch_record, get_json, http, start_pong};
use serde_json::{Value, json};

/// Plays one seat until `match.end`, steering away from its ball (so the match ends soon),
/// with a launch whenever a Breakout ball rests. Returns the `match.end` message.
async fn play_until_end(mut client: Client, match_id: String, seat: &'static str) -> Value {
    let mut seq = 0u64;
    let mut states = 0u64;
    loop {
        let message = match client.backlog.pop_front() {
            Some(message) => message,
            None => match client.next_message().await {
                Some(Ok(message)) => message,
                other => panic!("{seat}: connection ended before match.end: {other:?}"),
            },
        };
        if message["type"] == "match.end" {
            return message;
        }
        if message["type"] != "state" {
            continue;
        }
        states += 1;
        if !states.is_multiple_of(4) {
            continue;
        }
        let data = &message["data"];
        let (axis, launch) = if let Some(fields) = data["breakout"]["fields"].as_array() {
            let Some(field) = fields.iter().find(|f| f["seat"] == seat) else {
                continue;
            };
            let paddle = field["paddle"]["x"].as_f64().unwrap();
            let away = if field["ball"]["x"].as_f64().unwrap() < paddle {
                1.0
            } else {
                -1.0
            };
            (away, field["ball"]["resting"] == true)
        } else {
            let Some(paddle) = data["pong"]["paddles"]
                .as_array()
                .and_then(|paddles| paddles.iter().find(|p| p["seat"] == seat))
            else {
                continue;
            };
            let ball = &data["pong"]["ball"];
            let away = if paddle["y"].as_f64().unwrap() > ball["y"].as_f64().unwrap() {
                1.0
            } else {
                // A float axis now and then, so the log carries one.
                if states.is_multiple_of(20) {
                    -0.75
                } else {
                    -1.0
                }
            };
            (away, false)
        };
        seq += 1;
        let input = json!({"matchId": match_id, "seq": seq, "axis": axis, "launch": launch});
        client.send(json!({"type": "input", "data": input})).await;
    }
}

/// Creates a match of `game`/`mode` with `options`, seats `clients` in order, and returns
/// its id once every client has `match.start`.
async fn start(game: &str, mode: &str, options: Value, clients: &mut [Client]) -> String {
    let created = clients[0]
        .request(
            "match.create",
            json!({"game": game, "mode": mode, "options": options}),
        )
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    for client in clients.iter_mut().skip(1) {
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

/// The scores of a `state` frame: Pong's two, or each Breakout field's.
fn frame_scores(frame: &Value) -> Vec<u64> {
    match frame["pong"]["score"].as_array() {
        Some(score) => score.iter().map(|s| s.as_u64().unwrap()).collect(),
        None => frame["breakout"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|field| field["score"].as_u64().unwrap())
            .collect(),
    }
}

/// Checks a finished match's replay over HTTP: the record says it has one, the replay has
/// the documented shape, and the last frame the server renders has the record's tick and
/// scores. Returns the record.
async fn check_replay(server: &Server, match_id: &str) -> Value {
    let record = fetch_record(server, match_id).await;
    assert_eq!(record["hasReplay"], true, "{record}");
    let replay = get_json(server, &format!("/api/matches/{match_id}/replay")).await;
    assert_eq!(replay["match"]["id"], match_id);
    assert_eq!(replay["gameVersion"], 1);
    assert_eq!(replay["finalHash"].as_str().unwrap().len(), 16);
    assert!(replay["logBytes"].as_u64().unwrap() > 0, "{replay}");
    assert!(!replay["players"].as_array().unwrap().is_empty());
    let ticks = record["ticks"].as_u64().unwrap();
    let frames = get_json(
        server,
        &format!("/api/matches/{match_id}/replay/frames?from=1&step=3"),
    )
    .await;
    assert_eq!(frames["ticks"], ticks);
    let frames = frames["frames"].as_array().unwrap();
    assert_eq!(
        frames[0]["tick"], 1,
        "the first frame follows the first step"
    );
    let last = frames.last().unwrap();
    assert_eq!(last["tick"], ticks, "the last frame is the end");
    assert_eq!(last["phase"], "finished");
    let mut expected: Vec<u64> = Vec::new();
    let players = record["players"].as_array().unwrap();
    if record["game"] == "pong" {
        // Team scores: a left seat's score is the left side's.
        let side = |left: bool| {
            players
                .iter()
                .find(|p| p["seat"].as_str().unwrap().starts_with("left") == left)
                .map_or(0, |p| p["score"].as_u64().unwrap())
        };
        expected.extend([side(true), side(false)]);
        let scores = frame_scores(last);
        // vs_bot: the bot's side has no record entry; compare the player's side only.
        if record["mode"] == "vs_bot" {
            assert_eq!(scores[0], expected[0], "{match_id}");
        } else {
            assert_eq!(scores, expected, "{match_id}");
        }
    } else {
        expected.extend(players.iter().map(|p| p["score"].as_u64().unwrap()));
        assert_eq!(frame_scores(last), expected, "{match_id}");
    }
    // A window in the middle, every tick.
    let middle = ticks / 2;
    let window = get_json(
        server,
        &format!(
            "/api/matches/{match_id}/replay/frames?from={middle}&to={}",
            middle + 9
        ),
    )
    .await;
    let ticks_seen: Vec<u64> = window["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["tick"].as_u64().unwrap())
        .collect();
    assert_eq!(ticks_seen, (middle..=middle + 9).collect::<Vec<_>>());
    record
}

/// Runs `arcade replay verify` on `db`; returns (success, stdout).
fn verify(db: &std::path::Path, only: Option<&str>) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_arcade"));
    command.args(["replay", "verify", "--db"]).arg(db);
    if let Some(id) = only {
        command.args(["--match", id]);
    }
    let output = command.output().expect("arcade replay verify runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_game_and_mode_replays_to_its_record_and_verify_agrees() {
    let server = Server::start(&["--reconnect-grace", "5s"]);
    let connect = || Client::connect(&server, "");

    // Pong 1v1 with a dropped-and-returned player.
    let mut left = connect().await;
    let mut right = connect().await;
    let dropped_id = start_pong(&mut left, &mut right, 1).await;
    let token = right.token();
    right.ws.close(None).await.unwrap();
    drop(right);
    left.recv_where(|m| m["type"] == "match.event" && m["data"]["kind"] == "paused")
        .await;
    let mut back = Client::connect(&server, &format!("?token={token}")).await;
    back.recv_type("match.start").await;
    left.recv_where(|m| m["type"] == "match.event" && m["data"]["kind"] == "player_back")
        .await;
    let mut games = vec![
        tokio::spawn(play_until_end(left, dropped_id.clone(), "left")),
        tokio::spawn(play_until_end(back, dropped_id.clone(), "right")),
    ];

    // Pong 1v1 forfeited by a leave.
    let mut stays = connect().await;
    let mut leaves = connect().await;
    let forfeit_id = start_pong(&mut stays, &mut leaves, 11).await;
    stays
        .recv_where(|m| m["type"] == "state" && m["data"]["phase"] == "playing")
        .await;
    let left_reply = leaves
        .request("match.leave", json!({"matchId": forfeit_id}))
        .await;
    assert_eq!(left_reply["type"], "ack");
    assert_eq!(
        stays.recv_type("match.end").await["data"]["reason"],
        "forfeit"
    );

    // Pong 2v2, vs_bot; Breakout solo and versus.
    let mut four = vec![
        connect().await,
        connect().await,
        connect().await,
        connect().await,
    ];
    let team_id = start("pong", "2v2", json!({"scoreLimit": 1}), &mut four).await;
    for (client, seat) in
        four.into_iter()
            .zip(["left_back", "right_back", "left_front", "right_front"])
    {
        games.push(tokio::spawn(play_until_end(client, team_id.clone(), seat)));
    }
    let mut solo_bot = vec![connect().await];
    let bot_id = start(
        "pong",
        "vs_bot",
        json!({"scoreLimit": 1, "bot": "hard"}),
        &mut solo_bot,
    )
    .await;
    games.push(tokio::spawn(play_until_end(
        solo_bot.pop().unwrap(),
        bot_id.clone(),
        "left",
    )));
    let mut solo = vec![connect().await];
    let solo_id = start("breakout", "solo", json!({}), &mut solo).await;
    games.push(tokio::spawn(play_until_end(
        solo.pop().unwrap(),
        solo_id.clone(),
        "p1",
    )));
    let mut pair = vec![connect().await, connect().await];
    let versus_id = start("breakout", "versus", json!({"timeLimit": 15}), &mut pair).await;
    for (client, seat) in pair.into_iter().zip(["p1", "p2"]) {
        games.push(tokio::spawn(play_until_end(
            client,
            versus_id.clone(),
            seat,
        )));
    }
    for game in games {
        let end = game.await.expect("a player task");
        assert_eq!(end["type"], "match.end");
    }

    // The replay is there the moment match.end was sent (written in the same commit); the
    // record is read the same way whichever came first.
    for id in [
        &dropped_id,
        &forfeit_id,
        &team_id,
        &bot_id,
        &solo_id,
        &versus_id,
    ] {
        let record = check_replay(&server, id).await;
        if id == &forfeit_id {
            assert_eq!(record["reason"], "forfeit");
        }
    }
    let dropped = get_json(&server, &format!("/api/matches/{dropped_id}/replay")).await;
    assert_eq!(dropped["players"].as_array().unwrap().len(), 2);

    // Errors: an unknown match is 404, a match without a replay or of another game version 410.
    let base = server.url("");
    let status = |path: String| {
        let url = format!("{base}{path}");
        async move {
            let response = http().get(url).send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }
    };
    for path in [
        "/api/matches/m_00000000000000ff/replay".to_owned(),
        "/api/matches/nonsense/replay".to_owned(),
        "/api/matches/m_00000000000000ff/replay/frames".to_owned(),
    ] {
        let (code, body) = status(path.clone()).await;
        assert_eq!(code, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (code, body) = status(format!("/api/matches/{solo_id}/replay/frames?step=0")).await;
    assert_eq!(code, 400, "{body}");

    let db = server.dir.path().join("arcade.db");
    let (ok, out) = verify(&db, None);
    assert!(ok, "{out}");
    assert!(out.contains("6 replays verified: 6 reproduce"), "{out}");

    let sql = rusqlite::Connection::open(&db).unwrap();
    let seq_of = |id: &str| -> i64 {
        let raw = u64::from_str_radix(&id[2..], 16).unwrap() as i64;
        sql.query_row("SELECT seq FROM matches WHERE id = ?1", [raw], |row| {
            row.get(0)
        })
        .unwrap()
    };
    let (team_seq, bot_seq, solo_seq) = (seq_of(&team_id), seq_of(&bot_id), seq_of(&solo_id));
    sql.execute("DELETE FROM replays WHERE match_seq = ?1", [team_seq])
        .unwrap();
    sql.execute(
        "UPDATE replays SET game_version = 999 WHERE match_seq = ?1",
        [bot_seq],
    )
    .unwrap();
    let (code, body) = status(format!("/api/matches/{team_id}/replay")).await;
    assert_eq!(code, 410, "{body}");
    assert_eq!(body["error"]["code"], "replay_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("before replays")
    );
    let (code, body) = status(format!("/api/matches/{bot_id}/replay")).await;
    assert_eq!(code, 410, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("game version 999")
    );
    let (code, _) = status(format!("/api/matches/{bot_id}/replay/frames")).await;
    assert_eq!(code, 410);
    assert_eq!(fetch_record(&server, &team_id).await["hasReplay"], false);
    assert_eq!(fetch_record(&server, &bot_id).await["hasReplay"], false);

    // A tampered hash is a mismatch: verify prints it and exits non-zero.
    sql.execute(
        "UPDATE replays SET final_hash = final_hash + 1 WHERE match_seq = ?1",
        [solo_seq],
    )
    .unwrap();
    let (ok, out) = verify(&db, None);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("{solo_id}: MISMATCH")), "{out}");
    assert!(out.contains("state hash: stored"), "{out}");
    assert!(out.contains("1 skipped"), "{out}");
    let (ok, out) = verify(&db, Some(&versus_id));
    assert!(ok, "{out}");
    assert!(out.contains("1 replays verified: 1 reproduce"), "{out}");
}
