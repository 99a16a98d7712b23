//! Criterion benches of the hot path of a tick, 1,000 matches at a time: the whole game
//! schedule per game and mode (bot-filled, in play), the struct-of-arrays Pong baseline, and
//! the bridge's `state` encoding in JSON and MessagePack.
//!
//! `cargo bench -p arcade-bench --bench hot_systems`

use std::hint::black_box;

use arcade_bench::ecs;
use arcade_bench::soa_pong::SoaPong;
use arcade_systems::bevy_ecs::prelude::Entity;
use arcade_systems::components::MatchInfo;
use arcade_systems::model::{Game, Mode};
use arcade_systems::view;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const MATCHES: usize = 1_000;
/// Past the countdown, with the balls in play.
const WARM_UP_TICKS: usize = 240;

fn game_schedule(c: &mut Criterion) {
    let mut group = c.benchmark_group("step_1000_matches");
    group.throughput(Throughput::Elements(MATCHES as u64));
    for (game, mode) in [
        (Game::Pong, Mode::OneVsOne),
        (Game::Pong, Mode::TwoVsTwo),
        (Game::Pong, Mode::VsBot),
        (Game::Breakout, Mode::Solo),
        (Game::Breakout, Mode::Versus),
    ] {
        let mut sim = ecs::bot_world(game, mode, MATCHES, 60);
        for _ in 0..WARM_UP_TICKS {
            sim.step();
        }
        group.bench_function(format!("{}_{}", game.as_str(), mode.as_str()), |b| {
            b.iter(|| sim.step())
        });
    }
    let mut soa = SoaPong::new(60);
    for n in 0..MATCHES as u64 {
        soa.add_match(n, 21, [true, true]);
    }
    for _ in 0..WARM_UP_TICKS {
        soa.step();
    }
    group.bench_function("soa_pong_1v1", |b| b.iter(|| soa.step()));
    group.finish();
}

fn state_encoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("serialize_state");
    for (game, mode) in [(Game::Pong, Mode::OneVsOne), (Game::Breakout, Mode::Versus)] {
        let mut sim = ecs::bot_world(game, mode, 1, 60);
        for _ in 0..WARM_UP_TICKS {
            sim.step();
        }
        let entity: Entity = sim
            .world
            .query::<(Entity, &MatchInfo)>()
            .iter(&sim.world)
            .next()
            .expect("a match")
            .0;
        let name = format!("{}_{}", game.as_str(), mode.as_str());
        group.bench_function(format!("{name}_json"), |b| {
            b.iter_batched_ref(
                || Vec::with_capacity(1024),
                |buf: &mut Vec<u8>| {
                    let mut serializer = serde_json::Serializer::new(&mut *buf);
                    view::serialize_state(&sim.world, entity, &mut serializer).unwrap();
                    black_box(buf.len())
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("{name}_msgpack"), |b| {
            b.iter_batched_ref(
                || Vec::with_capacity(1024),
                |buf: &mut Vec<u8>| {
                    let mut serializer = rmp_serde::Serializer::new(&mut *buf).with_struct_map();
                    view::serialize_state(&sim.world, entity, &mut serializer).unwrap();
                    black_box(buf.len())
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, game_schedule, state_encoding);
criterion_main!(benches);
