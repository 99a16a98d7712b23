//! `arcade-bench auth` (a tokio runtime on the main thread): the memory of password hashing
//! under a burst (issue 15 item 3). It starts the server beside this binary on a temporary
//! database with its default limits, registers one player per client address (127.0.0.10 to
//! 127.0.0.19, distinct addresses on the loopback), then for `--seconds` sends `--rate` auth
//! requests a second, all at once each second, spread over the addresses (logins right and
//! wrong, registrations of taken names), sampling the server's resident memory every 50 ms.
//! It prints the peak RSS and the answers by status.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Arguments of `arcade-bench auth`.
#[derive(clap::Args)]
pub struct AuthArgs {
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Requests started each second (all at once).
    #[arg(long, default_value_t = 20)]
    pub rate: usize,
    /// Distinct client addresses (127.0.0.10 upwards).
    #[arg(long, default_value_t = 10)]
    pub addresses: u8,
    /// The server binary (default: `arcade` beside this one).
    #[arg(long)]
    pub server: Option<PathBuf>,
}

/// One HTTP/1.1 POST from `from`; answers the status (0 when the request failed).
async fn post(server: SocketAddr, from: IpAddr, path: &str, body: &str) -> u16 {
    let attempt = async {
        let socket = tokio::net::TcpSocket::new_v4().ok()?;
        socket.bind(SocketAddr::new(from, 0)).ok()?;
        let mut stream = socket.connect(server).await.ok()?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        let text = String::from_utf8_lossy(&answer);
        text.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(30), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub fn run(args: &AuthArgs) -> Result<(), String> {
    let binary = match &args.server {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("arcade"),
    };
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let server: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = std::process::Command::new(&binary)
        .args(["--listen", &server.to_string(), "--log", "warn"])
        .arg("--db")
        .arg(dir.path().join("arcade.db"))
        .env_remove("ARCADE_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let pid = child.id();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = runtime.block_on(drive(args, server, pid));
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn drive(args: &AuthArgs, server: SocketAddr, pid: u32) -> Result<(), String> {
    let ready = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(server).await.is_err() {
        if Instant::now() > ready {
            return Err("the server did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let addresses: Vec<IpAddr> = (0..args.addresses.max(1))
        .map(|n| IpAddr::from([127, 0, 0, 10 + n]))
        .collect();
    for (n, &from) in addresses.iter().enumerate() {
        let body = format!(r#"{{"name":"bench{n}","password":"bench password {n}"}}"#);
        post(server, from, "/api/auth/register", &body).await;
    }
    let idle_kb = rss_kb(pid).unwrap_or(0);
    let sampled = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(idle_kb));
    let sampler = tokio::spawn({
        let sampled = sampled.clone();
        async move {
            while let Some(kb) = rss_kb(pid) {
                sampled.fetch_max(kb, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut peak_kb = idle_kb;
    let started = Instant::now();
    let mut requests = Vec::new();
    for second in 0..args.seconds {
        for i in 0..args.rate {
            let index = (second as usize * args.rate + i) % addresses.len();
            let from = addresses[index];
            let (path, body) = match i % 4 {
                0 | 1 => (
                    "/api/auth/login",
                    format!(r#"{{"name":"bench{index}","password":"bench password {index}"}}"#),
                ),
                2 => (
                    "/api/auth/login",
                    format!(r#"{{"name":"bench{index}","password":"a wrong password"}}"#),
                ),
                _ => (
                    "/api/auth/register",
                    format!(r#"{{"name":"bench{index}","password":"taken password"}}"#),
                ),
            };
            requests.push(tokio::spawn(async move {
                post(server, from, path, &body).await
            }));
        }
        peak_kb = peak_kb.max(rss_kb(pid).unwrap_or(0));
        let next = started + Duration::from_secs(second + 1);
        tokio::time::sleep_until(next.into()).await;
    }
    for request in requests {
        let status = request.await.unwrap_or(0);
        *statuses.entry(status).or_default() += 1;
    }
    peak_kb = peak_kb.max(rss_kb(pid).unwrap_or(0));
    sampler.abort();
    peak_kb = peak_kb.max(sampled.load(std::sync::atomic::Ordering::Relaxed));
    let end_kb = rss_kb(pid).unwrap_or(0);
    println!(
        "auth burst: {} s × {} requests/s from {} addresses; RSS idle {:.1} MB, peak {:.1} MB, \
         end {:.1} MB; answers {:?}",
        args.seconds,
        args.rate,
        addresses.len(),
        idle_kb as f64 / 1024.0,
        peak_kb as f64 / 1024.0,
        end_kb as f64 / 1024.0,
        statuses
    );
    Ok(())
}
