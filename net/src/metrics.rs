//! The Prometheus registry (written by every thread, lock-free; rendered on tokio).
//!
//! The Prometheus metrics of PROTOCOL.md "Metrics", with their exact names and labels, in one
//! registry. Label children used on hot paths are resolved once and kept, so recording is a
//! few atomic operations and never takes a lock. The frame and byte counters, which every
//! frame in and every write out adds to, are tallied per thread and folded into the registry
//! when it is rendered ([`FrameTally`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use arcade_systems::model::{EndReason, Game};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use thread_local::ThreadLocal;

use crate::wire::codec::Codec;

/// The `reason` values of `arcade_inputs_rejected_total`.
/// The `codec` labels of the frame and byte counters: `Codec::index` order, then compact
/// connections (all their frames, envelopes included).
const CODEC_LABELS: [&str; 3] = ["json", "msgpack", "compact"];
/// The index of `"compact"` in [`CODEC_LABELS`].
const COMPACT_LABEL: usize = 2;

pub const INPUT_REJECT_REASONS: [&str; 4] = ["rate", "not_found", "forbidden", "bad_request"];
/// The `reason` values of `arcade_matches_finished_total`.
const END_REASONS: [EndReason; 6] = [
    EndReason::ScoreLimit,
    EndReason::Lives,
    EndReason::Cleared,
    EndReason::Time,
    EndReason::Forfeit,
    EndReason::Aborted,
];

/// Buckets for tick and write durations: 50 µs to 250 ms.
const FAST_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.033, 0.1, 0.25,
];

pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub ws_connections: IntGauge,
    /// `arcade_net_workers_awake`: the network runtime's workers not held asleep as spare.
    pub net_workers_awake: IntGauge,
    pub tick_duration: Histogram,
    pub tick_overruns: IntCounter,
    pub matches_active: IntGaugeVec,
    pub players_connected: IntGauge,
    pub spectators_connected: IntGauge,
    pub ws_dropped_frames: IntCounter,
    pub inputs_rejected: IntCounterVec,
    pub matches_finished: IntCounterVec,
    pub db_write_duration: HistogramVec,
    /// `arcade_password_hashes_total`: argon2 hashes and verifications run by the hash pool.
    pub password_hashes: IntCounter,
    /// The last ticks' durations, for the p99 of `/health/details`.
    pub tick_window: crate::clock::TickWindow,
    /// The cluster's health as the last heartbeat saw it (zero when running alone).
    pub cluster: ClusterGauges,
    /// PostgreSQL's read pool and circuit breaker (zero on SQLite).
    pub db: DbGauges,
    /// `[direction][codec]` children of the frame and byte counters.
    frames_by: [[IntCounter; 3]; 2],
    bytes_by: [[IntCounter; 3]; 2],
    /// Each thread's frames and bytes, counted since it started.
    tallies: ThreadLocal<FrameTally>,
    /// The sums of `tallies` already added to `frames_by` and `bytes_by`.
    folded: Mutex<FrameTotals>,
}

/// `[direction][codec]` counts.
type FrameTotals = [[(u64, u64); 3]; 2];

/// One thread's frames and bytes, `[direction][codec]`, on cache lines no other thread
/// writes. Every frame read and every write adds to these counts:
/// - With one shared counter, each addition first took the counter's line from the core that
///   added last (under `load --players 400`, the byte counter's `lock add` held 86 % of the
///   samples of `Parked::enqueue`, 1.0–1.3 % of the server's).
/// - Only its thread writes a tally (a thread that exits leaves it to the next thread given
///   its id), so it adds with a plain load and store: a locked addition, even on a line of
///   its own, first waits for every store the thread has pending (0.7 % of the server's
///   samples, with `fetch_add` on per-thread tallies).
///
/// Rendering sums the tallies, which only grow.
#[derive(Default)]
#[repr(align(128))]
struct FrameTally {
    frames: [[AtomicU64; 3]; 2],
    bytes: [[AtomicU64; 3]; 2],
}

/// `arcade_cluster_*`: what the cluster heartbeat last saw (`crate::cluster`).
pub struct ClusterGauges {
    /// `arcade_cluster_instances_alive`: instances whose heartbeat key is alive.
    pub instances_alive: IntGauge,
    /// `arcade_cluster_redis_up`: 1 when Redis answered the last heartbeat.
    pub redis_up: IntGauge,
    /// `arcade_cluster_redis_round_trip_seconds`: the last heartbeat's round trip.
    pub redis_round_trip: prometheus::Gauge,
    /// `arcade_cluster_bus_dropped_total`: bus messages dropped (queue full or Redis down).
    pub bus_dropped: IntGauge,
    /// `arcade_cluster_queue_pairs_total`: queue groups this instance took from Redis.
    pub queue_pairs: prometheus::IntCounter,
}

/// An integer gauge registered in `registry`.
fn int_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).unwrap();
    registry.register(Box::new(gauge.clone())).unwrap();
    gauge
}

impl ClusterGauges {
    fn register(registry: &Registry) -> ClusterGauges {
        let gauge = |name: &str, help: &str| int_gauge(registry, name, help);
        let redis_round_trip = prometheus::Gauge::new(
            "arcade_cluster_redis_round_trip_seconds",
            "The last cluster heartbeat's round trip to Redis",
        )
        .unwrap();
        registry
            .register(Box::new(redis_round_trip.clone()))
            .unwrap();
        let queue_pairs = prometheus::IntCounter::new(
            "arcade_cluster_queue_pairs_total",
            "Matchmaking groups this instance took from the cluster's queues",
        )
        .unwrap();
        registry.register(Box::new(queue_pairs.clone())).unwrap();
        ClusterGauges {
            queue_pairs,
            instances_alive: gauge(
                "arcade_cluster_instances_alive",
                "Instances of the cluster whose heartbeat is alive",
            ),
            redis_up: gauge(
                "arcade_cluster_redis_up",
                "1 when Redis answered the last heartbeat",
            ),
            redis_round_trip,
            bus_dropped: gauge(
                "arcade_cluster_bus_dropped_total",
                "Cluster bus messages dropped (queue full or Redis down)",
            ),
        }
    }

    /// Records what a heartbeat saw.
    pub fn record(&self, alive: u64, up: bool, round_trip: std::time::Duration, dropped: u64) {
        self.instances_alive.set(alive as i64);
        self.redis_up.set(i64::from(up));
        self.redis_round_trip.set(round_trip.as_secs_f64());
        self.bus_dropped.set(dropped as i64);
    }
}

/// `arcade_db_pool_*` and `arcade_db_breaker_open`: PostgreSQL's read pool and circuit
/// breaker, read from the store when `/metrics` is served (zero on SQLite).
pub struct DbGauges {
    /// `arcade_db_pool_size`: connections the pool holds open.
    pub pool_size: IntGauge,
    /// `arcade_db_pool_in_use`: connections lent to a read now.
    pub pool_in_use: IntGauge,
    /// `arcade_db_pool_idle`: open connections waiting in the pool.
    pub pool_idle: IntGauge,
    /// `arcade_db_breaker_open`: 1 while reads fail fast (PostgreSQL does not answer).
    pub breaker_open: IntGauge,
}

impl DbGauges {
    fn register(registry: &Registry) -> DbGauges {
        let gauge = |name: &str, help: &str| int_gauge(registry, name, help);
        DbGauges {
            pool_size: gauge(
                "arcade_db_pool_size",
                "PostgreSQL read pool: connections open",
            ),
            pool_in_use: gauge(
                "arcade_db_pool_in_use",
                "PostgreSQL read pool: connections lent to a read",
            ),
            pool_idle: gauge(
                "arcade_db_pool_idle",
                "PostgreSQL read pool: open connections waiting",
            ),
            breaker_open: gauge(
                "arcade_db_breaker_open",
                "1 while PostgreSQL reads fail fast (circuit breaker open)",
            ),
        }
    }

    /// Records the store's pool and breaker as they are now (never blocks).
    pub fn record(&self, store: &arcade_data::Store) {
        let pool = store.pool_status().unwrap_or_default();
        self.pool_size.set(pool.size as i64);
        self.pool_in_use.set(pool.in_use as i64);
        self.pool_idle.set(pool.idle as i64);
        self.breaker_open.set(i64::from(store.breaker_open()));
    }
}

/// Which way a frame went.
#[derive(Clone, Copy)]
pub enum Direction {
    In = 0,
    Out = 1,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        fn register<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
            r.register(Box::new(c.clone()))
                .expect("metric names are unique");
            c
        }
        let r = &registry;
        let http_requests = register(
            r,
            IntCounterVec::new(
                Opts::new("http_requests_total", "HTTP requests served"),
                &["method", "route", "status"],
            )
            .unwrap(),
        );
        let http_duration = register(
            r,
            HistogramVec::new(
                HistogramOpts::new("http_request_duration_seconds", "HTTP request latency"),
                &["method", "route", "status"],
            )
            .unwrap(),
        );
        let ws_connections = register(
            r,
            IntGauge::new(
                "websocket_connections_total",
                "WebSocket connections open now",
            )
            .unwrap(),
        );
        let net_workers_awake = int_gauge(
            r,
            "arcade_net_workers_awake",
            "Worker threads of the network runtime awake (the spare ones are held asleep)",
        );
        let password_hashes = register(
            r,
            IntCounter::new(
                "arcade_password_hashes_total",
                "Password hashes and verifications computed (argon2id)",
            )
            .unwrap(),
        );
        let tick_duration = register(
            r,
            Histogram::with_opts(
                HistogramOpts::new("arcade_tick_duration_seconds", "One simulation tick's work")
                    .buckets(FAST_BUCKETS.to_vec()),
            )
            .unwrap(),
        );
        let tick_overruns = register(
            r,
            IntCounter::new(
                "arcade_tick_overruns_total",
                "Ticks that missed their deadline",
            )
            .unwrap(),
        );
        let matches_active = register(
            r,
            IntGaugeVec::new(
                Opts::new("arcade_matches_active", "Live matches"),
                &["game", "phase"],
            )
            .unwrap(),
        );
        let players_connected = register(
            r,
            IntGauge::new("arcade_players_connected", "Connections seated in a match").unwrap(),
        );
        let spectators_connected = register(
            r,
            IntGauge::new(
                "arcade_spectators_connected",
                "Connections watching a match",
            )
            .unwrap(),
        );
        let ws_frames = register(
            r,
            IntCounterVec::new(
                Opts::new("arcade_ws_frames_total", "WebSocket frames"),
                &["direction", "codec"],
            )
            .unwrap(),
        );
        let ws_bytes = register(
            r,
            IntCounterVec::new(
                Opts::new("arcade_ws_bytes_total", "WebSocket payload bytes"),
                &["direction", "codec"],
            )
            .unwrap(),
        );
        let ws_dropped_frames = register(
            r,
            IntCounter::new(
                "arcade_ws_dropped_frames_total",
                "Stale state frames dropped for slow clients",
            )
            .unwrap(),
        );
        let inputs_rejected = register(
            r,
            IntCounterVec::new(
                Opts::new("arcade_inputs_rejected_total", "Inputs refused or dropped"),
                &["reason"],
            )
            .unwrap(),
        );
        let matches_finished = register(
            r,
            IntCounterVec::new(
                Opts::new("arcade_matches_finished_total", "Matches finished"),
                &["game", "reason"],
            )
            .unwrap(),
        );
        let db_write_duration = register(
            r,
            HistogramVec::new(
                HistogramOpts::new("arcade_db_write_duration_seconds", "Database write batches")
                    .buckets(FAST_BUCKETS.to_vec()),
                &["op"],
            )
            .unwrap(),
        );
        let by_direction = |vec: &IntCounterVec| {
            ["in", "out"].map(|direction| {
                CODEC_LABELS.map(|codec| vec.with_label_values(&[direction, codec]))
            })
        };
        // Series whose label values are known up front start at zero, so that dashboards and
        // alerts see them before the first event.
        for reason in INPUT_REJECT_REASONS {
            inputs_rejected.with_label_values(&[reason]);
        }
        for game in Game::ALL {
            for reason in END_REASONS {
                matches_finished.with_label_values(&[game.as_str(), reason.as_str()]);
            }
        }
        let cluster = ClusterGauges::register(r);
        let db = DbGauges::register(r);
        let frames_by = by_direction(&ws_frames);
        let bytes_by = by_direction(&ws_bytes);
        Metrics {
            registry,
            http_requests,
            http_duration,
            ws_connections,
            net_workers_awake,
            password_hashes,
            tick_duration,
            tick_overruns,
            matches_active,
            players_connected,
            spectators_connected,
            ws_dropped_frames,
            inputs_rejected,
            matches_finished,
            db_write_duration,
            tick_window: Default::default(),
            cluster,
            db,
            frames_by,
            bytes_by,
            tallies: ThreadLocal::new(),
            folded: Mutex::default(),
        }
    }

    /// Counts frames and their bytes: a compact connection's under `codec="compact"`.
    pub fn count_frames(
        &self,
        direction: Direction,
        codec: Codec,
        compact: bool,
        frames: u64,
        bytes: u64,
    ) {
        if frames == 0 {
            return;
        }
        let label = if compact {
            COMPACT_LABEL
        } else {
            codec.index()
        };
        let tally = self.tallies.get_or_default();
        let add = |count: &AtomicU64, more: u64| {
            count.store(count.load(Ordering::Relaxed) + more, Ordering::Relaxed);
        };
        add(&tally.frames[direction as usize][label], frames);
        add(&tally.bytes[direction as usize][label], bytes);
    }

    /// Adds to the frame and byte counters what the threads counted since the last render.
    fn fold_frame_tallies(&self) {
        // Summed under the lock: a render that summed earlier must not fold after this one.
        let mut folded = self.folded.lock().expect("metrics lock");
        let mut totals = FrameTotals::default();
        for tally in self.tallies.iter() {
            for (direction, by_codec) in totals.iter_mut().enumerate() {
                for (label, (frames, bytes)) in by_codec.iter_mut().enumerate() {
                    *frames += tally.frames[direction][label].load(Ordering::Relaxed);
                    *bytes += tally.bytes[direction][label].load(Ordering::Relaxed);
                }
            }
        }
        for (direction, by_codec) in totals.iter().enumerate() {
            for (label, &(frames, bytes)) in by_codec.iter().enumerate() {
                let (folded_frames, folded_bytes) = folded[direction][label];
                self.frames_by[direction][label].inc_by(frames.saturating_sub(folded_frames));
                self.bytes_by[direction][label].inc_by(bytes.saturating_sub(folded_bytes));
            }
        }
        *folded = totals;
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        self.fold_frame_tallies();
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the series `name{labels}` in `text`.
    fn series(text: &str, name_and_labels: &str) -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name_and_labels} in:\n{text}"))
    }

    #[test]
    fn frames_counted_on_several_threads_are_all_rendered_once() {
        let metrics = Metrics::new();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        metrics.count_frames(Direction::In, Codec::Json, false, 1, 10);
                    }
                    metrics.count_frames(Direction::Out, Codec::Msgpack, true, 3, 300);
                });
            }
        });
        let frames_in = r#"arcade_ws_frames_total{codec="json",direction="in"}"#;
        let bytes_in = r#"arcade_ws_bytes_total{codec="json",direction="in"}"#;
        let compact_out = r#"arcade_ws_frames_total{codec="compact",direction="out"}"#;
        let text = metrics.render();
        assert_eq!(series(&text, frames_in), 4000);
        assert_eq!(series(&text, bytes_in), 40_000);
        assert_eq!(series(&text, compact_out), 12);

        // A second render adds only what was counted since the first.
        metrics.count_frames(Direction::In, Codec::Json, false, 1, 10);
        let text = metrics.render();
        assert_eq!(series(&text, frames_in), 4001);
        assert_eq!(series(&text, bytes_in), 40_010);
        assert_eq!(series(&text, compact_out), 12);
    }
}
