//! `arcade-bench sim`: the simulation without sockets.
//!
//! - For every game and mode asked (default: all five), worlds of N matches (default 1k, 10k,
//!   100k) whose every seat is a server bot (`fill_with_bots`), built with the server's own
//!   `Simulation`; each tick is timed alone, and the table gives ns per match-tick (median
//!   and p99 over the ticks) and, for Breakout, per field-tick.
//! - Beside Pong 1v1, the hand-written struct-of-arrays baseline ([`arcade_bench::soa_pong`])
//!   with the same N, seeds and bots, stepped tick for tick alternately with the ECS world,
//!   so that the ECS overhead is a ratio measured side by side under the same noise.
//! - `--bridge`: the server's tick with the bridge (receive + send systems: inputs through
//!   the command channel, `state` encoded once per match and handed, as in the server, to
//!   sender tasks on a tokio runtime of a worker per core, which stage it in the 2 members'
//!   outboxes), the figure quoted for the tick duration with 100 and 10,000 matches.

use std::sync::Arc;
use std::time::Instant;

use arcade_bench::ecs;
use arcade_bench::soa_pong::SoaPong;
use arcade_bench::stats::Summary;
use arcade_net::bridge::{self, BridgeConfig, Command, MatchOp, ReplyTo};
use arcade_net::link::{CommandSender, InputReply};
use arcade_net::outbox::{Batch, Outbox};
use arcade_net::wire::codec::{Codec, Frame};
use arcade_net::wire::protocol::{Input, MatchCreate, MatchJoin};
use arcade_systems::model::{Game, MatchId, MatchOptions, Mode, PlayerId, PlayerRef};
use arcade_systems::sim::{SimConfig, Simulation};

#[derive(clap::Args)]
pub struct SimArgs {
    /// Modes to time (their game follows): 1v1, 2v2, vs_bot (pong), solo, versus (breakout).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1v1,2v2,vs_bot,solo,versus"
    )]
    modes: Vec<String>,
    /// Comma-separated numbers of matches per world.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    matches: Vec<usize>,
    /// Ticks timed per world (after the countdown); 0 picks by size: 600 up to 1k matches,
    /// 300 up to 10k, 100 above.
    #[arg(long, default_value_t = 0)]
    ticks: usize,
    /// Skip the struct-of-arrays baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Numbers of Pong 1v1 matches for the server tick with the bridge (encode + fan-out).
    #[arg(long, value_delimiter = ',', default_value = "100,10000")]
    bridge: Vec<usize>,
    /// Skip the bridge measurement.
    #[arg(long)]
    no_bridge: bool,
    /// Only the bridge measurement.
    #[arg(long)]
    bridge_only: bool,
    /// Ticks timed per size in the bridge measurement (after the warm-up).
    #[arg(long, default_value_t = BRIDGE_TICKS)]
    bridge_ticks: usize,
    /// Encoding of the bridge's subscribers: json, msgpack or compact.
    #[arg(long, default_value = "json")]
    codec: String,
    /// Worker threads of the senders' runtime in the bridge measurement; 0: one per core, as
    /// the server's `--net-workers` default.
    #[arg(long, default_value_t = 0)]
    net_workers: usize,
    /// The timed thread under SCHED_FIFO, as the server's tick thread under `--tick-realtime`
    /// (without it, its nice value is raised, as the server does by default).
    #[arg(long)]
    tick_realtime: bool,
    /// Also print each row as one line of JSON (prefixed `json: `).
    #[arg(long)]
    json: bool,
}

const TICK_RATE: u32 = 60;
/// Ticks run before timing: the 3 s countdown, then a second of play so that the balls fly.
const SIM_WARM_UP_TICKS: usize = 3 * TICK_RATE as usize + TICK_RATE as usize;
/// Ticks timed per size in the bridge measurement.
const BRIDGE_TICKS: usize = 600;

fn ticks_for(matches: usize, asked: usize) -> usize {
    match (asked, matches) {
        (0, 0..=1_000) => 600,
        (0, 0..=10_000) => 300,
        (0, _) => 100,
        (asked, _) => asked,
    }
}

fn mode_of(name: &str) -> (Game, Mode) {
    let mode: Mode = name
        .parse()
        .unwrap_or_else(|()| panic!("unknown mode {name:?}: 1v1, 2v2, vs_bot, solo or versus"));
    let game = if mode.fits(Game::Pong) {
        Game::Pong
    } else {
        Game::Breakout
    };
    (game, mode)
}

pub fn run(args: &SimArgs) {
    if !args.bridge_only {
        run_worlds(args);
    }
    if !args.no_bridge && !args.bridge.is_empty() {
        println!();
        run_bridge(args);
    }
}

/// One row of the table.
struct Row {
    game: Game,
    mode: Mode,
    matches: usize,
    fields: usize,
    ticks: usize,
    live: usize,
    /// ns per match-tick over the timed ticks.
    per_match: Summary,
    /// The baseline's, for Pong 1v1.
    baseline: Option<Summary>,
}

fn run_worlds(args: &SimArgs) {
    println!(
        "# arcade-bench sim: bot-filled worlds at {TICK_RATE} Hz, every tick timed alone (after {SIM_WARM_UP_TICKS} warm-up ticks)"
    );
    println!(
        "{:<9} {:<7} {:>8} {:>6} {:>9} {:>11} {:>11} {:>11} {:>9} {:>11} {:>7}",
        "game",
        "mode",
        "matches",
        "ticks",
        "live",
        "ns/match p50",
        "ns/match p99",
        "ns/field p50",
        "tick ms",
        "soa ns p50",
        "ecs/soa"
    );
    for name in &args.modes {
        let (game, mode) = mode_of(name);
        for &matches in &args.matches {
            let ticks = ticks_for(matches, args.ticks);
            let baseline = game == Game::Pong && mode == Mode::OneVsOne && !args.no_baseline;
            let row = time_world(game, mode, matches, ticks, baseline);
            print_row(&row, args.json);
        }
    }
}

fn print_row(row: &Row, json: bool) {
    let fields_per_match = row.fields as f64 / row.matches as f64;
    let per_field = row.per_match.p50 / fields_per_match;
    let tick_ms = row.per_match.p50 * row.matches as f64 / 1e6;
    let (soa, ratio) = match &row.baseline {
        Some(soa) => (
            format!("{:.1}", soa.p50),
            format!("{:.2}", row.per_match.p50 / soa.p50),
        ),
        None => ("-".into(), "-".into()),
    };
    println!(
        "{:<9} {:<7} {:>8} {:>6} {:>9} {:>11.1} {:>11.1} {:>11.1} {:>9.3} {:>11} {:>7}",
        row.game.as_str(),
        row.mode.as_str(),
        row.matches,
        row.ticks,
        row.live,
        row.per_match.p50,
        row.per_match.p99,
        per_field,
        tick_ms,
        soa,
        ratio
    );
    if json {
        let value = serde_json::json!({
            "game": row.game.as_str(),
            "mode": row.mode.as_str(),
            "matches": row.matches,
            "fields": row.fields,
            "ticks": row.ticks,
            "live": row.live,
            "nsPerMatchTickP50": row.per_match.p50,
            "nsPerMatchTickP99": row.per_match.p99,
            "nsPerFieldTickP50": per_field,
            "baselineNsPerMatchTickP50": row.baseline.as_ref().map(|s| s.p50),
            "baselineNsPerMatchTickP99": row.baseline.as_ref().map(|s| s.p99),
        });
        println!("json: {value}");
    }
}

/// Builds the world (and the baseline beside it), warms up, and times `ticks` ticks.
fn time_world(game: Game, mode: Mode, matches: usize, ticks: usize, baseline: bool) -> Row {
    let mut sim = ecs::bot_world(game, mode, matches, TICK_RATE);
    let mut soa = baseline.then(|| {
        let mut soa = SoaPong::new(TICK_RATE);
        for n in 0..matches as u64 {
            soa.add_match(n, arcade_systems::model::MAX_SCORE_LIMIT, [true, true]);
        }
        soa
    });
    for _ in 0..SIM_WARM_UP_TICKS {
        sim.step();
        if let Some(soa) = &mut soa {
            soa.step();
        }
    }
    let mut ecs_ns = Vec::with_capacity(ticks);
    let mut soa_ns = Vec::with_capacity(ticks);
    for _ in 0..ticks {
        let started = Instant::now();
        sim.step();
        ecs_ns.push(started.elapsed().as_nanos() as f64 / matches as f64);
        if let Some(soa) = &mut soa {
            let started = Instant::now();
            soa.step();
            soa_ns.push(started.elapsed().as_nanos() as f64 / matches as f64);
        }
    }
    let fields = match mode {
        Mode::Solo => matches,
        Mode::Versus => 2 * matches,
        _ => matches,
    };
    Row {
        game,
        mode,
        matches,
        fields,
        ticks,
        live: ecs::live_matches(&mut sim),
        per_match: Summary::of(&mut ecs_ns),
        baseline: soa.map(|_| Summary::of(&mut soa_ns)),
    }
}

/// Ticks run before timing: past the 3 s countdown, so the balls are in play.
const WARM_UP_TICKS: usize = 200;

struct Player {
    id: PlayerId,
    match_id: MatchId,
    outbox: Arc<Outbox>,
}

fn run_bridge(args: &SimArgs) {
    let compact = args.codec == "compact";
    let codec = if compact {
        Codec::Msgpack
    } else {
        Codec::parse(&args.codec).expect("--codec is json, msgpack or compact")
    };
    println!(
        "# arcade-bench sim: pong 1v1 at {TICK_RATE} Hz, 2 {} subscribers and 2 inputs per match per tick",
        args.codec
    );
    println!(
        "{:>8} {:>9} {:>9} {:>9} {:>15}",
        "matches", "p50 ms", "p99 ms", "max ms", "p50 ns/match"
    );
    for &matches in &args.bridge {
        let mut durations = measure(matches, args, codec, compact);
        durations.sort_by(f64::total_cmp);
        let at = |q: f64| durations[((durations.len() - 1) as f64 * q).round() as usize];
        let (p50, p99, max) = (at(0.5), at(0.99), at(1.0));
        let per_match = p50 * 1e6 / matches as f64;
        println!("{matches:>8} {p50:>9.3} {p99:>9.3} {max:>9.3} {per_match:>15.0}");
    }
}

/// Tick durations in milliseconds.
/// With `compact`, the subscribers ask for compact `state`s (`?codec=compact`).
fn measure(matches: usize, args: &SimArgs, codec: Codec, compact: bool) -> Vec<f64> {
    let ticks = args.bridge_ticks;
    let (commands, inbox) = arcade_net::link::command_queue();
    let mut sim = Simulation::new(SimConfig {
        tick_rate: TICK_RATE,
        reconnect_grace_ticks: 600,
    });
    bridge::install(&mut sim, inbox, BridgeConfig { snapshot_every: 1 });
    // As in the server: sender tasks on a runtime of a worker per core (`--net-workers`) write
    // each match's `state` and stage it in its members' outboxes (`bridge::wake`), and the
    // tick thread's priority is raised above theirs (once they run:
    // a thread inherits its maker's).
    let workers = match args.net_workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        workers => workers,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    bridge::priority::raise(args.tick_realtime);
    let (wake_ups, senders) = {
        let _inside = runtime.enter();
        bridge::WakeUps::with_waker_task()
    };
    runtime.spawn(senders);
    sim.world.insert_resource(wake_ups);
    let players = fill(&mut sim, &commands, matches, codec, compact);
    let mut batch = Batch::default();
    let mut durations = Vec::with_capacity(ticks);
    for tick in 0..WARM_UP_TICKS + ticks {
        for (n, player) in players.iter().enumerate() {
            let axis = if (tick / 30 + n) % 3 == 0 { -1.0 } else { 1.0 };
            let input = Input {
                match_id: player.match_id,
                seq: tick as u64 + 1,
                axis,
                launch: false,
            };
            let reply = InputReply {
                conn: player.id.0,
                codec,
                request_id: None,
            };
            commands
                .send(Command::Input {
                    player: player.id,
                    route: player.outbox.input_route(),
                    reply,
                    input,
                })
                .unwrap();
        }
        let took = if tick >= WARM_UP_TICKS {
            bridge_tick(&mut sim)
        } else {
            sim.step();
            Default::default()
        };
        if tick >= WARM_UP_TICKS {
            durations.push(took.as_secs_f64() * 1e3);
        }
        for player in &players {
            player.outbox.take(&mut batch);
            batch.control.clear();
            batch.states.clear();
        }
    }
    durations
}

/// One timed tick of the bridge measurement, alone in its function so that a profiler can
/// count it apart from the warm-up and the inputs sent around it:
/// `valgrind --tool=callgrind --toggle-collect='arcade_bench::sim::bridge_tick' ...`
/// gives the instructions of the timed ticks only.
#[inline(never)]
fn bridge_tick(sim: &mut Simulation) -> std::time::Duration {
    let started = Instant::now();
    sim.step();
    started.elapsed()
}

/// Creates `matches` matches through the bridge, two players each.
fn fill(
    sim: &mut Simulation,
    commands: &CommandSender,
    matches: usize,
    codec: Codec,
    compact: bool,
) -> Vec<Player> {
    let new_outbox = || {
        Arc::new(if compact {
            Outbox::new_compact()
        } else {
            Outbox::new(codec)
        })
    };
    let options = MatchOptions {
        score_limit: Some(21),
        ..Default::default()
    };
    let mut creators = Vec::with_capacity(matches);
    for n in 0..matches as u64 {
        let id = PlayerId(2 * n + 1);
        let outbox = new_outbox();
        let create = MatchCreate {
            game: Game::Pong,
            mode: Mode::OneVsOne,
            options: Some(options.clone()),
        };
        send(commands, id, &outbox, codec, MatchOp::Create(create));
        creators.push((id, outbox));
    }
    sim.step();
    let mut players = Vec::with_capacity(matches * 2);
    for (n, (id, outbox)) in creators.into_iter().enumerate() {
        let match_id = acked_match_id(&outbox, codec);
        let joiner = PlayerId(2 * n as u64 + 2);
        let joiner_outbox = new_outbox();
        let join = MatchJoin {
            match_id: Some(match_id),
            join_code: None,
            join_as: Default::default(),
        };
        send(commands, joiner, &joiner_outbox, codec, MatchOp::Join(join));
        players.push(Player {
            id,
            match_id,
            outbox,
        });
        players.push(Player {
            id: joiner,
            match_id,
            outbox: joiner_outbox,
        });
    }
    sim.step();
    players
}

/// Connects player `id` (its connection's id is the player's) as a session does, and sends
/// its request.
fn send(commands: &CommandSender, id: PlayerId, outbox: &Arc<Outbox>, codec: Codec, op: MatchOp) {
    let reply = ReplyTo {
        outbox: outbox.clone(),
        codec,
        request_id: None,
    };
    let player = PlayerRef {
        id,
        name: format!("bench-{}", id.0),
    };
    let connected = Command::Connected {
        conn: id.0,
        player: player.clone(),
        outbox: outbox.clone(),
    };
    commands.send(connected).unwrap();
    commands
        .send(Command::request(id.0, player, reply, op))
        .unwrap();
}

/// The match id in the `ack` of a `match.create`.
fn acked_match_id(outbox: &Outbox, codec: Codec) -> MatchId {
    let mut batch = Batch::default();
    outbox.take(&mut batch);
    let frame = batch
        .control
        .pop_front()
        .expect("the create was acknowledged");
    let value: serde_json::Value = match (&frame, codec) {
        (Frame::Text(text), _) => serde_json::from_slice(text.as_bytes()).unwrap(),
        (Frame::Binary(bytes), _) => rmp_serde::from_slice(bytes).unwrap(),
        (Frame::Ping, _) => unreachable!("no pings here"),
    };
    value["data"]["matchId"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an ack with a matchId")
}
