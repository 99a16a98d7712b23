//! Tournaments (issue 13): brackets that run themselves. Tokio threads, except [`tick`] (the
//! tick thread's jobs and system).
//!
//! A host creates a tournament (`registration`); players sign up with an optional alias,
//! check in during the optional window before a planned start (`checkin`), and the host (or
//! the clock) starts it (`running`): the bracket is seeded by rating
//! (`arcade_systems::tournament`), each round's matches are created at once on the tick
//! thread with both players seated, and every ended match moves the bracket on until it is
//! `finished` (or `cancelled` by the host). Every change is saved before it is announced;
//! a restart resumes running tournaments, replaying the matches that were live.
//!
//! - [`book`]: a tournament in memory, the checks of each request, its wire views.
//! - [`service`]: the service (in `AppState`), the changes, the runner task and the resume.
//! - [`http`]: the REST routes and their OpenAPI description.
//! - [`tick`]: the tick-thread jobs (create a match, leave one) and the system that forwards
//!   ended tournament matches to the runner.

pub mod book;
pub mod http;
pub mod service;
pub mod tick;

pub use service::{Tournaments, resume, run};
