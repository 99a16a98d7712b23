//! Server bots (GAMES.md: Pong `vs_bot` with `easy` / `normal` / `hard`, and a Breakout bot):
//! systems that write a bot seat's [`PlayerInput`] (its held `axis`, and `launch`) exactly as
//! a player's frames would, after `apply_inputs` and before the rules move anything.
//!
//! A bot reads only what a client sees in `state`: the ball's position and velocity and the
//! paddles. It looks at the state every few ticks (its reaction delay), and each look draws its
//! aim noise from the match's PRNG ([`MatchRng`]), so a bot is as deterministic as the rest of
//! the match. Between looks it steers toward the target of its last look.

use bevy_ecs::prelude::*;

use crate::components::{
    Ball, Bot, FieldBall, FieldPaddle, InMatch, InPlay, MatchRng, Paddle, PlayerInput, Seats,
    Serve, Side,
};
use crate::model::BotLevel;
use crate::tick::SimConfig;
use crate::{breakout, pong};

/// How a level plays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BotProfile {
    /// Playing ticks between two looks at the state (at 60 Hz: easy 333 ms, normal 167 ms,
    /// hard 67 ms).
    pub reaction_ticks: u32,
    /// Each look's target is off by a uniform draw in [-noise, noise] units.
    pub noise: f32,
    /// The largest `axis` it sends (a slow bot never moves its paddle at full speed).
    pub max_axis: f32,
    /// Whether it works out where the ball will arrive (with wall bounces) instead of
    /// following where the ball is.
    pub predicts: bool,
    /// Pong: whether it hits the ball off-centre on purpose, for a steep return away from the
    /// opponent.
    pub aims: bool,
}

impl BotProfile {
    pub const fn of(level: BotLevel) -> BotProfile {
        match level {
            BotLevel::Easy => BotProfile {
                reaction_ticks: 20,
                noise: 45.0,
                max_axis: 0.55,
                predicts: false,
                aims: false,
            },
            BotLevel::Normal => BotProfile {
                reaction_ticks: 10,
                noise: 18.0,
                max_axis: 0.8,
                predicts: true,
                aims: false,
            },
            BotLevel::Hard => BotProfile {
                reaction_ticks: 4,
                noise: 4.0,
                max_axis: 1.0,
                predicts: true,
                aims: true,
            },
        }
    }
}

/// Pong, hard: how far off its centre it takes the ball (of the 40 to the paddle's end; 28
/// leaves at 42° from horizontal) ...
const AIM_OFFSET_MIN: f32 = 22.0;
const AIM_OFFSET_MAX: f32 = 34.0;
/// Breakout: the paddle's centre stays up to this far beside the ball's landing point, so
/// that its returns are not all vertical.
const BREAKOUT_AIM_OFFSET: f32 = 18.0;
/// Closer than this to its target, a bot holds still (no jitter around the target).
const DEAD_ZONE: f32 = 2.0;

/// A bot at `level`, looking at the state on its first playing tick.
pub(crate) fn new_bot(level: BotLevel) -> Bot {
    Bot {
        level,
        wait: 0,
        target: f32::NAN,
    }
}

/// The axis that steers a paddle centre at `position` toward `target`, moving at most
/// `step` per tick at full axis.
fn steer(position: f32, target: f32, step: f32, max_axis: f32) -> f32 {
    if !target.is_finite() || (target - position).abs() < DEAD_ZONE {
        return 0.0;
    }
    ((target - position) / step).clamp(-max_axis, max_axis)
}

/// Where a coordinate moving at `velocity` for `time` lands between walls at `low` and `high`
/// (reflecting off them, as the ball does).
pub(crate) fn fold_between(start: f32, velocity: f32, time: f32, low: f32, high: f32) -> f32 {
    let span = high - low;
    if span <= 0.0 {
        return low;
    }
    let m = (start + velocity * time - low).rem_euclid(2.0 * span);
    low + if m > span { 2.0 * span - m } else { m }
}

/// What a Pong bot reads of its own seat (its side is its paddle's: [`pong::side_of`]).
type PongBotSeat<'a> = (&'a InMatch, &'a mut Bot, &'a Paddle, &'a mut PlayerInput);

/// GAMES.md pong `vs_bot`: each bot paddle looks at the ball every `reaction_ticks` and
/// steers its centre (420/s at most, as a player's) toward where the ball will cross its face
/// (easy: where the ball is now), off by noise from the match PRNG; a hard bot takes the ball
/// off-centre so that it leaves steeply, away from the opponent's back paddle. With the ball
/// going away it drifts back to the middle.
pub(crate) fn drive_pong_bots(
    config: Res<SimConfig>,
    mut matches: Query<PongBotMatch>,
    others: Query<&Paddle>,
    mut bots: Query<PongBotSeat, With<InPlay>>,
) {
    let step = pong::PADDLE_SPEED * config.tick_seconds();
    bots.iter_mut()
        .for_each(|(in_match, mut bot, paddle, mut input)| {
            let profile = BotProfile::of(bot.level);
            if bot.wait > 0 {
                bot.wait -= 1;
            } else {
                let Some(target) = look_pong(&mut matches, &others, in_match.0, paddle, &profile)
                else {
                    return;
                };
                bot.wait = profile.reaction_ticks.saturating_sub(1);
                bot.target = target;
            }
            let axis = steer(paddle.y, bot.target, step, profile.max_axis);
            if input.axis != axis {
                input.axis = axis;
            }
        });
}

/// What a Pong bot reads of its match when it looks.
type PongBotMatch<'a> = (&'a Seats, &'a mut MatchRng, &'a Ball, &'a Serve);

/// A Pong bot's look at its match: its new target, drawing its noise and aim from the match
/// PRNG (None when the match is gone). Kept out of line: the bots' pass runs it once in
/// `reaction_ticks` and steers on every tick.
#[inline(never)]
fn look_pong(
    matches: &mut Query<PongBotMatch>,
    others: &Query<&Paddle>,
    match_entity: Entity,
    paddle: &Paddle,
    profile: &BotProfile,
) -> Option<f32> {
    let (seats, mut rng, ball, serve) = matches.get_mut(match_entity).ok()?;
    let side = pong::side_of(paddle);
    // The opponent's back paddle: the one a hard bot aims away from (looked up only when it
    // aims; the bot's own paddle is on its own side).
    let opponent_y = || {
        seats
            .entities()
            .iter()
            .filter_map(|seat| others.get(*seat).ok())
            .find(|other| pong::side_of(other) != side)
            .map_or(pong::PADDLE_START_Y, |other| other.y)
    };
    let noise = rng.0.range_f32(-profile.noise, profile.noise);
    let aim = rng.0.range_f32(AIM_OFFSET_MIN, AIM_OFFSET_MAX);
    let target = plan_pong(ball, serve, paddle, side, profile, opponent_y, aim)
        .map_or(pong::PADDLE_START_Y, |y| y + noise)
        .clamp(pong::PADDLE_Y_MIN, pong::PADDLE_Y_MAX);
    Some(target)
}

/// Where a Pong bot wants its paddle's centre, or None to drift back to the middle.
fn plan_pong(
    ball: &Ball,
    serve: &Serve,
    paddle: &Paddle,
    side: Side,
    profile: &BotProfile,
    opponent_y: impl FnOnce() -> f32,
    aim: f32,
) -> Option<f32> {
    if serve.pending {
        return None;
    }
    // The ball comes this way, and is still in front of this paddle.
    let (coming, face_x) = match side {
        Side::Left => (
            ball.vx < 0.0 && ball.x > paddle.x,
            paddle.x + pong::PADDLE_WIDTH / 2.0 + pong::BALL_RADIUS,
        ),
        Side::Right => (
            ball.vx > 0.0 && ball.x < paddle.x,
            paddle.x - pong::PADDLE_WIDTH / 2.0 - pong::BALL_RADIUS,
        ),
    };
    if !coming {
        return (!profile.predicts).then_some(ball.y);
    }
    if !profile.predicts {
        return Some(ball.y);
    }
    let time = ((face_x - ball.x) / ball.vx).max(0.0);
    let arrival = fold_between(
        ball.y,
        ball.vy,
        time,
        pong::BALL_RADIUS,
        pong::FIELD_HEIGHT - pong::BALL_RADIUS,
    );
    if !profile.aims {
        return Some(arrival);
    }
    // Take the ball on the paddle's upper half to send it down, and the other way round:
    // toward the half of the field the opponent is not in.
    let send_down = opponent_y() < pong::FIELD_HEIGHT / 2.0;
    Some(if send_down {
        arrival - aim
    } else {
        arrival + aim
    })
}

/// What a Breakout bot reads of its own field.
type BreakoutBotField<'a> = (
    &'a InMatch,
    &'a mut Bot,
    &'a FieldPaddle,
    &'a FieldBall,
    &'a mut PlayerInput,
);

/// The Breakout bot: it launches a resting ball after its reaction delay; with the ball
/// falling it steers the paddle toward where the ball will reach the paddle (easy: where the
/// ball is), a little beside it so that returns are not all vertical, off by noise from the
/// match PRNG; with the ball rising it follows the ball.
pub(crate) fn drive_breakout_bots(
    config: Res<SimConfig>,
    mut matches: Query<&mut MatchRng>,
    mut bots: Query<BreakoutBotField, With<InPlay>>,
) {
    let step = breakout::PADDLE_SPEED * config.tick_seconds();
    bots.iter_mut()
        .for_each(|(in_match, mut bot, paddle, ball, mut input)| {
            let profile = BotProfile::of(bot.level);
            if bot.wait > 0 {
                bot.wait -= 1;
            } else {
                let Some(target) = look_breakout(&mut matches, in_match.0, paddle, ball, &profile)
                else {
                    return;
                };
                bot.wait = profile.reaction_ticks.saturating_sub(1);
                bot.target = target;
                if ball.resting {
                    input.launch = true;
                }
            }
            let axis = steer(paddle.x, bot.target, step, profile.max_axis);
            if input.axis != axis {
                input.axis = axis;
            }
        });
}

/// A Breakout bot's look at its field: its new target, drawing its noise and aim from the
/// match PRNG (None when the match is gone). Kept out of line, as the Pong bot's look.
#[inline(never)]
fn look_breakout(
    matches: &mut Query<&mut MatchRng>,
    match_entity: Entity,
    paddle: &FieldPaddle,
    ball: &FieldBall,
    profile: &BotProfile,
) -> Option<f32> {
    let mut rng = matches.get_mut(match_entity).ok()?;
    let noise = rng.0.range_f32(-profile.noise, profile.noise);
    let aim = rng.0.range_f32(-BREAKOUT_AIM_OFFSET, BREAKOUT_AIM_OFFSET);
    if ball.resting {
        return Some(paddle.x);
    }
    let landing = if ball.vy > 0.0 && profile.predicts {
        let time = ((breakout::REST_Y - ball.y) / ball.vy).max(0.0);
        fold_between(
            ball.x,
            ball.vx,
            time,
            breakout::BALL_RADIUS,
            breakout::FIELD_WIDTH - breakout::BALL_RADIUS,
        )
    } else {
        ball.x
    };
    Some((landing + noise + aim).clamp(breakout::PADDLE_X_MIN, breakout::PADDLE_X_MAX))
}
