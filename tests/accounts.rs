//! Accounts end to end over real sockets: guests, registration, login, the lockout and its
//! end, `me`, and logout revoking a token at once over HTTP and on a live WebSocket.

mod common;

use std::time::{Duration, Instant};

use common::{Client, NO_HTTP_LIMITS, Server, http};
use serde_json::{Value, json};

// The generic per-address HTTP rate limits are off (`NO_HTTP_LIMITS`): every request of a
// test comes from 127.0.0.1, and these tests are about the application's own lockout.

async fn post(server: &Server, path: &str, body: Value, token: Option<&str>) -> (u16, Value) {
    let mut request = http().post(server.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn me(server: &Server, token: &str) -> (u16, Value) {
    let response = http()
        .get(server.url("/api/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_me_and_the_rules_of_names() {
    let server = Server::start(NO_HTTP_LIMITS);
    let credentials = json!({"name": "Ada_1815", "password": "analytical engine"});
    let (status, registered) = post(&server, "/api/auth/register", credentials.clone(), None).await;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["player"]["name"], "Ada_1815");
    assert_eq!(registered["player"]["guest"], false);
    let id = registered["player"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("p_"));

    let taken = json!({"name": "ada_1815", "password": "another password"});
    let (status, body) = post(&server, "/api/auth/register", taken, None).await;
    assert_eq!(status, 409, "names are unique case-insensitively: {body}");
    assert_eq!(body["error"]["code"], "conflict");
    for bad in [
        json!({"name": "ab", "password": "long enough"}),
        json!({"name": "has space", "password": "long enough"}),
        json!({"name": "fine_name", "password": "short"}),
        json!({"name": "fine_name"}),
    ] {
        let (status, body) = post(&server, "/api/auth/register", bad.clone(), None).await;
        assert_eq!(status, 400, "{bad} → {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }

    let (status, logged_in) = post(&server, "/api/auth/login", credentials.clone(), None).await;
    assert_eq!(status, 200, "{logged_in}");
    assert_eq!(logged_in["player"]["id"], id.as_str());
    let any_case = json!({"name": "ADA_1815", "password": "analytical engine"});
    let (status, _) = post(&server, "/api/auth/login", any_case, None).await;
    assert_eq!(status, 200, "login names are case-insensitive");

    let token = logged_in["token"].as_str().unwrap();
    let (status, body) = me(&server, token).await;
    assert_eq!(status, 200);
    assert_eq!(body["player"]["id"], id.as_str());
    assert_eq!(me(&server, "not-a-token").await.0, 401);
    let anonymous = http().get(server.url("/api/auth/me")).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    let (status, guest) = post(&server, "/api/auth/guest", json!({"name": "visitor"}), None).await;
    assert_eq!(status, 200, "{guest}");
    assert_eq!(guest["player"]["guest"], true);
    assert_eq!(guest["player"]["name"], "visitor");
    let (status, body) = me(&server, guest["token"].as_str().unwrap()).await;
    assert_eq!((status, &body["player"]["guest"]), (200, &json!(true)));
    let empty = http()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status().as_u16(), 200, "an empty body is a guest too");
    let body: Value = empty.json().await.unwrap();
    assert!(
        body["player"]["name"]
            .as_str()
            .unwrap()
            .starts_with("guest-")
    );

    let profile: Value = http()
        .get(server.url(&format!("/api/players/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile["name"], "Ada_1815");
    assert_eq!(profile["guest"], false);
    assert_eq!(profile["stats"]["pong"]["played"], 0);
    assert_eq!(profile["stats"]["pong"]["rating"], 1500.0);

    assert!(
        !server.log_text().contains("analytical engine"),
        "a password is never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_name_out_and_the_lock_ends() {
    let server = Server::start(NO_HTTP_LIMITS);
    let credentials = json!({"name": "grace", "password": "compiler 1952"});
    let (status, _) = post(&server, "/api/auth/register", credentials.clone(), None).await;
    assert_eq!(status, 201);

    let wrong = json!({"name": "grace", "password": "not the password"});
    for attempt in 1..=5 {
        let (status, body) = post(&server, "/api/auth/login", wrong.clone(), None).await;
        assert_eq!(status, 401, "attempt {attempt}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    // Locked: even the right password is refused, with when to come back.
    let response = http()
        .post(server.url("/api/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another name from the same address is not locked.
    let other = json!({"name": "someone_else", "password": "whatever123"});
    assert_eq!(post(&server, "/api/auth/login", other, None).await.0, 401);

    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
    let (status, body) = post(&server, "/api/auth/login", credentials.clone(), None).await;
    assert_eq!(status, 200, "the lock ended: {body}");

    // The success cleared the count: four more failures do not lock.
    for _ in 0..4 {
        assert_eq!(
            post(&server, "/api/auth/login", wrong.clone(), None)
                .await
                .0,
            401
        );
    }
    assert_eq!(
        post(&server, "/api/auth/login", credentials.clone(), None)
            .await
            .0,
        200
    );

    // Growing delays: a failure right after the first lock ends locks twice as long.
    for _ in 0..5 {
        let _ = post(&server, "/api/auth/login", wrong.clone(), None).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        post(&server, "/api/auth/login", wrong.clone(), None)
            .await
            .0,
        401
    );
    let started = Instant::now();
    let response = http()
        .post(server.url("/api/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let second: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(second >= 2, "the lock grew: {second}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_token_over_http_and_closes_its_live_sockets() {
    let server = Server::start(NO_HTTP_LIMITS);
    let credentials = json!({"name": "linus", "password": "just for fun"});
    let (status, registered) = post(&server, "/api/auth/register", credentials.clone(), None).await;
    assert_eq!(status, 201);
    let id = registered["player"]["id"].as_str().unwrap().to_owned();
    let (_, logged_in) = post(&server, "/api/auth/login", credentials, None).await;
    let token = logged_in["token"].as_str().unwrap().to_owned();
    let other_token = registered["token"].as_str().unwrap().to_owned();

    // One socket identified by ?token=, one that came as a guest and sent `auth`, and one on
    // the player's other session (from register), which logout must leave alone.
    let mut by_query = Client::connect(&server, &format!("?token={token}")).await;
    assert_eq!(by_query.player_id(), id);
    let mut by_auth = Client::connect(&server, "").await;
    assert_ne!(by_auth.player_id(), id);
    let reply = by_auth.request("auth", json!({"token": token})).await;
    assert_eq!(reply["type"], "ack", "{reply}");
    assert_eq!(reply["data"]["player"]["id"], id.as_str());
    let mut other_session = Client::connect(&server, &format!("?token={other_token}")).await;
    assert_eq!(other_session.player_id(), id);

    let (status, body) = post(&server, "/api/auth/logout", json!({}), Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);

    for socket in [&mut by_query, &mut by_auth] {
        let error = socket.recv_type("error").await;
        assert_eq!(error["data"]["code"], "unauthorized");
        assert_eq!(socket.expect_close().await, Some(1008));
    }
    let pong = other_session.request("ws.ping", json!({})).await;
    assert_eq!(pong["type"], "ws.pong", "the other session lives on");

    // From now on the token fails everywhere.
    assert_eq!(me(&server, &token).await.0, 401);
    assert_eq!(
        post(&server, "/api/auth/logout", json!({}), Some(&token))
            .await
            .0,
        401
    );
    assert_eq!(me(&server, &other_token).await.0, 200);
    let mut again = Client::connect(&server, &format!("?token={token}")).await;
    assert_ne!(
        again.player_id(),
        id,
        "a revoked token falls back to a guest"
    );
    let first = again.backlog.iter().any(|m| m["type"] == "error");
    assert!(first, "the hello came after an unauthorized error");
    let refused = again.request("auth", json!({"token": token})).await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["data"]["code"], "unauthorized");
}
