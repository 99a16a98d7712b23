//! Matchmaking: the queues (tick thread), pairing (pure) and ratings (tokio).
//!
//! Matchmaking: `queue.join` / `queue.leave` and [`match_queues`], the system that pairs
//! queued players into matches.
//!
//! The queues are one Resource ([`Matchmaker`]) owned by the tick thread: sessions reach it
//! only through the command queue (`MatchOp::QueueJoin` / `QueueLeave`, applied by
//! `bridge::receive_commands`), and [`match_queues`] runs right after that in
//! `SimSystems::Receive`, every tick: it searches a queue on the tick after someone joined
//! it, and every queue each [`REPAIR_EVERY_TICKS`] for the windows that widened. Nothing here
//! locks or waits.
//!
//! Pairing prefers close ratings: the oldest waiting player anchors a group and takes the
//! nearest ratings within its window, which starts at [`INITIAL_WINDOW`] rating points and
//! widens by [`WIDEN_PER_SECOND`] for every second of waiting (counted in ticks, so the
//! system reads no clock). The anchor is the oldest of those not yet grouped, so its window
//! is the widest of all. A formed group gets a match with default options, seated in the
//! order that balances the teams, exactly as `match.create` + `match.join` would seat them;
//! `match.start` goes out when the last seat fills (this tick's `Send`).
//!
//! - [`queue`]: the queues and the system (tick thread).
//! - [`pairing`]: ratings and waiting times in, groups out (pure).
//! - [`rating`]: the rating a player queues with (tokio, before the command is sent).
//! - [`shared`]: in a cluster (`--redis`), this instance's part of the cluster's queues, which
//!   live in Redis (tick thread; the Redis side is `crate::cluster::queues`).

pub mod pairing;
pub mod queue;
pub mod rating;
pub mod shared;

pub use crate::link::QueueRequest;
pub use pairing::{INITIAL_WINDOW, WIDEN_PER_SECOND};
pub use queue::{
    MAX_QUEUED_PLAYERS, Matchmaker, REPAIR_EVERY_TICKS, forget_connection, install, is_queued,
    join_queue, leave_queue, match_queues, queue_name,
};
pub use rating::rating_for;
