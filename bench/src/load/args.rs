//! The options of `arcade-bench load` (parsed on the main thread).

use std::path::PathBuf;

#[derive(clap::Args, Clone)]
pub struct LoadArgs {
    /// Target server, e.g. ws://127.0.0.1:8080/ws (loopback only). Without it, the release
    /// `arcade` binary beside this one is started on 127.0.0.1:0 with a temporary database.
    #[arg(long)]
    pub(super) url: Option<String>,
    /// The server's pid when it is given by --url (for its CPU and memory).
    #[arg(long)]
    pub(super) pid: Option<u32>,
    /// The arcade binary to start (default: `arcade` beside this binary).
    #[arg(long)]
    pub(super) server: Option<PathBuf>,
    /// One more argument for the server started (repeat for several).
    #[arg(long, allow_hyphen_values = true)]
    pub(super) server_arg: Vec<String>,
    /// Player connections (an even number: they play Pong 1v1 in pairs).
    #[arg(long, default_value_t = 200)]
    pub(super) players: usize,
    /// Spectator connections.
    #[arg(long, default_value_t = 0)]
    pub(super) spectators: usize,
    /// Idle lobby connections (one chat message a second among them all).
    #[arg(long, default_value_t = 0)]
    pub(super) idle: usize,
    /// Encoding: json, msgpack, compact (MessagePack with compact states) or mix (every other
    /// connection json and msgpack).
    #[arg(long, default_value = "json")]
    pub(super) codec: String,
    /// How players find an opponent: create (the pair's first creates, the second joins) or
    /// queue (`queue.join`).
    #[arg(long, default_value = "create")]
    pub(super) pairing: String,
    /// Inputs a second per player (one per `tickRate / input-hz` states received).
    #[arg(long, default_value_t = 20)]
    pub(super) input_hz: u32,
    /// Connections opened per second while ramping up.
    #[arg(long, default_value_t = 500)]
    pub(super) ramp_rate: u32,
    /// Seconds between the end of the ramp and the start of the measure.
    #[arg(long, default_value_t = 5)]
    pub(super) settle: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 30)]
    pub(super) duration: u64,
    /// Worker threads of the generator.
    #[arg(long, default_value_t = 2)]
    pub(super) threads: usize,
    /// After the run, measure the raw-socket floor (`arcade-bench floor`) with as many players,
    /// a state frame of the mean size received, for as long; report the server's CPU per
    /// player-second as a ratio to it.
    #[arg(long)]
    pub(super) floor: bool,
    /// Print the results as one line of JSON (and nothing else on stdout).
    #[arg(long)]
    pub(super) json: bool,
    /// A label copied into the JSON line (for plots and tables).
    #[arg(long)]
    pub(super) label: Option<String>,
}
