//! # arcade-bench: the library side of the benchmarks
//!
//! What the `arcade-bench` binary, the criterion benches (`benches/`) and the tests share:
//!
//! - [`ecs`]: the server's `Simulation` filled with matches through its public operations.
//! - [`soa_pong`]: the hand-written struct-of-arrays Pong 1v1, the baseline of the ECS.
//! - [`stats`]: percentiles and a concurrent log-bucketed histogram.

pub mod ecs;
pub mod soa_pong;
pub mod stats;
