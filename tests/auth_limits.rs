//! End-to-end tests of issue 15 items 3-5 over real sockets (test threads): attempts counted
//! before hashing, the lockout per (name, address), hashing on a bounded pool, the name checked
//! before hashing on register, failed registrations limited per address.

mod common;

use std::net::IpAddr;

use common::{NO_HTTP_LIMITS, Server, WAIT, metric};
use serde_json::json;

/// A client whose requests come from `from` (any 127.0.0.x is this machine's loopback).
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(WAIT)
        .local_address(IpAddr::from(from))
        .build()
        .unwrap()
}

async fn post(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    body: serde_json::Value,
) -> u16 {
    client
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn hashes(server: &Server) -> f64 {
    metric(server, "arcade_password_hashes_total").await
}

async fn register(server: &Server, name: &str, password: &str) {
    let client = client_from([127, 0, 0, 1]);
    let body = json!({"name": name, "password": password});
    assert_eq!(post(&client, server, "/api/auth/register", body).await, 201);
}

/// Fails before the fix: all 20 attempts passed the check before any failure was counted, so
/// 20 passwords were hashed and the right one got in.
#[tokio::test]
async fn concurrent_logins_are_counted_before_they_are_hashed() {
    let server = Server::start(NO_HTTP_LIMITS);
    register(&server, "racer", "the right password").await;
    let before = hashes(&server).await;
    let client = client_from([127, 0, 0, 1]);
    let attempts = (0..20).map(|i| {
        let client = client.clone();
        let url = server.url("/api/auth/login");
        let password = if i == 13 {
            "the right password"
        } else {
            "a wrong password"
        };
        tokio::spawn(async move {
            let body = json!({"name": "racer", "password": password});
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        statuses.push(attempt.await.unwrap());
    }
    let checked = statuses.iter().filter(|&&s| s == 401 || s == 200).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(checked + refused, 20, "{statuses:?}");
    assert!(
        checked <= 5,
        "at most the free failures are checked: {statuses:?}"
    );
    let hashed = hashes(&server).await - before;
    assert!(hashed <= 5.0, "{hashed} passwords hashed: {statuses:?}");
}

/// Fails before the fix: five wrong logins from another address locked the name everywhere.
#[tokio::test]
async fn another_address_cannot_lock_the_owner_out() {
    let server = Server::start(NO_HTTP_LIMITS);
    register(&server, "owner", "the owner's password").await;
    let attacker = client_from([127, 0, 0, 2]);
    let wrong = json!({"name": "owner", "password": "guessing wrong"});
    for _ in 0..5 {
        assert_eq!(
            post(&attacker, &server, "/api/auth/login", wrong.clone()).await,
            401
        );
    }
    assert_eq!(
        post(&attacker, &server, "/api/auth/login", wrong.clone()).await,
        429,
        "the attacker's address is locked for this name"
    );
    let owner = client_from([127, 0, 0, 3]);
    let right = json!({"name": "owner", "password": "the owner's password"});
    assert_eq!(post(&owner, &server, "/api/auth/login", right).await, 200);
}

/// Fails before the fix: register hashed before it looked the name up, and a taken name could
/// be tried without limit.
#[tokio::test]
async fn register_checks_the_name_first_and_limits_failures_per_address() {
    let server = Server::start(NO_HTTP_LIMITS);
    register(&server, "taken", "some password").await;
    let before = hashes(&server).await;
    let client = client_from([127, 0, 0, 4]);
    let body = json!({"name": "TAKEN", "password": "another password"});
    for _ in 0..10 {
        assert_eq!(
            post(&client, &server, "/api/auth/register", body.clone()).await,
            409
        );
    }
    assert_eq!(hashes(&server).await, before, "a taken name costs no hash");
    let fresh = json!({"name": "fresh", "password": "another password"});
    assert_eq!(
        post(&client, &server, "/api/auth/register", fresh.clone()).await,
        429,
        "ten failed registrations lock the address"
    );
    let other = client_from([127, 0, 0, 5]);
    assert_eq!(
        post(&other, &server, "/api/auth/register", fresh).await,
        201
    );
}

/// The memory of hashing stays bounded: 200 logins, 20 at a time from 10 addresses, keep the
/// server's peak resident memory under 150 MB (before the fix, each blocking thread that
/// hashed kept its own ~19 MiB).
#[tokio::test]
async fn a_burst_of_logins_keeps_memory_bounded() {
    let server = Server::start(NO_HTTP_LIMITS);
    register(&server, "busy", "the busy password").await;
    let jobs = (0..20u8).map(|worker| {
        let client = client_from([127, 0, 0, 10 + worker % 10]);
        let url = server.url("/api/auth/login");
        tokio::spawn(async move {
            for _ in 0..10 {
                let body = json!({"name": "busy", "password": "the busy password"});
                let status = client.post(&url).json(&body).send().await.unwrap().status();
                assert!(status == 200 || status == 503, "{status}");
            }
        })
    });
    for job in jobs.collect::<Vec<_>>() {
        job.await.unwrap();
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(peak_kb < 150 * 1024, "peak RSS {peak_kb} kB");
}
