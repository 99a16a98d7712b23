//! nginx from Debian's package in front of real servers: proxy/nginx.conf itself, with only its
//! upstream servers and its listen port rewritten into a temporary copy (tests/proxy.rs for one
//! instance, tests/cluster.rs for a cluster).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long nginx gets to start listening, and to stop.
const NGINX_START: Duration = Duration::from_secs(10);
const NGINX_STOP: Duration = Duration::from_secs(5);

/// A running nginx with a temporary prefix; stopped by its master's pid on drop.
pub struct Nginx {
    child: Child,
    pub addr: String,
    prefix: tempfile::TempDir,
}

impl Nginx {
    /// nginx's own log (its stderr), for failure messages.
    pub fn log(&self) -> String {
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

pub fn nginx_binary() -> Option<PathBuf> {
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

/// proxy/nginx.conf with the upstream's one server replaced by `upstreams` and the listener
/// on `port`.
fn rewritten_config(upstreams: &[&str], port: u16) -> String {
    let original =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("proxy/nginx.conf"))
            .unwrap();
    assert_eq!(original.matches("server 127.0.0.1:8080;").count(), 1);
    assert_eq!(original.matches("listen 8081;").count(), 1);
    original
        .replace(
            "server 127.0.0.1:8080;",
            &upstreams
                .iter()
                .map(|upstream| format!("server {upstream};"))
                .collect::<Vec<_>>()
                .join(" "),
        )
        .replace("listen 8081;", &format!("listen 127.0.0.1:{port};"))
}

/// nginx with proxy/nginx.conf in front of `upstreams` (one server, or the instances of a
/// cluster), on a free loopback port.
pub fn start_nginx(binary: &Path, upstreams: &[&str]) -> Nginx {
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
    std::fs::write(&config, rewritten_config(upstreams, port)).unwrap();
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
