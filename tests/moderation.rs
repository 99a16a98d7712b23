//! Moderation end to end (issue 14), over real sockets against the real server: roles, chat
//! message ids and deletion, mutes, bans, reports, the audit log, typing indicators, the online
//! backup and ending a live match; each route by role (401, 403, 404, 409).

mod common;

use std::time::Duration;

use common::{Client, NO_HTTP_LIMITS, NO_WS_LIMITS, Server, http, start_pong};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The `--admin-name` of every server here.
const BOSS: &str = "boss";

fn flags() -> Vec<&'static str> {
    let mut flags = vec!["--admin-name", BOSS];
    flags.extend_from_slice(NO_HTTP_LIMITS);
    flags.extend_from_slice(NO_WS_LIMITS);
    flags
}

/// `method path` with an optional bearer and JSON body: the status and the JSON body (`null`
/// when there is none).
async fn call(
    server: &Server,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http().request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Registers `name`: `(token, id)`.
async fn register(server: &Server, name: &str) -> (String, String) {
    let credentials = json!({"name": name, "password": "a long password"});
    let (status, body) = call(
        server,
        Method::POST,
        "/api/auth/register",
        None,
        Some(credentials),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (
        body["token"].as_str().unwrap().to_owned(),
        body["player"]["id"].as_str().unwrap().to_owned(),
    )
}

/// Grants `role` to `player` as `admin`; asserts 200.
async fn grant(server: &Server, admin: &str, player: &str, role: &str) {
    let path = format!("/api/admin/players/{player}/role");
    let (status, body) = call(
        server,
        Method::POST,
        &path,
        Some(admin),
        Some(json!({"role": role})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], role);
}

/// Sends `text` to `global` and returns the `chat.message` the sender got back.
async fn say(client: &mut Client, text: &str) -> Value {
    let ack = client
        .request("chat.message", json!({"text": text, "channel": "global"}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    client
        .recv_where(|m| m["type"] == "chat.message" && m["data"]["text"] == text)
        .await
}

/// Opens a socket with `token` that the server refuses: the `error` it sent and the close code.
async fn refused(server: &Server, token: &str) -> (Value, Option<u16>) {
    let url = server.ws_url(&format!("?token={token}"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    let mut error = Value::Null;
    loop {
        let frame = tokio::time::timeout(common::WAIT, ws.next())
            .await
            .expect("an answer in time");
        match frame {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                assert_ne!(message["type"], "hello", "a banned account is let in");
                if message["type"] == "error" {
                    error = message;
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return (error, frame.map(|frame| u16::from(frame.code)));
            }
            Some(Ok(_)) => {}
            _ => return (error, None),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_granted_by_admins_and_every_route_answers_each_role() {
    let server = Server::start(&flags());
    let (boss, boss_id) = register(&server, BOSS).await;
    let (moderator, moderator_id) = register(&server, "mod_one").await;
    let (player, player_id) = register(&server, "ada").await;
    let (chief, chief_id) = register(&server, "chief").await;

    // The hello tells each socket its role; a grant reaches the socket at once.
    let mut boss_socket = Client::connect(&server, &format!("?token={boss}")).await;
    assert_eq!(boss_socket.hello["data"]["role"], "admin");
    let mut moderator_socket = Client::connect(&server, &format!("?token={moderator}")).await;
    assert_eq!(moderator_socket.hello["data"]["role"], "player");
    grant(&server, &boss, &moderator_id, "moderator").await;
    let changed = moderator_socket.recv_type("role.changed").await;
    assert_eq!(changed["data"]["role"], "moderator");

    // `arcade admin grant` on the database of a running server makes a second admin.
    let db = server.dir.path().join("arcade.db");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_arcade"))
        .args(["--db", db.to_str().unwrap(), "admin", "grant", "Chief"])
        .args(["--role", "admin"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let (status, _) = call(&server, Method::GET, "/api/admin/audit", Some(&chief), None).await;
    assert_eq!(status, 200, "chief is an admin now");

    // A message of the admin's, for the deletion checks.
    let said = say(&mut boss_socket, "the rules").await;
    let boss_message = said["data"]["id"].as_str().unwrap().to_owned();
    assert!(boss_message.starts_with("c_"), "{said}");

    let unknown_player = "p_00000000000000ff";
    let mute = json!({"seconds": 60, "reason": "spam"});
    let routes: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::POST,
            format!("/api/admin/players/{player_id}/role"),
            Some(json!({"role": "moderator"})),
            "admin",
        ),
        (
            Method::GET,
            format!("/api/admin/players/{player_id}"),
            None,
            "moderator",
        ),
        (
            Method::POST,
            format!("/api/admin/players/{player_id}/mute"),
            Some(mute.clone()),
            "moderator",
        ),
        (
            Method::DELETE,
            format!("/api/admin/players/{player_id}/mute"),
            None,
            "moderator",
        ),
        (
            Method::POST,
            format!("/api/admin/players/{player_id}/ban"),
            Some(mute.clone()),
            "moderator",
        ),
        (
            Method::DELETE,
            format!("/api/admin/players/{player_id}/ban"),
            None,
            "moderator",
        ),
        (
            Method::DELETE,
            format!("/api/chat/messages/{boss_message}"),
            None,
            "moderator",
        ),
        (Method::GET, "/api/admin/reports".into(), None, "moderator"),
        (
            Method::POST,
            "/api/admin/reports/r_0000000000000001/resolve".into(),
            None,
            "moderator",
        ),
        (Method::GET, "/api/admin/audit".into(), None, "admin"),
        (Method::POST, "/api/admin/backup".into(), None, "admin"),
        (
            Method::POST,
            "/api/admin/matches/m_0000000000000001/abort".into(),
            None,
            "moderator",
        ),
    ];
    for (method, path, body, least) in &routes {
        let (status, answer) = call(&server, method.clone(), path, None, body.clone()).await;
        assert_eq!(status, 401, "anonymous {method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "unauthorized");
        let (status, answer) =
            call(&server, method.clone(), path, Some(&player), body.clone()).await;
        assert_eq!(status, 403, "a player {method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "forbidden");
        if *least == "admin" {
            let (status, _) = call(
                &server,
                method.clone(),
                path,
                Some(&moderator),
                body.clone(),
            )
            .await;
            assert_eq!(status, 403, "a moderator {method} {path}");
        }
    }
    let (status, _) = call(&server, Method::POST, "/api/reports", None, Some(json!({}))).await;
    assert_eq!(status, 401, "anonymous report");

    // Unknown targets: 404.
    for (method, path, body) in [
        (
            Method::POST,
            format!("/api/admin/players/{unknown_player}/role"),
            Some(json!({"role": "moderator"})),
        ),
        (
            Method::GET,
            format!("/api/admin/players/{unknown_player}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/players/{unknown_player}/mute"),
            Some(mute.clone()),
        ),
        (
            Method::POST,
            "/api/admin/players/nobody/ban".to_owned(),
            Some(mute.clone()),
        ),
        (
            Method::DELETE,
            "/api/chat/messages/c_00000000000000ff".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/api/admin/reports/r_00000000000000ff/resolve".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/api/admin/matches/m_00000000000000ff/abort".to_owned(),
            None,
        ),
    ] {
        let (status, answer) = call(&server, method.clone(), &path, Some(&boss), body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found");
    }
    let (status, _) = call(
        &server,
        Method::POST,
        "/api/reports",
        Some(&player),
        Some(json!({"player": unknown_player, "reason": "x"})),
    )
    .await;
    assert_eq!(status, 404, "a report on nobody");

    // A moderator acting on an admin (or a moderator) is refused: 403.
    let on_boss = [
        (
            Method::POST,
            format!("/api/admin/players/{boss_id}/mute"),
            Some(mute.clone()),
        ),
        (
            Method::POST,
            format!("/api/admin/players/{chief_id}/ban"),
            Some(mute.clone()),
        ),
        (
            Method::DELETE,
            format!("/api/chat/messages/{boss_message}"),
            None,
        ),
    ];
    for (method, path, body) in on_boss {
        let (status, answer) = call(&server, method.clone(), &path, Some(&moderator), body).await;
        assert_eq!(status, 403, "a moderator {method} {path}: {answer}");
    }
    // An admin does not act on another admin, nor change their own role.
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("/api/admin/players/{chief_id}/role"),
        Some(&boss),
        Some(json!({"role": "player"})),
    )
    .await;
    assert_eq!(status, 403, "an admin demoting an admin");
    let (status, answer) = call(
        &server,
        Method::POST,
        &format!("/api/admin/players/{boss_id}/role"),
        Some(&boss),
        Some(json!({"role": "player"})),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "conflict");
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("/api/admin/players/{player_id}/role"),
        Some(&boss),
        Some(json!({"role": "king"})),
    )
    .await;
    assert_eq!(status, 400, "not a role");

    // Conflicts: unmute and unban of a player who is neither.
    for what in ["mute", "ban"] {
        let path = format!("/api/admin/players/{player_id}/{what}");
        let (status, answer) = call(&server, Method::DELETE, &path, Some(&moderator), None).await;
        assert_eq!(status, 409, "{what}: {answer}");
    }
    // Bad bodies: 400.
    for body in [
        json!({"seconds": 0, "reason": "x"}),
        json!({"seconds": 60, "reason": ""}),
        json!({"reason": "no end"}),
        json!({"seconds": 60, "reason": "x", "extra": 1}),
    ] {
        let path = format!("/api/admin/players/{player_id}/mute");
        let (status, _) = call(&server, Method::POST, &path, Some(&moderator), Some(body)).await;
        assert_eq!(status, 400);
    }

    // The moderator's standing view of a player, and the role taken away again.
    let (status, standing) = call(
        &server,
        Method::GET,
        &format!("/api/admin/players/{moderator_id}"),
        Some(&moderator),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(standing["role"], "moderator");
    grant(&server, &boss, &moderator_id, "player").await;
    let changed = moderator_socket.recv_type("role.changed").await;
    assert_eq!(changed["data"]["role"], "player");
    let (status, _) = call(
        &server,
        Method::GET,
        "/api/admin/reports",
        Some(&moderator),
        None,
    )
    .await;
    assert_eq!(status, 403, "a revoked role takes effect at once");

    // The audit log: filtered by actor and action, paged.
    let (status, page) = call(
        &server,
        Method::GET,
        &format!("/api/admin/audit?actor={boss_id}&action=role.set"),
        Some(&boss),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{page}");
    assert_eq!(entries[0]["actor"]["id"], boss_id.as_str());
    assert_eq!(entries[0]["target"], moderator_id.as_str());
    let (_, first) = call(
        &server,
        Method::GET,
        "/api/admin/audit?limit=1",
        Some(&boss),
        None,
    )
    .await;
    let next = first["next"].as_str().expect("a next page").to_owned();
    let (_, second) = call(
        &server,
        Method::GET,
        &format!("/api/admin/audit?limit=1&before={next}"),
        Some(&boss),
        None,
    )
    .await;
    assert_ne!(first["entries"][0], second["entries"][0]);
    let (status, _) = call(
        &server,
        Method::GET,
        "/api/admin/audit?since=yesterday",
        Some(&boss),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (_, none) = call(
        &server,
        Method::GET,
        "/api/admin/audit?since=2999-01-01T00:00:00Z",
        Some(&boss),
        None,
    )
    .await;
    assert_eq!(none["entries"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_message_vanishes_live_and_from_history() {
    let server = Server::start(&flags());
    let (boss, _) = register(&server, BOSS).await;
    let mut ada = Client::connect(&server, "").await;
    let mut bob = Client::connect(&server, "").await;
    let said = say(&mut ada, "something rude").await;
    let id = said["data"]["id"].as_str().unwrap().to_owned();
    let seen = bob
        .recv_where(|m| m["type"] == "chat.message" && m["data"]["text"] == "something rude")
        .await;
    assert_eq!(seen["data"]["id"], id.as_str());
    say(&mut ada, "something kind").await;
    let history = common::get_json(&server, "/api/chat/global").await;
    assert_eq!(history["messages"][1]["id"], id.as_str(), "{history}");

    let path = format!("/api/chat/messages/{id}");
    let (status, body) = call(&server, Method::DELETE, &path, Some(&boss), None).await;
    assert_eq!(status, 200, "{body}");
    for client in [&mut ada, &mut bob] {
        let deleted = client.recv_type("message.deleted").await;
        assert_eq!(deleted["data"], json!({"channel": "global", "id": id}));
    }
    let history = common::get_json(&server, "/api/chat/global").await;
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["something kind"]);
    let (status, _) = call(&server, Method::DELETE, &path, Some(&boss), None).await;
    assert_eq!(status, 409, "deleted already");

    // In a conversation, each side is told under its own name for it.
    let bob_id = bob.player_id();
    let ack = ada
        .request(
            "chat.message",
            json!({"text": "psst", "channel": format!("dm:{bob_id}")}),
        )
        .await;
    assert_eq!(ack["type"], "ack");
    let dm = bob
        .recv_where(|m| m["type"] == "chat.message" && m["data"]["text"] == "psst")
        .await;
    let dm_id = dm["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/chat/messages/{dm_id}");
    let (status, _) = call(&server, Method::DELETE, &path, Some(&boss), None).await;
    assert_eq!(status, 200);
    let deleted = bob.recv_type("message.deleted").await;
    assert_eq!(
        deleted["data"]["channel"],
        format!("dm:{}", ada.player_id())
    );
    let deleted = ada.recv_type("message.deleted").await;
    assert_eq!(deleted["data"]["channel"], format!("dm:{bob_id}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mute_refuses_chat_across_reconnects_and_a_restart() {
    let server = Server::start(&flags());
    let (boss, _) = register(&server, BOSS).await;
    let (ada_token, ada_id) = register(&server, "ada").await;
    let mut ada = Client::connect(&server, &format!("?token={ada_token}")).await;
    let path = format!("/api/admin/players/{ada_id}/mute");
    let (status, mute) = call(
        &server,
        Method::POST,
        &path,
        Some(&boss),
        Some(json!({"seconds": 600, "reason": "spam"})),
    )
    .await;
    assert_eq!(status, 200, "{mute}");
    assert!(mute["until"].as_str().unwrap().ends_with('Z'));

    let refused = ada.request("chat.message", json!({"text": "hello?"})).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["data"]["code"], "muted");
    let left = refused["data"]["remainingMs"].as_i64().unwrap();
    assert!(left > 590_000 && left <= 600_000, "{refused}");
    assert_eq!(refused["data"]["until"], mute["until"]);

    drop(ada);
    let mut ada = Client::connect(&server, &format!("?token={ada_token}")).await;
    let refused = ada.request("chat.message", json!({"text": "now?"})).await;
    assert_eq!(refused["data"]["code"], "muted", "after a reconnect");

    let dir = server.dir.clone();
    drop(ada);
    assert!(server.terminate().success());
    let server = Server::start_in(dir, &flags());
    let mut ada = Client::connect(&server, &format!("?token={ada_token}")).await;
    let refused = ada.request("chat.message", json!({"text": "now?"})).await;
    assert_eq!(refused["data"]["code"], "muted", "after a restart");

    let (status, _) = call(&server, Method::DELETE, &path, Some(&boss), None).await;
    assert_eq!(status, 200);
    say(&mut ada, "thank you").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_closes_sockets_and_refuses_login_and_guest_reentry() {
    let server = Server::start(&flags());
    let (boss, _) = register(&server, BOSS).await;

    // A guest: its socket is closed, and its token is refused at the door.
    let mut guest = Client::connect(&server, "").await;
    let (guest_id, guest_token) = (guest.player_id(), guest.token());
    let path = format!("/api/admin/players/{guest_id}/ban");
    let (status, ban) = call(
        &server,
        Method::POST,
        &path,
        Some(&boss),
        Some(json!({"seconds": 3600, "reason": "cheating"})),
    )
    .await;
    assert_eq!(status, 200, "{ban}");
    let error = guest.recv_type("error").await;
    assert_eq!(error["data"]["code"], "banned");
    assert_eq!(error["data"]["until"], ban["until"]);
    assert_eq!(guest.expect_close().await, Some(1008));
    let (error, code) = refused(&server, &guest_token).await;
    assert_eq!(code, Some(1008), "a banned guest reconnecting");
    assert_eq!(error["data"]["code"], "banned");
    assert_eq!(error["data"]["until"], ban["until"]);

    // A registered player banned for good: no login, no REST, no socket.
    let (ada_token, ada_id) = register(&server, "ada").await;
    let mut ada = Client::connect(&server, &format!("?token={ada_token}")).await;
    let path = format!("/api/admin/players/{ada_id}/ban");
    let (status, ban) = call(
        &server,
        Method::POST,
        &path,
        Some(&boss),
        Some(json!({"reason": "for good"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ban["until"], Value::Null);
    assert_eq!(ada.expect_close().await, Some(1008));
    let (status, body) = call(
        &server,
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"name": "ada", "password": "a long password"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "banned");
    assert_eq!(body["error"]["until"], Value::Null);
    let (status, body) = call(&server, Method::GET, "/api/auth/me", Some(&ada_token), None).await;
    assert_eq!(status, 403, "{body}");
    let (_, code) = refused(&server, &ada_token).await;
    assert_eq!(code, Some(1008));
    // `auth` with the banned token on a socket opened as a guest: refused and closed.
    let mut other = Client::connect(&server, "").await;
    let answer = other.request("auth", json!({"token": ada_token})).await;
    assert_eq!(answer["data"]["code"], "banned", "{answer}");
    assert_eq!(other.expect_close().await, Some(1008));

    // Unbanned: back in.
    let (status, _) = call(&server, Method::DELETE, &path, Some(&boss), None).await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &server,
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"name": "ada", "password": "a long password"})),
    )
    .await;
    assert_eq!(status, 200);
    Client::connect(&server, &format!("?token={ada_token}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_report_and_moderators_resolve() {
    let server = Server::start(&flags());
    let (boss, _) = register(&server, BOSS).await;
    let (reporter, _) = register(&server, "ada").await;
    let mut rude = Client::connect(&server, "").await;
    let said = say(&mut rude, "rude words").await;
    let message = said["data"]["id"].as_str().unwrap().to_owned();
    let rude_id = rude.player_id();

    let report = |body: Value| {
        let (server, reporter) = (&server, reporter.clone());
        async move {
            call(
                server,
                Method::POST,
                "/api/reports",
                Some(&reporter),
                Some(body),
            )
            .await
        }
    };
    let (status, created) = report(json!({"message": message, "reason": "insults"})).await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = report(json!({"message": message, "reason": "again"})).await;
    assert_eq!(status, 409, "one open report per reporter and target");
    let (status, _) = report(json!({"player": rude_id, "reason": "a pattern"})).await;
    assert_eq!(status, 201, "the player apart from the message");
    for bad in [
        json!({"reason": "nothing named"}),
        json!({"player": rude_id, "message": message, "reason": "both"}),
        json!({"player": rude_id, "reason": ""}),
    ] {
        let (status, _) = report(bad).await;
        assert_eq!(status, 400);
    }
    let (status, _) = report(json!({"message": "c_00000000000000ff", "reason": "x"})).await;
    assert_eq!(status, 404);

    let (status, page) = call(
        &server,
        Method::GET,
        "/api/admin/reports",
        Some(&boss),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let reports = page["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2, "{page}");
    assert_eq!(reports[0]["id"], created["id"]);
    assert_eq!(reports[0]["player"]["id"], rude_id.as_str());
    assert_eq!(reports[0]["reporter"]["name"], "ada");
    assert_eq!(reports[0]["message"]["text"], "rude words");
    assert_eq!(reports[1]["message"], Value::Null);

    let path = format!(
        "/api/admin/reports/{}/resolve",
        created["id"].as_str().unwrap()
    );
    let note = Some(json!({"note": "deleted it"}));
    let (status, _) = call(&server, Method::POST, &path, Some(&boss), note.clone()).await;
    assert_eq!(status, 200);
    let (status, _) = call(&server, Method::POST, &path, Some(&boss), note).await;
    assert_eq!(status, 409, "resolved already");
    let (_, page) = call(
        &server,
        Method::GET,
        "/api/admin/reports?limit=1",
        Some(&boss),
        None,
    )
    .await;
    assert_eq!(page["reports"].as_array().unwrap().len(), 1);
    assert_eq!(page["next"], Value::Null);
    let (_, audit) = call(
        &server,
        Method::GET,
        "/api/admin/audit?action=report.resolve",
        Some(&boss),
        None,
    )
    .await;
    assert_eq!(audit["entries"][0]["detail"], "deleted it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_starts_at_most_every_two_seconds_and_stops_by_itself() {
    let server = Server::start(&flags());
    let mut ada = Client::connect(&server, "").await;
    let mut bob = Client::connect(&server, "").await;
    let typing = |on: bool| json!({"channel": "global", "typing": on});
    let ack = ada.request("chat.typing", typing(true)).await;
    assert_eq!(ack["type"], "ack");
    let start = bob.recv_type("typing.start").await;
    assert_eq!(start["data"]["channel"], "global");
    assert_eq!(start["data"]["player"]["id"], ada.player_id().as_str());
    // Again at once: no second start. A stop goes out.
    ada.request("chat.typing", typing(true)).await;
    ada.request("chat.typing", typing(false)).await;
    let next = bob
        .recv_where(|m| m["type"] == "typing.start" || m["type"] == "typing.stop")
        .await;
    assert_eq!(next["type"], "typing.stop", "{next}");

    // A start, then silence: the stop comes by itself after 5 s.
    let started = std::time::Instant::now();
    ada.request("chat.typing", typing(true)).await;
    bob.recv_type("typing.start").await;
    let stop = bob.recv_type("typing.stop").await;
    let waited = started.elapsed();
    assert_eq!(stop["data"]["player"]["id"], ada.player_id().as_str());
    assert!(
        waited >= Duration::from_millis(4_900) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    // The typist hears nothing of their own.
    let ping = ada.request("ws.ping", json!({})).await;
    assert_eq!(ping["type"], "ws.pong");
    assert!(
        !ada.backlog
            .iter()
            .any(|m| m["type"].as_str().is_some_and(|t| t.starts_with("typing."))),
        "{:?}",
        ada.backlog
    );
    let bad = ada
        .request("chat.typing", json!({"channel": "lobby", "typing": true}))
        .await;
    assert_eq!(bad["data"]["code"], "bad_request");

    // In a conversation, the other player hears it under the typist's name for it.
    let dm = json!({"channel": format!("dm:{}", bob.player_id()), "typing": true});
    ada.request("chat.typing", dm).await;
    let start = bob.recv_type("typing.start").await;
    assert_eq!(start["data"]["channel"], format!("dm:{}", ada.player_id()));

    // In a match, its audience hears it; a deleted match line is removed there live too.
    let server_url = &server;
    let mut left = Client::connect(server_url, "").await;
    let mut right = Client::connect(server_url, "").await;
    let match_id = start_pong(&mut left, &mut right, 11).await;
    let channel = format!("match:{match_id}");
    left.request("chat.typing", json!({"channel": channel, "typing": true}))
        .await;
    let start = right.recv_type("typing.start").await;
    assert_eq!(start["data"]["channel"], channel.as_str());
    let (boss, _) = register(&server, BOSS).await;
    let ack = left
        .request("chat.message", json!({"channel": channel, "text": "gg"}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let line = right
        .recv_where(|m| m["type"] == "chat.message" && m["data"]["text"] == "gg")
        .await;
    let path = format!(
        "/api/chat/messages/{}",
        line["data"]["id"].as_str().unwrap()
    );
    let (status, _) = call(&server, Method::DELETE, &path, Some(&boss), None).await;
    assert_eq!(status, 200);
    let deleted = right.recv_type("message.deleted").await;
    assert_eq!(deleted["data"]["channel"], channel.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_match_is_ended_as_aborted() {
    let server = Server::start(&flags());
    let (boss, _) = register(&server, BOSS).await;
    let mut left = Client::connect(&server, "").await;
    let mut right = Client::connect(&server, "").await;
    let match_id = start_pong(&mut left, &mut right, 11).await;
    let path = format!("/api/admin/matches/{match_id}/abort");
    let (status, _) = call(&server, Method::POST, &path, Some(&left.token()), None).await;
    assert_eq!(status, 403, "a player");
    let (status, body) = call(&server, Method::POST, &path, Some(&boss), None).await;
    assert_eq!(status, 200, "{body}");
    for client in [&mut left, &mut right] {
        let end = client.recv_type("match.end").await;
        assert_eq!(end["data"]["reason"], "aborted", "{end}");
    }
    let record = common::fetch_record(&server, &match_id).await;
    assert_eq!(record["reason"], "aborted");
    let (status, _) = call(&server, Method::POST, &path, Some(&boss), None).await;
    assert_eq!(status, 409, "ended already");
    let (_, audit) = call(
        &server,
        Method::GET,
        "/api/admin/audit?action=match.abort",
        Some(&boss),
        None,
    )
    .await;
    assert_eq!(audit["entries"][0]["target"], match_id.as_str());
}

/// Pairs playing at once while backups are taken, and matches each pair plays.
const BACKUP_PAIRS: usize = 4;
const BACKUP_MATCHES_PER_PAIR: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_matches_are_written_is_whole() {
    let server = std::sync::Arc::new(Server::start(&flags()));
    let (boss, _) = register(&server, BOSS).await;
    // Pairs end matches (each acknowledged by `match.end`, sent after its record is
    // committed) while backups are taken.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut pairs = Vec::new();
    for _ in 0..BACKUP_PAIRS {
        let (server, acknowledged) = (server.clone(), acknowledged.clone());
        pairs.push(tokio::spawn(async move {
            let mut left = Client::connect(&server, "").await;
            let mut right = Client::connect(&server, "").await;
            for _ in 0..BACKUP_MATCHES_PER_PAIR {
                let match_id = start_pong(&mut left, &mut right, 11).await;
                let ack = left
                    .request("match.leave", json!({"matchId": match_id}))
                    .await;
                assert_eq!(ack["type"], "ack", "{ack}");
                right.recv_type("match.end").await;
                left.recv_type("match.end").await;
                acknowledged.lock().unwrap().push(match_id);
            }
        }));
    }
    let mut backups = Vec::new();
    let mut round = 0;
    while pairs.iter().any(|pair| !pair.is_finished()) || round < 2 {
        let before = acknowledged.lock().unwrap().clone();
        let (status, backup) = if round % 2 == 0 {
            call(
                &server,
                Method::POST,
                "/api/admin/backup",
                Some(&boss),
                None,
            )
            .await
        } else {
            // The command line, on the live file.
            let target = server.dir.path().join(format!("cli-{round}.db"));
            let db = server.dir.path().join("arcade.db");
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_arcade"))
                .args(["--db", db.to_str().unwrap(), "backup"])
                .arg(&target)
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
            let printed = String::from_utf8_lossy(&output.stdout).to_string();
            assert!(printed.contains("bytes"), "{printed}");
            let bytes = std::fs::metadata(&target).unwrap().len();
            (
                200,
                json!({"path": target.to_str().unwrap(), "bytes": bytes}),
            )
        };
        assert_eq!(status, 200, "{backup}");
        backups.push((backup, before));
        round += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for pair in pairs {
        pair.await.unwrap();
    }
    assert!(
        backups.iter().any(|(_, before)| !before.is_empty()),
        "a backup was taken while matches were being written"
    );
    for (backup, before) in &backups {
        let path = backup["path"].as_str().unwrap();
        assert_eq!(
            std::fs::metadata(path).unwrap().len(),
            backup["bytes"].as_u64().unwrap()
        );
        let conn = rusqlite::Connection::open(path).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        for match_id in before {
            let id = i64::from_str_radix(&match_id[2..], 16).unwrap();
            let found: i64 = conn
                .query_row("SELECT count(*) FROM matches WHERE id = ?1", [id], |row| {
                    row.get(0)
                })
                .unwrap();
            assert_eq!(found, 1, "{match_id} is in {path}");
        }
    }
    // A server starts on a copy: restoring is starting on it.
    let (status, last) = call(
        &server,
        Method::POST,
        "/api/admin/backup",
        Some(&boss),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(
        last["path"].as_str().unwrap(),
        restored.path().join("arcade.db"),
    )
    .unwrap();
    let restored = Server::start_in(std::sync::Arc::new(restored), &flags());
    let history = common::get_json(&restored, "/api/matches?limit=100").await;
    assert_eq!(
        history["matches"].as_array().unwrap().len(),
        BACKUP_PAIRS * BACKUP_MATCHES_PER_PAIR
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_moderation_route_is_in_the_api_document() {
    let server = Server::start(&flags());
    let doc = common::get_json(&server, "/api/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/admin/players/{id}", "get"),
        ("/api/admin/players/{id}/role", "post"),
        ("/api/admin/players/{id}/mute", "post"),
        ("/api/admin/players/{id}/mute", "delete"),
        ("/api/admin/players/{id}/ban", "post"),
        ("/api/admin/players/{id}/ban", "delete"),
        ("/api/chat/messages/{id}", "delete"),
        ("/api/reports", "post"),
        ("/api/admin/reports", "get"),
        ("/api/admin/reports/{id}/resolve", "post"),
        ("/api/admin/audit", "get"),
        ("/api/admin/backup", "post"),
        ("/api/admin/matches/{id}/abort", "post"),
    ] {
        let operation = &paths[path][method];
        assert!(operation.is_object(), "{method} {path} is documented");
        for status in ["401", "503"] {
            assert!(
                operation["responses"][status].is_object(),
                "{method} {path} documents {status}"
            );
        }
    }
}
