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
    answer(response).await
}

/// A response's status and JSON body (`null` when it has none).
async fn answer(response: reqwest::Response) -> (u16, Value) {
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
    answer(response).await
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

// ---- issue 14: sessions, deletion, profile and avatar, two-factor sign-in --------------------

/// A request with a method, a JSON body and a bearer token; answers the status and JSON body.
async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> (u16, Value) {
    let mut request = http()
        .request(method, server.url(path))
        .bearer_auth(token)
        .header("user-agent", "accounts-test/1.0");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    answer(response).await
}

/// Registers `name` and answers `(token, player id)`.
async fn register(server: &Server, name: &str, password: &str) -> (String, String) {
    let response = http()
        .post(server.url("/api/auth/register"))
        .header("user-agent", "accounts-test/1.0")
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    (token, body["player"]["id"].as_str().unwrap().to_owned())
}

async fn login(server: &Server, body: Value) -> (u16, Value) {
    let response = http()
        .post(server.url("/api/auth/login"))
        .header("user-agent", "accounts-test/1.0")
        .json(&body)
        .send()
        .await
        .expect("request");
    answer(response).await
}

async fn token_of(server: &Server, name: &str, password: &str) -> String {
    let (status, body) = login(server, json!({"name": name, "password": password})).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// The session id (`s_…`) of `token` as the sessions list shows it.
async fn current_session(server: &Server, token: &str) -> String {
    let (status, body) = call(
        server,
        reqwest::Method::GET,
        "/api/auth/sessions",
        None,
        token,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let current = body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .expect("the current session is listed");
    current["id"].as_str().unwrap().to_owned()
}

/// Waits for `error` `unauthorized` then the close, 1008.
async fn expect_revoked(socket: &mut Client) {
    let error = socket.recv_type("error").await;
    assert_eq!(error["data"]["code"], "unauthorized", "{error}");
    assert_eq!(socket.expect_close().await, Some(1008));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_ended_one_by_one_or_all_and_their_sockets_closed() {
    use reqwest::Method;
    let server = Server::start(NO_HTTP_LIMITS);
    let (first, _) = register(&server, "sessions_ada", "first password").await;
    let second = token_of(&server, "sessions_ada", "first password").await;
    let third = token_of(&server, "sessions_ada", "first password").await;

    let (status, listed) = call(&server, Method::GET, "/api/auth/sessions", None, &first).await;
    assert_eq!(status, 200, "{listed}");
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3, "{listed}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    for session in sessions {
        assert!(session["id"].as_str().unwrap().starts_with("s_"));
        assert!(session["createdAt"].as_str().unwrap().ends_with('Z'));
        assert_eq!(session["userAgent"], "accounts-test/1.0");
        assert_eq!(session["address"], "127.0.0.1");
    }
    let second_id = current_session(&server, &second).await;
    let third_id = current_session(&server, &third).await;

    // Ending the second session from the first closes the second's live socket at once.
    let mut second_socket = Client::connect(&server, &format!("?token={second}")).await;
    let mut first_socket = Client::connect(&server, &format!("?token={first}")).await;
    let path = format!("/api/auth/sessions/{second_id}");
    let (status, body) = call(&server, Method::DELETE, &path, None, &first).await;
    assert_eq!((status, &body["ended"]), (200, &json!(1)), "{body}");
    expect_revoked(&mut second_socket).await;
    assert_eq!(me(&server, &second).await.0, 401);
    let (status, _) = call(&server, Method::DELETE, &path, None, &first).await;
    assert_eq!(status, 404, "already ended");
    let (status, _) = call(
        &server,
        Method::DELETE,
        "/api/auth/sessions/nope",
        None,
        &first,
    )
    .await;
    assert_eq!(status, 404);

    // Another player cannot end these sessions.
    let (mallory, _) = register(&server, "sessions_mallory", "mallory password").await;
    let path = format!("/api/auth/sessions/{third_id}");
    assert_eq!(
        call(&server, Method::DELETE, &path, None, &mallory).await.0,
        404
    );
    assert_eq!(me(&server, &third).await.0, 200);

    // A password change: the wrong old password is refused; the right one ends every other
    // session (the third, with its socket) and keeps this one.
    let mut third_socket = Client::connect(&server, &format!("?token={third}")).await;
    let wrong = json!({"oldPassword": "not the password", "newPassword": "second password"});
    let (status, body) = call(
        &server,
        Method::POST,
        "/api/auth/password",
        Some(wrong),
        &first,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("forbidden")),
        "{body}"
    );
    let short = json!({"oldPassword": "first password", "newPassword": "short"});
    let (status, _) = call(
        &server,
        Method::POST,
        "/api/auth/password",
        Some(short),
        &first,
    )
    .await;
    assert_eq!(status, 400);
    let change = json!({"oldPassword": "first password", "newPassword": "second password"});
    let (status, body) = call(
        &server,
        Method::POST,
        "/api/auth/password",
        Some(change),
        &first,
    )
    .await;
    assert_eq!((status, &body["ended"]), (200, &json!(1)), "{body}");
    expect_revoked(&mut third_socket).await;
    assert_eq!(me(&server, &third).await.0, 401);
    assert_eq!(me(&server, &first).await.0, 200);
    let pong = first_socket.request("ws.ping", json!({})).await;
    assert_eq!(
        pong["type"], "ws.pong",
        "the session that changed it lives on"
    );
    let (status, _) = login(
        &server,
        json!({"name": "sessions_ada", "password": "first password"}),
    )
    .await;
    assert_eq!(status, 401, "the old password is gone");
    let fourth = token_of(&server, "sessions_ada", "second password").await;

    // Log out everywhere: every session, this one included, and their sockets.
    let (status, body) = call(&server, Method::POST, "/api/auth/logout-all", None, &first).await;
    assert_eq!((status, &body["ended"]), (200, &json!(2)), "{body}");
    expect_revoked(&mut first_socket).await;
    assert_eq!(me(&server, &first).await.0, 401);
    assert_eq!(me(&server, &fourth).await.0, 401);

    // A guest has one session, its token's.
    let (_, guest) = post(&server, "/api/auth/guest", json!({}), None).await;
    let guest = guest["token"].as_str().unwrap();
    let (status, listed) = call(&server, Method::GET, "/api/auth/sessions", None, guest).await;
    assert_eq!(status, 200);
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1, "{listed}");
    let (status, _) = call(&server, Method::POST, "/api/auth/logout-all", None, guest).await;
    assert_eq!(status, 200);
    assert_eq!(me(&server, guest).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renaming_follows_the_rules_of_names() {
    use reqwest::Method;
    let server = Server::start(NO_HTTP_LIMITS);
    let (ada, ada_id) = register(&server, "rename_ada", "ada password").await;
    register(&server, "rename_bob", "bob password").await;
    let rename = |name: &str| Some(json!({"name": name}));
    let (status, body) = call(
        &server,
        Method::PATCH,
        "/api/auth/me",
        rename("Ada_Renamed"),
        &ada,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["player"]["name"], "Ada_Renamed");
    assert_eq!(me(&server, &ada).await.1["player"]["name"], "Ada_Renamed");
    let profile = common::get_json(&server, &format!("/api/players/{ada_id}")).await;
    assert_eq!(profile["name"], "Ada_Renamed");
    let (status, body) = call(
        &server,
        Method::PATCH,
        "/api/auth/me",
        rename("RENAME_BOB"),
        &ada,
    )
    .await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("conflict")));
    let (status, _) = call(
        &server,
        Method::PATCH,
        "/api/auth/me",
        rename("no spaces"),
        &ada,
    )
    .await;
    assert_eq!(status, 400);
    token_of(&server, "ada_renamed", "ada password").await;
    let (status, _) = login(
        &server,
        json!({"name": "rename_ada", "password": "ada password"}),
    )
    .await;
    assert_eq!(status, 401, "the old name is free, not an alias");
    let (_, guest) = post(&server, "/api/auth/guest", json!({}), None).await;
    let guest = guest["token"].as_str().unwrap();
    let (status, _) = call(
        &server,
        Method::PATCH,
        "/api/auth/me",
        rename("guest_name"),
        guest,
    )
    .await;
    assert_eq!(status, 403);
}

fn png_of(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 77])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

fn jpeg_of(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Jpeg)
        .unwrap();
    bytes.into_inner()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Bits written least significant first, as deflate packs them.
#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    used: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        for i in 0..count {
            if self.used.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            *self.bytes.last_mut().unwrap() |= bit << (self.used % 8);
            self.used += 1;
        }
    }

    /// A Huffman code, most significant bit first.
    fn code(&mut self, code: u32, length: u32) {
        let reversed = (0..length).fold(0, |acc, i| acc | (((code >> i) & 1) << (length - 1 - i)));
        self.put(reversed, length);
    }
}

/// A real decompression bomb: a 10,000×10,000 one-bit greyscale PNG of zeros (12.5 MB of
/// pixel rows) deflated to about 80 KB, under the upload limit.
fn png_bomb() -> Vec<u8> {
    let (width, height) = (10_000u32, 10_000u32);
    let raw_len = u64::from(height) * (1 + u64::from(width).div_ceil(8));
    let mut bits = Bits::default();
    bits.put(1, 1); // final block
    bits.put(1, 2); // fixed Huffman codes
    bits.code(0b0011_0000, 8); // literal 0
    let mut left = raw_len - 1;
    while left >= 258 {
        bits.code(0b1100_0101, 8); // length 258 (code 285)
        bits.code(0, 5); // distance 1
        left -= 258;
    }
    for _ in 0..left {
        bits.code(0b0011_0000, 8);
    }
    bits.code(0, 7); // end of block
    let adler = ((raw_len % 65_521) << 16 | 1) as u32;
    let mut zlib = vec![0x78, 0x01];
    zlib.extend(bits.bytes);
    zlib.extend(adler.to_be_bytes());
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend(data);
        out.extend(&body);
        out.extend(crc32(&body).to_be_bytes());
        out
    };
    let mut header = width.to_be_bytes().to_vec();
    header.extend(height.to_be_bytes());
    header.extend([1, 0, 0, 0, 0]); // bit depth 1, greyscale, deflate, filter 0, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &header));
    png.extend(chunk(b"IDAT", &zlib));
    png.extend(chunk(b"IEND", &[]));
    png
}

async fn put_avatar(server: &Server, token: &str, bytes: Vec<u8>, kind: &str) -> (u16, Value) {
    let response = http()
        .put(server.url("/api/auth/me/avatar"))
        .bearer_auth(token)
        .header("content-type", kind)
        .body(bytes)
        .send()
        .await
        .expect("request");
    answer(response).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avatars_are_reencoded_cached_and_bad_uploads_refused() {
    let server = Server::start(NO_HTTP_LIMITS);
    let (token, id) = register(&server, "avatar_ada", "ada password").await;
    let path = format!("/api/players/{id}/avatar");
    let fetch = |etag: Option<String>| {
        let mut request = http().get(server.url(&path));
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        request.send()
    };

    // None stored: a drawn default, 128×128, cacheable.
    let default = fetch(None).await.unwrap();
    assert_eq!(default.status().as_u16(), 200);
    assert_eq!(default.headers()["content-type"], "image/png");
    assert!(
        default.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let default_etag = default.headers()["etag"].to_str().unwrap().to_owned();
    let image = image::load_from_memory(&default.bytes().await.unwrap()).unwrap();
    assert_eq!((image.width(), image.height()), (128, 128));

    // A PNG and a JPEG are stored re-encoded as 128×128 PNGs; no uploaded byte comes back.
    let upload = png_of(300, 200);
    let (status, body) = put_avatar(&server, &token, upload.clone(), "image/png").await;
    assert_eq!(status, 200, "{body}");
    let stored = fetch(None).await.unwrap();
    assert_eq!(stored.status().as_u16(), 200);
    let etag = stored.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(etag, default_etag);
    let bytes = stored.bytes().await.unwrap();
    assert_ne!(bytes.as_ref(), upload.as_slice());
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap();
    assert_eq!((image.width(), image.height()), (128, 128));
    let cached = fetch(Some(etag.clone())).await.unwrap();
    assert_eq!(cached.status().as_u16(), 304);
    assert_eq!(cached.headers()["etag"].to_str().unwrap(), etag);
    let (status, _) = put_avatar(&server, &token, jpeg_of(64, 64), "image/jpeg").await;
    assert_eq!(status, 200);
    let jpeg_etag = fetch(None).await.unwrap().headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(jpeg_etag, etag);

    // Bad uploads: each a clear 4xx, and nothing stored (the JPEG's avatar stays).
    let oversized = vec![0u8; 256 * 1024 + 1];
    let (status, body) = put_avatar(&server, &token, oversized, "image/png").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (413, &json!("too_large")),
        "{body}"
    );
    let text = b"hello, this is not an image".to_vec();
    let (status, body) = put_avatar(&server, &token, text, "image/png").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (415, &json!("unsupported_media_type"))
    );
    let mut zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
    zip.extend(b"avatar.png renamed from a zip archive".repeat(20));
    let (status, _) = put_avatar(&server, &token, zip, "image/png").await;
    assert_eq!(status, 415, "a zip renamed .png");
    let bomb = png_bomb();
    assert!(bomb.len() < 256 * 1024, "{} bytes", bomb.len());
    let started = Instant::now();
    let (status, body) = put_avatar(&server, &token, bomb, "image/png").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("bad_image")),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused before inflating"
    );
    let mut broken = png_of(64, 64);
    broken.truncate(broken.len() / 2);
    let (status, _) = put_avatar(&server, &token, broken, "image/png").await;
    assert_eq!(status, 422, "a truncated PNG");
    let (status, _) = put_avatar(&server, "not-a-token", png_of(8, 8), "image/png").await;
    assert_eq!(status, 401);
    let after = fetch(None).await.unwrap();
    assert_eq!(
        after.headers()["etag"].to_str().unwrap(),
        jpeg_etag,
        "nothing stored"
    );

    // Removed: the default again.
    let (status, _) = call(
        &server,
        reqwest::Method::DELETE,
        "/api/auth/me/avatar",
        None,
        &token,
    )
    .await;
    assert_eq!(status, 200);
    let again = fetch(None).await.unwrap();
    assert_eq!(again.headers()["etag"].to_str().unwrap(), default_etag);
    let missing = http()
        .get(server.url("/api/players/nobody/avatar"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

fn totp_of(secret: &str) -> totp_rs::TOTP {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes, None, "x".into()).unwrap()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_factor_sign_in_asks_for_a_fresh_code_or_a_recovery_code() {
    use reqwest::Method;
    let server = Server::start(NO_HTTP_LIMITS);
    let (token, _) = register(&server, "totp_ada", "ada password").await;
    let (status, body) = call(&server, Method::GET, "/api/auth/2fa", None, &token).await;
    assert_eq!((status, &body["enabled"]), (200, &json!(false)));

    let wrong = Some(json!({"password": "not the password"}));
    let (status, _) = call(&server, Method::POST, "/api/auth/2fa/setup", wrong, &token).await;
    assert_eq!(status, 403, "the password confirms the setup");
    let right = Some(json!({"password": "ada password"}));
    let (status, setup) = call(
        &server,
        Method::POST,
        "/api/auth/2fa/setup",
        right.clone(),
        &token,
    )
    .await;
    assert_eq!(status, 200, "{setup}");
    let uri = setup["uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/arcade:totp_ada?"), "{uri}");
    assert!(uri.contains("issuer=arcade"), "{uri}");
    let totp = totp_of(setup["secret"].as_str().unwrap());
    let (status, body) = call(&server, Method::GET, "/api/auth/2fa", None, &token).await;
    assert_eq!((status, &body["pending"]), (200, &json!(true)));

    let now = unix_now();
    let (status, _) = call(
        &server,
        Method::POST,
        "/api/auth/2fa/enable",
        Some(json!({"code": "000000x"})),
        &token,
    )
    .await;
    assert_eq!(status, 403);
    let code = totp.generate(now);
    let (status, enabled) = call(
        &server,
        Method::POST,
        "/api/auth/2fa/enable",
        Some(json!({"code": code})),
        &token,
    )
    .await;
    assert_eq!(status, 200, "{enabled}");
    let recovery: Vec<String> = enabled["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    let (status, body) = call(&server, Method::GET, "/api/auth/2fa", None, &token).await;
    assert_eq!(
        (status, &body["enabled"], &body["recoveryCodesLeft"]),
        (200, &json!(true), &json!(10))
    );
    let (status, _) = call(
        &server,
        Method::POST,
        "/api/auth/2fa/setup",
        right.clone(),
        &token,
    )
    .await;
    assert_eq!(status, 409, "already on");

    let credentials = |code: Option<&str>| {
        let mut body = json!({"name": "totp_ada", "password": "ada password"});
        if let Some(code) = code {
            body["code"] = code.into();
        }
        body
    };
    let (status, body) = login(&server, credentials(None)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("totp_required")),
        "{body}"
    );
    let expired = totp.generate(now - 120);
    let (status, body) = login(&server, credentials(Some(&expired))).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized")),
        "expired: {body}"
    );
    let (status, _) = login(&server, credentials(Some(&code))).await;
    assert_eq!(status, 401, "the code that enabled it is used up");
    let next = totp.generate(now + 30);
    let (status, body) = login(&server, credentials(Some(&next))).await;
    assert_eq!(status, 200, "a fresh code: {body}");
    let (status, body) = login(&server, credentials(Some(&recovery[0].to_uppercase()))).await;
    assert_eq!(status, 200, "a recovery code: {body}");
    let (status, _) = login(&server, credentials(Some(&recovery[0]))).await;
    assert_eq!(status, 401, "a recovery code works once");
    let (status, body) = call(&server, Method::GET, "/api/auth/2fa", None, &token).await;
    assert_eq!((status, &body["recoveryCodesLeft"]), (200, &json!(9)));

    // Codes count toward the lockout like passwords (one failure since the last success, five
    // are free).
    for wrong in ["999999", "888888", "777777", "not-a-code"] {
        let (status, _) = login(&server, credentials(Some(wrong))).await;
        assert_eq!(status, 401);
    }
    let (status, _) = login(&server, credentials(Some(&totp.generate(unix_now() + 30)))).await;
    assert_eq!(status, 429, "locked, even with a good code");

    // Turned off with the password: the password alone signs in again (after the lock).
    let (status, _) = call(
        &server,
        Method::POST,
        "/api/auth/2fa/disable",
        right,
        &token,
    )
    .await;
    assert_eq!(
        status, 429,
        "the lockout covers the password confirmations too"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let right = Some(json!({"password": "ada password"}));
    let (status, body) = call(
        &server,
        Method::POST,
        "/api/auth/2fa/disable",
        right,
        &token,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = login(&server, credentials(None)).await;
    assert_eq!(status, 200, "{body}");
}

/// Every value of every table of the SQLite file, as text (blobs lossily).
fn every_value(path: &std::path::Path) -> Vec<(String, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut values = Vec::new();
    for table in tables {
        let mut select = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = select.column_count();
        let mut rows = select.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for index in 0..columns {
                use rusqlite::types::ValueRef;
                let text = match row.get_ref(index).unwrap() {
                    ValueRef::Null => continue,
                    ValueRef::Integer(n) => n.to_string(),
                    ValueRef::Real(x) => x.to_string(),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        String::from_utf8_lossy(t).into_owned()
                    }
                };
                values.push((table.clone(), text));
            }
        }
    }
    values
}

/// Every row of every table of a PostgreSQL database, as `pg_dump` prints them (one `INSERT` a
/// row), each with the table it is in.
fn every_row_on_postgres(url: &str) -> Vec<(String, String)> {
    let output = std::process::Command::new("pg_dump")
        .args(["--data-only", "--inserts", url])
        .output()
        .expect("pg_dump runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("INSERT INTO "))
        .map(|row| {
            let table = row.split_whitespace().next().unwrap_or("").to_owned();
            (table, row.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_account_leaves_no_row_that_names_it() {
    let server = Server::start(NO_HTTP_LIMITS);
    let path = server.dir.path().join("arcade.db");
    delete_and_search_every_row(&server, || every_value(&path)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_account_leaves_no_row_that_names_it_on_postgres() {
    let Ok(url) = std::env::var("ARCADE_TEST_POSTGRES_URL") else {
        eprintln!(
            "ARCADE_TEST_POSTGRES_URL is not set: skipped (scripts/test.sh starts a PostgreSQL)"
        );
        return;
    };
    let database = arcade_data::pg::create_fresh_database(&url, "arcade_e2e").unwrap();
    let mut args = NO_HTTP_LIMITS.to_vec();
    args.extend(["--database-url", database.as_str()]);
    let server = Server::start(&args);
    delete_and_search_every_row(&server, || every_row_on_postgres(&database)).await;
}

/// Plays, chats, befriends and uploads as a player, deletes the account, and checks what the
/// REST API and every row (`rows`: each value or row with its table) still show of it.
async fn delete_and_search_every_row(server: &Server, rows: impl Fn() -> Vec<(String, String)>) {
    use reqwest::Method;
    let (ada_token, ada_id) = register(server, "Zelda_Gone", "zelda password").await;
    let (bob_token, bob_id) = register(server, "bob_stays", "bob password").await;
    let mut ada = Client::connect(server, &format!("?token={ada_token}")).await;
    let mut bob = Client::connect(server, &format!("?token={bob_token}")).await;

    // A finished match, friends, a DM both ways, a global line, an avatar, 2FA.
    let match_id = common::start_pong(&mut ada, &mut bob, 1).await;
    let ada_plays = tokio::spawn(common::dodge_and_record(ada, match_id.clone(), "left"));
    let (end, _) = common::dodge_until_end(bob, match_id.clone(), "right").await;
    let (_, _, ada_back) = ada_plays.await.unwrap();
    let mut ada = ada_back;
    assert_eq!(end["type"], "match.end");
    let record = common::fetch_record(server, &match_id).await;
    let bob_result = record["players"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == bob_id.as_str())
        .unwrap()["result"]
        .clone();
    let bob_before = common::get_json(server, &format!("/api/players/{bob_id}")).await;
    let mut bob = Client::connect(server, &format!("?token={bob_token}")).await;
    for (from, to) in [(&ada_token, &bob_id), (&bob_token, &ada_id)] {
        let path = format!("/api/players/{to}/friend");
        assert_eq!(call(server, Method::POST, &path, None, from).await.0, 200);
    }
    let dm = ada
        .request(
            "chat.message",
            json!({"channel": format!("dm:{bob_id}"), "text": "psst Zelda_Gone here"}),
        )
        .await;
    assert_eq!(dm["type"], "ack", "{dm}");
    let reply = bob
        .request(
            "chat.message",
            json!({"channel": format!("dm:{ada_id}"), "text": "hi there"}),
        )
        .await;
    assert_eq!(reply["type"], "ack", "{reply}");
    let global = ada
        .request("chat.message", json!({"text": "bye all"}))
        .await;
    assert_eq!(global["type"], "ack", "{global}");
    let kept = bob
        .request("chat.message", json!({"text": "bob's own line"}))
        .await;
    assert_eq!(kept["type"], "ack");
    assert_eq!(
        put_avatar(server, &ada_token, png_of(32, 32), "image/png")
            .await
            .0,
        200
    );
    let password = Some(json!({"password": "zelda password"}));
    assert_eq!(
        call(
            server,
            Method::POST,
            "/api/auth/2fa/setup",
            password,
            &ada_token
        )
        .await
        .0,
        200
    );

    // Not while seated in a live match (its record, written when it ends, would name her).
    let created = ada
        .request(
            "match.create",
            json!({"game": "pong", "mode": "1v1", "options": {}}),
        )
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let right = Some(json!({"password": "zelda password"}));
    let (status, body) = call(
        server,
        Method::DELETE,
        "/api/auth/me",
        right.clone(),
        &ada_token,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("conflict")),
        "{body}"
    );
    let left = ada
        .request(
            "match.leave",
            json!({"matchId": created["data"]["matchId"]}),
        )
        .await;
    assert_eq!(left["type"], "ack", "{left}");

    // The password is required and checked.
    let (status, _) = call(server, Method::DELETE, "/api/auth/me", None, &ada_token).await;
    assert_eq!(status, 400);
    let wrong = Some(json!({"password": "not the password"}));
    let (status, _) = call(server, Method::DELETE, "/api/auth/me", wrong, &ada_token).await;
    assert_eq!(status, 403);
    let (status, body) = call(server, Method::DELETE, "/api/auth/me", right, &ada_token).await;
    assert_eq!(status, 200, "{body}");
    expect_revoked(&mut ada).await;
    assert_eq!(me(server, &ada_token).await.0, 401);
    let (status, _) = login(
        server,
        json!({"name": "zelda_gone", "password": "zelda password"}),
    )
    .await;
    assert_eq!(status, 401);

    // History keeps the match with a deleted player; bob keeps his result and rating.
    let record = common::fetch_record(server, &match_id).await;
    let text = record.to_string();
    assert!(
        !text.contains(&ada_id) && !text.contains("Zelda_Gone"),
        "{text}"
    );
    assert!(text.contains("deleted player"), "{text}");
    let bob_seat = record["players"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == bob_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(bob_seat["result"], bob_result);
    let bob_after = common::get_json(server, &format!("/api/players/{bob_id}")).await;
    assert_eq!(bob_after["stats"], bob_before["stats"]);
    let missing = http()
        .get(server.url(&format!("/api/players/{ada_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let (_, friends) = call(server, Method::GET, "/api/friends", None, &bob_token).await;
    assert!(!friends.to_string().contains(&ada_id), "{friends}");
    let (_, history) = call(server, Method::GET, "/api/chat/global", None, &bob_token).await;
    assert!(!history.to_string().contains("bye all"), "{history}");
    assert!(history.to_string().contains("bob's own line"), "{history}");

    // No row of any table names the account: not its name, its id, or its number.
    let number = u64::from_str_radix(ada_id.trim_start_matches("p_"), 16).unwrap() as i64;
    let values = rows();
    assert!(
        values.iter().any(|(_, v)| v.contains("bob_stays")),
        "the scan reads rows"
    );
    for (table, value) in &values {
        assert!(
            !value.to_lowercase().contains("zelda_gone"),
            "{table} names the deleted player: {value}"
        );
        assert!(
            !value.contains(&ada_id),
            "{table} holds the deleted id: {value}"
        );
        assert!(
            !value.contains(&number.to_string()),
            "{table} holds the deleted id as a number: {value}"
        );
    }

    // The name is free again.
    register(server, "zelda_gone", "a new zelda").await;

    // A guest deletes itself with its token alone.
    let (_, guest) = post(server, "/api/auth/guest", json!({"name": "passing"}), None).await;
    let guest = guest["token"].as_str().unwrap();
    let (status, _) = call(server, Method::DELETE, "/api/auth/me", None, guest).await;
    assert_eq!(status, 200);
    assert_eq!(
        me(server, guest).await.0,
        401,
        "the guest's token is refused from now on"
    );
}
