//! proxy/nginx.conf in front of the real server: nginx from Debian's package runs on loopback
//! with this very file (only the upstream address and the listen port rewritten, into a
//! temporary copy), and the ◆ contracts and a whole match go through it.
//!
//! nginx must be installed (scripts/test.sh installs it). Without it the test is skipped with a
//! message, except under CI (`CI` set), where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, Server, http};
use serde_json::{Value, json};

/// How long nginx gets to start listening, and to stop.
const NGINX_START: Duration = Duration::from_secs(10);
const NGINX_STOP: Duration = Duration::from_secs(5);

/// A running nginx with a temporary prefix; stopped by its master's pid on drop.
struct Nginx {
    child: Child,
    addr: String,
    prefix: tempfile::TempDir,
}

impl Nginx {
    /// nginx's own log (its stderr), for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.prefix.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers too (SIGKILL would leave them running).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + NGINX_STOP;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> Option<PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is not installed: scripts/test.sh installs it (apt-get install nginx)"
        );
        eprintln!("SKIPPED: nginx is not installed (scripts/test.sh installs it)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// proxy/nginx.conf with the upstream pointed at `upstream` and the listener on `port`.
fn rewritten_config(upstream: &str, port: u16) -> String {
    let original =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("proxy/nginx.conf"))
            .unwrap();
    assert_eq!(original.matches("server 127.0.0.1:8080;").count(), 1);
    assert_eq!(original.matches("listen 8081;").count(), 1);
    original
        .replace("server 127.0.0.1:8080;", &format!("server {upstream};"))
        .replace("listen 8081;", &format!("listen 127.0.0.1:{port};"))
}

fn start_nginx(binary: &Path, upstream: &str) -> Nginx {
    let prefix = tempfile::tempdir().unwrap();
    // nginx's workers (a less privileged user when the test runs as root) use tmp/.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(prefix.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::create_dir(prefix.path().join("tmp")).unwrap();
    let port = free_port();
    let config = prefix.path().join("nginx.conf");
    std::fs::write(&config, rewritten_config(upstream, port)).unwrap();
    let stderr = std::fs::File::create(prefix.path().join("stderr.log")).unwrap();
    let mut child = Command::new(binary)
        .arg("-p")
        .arg(prefix.path())
        .arg("-c")
        .arg(&config)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("nginx starts");
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + NGINX_START;
    while std::net::TcpStream::connect(&addr).is_err() {
        if Instant::now() > deadline || child.try_wait().is_ok_and(|status| status.is_some()) {
            let log = std::fs::read_to_string(prefix.path().join("stderr.log"));
            let _ = child.kill();
            let _ = child.wait();
            panic!("nginx did not listen on {addr}: {log:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx {
        child,
        addr,
        prefix,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contracts_and_a_match_go_through_nginx() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let server = Server::start(&["--trust-forwarded-for"]);
    let nginx = start_nginx(&binary, &server.addr);
    let url = |path: &str| format!("http://{}{path}", nginx.addr);
    let client = http();

    // ◆ HTTP contracts.
    let visits: Value = client
        .get(url("/api/visits"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(visits, json!({"total": 0}));
    let visit: Value = client
        .post(url("/api/visit"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(visit, json!({"ok": true, "total": 1}));
    for route in [
        "/api/users/ping",
        "/api/games/ping",
        "/api/chat/ping",
        "/api/tournaments/ping",
    ] {
        let response = client.get(url(route)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{route}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"ok": true}), "{route}");
    }

    // Request ids pass through both ways; health, metrics and the static client are reachable.
    let response = client
        .get(url("/health"))
        .header("X-Request-Id", "through-the-proxy-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "through-the-proxy-1");
    let made = client.get(url("/api/visits")).send().await.unwrap();
    assert!(made.headers().contains_key("x-request-id"));
    assert!(made.headers().contains_key("content-security-policy"));
    let metrics = client.get(url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let page = client.get(url("/ws-test.html")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let too_large = client
        .post(url("/api/visit"))
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    let body: Value = too_large.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_large");

    // ◆ WebSocket contracts: ws.ping and a chat message with its ack.
    let ws = |query: &str| format!("ws://{}/ws{query}", nginx.addr);
    let mut alice = Client::connect_url(&ws("")).await;
    let pong = alice.request("ws.ping", Value::Null).await;
    assert_eq!(pong["type"], "ws.pong");
    assert!(pong["data"]["serverTime"].is_i64());
    alice
        .send(json!({"type": "chat.message", "data": {"text": "via nginx"}, "requestId": "c1"}))
        .await;
    let ack = alice.recv_where(|m| m["requestId"] == "c1").await;
    assert_eq!(ack, json!({"type": "ack", "requestId": "c1"}));
    let chat = alice.recv_type("chat.message").await;
    assert_eq!(chat["data"]["text"], "via nginx");

    // A whole match through the proxy, one side in MessagePack.
    let mut left = Client::connect_url(&ws("?codec=msgpack")).await;
    let mut right = Client::connect_url(&ws("")).await;
    let created = left
        .request(
            "match.create",
            json!({"game": "pong", "mode": "1v1", "options": {"scoreLimit": 1}}),
        )
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let joined = right
        .request("match.join", json!({"matchId": match_id}))
        .await;
    assert_eq!(joined["type"], "ack", "{joined}");
    let left_play = tokio::spawn(common::dodge_until_end(left, match_id.clone(), "left"));
    let right_play = tokio::spawn(common::dodge_until_end(right, match_id.clone(), "right"));
    let (end, states) = left_play.await.unwrap();
    right_play.await.unwrap();
    assert_eq!(end["data"]["reason"], "score_limit");
    assert!(states > 60, "states flowed through the proxy: {states}");
    let deadline = Instant::now() + common::WAIT;
    let record: Value = loop {
        let response = client
            .get(url(&format!("/api/matches/{match_id}")))
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            break response.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "no record of {match_id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(record["reason"], "score_limit");

    // With the server gone, nginx answers in the JSON error shape.
    drop(server);
    let down = client.get(url("/api/visits")).send().await.unwrap();
    assert_eq!(down.status(), 503, "{}", nginx.log());
    let body: Value = down.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
}
