//! The baseline of `arcade-bench sim`: Pong 1v1's rules (GAMES.md "Pong") written by hand over
//! plain arrays, one array per field, no ECS. It does what the server's systems do for a 1v1
//! match from the moment both seats are filled (countdown, serve, paddles, swept ball, points,
//! the score limit) and what `fill_with_bots` seats do (the hard server bot), with the same
//! float operations in the same order, so that the same seed and inputs give bit-identical
//! states (checked by the tests below against the ECS version). What it leaves out is what
//! the ECS version carries for every game: entities, queries, change ticks, the schedule.
//!
//! Each system of the ECS version walks every match before the next one runs; matches never
//! touch each other, so here each step walks the matches once and runs the rules in the same
//! order inside a match: `apply_inputs`, `advance_match_clock`, `run_countdown`,
//! `drive_pong_bots`, `serve_ball`, `move_paddles`, `move_ball`, `score_points`.

use std::f32::consts::PI;
use std::ops::{Add, Mul, Sub};

use arcade_systems::bots::BotProfile;
use arcade_systems::model::BotLevel;
use arcade_systems::rng::SplitMix64;

/// GAMES.md pong numbers (the `pong` module of arcade-systems is private).
const FIELD_WIDTH: f32 = 800.0;
const FIELD_HEIGHT: f32 = 600.0;
const PADDLE_WIDTH: f32 = 10.0;
const PADDLE_HEIGHT: f32 = 80.0;
const PADDLE_X: [f32; 2] = [30.0, 770.0];
const PADDLE_START_Y: f32 = 300.0;
const PADDLE_SPEED: f32 = 420.0;
const PADDLE_Y_MIN: f32 = 40.0;
const PADDLE_Y_MAX: f32 = 560.0;
const BALL_RADIUS: f32 = 7.0;
const BALL_START: Vec2 = Vec2::new(400.0, 300.0);
const SERVE_SPEED: f32 = 360.0;
const SERVE_MAX_ANGLE_DEGREES: f32 = 30.0;
const HIT_MAX_ANGLE_DEGREES: f32 = 60.0;
const HIT_SPEEDUP: f32 = 1.05;
const MAX_BALL_SPEED: f32 = 900.0;
const SERVE_WAIT_SECONDS: u32 = 1;
const COUNTDOWN_SECONDS: u32 = 3;
const MAX_CONTACTS_PER_TICK: usize = 8;
/// `move_ball`'s paddle-free lane of a 1v1 court (43 to 757): the paddles' inner faces, the
/// ball's radius and a margin of 1 in.
const LANE_REACH: f32 = PADDLE_WIDTH / 2.0 + BALL_RADIUS + 1.0;
const LANE_MIN_X: f32 = PADDLE_X[LEFT] + LANE_REACH;
const LANE_MAX_X: f32 = PADDLE_X[RIGHT] - LANE_REACH;
/// The hard bot (`bots.rs`).
const AIM_OFFSET_MIN: f32 = 22.0;
const AIM_OFFSET_MAX: f32 = 34.0;
const DEAD_ZONE: f32 = 2.0;

/// Where a match is: the phases a 1v1 match between two present seats goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoaPhase {
    Countdown,
    Playing,
    Finished,
}

/// Side index: 0 left, 1 right.
const LEFT: usize = 0;
const RIGHT: usize = 1;

/// One pending input frame (as `submit_input` stores it).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pending {
    seq: u64,
    axis: f32,
}

/// N Pong 1v1 matches, one array per field.
pub struct SoaPong {
    tick_rate: u32,
    score_limit: Vec<u32>,
    phase: Vec<SoaPhase>,
    countdown_left: Vec<u32>,
    tick: Vec<u64>,
    rng: Vec<SplitMix64>,
    ball_x: Vec<f32>,
    ball_y: Vec<f32>,
    ball_vx: Vec<f32>,
    ball_vy: Vec<f32>,
    serve_pending: Vec<bool>,
    serve_wait: Vec<u32>,
    /// The side the serve goes toward: 0 left, 1 right.
    serve_toward: Vec<u8>,
    score: Vec<[u32; 2]>,
    paddle_y: Vec<[f32; 2]>,
    axis: Vec<[f32; 2]>,
    applied_seq: Vec<[u64; 2]>,
    pending: Vec<[Option<Pending>; 2]>,
    /// Whether a seat is played by the hard bot, its wait and its target.
    bot: Vec<[bool; 2]>,
    bot_wait: Vec<[u32; 2]>,
    bot_target: Vec<[f32; 2]>,
}

/// What the tests compare of one match.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PongSnapshot {
    pub phase: SoaPhase,
    pub tick: u64,
    pub ball: [f32; 4],
    pub paddles: [f32; 2],
    pub score: [u32; 2],
    pub acks: [u64; 2],
}

impl SoaPong {
    pub fn new(tick_rate: u32) -> SoaPong {
        SoaPong {
            tick_rate,
            score_limit: Vec::new(),
            phase: Vec::new(),
            countdown_left: Vec::new(),
            tick: Vec::new(),
            rng: Vec::new(),
            ball_x: Vec::new(),
            ball_y: Vec::new(),
            ball_vx: Vec::new(),
            ball_vy: Vec::new(),
            serve_pending: Vec::new(),
            serve_wait: Vec::new(),
            serve_toward: Vec::new(),
            score: Vec::new(),
            paddle_y: Vec::new(),
            axis: Vec::new(),
            applied_seq: Vec::new(),
            pending: Vec::new(),
            bot: Vec::new(),
            bot_wait: Vec::new(),
            bot_target: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.phase.len()
    }

    pub fn is_empty(&self) -> bool {
        self.phase.is_empty()
    }

    fn tick_seconds(&self) -> f32 {
        1.0 / self.tick_rate as f32
    }

    /// A match whose two seats are filled now (the countdown starts), as `create_match` and
    /// two joins (or `fill_with_bots`) leave it; `bots[side]` gives a seat to the hard bot.
    /// Returns its index.
    pub fn add_match(&mut self, seed: u64, score_limit: u32, bots: [bool; 2]) -> usize {
        let mut rng = SplitMix64::new(seed);
        let first_serve = if rng.coin() { LEFT } else { RIGHT };
        self.score_limit.push(score_limit);
        self.phase.push(SoaPhase::Countdown);
        self.countdown_left.push(COUNTDOWN_SECONDS * self.tick_rate);
        self.tick.push(0);
        self.rng.push(rng);
        self.ball_x.push(BALL_START.x);
        self.ball_y.push(BALL_START.y);
        self.ball_vx.push(0.0);
        self.ball_vy.push(0.0);
        self.serve_pending.push(true);
        self.serve_wait.push(0);
        self.serve_toward.push(first_serve as u8);
        self.score.push([0, 0]);
        self.paddle_y.push([PADDLE_START_Y; 2]);
        self.axis.push([0.0; 2]);
        self.applied_seq.push([0; 2]);
        self.pending.push([None; 2]);
        self.bot.push(bots);
        self.bot_wait.push([0; 2]);
        self.bot_target.push([f32::NAN; 2]);
        self.len() - 1
    }

    /// `submit_input`: keeps the newest input for the next tick.
    pub fn submit_input(&mut self, game: usize, side: usize, seq: u64, axis: f32) {
        let held = self.applied_seq[game][side];
        let newest = self.pending[game][side].map_or(held, |p| p.seq.max(held));
        if seq > newest {
            self.pending[game][side] = Some(Pending { seq, axis });
        }
    }

    pub fn snapshot(&self, game: usize) -> PongSnapshot {
        PongSnapshot {
            phase: self.phase[game],
            tick: self.tick[game],
            ball: [
                self.ball_x[game],
                self.ball_y[game],
                self.ball_vx[game],
                self.ball_vy[game],
            ],
            paddles: self.paddle_y[game],
            score: self.score[game],
            acks: self.applied_seq[game],
        }
    }

    /// One tick of every match.
    pub fn step(&mut self) {
        let dt = self.tick_seconds();
        let step = PADDLE_SPEED * self.tick_seconds();
        let serve_wait = SERVE_WAIT_SECONDS * self.tick_rate;
        let hard = BotProfile::of(BotLevel::Hard);
        for m in 0..self.len() {
            // apply_inputs
            for side in [LEFT, RIGHT] {
                if let Some(frame) = self.pending[m][side].take() {
                    self.axis[m][side] = frame.axis;
                    self.applied_seq[m][side] = frame.seq;
                }
            }
            // advance_match_clock
            if self.phase[m] == SoaPhase::Finished {
                continue;
            }
            self.tick[m] += 1;
            // run_countdown
            if self.phase[m] == SoaPhase::Countdown {
                self.countdown_left[m] = self.countdown_left[m].saturating_sub(1);
                if self.countdown_left[m] > 0 {
                    continue;
                }
                self.phase[m] = SoaPhase::Playing;
            }
            // drive_pong_bots (the left seat's bot draws first, as in the World)
            for side in [LEFT, RIGHT] {
                if self.bot[m][side] {
                    self.drive_bot(m, side, step, &hard);
                }
            }
            // serve_ball
            if self.serve_pending[m] {
                let mut serve = true;
                if self.serve_wait[m] > 0 {
                    self.serve_wait[m] -= 1;
                    serve = self.serve_wait[m] == 0;
                }
                if serve {
                    let max = SERVE_MAX_ANGLE_DEGREES.to_radians();
                    let angle = self.rng[m].range_f32(-max, max);
                    let direction = if self.serve_toward[m] == LEFT as u8 {
                        -1.0
                    } else {
                        1.0
                    };
                    self.ball_vx[m] = direction * SERVE_SPEED * angle.cos();
                    self.ball_vy[m] = SERVE_SPEED * angle.sin();
                    self.serve_pending[m] = false;
                }
            }
            // move_paddles
            for side in [LEFT, RIGHT] {
                let axis = self.axis[m][side];
                if axis == 0.0 {
                    continue;
                }
                let y = &mut self.paddle_y[m][side];
                *y = (*y + axis * step).clamp(PADDLE_Y_MIN, PADDLE_Y_MAX);
            }
            // move_ball (with the same shortcut: no paddle inside the lane)
            if !self.serve_pending[m] {
                let mut ball = [
                    self.ball_x[m],
                    self.ball_y[m],
                    self.ball_vx[m],
                    self.ball_vy[m],
                ];
                let reach = ball[2].abs() * dt;
                if ball[0] - reach > LANE_MIN_X && ball[0] + reach < LANE_MAX_X {
                    fly(&mut ball, dt, &[]);
                } else {
                    let paddles = [
                        paddle_body(PADDLE_X[LEFT], self.paddle_y[m][LEFT], 1.0),
                        paddle_body(PADDLE_X[RIGHT], self.paddle_y[m][RIGHT], -1.0),
                    ];
                    fly(&mut ball, dt, &paddles);
                }
                [
                    self.ball_x[m],
                    self.ball_y[m],
                    self.ball_vx[m],
                    self.ball_vy[m],
                ] = ball;
            }
            // score_points
            let scorer = if self.ball_x[m] < 0.0 {
                RIGHT
            } else if self.ball_x[m] > FIELD_WIDTH {
                LEFT
            } else {
                continue;
            };
            self.score[m][scorer] += 1;
            self.ball_x[m] = BALL_START.x;
            self.ball_y[m] = BALL_START.y;
            self.ball_vx[m] = 0.0;
            self.ball_vy[m] = 0.0;
            self.serve_pending[m] = true;
            self.serve_wait[m] = serve_wait;
            self.serve_toward[m] = (1 - scorer) as u8;
            if self.score[m][scorer] >= self.score_limit[m] {
                self.phase[m] = SoaPhase::Finished;
            }
        }
    }

    /// `drive_pong_bots` for one bot seat.
    fn drive_bot(&mut self, m: usize, side: usize, step: f32, profile: &BotProfile) {
        if self.bot_wait[m][side] > 0 {
            self.bot_wait[m][side] -= 1;
        } else {
            self.bot_wait[m][side] = profile.reaction_ticks.saturating_sub(1);
            let opponent_y = self.paddle_y[m][1 - side];
            let noise = self.rng[m].range_f32(-profile.noise, profile.noise);
            let aim = self.rng[m].range_f32(AIM_OFFSET_MIN, AIM_OFFSET_MAX);
            self.bot_target[m][side] = self
                .plan(m, side, profile, opponent_y, aim)
                .map_or(PADDLE_START_Y, |y| y + noise)
                .clamp(PADDLE_Y_MIN, PADDLE_Y_MAX);
        }
        let paddle_y = self.paddle_y[m][side];
        let target = self.bot_target[m][side];
        let axis = if !target.is_finite() || (target - paddle_y).abs() < DEAD_ZONE {
            0.0
        } else {
            ((target - paddle_y) / step).clamp(-profile.max_axis, profile.max_axis)
        };
        self.axis[m][side] = axis;
    }

    /// `plan_pong`: where the bot wants its paddle's centre, or None for the middle.
    fn plan(
        &self,
        m: usize,
        side: usize,
        profile: &BotProfile,
        opponent_y: f32,
        aim: f32,
    ) -> Option<f32> {
        if self.serve_pending[m] {
            return None;
        }
        let (x, y, vx, vy) = (
            self.ball_x[m],
            self.ball_y[m],
            self.ball_vx[m],
            self.ball_vy[m],
        );
        let paddle_x = PADDLE_X[side];
        let (coming, face_x) = if side == LEFT {
            (
                vx < 0.0 && x > paddle_x,
                paddle_x + PADDLE_WIDTH / 2.0 + BALL_RADIUS,
            )
        } else {
            (
                vx > 0.0 && x < paddle_x,
                paddle_x - PADDLE_WIDTH / 2.0 - BALL_RADIUS,
            )
        };
        if !coming {
            return (!profile.predicts).then_some(y);
        }
        if !profile.predicts {
            return Some(y);
        }
        let time = ((face_x - x) / vx).max(0.0);
        let arrival = fold_between(y, vy, time, BALL_RADIUS, FIELD_HEIGHT - BALL_RADIUS);
        if !profile.aims {
            return Some(arrival);
        }
        let send_down = opponent_y < FIELD_HEIGHT / 2.0;
        Some(if send_down {
            arrival - aim
        } else {
            arrival + aim
        })
    }
}

fn fold_between(start: f32, velocity: f32, time: f32, low: f32, high: f32) -> f32 {
    let span = high - low;
    if span <= 0.0 {
        return low;
    }
    let m = (start + velocity * time - low).rem_euclid(2.0 * span);
    low + if m > span { 2.0 * span - m } else { m }
}

#[derive(Clone, Copy, Debug, PartialEq, Default)]
struct Vec2 {
    x: f32,
    y: f32,
}

impl Vec2 {
    const ZERO: Vec2 = Vec2 { x: 0.0, y: 0.0 };

    const fn new(x: f32, y: f32) -> Vec2 {
        Vec2 { x, y }
    }

    fn dot(self, other: Vec2) -> f32 {
        self.x * other.x + self.y * other.y
    }

    fn length(self) -> f32 {
        self.dot(self).sqrt()
    }
}

impl Add for Vec2 {
    type Output = Vec2;
    fn add(self, other: Vec2) -> Vec2 {
        Vec2::new(self.x + other.x, self.y + other.y)
    }
}

impl Sub for Vec2 {
    type Output = Vec2;
    fn sub(self, other: Vec2) -> Vec2 {
        Vec2::new(self.x - other.x, self.y - other.y)
    }
}

impl Mul<f32> for Vec2 {
    type Output = Vec2;
    fn mul(self, k: f32) -> Vec2 {
        Vec2::new(self.x * k, self.y * k)
    }
}

#[derive(Clone, Copy)]
struct Aabb {
    min: Vec2,
    max: Vec2,
}

#[derive(Clone, Copy)]
struct PaddleBody {
    rect: Aabb,
    centre_y: f32,
    forward: f32,
}

fn paddle_body(x: f32, y: f32, forward: f32) -> PaddleBody {
    let (half_width, half_height) = (PADDLE_WIDTH / 2.0, PADDLE_HEIGHT / 2.0);
    PaddleBody {
        rect: Aabb {
            min: Vec2::new(x - half_width, y - half_height),
            max: Vec2::new(x + half_width, y + half_height),
        },
        centre_y: y,
        forward,
    }
}

#[derive(Clone, Copy)]
struct Hit {
    t: f32,
    normal: Vec2,
    contact: Vec2,
}

enum Contact {
    None,
    Wall,
    Paddle(usize, Hit),
}

/// The ball's tick: `pong::fly` over two paddles.
fn fly<const N: usize>(ball: &mut [f32; 4], dt: f32, paddles: &[PaddleBody; N]) {
    let mut position = Vec2::new(ball[0], ball[1]);
    let mut velocity = Vec2::new(ball[2], ball[3]);
    let mut time_left = dt;
    let mut last_paddle = None;
    for _ in 0..MAX_CONTACTS_PER_TICK {
        let motion = velocity * time_left;
        let mut first_t = 1.0;
        let mut contact = Contact::None;
        let wall_y = if velocity.y < 0.0 {
            Some(BALL_RADIUS)
        } else if velocity.y > 0.0 {
            Some(FIELD_HEIGHT - BALL_RADIUS)
        } else {
            None
        };
        if let Some(wall_y) = wall_y {
            let t = ((wall_y - position.y) / motion.y).max(0.0);
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
                velocity = Vec2::new(velocity.x, -velocity.y);
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
    *ball = [position.x, position.y, velocity.x, velocity.y];
}

fn bounce_off_paddle(velocity: Vec2, hit: &Hit, paddle_y: f32, forward: f32) -> Vec2 {
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

/// `physics::sweep_circle_aabb`: the same early rejection of a sweep whose bounding box stays
/// clear of the grown rectangle (so the ratio compares the same work), the slab test against
/// the rectangle grown by the radius, then the rounded corners.
fn sweep_circle_aabb(start: Vec2, motion: Vec2, radius: f32, rect: Aabb) -> Option<Hit> {
    const REJECT_MARGIN: f32 = 1.0;
    let grown_min = Vec2::new(rect.min.x - radius, rect.min.y - radius);
    let grown_max = Vec2::new(rect.max.x + radius, rect.max.y + radius);
    let end = start + motion;
    if start.x.max(end.x) < grown_min.x - REJECT_MARGIN
        || start.x.min(end.x) > grown_max.x + REJECT_MARGIN
        || start.y.max(end.y) < grown_min.y - REJECT_MARGIN
        || start.y.min(end.y) > grown_max.y + REJECT_MARGIN
    {
        return None;
    }
    let mut t_enter = f32::NEG_INFINITY;
    let mut t_exit = f32::INFINITY;
    let mut normal = Vec2::ZERO;
    for (s, d, lo, hi, axis_normal) in [
        (
            start.x,
            motion.x,
            grown_min.x,
            grown_max.x,
            Vec2::new(1.0, 0.0),
        ),
        (
            start.y,
            motion.y,
            grown_min.y,
            grown_max.y,
            Vec2::new(0.0, 1.0),
        ),
    ] {
        if d == 0.0 {
            if s < lo || s > hi {
                return None;
            }
            continue;
        }
        let (near_plane, face_normal) = if d > 0.0 {
            (lo, axis_normal * -1.0)
        } else {
            (hi, axis_normal)
        };
        let far_plane = if d > 0.0 { hi } else { lo };
        let t_near = (near_plane - s) / d;
        let t_far = (far_plane - s) / d;
        if t_near > t_enter {
            t_enter = t_near;
            normal = face_normal;
        }
        t_exit = t_exit.min(t_far);
    }
    if t_enter > t_exit || t_exit < 0.0 || t_enter > 1.0 {
        return None;
    }
    let in_corner =
        |p: Vec2| (p.x < rect.min.x || p.x > rect.max.x) && (p.y < rect.min.y || p.y > rect.max.y);
    let corner_of = |p: Vec2| {
        Vec2::new(
            if p.x < rect.min.x {
                rect.min.x
            } else {
                rect.max.x
            },
            if p.y < rect.min.y {
                rect.min.y
            } else {
                rect.max.y
            },
        )
    };
    if t_enter < 0.0 {
        if !in_corner(start) {
            return None;
        }
        return sweep_corner(start, motion, radius, corner_of(start));
    }
    let entry = start + motion * t_enter;
    if in_corner(entry) {
        return sweep_corner(start, motion, radius, corner_of(entry));
    }
    Some(Hit {
        t: t_enter,
        normal,
        contact: Vec2::new(
            entry.x.clamp(rect.min.x, rect.max.x),
            entry.y.clamp(rect.min.y, rect.max.y),
        ),
    })
}

fn sweep_corner(start: Vec2, motion: Vec2, radius: f32, corner: Vec2) -> Option<Hit> {
    let m = start - corner;
    let a = motion.dot(motion);
    let b = m.dot(motion);
    let c = m.dot(m) - radius * radius;
    if a == 0.0 || c < 0.0 || b >= 0.0 {
        return None;
    }
    let discriminant = b * b - a * c;
    if discriminant < 0.0 {
        return None;
    }
    let t = (-b - discriminant.sqrt()) / a;
    if !(0.0..=1.0).contains(&t) {
        return None;
    }
    let at = start + motion * t;
    let offset = at - corner;
    let length = offset.length();
    if length == 0.0 {
        return None;
    }
    Some(Hit {
        t,
        normal: offset * (1.0 / length),
        contact: corner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::{EcsPong, PongView};
    use arcade_systems::rng::SplitMix64;

    fn same(ecs: &PongView, soa: &PongSnapshot, what: &str) {
        assert_eq!(ecs.tick, soa.tick, "{what}: tick");
        assert_eq!(ecs.score, soa.score, "{what}: score");
        // Bit-for-bit: the same float operations in the same order.
        let bits = |v: [f32; 4]| v.map(f32::to_bits);
        assert_eq!(
            bits(ecs.ball),
            bits(soa.ball),
            "{what}: ball {:?} {:?}",
            ecs.ball,
            soa.ball
        );
        assert_eq!(
            ecs.paddles.map(f32::to_bits),
            soa.paddles.map(f32::to_bits),
            "{what}: paddles"
        );
        assert_eq!(ecs.playing, soa.phase == SoaPhase::Playing, "{what}: phase");
    }

    /// Scripted players: each side's inputs drawn from a fixed log (new axis about every 5th
    /// tick per side), the same log fed to both versions.
    fn scripted(seed: u64, ticks: u32) -> [u32; 2] {
        let mut ecs = EcsPong::new(60);
        let mut soa = SoaPong::new(60);
        let game = ecs.add_match(seed, 21, [false, false]);
        let index = soa.add_match(seed, 21, [false, false]);
        let mut log = SplitMix64::new(seed ^ 0x5eed);
        let mut seq = 0;
        let mut last = [0; 2];
        for tick in 0..ticks {
            for side in [0, 1] {
                if log.next_u64().is_multiple_of(5) {
                    seq += 1;
                    let axis = log.range_f32(-1.0, 1.0);
                    ecs.submit_input(game, side, seq, axis);
                    soa.submit_input(index, side, seq, axis);
                }
            }
            ecs.step();
            soa.step();
            let Some(view) = ecs.view(game) else {
                // Ended (the score limit): the baseline must have finished on the same tick.
                assert_eq!(soa.snapshot(index).phase, SoaPhase::Finished, "tick {tick}");
                return last;
            };
            same(
                &view,
                &soa.snapshot(index),
                &format!("seed {seed} tick {tick}"),
            );
            assert_eq!(view.acks, soa.snapshot(index).acks, "tick {tick}: acks");
            last = view.score;
        }
        last
    }

    #[test]
    fn scripted_inputs_give_identical_states() {
        let mut points = 0;
        for seed in 1..=8 {
            let score = scripted(seed, 4000);
            points += score[0] + score[1];
        }
        assert!(points > 10, "the scripts must score ({points} points)");
    }

    /// Many bot-filled matches in one World against the baseline: every match every tick
    /// (no match can reach 21 in 1,200 ticks, so the World keeps its order).
    #[test]
    fn bot_filled_matches_give_identical_states() {
        let matches = 64;
        let mut ecs = EcsPong::new(60);
        let mut soa = SoaPong::new(60);
        let games: Vec<_> = (0..matches)
            .map(|n| ecs.add_match(1000 + n, 21, [true, true]))
            .collect();
        for n in 0..matches {
            soa.add_match(1000 + n, 21, [true, true]);
        }
        let mut fastest = 0.0f32;
        for tick in 0..1200 {
            ecs.step();
            soa.step();
            for (index, game) in games.iter().enumerate() {
                let view = ecs.view(*game).expect("live");
                same(
                    &view,
                    &soa.snapshot(index),
                    &format!("match {index} tick {tick}"),
                );
                let [_, _, vx, vy] = view.ball;
                fastest = fastest.max((vx * vx + vy * vy).sqrt());
            }
        }
        // Paddle hits speed the ball up past the serve's 360/s: the bots do return it.
        assert!(fastest > SERVE_SPEED * 1.2, "fastest ball {fastest}");
    }

    /// One bot against a scripted player, to the end of the match.
    #[test]
    fn a_bot_against_a_script_to_the_end() {
        for seed in [3, 4] {
            let mut ecs = EcsPong::new(60);
            let mut soa = SoaPong::new(60);
            let game = ecs.add_match(seed, 3, [false, true]);
            let index = soa.add_match(seed, 3, [false, true]);
            let mut ended = false;
            for tick in 0..60 * 60 * 5 {
                let axis = if (tick / 40) % 2 == 0 { 1.0 } else { -1.0 };
                ecs.submit_input(game, 0, tick as u64 + 1, axis);
                soa.submit_input(index, 0, tick as u64 + 1, axis);
                ecs.step();
                soa.step();
                match ecs.view(game) {
                    Some(view) => same(&view, &soa.snapshot(index), &format!("tick {tick}")),
                    None => {
                        assert_eq!(soa.snapshot(index).phase, SoaPhase::Finished);
                        ended = true;
                        break;
                    }
                }
            }
            assert!(ended, "seed {seed}: the match ends");
        }
    }
}
