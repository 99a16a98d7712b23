//! Every mode beyond Pong 1v1, end to end over real sockets: a Breakout solo match until the
//! lives run out, a Breakout versus match to a result, a Pong 2v2 match with four clients, and
//! a Pong vs_bot match in which the bot's paddle moves.

mod common;

use common::{Client, Server, fetch_record};
use serde_json::{Value, json};

/// The next message of a client, backlog first.
async fn next(client: &mut Client, who: &str) -> Value {
    if let Some(message) = client.backlog.pop_front() {
        return message;
    }
    match client.next_message().await {
        Some(Ok(message)) => message,
        other => panic!("{who}: connection ended before match.end: {other:?}"),
    }
}

/// What a Breakout player saw of their own field until `match.end`.
struct BreakoutRun {
    end: Value,
    states: usize,
    /// Every distinct `lives` value seen, in order.
    lives: Vec<u64>,
}

/// Plays one Breakout field badly on purpose: launches at once and steers the paddle away
/// from the ball, so the balls are lost quickly.
async fn lose_breakout(mut client: Client, match_id: String, seat: &'static str) -> BreakoutRun {
    let mut seq = 0u64;
    let mut run = BreakoutRun {
        end: Value::Null,
        states: 0,
        lives: Vec::new(),
    };
    loop {
        let message = next(&mut client, seat).await;
        match message["type"].as_str() {
            Some("match.end") => {
                run.end = message;
                return run;
            }
            Some("state") => {
                run.states += 1;
                let data = &message["data"];
                assert_eq!(data["matchId"], match_id.as_str());
                assert!(data.get("pong").is_none());
                let fields = data["breakout"]["fields"].as_array().expect("fields");
                let field = fields
                    .iter()
                    .find(|f| f["seat"] == seat)
                    .expect("my field is in the state");
                let bricks = field["bricks"].as_array().expect("bricks");
                assert_eq!(bricks.len(), 6, "one bitmask per row");
                assert!(bricks.iter().all(|row| row.as_u64().unwrap() < 1 << 12));
                let lives = field["lives"].as_u64().unwrap();
                if run.lives.last() != Some(&lives) {
                    run.lives.push(lives);
                }
                if run.states.is_multiple_of(3) {
                    let ball = &field["ball"];
                    let paddle = field["paddle"]["x"].as_f64().unwrap();
                    let axis = if ball["x"].as_f64().unwrap() < paddle {
                        1.0
                    } else {
                        -1.0
                    };
                    let launch = ball["resting"] == true;
                    seq += 1;
                    let input =
                        json!({"matchId": match_id, "seq": seq, "axis": axis, "launch": launch});
                    client.send(json!({"type": "input", "data": input})).await;
                }
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breakout_solo_match_plays_until_the_lives_run_out() {
    let server = Server::start(&[]);
    let mut player = Client::connect(&server, "").await;
    let created = player
        .request("match.create", json!({"game": "breakout", "mode": "solo"}))
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let start = player.recv_type("match.start").await;
    assert_eq!(start["data"]["seat"], "p1");
    assert_eq!(start["data"]["game"], "breakout");

    let player_id = player.player_id();
    let run = lose_breakout(player, match_id.clone(), "p1").await;
    assert!(run.states > 60, "states flowed: {}", run.states);
    // The tick that loses the last ball ends the match: no `state` shows 0 lives.
    assert_eq!(run.lives, [3, 2, 1], "one life at a time");
    let end = &run.end["data"];
    assert_eq!(end["reason"], "lives", "{end}");
    let players = end["players"].as_array().unwrap();
    assert_eq!(players.len(), 1);
    assert_eq!(players[0]["id"], player_id.as_str());
    assert_eq!(players[0]["result"], "loss", "three walls were not cleared");

    let record = fetch_record(&server, &match_id).await;
    assert_eq!(record["game"], "breakout");
    assert_eq!(record["mode"], "solo");
    assert_eq!(record["reason"], "lives");
    assert_eq!(record["players"][0]["score"], players[0]["score"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breakout_versus_match_plays_to_a_result() {
    let server = Server::start(&[]);
    let mut first = Client::connect(&server, "").await;
    let mut second = Client::connect(&server, "?codec=msgpack").await;
    let created = first
        .request(
            "match.create",
            json!({"game": "breakout", "mode": "versus", "options": {"timeLimit": 20}}),
        )
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let joined = second
        .request("match.join", json!({"matchId": match_id}))
        .await;
    assert_eq!(joined["data"]["seat"], "p2", "{joined}");
    for client in [&mut first, &mut second] {
        let start = client.recv_type("match.start").await;
        assert_eq!(start["data"]["players"].as_array().unwrap().len(), 2);
    }
    let one = tokio::spawn(lose_breakout(first, match_id.clone(), "p1"));
    let two = tokio::spawn(lose_breakout(second, match_id.clone(), "p2"));
    let (one, two) = (one.await.unwrap(), two.await.unwrap());
    assert_eq!(one.end["data"], two.end["data"], "the same end for both");
    let end = &one.end["data"];
    let reason = end["reason"].as_str().unwrap();
    assert!(["lives", "time", "cleared"].contains(&reason), "{end}");
    let players = end["players"].as_array().unwrap();
    let score = |seat: &str| {
        let player = players.iter().find(|p| p["seat"] == seat).unwrap();
        (
            player["score"].as_u64().unwrap(),
            player["result"].as_str().unwrap().to_owned(),
        )
    };
    let ((s1, r1), (s2, r2)) = (score("p1"), score("p2"));
    let expected = match s1.cmp(&s2) {
        std::cmp::Ordering::Greater => ("win", "loss"),
        std::cmp::Ordering::Less => ("loss", "win"),
        std::cmp::Ordering::Equal => ("draw", "draw"),
    };
    assert_eq!((r1.as_str(), r2.as_str()), expected, "{end}");
}

/// Plays one Pong seat until `match.end`: follows the ball (`follow`) or dodges it.
async fn play_pong(
    mut client: Client,
    match_id: String,
    seat: &'static str,
    follow: bool,
) -> Value {
    let mut seq = 0u64;
    let mut states = 0usize;
    loop {
        let message = next(&mut client, seat).await;
        match message["type"].as_str() {
            Some("match.end") => return message,
            Some("state") => {
                states += 1;
                let pong = &message["data"]["pong"];
                let ball_y = pong["ball"]["y"].as_f64().unwrap();
                let paddle_y = pong["paddles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["seat"] == seat)
                    .expect("my paddle")["y"]
                    .as_f64()
                    .unwrap();
                let toward = ((ball_y - paddle_y) / 7.0).clamp(-1.0, 1.0);
                let axis = if follow {
                    toward
                } else if paddle_y > ball_y {
                    1.0
                } else {
                    -1.0
                };
                if states.is_multiple_of(2) {
                    seq += 1;
                    let input = json!({"matchId": match_id, "seq": seq, "axis": axis});
                    client.send(json!({"type": "input", "data": input})).await;
                }
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pong_2v2_match_plays_with_four_clients() {
    let server = Server::start(&[]);
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(Client::connect(&server, "").await);
    }
    let created = clients[0]
        .request(
            "match.create",
            json!({"game": "pong", "mode": "2v2", "options": {"scoreLimit": 2}}),
        )
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let mut seats = vec!["left_back".to_owned()];
    for client in &mut clients[1..] {
        let joined = client
            .request("match.join", json!({"matchId": match_id}))
            .await;
        assert_eq!(joined["type"], "ack", "{joined}");
        seats.push(joined["data"]["seat"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        seats,
        ["left_back", "right_back", "left_front", "right_front"]
    );
    let mut fifth = Client::connect(&server, "").await;
    let full = fifth
        .request("match.join", json!({"matchId": match_id}))
        .await;
    assert_eq!(full["data"]["code"], "conflict");

    for client in &mut clients {
        let start = client.recv_type("match.start").await;
        assert_eq!(start["data"]["players"].as_array().unwrap().len(), 4);
    }
    // The first state of play has the four paddles at their columns.
    let state = clients[0]
        .recv_where(|m| m["type"] == "state" && m["data"]["phase"] == "playing")
        .await;
    let xs: Vec<(String, f64)> = state["data"]["pong"]["paddles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["seat"].as_str().unwrap().to_owned(),
                p["x"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        xs,
        [
            ("left_back".to_owned(), 30.0),
            ("right_back".to_owned(), 770.0),
            ("left_front".to_owned(), 180.0),
            ("right_front".to_owned(), 620.0),
        ]
    );

    // The right team follows the ball, the left team dodges it: the right team wins.
    let names = ["left_back", "right_back", "left_front", "right_front"];
    let mut tasks = Vec::new();
    for (client, seat) in clients.into_iter().zip(names) {
        let follow = seat.starts_with("right");
        tasks.push(tokio::spawn(play_pong(
            client,
            match_id.clone(),
            seat,
            follow,
        )));
    }
    let mut ends = Vec::new();
    for task in tasks {
        ends.push(task.await.unwrap());
    }
    let end = &ends[0]["data"];
    assert_eq!(end["reason"], "score_limit", "{end}");
    for player in end["players"].as_array().unwrap() {
        let seat = player["seat"].as_str().unwrap();
        let expected = if seat.starts_with("right") {
            "win"
        } else {
            "loss"
        };
        assert_eq!(player["result"], expected, "{end}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pong_vs_bot_match_has_a_moving_bot_paddle() {
    let server = Server::start(&[]);
    let mut human = Client::connect(&server, "").await;
    let created = human
        .request(
            "match.create",
            json!({"game": "pong", "mode": "vs_bot", "options": {"scoreLimit": 2, "bot": "hard"}}),
        )
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let start = human.recv_type("match.start").await;
    let players = start["data"]["players"].as_array().unwrap();
    assert_eq!(players.len(), 1, "the bot seat is not a player: {start}");
    assert_eq!(start["data"]["seat"], "left");

    // The human returns the ball until the bot's paddle has moved off its start to meet it,
    // then dodges.
    let mut seq = 0u64;
    let mut bot_moved = false;
    let mut states = 0usize;
    let end = loop {
        let message = next(&mut human, "human").await;
        match message["type"].as_str() {
            Some("match.end") => break message,
            Some("state") => {
                states += 1;
                let data = &message["data"];
                assert_eq!(
                    data["acks"].as_object().unwrap().len(),
                    1,
                    "no ack for a bot"
                );
                let paddles = data["pong"]["paddles"].as_array().unwrap();
                assert_eq!(paddles.len(), 2);
                let y = |seat: &str| {
                    paddles.iter().find(|p| p["seat"] == seat).unwrap()["y"]
                        .as_f64()
                        .unwrap()
                };
                bot_moved |= y("right") != 300.0;
                let ball_y = data["pong"]["ball"]["y"].as_f64().unwrap();
                if states.is_multiple_of(2) {
                    seq += 1;
                    let axis = if !bot_moved {
                        ((ball_y - y("left")) / 7.0).clamp(-1.0, 1.0)
                    } else if y("left") > ball_y {
                        1.0
                    } else {
                        -1.0
                    };
                    let input = json!({"matchId": match_id, "seq": seq, "axis": axis});
                    human.send(json!({"type": "input", "data": input})).await;
                }
            }
            _ => {}
        }
    };
    assert!(bot_moved, "the bot's paddle moved");
    let end = &end["data"];
    assert_eq!(end["reason"], "score_limit", "{end}");
    let players = end["players"].as_array().unwrap();
    assert_eq!(players.len(), 1, "{end}");
    let expected = if players[0]["score"] == 2 {
        "win"
    } else {
        "loss"
    };
    assert_eq!(players[0]["result"], expected, "{end}");
}
