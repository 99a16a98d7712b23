//! Production operations (issue 7) against the real binary: the metrics of PROTOCOL.md with
//! their labels, `/health` and `/health/details`, the admin token, the HTTP limits (413, 429),
//! the security headers and CORS, graceful shutdown on SIGTERM/SIGINT during a live match,
//! `kill -9` during a burst of finishing matches, and the environment the Dockerfile sets.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, Server, fetch_record, http, metric, start_pong};
use serde_json::{Value, json};

/// Labels of every sample of `name` (and of its `_bucket`/`_sum`/`_count` lines) in a
/// Prometheus text exposition.
fn series(text: &str, name: &str) -> Vec<BTreeMap<String, String>> {
    let mut found = Vec::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let (sample, _) = line.rsplit_once(' ').unwrap_or((line, ""));
        let (metric, labels) = match sample.split_once('{') {
            Some((metric, labels)) => (metric, labels.trim_end_matches('}')),
            None => (sample, ""),
        };
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| metric.strip_suffix(suffix))
            .unwrap_or(metric);
        if metric != name && base != name {
            continue;
        }
        let mut map = BTreeMap::new();
        for pair in labels.split(',').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').expect("label=value");
            map.insert(key.to_owned(), value.trim_matches('"').to_owned());
        }
        map.remove("le");
        found.push(map);
    }
    found
}

async fn get_text(server: &Server, path: &str) -> String {
    http()
        .get(server.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Two players in a started pong 1v1 match (scoreLimit 1); returns them and the match id.
async fn started_match(server: &Server, query: &str) -> (Client, Client, String) {
    let mut left = Client::connect(server, query).await;
    let mut right = Client::connect(server, "").await;
    let match_id = start_pong(&mut left, &mut right, 1).await;
    (left, right, match_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_is_present_with_its_labels_after_a_short_match() {
    let server = Server::start(&[]);
    // One side speaks MessagePack, so both codecs carry frames.
    let (left, right, match_id) = started_match(&server, "?codec=msgpack").await;
    let mut bystander = Client::connect(&server, "").await;
    let refused = bystander
        .request(
            "input",
            json!({"matchId": "m_0000000000000001", "seq": 1, "axis": 0}),
        )
        .await;
    assert_eq!(refused["data"]["code"], "not_found");
    let left_play = tokio::spawn(common::dodge_until_end(left, match_id.clone(), "left"));
    let right_play = tokio::spawn(common::dodge_until_end(right, match_id.clone(), "right"));
    let (end, _) = left_play.await.unwrap();
    right_play.await.unwrap();
    assert_eq!(end["data"]["reason"], "score_limit");
    fetch_record(&server, &match_id).await;
    assert_eq!(
        http()
            .get(server.url("/no-such-page.html"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    get_text(&server, "/api/visits").await;
    // The live-match gauges are recounted every 30 ticks.
    tokio::time::sleep(Duration::from_millis(600)).await;

    let response = http().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let expected: &[(&str, &[&str])] = &[
        ("http_requests_total", &["method", "route", "status"]),
        (
            "http_request_duration_seconds",
            &["method", "route", "status"],
        ),
        ("websocket_connections_total", &[]),
        ("arcade_tick_duration_seconds", &[]),
        ("arcade_tick_overruns_total", &[]),
        ("arcade_net_workers_awake", &[]),
        ("arcade_matches_active", &["game", "phase"]),
        ("arcade_players_connected", &[]),
        ("arcade_spectators_connected", &[]),
        ("arcade_ws_frames_total", &["codec", "direction"]),
        ("arcade_ws_bytes_total", &["codec", "direction"]),
        ("arcade_ws_dropped_frames_total", &[]),
        ("arcade_inputs_rejected_total", &["reason"]),
        ("arcade_matches_finished_total", &["game", "reason"]),
        ("arcade_db_write_duration_seconds", &["op"]),
    ];
    for (name, labels) in expected {
        let found = series(&text, name);
        assert!(!found.is_empty(), "{name} is missing:\n{text}");
        for sample in &found {
            let keys: Vec<&str> = sample.keys().map(String::as_str).collect();
            assert_eq!(&keys, labels, "{name} labels");
        }
    }
    let has = |name: &str, labels: &[(&str, &str)]| {
        series(&text, name).iter().any(|sample| {
            labels
                .iter()
                .all(|(key, value)| sample.get(*key).map(String::as_str) == Some(*value))
        })
    };
    for direction in ["in", "out"] {
        for codec in ["json", "msgpack"] {
            let sample =
                format!("arcade_ws_frames_total{{codec=\"{codec}\",direction=\"{direction}\"}} ");
            let value: f64 = text
                .lines()
                .find_map(|line| line.strip_prefix(&sample))
                .unwrap_or_else(|| panic!("no {sample}"))
                .parse()
                .unwrap();
            assert!(value > 0.0, "{sample}{value}");
        }
    }
    assert!(has(
        "arcade_matches_finished_total",
        &[("game", "pong"), ("reason", "score_limit")]
    ));
    assert!(has(
        "arcade_inputs_rejected_total",
        &[("reason", "not_found")]
    ));
    assert!(has(
        "arcade_db_write_duration_seconds",
        &[("op", "record_match")]
    ));
    assert!(has("arcade_db_write_duration_seconds", &[("op", "commit")]));
    assert!(has(
        "arcade_matches_active",
        &[("game", "pong"), ("phase", "playing")]
    ));
    // `route` is the pattern, never the raw path; unknown paths share one label.
    assert!(has(
        "http_requests_total",
        &[("route", "/api/matches/{id}"), ("status", "200")]
    ));
    assert!(has(
        "http_requests_total",
        &[("route", "/*static"), ("status", "404")]
    ));
    assert!(!text.contains(&match_id), "a raw path leaked into a label");
    assert!(
        !text.contains("no-such-page"),
        "a raw path leaked into a label"
    );
    let not_found = text
        .lines()
        .find_map(|line| line.strip_prefix("arcade_inputs_rejected_total{reason=\"not_found\"} "))
        .unwrap();
    assert_eq!(not_found, "1");
}

#[tokio::test]
async fn health_turns_503_while_the_tick_loop_is_stopped() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server = Server::start_with_env(dir, &[], &[("ARCADE_TEST_HOOKS", "1")]);
    let health = http().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    server.signal("USR1");
    let deadline = Instant::now() + common::WAIT;
    let body = loop {
        let response = http().get(server.url("/health")).send().await.unwrap();
        if response.status() == 503 {
            break response.json::<Value>().await.unwrap();
        }
        assert!(Instant::now() < deadline, "/health stayed 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["tick"], false);
    assert_eq!(body["database"], true);
    assert_eq!(body["error"]["code"], "unavailable");
    let details = http()
        .get(server.url("/health/details"))
        .send()
        .await
        .unwrap();
    assert_eq!(details.status(), 503);
    let details: Value = details.json().await.unwrap();
    assert_eq!(details["status"], "unavailable");
    assert_eq!(details["database"]["ok"], true);

    server.signal("USR2");
    let deadline = Instant::now() + common::WAIT;
    while http()
        .get(server.url("/health"))
        .send()
        .await
        .unwrap()
        .status()
        != 200
    {
        assert!(Instant::now() < deadline, "/health did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.log_text().contains("test hooks are on"));
}

#[tokio::test]
async fn health_details_has_every_field() {
    let server = Server::start(&[]);
    let (_left, _right, _) = started_match(&server, "").await;
    http().post(server.url("/api/visit")).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let response = http()
        .get(server.url("/health/details"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptimeSeconds"].is_u64());
    assert_eq!(body["tickRate"], 60);
    assert!(body["tick"]["lastMs"].as_f64().unwrap() >= 0.0);
    assert!(
        body["tick"]["p99Ms"].as_f64().unwrap() >= body["tick"]["lastMs"].as_f64().unwrap() * 0.0
    );
    assert!(body["tick"]["overruns"].is_u64());
    let pong = &body["matches"]["pong"];
    assert_eq!(
        pong["countdown"].as_i64().unwrap() + pong["playing"].as_i64().unwrap(),
        1,
        "{body}"
    );
    assert!(body["matches"]["breakout"].is_object());
    assert_eq!(body["connections"]["players"], 2);
    assert_eq!(body["connections"]["spectators"], 0);
    assert_eq!(body["connections"]["total"], 2);
    let database = &body["database"];
    assert_eq!(database["ok"], true);
    // The path only for the admin bearer (hardening.rs), and there is no admin token here.
    assert!(database.get("path").is_none(), "{database}");
    assert!(database["sizeBytes"].as_u64().unwrap() > 0);
    assert!(database["lastWriteAt"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn the_admin_token_guards_metrics_and_details_but_not_health() {
    let server = Server::start(&["--admin-token", "s3cret-admin"]);
    for path in ["/metrics", "/health/details"] {
        let bare = http().get(server.url(path)).send().await.unwrap();
        assert_eq!(bare.status(), 401, "{path}");
        assert_eq!(bare.headers()["www-authenticate"], "Bearer");
        let body: Value = bare.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
        let wrong = http()
            .get(server.url(path))
            .bearer_auth("s3cret-admiN")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
        let right = http()
            .get(server.url(path))
            .bearer_auth("s3cret-admin")
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), 200, "{path}");
    }
    let health = http().get(server.url("/health")).send().await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "/health stays open for load balancers"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_errors_keep_the_json_shape() {
    let server = Server::start(&[]);
    let response = http()
        .post(server.url("/api/visit"))
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_large");
    assert!(body["error"]["message"].is_string());

    let wrong_method = http()
        .delete(server.url("/api/visits"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert!(wrong_method.headers().contains_key("x-request-id"));
    let body: Value = wrong_method.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn api_requests_over_the_rate_get_429_with_retry_after() {
    let server = Server::start(&["--rate-limit-writes", "1", "--rate-limit-reads", "50"]);
    let client = http();
    // A burst of twice the rate passes, then writes are refused; reads are counted apart.
    for _ in 0..2 {
        let ok = client.post(server.url("/api/visit")).send().await.unwrap();
        assert_eq!(ok.status(), 200);
    }
    let refused = client.post(server.url("/api/visit")).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    assert!(refused.headers().contains_key("x-request-id"));
    assert!(refused.headers().contains_key("content-security-policy"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    let read = client.get(server.url("/api/visits")).send().await.unwrap();
    assert_eq!(read.status(), 200, "reads have their own, larger quota");
    let health = client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "only /api is limited");

    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let again = client.post(server.url("/api/visit")).send().await.unwrap();
    assert_eq!(again.status(), 200, "allowed again after Retry-After");
    let metrics = get_text(&server, "/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("http_requests_total")
                && line.contains("route=\"/api/visit\"")
                && line.contains("status=\"429\"")),
        "429s are counted"
    );
}

#[tokio::test]
async fn responses_carry_the_security_headers_and_cors_stays_same_origin() {
    let server = Server::start(&["--cors-origin", "https://friend.example"]);
    for path in [
        "/",
        "/ws-test.html",
        "/ws-test.js",
        "/api/visits",
        "/api/nothing",
    ] {
        let response = http().get(server.url(path)).send().await.unwrap();
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("connect-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert!(headers.contains_key("x-request-id"), "{path}");
    }
    // The pages in assets/ need nothing the policy forbids: no inline script or style.
    for page in ["index.html", "ws-test.html"] {
        let html = std::fs::read_to_string(common::assets_dir().join(page)).unwrap();
        assert!(!html.contains("<style"), "{page} has an inline style");
        assert!(
            html.matches("<script").count() == html.matches("<script type=\"module\" src=").count(),
            "{page} has an inline script"
        );
        assert!(
            !html.contains(" style="),
            "{page} has an inline style attribute"
        );
        assert!(!html.contains(" onclick="), "{page} has an inline handler");
    }

    let preflight = |origin: &'static str| {
        http()
            .request(reqwest::Method::OPTIONS, server.url("/api/visit"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let stranger = preflight("https://evil.example").await.unwrap();
    assert!(
        !stranger
            .headers()
            .contains_key("access-control-allow-origin"),
        "no CORS for other origins"
    );
    let friend = preflight("https://friend.example").await.unwrap();
    assert_eq!(
        friend.headers()["access-control-allow-origin"],
        "https://friend.example"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_live_match_aborts_it_records_it_and_closes_with_1001() {
    let server = Server::start(&[]);
    let (mut left, mut right, match_id) = started_match(&server, "").await;
    left.recv_type("state").await;
    let dir = server.dir.clone();
    let started = Instant::now();
    let exited = tokio::task::spawn_blocking(move || server.terminate());
    for client in [&mut left, &mut right] {
        let end = client.recv_type("match.end").await;
        assert_eq!(end["data"]["matchId"], match_id.as_str());
        assert_eq!(end["data"]["reason"], "aborted");
        for player in end["data"]["players"].as_array().unwrap() {
            assert_eq!(player["result"], "none");
        }
        assert_eq!(client.expect_close().await, Some(1001));
    }
    let status = exited.await.unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped in {:?}",
        started.elapsed()
    );

    let server = Server::start_in(dir, &[]);
    let record = fetch_record(&server, &match_id).await;
    assert_eq!(record["reason"], "aborted");
    assert_eq!(record["players"].as_array().unwrap().len(), 2);
}

/// Idle, a server holds its spare network workers asleep (one stays awake), still plays a
/// match with the one, and stops promptly on SIGTERM with the others held.
#[tokio::test]
async fn an_idle_server_holds_its_spare_network_workers_and_still_serves_and_stops() {
    let server = Server::start(&["--net-workers", "3"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metric(&server, "arcade_net_workers_awake").await != 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "spare workers still awake after 10 s idle: {}",
            metric(&server, "arcade_net_workers_awake").await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (mut left, mut right, match_id) = started_match(&server, "").await;
    let id = left.player_id();
    left.send(json!({"type": "input", "data": {"matchId": match_id, "seq": 7, "axis": 1.0}}))
        .await;
    let state = left
        .recv_where(|m| m["type"] == "state" && m["data"]["acks"][&id] == 7)
        .await;
    assert_eq!(state["data"]["matchId"], match_id);
    right.recv_type("state").await;

    server.signal("TERM");
    assert_eq!(left.expect_close().await, Some(1001));
    exits_cleanly(server).await;
}

#[tokio::test]
async fn all_awake_keeps_every_network_worker_awake() {
    let server = Server::start(&["--net-workers", "2", "--net-workers-all-awake"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(metric(&server, "arcade_net_workers_awake").await, 2.0);
}

#[tokio::test]
async fn sigint_stops_the_server_cleanly_too() {
    let server = Server::start(&[]);
    let mut client = Client::connect(&server, "").await;
    server.signal("INT");
    assert_eq!(client.expect_close().await, Some(1001));
    exits_cleanly(server).await;
}

/// Waits (10 s at most) for a signalled server to exit, and asserts it exited with success.
async fn exits_cleanly(server: Server) {
    let status = tokio::task::spawn_blocking(move || server.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

/// How many matches finish in the `kill -9` burst, and how many must be acknowledged first.
const BURST_MATCHES: usize = 16;
const ACKED_BEFORE_KILL: usize = 6;

/// `kill -9` while matches are finishing: a match counts as acknowledged once
/// `GET /api/matches/{id}` answered 200 (the writer answers reads only after its commit).
/// Every acknowledged match must be there after a restart, and the database must pass
/// `PRAGMA integrity_check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_of_finishing_matches_keeps_every_acknowledged_record() {
    let server = Arc::new(Server::start(&["--rate-limit-reads", "0"]));
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for index in 0..BURST_MATCHES {
        let server = server.clone();
        let acknowledged = acknowledged.clone();
        tasks.push(tokio::spawn(async move {
            // Stagger the starts so that matches are finishing when the kill comes.
            tokio::time::sleep(Duration::from_millis(40 * index as u64)).await;
            let (mut left, _right, match_id) = started_match(&server, "").await;
            let left_ack = left
                .request("match.leave", json!({"matchId": match_id}))
                .await;
            assert_eq!(left_ack["type"], "ack");
            let record = fetch_record(&server, &match_id).await;
            assert_eq!(record["reason"], "forfeit");
            acknowledged.lock().unwrap().insert(match_id);
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < ACKED_BEFORE_KILL {
        assert!(Instant::now() < deadline, "matches did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let dir = server.dir.clone();
    nix_kill_9(server.pid());
    let acked: HashSet<String> = acknowledged.lock().unwrap().clone();
    for task in tasks {
        // Tasks cut off by the kill fail; only acknowledged matches are checked.
        let _ = task.await;
    }
    drop(server);
    assert!(acked.len() >= ACKED_BEFORE_KILL);
    assert!(
        acked.len() < BURST_MATCHES,
        "the kill came after the burst: nothing was in flight"
    );

    let db = dir.path().join("arcade.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);

    let server = Server::start_in(dir, &["--rate-limit-reads", "0"]);
    for match_id in &acked {
        let response = http()
            .get(server.url(&format!("/api/matches/{match_id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{match_id} was lost");
        let record: Value = response.json().await.unwrap();
        assert_eq!(record["reason"], "forfeit");
    }
}

/// SIGKILL by pid, as a crash would (the harness's `kill` needs to own the server).
fn nix_kill_9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The binary runs with the environment the Dockerfile sets (its `ENV` lines; the harness's
/// flags point the address, database and assets at this machine, and flags win over the
/// environment), logs JSON, and answers the HEALTHCHECK's `/health`.
#[tokio::test]
async fn the_binary_runs_with_the_dockerfile_environment() {
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let mut envs: Vec<(String, String)> = Vec::new();
    let mut in_env = false;
    for line in dockerfile.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("ENV ") {
            in_env = true;
            envs.extend(parse_env(rest));
        } else if in_env {
            envs.extend(parse_env(line));
        }
        in_env = in_env && line.ends_with('\\');
    }
    let names: Vec<&str> = envs.iter().map(|(k, _)| k.as_str()).collect();
    for name in [
        "ARCADE_LISTEN",
        "ARCADE_DB",
        "ARCADE_ASSETS",
        "ARCADE_LOG_FORMAT",
    ] {
        assert!(
            names.contains(&name),
            "the Dockerfile sets {name}: {names:?}"
        );
    }
    assert!(dockerfile.contains("HEALTHCHECK"));
    assert!(dockerfile.contains("http://127.0.0.1:8080/health"));
    let listen = envs.iter().find(|(k, _)| k == "ARCADE_LISTEN").unwrap();
    assert_eq!(
        listen.1, "0.0.0.0:8080",
        "reachable from outside the container"
    );

    let dir = Arc::new(tempfile::tempdir().unwrap());
    let borrowed: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with_env(dir.clone(), &[], &borrowed);
    let health = http().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let page = http()
        .get(server.url("/ws-test.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(dir.path().join("arcade.db").exists());
    let logs = server.log_text();
    let line = logs
        .lines()
        .find(|line| line.contains("listening on"))
        .unwrap();
    let parsed: Value = serde_json::from_str(line).expect("JSON logs");
    assert!(parsed["fields"]["message"].is_string());
}

fn parse_env(text: &str) -> Vec<(String, String)> {
    text.trim_end_matches('\\')
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.trim_matches('"').to_owned()))
        .collect()
}

/// The scheduling policy of a process's thread named `name` (field 41 of its `stat`).
fn thread_policy(pid: u32, name: &str) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.filter_map(Result::ok).find_map(|task| {
        let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
        if comm.trim() != name {
            return None;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // After the `(comm)` field, fields are space-separated; policy is field 41.
        let after = &stat[stat.rfind(')')? + 2..];
        after.split(' ').nth(41 - 3)?.parse().ok()
    })
}

/// Whether this process may use SCHED_FIFO (CAP_SYS_NICE): tried on a scratch thread.
fn fifo_permitted() -> bool {
    std::thread::spawn(|| {
        let param = libc::sched_param { sched_priority: 1 };
        // SAFETY: a valid sched_param; pid 0 is this scratch thread, which ends right after.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) == 0 }
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn tick_realtime_runs_the_tick_thread_under_sched_fifo_and_the_server_plays() {
    let server = Server::start(&["--tick-realtime"]);
    let policy = thread_policy(server.pid(), "tick").expect("a thread named tick");
    let (expected, line) = if fifo_permitted() {
        (libc::SCHED_FIFO, "tick thread runs under SCHED_FIFO")
    } else {
        (libc::SCHED_OTHER, "SCHED_FIFO refused")
    };
    assert_eq!(policy, expected as u32, "{}", server.log_text());
    // The log line is read from the server's stderr by another thread: wait for it.
    let deadline = Instant::now() + common::WAIT;
    while !server.log_text().contains(line) {
        assert!(
            Instant::now() < deadline,
            "no {line:?} in {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Without the flag the tick thread stays a normal one.
    let plain = Server::start(&[]);
    assert_eq!(
        thread_policy(plain.pid(), "tick"),
        Some(libc::SCHED_OTHER as u32)
    );
    // And the realtime server ticks a match for its players.
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let match_id = start_pong(&mut left, &mut right, 1).await;
    let first = left.recv_type("state").await;
    let later = left.recv_type("state").await;
    assert_eq!(later["data"]["matchId"], match_id.as_str());
    assert!(later["data"]["tick"].as_u64() > first["data"]["tick"].as_u64());
}
