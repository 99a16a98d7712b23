//! # arcade-bench: how fast arcade is, measured
//!
//! One binary, one subcommand per measurement (each in its own module; add a new one as a
//! variant of [`Command`] and a line in `main`):
//! - `sim`: bot-filled worlds of every game and mode, no sockets: ns per match-tick, the
//!   struct-of-arrays baseline of Pong 1v1 beside it, and the server's tick with the bridge.
//! - `load`: a WebSocket load generator against a server it starts (or `--url`).
//! - `floor`: the raw-socket floor (epoll, prebuilt frames) in CPU ms per player-second.
//! - `auth`: the server's resident memory through a burst of logins and registrations from
//!   ten loopback addresses (password hashing on its bounded pool).
//! - `plot`: the PNG of players served against tick p99 and snapshot rate, from `load --json`.
//!
//! Run in release: `cargo run --release -p arcade-bench -- sim` (see BENCHMARKS.md).

mod auth;
mod floor;
mod load;
mod plot;
mod sim;

use clap::{Parser, Subcommand};

/// The server's allocator (src/main.rs), so that `sim --bridge` times the tick as it runs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "arcade-bench", about = "Benchmarks of the arcade server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Time the simulation: every game and mode, N bot-filled matches, no sockets.
    Sim(sim::SimArgs),
    /// Load a server over WebSocket: players, spectators and idle connections.
    Load(load::LoadArgs),
    /// The raw-socket floor: prebuilt frames over epoll, CPU ms per player-second.
    Floor(floor::FloorArgs),
    /// Measure the server's memory through a burst of auth requests from 10 addresses.
    Auth(auth::AuthArgs),
    /// Plot `load --json` results (players against tick p99 and snapshot rate) to a PNG.
    Plot(plot::PlotArgs),
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Sim(args) => {
            sim::run(&args);
            Ok(())
        }
        Command::Load(args) => load::run(args),
        Command::Auth(args) => auth::run(&args),
        Command::Plot(args) => plot::run(&args),
        Command::Floor(args) => floor::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("arcade-bench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
