//! Social features end to end: chat history over REST, direct messages and blocks, the match
//! channel, friend requests, friends with presence, and match invitations.
//!
//! "Never arrives" is checked without sleeping: after the message that must not arrive, the
//! sender posts a `global` marker; a connection's frames keep their order, so once the marker
//! is in, anything sent before it would be too.

mod common;

use std::time::Duration;

use common::{Client, NO_WS_LIMITS, Server, WAIT, http};
use serde_json::{Value, json};

async fn chat(client: &mut Client, channel: &str, text: &str) -> Value {
    client
        .request("chat.message", json!({"channel": channel, "text": text}))
        .await
}

/// Sends a `global` marker from `sender` and waits until `receiver` has it; returns what
/// else `receiver` had received by then.
async fn settle(sender: &mut Client, receiver: &mut Client, marker: &str) -> Vec<Value> {
    assert_eq!(chat(sender, "global", marker).await["type"], "ack");
    receiver
        .recv_where(|m| m["type"] == "chat.message" && m["data"]["text"] == marker)
        .await;
    receiver.backlog.drain(..).collect()
}

async fn get(server: &Server, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = http().get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(server: &Server, path: &str, token: &str) -> (u16, Value) {
    let response = http()
        .post(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn delete(server: &Server, path: &str, token: &str) -> (u16, Value) {
    let response = http()
        .delete(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `path` until `done` holds for the body (the writer commits within ~10 ms).
async fn poll(
    server: &Server,
    path: &str,
    token: Option<&str>,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, body) = get(server, path, token).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `from` asks `to` to be friends; answers the route's status and body.
async fn ask(server: &Server, from: &Client, to: &Client) -> (u16, Value) {
    let path = format!("/api/players/{}/friend", to.player_id());
    post(server, &path, &from.token()).await
}

/// Makes `a` and `b` friends: a request and its acceptance.
async fn befriend(server: &Server, a: &Client, b: &Client) {
    let (status, asked) = ask(server, a, b).await;
    assert_eq!(
        (status, &asked["state"]),
        (200, &json!("pending")),
        "{asked}"
    );
    let (status, accepted) = ask(server, b, a).await;
    assert_eq!(
        (status, &accepted["state"]),
        (200, &json!("friends")),
        "{accepted}"
    );
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect()
}

fn texts(page: &Value) -> Vec<&str> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_history_pages_newest_first_over_rest() {
    let server = Server::start(NO_WS_LIMITS);
    let mut ada = Client::connect(&server, "").await;
    for text in ["one", "two", "three"] {
        assert_eq!(chat(&mut ada, "global", text).await["type"], "ack");
    }
    let first = poll(&server, "/api/chat/global?limit=2", None, |page| {
        texts(page) == ["three", "two"]
    })
    .await;
    let message = &first["messages"][0];
    assert_eq!(message["from"]["id"], ada.player_id().as_str());
    assert_eq!(message["channel"], "global");
    assert!(message["at"].as_str().unwrap().ends_with('Z'));
    let next = first["next"].as_str().expect("another page");
    let (status, second) = get(
        &server,
        &format!("/api/chat/global?limit=2&before={next}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(texts(&second), ["one"]);
    assert_eq!(second["next"], Value::Null);

    let (status, bad) = get(&server, "/api/chat/global?limit=0", None).await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    let (status, _) = get(&server, "/api/chat/lobby", None).await;
    assert_eq!(status, 404);
    let (status, _) = get(&server, &format!("/api/chat/dm:{}", ada.player_id()), None).await;
    assert_eq!(status, 401, "a DM channel needs the bearer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_reaches_only_the_two_and_is_kept() {
    let server = Server::start(NO_WS_LIMITS);
    let mut ada = Client::connect(&server, "").await;
    let mut bob = Client::connect(&server, "").await;
    let mut cy = Client::connect(&server, "").await;
    let (ada_id, bob_id) = (ada.player_id(), bob.player_id());

    let sent = chat(&mut ada, &format!("dm:{bob_id}"), "psst").await;
    assert_eq!(sent, json!({"type": "ack", "requestId": sent["requestId"]}));
    let mine = ada.recv_type("chat.message").await;
    assert_eq!(mine["data"]["channel"], format!("dm:{bob_id}"));
    let theirs = bob.recv_type("chat.message").await;
    assert_eq!(theirs["data"]["text"], "psst");
    assert_eq!(
        theirs["data"]["channel"],
        format!("dm:{ada_id}"),
        "named by its reader"
    );
    assert_eq!(theirs["data"]["from"]["id"], ada_id.as_str());

    let seen = settle(&mut ada, &mut cy, "marker").await;
    assert!(
        !seen.iter().any(|m| m["type"] == "chat.message"),
        "cy saw nothing but the marker: {seen:?}"
    );

    // Both sides read the conversation; nobody else can name it.
    for (token, other) in [(ada.token(), &bob_id), (bob.token(), &ada_id)] {
        let page = poll(
            &server,
            &format!("/api/chat/dm:{other}"),
            Some(&token),
            |page| texts(page) == ["psst"],
        )
        .await;
        assert_eq!(page["messages"][0]["channel"], format!("dm:{other}"));
    }
    let (_, cy_view) = get(
        &server,
        &format!("/api/chat/dm:{bob_id}"),
        Some(&cy.token()),
    )
    .await;
    assert_eq!(texts(&cy_view), Vec::<&str>::new());

    let unknown = chat(&mut ada, "dm:p_0000000000000001", "hello?").await;
    assert_eq!(unknown["data"]["code"], "not_found", "{unknown}");
    // Ids are opaque (issue 12): a string that names nobody is not_found, not malformed.
    let nobody = chat(&mut ada, "dm:bob", "hello?").await;
    assert_eq!(nobody["data"]["code"], "not_found", "{nobody}");
    let malformed = chat(&mut ada, "lobby", "hello?").await;
    assert_eq!(malformed["data"]["code"], "bad_request", "{malformed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_players_direct_messages_never_arrive() {
    let server = Server::start(NO_WS_LIMITS);
    let mut ada = Client::connect(&server, "").await;
    let mut bob = Client::connect(&server, "").await;
    let (ada_id, bob_id) = (ada.player_id(), bob.player_id());

    let (status, _) = post(
        &server,
        &format!("/api/players/{ada_id}/block"),
        &bob.token(),
    )
    .await;
    assert_eq!(status, 200);
    let (_, blocks) = get(&server, "/api/blocks", Some(&bob.token())).await;
    assert_eq!(blocks["blocked"][0]["id"], ada_id.as_str());

    let sent = chat(&mut ada, &format!("dm:{bob_id}"), "let me in").await;
    assert_eq!(sent["type"], "ack", "the block is not revealed: {sent}");
    let echo = ada.recv_type("chat.message").await;
    assert_eq!(echo["data"]["text"], "let me in");
    let seen = settle(&mut ada, &mut bob, "marker").await;
    assert!(
        !seen.iter().any(|m| m["data"]["text"] == "let me in"),
        "{seen:?}"
    );
    let (_, history) = get(
        &server,
        &format!("/api/chat/dm:{ada_id}"),
        Some(&bob.token()),
    )
    .await;
    assert!(texts(&history).is_empty(), "{history}");

    // Unblocked, the next one arrives.
    let (status, _) = delete(
        &server,
        &format!("/api/players/{ada_id}/block"),
        &bob.token(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        chat(&mut ada, &format!("dm:{bob_id}"), "now?").await["type"],
        "ack"
    );
    let arrived = bob
        .recv_where(|m| m["type"] == "chat.message" && m["data"]["text"] == "now?")
        .await;
    assert_eq!(arrived["data"]["channel"], format!("dm:{ada_id}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_are_listed_with_presence_and_told_of_its_changes() {
    let server = Server::start(NO_WS_LIMITS);
    let mut ada = Client::connect(&server, "").await;
    let mut bob = Client::connect(&server, "").await;
    let bob_id = bob.player_id();
    let token = ada.token();

    let (status, _) = get(&server, "/api/friends", None).await;
    assert_eq!(status, 401);
    let (status, asked) = post(&server, &format!("/api/players/{bob_id}/friend"), &token).await;
    assert_eq!(status, 200, "{asked}");
    assert_eq!(asked["state"], "pending");
    assert_eq!(asked["friend"]["id"], bob_id.as_str());
    assert_eq!(
        asked["friend"].get("presence"),
        None,
        "no presence before friendship"
    );
    let request = bob.recv_type("friend.request").await;
    assert_eq!(
        request["data"]["from"],
        json!({"id": ada.player_id(), "name": ada.hello["data"]["player"]["name"]})
    );
    let (_, friends) = get(&server, "/api/friends", Some(&token)).await;
    assert_eq!(
        friends["friends"],
        json!([]),
        "a request is not a friendship"
    );
    let (status, accepted) = ask(&server, &bob, &ada).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["state"], "friends");
    assert_eq!(accepted["friend"]["presence"], "online");
    let event = ada.recv_type("friend.accepted").await;
    assert_eq!(event["data"]["from"]["id"], bob_id.as_str());
    let (status, _) = post(
        &server,
        &format!("/api/players/{}/friend", ada.player_id()),
        &token,
    )
    .await;
    assert_eq!(status, 400, "not oneself");
    let (status, _) = post(&server, "/api/players/p_0000000000000001/friend", &token).await;
    assert_eq!(status, 404);

    let (_, friends) = get(&server, "/api/friends", Some(&token)).await;
    assert_eq!(friends["friends"].as_array().unwrap().len(), 1);
    assert_eq!(friends["friends"][0]["presence"], "online");

    // Seated in a match: in_match, announced to ada.
    let created = bob
        .request("match.create", json!({"game": "pong", "mode": "1v1"}))
        .await;
    assert_eq!(created["type"], "ack");
    let event = ada
        .recv_where(|m| m["type"] == "presence" && m["data"]["status"] == "in_match")
        .await;
    assert_eq!(event["data"]["player"]["id"], bob_id.as_str());
    assert!(event["data"]["player"]["name"].is_string());
    let (_, friends) = get(&server, "/api/friends", Some(&token)).await;
    assert_eq!(friends["friends"][0]["presence"], "in_match");
    let (_, profile) = get(&server, &format!("/api/players/{bob_id}"), None).await;
    assert_eq!(profile["presence"], "in_match", "{profile}");

    // Gone: offline.
    bob.ws.close(None).await.unwrap();
    drop(bob);
    let event = ada
        .recv_where(|m| m["type"] == "presence" && m["data"]["status"] == "offline")
        .await;
    assert_eq!(event["data"]["player"]["id"], bob_id.as_str());
    let (_, friends) = get(&server, "/api/friends", Some(&token)).await;
    assert_eq!(friends["friends"][0]["presence"], "offline");

    let (status, _) = delete(&server, &format!("/api/players/{bob_id}/friend"), &token).await;
    assert_eq!(status, 200);
    let (_, friends) = get(&server, "/api/friends", Some(&token)).await;
    assert_eq!(friends["friends"], json!([]));
    let (_, requests) = get(&server, "/api/friends/requests", Some(&token)).await;
    assert_eq!(
        requests,
        json!({"incoming": [], "outgoing": []}),
        "both ways gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_no_friendship_until_accepted_and_invites_need_one() {
    let server = Server::start(NO_WS_LIMITS);
    let mut ada = Client::connect(&server, "").await;
    let mut bob = Client::connect(&server, "").await;
    let created = ada
        .request(
            "match.create",
            json!({"game": "pong", "mode": "1v1", "options": {"private": true}}),
        )
        .await;
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let invite = json!({"matchId": match_id, "playerId": bob.player_id()});

    let (_, asked) = ask(&server, &ada, &bob).await;
    assert_eq!(asked["state"], "pending");
    let (_, again) = ask(&server, &ada, &bob).await;
    assert_eq!(again["state"], "pending", "asking twice is fine");
    let (_, requests) = get(&server, "/api/friends/requests", Some(&bob.token())).await;
    assert_eq!(ids(&requests["incoming"]), [ada.player_id()]);
    assert_eq!(requests["outgoing"], json!([]));
    let (_, requests) = get(&server, "/api/friends/requests", Some(&ada.token())).await;
    assert_eq!(ids(&requests["outgoing"]), [bob.player_id()]);
    for client in [&ada, &bob] {
        let (_, friends) = get(&server, "/api/friends", Some(&client.token())).await;
        assert_eq!(friends["friends"], json!([]));
    }
    let refused = ada.request("match.invite", invite.clone()).await;
    assert_eq!(refused["data"]["code"], "forbidden", "{refused}");

    let (_, accepted) = ask(&server, &bob, &ada).await;
    assert_eq!(accepted["state"], "friends");
    for (me, other) in [(&ada, &bob), (&bob, &ada)] {
        let (_, friends) = get(&server, "/api/friends", Some(&me.token())).await;
        assert_eq!(ids(&friends["friends"]), [other.player_id()]);
        let (_, requests) = get(&server, "/api/friends/requests", Some(&me.token())).await;
        assert_eq!(requests, json!({"incoming": [], "outgoing": []}));
    }
    let sent = ada.request("match.invite", invite).await;
    assert_eq!(sent["type"], "ack", "{sent}");
    let event = bob.recv_type("match.invite").await;
    assert_eq!(event["data"]["matchId"], match_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_can_be_declined_or_withdrawn() {
    let server = Server::start(NO_WS_LIMITS);
    let ada = Client::connect(&server, "").await;
    let bob = Client::connect(&server, "").await;
    let none = json!({"incoming": [], "outgoing": []});
    let ada_path = format!("/api/players/{}/friend", ada.player_id());
    let bob_path = format!("/api/players/{}/friend", bob.player_id());

    // Declined by bob.
    ask(&server, &ada, &bob).await;
    let (status, _) = delete(&server, &ada_path, &bob.token()).await;
    assert_eq!(status, 200);
    for client in [&ada, &bob] {
        let (_, requests) = get(&server, "/api/friends/requests", Some(&client.token())).await;
        assert_eq!(requests, none);
    }
    // Withdrawn by ada; bob asking afterwards is a new request, not an acceptance.
    ask(&server, &ada, &bob).await;
    let (status, _) = delete(&server, &bob_path, &ada.token()).await;
    assert_eq!(status, 200);
    let (_, requests) = get(&server, "/api/friends/requests", Some(&bob.token())).await;
    assert_eq!(requests, none);
    let (_, asked) = ask(&server, &bob, &ada).await;
    assert_eq!(asked["state"], "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_clears_friendship_and_requests_and_drops_the_blocked_players_requests() {
    let server = Server::start(NO_WS_LIMITS);
    let mut ada = Client::connect(&server, "").await;
    let mut bob = Client::connect(&server, "").await;
    let cy = Client::connect(&server, "").await;
    let none = json!({"incoming": [], "outgoing": []});
    befriend(&server, &ada, &bob).await;
    ask(&server, &cy, &bob).await;
    for blocked in [&ada, &cy] {
        let path = format!("/api/players/{}/block", blocked.player_id());
        let (status, _) = post(&server, &path, &bob.token()).await;
        assert_eq!(status, 200);
    }
    for client in [&ada, &bob, &cy] {
        let (_, friends) = get(&server, "/api/friends", Some(&client.token())).await;
        assert_eq!(friends["friends"], json!([]));
        let (_, requests) = get(&server, "/api/friends/requests", Some(&client.token())).await;
        assert_eq!(requests, none);
    }

    // A blocked player's request answers `pending` and is dropped.
    for _ in 0..2 {
        bob.recv_type("friend.request").await; // ada's and cy's, before the blocks
    }
    let (status, asked) = ask(&server, &ada, &bob).await;
    assert_eq!((status, &asked["state"]), (200, &json!("pending")));
    let seen = settle(&mut ada, &mut bob, "marker").await;
    assert!(
        !seen.iter().any(|m| m["type"] == "friend.request"),
        "{seen:?}"
    );
    let (_, requests) = get(&server, "/api/friends/requests", Some(&bob.token())).await;
    assert_eq!(requests, none);

    // Unblocked: no friendship comes back, and a new request goes through.
    let path = format!("/api/players/{}/block", ada.player_id());
    delete(&server, &path, &bob.token()).await;
    let (_, friends) = get(&server, "/api/friends", Some(&bob.token())).await;
    assert_eq!(friends["friends"], json!([]));
    let (_, asked) = ask(&server, &ada, &bob).await;
    assert_eq!(asked["state"], "pending");
    bob.recv_type("friend.request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_arrives_and_the_friend_joins_with_its_id() {
    let server = Server::start(NO_WS_LIMITS);
    let mut host = Client::connect(&server, "").await;
    let mut friend = Client::connect(&server, "").await;
    let mut blocker = Client::connect(&server, "").await;
    let mut stranger = Client::connect(&server, "").await;
    for guest in [&friend, &blocker] {
        befriend(&server, &host, guest).await;
    }
    let (status, _) = post(
        &server,
        &format!("/api/players/{}/block", host.player_id()),
        &blocker.token(),
    )
    .await;
    assert_eq!(status, 200);

    let created = host
        .request(
            "match.create",
            json!({"game": "pong", "mode": "1v1", "options": {"private": true}}),
        )
        .await;
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let invite = |player: String| json!({"matchId": match_id, "playerId": player});

    let sent = host
        .request("match.invite", invite(friend.player_id()))
        .await;
    assert_eq!(sent["type"], "ack", "{sent}");
    let event = friend.recv_type("match.invite").await;
    assert_eq!(
        event["data"],
        json!({
            "matchId": match_id,
            "from": {"id": host.player_id(), "name": host.hello["data"]["player"]["name"]},
            "game": "pong",
            "mode": "1v1",
        })
    );
    let joined = friend
        .request("match.join", json!({"matchId": event["data"]["matchId"]}))
        .await;
    assert_eq!(joined["data"]["seat"], "right", "{joined}");
    for client in [&mut host, &mut friend] {
        let start = client.recv_type("match.start").await;
        assert_eq!(start["data"]["matchId"], match_id.as_str());
    }

    let not_a_friend = host
        .request("match.invite", invite(stranger.player_id()))
        .await;
    assert_eq!(not_a_friend["data"]["code"], "forbidden", "{not_a_friend}");
    let outsider = stranger
        .request("match.invite", invite(host.player_id()))
        .await;
    assert_eq!(outsider["data"]["code"], "forbidden", "{outsider}");

    let blocked = host
        .request("match.invite", invite(blocker.player_id()))
        .await;
    assert_eq!(
        blocked["data"]["code"], "forbidden",
        "the block ended the friendship: {blocked}"
    );
    let seen = settle(&mut host, &mut blocker, "marker").await;
    assert!(
        !seen.iter().any(|m| m["type"] == "match.invite"),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_match_channel_reaches_only_its_players_and_spectators() {
    let server = Server::start(NO_WS_LIMITS);
    let mut player = Client::connect(&server, "").await;
    let mut watcher = Client::connect(&server, "").await;
    let mut outsider = Client::connect(&server, "").await;
    let created = player
        .request("match.create", json!({"game": "pong", "mode": "1v1"}))
        .await;
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let watched = watcher
        .request(
            "match.join",
            json!({"matchId": match_id, "as": "spectator"}),
        )
        .await;
    assert_eq!(watched["type"], "ack");
    let channel = format!("match:{match_id}");

    assert_eq!(chat(&mut player, &channel, "gl hf").await["type"], "ack");
    for client in [&mut player, &mut watcher] {
        let message = client.recv_type("chat.message").await;
        assert_eq!(message["data"]["channel"], channel.as_str());
        assert_eq!(message["data"]["text"], "gl hf");
    }
    let refused = chat(&mut outsider, &channel, "let me talk").await;
    assert_eq!(refused["data"]["code"], "forbidden", "{refused}");
    let seen = settle(&mut player, &mut outsider, "marker").await;
    assert!(
        !seen.iter().any(|m| m["data"]["text"] == "gl hf"),
        "{seen:?}"
    );
    let nowhere = chat(&mut player, "match:m_0000000000000001", "hello?").await;
    assert_eq!(nowhere["data"]["code"], "not_found", "{nowhere}");

    let path = format!("/api/chat/{channel}");
    let page = poll(&server, &path, Some(&watcher.token()), |page| {
        texts(page) == ["gl hf"]
    })
    .await;
    assert_eq!(
        page["messages"][0]["from"]["id"],
        player.player_id().as_str()
    );
    let (status, _) = get(&server, &path, Some(&outsider.token())).await;
    assert_eq!(status, 403);
    let (status, _) = get(&server, &path, None).await;
    assert_eq!(status, 401);
}
