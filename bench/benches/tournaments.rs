//! Criterion benches of tournaments (issue 13): what 100 running tournaments add to a tick
//! (their 400 live matches stepped with and without the tournament link and its system
//! `forward_tournament_results`), and the pure bracket work of a 256-player bracket (a result
//! recorded, the standings, the view's JSON), which runs on tokio, never on the tick thread.
//!
//! `cargo bench -p arcade-bench --bench tournaments`

use std::hint::black_box;
use std::sync::Arc;

use arcade_net::link::Lobby;
use arcade_net::outbox::Outbox;
use arcade_net::tournament::tick::{self, Seating, TournamentMatchSpec, start_match_job};
use arcade_net::wire::codec::Codec;
use arcade_systems::model::{Game, MatchId, MatchOptions, Mode, PlayerId, PlayerRef};
use arcade_systems::sim::Simulation;
use arcade_systems::tick::SimConfig;
use arcade_systems::tournament::{Bracket, Format, Outcome, Rules};
use criterion::{Criterion, criterion_group, criterion_main};

/// Tournaments running at once.
const TOURNAMENTS: u64 = 100;
/// Live matches each (an 8-player bracket's first round).
const MATCHES_EACH: u64 = 4;
/// Past the countdown, with the balls in play.
const WARM_UP_TICKS: usize = 240;

/// A World with 400 live Pong 1v1 matches created by the tournament job, both players present;
/// `linked`: with the tournament link and its system installed (as the server runs).
fn world(linked: bool) -> Simulation {
    let mut sim = Simulation::new(SimConfig::default());
    sim.world.init_resource::<Lobby>();
    let receiver = linked.then(|| tick::install(&mut sim));
    // The runner's end stays open for the bench's life.
    std::mem::forget(receiver);
    let options = MatchOptions::default()
        .resolve(Game::Pong, Mode::OneVsOne)
        .unwrap();
    for n in 0..TOURNAMENTS * MATCHES_EACH {
        let seat = |p: u64| Seating {
            player: PlayerRef {
                id: PlayerId(p),
                name: format!("p{p}"),
            },
            conns: vec![(p, Arc::new(Outbox::new(Codec::Json)))],
        };
        let spec = TournamentMatchSpec {
            id: MatchId(n + 1),
            game: Game::Pong,
            mode: Mode::OneVsOne,
            options: options.clone(),
            seed: n,
            started_at_ms: 0,
        };
        start_match_job(spec, vec![seat(2 * n + 1), seat(2 * n + 2)])(&mut sim.world);
    }
    for _ in 0..WARM_UP_TICKS {
        sim.step();
    }
    sim
}

fn tick_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("tick_100_tournaments");
    let mut plain = world(false);
    group.bench_function("400_matches_unlinked", |b| b.iter(|| plain.step()));
    let mut linked = world(true);
    group.bench_function("400_matches_linked", |b| b.iter(|| linked.step()));
    group.finish();
}

fn bracket_256(c: &mut Criterion) {
    let players: Vec<(PlayerId, f64)> = (0..256)
        .map(|i| (PlayerId(i + 1), 1500.0 + i as f64))
        .collect();
    let rules = Rules {
        format: Format::SingleElimination,
        third_place: true,
        rounds: 0,
    };
    let bracket = Bracket::start(rules, &players).unwrap();
    let mut group = c.benchmark_group("bracket_256");
    group.bench_function("record_a_result", |b| {
        b.iter_batched(
            || bracket.clone(),
            |mut bracket| {
                let (index, _, _) = bracket.ready().next().unwrap();
                black_box(bracket.record(index, Outcome::Played { home: 3, away: 1 }))
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("standings", |b| b.iter(|| black_box(bracket.standings())));
    group.bench_function("bracket_json", |b| {
        b.iter(|| black_box(serde_json::to_vec(&bracket).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, tick_cost, bracket_256);
criterion_main!(benches);
