//! Tournaments end to end (issue 13): the real server on 127.0.0.1:0 and bot clients over
//! real sockets. A 7-player single elimination Pong bracket runs to a champion through a
//! no-show's forfeit and a server restart in round two; a 5-player round robin and a 6-player
//! 3-round Swiss end in the documented order with its tie-breaks; every bad input is refused
//! and changes nothing.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{NO_HTTP_LIMITS, NO_WS_LIMITS, Server, http};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// How long a whole tournament may take before the test fails.
const TOURNAMENT_WAIT: Duration = Duration::from_secs(120);

fn args(grace: &'static str) -> Vec<&'static str> {
    let mut args: Vec<&str> = NO_HTTP_LIMITS.to_vec();
    args.extend_from_slice(NO_WS_LIMITS);
    args.extend_from_slice(&["--reconnect-grace", grace]);
    args
}

/// A guest's id and token.
async fn guest(addr: &str) -> (String, String) {
    let body: Value = http()
        .post(format!("http://{addr}/api/auth/guest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        body["player"]["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

/// `method path` with an optional bearer and JSON body: `(status, body)`.
async fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("http://{addr}{path}");
    let mut request = match method {
        "GET" => http().get(url),
        _ => http().post(url),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits (bounded) until the tournament passes `done`; returns its view.
async fn wait_for(addr: &Arc<Mutex<String>>, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + TOURNAMENT_WAIT;
    loop {
        let at = addr.lock().unwrap().clone();
        let (status, view) = call(&at, "GET", &format!("/api/tournaments/{id}"), None, None).await;
        if status == 200 && done(&view) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "tournament never got there: {view:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a bot does in a tournament match against an opponent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Play {
    /// Plays it out, dodging the ball (so the first ball that comes its way scores).
    Dodge,
    /// Leaves the match at once: forfeits it.
    Forfeit,
}

type Policy = Arc<dyn Fn(&str, &str) -> Play + Send + Sync>;

/// A bot player: connects with its token to whatever address the server has now (again after
/// a restart), takes the tournament matches it is seated in, and plays them by `policy`.
fn spawn_bot(
    addr: Arc<Mutex<String>>,
    me: String,
    token: String,
    policy: Policy,
    stop: Arc<AtomicBool>,
) {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let at = addr.lock().unwrap().clone();
            let url = format!("ws://{at}/ws?token={token}");
            let Ok(Ok((mut ws, _))) = tokio::time::timeout(
                Duration::from_secs(2),
                tokio_tungstenite::connect_async(url),
            )
            .await
            else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let mut seats: HashMap<String, String> = HashMap::new();
            let mut seq = 0u64;
            let mut states = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let frame = match tokio::time::timeout(Duration::from_millis(500), ws.next()).await
                {
                    Err(_) => continue,
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(_))) => continue,
                    Ok(_) => break,
                };
                let message: Value = serde_json::from_str(&frame).unwrap();
                let data = &message["data"];
                let reply = match message["type"].as_str() {
                    Some("tournament.match") => {
                        let opponent = data["opponent"]["id"].as_str().unwrap();
                        (policy(&me, opponent) == Play::Forfeit).then(
                            || json!({"type": "match.leave", "data": {"matchId": data["matchId"]}}),
                        )
                    }
                    Some("match.start") => {
                        if let Some(seat) = data["seat"].as_str() {
                            let id = data["matchId"].as_str().unwrap().to_owned();
                            seats.insert(id, seat.to_owned());
                        }
                        None
                    }
                    Some("state") => {
                        states += 1;
                        let id = data["matchId"].as_str().unwrap_or_default();
                        let Some(seat) = seats.get(id) else { continue };
                        let ball = &data["pong"]["ball"];
                        let paddle = data["pong"]["paddles"].as_array().and_then(|paddles| {
                            paddles.iter().find(|p| p["seat"] == seat.as_str())
                        });
                        match (paddle, states.is_multiple_of(3)) {
                            (Some(paddle), true) => {
                                let coming = seat.starts_with("left")
                                    == (ball["vx"].as_f64().unwrap_or(0.0) < 0.0);
                                let away = if paddle["y"].as_f64() > ball["y"].as_f64() {
                                    1.0
                                } else {
                                    -1.0
                                };
                                seq += 1;
                                let axis = if coming { away } else { 0.0 };
                                Some(
                                    json!({"type": "input", "data": {"matchId": id, "seq": seq, "axis": axis}}),
                                )
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if let Some(reply) = reply {
                    use futures_util::SinkExt;
                    if ws
                        .send(Message::Text(reply.to_string().into()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
}

/// `count` guests, sorted by id (which is the seed order when every rating is the same).
async fn guests(addr: &str, count: usize) -> Vec<(String, String)> {
    let mut players = Vec::with_capacity(count);
    for _ in 0..count {
        players.push(guest(addr).await);
    }
    players.sort();
    players
}

async fn create(addr: &str, token: &str, body: Value) -> String {
    let (status, view) = call(addr, "POST", "/api/tournaments", Some(token), Some(body)).await;
    assert_eq!(status, 201, "{view}");
    view["id"].as_str().unwrap().to_owned()
}

async fn register(addr: &str, id: &str, token: &str, alias: Option<&str>) {
    let body = alias.map(|alias| json!({"alias": alias}));
    let path = format!("/api/tournaments/{id}/register");
    let (status, view) = call(addr, "POST", &path, Some(token), body).await;
    assert_eq!(status, 200, "{view}");
}

/// Lets the bots connect, then the host starts the tournament; returns its view.
async fn start_after_bots(at: &str, id: &str, host: &str) -> Value {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let path = format!("/api/tournaments/{id}/start");
    let (status, started) = call(at, "POST", &path, Some(host), None).await;
    assert_eq!(status, 200, "{started}");
    started
}

fn pairing_with<'a>(view: &'a Value, round: u64, player: &str) -> &'a Value {
    view["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["round"] == round && (m["home"]["id"] == player || m["away"]["id"] == player))
        .unwrap_or_else(|| panic!("no round {round} match of {player}: {view:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seven_player_bracket_crowns_a_champion_through_a_forfeit_and_a_restart() {
    let args = args("2s");
    let server = Server::start(&args);
    let addr = Arc::new(Mutex::new(server.addr.clone()));
    let at = server.addr.clone();
    let (_, host) = guest(&at).await;
    let players = guests(&at, 7).await;
    let id = create(
        &at,
        &host,
        json!({"name": "Friday Cup", "game": "pong", "format": "single_elimination",
               "cap": 8, "options": {"scoreLimit": 1}}),
    )
    .await;
    for (index, (_, token)) in players.iter().enumerate() {
        let alias = (index == 2).then_some("Ace");
        register(&at, &id, token, alias).await;
    }
    // The highest id is the lowest seed: it plays in round one (the top seed has the bye), and
    // never shows up.
    let absent = players[6].0.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let dodge: Policy = Arc::new(|_, _| Play::Dodge);
    for (player, token) in &players[..6] {
        spawn_bot(
            addr.clone(),
            player.clone(),
            token.clone(),
            dodge.clone(),
            stop.clone(),
        );
    }
    let started = start_after_bots(&at, &id, &host).await;
    assert_eq!(started["status"], "running");
    assert_eq!(started["rounds"], 3);
    let bye = pairing_with(&started, 1, &players[0].0);
    assert_eq!(bye["outcome"], "bye");
    assert_eq!(started["players"][2]["alias"], "Ace");

    // Round two under way: the no-show forfeited round one.
    let live = wait_for(&addr, &id, |v| {
        v["round"] == 2
            && v["matches"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["round"] == 2 && m["live"] == true)
    })
    .await;
    let forfeited = pairing_with(&live, 1, &absent);
    assert_eq!(forfeited["outcome"], "forfeit", "{forfeited}");
    assert_ne!(forfeited["winner"], absent.as_str());
    assert!(forfeited["winner"].is_string());

    // Restart in the middle of round two.
    let view_before: Value = call(&at, "GET", &format!("/api/tournaments/{id}"), None, None)
        .await
        .1;
    let live_before: Vec<(u64, String)> = view_before["matches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["round"] == 2 && m["live"] == true)
        .map(|m| {
            (
                m["slot"].as_u64().unwrap(),
                m["matchId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let dir = server.dir.clone();
    server.terminate();
    let server = Server::start_in(dir, &args);
    *addr.lock().unwrap() = server.addr.clone();
    let at = server.addr.clone();

    let done = wait_for(&addr, &id, |v| v["status"] == "finished").await;
    stop.store(true, Ordering::Relaxed);
    assert!(!live_before.is_empty());
    let log = server.log_text();
    assert!(
        log.lines()
            .any(|line| line.contains("tournament resumed") && line.contains("round=2")),
        "{log}"
    );
    let matches = done["matches"].as_array().unwrap();
    assert!(matches.iter().all(|m| m["outcome"].is_string()), "{done:#}");
    for (slot, old) in &live_before {
        let now = matches
            .iter()
            .find(|m| m["round"] == 2 && m["slot"] == *slot)
            .unwrap();
        if now["outcome"] == "played" {
            assert_ne!(
                now["matchId"],
                old.as_str(),
                "a live match is replayed as a new one"
            );
        }
    }
    let final_match = matches.iter().find(|m| m["round"] == 3).unwrap();
    let champion = final_match["winner"].as_str().unwrap().to_owned();
    assert_eq!(done["standings"][0]["player"]["id"], champion.as_str());
    assert_eq!(done["standings"][0]["place"], 1);
    // The final is an ordinary history record.
    if final_match["outcome"] == "played" {
        let record = common::fetch_record(&server, final_match["matchId"].as_str().unwrap()).await;
        assert_eq!(record["reason"], "score_limit");
        // ... that names its tournament and round.
        assert_eq!(record["tournament"]["id"], id.as_str(), "{record}");
        assert_eq!(record["tournament"]["round"], 3, "{record}");
    }
    // The champion's profile lists the placing.
    let (status, profile) = call(&at, "GET", &format!("/api/players/{champion}"), None, None).await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["tournaments"][0]["id"], id.as_str(), "{profile}");
    assert_eq!(profile["tournaments"][0]["place"], 1);
    assert_eq!(profile["tournaments"][0]["entrants"], 7);
    // Listed as finished.
    let (_, list) = call(
        &at,
        "GET",
        "/api/tournaments?status=finished&game=pong",
        None,
        None,
    )
    .await;
    assert_eq!(list["tournaments"][0]["id"], id.as_str());
}

/// Runs a tournament of `count` bots where the loser of each pairing (by `beats`) forfeits;
/// `withdraw` leaves right after the start. Returns the finished view and the players.
async fn forfeit_tournament(
    format: Value,
    count: usize,
    beats: fn(usize, usize) -> bool,
    withdraw: Option<usize>,
) -> (Value, Vec<(String, String)>) {
    // Nobody here is meant to miss a match: a grace long enough for a bot slowed by a loaded
    // machine to reach its match (a no-show would forfeit it and change the ranking).
    let args = args("8s");
    let server = Server::start(&args);
    let addr = Arc::new(Mutex::new(server.addr.clone()));
    let at = server.addr.clone();
    let (_, host) = guest(&at).await;
    let players = guests(&at, count).await;
    let mut body =
        json!({"name": "league", "game": "pong", "cap": 16, "options": {"scoreLimit": 1}});
    for (key, value) in format.as_object().unwrap() {
        body[key] = value.clone();
    }
    let id = create(&at, &host, body).await;
    for (_, token) in &players {
        register(&at, &id, token, None).await;
    }
    let index: Arc<HashMap<String, usize>> = Arc::new(
        players
            .iter()
            .enumerate()
            .map(|(i, (player, _))| (player.clone(), i))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    for (i, (player, token)) in players.iter().enumerate() {
        if Some(i) == withdraw {
            continue;
        }
        let index = index.clone();
        let policy: Policy = Arc::new(move |me, opponent| {
            // Nobody forfeits to the player who is about to leave: whether that leave or the
            // forfeit lands first would otherwise decide the match.
            if Some(index[opponent]) == withdraw {
                Play::Dodge
            } else if beats(index[opponent], index[me]) {
                Play::Forfeit
            } else {
                Play::Dodge
            }
        });
        spawn_bot(
            addr.clone(),
            player.clone(),
            token.clone(),
            policy,
            stop.clone(),
        );
    }
    start_after_bots(&at, &id, &host).await;
    if let Some(leaver) = withdraw {
        let path = format!("/api/tournaments/{id}/unregister");
        let (status, view) = call(&at, "POST", &path, Some(&players[leaver].1), None).await;
        assert_eq!(status, 200, "{view}");
    }
    let done = wait_for(&addr, &id, |v| v["status"] == "finished").await;
    stop.store(true, Ordering::Relaxed);
    drop(server);
    (done, players)
}

fn order(view: &Value, players: &[(String, String)]) -> Vec<usize> {
    view["standings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            players
                .iter()
                .position(|(p, _)| s["player"]["id"] == p.as_str())
                .unwrap()
        })
        .collect()
}

/// The ranking PROTOCOL.md documents, recomputed from the view's matches: points (a win 2,
/// a draw 1), then point difference, then head-to-head points among the tied, then seed.
fn documented_order(view: &Value, players: &[(String, String)]) -> Vec<usize> {
    let index = |id: &Value| players.iter().position(|(p, _)| id == p.as_str());
    let seed = |i: usize| {
        view["players"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == players[i].0.as_str())
            .unwrap()["seed"]
            .as_u64()
            .unwrap()
    };
    let n = players.len();
    let (mut points, mut diff) = (vec![0i64; n], vec![0i64; n]);
    let mut wins_over = vec![vec![0i64; n]; n];
    for m in view["matches"].as_array().unwrap() {
        let (Some(h), Some(a)) = (index(&m["home"]["id"]), index(&m["away"]["id"])) else {
            if let Some(w) = index(&m["winner"]) {
                points[w] += 2;
            }
            continue;
        };
        let (hs, aws) = (
            m["homeScore"].as_i64().unwrap_or(0),
            m["awayScore"].as_i64().unwrap_or(0),
        );
        diff[h] += hs - aws;
        diff[a] += aws - hs;
        match index(&m["winner"]) {
            Some(w) => {
                points[w] += 2;
                wins_over[w][if w == h { a } else { h }] += 2;
            }
            None if m["outcome"] == "played" => {
                points[h] += 1;
                points[a] += 1;
                wins_over[h][a] += 1;
                wins_over[a][h] += 1;
            }
            None => {}
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| {
        let tied: Vec<usize> = (0..n)
            .filter(|&j| points[j] == points[i] && diff[j] == diff[i])
            .collect();
        let head: i64 = tied.iter().map(|&j| wins_over[i][j]).sum();
        (-points[i], -diff[i], -head, seed(i))
    });
    order
}

/// PROTOCOL.md "Tournaments": round robin ranks by wins, then point difference, then
/// head-to-head among the tied, then rating. Every loser forfeits (no point difference):
/// 0 beats everyone; 1 and 2 tie on two wins and 2 beat 1; 3 and 4 tie on one and 3 beat 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_five_player_round_robin_ends_in_the_documented_order() {
    fn beats(a: usize, b: usize) -> bool {
        a != b
            && matches!(
                (a, b),
                (0, _) | (2, 1) | (1, 3) | (1, 4) | (2, 3) | (4, 2) | (3, 4)
            )
    }
    let (done, players) =
        forfeit_tournament(json!({"format": "round_robin"}), 5, beats, None).await;
    assert_eq!(done["matches"].as_array().unwrap().len(), 10);
    assert_eq!(order(&done, &players), vec![0, 2, 1, 3, 4], "{done:#}");
    assert_eq!(documented_order(&done, &players), vec![0, 2, 1, 3, 4]);
    let points: Vec<u64> = done["standings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["points"].as_u64().unwrap())
        .collect();
    assert_eq!(points, vec![8, 4, 4, 2, 2]);
}

/// A player who leaves a running round robin forfeits every match still to play.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_player_who_leaves_forfeits_the_rest() {
    fn beats(a: usize, b: usize) -> bool {
        a < b
    }
    let (done, players) =
        forfeit_tournament(json!({"format": "round_robin"}), 4, beats, Some(0)).await;
    assert_eq!(done["players"][0]["withdrawn"], true);
    let leaver = done["standings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["player"]["id"] == players[0].0.as_str())
        .unwrap();
    assert_eq!(
        (leaver["wins"].as_u64(), leaver["losses"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(order(&done, &players), vec![1, 2, 3, 0]);
    assert_eq!(documented_order(&done, &players), vec![1, 2, 3, 0]);
}

/// PROTOCOL.md "Tournaments": Swiss pairs equal scores in table order without rematches. The
/// better seed wins every match (the loser forfeits): round one 0-1, 2-3, 4-5; round two 0-2,
/// 4-1, 3-5; round three 0-3, 1-5, 2-4 (0 met 1 and 2 already). 1 and 2 tie on points and
/// never met: the seed decides; so do 3 and 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_six_player_swiss_ends_in_the_documented_order() {
    fn beats(a: usize, b: usize) -> bool {
        a < b
    }
    let (done, players) =
        forfeit_tournament(json!({"format": "swiss", "rounds": 3}), 6, beats, None).await;
    let matches = done["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 9);
    let mut met = std::collections::HashSet::new();
    for m in matches {
        let (a, b) = (
            m["home"]["id"].as_str().unwrap(),
            m["away"]["id"].as_str().unwrap(),
        );
        assert!(
            met.insert(if a < b { (a, b) } else { (b, a) }),
            "no rematch"
        );
    }
    assert_eq!(order(&done, &players), vec![0, 1, 2, 3, 4, 5], "{done:#}");
    assert_eq!(documented_order(&done, &players), vec![0, 1, 2, 3, 4, 5]);
    let third: Vec<(u64, u64)> = matches
        .iter()
        .filter(|m| m["round"] == 3)
        .map(|m| {
            let at = |side: &str| {
                players
                    .iter()
                    .position(|(p, _)| m[side]["id"] == p.as_str())
                    .unwrap() as u64
            };
            (at("home"), at("away"))
        })
        .collect();
    assert_eq!(third, vec![(0, 3), (1, 5), (2, 4)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_refused_and_changes_nothing() {
    let server = Server::start(&args("2s"));
    let at = server.addr.clone();
    let (_, host) = guest(&at).await;
    let (_, other) = guest(&at).await;
    let good = json!({"name": "cup", "game": "pong", "format": "single_elimination", "cap": 2});
    let mut bad = Vec::new();
    for (key, value) in [
        ("format", json!("double_elimination")),
        ("game", json!("chess")),
        ("cap", json!(1)),
        ("cap", json!(257)),
        ("startsAt", json!("2020-01-01T00:00:00Z")),
        ("startsAt", json!("tomorrow")),
        ("mode", json!("2v2")),
        ("name", json!("")),
        ("rounds", json!(3)),
        ("checkinWindow", json!(60)),
        ("options", json!({"scoreLimit": 99})),
    ] {
        let mut body = good.clone();
        body[key] = value;
        bad.push(body);
    }
    bad.push(json!({"name": "cup"}));
    bad.push(json!({"name": "cup", "game": "pong", "format": "swiss", "cap": 4, "rounds": 17}));
    for body in bad {
        let (status, answer) = call(
            &at,
            "POST",
            "/api/tournaments",
            Some(&host),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], "bad_request");
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, _) = call(&at, "POST", "/api/tournaments", None, Some(good.clone())).await;
    assert_eq!(status, 401);
    let (_, list) = call(&at, "GET", "/api/tournaments", None, None).await;
    assert_eq!(
        list["tournaments"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );
    let (status, _) = call(&at, "GET", "/api/tournaments?status=over", None, None).await;
    assert_eq!(status, 400);
    let (status, _) = call(
        &at,
        "GET",
        "/api/tournaments/t_0000000000000001",
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);

    let id = create(&at, &host, good).await;
    let path = |action: &str| format!("/api/tournaments/{id}/{action}");
    let view = || async {
        call(&at, "GET", &format!("/api/tournaments/{id}"), None, None)
            .await
            .1
    };
    register(&at, &id, &other, Some("Zed")).await;
    let before = view().await;
    let (status, _) = call(&at, "POST", &path("register"), Some(&other), None).await;
    assert_eq!(status, 409, "registering twice");
    let (status, _) = call(&at, "POST", &path("start"), Some(&other), None).await;
    assert_eq!(status, 403, "a non-host starting");
    let (status, _) = call(&at, "POST", &path("cancel"), Some(&other), None).await;
    assert_eq!(status, 403, "a non-host cancelling");
    let (status, _) = call(&at, "POST", &path("start"), Some(&host), None).await;
    assert_eq!(status, 409, "one player cannot start");
    let (status, _) = call(&at, "POST", &path("checkin"), Some(&other), None).await;
    assert_eq!(status, 409, "no check-in window");
    let (third, third_token) = guest(&at).await;
    let (status, _) = call(
        &at,
        "POST",
        &path("register"),
        Some(&third_token),
        Some(json!({"alias": "Zed"})),
    )
    .await;
    assert_eq!(status, 409, "an alias taken");
    let (status, _) = call(
        &at,
        "POST",
        &path("register"),
        Some(&third_token),
        Some(json!({"alias": ""})),
    )
    .await;
    assert_eq!(status, 400, "an empty alias");
    let (status, _) = call(&at, "POST", &path("unregister"), Some(&third_token), None).await;
    assert_eq!(status, 404, "not registered");
    let after = view().await;
    assert_eq!(before["players"], after["players"], "nothing changed");
    assert_eq!(after["status"], "registration");

    // Past the cap, then after the start.
    register(&at, &id, &host, None).await;
    let (status, _) = call(&at, "POST", &path("register"), Some(&third_token), None).await;
    assert_eq!(status, 409, "past the cap");
    let (status, started) = call(&at, "POST", &path("start"), Some(&host), None).await;
    assert_eq!(status, 200, "{started}");
    let (status, _) = call(&at, "POST", &path("register"), Some(&third_token), None).await;
    assert_eq!(status, 409, "after the start");
    let (status, _) = call(&at, "POST", &path("start"), Some(&host), None).await;
    assert_eq!(status, 409, "starting twice");
    let (status, cancelled) = call(&at, "POST", &path("cancel"), Some(&host), None).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (status, _) = call(&at, "POST", &path("cancel"), Some(&host), None).await;
    assert_eq!(status, 409, "cancelling twice");
    let _ = third;
}

/// A watcher and the players hear `tournament.update` on every change; each player of a new
/// match gets `tournament.match`; the channel `tournament:<id>` reaches players and watchers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_and_players_hear_every_change_and_share_a_channel() {
    let server = Server::start(&args("2s"));
    let at = server.addr.clone();
    let mut watcher = common::Client::connect(&server, "").await;
    let mut ann = common::Client::connect(&server, "").await;
    let mut bob = common::Client::connect(&server, "").await;
    let (_, host) = guest(&at).await;
    let id = create(
        &at,
        &host,
        json!({"name": "duel", "game": "pong", "format": "round_robin", "cap": 2,
               "options": {"scoreLimit": 1}}),
    )
    .await;
    let watched = watcher
        .request("tournament.watch", json!({"tournamentId": id}))
        .await;
    assert_eq!(watched["type"], "ack", "{watched}");
    assert_eq!(watched["data"]["tournament"]["status"], "registration");
    let unknown = watcher
        .request(
            "tournament.watch",
            json!({"tournamentId": "t_0000000000000001"}),
        )
        .await;
    assert_eq!(unknown["data"]["code"], "not_found");

    register(&at, &id, &ann.token(), Some("Annie")).await;
    let update = watcher.recv_type("tournament.update").await;
    assert_eq!(update["data"]["players"][0]["alias"], "Annie");
    register(&at, &id, &bob.token(), None).await;
    watcher.recv_type("tournament.update").await;
    ann.recv_type("tournament.update").await;

    let (status, _) = call(
        &at,
        "POST",
        &format!("/api/tournaments/{id}/start"),
        Some(&host),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let running = watcher
        .recv_where(|m| m["type"] == "tournament.update" && m["data"]["status"] == "running")
        .await;
    let match_id = running["data"]["matches"][0]["matchId"]
        .as_str()
        .unwrap()
        .to_owned();
    let call_up = ann.recv_type("tournament.match").await;
    assert_eq!(call_up["data"]["tournamentId"], id.as_str());
    assert_eq!(call_up["data"]["round"], 1);
    assert_eq!(call_up["data"]["matchId"], match_id.as_str());
    assert_eq!(call_up["data"]["opponent"]["id"], bob.player_id().as_str());
    let start = ann.recv_type("match.start").await;
    assert_eq!(start["data"]["matchId"], match_id.as_str());

    // The channel: a player posts, the watcher hears; a stranger may not post.
    let channel = format!("tournament:{id}");
    let sent = ann
        .request(
            "chat.message",
            json!({"channel": channel, "text": "good luck"}),
        )
        .await;
    assert_eq!(sent["type"], "ack", "{sent}");
    let heard = watcher.recv_where(|m| m["type"] == "chat.message").await;
    assert_eq!(heard["data"]["channel"], channel.as_str());
    assert_eq!(heard["data"]["text"], "good luck");
    let mut stranger = common::Client::connect(&server, "").await;
    let refused = stranger
        .request("chat.message", json!({"channel": channel, "text": "hi"}))
        .await;
    assert_eq!(refused["data"]["code"], "forbidden", "{refused}");
    let history = common::get_json(&server, &format!("/api/chat/{channel}")).await;
    assert_eq!(history["messages"][0]["text"], "good luck");

    // Bob leaves the match: Ann wins by forfeit, the tournament ends, the watcher hears it.
    let left = bob
        .request("match.leave", json!({"matchId": match_id}))
        .await;
    assert_eq!(left["type"], "ack", "{left}");
    let finished = watcher
        .recv_where(|m| m["type"] == "tournament.update" && m["data"]["status"] == "finished")
        .await;
    assert_eq!(
        finished["data"]["standings"][0]["player"]["id"],
        ann.player_id().as_str()
    );
    assert_eq!(finished["data"]["standings"][0]["player"]["name"], "Annie");
    let unwatched = watcher
        .request("tournament.unwatch", json!({"tournamentId": id}))
        .await;
    assert_eq!(unwatched["type"], "ack");
}

/// A planned start with a check-in window: check-in opens before `startsAt`, and at the start
/// only the players who checked in play.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_start_plays_only_those_who_checked_in() {
    let server = Server::start(&args("2s"));
    let at = server.addr.clone();
    let addr = Arc::new(Mutex::new(at.clone()));
    let (_, host) = guest(&at).await;
    let players = guests(&at, 3).await;
    let starts_at = arcade_data::time::format_rfc3339_ms(arcade_data::time::now_ms() + 3_000);
    let id = create(
        &at,
        &host,
        json!({"name": "nightly", "game": "pong", "format": "round_robin", "cap": 4,
               "startsAt": starts_at, "checkinWindow": 2}),
    )
    .await;
    for (_, token) in &players {
        register(&at, &id, token, None).await;
    }
    let path = format!("/api/tournaments/{id}/checkin");
    let (status, _) = call(&at, "POST", &path, Some(&players[0].1), None).await;
    assert_eq!(status, 409, "check-in is not open yet");
    wait_for(&addr, &id, |v| v["status"] == "checkin").await;
    for (_, token) in &players[..2] {
        let (status, view) = call(&at, "POST", &path, Some(token), None).await;
        assert_eq!(status, 200, "{view}");
    }
    let running = wait_for(&addr, &id, |v| v["status"] == "running").await;
    let playing: Vec<&str> = running["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(playing.len(), 2, "{running:#}");
    assert!(!playing.contains(&players[2].0.as_str()));
    assert_eq!(running["matches"].as_array().unwrap().len(), 1);
}

/// BENCHMARKS.md "Tournaments": the p99 of `GET /api/tournaments/{id}` for a running
/// 256-player single elimination bracket, over 1,000 requests. Run in release:
/// `cargo test --release --test tournaments measure -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run in release"]
async fn measure_a_256_player_bracket_request() {
    const REQUESTS: usize = 1_000;
    let server = Server::start(&args("600s"));
    let at = server.addr.clone();
    let (_, host) = guest(&at).await;
    let id = create(
        &at,
        &host,
        json!({"name": "big", "game": "pong", "format": "single_elimination", "cap": 256}),
    )
    .await;
    let mut registrations = Vec::new();
    for _ in 0..256 {
        let at = at.clone();
        let id = id.clone();
        registrations.push(tokio::spawn(async move {
            let (_, token) = guest(&at).await;
            register(&at, &id, &token, None).await;
        }));
    }
    for registration in registrations {
        registration.await.unwrap();
    }
    let (status, started) = call(
        &at,
        "POST",
        &format!("/api/tournaments/{id}/start"),
        Some(&host),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(started["matches"].as_array().unwrap().len(), 255);
    let url = format!("http://{at}/api/tournaments/{id}");
    let client = http();
    let mut took = Vec::with_capacity(REQUESTS);
    let mut bytes = 0;
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let body = client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        took.push(started.elapsed());
        bytes = body.len();
    }
    took.sort();
    let at_quantile = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    println!(
        "256-player bracket: {REQUESTS} requests, {bytes} bytes each: p50 {:?}, p99 {:?}, max {:?}",
        at_quantile(0.50),
        at_quantile(0.99),
        took[took.len() - 1]
    );
}
