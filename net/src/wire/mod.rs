//! What travels on a WebSocket (any thread; no IO): [`codec`] turns envelopes into frames and
//! back, [`input`] reads the hot `input` envelope by hand, [`protocol`] holds every message
//! shape, [`arena`] holds the tick's `state` frames.

pub mod arena;
pub mod codec;
pub mod input;
pub mod protocol;
