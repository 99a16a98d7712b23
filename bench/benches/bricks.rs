//! Bricks as bits or as entities, timed on the main thread (a plain bench target, no
//! criterion): per ball and tick, the first brick a Breakout ball's motion hits, with the wall as
//! bits (the grid sweep the game uses) or as 72 entities per field. It prints ns per ball-tick of
//! each and checks that both find the same hits.
//!
//! `cargo bench -p arcade-bench --bench bricks`

use std::f32::consts::PI;

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::breakout::{BALL_RADIUS, MAX_BALL_SPEED, brick_rect, first_brick};
use arcade_systems::components::{BRICK_COLUMNS, BRICK_ROWS, BrickWall};
use arcade_systems::physics::{Aabb, Vec2, sweep_circle_aabb};
use arcade_systems::rng::SplitMix64;

/// Bricks in one field's wall (72).
const BRICKS: usize = BRICK_ROWS * BRICK_COLUMNS;
/// Fields (one ball each) timed.
const FIELDS: usize = 2_000;
/// Ticks timed per decomposition.
const TICKS: usize = 600;

/// One brick as an entity, for the comparison below.
#[derive(Component)]
struct BrickBody {
    /// Where the brick is.
    rect: Aabb,
    /// Whether it still stands (broken bricks are skipped, as the bits skip them).
    alive: bool,
}

/// The decomposition measured: per ball and tick, find the first brick the ball's motion
/// hits, with the wall as bits (the grid sweep the game uses) or as 72 entities per field
/// (each ball walking its field's bricks through a query). The balls bounce inside the
/// wall's box at 700/s, so both do real work every tick.
fn main() {
    let mut world = World::new();
    let mut walls = Vec::new();
    let mut bodies = Vec::new();
    let mut rng = SplitMix64::new(5);
    for _ in 0..FIELDS {
        let mut wall = BrickWall::FULL;
        let mut entities = [Entity::PLACEHOLDER; BRICKS];
        for (n, entity) in entities.iter_mut().enumerate() {
            let (row, column) = (n / BRICK_COLUMNS, n % BRICK_COLUMNS);
            let alive = !rng.next_u64().is_multiple_of(3);
            if !alive {
                wall.remove(row, column);
            }
            *entity = world
                .spawn(BrickBody {
                    rect: brick_rect(row, column),
                    alive,
                })
                .id();
        }
        walls.push(wall);
        bodies.push(entities);
    }
    let mut balls: Vec<(Vec2, Vec2)> = (0..FIELDS)
        .map(|_| {
            let angle = rng.range_f32(0.0, 2.0 * PI);
            (
                Vec2::new(rng.range_f32(30.0, 770.0), rng.range_f32(40.0, 240.0)),
                Vec2::new(angle.cos(), angle.sin()) * (MAX_BALL_SPEED / 60.0),
            )
        })
        .collect();
    let advance = |balls: &mut Vec<(Vec2, Vec2)>| {
        for (position, motion) in balls.iter_mut() {
            *position = *position + *motion;
            if !(10.0..790.0).contains(&position.x) {
                motion.x = -motion.x;
            }
            if !(40.0..260.0).contains(&position.y) {
                motion.y = -motion.y;
            }
        }
    };
    let mut query = world.query::<&BrickBody>();
    let mut hits = [0usize; 2];
    let start = balls.clone();
    let timer = std::time::Instant::now();
    for _ in 0..TICKS {
        for ((position, motion), wall) in balls.iter().zip(&walls) {
            hits[0] += usize::from(first_brick(wall, *position, *motion, 1.0).is_some());
        }
        advance(&mut balls);
    }
    let bits = timer.elapsed();
    balls = start;
    let timer = std::time::Instant::now();
    for _ in 0..TICKS {
        for ((position, motion), entities) in balls.iter().zip(&bodies) {
            let mut best = 1.0f32;
            let mut found = false;
            for entity in entities {
                let Ok(body) = query.get(&world, *entity) else {
                    continue;
                };
                if body.alive
                    && let Some(hit) = sweep_circle_aabb(*position, *motion, BALL_RADIUS, body.rect)
                    && hit.t <= best
                {
                    best = hit.t;
                    found = true;
                }
            }
            hits[1] += usize::from(found);
        }
        advance(&mut balls);
    }
    let entities = timer.elapsed();
    assert_eq!(hits[0], hits[1], "both find the same hits");
    let per = |d: std::time::Duration| d.as_nanos() as f64 / (FIELDS * TICKS) as f64;
    println!(
        "bricks as bits: {:.1} ns per ball-tick; as 72 entities: {:.1} ns per ball-tick ({} hits)",
        per(bits),
        per(entities),
        hits[0]
    );
}
