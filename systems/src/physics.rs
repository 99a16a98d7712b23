//! Swept collision of a moving circle against an axis-aligned rectangle: the geometry both
//! games share (a Pong ball against paddles, a Breakout ball against its paddle and bricks).
//!
//! Testing only where a ball ends a tick lets a fast ball jump over a thin paddle; sweeping
//! the whole segment it travels cannot (GAMES.md: "No tunnelling at any speed"). A circle of
//! radius r hits a rectangle exactly when its centre hits the rectangle grown by r with
//! rounded corners, so the sweep is a segment against that rounded rectangle: a slab test
//! against the rectangle grown by r, then, in a corner region, a segment against the corner's
//! circle (Ericson, *Real-Time Collision Detection*, 5.5.7). Plain f32, no ECS types.

use std::ops::{Add, Mul, Sub};

/// A point or a displacement in field units.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Vec2 {
    /// Across the field, growing rightward.
    pub x: f32,
    /// Down the field, growing downward.
    pub y: f32,
}

impl Vec2 {
    pub const ZERO: Vec2 = Vec2 { x: 0.0, y: 0.0 };

    pub const fn new(x: f32, y: f32) -> Vec2 {
        Vec2 { x, y }
    }

    pub fn dot(self, other: Vec2) -> f32 {
        self.x * other.x + self.y * other.y
    }

    pub fn length(self) -> f32 {
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

/// An axis-aligned rectangle (y grows downward, so `min.y` is the top edge).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aabb {
    /// The top-left corner.
    pub min: Vec2,
    /// The bottom-right corner.
    pub max: Vec2,
}

impl Aabb {
    /// The rectangle of that centre and those half sizes.
    pub fn from_centre(centre: Vec2, half_width: f32, half_height: f32) -> Aabb {
        Aabb {
            min: Vec2::new(centre.x - half_width, centre.y - half_height),
            max: Vec2::new(centre.x + half_width, centre.y + half_height),
        }
    }

    /// The point of the rectangle nearest to `p`.
    pub fn clamp(&self, p: Vec2) -> Vec2 {
        Vec2::new(
            p.x.clamp(self.min.x, self.max.x),
            p.y.clamp(self.min.y, self.max.y),
        )
    }
}

/// Where a swept circle first touches a rectangle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// The fraction of the motion travelled before the touch, in [0, 1].
    pub t: f32,
    /// The unit normal of the rectangle's surface at the touch, pointing out of it (toward
    /// the circle): (-1, 0) for the left face, (0, -1) for the top face, diagonal at a corner.
    pub normal: Vec2,
    /// The point of the rectangle the circle touches.
    pub contact: Vec2,
}

/// The wall a ball moving at `velocity` along one axis is heading for: `low` when moving
/// down that axis, `high` when moving up it, none when still.
pub fn wall_ahead(velocity: f32, low: f32, high: f32) -> Option<f32> {
    if velocity < 0.0 {
        Some(low)
    } else if velocity > 0.0 {
        Some(high)
    } else {
        None
    }
}

/// The fraction of `motion` (along one axis, from `position`) after which the ball's centre
/// reaches the plane at `bound`; 0 when it is already past it.
pub fn time_to_plane(position: f32, motion: f32, bound: f32) -> f32 {
    ((bound - position) / motion).max(0.0)
}

/// How far (field units) a swept segment's bounding box must stay from the grown rectangle
/// for [`sweep_circle_aabb`] to reject it before the exact test.
const SWEEP_REJECT_MARGIN: f32 = 1.0;

/// The first touch of a circle of `radius` whose centre moves from `start` by `motion`
/// against `rect`, if it happens within this motion. A circle that already overlaps the
/// rectangle at `start`, or that only grazes it while moving away, does not hit: a ball
/// leaves a surface it has just bounced off.
#[inline]
pub fn sweep_circle_aabb(start: Vec2, motion: Vec2, radius: f32, rect: Aabb) -> Option<Hit> {
    let grown_min = Vec2::new(rect.min.x - radius, rect.min.y - radius);
    let grown_max = Vec2::new(rect.max.x + radius, rect.max.y + radius);

    // Most sweeps pass far from the rectangle (a ball in mid-field against a paddle, a brick
    // outside the ball's path): rejected on the segment's bounding box, without the slab
    // test's divisions. The margin is far above their rounding, so the rejection only
    // returns None where the slab test below would.
    let end = start + motion;
    if start.x.max(end.x) < grown_min.x - SWEEP_REJECT_MARGIN
        || start.x.min(end.x) > grown_max.x + SWEEP_REJECT_MARGIN
        || start.y.max(end.y) < grown_min.y - SWEEP_REJECT_MARGIN
        || start.y.min(end.y) > grown_max.y + SWEEP_REJECT_MARGIN
    {
        return None;
    }

    // Slab test against the rectangle grown by the radius (square corners).
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
        // The centre starts inside the grown rectangle: a real overlap, unless it sits in a
        // corner square outside the rounded corner, from where only that corner can be hit.
        if !in_corner(start) {
            return None;
        }
        return sweep_corner(start, motion, radius, corner_of(start));
    }

    let entry = start + motion * t_enter;
    if in_corner(entry) {
        // A segment that enters a corner square and misses the corner's circle leaves the
        // square again without reaching the rectangle: the circle covers the square's inner
        // edges.
        return sweep_corner(start, motion, radius, corner_of(entry));
    }
    Some(Hit {
        t: t_enter,
        normal,
        contact: rect.clamp(entry),
    })
}

/// A segment from `start` along `motion` against the circle of `radius` around `corner`.
fn sweep_corner(start: Vec2, motion: Vec2, radius: f32, corner: Vec2) -> Option<Hit> {
    let t = sweep_point_circle(start, motion, corner, radius)?;
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

/// The first t in [0, 1] where `start + motion * t` is at `radius` from `centre`, moving in.
fn sweep_point_circle(start: Vec2, motion: Vec2, centre: Vec2, radius: f32) -> Option<f32> {
    let m = start - centre;
    let a = motion.dot(motion);
    let b = m.dot(motion);
    let c = m.dot(m) - radius * radius;
    if a == 0.0 || c < 0.0 || b >= 0.0 {
        // Not moving, already inside, or moving away.
        return None;
    }
    let discriminant = b * b - a * c;
    if discriminant < 0.0 {
        return None;
    }
    let t = (-b - discriminant.sqrt()) / a;
    (0.0..=1.0).contains(&t).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_ahead_follows_the_direction_and_the_plane_time_is_a_fraction() {
        assert_eq!(wall_ahead(-3.0, 7.0, 593.0), Some(7.0));
        assert_eq!(wall_ahead(3.0, 7.0, 593.0), Some(593.0));
        assert_eq!(wall_ahead(0.0, 7.0, 593.0), None);
        assert_eq!(time_to_plane(100.0, -200.0, 0.0), 0.5);
        assert_eq!(time_to_plane(5.0, -10.0, 7.0), 0.0, "already past: at once");
    }

    const PADDLE: Aabb = Aabb {
        min: Vec2::new(25.0, 260.0),
        max: Vec2::new(35.0, 340.0),
    };

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-4
    }

    #[test]
    fn head_on_hits_the_face_at_the_radius() {
        let hit = sweep_circle_aabb(Vec2::new(60.0, 300.0), Vec2::new(-30.0, 0.0), 7.0, PADDLE)
            .expect("hit");
        // The centre stops at x = 35 + 7 = 42, 18 of the 30 units in.
        assert!(close(hit.t, 18.0 / 30.0), "t = {}", hit.t);
        assert_eq!(hit.normal, Vec2::new(1.0, 0.0));
        assert_eq!(hit.contact, Vec2::new(35.0, 300.0));
    }

    #[test]
    fn a_fast_ball_cannot_jump_over_a_thin_paddle() {
        // 900 units/s at 1 Hz: the ball starts in front of the paddle and would end far behind.
        let hit = sweep_circle_aabb(Vec2::new(500.0, 310.0), Vec2::new(-900.0, 0.0), 7.0, PADDLE);
        assert!(hit.is_some());
    }

    #[test]
    fn passing_above_or_stopping_short_misses() {
        let above = sweep_circle_aabb(Vec2::new(60.0, 250.0), Vec2::new(-60.0, 0.0), 7.0, PADDLE);
        assert_eq!(above, None);
        let short = sweep_circle_aabb(Vec2::new(60.0, 300.0), Vec2::new(-10.0, 0.0), 7.0, PADDLE);
        assert_eq!(short, None);
    }

    #[test]
    fn the_top_face_and_the_corners_have_their_own_normals() {
        let top = sweep_circle_aabb(Vec2::new(30.0, 200.0), Vec2::new(0.0, 100.0), 7.0, PADDLE)
            .expect("top");
        assert_eq!(top.normal, Vec2::new(0.0, -1.0));
        assert!(close(top.t, (260.0 - 7.0 - 200.0) / 100.0));

        // Diagonally into the top-right corner.
        let corner = sweep_circle_aabb(Vec2::new(60.0, 230.0), Vec2::new(-30.0, 30.0), 7.0, PADDLE)
            .expect("corner");
        assert_eq!(corner.contact, Vec2::new(35.0, 260.0));
        assert!(corner.normal.x > 0.0 && corner.normal.y < 0.0);
        assert!(close(corner.normal.length(), 1.0));
        let centre = Vec2::new(60.0, 230.0) + Vec2::new(-30.0, 30.0) * corner.t;
        assert!(close((centre - corner.contact).length(), 7.0));
    }

    #[test]
    fn a_segment_through_the_square_corner_but_outside_the_round_one_misses() {
        // Crosses the grown rectangle's top-right corner square, 8.5 units from the corner.
        let miss = sweep_circle_aabb(Vec2::new(36.0, 249.0), Vec2::new(10.0, 10.0), 7.0, PADDLE);
        assert_eq!(miss, None);
    }

    #[test]
    fn leaving_a_surface_or_overlapping_is_not_a_hit() {
        // Touching the right face, moving away.
        let away = sweep_circle_aabb(Vec2::new(42.0, 300.0), Vec2::new(30.0, 5.0), 7.0, PADDLE);
        assert_eq!(away, None);
        // Touching the right face, moving in: a hit at once.
        let into = sweep_circle_aabb(Vec2::new(42.0, 300.0), Vec2::new(-30.0, 0.0), 7.0, PADDLE)
            .expect("hit");
        assert_eq!(into.t, 0.0);
        // Overlapping already.
        let inside = sweep_circle_aabb(Vec2::new(30.0, 300.0), Vec2::new(-30.0, 0.0), 7.0, PADDLE);
        assert_eq!(inside, None);
        // Not moving.
        assert_eq!(
            sweep_circle_aabb(Vec2::new(60.0, 300.0), Vec2::ZERO, 7.0, PADDLE),
            None
        );
    }

    #[test]
    fn segments_near_the_rejection_margin_still_get_the_exact_test() {
        // Ending exactly on the grown face (x = 42): inside the margin, a hit at t = 1.
        let touch = sweep_circle_aabb(Vec2::new(60.0, 300.0), Vec2::new(-18.0, 0.0), 7.0, PADDLE)
            .expect("hit");
        assert_eq!(touch.t, 1.0);
        // Half a unit short: inside the margin too, and the exact test misses.
        let short = sweep_circle_aabb(Vec2::new(60.0, 300.0), Vec2::new(-17.5, 0.0), 7.0, PADDLE);
        assert_eq!(short, None);
        // Far away in every direction: rejected, as the exact test would.
        for (start, motion) in [
            (Vec2::new(400.0, 300.0), Vec2::new(-6.0, 2.0)),
            (Vec2::new(30.0, 100.0), Vec2::new(0.0, 6.0)),
            (Vec2::new(30.0, 500.0), Vec2::new(0.0, -6.0)),
            (Vec2::new(0.0, 300.0), Vec2::new(-6.0, 0.0)),
        ] {
            assert_eq!(sweep_circle_aabb(start, motion, 7.0, PADDLE), None);
        }
    }

    #[test]
    fn a_start_in_a_corner_square_can_still_hit_the_corner() {
        // Inside the grown rectangle's corner square but outside the rounded corner.
        let start = Vec2::new(41.0, 254.0);
        assert!((start - Vec2::new(35.0, 260.0)).length() > 7.0);
        let hit = sweep_circle_aabb(start, Vec2::new(-5.0, 5.0), 7.0, PADDLE).expect("corner");
        assert_eq!(hit.contact, Vec2::new(35.0, 260.0));
    }
}
