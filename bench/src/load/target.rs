//! The server under load: the release binary started on loopback with a temporary database, or
//! a loopback `--url`; stopped by its pid. Used from the main thread.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arcade_bench::listen_addr;

use super::args::LoadArgs;
use super::decode::Codec;

/// How long the server may take to say where it listens.
const SERVER_START_WAIT: Duration = Duration::from_secs(30);
/// How long the server gets to stop after SIGTERM before SIGKILL.
const SERVER_STOP_WAIT: Duration = Duration::from_secs(10);
/// How often a stopping server is checked for exit.
const STOP_POLL: Duration = Duration::from_millis(50);
/// The server's warn and error lines shown on stderr (all are counted).
const SHOWN_WARNINGS: u64 = 5;

/// The server under load.
pub(super) struct Target {
    /// Where it listens (loopback).
    pub(super) addr: SocketAddr,
    /// The WebSocket path (`/ws`).
    path: String,
    /// Its pid, for /proc readings (none for a `--url` without `--pid`).
    pub(super) pid: Option<u32>,
    /// The process this run started, stopped at the end.
    child: Option<Child>,
    /// Lines the server logged at warn or error.
    pub(super) warnings: Arc<AtomicU64>,
    /// The temporary folder of its database, removed when the target is dropped.
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    pub(super) fn remote(url: &str, pid: Option<u32>) -> Result<Target, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or("--url must start with ws://")?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].to_owned()),
            None => (rest, "/ws".to_owned()),
        };
        let addr = authority
            .to_socket_addrs()
            .map_err(|e| format!("resolving {authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("{authority} resolves to nothing"))?;
        if !is_loopback(addr.ip()) {
            return Err(format!(
                "{addr} is not a loopback address: this generator stays on loopback"
            ));
        }
        Ok(Target {
            addr,
            path,
            pid,
            child: None,
            warnings: Arc::new(AtomicU64::new(0)),
            _dir: None,
        })
    }

    pub(super) fn start(args: &LoadArgs) -> Result<Target, String> {
        let binary = match &args.server {
            Some(path) => path.clone(),
            None => std::env::current_exe()
                .map_err(|e| e.to_string())?
                .with_file_name("arcade"),
        };
        if !binary.exists() {
            return Err(format!(
                "no server binary at {} (build it: cargo build --release -p arcade, or give --server)",
                binary.display()
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let mut child = std::process::Command::new(&binary)
            .args(["--listen", "127.0.0.1:0", "--log", "warn,arcade=info"])
            // Every load client comes from 127.0.0.1: lift the per-address WebSocket limits.
            .args(["--ws-upgrades", "0", "--ws-per-address", "0"])
            .arg("--db")
            .arg(dir.path().join("arcade.db"))
            .args(&args.server_arg)
            .env_remove("ARCADE_LISTEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let (found, listening) = std::sync::mpsc::channel();
        let warnings = Arc::new(AtomicU64::new(0));
        {
            let warnings = warnings.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(addr) = listen_addr(&line) {
                        let _ = found.send(addr);
                    } else if (line.contains("WARN") || line.contains("ERROR"))
                        // Every one is counted; the first few are shown.
                        && warnings.fetch_add(1, Ordering::Relaxed) < SHOWN_WARNINGS
                    {
                        eprintln!("server: {line}");
                    }
                }
            });
        }
        let pid = child.id();
        let addr = match listening.recv_timeout(SERVER_START_WAIT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the server did not say where it listens".into());
            }
        };
        let addr = addr
            .parse()
            .map_err(|e| format!("server address {addr:?}: {e}"))?;
        Ok(Target {
            addr,
            path: "/ws".into(),
            pid: Some(pid),
            child: Some(child),
            warnings,
            _dir: Some(dir),
        })
    }

    pub(super) fn ws_url(&self, codec: Codec) -> String {
        format!("ws://{}{}?codec={}", self.addr, self.path, codec.as_str())
    }

    /// Stops the server this run started: SIGTERM, then SIGKILL after a wait.
    pub(super) fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: signals our own child by its pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + SERVER_STOP_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(STOP_POLL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

pub(super) fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}
