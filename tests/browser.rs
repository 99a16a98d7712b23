//! The browser client (`assets/`) end to end: the real server on a temporary database, and
//! `e2e/run.mjs` driving Debian's headless Chromium through playwright-core against it (two
//! pages queue for Pong 1v1 and play until one wins, a third watches, the history pages list
//! the match, `/ws-test.html` shows the pong and the ack; screenshots in `e2e/screenshots/`).
//! Also runs the MessagePack and QR modules' unit tests (`node --test`), and `e2e/accounts.mjs`
//! (the profile and settings pages: an avatar, a rename, two-factor enrolment from the QR code
//! drawn in the page, a login with a code, deletion; `e2e/screenshots/accounts-*.png`).
//!
//! Needs node, `/usr/bin/chromium` (or `$CHROMIUM`) and `e2e/node_modules` (scripts/test.sh
//! installs them). Without them the tests say so and pass, except under CI (or with
//! `ARCADE_REQUIRE_BROWSER` set), where they fail.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;

/// The whole browser run's limit (the script has its own, shorter, deadline).
const E2E_LIMIT: Duration = Duration::from_secs(300);
/// The MessagePack unit tests' limit.
const UNIT_LIMIT: Duration = Duration::from_secs(60);

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e")
}

fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("ARCADE_REQUIRE_BROWSER").is_some()
}

/// Whether everything the browser tests need is here; when not, fails under CI and skips
/// (saying why) otherwise.
fn tools_present(need_browser: bool) -> bool {
    let mut missing = Vec::new();
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        missing.push("node".to_owned());
    }
    if need_browser {
        let chromium = chromium();
        if !Path::new(&chromium).exists() {
            missing.push(chromium);
        }
        if !e2e_dir().join("node_modules/playwright-core").exists() {
            missing.push("e2e/node_modules/playwright-core (npm ci in e2e/)".to_owned());
        }
    }
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "missing {}: run ./scripts/test.sh, which installs them",
        missing.join(", ")
    );
    assert!(!required(), "{message}");
    eprintln!("skipping the browser tests: {message}");
    false
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// Runs a command in its own process group, bounded by `limit` (the whole group is killed
/// past it); returns whether it succeeded and everything it printed.
fn run_bounded(command: &mut Command, limit: Duration) -> (bool, String) {
    use std::os::unix::process::CommandExt;
    let mut child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the command") {
            break Some(status);
        }
        if Instant::now() > deadline {
            // The group: node and the browser it started.
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(format!("-{}", child.id()))
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    match status {
        Some(status) => (status.success(), text),
        None => (false, format!("{text}\nkilled after {limit:?}")),
    }
}

#[test]
fn the_msgpack_module_passes_its_unit_tests() {
    if !tools_present(false) {
        return;
    }
    let (ok, output) = run_bounded(
        Command::new("node")
            .args(["--test", "msgpack.test.mjs", "qr.test.mjs"])
            .current_dir(e2e_dir()),
        UNIT_LIMIT,
    );
    println!("{output}");
    assert!(ok, "node --test failed:\n{output}");
}

#[test]
fn two_browsers_play_pong_a_third_watches_and_the_history_lists_it() {
    if !tools_present(true) {
        return;
    }
    run_e2e_script("run.mjs");
}

/// Issue 13: two pages sign up on the tournament page, play their match through the bracket,
/// and the bracket page shows the result (`e2e/tournament.mjs`; screenshots
/// `tournament-*.png`).
#[test]
fn two_browsers_play_a_tournament_through_the_bracket_page() {
    if !tools_present(true) {
        return;
    }
    run_e2e_script("tournament.mjs");
}

/// Runs one `e2e/` script against a fresh server; fails with its output and the server's log.
fn run_e2e_script(script: &str) {
    // `e2e_boss` is an admin (the moderation step, issue 14).
    let server = Server::start(&["--admin-name", "e2e_boss"]);
    let (ok, output) = run_bounded(
        Command::new("node")
            .arg(script)
            .arg(server.url(""))
            .env("CHROMIUM", chromium())
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .current_dir(e2e_dir()),
        E2E_LIMIT,
    );
    println!("{output}");
    assert!(
        ok,
        "the browser tests ({script}) failed:\n{output}\n--- server log ---\n{}",
        server.log_text()
    );
    assert!(output.contains(" passed, 0 failed"), "{output}");
}

#[test]
fn a_browser_enrols_two_factor_sign_in_from_the_qr_code_and_manages_its_account() {
    if !tools_present(true) {
        return;
    }
    let server = Server::start(&[]);
    let (ok, output) = run_bounded(
        Command::new("node")
            .arg("accounts.mjs")
            .arg(server.url(""))
            .env("CHROMIUM", chromium())
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .current_dir(e2e_dir()),
        E2E_LIMIT,
    );
    println!("{output}");
    assert!(
        ok,
        "the account pages failed:\n{output}\n--- server log ---\n{}",
        server.log_text()
    );
    assert!(output.contains(" passed, 0 failed"), "{output}");
}
