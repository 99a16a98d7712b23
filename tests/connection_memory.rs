//! What an idle WebSocket connection costs the server in memory (issue 17: ≤ 32 KiB in the
//! release build), over real sockets against the real binary (test threads only).

mod common;

use common::{Client, Server};

/// Connections opened before the first reading (the runtime's and the allocator's one-time
/// growth is paid by then), and the connections measured after it.
const WARM_UP: usize = 100;
const MEASURED: usize = 600;

/// What a connection may cost in the test's build (a debug build, with larger futures than the
/// release build's). Measured here at 22 KiB; it was 39.5 KiB while a session held on to hyper's
/// handshake buffer for its whole life (the release build: 17.9 against 33.5 KiB,
/// BENCHMARKS.md "Memory per idle connection (session 8)").
const DEBUG_KIB_PER_CONNECTION: f64 = 30.0;

/// The resident memory of a process, in KiB (`/proc/<pid>/status`, `VmRSS`).
fn resident_kib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server runs");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    line.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in kB")
}

/// Opens `count` guest connections, 50 at a time, each up to its `hello`.
async fn connect_many(server: &Server, count: usize, held: &mut Vec<Client>) {
    let target = held.len() + count;
    while held.len() < target {
        let batch = (0..50.min(target - held.len())).map(|_| Client::connect(server, ""));
        held.extend(futures_util::future::join_all(batch).await);
    }
}

/// Hundreds of idle guests (connected, greeted, silent) each add less than the bound to the
/// server's resident memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_costs_little_memory() {
    let server = Server::start(&["--ws-upgrades", "0", "--ws-per-address", "0"]);
    let mut held = Vec::new();
    connect_many(&server, WARM_UP, &mut held).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = resident_kib(server.pid());
    connect_many(&server, MEASURED, &mut held).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = resident_kib(server.pid());
    let per_connection = (after - before) / MEASURED as f64;
    assert_eq!(held.len(), WARM_UP + MEASURED);
    assert!(
        per_connection < DEBUG_KIB_PER_CONNECTION,
        "an idle connection costs {per_connection:.1} KiB (bound {DEBUG_KIB_PER_CONNECTION})"
    );
}
