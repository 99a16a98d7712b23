//! Pong (GAMES.md "Pong"): the numbers of the rules, the entities of a Pong match, and one
//! system per rule, each run once per tick over every Pong match of the World.
//!
//! The paddles are the seat entities (a [`Paddle`] beside the [`SeatSlot`]), so a player's
//! input and paddle sit together; the ball ([`Ball`], [`Serve`]) is on the match entity, so
//! that the ball's rules walk the matches. Paddles and ball move only while the match is
//! `playing`.
//!
//! Every mode: 1v1, 2v2 (the front paddles collide on every face like the back ones; a ball
//! passes above or below a front paddle that is not in its way), and vs_bot, whose bot seat's
//! input is written by [`crate::bots`].

use std::f32::consts::PI;

use bevy_ecs::prelude::*;

use crate::components::{
    Ball, EndCause, InPlay, MAX_SEATS, MatchClock, MatchEnding, MatchInfo, MatchPhase, MatchRng,
    Outcome, Paddle, PaddleFreeLane, PlayerInput, PongCourt, Seats, Serve, Side, TeamScore,
};
use crate::model::{EndReason, Mode, Phase, Seat};
use crate::passes::read_first;
use crate::physics::{Aabb, Hit, Vec2, sweep_circle_aabb, time_to_plane, wall_ahead};
use crate::tick::{MatchEvent, MatchEvents, SimConfig};

/// Field width and height.
pub const FIELD_WIDTH: f32 = 800.0;
pub const FIELD_HEIGHT: f32 = 600.0;
/// Paddle size: 10 wide, 80 tall.
pub const PADDLE_WIDTH: f32 = 10.0;
pub const PADDLE_HEIGHT: f32 = 80.0;
/// Paddle centre x of the left and right (back) paddles.
pub const PADDLE_X_LEFT: f32 = 30.0;
pub const PADDLE_X_RIGHT: f32 = 770.0;
/// 2v2: the front paddles stand this much further in (x = 180 and 620).
pub const FRONT_PADDLE_OFFSET: f32 = 150.0;
/// Where every paddle's centre starts.
pub const PADDLE_START_Y: f32 = 300.0;
/// Paddle speed, units per second.
pub const PADDLE_SPEED: f32 = 420.0;
/// The paddle centre is clamped to [40, 560].
pub const PADDLE_Y_MIN: f32 = 40.0;
pub const PADDLE_Y_MAX: f32 = 560.0;
/// Ball radius.
pub const BALL_RADIUS: f32 = 7.0;
/// Where the ball starts and waits before a serve.
pub const BALL_START: Vec2 = Vec2::new(400.0, 300.0);
/// Serve speed, units per second.
pub const SERVE_SPEED: f32 = 360.0;
/// A serve leaves at an angle uniform in [-30°, 30°] from horizontal.
pub const SERVE_MAX_ANGLE_DEGREES: f32 = 30.0;
/// A paddle hit leaves at `(hitY - paddleY) / 40 * 60°` from horizontal.
pub const HIT_MAX_ANGLE_DEGREES: f32 = 60.0;
/// A paddle hit multiplies the ball's speed by 1.05 …
pub const HIT_SPEEDUP: f32 = 1.05;
/// … up to 900 units per second.
pub const MAX_BALL_SPEED: f32 = 900.0;
/// After a point the ball waits at the centre for 1 s before the serve.
pub const SERVE_WAIT_SECONDS: u32 = 1;
/// More contacts than this in one tick (a ball wedged between a paddle and a wall) end the
/// tick's motion early; a real tick has at most two or three.
const MAX_CONTACTS_PER_TICK: usize = 8;

/// The paddle of a seat at the start of a match.
pub(crate) fn starting_paddle(seat: Seat) -> Paddle {
    let x = match seat {
        Seat::LeftFront => PADDLE_X_LEFT + FRONT_PADDLE_OFFSET,
        Seat::RightFront => PADDLE_X_RIGHT - FRONT_PADDLE_OFFSET,
        seat => match Side::of(seat) {
            Side::Left => PADDLE_X_LEFT,
            Side::Right => PADDLE_X_RIGHT,
        },
    };
    Paddle {
        x,
        y: PADDLE_START_Y,
    }
}

/// Kept between the ball's reach over a tick and a [`PaddleFreeLane`]'s edges: far above the
/// rounding of a tick's motion.
const LANE_MARGIN: f32 = 1.0;

/// The [`PaddleFreeLane`] of a court with these seats' paddles: from the innermost left
/// paddle's face to the innermost right one's, the ball's radius and [`LANE_MARGIN`] in.
pub(crate) fn paddle_free_lane(seats: impl IntoIterator<Item = Seat>) -> PaddleFreeLane {
    let mut lane = PaddleFreeLane {
        min_x: f32::NEG_INFINITY,
        max_x: f32::INFINITY,
    };
    let reach = PADDLE_WIDTH / 2.0 + BALL_RADIUS + LANE_MARGIN;
    for seat in seats {
        let paddle = starting_paddle(seat);
        match side_of(&paddle) {
            Side::Left => lane.min_x = lane.min_x.max(paddle.x + reach),
            Side::Right => lane.max_x = lane.max_x.min(paddle.x - reach),
        }
    }
    lane
}

/// The side a paddle plays for: the half of the field it stands in (a seat's paddle never
/// moves along x, so this is its seat's side).
pub(crate) fn side_of(paddle: &Paddle) -> Side {
    if paddle.x < FIELD_WIDTH / 2.0 {
        Side::Left
    } else {
        Side::Right
    }
}

/// The ball of a new match, resting at the centre until the first serve, which goes toward
/// `first_serve` (drawn from the seed).
pub(crate) fn starting_ball(first_serve: Side) -> (Ball, Serve) {
    let ball = Ball {
        x: BALL_START.x,
        y: BALL_START.y,
        vx: 0.0,
        vy: 0.0,
    };
    let serve = Serve {
        pending: true,
        wait: 0,
        toward: first_serve,
    };
    (ball, serve)
}

/// The seat named as the scorer of a side's point: the side's first seat.
pub(crate) fn scoring_seat(mode: Mode, side: Side) -> Seat {
    match (mode, side) {
        (Mode::TwoVsTwo, Side::Left) => Seat::LeftBack,
        (Mode::TwoVsTwo, Side::Right) => Seat::RightBack,
        (_, Side::Left) => Seat::Left,
        (_, Side::Right) => Seat::Right,
    }
}

fn playing(phase: &MatchPhase) -> bool {
    phase.phase == Phase::Playing
}

/// GAMES.md pong "serve": 360/s at an angle uniform in [-30°, 30°] from horizontal, toward the
/// side drawn from the seed for the first serve and toward the side that conceded after a
/// point, once the ball has waited its ticks (60 at 60 Hz after a point, none for the first).
pub(crate) fn serve_ball(
    mut serves: Query<(Entity, &mut Serve, &MatchPhase, &mut MatchRng, &mut Ball)>,
    mut due: Local<Vec<Entity>>,
) {
    // In play a serve is rarely pending; a serve waits through the countdown.
    read_first(serves.iter(), &mut due, |(entity, serve, phase, _, _)| {
        (serve.pending && playing(phase)).then_some(entity)
    });
    for &entity in due.iter() {
        let Ok((_, mut serve, _, mut rng, mut ball)) = serves.get_mut(entity) else {
            continue;
        };
        if serve.wait > 0 {
            serve.wait -= 1;
            if serve.wait > 0 {
                continue;
            }
        }
        let max = SERVE_MAX_ANGLE_DEGREES.to_radians();
        let angle = rng.0.range_f32(-max, max);
        let direction = match serve.toward {
            Side::Left => -1.0,
            Side::Right => 1.0,
        };
        ball.vx = direction * SERVE_SPEED * angle.cos();
        ball.vy = SERVE_SPEED * angle.sin();
        serve.pending = false;
    }
}

/// GAMES.md pong "paddle speed": 420/s along the held `axis`, the centre clamped to [40, 560]
/// (the seats of matches in play: [`InPlay`]).
pub(crate) fn move_paddles(
    config: Res<SimConfig>,
    mut paddles: Query<(&PlayerInput, &mut Paddle), With<InPlay>>,
) {
    let step = PADDLE_SPEED * config.tick_seconds();
    paddles.iter_mut().for_each(|(input, mut paddle)| {
        if input.axis == 0.0 {
            return;
        }
        let y = (paddle.y + input.axis * step).clamp(PADDLE_Y_MIN, PADDLE_Y_MAX);
        if y != paddle.y {
            paddle.y = y;
        }
    });
}

/// A paddle as the ball's sweep sees it.
#[derive(Clone, Copy)]
struct PaddleBody {
    rect: Aabb,
    centre_y: f32,
    /// Toward the middle of the field: +1 for the left side's paddles (on the left half), −1
    /// for the right's: where "away" is off a top or bottom face.
    forward: f32,
}

impl PaddleBody {
    /// A placeholder for the unused slots of a fixed array.
    const EMPTY: PaddleBody = PaddleBody {
        rect: Aabb {
            min: Vec2::new(0.0, 0.0),
            max: Vec2::new(0.0, 0.0),
        },
        centre_y: 0.0,
        forward: 0.0,
    };

    fn of(paddle: &Paddle) -> PaddleBody {
        PaddleBody {
            rect: Aabb::from_centre(
                Vec2::new(paddle.x, paddle.y),
                PADDLE_WIDTH / 2.0,
                PADDLE_HEIGHT / 2.0,
            ),
            centre_y: paddle.y,
            forward: match side_of(paddle) {
                Side::Left => 1.0,
                Side::Right => -1.0,
            },
        }
    }
}

/// GAMES.md pong "paddle hit" and "walls", swept over the tick (GAMES.md: no tunnelling):
/// the ball travels `v / tickRate` against the paddles where they stand after this tick's
/// move and against the top and bottom walls, and bounces at each contact on the way
/// ([`bounce_off_paddle`], [`bounce_off_wall`]). The walls are in the same sweep so that a
/// wall bounce cannot carry the ball through a paddle within one tick. A ball whose tick
/// stays inside its court's [`PaddleFreeLane`] is swept against the walls alone: no paddle
/// could be hit, and none is read.
pub(crate) fn move_ball(
    config: Res<SimConfig>,
    mut matches: Query<(&MatchPhase, &Seats, &PongCourt, &mut Ball, &Serve)>,
    paddles: Query<&Paddle>,
) {
    let dt = config.tick_seconds();
    matches
        .iter_mut()
        .for_each(|(phase, seats, court, mut ball, serve)| {
            if serve.pending || !playing(phase) {
                return;
            }
            // Wall bounces leave vx as it is, so over this tick x stays within `reach` of here.
            let reach = ball.vx.abs() * dt;
            if ball.x - reach > court.lane.min_x && ball.x + reach < court.lane.max_x {
                fly(&mut ball, dt, &[]);
            } else {
                fly_by_paddles(&mut ball, dt, seats, &paddles);
            }
        });
}

/// [`fly`] against the paddles of the match's seats, packed (a seat without one, which a Pong
/// seat never is, is left out). Kept out of line: most ticks the ball is in its lane.
#[inline(never)]
fn fly_by_paddles(ball: &mut Ball, dt: f32, seats: &Seats, paddles: &Query<&Paddle>) {
    let mut bodies = [PaddleBody::EMPTY; MAX_SEATS];
    let mut count = 0;
    for seat in seats.entities() {
        if let Ok(paddle) = paddles.get(*seat) {
            bodies[count] = PaddleBody::of(paddle);
            count += 1;
        }
    }
    fly(ball, dt, &bodies[..count]);
}

/// Moves the ball through one tick of `dt` seconds, bouncing off paddles and walls.
fn fly(ball: &mut Ball, dt: f32, paddles: &[PaddleBody]) {
    let mut position = Vec2::new(ball.x, ball.y);
    let mut velocity = Vec2::new(ball.vx, ball.vy);
    let mut time_left = dt;
    let mut last_paddle = None;
    for _ in 0..MAX_CONTACTS_PER_TICK {
        let motion = velocity * time_left;
        let mut first_t = 1.0;
        let mut contact = Contact::None;

        if let Some(wall_y) = wall_ahead(velocity.y, BALL_RADIUS, FIELD_HEIGHT - BALL_RADIUS) {
            let t = time_to_plane(position.y, motion.y, wall_y);
            if t <= first_t {
                first_t = t;
                contact = Contact::Wall;
            }
        }
        for (index, body) in paddles.iter().enumerate() {
            if last_paddle == Some(index) {
                continue;
            }
            if let Some(hit) = sweep_circle_aabb(position, motion, BALL_RADIUS, body.rect)
                && hit.t <= first_t
            {
                first_t = hit.t;
                contact = Contact::Paddle(index, hit);
            }
        }

        position = position + motion * first_t;
        time_left *= 1.0 - first_t;
        match contact {
            Contact::None => break,
            Contact::Wall => {
                velocity = bounce_off_wall(velocity);
                last_paddle = None;
            }
            Contact::Paddle(index, hit) => {
                let body = &paddles[index];
                velocity = bounce_off_paddle(velocity, &hit, body.centre_y, body.forward);
                last_paddle = Some(index);
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
}

enum Contact {
    None,
    Wall,
    Paddle(usize, Hit),
}

/// GAMES.md pong "walls": top and bottom reflect vy.
pub(crate) fn bounce_off_wall(velocity: Vec2) -> Vec2 {
    Vec2::new(velocity.x, -velocity.y)
}

/// GAMES.md pong "paddle hit": the outgoing angle is `(hitY - paddleY) / 40 * 60°` from
/// horizontal, away from the paddle; speed × 1.05, capped at 900/s. `hitY` is where the ball
/// touches the paddle (so within its 80 units); "away" is the side of the face it touched, or
/// the paddle's forward direction off its top or bottom face.
pub(crate) fn bounce_off_paddle(velocity: Vec2, hit: &Hit, paddle_y: f32, forward: f32) -> Vec2 {
    let speed = (velocity.length() * HIT_SPEEDUP).min(MAX_BALL_SPEED);
    let offset = ((hit.contact.y - paddle_y) / (PADDLE_HEIGHT / 2.0)).clamp(-1.0, 1.0);
    let angle = offset * HIT_MAX_ANGLE_DEGREES * (PI / 180.0);
    let direction = if hit.normal.x > 0.0 {
        1.0
    } else if hit.normal.x < 0.0 {
        -1.0
    } else {
        forward
    };
    Vec2::new(direction * speed * angle.cos(), speed * angle.sin())
}

/// What `score_points` reads and writes of a match that scored (its ball apart).
type ScoringMatch<'a> = (
    &'a MatchInfo,
    &'a MatchClock,
    &'a mut TeamScore,
    &'a mut MatchPhase,
    &'a mut MatchEnding,
);

/// GAMES.md pong "point" and "win": the ball's centre crossing x < 0 scores for the right,
/// x > 800 for the left; the ball goes back to the centre to wait 60 ticks (1 s × tick rate)
/// and then serve toward the side that conceded; the first side to `scoreLimit` wins.
pub(crate) fn score_points(
    config: Res<SimConfig>,
    mut events: ResMut<MatchEvents>,
    mut balls: Query<(Entity, &mut Ball, &mut Serve)>,
    mut matches: Query<ScoringMatch>,
    mut scored: Local<Vec<(Entity, Side)>>,
) {
    read_first(balls.iter(), &mut scored, |(entity, ball, _)| {
        if ball.x < 0.0 {
            Some((entity, Side::Right))
        } else if ball.x > FIELD_WIDTH {
            Some((entity, Side::Left))
        } else {
            None
        }
    });
    for &(entity, scorer) in scored.iter() {
        let Ok((_, mut ball, mut serve)) = balls.get_mut(entity) else {
            continue;
        };
        let Ok((info, clock, mut score, mut phase, mut ending)) = matches.get_mut(entity) else {
            continue;
        };
        if !playing(&phase) {
            continue;
        }
        score.0[scorer.index()] += 1;
        events.list.push((
            entity,
            info.id,
            clock.tick,
            MatchEvent::Point {
                scorer: scoring_seat(info.mode, scorer),
                score: score.0,
            },
        ));
        *ball = Ball {
            x: BALL_START.x,
            y: BALL_START.y,
            vx: 0.0,
            vy: 0.0,
        };
        *serve = Serve {
            pending: true,
            wait: config.ticks(SERVE_WAIT_SECONDS),
            toward: scorer.other(),
        };
        if score.0[scorer.index()] >= info.score_limit {
            phase.phase = Phase::Finished;
            *ending = MatchEnding::Pending(EndCause::Ended {
                reason: EndReason::ScoreLimit,
                outcome: Outcome::Won(scorer),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use bevy_ecs::system::RunSystemOnce;

    use super::*;
    use crate::sim;
    use crate::testkit::{
        ball, ball_of, events, playing_pong, seated_pong, seats, set_phase, simulation,
    };

    fn still_ball() -> Ball {
        Ball {
            x: 400.0,
            y: 300.0,
            vx: 0.0,
            vy: 0.0,
        }
    }

    fn paddle_y(world: &World, seat: Entity) -> f32 {
        world.get::<Paddle>(seat).expect("paddle").y
    }

    fn set_axis(world: &mut World, seat: Entity, axis: f32) {
        world.get_mut::<PlayerInput>(seat).expect("input").axis = axis;
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-3
    }

    /// The angle of a velocity from horizontal, in degrees (positive downward).
    fn angle_degrees(ball: &Ball) -> f32 {
        ball.vy.atan2(ball.vx.abs()).to_degrees()
    }

    #[test]
    fn paddles_move_at_420_per_second_along_the_held_axis() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = playing_pong(world, still_ball());
        let [left, right] = seats(world, game)[..] else {
            panic!("two seats")
        };
        set_axis(world, left, 1.0);
        set_axis(world, right, -0.5);
        world.run_system_once(move_paddles).unwrap();
        assert!(close(paddle_y(world, left), 307.0));
        assert!(close(paddle_y(world, right), 296.5));
        // The axis holds: a second tick moves as far again.
        world.run_system_once(move_paddles).unwrap();
        assert!(close(paddle_y(world, left), 314.0));
    }

    #[test]
    fn paddle_centres_clamp_to_40_and_560() {
        let mut sim = simulation(10);
        let world = &mut sim.world;
        let game = playing_pong(world, still_ball());
        let [left, right] = seats(world, game)[..] else {
            panic!("two seats")
        };
        set_axis(world, left, 1.0);
        set_axis(world, right, -1.0);
        for _ in 0..20 {
            world.run_system_once(move_paddles).unwrap();
        }
        assert_eq!(paddle_y(world, left), PADDLE_Y_MAX);
        assert_eq!(paddle_y(world, right), PADDLE_Y_MIN);
    }

    #[test]
    fn paddles_and_ball_stand_still_unless_playing() {
        for phase in [
            Phase::Waiting,
            Phase::Countdown,
            Phase::Paused,
            Phase::Finished,
        ] {
            let mut sim = simulation(60);
            let world = &mut sim.world;
            let moving = Ball {
                vx: 300.0,
                vy: 100.0,
                ..still_ball()
            };
            let game = playing_pong(world, moving);
            set_phase(world, game, phase);
            let left = seats(world, game)[0];
            set_axis(world, left, 1.0);
            world.run_system_once(move_paddles).unwrap();
            world.run_system_once(move_ball).unwrap();
            assert_eq!(paddle_y(world, left), PADDLE_START_Y, "{phase:?}");
            assert_eq!(ball(world, game), moving, "{phase:?}");
        }
    }

    #[test]
    fn serves_leave_at_360_within_30_degrees_toward_their_side() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let games: Vec<Entity> = (0..500)
            .map(|seed| {
                let game = seated_pong(world, seed, 11);
                set_phase(world, game, Phase::Playing);
                game
            })
            .collect();
        let towards: Vec<Side> = games
            .iter()
            .map(|game| world.get::<Serve>(ball_of(world, *game)).unwrap().toward)
            .collect();
        assert!(towards.contains(&Side::Left) && towards.contains(&Side::Right));

        world.run_system_once(serve_ball).unwrap();
        let mut steepest: f32 = 0.0;
        for (game, toward) in games.iter().zip(towards) {
            let served = ball(world, *game);
            assert!(!world.get::<Serve>(ball_of(world, *game)).unwrap().pending);
            assert!(close(served.vx.hypot(served.vy), SERVE_SPEED));
            let angle = angle_degrees(&served);
            assert!(angle.abs() <= SERVE_MAX_ANGLE_DEGREES, "angle {angle}");
            steepest = steepest.max(angle.abs());
            match toward {
                Side::Left => assert!(served.vx < 0.0),
                Side::Right => assert!(served.vx > 0.0),
            }
        }
        // Uniform over the range: 500 draws come near its ends.
        assert!(steepest > 29.0, "steepest {steepest}");
    }

    #[test]
    fn a_serve_waits_its_ticks_then_goes() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = seated_pong(world, 3, 11);
        set_phase(world, game, Phase::Playing);
        let ball_entity = ball_of(world, game);
        world.get_mut::<Serve>(ball_entity).unwrap().wait = 60;
        for _ in 0..59 {
            world.run_system_once(serve_ball).unwrap();
            assert!(world.get::<Serve>(ball_entity).unwrap().pending);
        }
        world.run_system_once(serve_ball).unwrap();
        assert!(!world.get::<Serve>(ball_entity).unwrap().pending);
        assert_ne!(ball(world, game).vx, 0.0);
    }

    /// Aims a ball at `speed` so that, unhindered, its centre would cross the left paddle's
    /// face line (x = 42) at `target_y` a distance `before` after the tick starts.
    fn aimed_ball(speed: f32, angle_degrees: f32, target_y: f32, before: f32) -> Ball {
        let (sin, cos) = angle_degrees.to_radians().sin_cos();
        let face_x = PADDLE_X_LEFT + PADDLE_WIDTH / 2.0 + BALL_RADIUS;
        Ball {
            x: face_x + before * cos,
            y: target_y - before * sin,
            vx: -speed * cos,
            vy: speed * sin,
        }
    }

    #[test]
    fn the_paddle_free_lane_stops_short_of_the_innermost_paddles() {
        let lane = |seats: &[Seat]| paddle_free_lane(seats.iter().copied());
        // Faces at 35 and 765 (1v1, vs_bot), 185 and 615 (2v2's front paddles); then the
        // radius (7) and the margin (1).
        let one = PaddleFreeLane {
            min_x: 43.0,
            max_x: 757.0,
        };
        assert_eq!(lane(&[Seat::Left, Seat::Right]), one);
        assert_eq!(lane(&[Seat::Right, Seat::Left]), one);
        assert_eq!(
            lane(Mode::TwoVsTwo.player_seats()),
            PaddleFreeLane {
                min_x: 193.0,
                max_x: 607.0,
            }
        );
    }

    proptest::proptest! {
        /// The lane is only a shortcut: a ball whose tick stays inside it ends the tick
        /// exactly where the full sweep against every paddle takes it.
        #[test]
        fn a_ball_inside_the_paddle_free_lane_moves_as_if_the_paddles_were_read(
            two_vs_two in proptest::bool::ANY,
            tick_rate in proptest::sample::select(vec![60u32, 30, 20, 10]),
            x in 0.0f32..800.0,
            y in BALL_RADIUS..FIELD_HEIGHT - BALL_RADIUS,
            speed in 0.0f32..=MAX_BALL_SPEED,
            angle in 0.0f32..std::f32::consts::TAU,
            paddle_ys in proptest::array::uniform4(PADDLE_Y_MIN..=PADDLE_Y_MAX),
        ) {
            let seats: &[Seat] = if two_vs_two {
                Mode::TwoVsTwo.player_seats()
            } else {
                &[Seat::Left, Seat::Right]
            };
            let lane = paddle_free_lane(seats.iter().copied());
            let dt = 1.0 / tick_rate as f32;
            let ball = Ball { x, y, vx: speed * angle.cos(), vy: speed * angle.sin() };
            let reach = ball.vx.abs() * dt;
            proptest::prop_assume!(ball.x - reach > lane.min_x && ball.x + reach < lane.max_x);
            let bodies: Vec<PaddleBody> = seats
                .iter()
                .zip(paddle_ys)
                .map(|(seat, y)| PaddleBody::of(&Paddle { y, ..starting_paddle(*seat) }))
                .collect();
            let mut swept = ball;
            fly(&mut swept, dt, &bodies);
            let mut in_lane = ball;
            fly(&mut in_lane, dt, &[]);
            proptest::prop_assert_eq!(
                [swept.x, swept.y, swept.vx, swept.vy].map(f32::to_bits),
                [in_lane.x, in_lane.y, in_lane.vx, in_lane.vy].map(f32::to_bits)
            );
        }
    }

    #[test]
    fn a_ball_at_900_per_second_never_passes_through_a_paddle() {
        for tick_rate in [60, 10, 2] {
            let travel = MAX_BALL_SPEED / tick_rate as f32;
            let mut sim = simulation(tick_rate);
            let world = &mut sim.world;
            let mut cases = Vec::new();
            for angle in [-45.0, -20.0, 0.0, 10.0, 35.0] {
                for target in [262.0, 280.0, 300.0, 320.0, 338.0] {
                    for step in 1..=10 {
                        let before = travel * step as f32 / 10.0;
                        let start = aimed_ball(MAX_BALL_SPEED, angle, target, before);
                        if !(BALL_RADIUS..=FIELD_HEIGHT - BALL_RADIUS).contains(&start.y) {
                            continue;
                        }
                        cases.push((playing_pong(world, start), start));
                    }
                }
            }
            // A ball that ends a tick just touching the face bounces at the start of the next.
            let mut bounced = vec![false; cases.len()];
            for _ in 0..2 {
                world.run_system_once(move_ball).unwrap();
                for ((game, start), bounced) in cases.iter().zip(&mut bounced) {
                    let after = ball(world, *game);
                    assert!(
                        after.x >= PADDLE_X_LEFT + PADDLE_WIDTH / 2.0 + BALL_RADIUS - 1e-3,
                        "{tick_rate} Hz, from {start:?}: {after:?}"
                    );
                    assert!(close(after.vx.hypot(after.vy), MAX_BALL_SPEED));
                    *bounced |= after.vx > 0.0;
                }
            }
            assert!(bounced.iter().all(|b| *b), "{tick_rate} Hz: {bounced:?}");
        }
    }

    #[test]
    fn a_paddle_hit_leaves_at_the_offset_angle_away_from_the_paddle() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        // 20 below the left paddle's centre: (20 / 40) * 60° = 30°, downward, to the right.
        let left = playing_pong(world, aimed_ball(300.0, 0.0, 320.0, 2.0));
        // Dead centre on the right paddle: straight back to the left.
        let right = playing_pong(
            world,
            Ball {
                x: PADDLE_X_RIGHT - PADDLE_WIDTH / 2.0 - BALL_RADIUS - 1.0,
                y: 300.0,
                vx: 300.0,
                vy: 0.0,
            },
        );
        world.run_system_once(move_ball).unwrap();
        let after = ball(world, left);
        assert!(after.vx > 0.0);
        assert!(close(angle_degrees(&after), 30.0), "{after:?}");
        assert!(close(after.vx.hypot(after.vy), 300.0 * HIT_SPEEDUP));
        let after = ball(world, right);
        assert!(after.vx < 0.0 && close(after.vy, 0.0), "{after:?}");
    }

    #[test]
    fn the_top_face_sends_the_ball_up_at_60_degrees_forward() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        // Falling straight onto the left paddle's top face (y = 260).
        let game = playing_pong(
            world,
            Ball {
                x: 30.0,
                y: 260.0 - BALL_RADIUS - 1.0,
                vx: 0.0,
                vy: 200.0,
            },
        );
        world.run_system_once(move_ball).unwrap();
        let after = ball(world, game);
        assert!(after.vx > 0.0 && after.vy < 0.0, "{after:?}");
        assert!(close(angle_degrees(&after), -60.0), "{after:?}");
    }

    #[test]
    fn paddle_hits_speed_up_by_5_percent_up_to_900() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = playing_pong(world, aimed_ball(880.0, 0.0, 300.0, 5.0));
        world.run_system_once(move_ball).unwrap();
        let after = ball(world, game);
        assert!(after.vx > 0.0);
        assert!(close(after.vx.hypot(after.vy), MAX_BALL_SPEED));
    }

    #[test]
    fn walls_reflect_vy() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let top = playing_pong(
            world,
            Ball {
                x: 400.0,
                y: BALL_RADIUS + 2.0,
                vx: 120.0,
                vy: -300.0,
            },
        );
        let bottom = playing_pong(
            world,
            Ball {
                x: 400.0,
                y: FIELD_HEIGHT - BALL_RADIUS - 2.0,
                vx: -120.0,
                vy: 300.0,
            },
        );
        world.run_system_once(move_ball).unwrap();
        let after = ball(world, top);
        assert_eq!((after.vx, after.vy), (120.0, 300.0));
        // 5 units this tick: 2 up to the wall, 3 back down.
        assert!(close(after.y, BALL_RADIUS + 3.0), "{after:?}");
        let after = ball(world, bottom);
        assert_eq!((after.vx, after.vy), (-120.0, -300.0));
        assert!(
            close(after.y, FIELD_HEIGHT - BALL_RADIUS - 3.0),
            "{after:?}"
        );
        assert_eq!(bounce_off_wall(Vec2::new(1.0, 2.0)), Vec2::new(1.0, -2.0));
    }

    #[test]
    fn a_ball_past_a_goal_line_scores_and_waits_to_serve_toward_the_conceding_side() {
        for tick_rate in [60, 30] {
            let mut sim = simulation(tick_rate);
            let world = &mut sim.world;
            let past_left = Ball {
                x: -0.5,
                y: 200.0,
                vx: -400.0,
                vy: 10.0,
            };
            let past_right = Ball {
                x: 800.5,
                ..past_left
            };
            let on_the_line = Ball {
                x: 0.0,
                ..past_left
            };
            let right_scores = playing_pong(world, past_left);
            let left_scores = playing_pong(world, past_right);
            let no_point = playing_pong(world, on_the_line);
            world.run_system_once(score_points).unwrap();

            for (game, scorer, score) in [
                (right_scores, Side::Right, [0, 1]),
                (left_scores, Side::Left, [1, 0]),
            ] {
                assert_eq!(world.get::<TeamScore>(game).unwrap().0, score);
                assert_eq!(ball(world, game), starting_ball(Side::Left).0);
                let serve = *world.get::<Serve>(ball_of(world, game)).unwrap();
                assert_eq!(
                    serve,
                    Serve {
                        pending: true,
                        wait: tick_rate,
                        toward: scorer.other(),
                    }
                );
                assert_eq!(
                    events(world, game).last(),
                    Some(&MatchEvent::Point {
                        scorer: scoring_seat(Mode::OneVsOne, scorer),
                        score,
                    })
                );
            }
            assert_eq!(world.get::<TeamScore>(no_point).unwrap().0, [0, 0]);
            assert_eq!(events(world, no_point), [MatchEvent::Started]);
        }
    }

    #[test]
    fn the_point_that_reaches_the_score_limit_ends_the_match() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = seated_pong(world, 5, 2);
        set_phase(world, game, Phase::Playing);
        let ball_entity = ball_of(world, game);
        for expected in [Phase::Playing, Phase::Finished] {
            world.get_mut::<Ball>(ball_entity).unwrap().x = 801.0;
            world.run_system_once(score_points).unwrap();
            assert_eq!(crate::testkit::phase(world, game), expected);
        }
        assert_eq!(
            *world.get::<MatchEnding>(game).unwrap(),
            MatchEnding::Pending(EndCause::Ended {
                reason: EndReason::ScoreLimit,
                outcome: Outcome::Won(Side::Left),
            })
        );
    }

    #[test]
    fn two_vs_two_paddles_start_at_their_four_columns() {
        let xs: Vec<f32> = Mode::TwoVsTwo
            .player_seats()
            .iter()
            .map(|seat| starting_paddle(*seat).x)
            .collect();
        assert_eq!(xs, [30.0, 770.0, 180.0, 620.0]);
    }

    /// A paddle's half of the field is its seat's side, for every Pong seat: the bots and
    /// the ball's `forward` read the side from the paddle (`side_of`).
    #[test]
    fn every_pong_seat_s_paddle_stands_on_its_side() {
        for mode in [Mode::OneVsOne, Mode::TwoVsTwo, Mode::VsBot] {
            for seat in mode.player_seats() {
                assert_eq!(
                    side_of(&starting_paddle(*seat)),
                    Side::of(*seat),
                    "{seat:?}"
                );
            }
        }
    }

    /// A 2v2 match already `playing`, the ball served with this position and velocity.
    fn playing_two_vs_two(world: &mut World, ball: Ball) -> Entity {
        let game = sim::create_match(world, crate::testkit::spec(70, Mode::TwoVsTwo, 11, 70));
        for n in 1..=4 {
            sim::join_match(world, game, crate::testkit::player(n)).unwrap();
        }
        set_phase(world, game, Phase::Playing);
        let ball_entity = ball_of(world, game);
        *world.get_mut::<Ball>(ball_entity).unwrap() = ball;
        world.get_mut::<Serve>(ball_entity).unwrap().pending = false;
        game
    }

    #[test]
    fn a_ball_passes_above_a_front_paddle_not_in_its_way() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        // Rightward above the left front paddle (x = 180, y 260..340).
        let game = playing_two_vs_two(
            world,
            Ball {
                x: 175.0,
                y: 200.0,
                vx: 600.0,
                vy: 0.0,
            },
        );
        world.run_system_once(move_ball).unwrap();
        let after = ball(world, game);
        assert!(after.x > 180.0 && after.vx == 600.0, "{after:?}");
    }

    #[test]
    fn a_front_paddle_is_solid_from_behind_and_its_back_paddle_returns_balls_behind_it() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        // Between the left back and front paddles, rightward into the front paddle's back face
        // (x = 175): it bounces back toward its own goal, 5 % faster.
        let from_behind = playing_two_vs_two(
            world,
            Ball {
                x: 175.0 - BALL_RADIUS - 2.0,
                y: 300.0,
                vx: 400.0,
                vy: 0.0,
            },
        );
        // Behind the left front paddle, leftward: the back paddle (face x = 35) returns it.
        let behind = playing_two_vs_two(
            world,
            Ball {
                x: 35.0 + BALL_RADIUS + 3.0,
                y: 300.0,
                vx: -400.0,
                vy: 0.0,
            },
        );
        world.run_system_once(move_ball).unwrap();
        let after = ball(world, from_behind);
        assert!(after.vx < 0.0 && after.x < 175.0 - BALL_RADIUS, "{after:?}");
        assert!(close(after.vx.hypot(after.vy), 400.0 * HIT_SPEEDUP));
        let after = ball(world, behind);
        assert!(after.vx > 0.0, "{after:?}");
    }

    #[test]
    fn a_front_paddle_moves_over_the_whole_height() {
        let mut sim = simulation(10);
        let world = &mut sim.world;
        let game = playing_two_vs_two(world, still_ball());
        let front = seats(world, game)[2];
        set_axis(world, front, -1.0);
        for _ in 0..20 {
            world.run_system_once(move_paddles).unwrap();
        }
        assert_eq!(paddle_y(world, front), PADDLE_Y_MIN);
        assert_eq!(world.get::<Paddle>(front).unwrap().x, 180.0);
    }
}
