//! Breakout (GAMES.md "Breakout"): the numbers of the rules, the entities of a Breakout match,
//! and one system per rule, each run once per tick over every field of the World.
//!
//! A field is its seat entity: beside the [`SeatSlot`] and [`PlayerInput`] it holds the
//! [`FieldPaddle`], the [`FieldBall`], the [`BrickWall`], the [`FieldProgress`] and the
//! [`FieldRng`] of its launch angles. A versus match has two such seats, each on its own field
//! with the same seed and wall. The paddle and ball are Breakout's own components, so the Pong
//! systems never see them.
//!
//! ## Why the bricks are a bitmask, not 72 entities
//!
//! A wall is 6 rows of 12 bits ([`BrickWall`]), the very integers `state` sends. A ball's
//! sweep looks only at the bricks under the box its tick covers (at 700/s and 60 Hz that box
//! is about 24 × 24 units, so 1 to 4 bricks, found by arithmetic on the grid), and breaking a
//! brick clears a bit: no spawn, no despawn, no archetype move, and the snapshot copies six
//! integers. With one entity per brick, every ball would walk its field's 72 brick entities
//! (or keep a grid index of entities beside them) and every broken brick would be a despawn.
//! Measured (`cargo test --release -p arcade-systems -- --ignored --nocapture
//! bricks_as_bits_or_entities`: 2,000 fields with two thirds of their bricks standing, a ball
//! each flying through the wall at 700/s for 600 ticks, finding the first brick hit only):
//! 139 ns per ball-tick with the bits, 2,815 ns with 72 entities per field (20 times more, on
//! a loaded 2-core machine), the same hits found both ways. The whole Breakout tick of a
//! bot-filled match is 110 to 180 ns (solo) and 210 to 360 ns (versus, two fields), bots
//! included (`bot_filled_matches_tick` in `sim`).
//!
//! Balls move only while the match is `playing`.

use std::f32::consts::PI;

use bevy_ecs::prelude::*;

use crate::components::{
    BRICK_COLUMNS, BRICK_ROWS, BrickWall, EndCause, FieldBall, FieldPaddle, FieldProgress,
    FieldRng, InMatch, InPlay, MatchClock, MatchEnding, MatchInfo, MatchPhase, Outcome,
    PlayerInput, PongCourt, SeatSlot, Seats, Side, TimeLimit,
};
use crate::model::{EndReason, Game, Mode, Phase};
use crate::physics::{Aabb, Hit, Vec2, sweep_circle_aabb, time_to_plane, wall_ahead};
use crate::rng::SplitMix64;
use crate::tick::{MatchEvent, MatchEvents, SimConfig};

/// Field width and height (one field per player).
pub const FIELD_WIDTH: f32 = 800.0;
pub const FIELD_HEIGHT: f32 = 600.0;
/// Paddle size: 100 wide, 12 tall.
pub const PADDLE_WIDTH: f32 = 100.0;
pub const PADDLE_HEIGHT: f32 = 12.0;
/// The paddle's centre y.
pub const PADDLE_Y: f32 = 570.0;
/// Where the paddle's centre x starts.
pub const PADDLE_START_X: f32 = 400.0;
/// Paddle speed, units per second.
pub const PADDLE_SPEED: f32 = 520.0;
/// The paddle's centre x is clamped to [50, 750].
pub const PADDLE_X_MIN: f32 = 50.0;
pub const PADDLE_X_MAX: f32 = 750.0;
/// Ball radius.
pub const BALL_RADIUS: f32 = 6.0;
/// A resting ball's centre y: sitting on the paddle's top face.
pub const REST_Y: f32 = PADDLE_Y - PADDLE_HEIGHT / 2.0 - BALL_RADIUS;
/// A launch leaves at 380/s (× 1.1 per level) ...
pub const LAUNCH_SPEED: f32 = 380.0;
/// ... at an angle drawn from the seed in [-30°, 30°] from vertical.
pub const LAUNCH_MAX_ANGLE_DEGREES: f32 = 30.0;
/// A resting ball leaves by itself after 3 s.
pub const AUTO_LAUNCH_SECONDS: u32 = 3;
/// Bricks: 60 × 20, 4 apart; column 0's left edge at x = 18, row 0's top at y = 60.
pub const BRICK_WIDTH: f32 = 60.0;
pub const BRICK_HEIGHT: f32 = 20.0;
pub const BRICK_GAP: f32 = 4.0;
pub const WALL_LEFT: f32 = 18.0;
pub const WALL_TOP: f32 = 60.0;
/// Rows 0..5 from the top score 6, 5, 4, 3, 2, 1.
pub const ROW_VALUES: [u32; BRICK_ROWS] = [6, 5, 4, 3, 2, 1];
/// A brick hit multiplies the ball's speed by 1.02 ...
pub const BRICK_SPEEDUP: f32 = 1.02;
/// ... up to 700 units per second (also the cap of the base speed of high levels).
pub const MAX_BALL_SPEED: f32 = 700.0;
/// A paddle hit leaves at `(hitX - paddleX) / 50 * 60°` from vertical.
pub const HIT_MAX_ANGLE_DEGREES: f32 = 60.0;
/// Balls per field.
pub const LIVES: u32 = 3;
/// Each level's base speed is the last one's × 1.1.
pub const LEVEL_SPEEDUP: f32 = 1.1;
/// Versus ends when a field clears this level; a solo player who clears it wins.
pub const FINAL_LEVEL: u32 = 3;
/// More contacts than this in one tick end the tick's motion early (nothing is skipped: the
/// ball just stops short); a real tick has one or two.
const MAX_CONTACTS_PER_TICK: usize = 8;

/// The distance from one column's left edge to the next, and one row's top to the next.
const COLUMN_PITCH: f32 = BRICK_WIDTH + BRICK_GAP;
const ROW_PITCH: f32 = BRICK_HEIGHT + BRICK_GAP;

/// A new field: paddle centred, ball resting on it, a full wall, 3 lives, level 1.
pub(crate) fn starting_field(
    seed: u64,
    config: &SimConfig,
) -> (FieldPaddle, FieldBall, BrickWall, FieldProgress, FieldRng) {
    let paddle = FieldPaddle { x: PADDLE_START_X };
    (
        paddle,
        resting_ball(paddle.x, config),
        BrickWall::FULL,
        FieldProgress {
            score: 0,
            lives: LIVES,
            level: 1,
        },
        FieldRng(SplitMix64::new(seed)),
    )
}

/// A ball resting on a paddle at `x`, its 3 s starting now.
fn resting_ball(x: f32, config: &SimConfig) -> FieldBall {
    FieldBall {
        x,
        y: REST_Y,
        vx: 0.0,
        vy: 0.0,
        resting: true,
        rest_left: config.ticks(AUTO_LAUNCH_SECONDS),
    }
}

/// GAMES.md breakout "level": the launch speed of a level, 380 × 1.1^(level − 1), capped at
/// 700 (multiplied step by step, the same on every platform).
pub fn base_speed(level: u32) -> f32 {
    let mut speed = LAUNCH_SPEED;
    for _ in 1..level.min(64) {
        speed = (speed * LEVEL_SPEEDUP).min(MAX_BALL_SPEED);
    }
    speed
}

/// The rectangle of the brick at `row`, `column`.
pub fn brick_rect(row: usize, column: usize) -> Aabb {
    let min = Vec2::new(
        WALL_LEFT + column as f32 * COLUMN_PITCH,
        WALL_TOP + row as f32 * ROW_PITCH,
    );
    Aabb {
        min,
        max: Vec2::new(min.x + BRICK_WIDTH, min.y + BRICK_HEIGHT),
    }
}

/// The paddle's rectangle at centre x.
fn paddle_rect(x: f32) -> Aabb {
    Aabb::from_centre(
        Vec2::new(x, PADDLE_Y),
        PADDLE_WIDTH / 2.0,
        PADDLE_HEIGHT / 2.0,
    )
}

/// GAMES.md breakout "paddle": 520/s along the held `axis`, the centre clamped to [50, 750]
/// (the fields of matches in play: [`InPlay`]).
pub(crate) fn move_field_paddles(
    config: Res<SimConfig>,
    mut paddles: Query<(&PlayerInput, &mut FieldPaddle), With<InPlay>>,
) {
    let step = PADDLE_SPEED * config.tick_seconds();
    paddles.iter_mut().for_each(|(input, mut paddle)| {
        if input.axis == 0.0 {
            return;
        }
        let x = (paddle.x + input.axis * step).clamp(PADDLE_X_MIN, PADDLE_X_MAX);
        if x != paddle.x {
            paddle.x = x;
        }
    });
}

/// GAMES.md breakout "ball": a ball rests on the paddle (moving with it) until the player
/// sends `launch` or 3 s of play pass, then leaves upward at the level's base speed
/// ([`base_speed`]) at an angle drawn from the field's seed in [-30°, 30°] from vertical.
/// `launch` is consumed by the first playing tick after it applies, resting ball or not; a
/// field out of lives launches nothing.
pub(crate) fn launch_balls(
    mut fields: Query<
        (
            &mut PlayerInput,
            &FieldPaddle,
            &mut FieldBall,
            &FieldProgress,
            &mut FieldRng,
        ),
        With<InPlay>,
    >,
) {
    fields
        .iter_mut()
        .for_each(|(mut input, paddle, mut ball, progress, mut rng)| {
            let launch = input.launch;
            if launch {
                input.launch = false;
            }
            if !ball.resting || progress.lives == 0 {
                return;
            }
            let ball = &mut *ball;
            ball.x = paddle.x;
            ball.y = REST_Y;
            ball.rest_left = ball.rest_left.saturating_sub(1);
            if launch || ball.rest_left == 0 {
                launch_ball(ball, progress.level, &mut rng.0);
            }
        });
}

/// Sends a resting ball up at the level's base speed, at an angle drawn from the field's
/// PRNG. Kept out of line: a ball is launched once a life.
#[inline(never)]
fn launch_ball(ball: &mut FieldBall, level: u32, rng: &mut SplitMix64) {
    let max = LAUNCH_MAX_ANGLE_DEGREES.to_radians();
    let angle = rng.range_f32(-max, max);
    let speed = base_speed(level);
    ball.vx = speed * angle.sin();
    ball.vy = -speed * angle.cos();
    ball.resting = false;
}

/// What one tick of a ball's flight broke.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Broken {
    /// (row, column) of each brick broken, in order.
    pub bricks: [(u8, u8); MAX_CONTACTS_PER_TICK],
    /// How many of `bricks` are real.
    pub count: usize,
}

impl Broken {
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.bricks[..self.count]
            .iter()
            .map(|&(row, column)| (usize::from(row), usize::from(column)))
    }
}

/// What `move_field_balls` reads and writes of a field.
type FlyingField<'a> = (
    &'a InMatch,
    &'a SeatSlot,
    &'a FieldPaddle,
    &'a mut FieldBall,
    &'a mut BrickWall,
    &'a mut FieldProgress,
);

/// GAMES.md breakout "brick hit", "brick value", "paddle hit" and "walls", swept over the
/// tick (GAMES.md: no tunnelling): the ball travels `v / tickRate` against the left, right
/// and top walls, its paddle and the live bricks under the box it covers, and bounces at each
/// contact on the way. A brick it touches breaks and scores its row's value (6 for row 0 down
/// to 1 for row 5); the ball reflects off the face it hit (about the corner's normal at a
/// corner) and speeds up × 1.02, capped at 700/s.
pub(crate) fn move_field_balls(
    config: Res<SimConfig>,
    mut events: ResMut<MatchEvents>,
    matches: Query<(&MatchInfo, &MatchClock)>,
    mut fields: Query<FlyingField, With<InPlay>>,
) {
    let dt = config.tick_seconds();
    for (in_match, slot, paddle, mut ball, mut wall, mut progress) in &mut fields {
        if ball.resting {
            continue;
        }
        let broken = fly(&mut ball, dt, paddle.x, &mut wall);
        if broken.count == 0 {
            continue;
        }
        let Ok((info, clock)) = matches.get(in_match.0) else {
            continue;
        };
        for (row, column) in broken.iter() {
            progress.score += ROW_VALUES[row];
            events.list.push((
                in_match.0,
                info.id,
                clock.tick,
                MatchEvent::Brick {
                    seat: slot.seat,
                    row: row as u8,
                    column: column as u8,
                    score: progress.score,
                },
            ));
        }
    }
}

/// Announces one event of a field's match (none when the match is gone). Kept out of line:
/// the passes that call it announce on few ticks.
#[inline(never)]
fn announce(
    events: &mut MatchEvents,
    matches: &Query<(&MatchInfo, &MatchClock)>,
    match_entity: Entity,
    event: MatchEvent,
) {
    if let Ok((info, clock)) = matches.get(match_entity) {
        events.list.push((match_entity, info.id, clock.tick, event));
    }
}

/// What the ball touches first in what is left of a tick.
enum Contact {
    None,
    /// The left or right wall: vx reflects.
    SideWall,
    /// The top wall: vy reflects.
    TopWall,
    Paddle(Hit),
    Brick(usize, usize, Hit),
}

/// Moves a ball through one tick of `dt` seconds, bouncing off walls, paddle and bricks, and
/// breaking the bricks it hits; returns them.
pub(crate) fn fly(ball: &mut FieldBall, dt: f32, paddle_x: f32, wall: &mut BrickWall) -> Broken {
    let mut broken = Broken::default();
    let mut position = Vec2::new(ball.x, ball.y);
    let mut velocity = Vec2::new(ball.vx, ball.vy);
    let mut time_left = dt;
    let paddle = paddle_rect(paddle_x);
    let mut after_paddle = false;
    for _ in 0..MAX_CONTACTS_PER_TICK {
        let motion = velocity * time_left;
        let mut first_t = 1.0;
        let mut contact = Contact::None;

        if let Some(side) = wall_ahead(velocity.x, BALL_RADIUS, FIELD_WIDTH - BALL_RADIUS) {
            let t = time_to_plane(position.x, motion.x, side);
            if t <= first_t {
                first_t = t;
                contact = Contact::SideWall;
            }
        }
        if velocity.y < 0.0 {
            let t = time_to_plane(position.y, motion.y, BALL_RADIUS);
            if t <= first_t {
                first_t = t;
                contact = Contact::TopWall;
            }
        }
        if !after_paddle
            && let Some(hit) = sweep_circle_aabb(position, motion, BALL_RADIUS, paddle)
            && hit.t <= first_t
        {
            first_t = hit.t;
            contact = Contact::Paddle(hit);
        }
        if let Some((row, column, hit)) = first_brick(wall, position, motion, first_t) {
            first_t = hit.t;
            contact = Contact::Brick(row, column, hit);
        }

        position = position + motion * first_t;
        time_left *= 1.0 - first_t;
        after_paddle = false;
        match contact {
            Contact::None => break,
            Contact::SideWall => velocity.x = -velocity.x,
            Contact::TopWall => velocity.y = -velocity.y,
            Contact::Paddle(hit) => {
                velocity = bounce_off_paddle(velocity, &hit, paddle_x);
                after_paddle = true;
            }
            Contact::Brick(row, column, hit) => {
                wall.remove(row, column);
                broken.bricks[broken.count] = (row as u8, column as u8);
                broken.count += 1;
                velocity = bounce_off_brick(velocity, &hit);
            }
        }
        if time_left <= 0.0 {
            break;
        }
    }
    ball.x = position.x;
    ball.y = position.y;
    ball.vx = velocity.x;
    ball.vy = velocity.y;
    broken
}

/// The live brick the ball touches first within `before` of this motion, if any. Only the
/// bricks under the box the ball covers on its way are swept (grid arithmetic, no search).
/// Public for the bench that compares it with bricks as entities (`bench/benches/bricks.rs`).
pub fn first_brick(
    wall: &BrickWall,
    start: Vec2,
    motion: Vec2,
    before: f32,
) -> Option<(usize, usize, Hit)> {
    let end = start + motion;
    let (min_x, max_x) = (
        start.x.min(end.x) - BALL_RADIUS,
        start.x.max(end.x) + BALL_RADIUS,
    );
    let (min_y, max_y) = (
        start.y.min(end.y) - BALL_RADIUS,
        start.y.max(end.y) + BALL_RADIUS,
    );
    // A brick overlaps [min, max] only if its index lies in [floor((min - origin) / pitch),
    // floor((max - origin) / pitch)].
    let cell = |value: f32, origin: f32, pitch: f32| ((value - origin) / pitch).floor();
    let first_column = cell(min_x, WALL_LEFT, COLUMN_PITCH).max(0.0);
    let last_column = cell(max_x, WALL_LEFT, COLUMN_PITCH).min(BRICK_COLUMNS as f32 - 1.0);
    let first_row = cell(min_y, WALL_TOP, ROW_PITCH).max(0.0);
    let last_row = cell(max_y, WALL_TOP, ROW_PITCH).min(BRICK_ROWS as f32 - 1.0);
    if first_column > last_column || first_row > last_row {
        return None;
    }
    let (first_column, last_column) = (first_column as usize, last_column as usize);
    let columns = ((1u16 << (last_column + 1)) - 1) & !((1u16 << first_column) - 1);
    let mut best: Option<(usize, usize, Hit)> = None;
    let mut best_t = before;
    for row in first_row as usize..=last_row as usize {
        let mut live = wall.rows[row] & columns;
        while live != 0 {
            let column = live.trailing_zeros() as usize;
            live &= live - 1;
            if let Some(hit) =
                sweep_circle_aabb(start, motion, BALL_RADIUS, brick_rect(row, column))
                && hit.t <= best_t
            {
                best_t = hit.t;
                best = Some((row, column, hit));
            }
        }
    }
    best
}

/// GAMES.md breakout "paddle hit": the ball leaves upward at `(hitX - paddleX) / 50 * 60°`
/// from vertical, at the speed it came. `hitX` is where it touches the paddle.
pub(crate) fn bounce_off_paddle(velocity: Vec2, hit: &Hit, paddle_x: f32) -> Vec2 {
    let speed = velocity.length();
    let offset = ((hit.contact.x - paddle_x) / (PADDLE_WIDTH / 2.0)).clamp(-1.0, 1.0);
    let angle = offset * HIT_MAX_ANGLE_DEGREES * (PI / 180.0);
    Vec2::new(speed * angle.sin(), -speed * angle.cos())
}

/// GAMES.md breakout "brick hit": the ball reflects off the face it hit (vy off a top or
/// bottom face, vx off a side), about the corner's normal at a corner, and speeds up × 1.02,
/// capped at 700/s. A corner never sends it flatter than the paddle's steepest angle (60°
/// from vertical), so that no ball crawls sideways between the walls.
pub(crate) fn bounce_off_brick(velocity: Vec2, hit: &Hit) -> Vec2 {
    let speed = velocity.length();
    if speed == 0.0 {
        return velocity;
    }
    let n = hit.normal;
    let mut out = velocity - n * (2.0 * velocity.dot(n));
    let min_vy = speed * (HIT_MAX_ANGLE_DEGREES * PI / 180.0).cos();
    let corner = n.x != 0.0 && n.y != 0.0;
    if corner && out.y.abs() < min_vy {
        // Keep the side it was going to (off the corner), at the steepest allowed angle.
        let down = if out.y != 0.0 { out.y > 0.0 } else { n.y > 0.0 };
        let right = if out.x != 0.0 { out.x > 0.0 } else { n.x > 0.0 };
        let (sin, cos) = (HIT_MAX_ANGLE_DEGREES * PI / 180.0).sin_cos();
        out = Vec2::new(
            if right { speed * sin } else { -speed * sin },
            if down { speed * cos } else { -speed * cos },
        );
    }
    let faster = (speed * BRICK_SPEEDUP).min(MAX_BALL_SPEED);
    out * (faster / speed)
}

/// GAMES.md breakout "walls" and "lives": a ball past the bottom (centre y > 600) is lost; it
/// costs a life, and the next ball rests on the paddle (for 3 s, or until `launch`). The last
/// life lost leaves the field out: its ball rests and is never launched.
pub(crate) fn lose_balls(
    config: Res<SimConfig>,
    mut events: ResMut<MatchEvents>,
    matches: Query<(&MatchInfo, &MatchClock)>,
    mut fields: Query<(
        &InMatch,
        &SeatSlot,
        &FieldPaddle,
        &mut FieldBall,
        &mut FieldProgress,
    )>,
) {
    fields
        .iter_mut()
        .for_each(|(in_match, slot, paddle, mut ball, mut progress)| {
            if ball.resting || ball.y <= FIELD_HEIGHT {
                return;
            }
            progress.lives = progress.lives.saturating_sub(1);
            *ball = resting_ball(paddle.x, &config);
            let lost = MatchEvent::LifeLost {
                seat: slot.seat,
                lives: progress.lives,
            };
            announce(&mut events, &matches, in_match.0, lost);
        });
}

/// GAMES.md breakout "level": when every brick is gone, a fresh wall appears and the level
/// goes up (its base speed × 1.1). The ball goes back to rest on the paddle, and the next
/// launch leaves at the new base speed.
pub(crate) fn advance_levels(
    config: Res<SimConfig>,
    mut events: ResMut<MatchEvents>,
    matches: Query<(&MatchInfo, &MatchClock)>,
    mut fields: Query<(
        &InMatch,
        &SeatSlot,
        &FieldPaddle,
        &mut FieldBall,
        &mut BrickWall,
        &mut FieldProgress,
    )>,
) {
    for (in_match, slot, paddle, mut ball, mut wall, mut progress) in &mut fields {
        if !wall.is_empty() {
            continue;
        }
        *wall = BrickWall::FULL;
        progress.level += 1;
        *ball = resting_ball(paddle.x, &config);
        let level = MatchEvent::Level {
            seat: slot.seat,
            level: progress.level,
        };
        announce(&mut events, &matches, in_match.0, level);
    }
}

/// The winner of a versus match by score: higher score wins, equal scores draw.
fn by_score(scores: [u32; 2]) -> Outcome {
    match scores[0].cmp(&scores[1]) {
        std::cmp::Ordering::Greater => Outcome::Won(Side::Left),
        std::cmp::Ordering::Less => Outcome::Won(Side::Right),
        std::cmp::Ordering::Equal => Outcome::Draw,
    }
}

/// The scores, lives and levels of a match's fields, `[p1, p2]` (p2 empty in solo).
fn fields_of(seats: &Seats, fields: &Query<&FieldProgress>) -> [Option<FieldProgress>; 2] {
    let mut out = [None; 2];
    for (slot, seat) in out.iter_mut().zip(seats.entities()) {
        *slot = fields.get(*seat).ok().copied();
    }
    out
}

/// GAMES.md breakout versus "timeLimit" (default 180 s): the match ends on `time` when its
/// playing time runs out (countdowns and pauses do not count); higher score wins.
pub(crate) fn end_on_time_limit(
    mut matches: Query<(&mut TimeLimit, &mut MatchPhase, &mut MatchEnding, &Seats)>,
    fields: Query<&FieldProgress>,
) {
    matches
        .iter_mut()
        .for_each(|(mut limit, mut phase, mut ending, seats)| {
            if phase.phase != Phase::Playing {
                return;
            }
            limit.ticks_left = limit.ticks_left.saturating_sub(1);
            if limit.ticks_left > 0 {
                return;
            }
            let [p1, p2] = fields_of(seats, &fields);
            let score = |f: Option<FieldProgress>| f.map_or(0, |f| f.score);
            phase.phase = Phase::Finished;
            *ending = MatchEnding::Pending(EndCause::Ended {
                reason: EndReason::Time,
                outcome: by_score([score(p1), score(p2)]),
            });
        });
}

/// GAMES.md breakout modes: `solo` ends when the lives run out (reason `lives`; the player
/// wins if they had cleared level 3 by then, else loses: GAMES.md "Decisions"); `versus` ends
/// when either field clears level 3 (`cleared`) or both are out of lives (`lives`), and the
/// higher score wins, equal scores draw.
pub(crate) fn end_breakout_matches(
    mut matches: Query<(&MatchInfo, &mut MatchPhase, &mut MatchEnding, &Seats), Without<PongCourt>>,
    fields: Query<&FieldProgress>,
) {
    matches
        .iter_mut()
        .for_each(|(info, mut phase, mut ending, seats)| {
            if info.game != Game::Breakout || phase.phase != Phase::Playing {
                return;
            }
            let [Some(p1), p2] = fields_of(seats, &fields) else {
                return;
            };
            let (reason, outcome) = match (info.mode, p2) {
                (Mode::Versus, Some(p2)) => {
                    let outcome = by_score([p1.score, p2.score]);
                    if p1.level > FINAL_LEVEL || p2.level > FINAL_LEVEL {
                        (EndReason::Cleared, outcome)
                    } else if p1.lives == 0 && p2.lives == 0 {
                        (EndReason::Lives, outcome)
                    } else {
                        return;
                    }
                }
                _ if p1.lives == 0 => {
                    // Solo: p1 is the left side; the right side "wins" when p1 loses.
                    let winner = if p1.level > FINAL_LEVEL {
                        Side::Left
                    } else {
                        Side::Right
                    };
                    (EndReason::Lives, Outcome::Won(winner))
                }
                _ => return,
            };
            phase.phase = Phase::Finished;
            *ending = MatchEnding::Pending(EndCause::Ended { reason, outcome });
        });
}

#[cfg(test)]
mod tests {
    use bevy_ecs::system::RunSystemOnce;

    use super::*;
    use crate::components::MatchEnding;
    use crate::testkit::{events, playing_breakout, seats, set_phase, simulation};

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-3
    }

    fn field(world: &World, game: Entity) -> Entity {
        seats(world, game)[0]
    }

    fn ball(world: &World, seat: Entity) -> FieldBall {
        *world.get::<FieldBall>(seat).unwrap()
    }

    fn progress(world: &World, seat: Entity) -> FieldProgress {
        *world.get::<FieldProgress>(seat).unwrap()
    }

    /// A solo field in play with its ball flying at this position and velocity.
    fn flying(world: &mut World, x: f32, y: f32, vx: f32, vy: f32) -> (Entity, Entity) {
        let game = playing_breakout(world, Mode::Solo, 3);
        let seat = field(world, game);
        *world.get_mut::<FieldBall>(seat).unwrap() = FieldBall {
            x,
            y,
            vx,
            vy,
            resting: false,
            rest_left: 0,
        };
        (game, seat)
    }

    fn set_wall(world: &mut World, seat: Entity, wall: BrickWall) {
        *world.get_mut::<BrickWall>(seat).unwrap() = wall;
    }

    /// A wall with only these bricks.
    fn only(bricks: &[(usize, usize)]) -> BrickWall {
        let mut wall = BrickWall::EMPTY;
        for &(row, column) in bricks {
            wall.rows[row] |= 1 << column;
        }
        wall
    }

    #[test]
    fn the_wall_is_12_columns_by_6_rows_with_its_first_brick_at_18_60() {
        assert_eq!(BrickWall::FULL.count(), 72);
        assert_eq!(
            brick_rect(0, 0),
            Aabb {
                min: Vec2::new(18.0, 60.0),
                max: Vec2::new(78.0, 80.0)
            }
        );
        let last = brick_rect(5, 11);
        assert_eq!(
            (last.min.x, last.min.y),
            (18.0 + 11.0 * 64.0, 60.0 + 5.0 * 24.0)
        );
        assert_eq!(last.max.x, 782.0, "the wall is centred: 18 on either side");
    }

    #[test]
    fn paddles_move_at_520_per_second_and_clamp_to_50_and_750() {
        let mut sim = simulation(10);
        let world = &mut sim.world;
        let game = playing_breakout(world, Mode::Solo, 1);
        let seat = field(world, game);
        world.get_mut::<PlayerInput>(seat).unwrap().axis = 0.5;
        world.run_system_once(move_field_paddles).unwrap();
        assert!(close(world.get::<FieldPaddle>(seat).unwrap().x, 426.0));
        world.get_mut::<PlayerInput>(seat).unwrap().axis = 1.0;
        for _ in 0..10 {
            world.run_system_once(move_field_paddles).unwrap();
        }
        assert_eq!(world.get::<FieldPaddle>(seat).unwrap().x, PADDLE_X_MAX);
        world.get_mut::<PlayerInput>(seat).unwrap().axis = -1.0;
        for _ in 0..20 {
            world.run_system_once(move_field_paddles).unwrap();
        }
        assert_eq!(world.get::<FieldPaddle>(seat).unwrap().x, PADDLE_X_MIN);
        set_phase(world, game, Phase::Countdown);
        world.run_system_once(move_field_paddles).unwrap();
        assert_eq!(world.get::<FieldPaddle>(seat).unwrap().x, PADDLE_X_MIN);
    }

    #[test]
    fn a_resting_ball_rides_the_paddle_and_launch_sends_it_up_at_380_within_30_degrees() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let mut steepest: f32 = 0.0;
        for seed in 0..200 {
            let game = playing_breakout(world, Mode::Solo, seed);
            let seat = field(world, game);
            world.get_mut::<FieldPaddle>(seat).unwrap().x = 300.0;
            world.run_system_once(launch_balls).unwrap();
            let resting = ball(world, seat);
            assert!(resting.resting);
            assert_eq!((resting.x, resting.y), (300.0, REST_Y));
            world.get_mut::<PlayerInput>(seat).unwrap().launch = true;
            world.run_system_once(launch_balls).unwrap();
            let launched = ball(world, seat);
            assert!(!launched.resting);
            assert!(!world.get::<PlayerInput>(seat).unwrap().launch, "consumed");
            assert!(close(launched.vx.hypot(launched.vy), LAUNCH_SPEED));
            assert!(launched.vy < 0.0);
            let angle = launched.vx.atan2(-launched.vy).to_degrees();
            assert!(angle.abs() <= LAUNCH_MAX_ANGLE_DEGREES, "{angle}");
            steepest = steepest.max(angle.abs());
        }
        assert!(steepest > 29.0, "the angle is drawn over the whole range");
    }

    #[test]
    fn the_same_seed_launches_at_the_same_angle_on_both_versus_fields() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = playing_breakout(world, Mode::Versus, 9);
        let [p1, p2] = seats(world, game)[..] else {
            panic!("two fields")
        };
        for seat in [p1, p2] {
            world.get_mut::<PlayerInput>(seat).unwrap().launch = true;
        }
        world.run_system_once(launch_balls).unwrap();
        assert_eq!(ball(world, p1), ball(world, p2));
        assert_eq!(
            world.get::<BrickWall>(p1).unwrap(),
            world.get::<BrickWall>(p2).unwrap()
        );
    }

    #[test]
    fn a_resting_ball_leaves_by_itself_after_3_seconds_and_not_when_out_of_lives() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = playing_breakout(world, Mode::Solo, 1);
        let out = playing_breakout(world, Mode::Solo, 2);
        let (seat, out_seat) = (field(world, game), field(world, out));
        world.get_mut::<FieldProgress>(out_seat).unwrap().lives = 0;
        for _ in 1..180 {
            world.run_system_once(launch_balls).unwrap();
            assert!(ball(world, seat).resting);
        }
        world.run_system_once(launch_balls).unwrap();
        assert!(!ball(world, seat).resting);
        world.get_mut::<PlayerInput>(out_seat).unwrap().launch = true;
        for _ in 0..200 {
            world.run_system_once(launch_balls).unwrap();
        }
        assert!(ball(world, out_seat).resting);
        // Nothing counts down before play.
        let waiting = playing_breakout(world, Mode::Solo, 3);
        set_phase(world, waiting, Phase::Countdown);
        let waiting_seat = field(world, waiting);
        world.get_mut::<PlayerInput>(waiting_seat).unwrap().launch = true;
        world.run_system_once(launch_balls).unwrap();
        assert!(ball(world, waiting_seat).resting);
        assert_eq!(ball(world, waiting_seat).rest_left, 180);
    }

    #[test]
    fn left_right_and_top_walls_reflect() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let (_, left) = flying(world, 8.0, 300.0, -300.0, -120.0);
        let (_, right) = flying(world, 792.0, 300.0, 300.0, 120.0);
        let (_, top) = flying(world, 400.0, 8.0, 60.0, -300.0);
        for seat in [left, right, top] {
            set_wall(world, seat, BrickWall::EMPTY);
        }
        world.run_system_once(move_field_balls).unwrap();
        let after = ball(world, left);
        assert_eq!((after.vx, after.vy), (300.0, -120.0));
        assert!(close(after.x, BALL_RADIUS + 3.0), "{after:?}");
        assert_eq!(ball(world, right).vx, -300.0);
        let after = ball(world, top);
        assert_eq!((after.vx, after.vy), (60.0, 300.0));
        assert!(close(after.y, BALL_RADIUS + 3.0), "{after:?}");
    }

    #[test]
    fn a_paddle_hit_leaves_at_the_offset_angle_from_vertical() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        // Falling onto the paddle (centre 400) at x = 425: (25 / 50) * 60° = 30° to the right.
        let (_, offset) = flying(world, 425.0, REST_Y - 2.0, 0.0, 400.0);
        let (_, centre) = flying(world, 400.0, REST_Y - 2.0, 100.0, 400.0);
        world.run_system_once(move_field_balls).unwrap();
        let after = ball(world, offset);
        assert!(after.vy < 0.0);
        assert!(
            close(after.vx.atan2(-after.vy).to_degrees(), 30.0),
            "{after:?}"
        );
        assert!(
            close(after.vx.hypot(after.vy), 400.0),
            "no speed-up off the paddle"
        );
        let after = ball(world, centre);
        assert!(after.vy < 0.0);
        // It touched at x ≈ 400.5: almost straight up.
        assert!(after.vx.abs() < 10.0, "{after:?}");
    }

    #[test]
    fn a_brick_breaks_scores_its_row_and_the_ball_reflects_off_its_face_faster() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let rect = brick_rect(5, 3);
        // From below, into the bottom face.
        let (game, below) = flying(world, rect.min.x + 30.0, rect.max.y + 8.0, 0.0, -400.0);
        // From the left, into the left face of row 2's brick.
        let side = brick_rect(2, 6);
        let (_, beside) = flying(world, side.min.x - 8.0, side.min.y + 10.0, 400.0, 30.0);
        set_wall(world, below, only(&[(5, 3)]));
        set_wall(world, beside, only(&[(2, 6)]));
        world.run_system_once(move_field_balls).unwrap();

        let after = ball(world, below);
        assert!(after.vy > 0.0 && after.vx == 0.0, "{after:?}");
        assert!(close(after.vy, 400.0 * BRICK_SPEEDUP));
        assert!(world.get::<BrickWall>(below).unwrap().is_empty());
        assert_eq!(progress(world, below).score, 1, "row 5 scores 1");
        assert!(events(world, game).contains(&MatchEvent::Brick {
            seat: crate::model::Seat::P1,
            row: 5,
            column: 3,
            score: 1
        }));

        let after = ball(world, beside);
        assert!(after.vx < 0.0 && after.vy > 0.0, "{after:?}");
        assert!(close(
            after.vx.hypot(after.vy),
            400.0f32.hypot(30.0) * BRICK_SPEEDUP
        ));
        assert_eq!(progress(world, beside).score, 4, "row 2 scores 4");
    }

    #[test]
    fn each_row_scores_6_down_to_1_and_speed_caps_at_700() {
        for (row, value) in ROW_VALUES.iter().enumerate() {
            let mut sim = simulation(60);
            let world = &mut sim.world;
            let rect = brick_rect(row, 0);
            let (_, seat) = flying(world, rect.min.x + 30.0, rect.max.y + 8.0, 0.0, -695.0);
            set_wall(world, seat, only(&[(row, 0)]));
            world.run_system_once(move_field_balls).unwrap();
            assert_eq!(progress(world, seat).score, *value);
            assert!(close(ball(world, seat).vy, MAX_BALL_SPEED));
        }
    }

    #[test]
    fn a_ball_at_the_cap_never_tunnels_through_a_brick_column() {
        // Column 5 stands alone; balls at 700/s come at it from the left and from below at
        // many angles and offsets, at tick rates down to 2 Hz (350 units per tick).
        for tick_rate in [60, 20, 5, 2] {
            let travel = MAX_BALL_SPEED / tick_rate as f32;
            let mut sim = simulation(tick_rate);
            let world = &mut sim.world;
            let column = brick_rect(0, 5).min.x;
            let column_wall = only(&(0..6).map(|row| (row, 5)).collect::<Vec<_>>());
            let mut cases = Vec::new();
            for angle in [-50.0f32, -20.0, -5.0, 0.0, 5.0, 30.0, 60.0] {
                for y in [70.0, 100.0, 133.0, 160.0, 190.0] {
                    for step in 1..=4 {
                        let before = travel * step as f32 / 4.0;
                        let (sin, cos) = angle.to_radians().sin_cos();
                        let x = column - BALL_RADIUS - before * cos;
                        let start = Vec2::new(x, y - before * sin);
                        if start.x < BALL_RADIUS || !(BALL_RADIUS..590.0).contains(&start.y) {
                            continue;
                        }
                        let (_, seat) = flying(world, start.x, start.y, 700.0 * cos, 700.0 * sin);
                        set_wall(world, seat, column_wall);
                        cases.push((seat, start));
                    }
                }
            }
            assert!(cases.len() > 50);
            for _ in 0..3 {
                world.run_system_once(move_field_balls).unwrap();
                // No ball ever overlaps a brick that still stands.
                for (seat, start) in &cases {
                    let after = ball(world, *seat);
                    let centre = Vec2::new(after.x, after.y);
                    let wall = world.get::<BrickWall>(*seat).unwrap();
                    for row in (0..6).filter(|row| wall.has(*row, 5)) {
                        let rect = brick_rect(row, 5);
                        let gap = (centre - rect.clamp(centre)).length();
                        assert!(
                            gap >= BALL_RADIUS - 1e-3,
                            "{tick_rate} Hz from {start:?}: {after:?} in row {row}"
                        );
                    }
                }
            }
            // Every ball aimed at the column hit it: none went through.
            for (seat, start) in &cases {
                let broken = 6 - world.get::<BrickWall>(*seat).unwrap().count();
                assert!(broken >= 1, "{tick_rate} Hz from {start:?}");
            }
        }
        // From below at the cap: the lowest brick of the column breaks, never one above it.
        for tick_rate in [60, 2] {
            let mut sim = simulation(tick_rate);
            let world = &mut sim.world;
            let rect = brick_rect(5, 5);
            let (_, seat) = flying(world, rect.min.x + 30.0, 400.0, 0.0, -MAX_BALL_SPEED);
            set_wall(
                world,
                seat,
                only(&(0..6).map(|row| (row, 5)).collect::<Vec<_>>()),
            );
            for _ in 0..tick_rate {
                world.run_system_once(move_field_balls).unwrap();
                if ball(world, seat).vy > 0.0 {
                    break;
                }
            }
            let wall = world.get::<BrickWall>(seat).unwrap();
            assert!(
                !wall.has(5, 5) && wall.has(4, 5),
                "{tick_rate} Hz: {wall:?}"
            );
        }
    }

    #[test]
    fn corner_hits_reflect_sanely() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let rect = brick_rect(3, 4);
        // Straight at the bottom-left corner along the diagonal: straight back.
        let d = 8.0;
        let (_, diagonal) = flying(world, rect.min.x - d, rect.max.y + d, 300.0, -300.0);
        set_wall(world, diagonal, only(&[(3, 4)]));
        // Up into the seam between two neighbours: one breaks, the ball goes back down.
        let right_of_seam = brick_rect(3, 5);
        let seam_x = (rect.max.x + right_of_seam.min.x) / 2.0;
        let (_, seam) = flying(world, seam_x + 0.5, rect.max.y + 9.0, 20.0, -400.0);
        set_wall(world, seam, only(&[(3, 4), (3, 5)]));
        // A glancing touch on a corner: never flatter than 60° from vertical.
        let (_, glance) = flying(world, rect.min.x - 4.0, rect.max.y + 5.0, 400.0, -40.0);
        set_wall(world, glance, only(&[(3, 4)]));
        world.run_system_once(move_field_balls).unwrap();

        let after = ball(world, diagonal);
        assert!(after.vx < 0.0 && after.vy > 0.0, "{after:?}");
        assert!(close(after.vx, -after.vy), "{after:?}");
        assert!(close(
            after.vx.hypot(after.vy),
            300.0 * 2f32.sqrt() * BRICK_SPEEDUP
        ));

        let after = ball(world, seam);
        assert_eq!(world.get::<BrickWall>(seam).unwrap().count(), 1);
        assert!(after.vy > 0.0, "{after:?}");
        assert!(after.vy > after.vx.abs(), "mostly back down: {after:?}");

        let after = ball(world, glance);
        let speed = after.vx.hypot(after.vy);
        assert!(
            close(speed, 400.0f32.hypot(40.0) * BRICK_SPEEDUP),
            "{after:?}"
        );
        assert!(after.vy.abs() >= speed * 0.5 - 1e-3, "{after:?}");
        // Whatever the corner, the ball leaves the brick: it does not overlap it.
        for seat in [diagonal, seam, glance] {
            let after = ball(world, seat);
            let nearest = rect.clamp(Vec2::new(after.x, after.y));
            assert!((Vec2::new(after.x, after.y) - nearest).length() >= BALL_RADIUS - 1e-3);
        }
    }

    #[test]
    fn a_ball_past_the_bottom_costs_a_life_and_rests_the_next_on_the_paddle() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let (game, seat) = flying(world, 300.0, 600.5, 10.0, 300.0);
        let (_, on_the_line) = flying(world, 300.0, 600.0, 10.0, 300.0);
        world.get_mut::<FieldPaddle>(seat).unwrap().x = 650.0;
        world.run_system_once(lose_balls).unwrap();
        assert_eq!(progress(world, seat).lives, 2);
        let rested = ball(world, seat);
        assert!(rested.resting && rested.x == 650.0 && rested.y == REST_Y);
        assert_eq!(rested.rest_left, 180);
        assert_eq!(progress(world, on_the_line).lives, 3);
        assert!(events(world, game).contains(&MatchEvent::LifeLost {
            seat: crate::model::Seat::P1,
            lives: 2
        }));
    }

    #[test]
    fn a_cleared_wall_starts_a_new_level_with_a_faster_base_speed() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let rect = brick_rect(0, 0);
        let (game, seat) = flying(world, rect.min.x + 30.0, rect.max.y + 8.0, 0.0, -400.0);
        set_wall(world, seat, only(&[(0, 0)]));
        world.run_system_once(move_field_balls).unwrap();
        world.run_system_once(advance_levels).unwrap();
        assert_eq!(*world.get::<BrickWall>(seat).unwrap(), BrickWall::FULL);
        assert_eq!(progress(world, seat).level, 2);
        assert_eq!(progress(world, seat).score, 6);
        assert!(ball(world, seat).resting);
        assert!(events(world, game).contains(&MatchEvent::Level {
            seat: crate::model::Seat::P1,
            level: 2
        }));
        world.get_mut::<PlayerInput>(seat).unwrap().launch = true;
        world.run_system_once(launch_balls).unwrap();
        let launched = ball(world, seat);
        assert!(close(launched.vx.hypot(launched.vy), 418.0), "{launched:?}");
        assert!(close(base_speed(3), 459.8));
        assert_eq!(base_speed(30), MAX_BALL_SPEED);
    }

    fn ending(world: &World, game: Entity) -> MatchEnding {
        *world.get::<MatchEnding>(game).unwrap()
    }

    fn ended(reason: EndReason, outcome: Outcome) -> MatchEnding {
        MatchEnding::Pending(EndCause::Ended { reason, outcome })
    }

    fn set_progress(world: &mut World, seat: Entity, score: u32, lives: u32, level: u32) {
        *world.get_mut::<FieldProgress>(seat).unwrap() = FieldProgress {
            score,
            lives,
            level,
        };
    }

    #[test]
    fn solo_ends_when_the_lives_run_out_and_wins_only_past_level_3() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let playing = playing_breakout(world, Mode::Solo, 1);
        let lost = playing_breakout(world, Mode::Solo, 2);
        let cleared = playing_breakout(world, Mode::Solo, 3);
        set_progress(world, field(world, playing), 90, 1, 5);
        set_progress(world, field(world, lost), 90, 0, 3);
        set_progress(world, field(world, cleared), 900, 0, 4);
        world.run_system_once(end_breakout_matches).unwrap();
        assert_eq!(ending(world, playing), MatchEnding::Live);
        assert_eq!(
            ending(world, lost),
            ended(EndReason::Lives, Outcome::Won(Side::Right))
        );
        assert_eq!(
            ending(world, cleared),
            ended(EndReason::Lives, Outcome::Won(Side::Left))
        );
    }

    #[test]
    fn versus_ends_on_lives_or_a_cleared_level_3_and_the_higher_score_wins() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let cases = [
            // (p1 score, lives, level), (p2 ...), expected
            ((10, 0, 1), (20, 1, 1), MatchEnding::Live),
            (
                (10, 0, 1),
                (20, 0, 1),
                ended(EndReason::Lives, Outcome::Won(Side::Right)),
            ),
            (
                (15, 0, 2),
                (15, 0, 1),
                ended(EndReason::Lives, Outcome::Draw),
            ),
            (
                (300, 2, 4),
                (20, 3, 1),
                ended(EndReason::Cleared, Outcome::Won(Side::Left)),
            ),
        ];
        for (n, (a, b, expected)) in cases.into_iter().enumerate() {
            let game = playing_breakout(world, Mode::Versus, n as u64);
            let [p1, p2] = seats(world, game)[..] else {
                panic!("two fields")
            };
            set_progress(world, p1, a.0, a.1, a.2);
            set_progress(world, p2, b.0, b.1, b.2);
            world.run_system_once(end_breakout_matches).unwrap();
            assert_eq!(ending(world, game), expected, "case {n}");
        }
    }

    #[test]
    fn versus_ends_on_time_after_time_limit_seconds_of_play() {
        let mut sim = simulation(10);
        let world = &mut sim.world;
        let game = playing_breakout(world, Mode::Versus, 1);
        let [p1, p2] = seats(world, game)[..] else {
            panic!("two fields")
        };
        set_progress(world, p1, 3, 3, 1);
        set_progress(world, p2, 5, 3, 1);
        // The default 180 s at 10 Hz; paused ticks do not count.
        set_phase(world, game, Phase::Paused);
        world.run_system_once(end_on_time_limit).unwrap();
        set_phase(world, game, Phase::Playing);
        for _ in 1..1800 {
            world.run_system_once(end_on_time_limit).unwrap();
        }
        assert_eq!(ending(world, game), MatchEnding::Live);
        world.run_system_once(end_on_time_limit).unwrap();
        assert_eq!(
            ending(world, game),
            ended(EndReason::Time, Outcome::Won(Side::Right))
        );
    }
}
