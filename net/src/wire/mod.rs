//! What travels on a WebSocket (any thread; no IO): [`codec`] turns envelopes into frames and
//! back, [`protocol`] holds every message shape, [`arena`] holds the tick's `state` frames.

pub mod arena;
pub mod codec;
pub mod protocol;
