//! What travels on a WebSocket (any thread; no IO): [`codec`] turns envelopes into frames and
//! back, [`protocol`] holds every message shape.

pub mod codec;
pub mod protocol;
