//! The running server against its own OpenAPI document: every `/api` route is described, and
//! schemathesis (from PyPI; `scripts/test.sh` installs it) fuzzes every operation and checks
//! that no answer is a 5xx and that every answer has a documented status, content type,
//! headers and body schema. The run is bounded (`SCHEMATHESIS_MAX_TIME`).

mod common;

use std::process::Command;

use common::{NO_HTTP_LIMITS, Server, http};
use serde_json::Value;

/// Bound of the fuzzing run, in seconds.
const SCHEMATHESIS_MAX_TIME: &str = "60";
/// Examples per operation and phase.
const SCHEMATHESIS_MAX_EXAMPLES: &str = "10";
/// The checks run. `negative_data_rejection` is left out on purpose: the server is lenient
/// where the contract says so (an empty `game=` means every game, an empty guest body is `{}`).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,positive_data_acceptance,\
use_after_free,ensure_resource_availability";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_api_route() {
    let server = Server::start(NO_HTTP_LIMITS);
    let response = http()
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/visits",
        "/api/visit",
        "/api/users/ping",
        "/api/games/ping",
        "/api/chat/ping",
        "/api/tournaments/ping",
        "/api/openapi.json",
        "/api/auth/guest",
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/me",
        "/api/auth/logout",
        "/api/matches",
        "/api/matches/live",
        "/api/matches/{id}",
        "/api/players/{id}",
        "/api/leaderboard",
        "/api/auth/sessions",
        "/api/auth/sessions/{id}",
        "/api/auth/logout-all",
        "/api/auth/password",
        "/api/auth/me/avatar",
        "/api/players/{id}/avatar",
        "/api/auth/2fa",
        "/api/auth/2fa/setup",
        "/api/auth/2fa/enable",
        "/api/auth/2fa/disable",
        "/api/tournaments",
        "/api/tournaments/{id}",
        "/api/tournaments/{id}/register",
        "/api/tournaments/{id}/unregister",
        "/api/tournaments/{id}/checkin",
        "/api/tournaments/{id}/start",
        "/api/tournaments/{id}/cancel",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|status| status.starts_with('2')),
                "{method} {path} documents its success"
            );
        }
    }
}

fn schemathesis() -> Option<&'static str> {
    ["st", "schemathesis"].into_iter().find(|program| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_undocumented_answer() {
    let Some(program) = schemathesis() else {
        let required = std::env::var("ARCADE_REQUIRE_SCHEMATHESIS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "schemathesis is not installed (scripts/test.sh installs it)"
        );
        eprintln!("skipped: schemathesis is not installed (pip install schemathesis)");
        return;
    };
    let server = Server::start(NO_HTTP_LIMITS);
    // A guest's token, so that `me` and `logout` are reached too.
    let guest: Value = http()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = guest["token"].as_str().unwrap().to_owned();
    let url = server.url("/api/openapi.json");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args(["run", &url, "--checks", CHECKS])
            .args(["--max-examples", SCHEMATHESIS_MAX_EXAMPLES])
            .args(["--max-time", SCHEMATHESIS_MAX_TIME])
            .args(["--phases", "examples,coverage,fuzzing"])
            // One worker: under CPython 3.11 two threads that parse source at once (hypothesis
            // does, to describe a filter) share the `ast` module's recursion counter and fail
            // with "AST constructor recursion depth mismatch", an error of the tool's own.
            .args(["--workers", "1", "--no-color", "--seed", "1"])
            .arg("--header")
            .arg(format!("Authorization: Bearer {token}"))
            .current_dir(std::env::temp_dir())
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis failed:\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("Server error"), "{stdout}");
    // The server is still healthy afterwards.
    let health = http().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}
