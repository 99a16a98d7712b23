//! # arcade: the server binary
//!
//! Wires the crates together: reads the config, opens the store, builds the simulation with
//! the bridge and persistence systems, starts the tick thread and the HTTP/WebSocket server,
//! and shuts everything down in order on SIGTERM or SIGINT.
//!
//! - [`config`]: flags and their environment twins.
//! - [`tick`]: the tick thread.
//! - [`shutdown`]: the shutdown signal and sequence.
//! - [`spare_workers`]: the network workers the load does not need, held asleep.
//! - [`hooks`]: test hooks, off unless `ARCADE_TEST_HOOKS=1`.
//! - [`migrate`]: `arcade migrate`, the copy of a SQLite file into PostgreSQL.
//! - [`replay`]: `arcade replay verify`, which replays stored matches instead of serving.
//! - [`admin`]: `arcade admin grant` (roles on the database) and `arcade backup` (the online
//!   backup of the SQLite file).

mod admin;
mod cluster;
mod config;
mod hooks;
mod linger;
mod migrate;
mod replay;
mod shutdown;
mod spare_workers;
mod tick;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// mimalloc, not glibc's malloc: memory allocated on a tokio worker (a command, a frame) and
/// freed on the tick thread goes back without the allocating thread's arena lock, which glibc
/// takes and a preempted worker can hold for milliseconds (`strace -k` showed the tick thread
/// waiting up to 32 ms there under load; BENCHMARKS.md "The tick's waits").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use arcade_data::{Database, Store};
use arcade_net::auth::Tokens;
use arcade_net::bridge::{self, BridgeConfig, MetricsHandle};
use arcade_net::clock::ServerClock;
use arcade_net::hub::Hub;
use arcade_net::metrics::Metrics;
use arcade_net::state::{AppState, Heartbeat, NetConfig};
use arcade_systems::bevy_ecs::prelude::IntoScheduleConfigs;
use arcade_systems::sim::{SimConfig, SimSystems, Simulation};
use clap::Parser;
use tracing::info;

use crate::config::{Command, Config, LogFormat};

/// How long serving waits for the tick loop's first tick (then it serves anyway, and
/// `/health` says the loop is down).
const FIRST_TICK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// How often that wait looks at the clock.
const FIRST_TICK_POLL: std::time::Duration = std::time::Duration::from_millis(1);

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if let Some(config::Command::Replay(config::ReplayCommand::Verify { db, match_id })) =
        &config.command
    {
        let verified = replay::verify(db, match_id.as_deref())?;
        std::process::exit(if verified.mismatches == 0 { 0 } else { 1 });
    }
    init_tracing(&config)?;
    if let Some(Command::Migrate { from, to }) = &config.command {
        return migrate::run(from, to);
    }
    // Refused before anything starts: `--redis` without `--database-url`, wrong URLs.
    let database = config.database()?;
    match &config.command {
        Some(Command::Admin(config::AdminCommand::Grant { name, role })) => {
            return admin::grant(&database, name, *role);
        }
        Some(Command::Backup { path }) => return admin::backup(&database, path),
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.net_workers())
        .enable_all()
        .thread_name("net")
        .on_thread_park(linger::before_park(config.net_idle_linger()))
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(serve(config, database));
    // Blocking-pool work still running (a slow query) must not hold the exit.
    runtime.shutdown_timeout(shutdown::RUNTIME_STOP_WAIT);
    result
}

/// Starts holding the network workers the load does not need (unless
/// `--net-workers-all-awake`, or there is one), reported by `arcade_net_workers_awake`.
fn hold_spare_workers(
    config: &Config,
    metrics: &Metrics,
) -> anyhow::Result<Option<spare_workers::SpareWorkers>> {
    let workers = config.net_workers();
    metrics.net_workers_awake.set(workers as i64);
    if workers < 2 || config.net_workers_all_awake {
        return Ok(None);
    }
    let awake = metrics.net_workers_awake.clone();
    let spare = spare_workers::SpareWorkers::start(
        tokio::runtime::Handle::current(),
        Box::new(move |workers| awake.set(workers as i64)),
    )
    .context("starting the net-spare thread")?;
    Ok(Some(spare))
}

fn init_tracing(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .with_context(|| format!("--log {:?} is not a tracing filter", config.log))?;
    // Colours only for a person at a terminal, never in files or pipes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

async fn serve(config: Config, database: Database) -> anyhow::Result<()> {
    let store = Store::open_database(&database).with_context(|| match &database {
        Database::Sqlite(path) => format!("opening the database {}", path.display()),
        Database::Postgres(_) => "connecting to the --database-url".to_owned(),
    })?;
    let metrics = Arc::new(Metrics::new());
    // Dropped when serving ends: every held worker is let go before the runtime stops.
    let _spare_workers = hold_spare_workers(&config, &metrics)?;
    {
        let histogram = metrics.db_write_duration.clone();
        store.set_write_observer(move |op: &'static str, took: std::time::Duration| {
            histogram
                .with_label_values(&[op])
                .observe(took.as_secs_f64());
        });
    }
    let secret = match &config.jwt_secret {
        Some(secret) => secret.clone().into_bytes(),
        None => shutdown::load_or_create_secret(&config.db)?,
    };
    let clock = Arc::new(ServerClock::new());
    let (commands, inbox) = arcade_net::link::command_queue();

    let mut sim = Simulation::new(SimConfig {
        tick_rate: config.tick_rate,
        reconnect_grace_ticks: (config.reconnect_grace.as_secs_f64() * f64::from(config.tick_rate))
            .round() as u64,
    });
    bridge::install(
        &mut sim,
        inbox,
        BridgeConfig {
            snapshot_every: config.snapshot_every,
        },
    );
    // In a cluster, every live match is checkpointed to Redis (failover, issue 18 item 6).
    let checkpoint_notes = config.redis.as_ref().map(|_| {
        let (sender, notes) = arcade_net::cluster::failover::checkpoint_queue();
        bridge::checkpoint_feed::install(&mut sim, sender);
        notes
    });
    let (wake_ups, waker_task) = bridge::WakeUps::with_waker_task();
    tokio::spawn(waker_task);
    sim.world.insert_resource(wake_ups);
    sim.world.insert_resource(MetricsHandle(metrics.clone()));
    arcade_data::persist::install(&mut sim.world, store.clone());
    // Tournament matches' ends go to the runner (issue 13).
    let tournament_ends = arcade_net::tournament::tick::install(&mut sim);
    let (presence_feed, presence_changes) = tokio::sync::mpsc::unbounded_channel();
    arcade_net::social::install(&mut sim.world, presence_feed);
    // A finished match is stored before its `match.end` goes out.
    sim.schedule.add_systems(
        arcade_data::persist::persist_finished_matches
            .before(bridge::update_match_metrics)
            .in_set(SimSystems::Send),
    );

    // In a cluster, SIGTERM hands the live matches over to a survivor through Redis (the
    // cluster is joined below, after the tick thread starts); on one process,
    // `--keep-live-matches` keeps them in the database for the next start.
    let cluster_cell: Arc<std::sync::OnceLock<Arc<arcade_net::cluster::Cluster>>> = Arc::default();
    let keep_live = if config.redis.is_some() {
        Some(cluster::hand_over_on_stop(cluster_cell.clone()))
    } else if config.keep_live_matches {
        restore_kept_matches(&mut sim, &store).await;
        Some(keep_live_matches(store.clone()))
    } else {
        warn_of_kept_matches(&store).await;
        None
    };
    let stop = Arc::new(AtomicBool::new(false));
    let paused = Arc::new(AtomicBool::new(false));
    hooks::install(paused.clone())?;
    let tick_thread = tick::TickLoop {
        sim,
        tick_rate: config.tick_rate,
        clock: clock.clone(),
        metrics: metrics.clone(),
        stop: stop.clone(),
        paused,
        keep_live,
        realtime: config.tick_realtime,
    }
    .spawn()
    .context("starting the tick thread")?;

    // Serve only once the loop runs, so `/health` is truthful from the first request.
    let first_tick = std::time::Instant::now();
    while clock.since_last_tick() == std::time::Duration::MAX
        && first_tick.elapsed() < FIRST_TICK_WAIT
    {
        tokio::time::sleep(FIRST_TICK_POLL).await;
    }
    let hub = Arc::new(Hub::new());
    let ops = config.ops();
    let limits = Arc::new(arcade_net::limits::SharedLimits::new(ops.abuse));
    let listener = tokio::net::TcpListener::bind(config.listen_addr())
        .await
        .with_context(|| format!("binding {}", config.listen_addr()))?;
    let addr = listener.local_addr()?;
    info!("listening on {addr}");
    let instance = config.instance_id(addr.port());
    let cluster = match &config.redis {
        Some(url) => Some(
            arcade_net::cluster::Cluster::join(
                url,
                instance.clone(),
                hub.clone(),
                commands.clone(),
            )
            .await
            .with_context(|| format!("joining the cluster through {url}"))?,
        ),
        None => None,
    };
    let moderation = {
        let (store, admin_name) = (store.clone(), config.admin_name.clone());
        tokio::task::spawn_blocking(move || {
            arcade_net::moderation::Moderation::load(&store, admin_name)
        })
        .await
        .context("loading moderation")?
        .context("loading mutes and the --admin-name role")?
    };
    let moderation = Arc::new(moderation);
    let state = AppState {
        config: Arc::new(NetConfig {
            tick_rate: config.tick_rate,
            assets: config.assets.clone(),
            admin_token: config.admin_token.clone(),
            ops,
            heartbeat: Heartbeat {
                idle: config.heartbeat_idle,
                timeout: config.heartbeat_timeout,
            },
        }),
        store: store.clone(),
        tokens: Tokens::new(&secret),
        hub: hub.clone(),
        commands,
        clock,
        metrics,
        limits,
        cluster,
        moderation,
        typing: Arc::default(),
        tournaments: Arc::new(arcade_net::tournament::Tournaments::new()),
    };
    if let Some(cluster) = &state.cluster {
        let moderation = state.moderation.clone();
        cluster.on_mute(Box::new(move |player, until| {
            moderation.set_mute(player, until)
        }));
        let _ = cluster_cell.set(cluster.clone());
        if let Some(notes) = checkpoint_notes {
            cluster.keep_checkpoints(notes);
        }
        cluster::take_back_leftovers(cluster).await;
        tokio::spawn(cluster::run_heartbeat(state.clone(), cluster.clone()));
        // SIGTERM: no new match from the first moment (the stop hands the live ones over).
        let draining = cluster.clone();
        tokio::spawn(async move {
            shutdown::signal().await;
            draining.start_draining();
        });
        let pairs = state.metrics.cluster.queue_pairs.clone();
        arcade_net::cluster::queues::start(cluster, pairs);
    }
    info!(%instance, database = %store.location(), backend = store.backend_name(), "instance");
    tokio::spawn(arcade_net::http::accounts::purge_guests(state.clone()));
    // Running tournaments resume before the first request (their live matches replayed).
    if let Err(error) = arcade_net::tournament::resume(&state).await {
        tracing::error!(%error, "tournaments could not be resumed");
    }
    tokio::spawn(arcade_net::tournament::run(state.clone(), tournament_ends));
    tokio::spawn(arcade_net::social::run_presence_feed(
        state.clone(),
        presence_changes,
    ));
    shutdown::serve_until_signal(listener, config.guard(), arcade_net::http::router(state)).await?;

    shutdown::run(shutdown::Parts {
        stop,
        tick_thread,
        store,
        hub,
    })
    .await;
    Ok(())
}

/// `--keep-live-matches`: the save the tick loop calls at the stop, every checkpoint in one
/// transaction.
fn keep_live_matches(store: Store) -> tick::SaveLiveMatches {
    Box::new(move |checkpoints| {
        let kept = checkpoints
            .iter()
            .map(|checkpoint| arcade_data::live_matches::KeptMatch {
                id: checkpoint.id,
                checkpoint: bridge::checkpoint::encode(checkpoint),
            })
            .collect();
        store
            .save_live_matches(kept)
            .map_err(|error| error.to_string())
    })
}

/// `--keep-live-matches`: restores the matches the last stop kept (before the tick loop
/// starts: paused, every player away for the reconnect grace) and deletes their rows. A
/// checkpoint that cannot be restored is logged and dropped.
async fn restore_kept_matches(sim: &mut Simulation, store: &Store) {
    let reader = store.clone();
    let kept = match tokio::task::spawn_blocking(move || reader.kept_matches()).await {
        Ok(Ok(kept)) => kept,
        Ok(Err(error)) => return tracing::error!(%error, "kept live matches not read"),
        Err(_) => return tracing::error!("reading the kept live matches panicked"),
    };
    if kept.is_empty() {
        return;
    }
    let mut restored = 0;
    for row in &kept {
        let result = bridge::checkpoint::decode(&row.checkpoint)
            .map_err(|error| error.to_string())
            .and_then(|checkpoint| {
                bridge::checkpoint::restore_match(&mut sim.world, &checkpoint)
                    .map_err(|error| error.to_string())
            });
        match result {
            Ok(_) => restored += 1,
            Err(error) => tracing::warn!(match_id = %row.id, %error, "kept match not restored"),
        }
    }
    let ids = kept.iter().map(|row| row.id).collect();
    let writer = store.clone();
    match tokio::task::spawn_blocking(move || writer.delete_live_matches(ids)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(%error, "kept live matches not deleted"),
        Err(_) => tracing::error!("deleting the kept live matches panicked"),
    }
    info!(restored, of = kept.len(), "kept live matches restored");
}

/// Without `--keep-live-matches`, kept matches are left alone (they wait for a start with the
/// flag); says so when there are some.
async fn warn_of_kept_matches(store: &Store) {
    let reader = store.clone();
    if let Ok(Ok(kept)) = tokio::task::spawn_blocking(move || reader.kept_matches()).await
        && !kept.is_empty()
    {
        tracing::warn!(
            kept = kept.len(),
            "live matches kept by an earlier stop wait for a start with --keep-live-matches"
        );
    }
}
