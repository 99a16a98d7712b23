//! [`FrameArena`]: the tick thread's `state` frames written one after another into one
//! shared buffer and split off as shared [`Bytes`] (tick thread, `bridge::send`).
//!
//! A frame encoded into a reused `Vec` must then be copied into its own allocation to be
//! shared by every member's outbox: one `malloc` and one copy per match, codec and tick. Here
//! each frame is written in place at the end of the arena and split off: no copy, and an
//! allocation only when the arena is full while frames written in it are still held (a slow
//! client's queue). When every frame of the arena has been dropped (sent, or replaced by a
//! newer state), the same memory is written again from its start.

use bytes::{BufMut, Bytes, BytesMut};

/// Size of an arena's buffer: about 40 JSON Pong states, 600 compact deltas. A frame held by
/// a stalled connection keeps its whole arena alive; this bounds that to 16 KiB.
pub const ARENA_BYTES: usize = 16 * 1024;

/// Room left free before a frame is written: a larger frame still works, but is moved once
/// while it grows.
pub const FRAME_ROOM: usize = 2 * 1024;

/// Frames written in place, each split off as shared bytes.
pub struct FrameArena {
    buf: BytesMut,
}

impl Default for FrameArena {
    fn default() -> FrameArena {
        FrameArena {
            buf: BytesMut::with_capacity(ARENA_BYTES),
        }
    }
}

impl FrameArena {
    /// Writes one frame with `write` (which must write only that frame) and returns it.
    pub fn frame(&mut self, write: impl FnOnce(&mut BytesMut)) -> Bytes {
        if self.buf.capacity() < FRAME_ROOM {
            // Back to the start of the buffer when no frame of it is held any more, else a
            // new buffer (the old one is freed with its last frame).
            self.buf.reserve(ARENA_BYTES);
        }
        write(&mut self.buf);
        self.buf.split().freeze()
    }

    /// A frame of `bytes`, copied into the arena.
    pub fn copy(&mut self, bytes: &[u8]) -> Bytes {
        self.frame(|buf| buf.put_slice(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_what_was_written_and_independent() {
        let mut arena = FrameArena::default();
        let one = arena.copy(b"one");
        let two = arena.frame(|buf| {
            buf.put_slice(b"tw");
            buf.put_u8(b'o');
        });
        let big = arena.copy(&[7; 3 * FRAME_ROOM]);
        assert_eq!(&one[..], b"one");
        assert_eq!(&two[..], b"two");
        assert_eq!(big.len(), 3 * FRAME_ROOM);
        assert!(big.iter().all(|&b| b == 7));
    }

    #[test]
    fn an_arena_whose_frames_are_dropped_is_written_again_from_its_start() {
        let mut arena = FrameArena::default();
        let first = arena.copy(&[1; 100]);
        let start = first.as_ptr() as usize;
        drop(first);
        // Ten times round the buffer, dropping every frame: always the same memory.
        for n in 0..10 * ARENA_BYTES / 100 {
            let frame = arena.copy(&[n as u8; 100]);
            let at = frame.as_ptr() as usize;
            assert!(
                (start..start + ARENA_BYTES).contains(&at),
                "no new allocation"
            );
            assert!(frame.iter().all(|&b| b == n as u8));
        }
    }

    #[test]
    fn a_held_frame_keeps_its_bytes_when_the_arena_moves_on() {
        let mut arena = FrameArena::default();
        let held = arena.copy(b"held by a slow client");
        for _ in 0..ARENA_BYTES / 100 + 1 {
            drop(arena.copy(&[9; 100]));
        }
        let next = arena.copy(b"next");
        assert_eq!(&held[..], b"held by a slow client");
        assert_eq!(&next[..], b"next");
        assert_ne!(next.as_ptr(), held.as_ptr());
    }
}
