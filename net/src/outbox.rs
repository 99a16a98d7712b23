//! A connection's id and outbound queue: the meeting point of the two threads (the tick
//! thread and tokio push, the connection's writer drains).
//!
//! The queue is shared by everyone who pushes to it (the tick thread, the
//! chat hub, the connection's own reader) and drained by the connection's writer task.
//!
//! Two lanes: `control` frames (replies, events, `match.end`, chat) are never dropped; `state`
//! frames keep only the newest per match, so a slow reader gets fresh state instead of a
//! backlog. The lock is held to move frames in or out, and by a sender across one `send` that
//! does not wait (never across a wait for a socket), so pushing from the tick thread cannot
//! wait on a socket; and no one waits on the lock to push: a control
//! frame pushed while another thread holds it (a writer the scheduler preempted mid-move, for
//! milliseconds) waits in a lock-free spill, moved into the lane, in order, by whoever takes
//! the lock next ([`Outbox::push`]); the tick thread stages `state`s with `try_lock`.
//!
//! The connection's send half (the socket's write half) waits here too ([`Parked`]) between
//! writes, so that whoever writes next takes it: a sender walking the connections after a tick
//! (`bridge::wake`), which tries each socket once without waiting, or the connection's writer
//! task, which waits (at most [`SEND_STALL_LIMIT`](crate::ws::session::SEND_STALL_LIMIT)) for
//! a slow one. Both write with [`Parked::write_now`]: frames that fit [`GATHER_BYTES`] (a
//! tick's `state`, a reply) are copied into the thread's reused buffer and written with one
//! `send`, which the kernel takes on a shorter path than `writev`; more, one vectored write.
//! A sender that finds nothing queued and the send half idle writes its `state` while it
//! holds the lock ([`Outbox::send_state`]): one hold, one `send`, nothing staged.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use arcade_systems::model::MatchId;
use arcade_systems::sim;
use bytes::Bytes;
use crossbeam_queue::SegQueue;
#[cfg(target_os = "linux")]
use tokio::io::Interest;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::wire::codec::{Codec, Frame};
use crate::ws::frame::{self, Out, Unsent};
use crate::ws::session::FrameCounts;

/// A connection's id, given by the hub, unique for the life of the process.
pub type ConnId = u64;

/// Control frames a connection may have queued before it is judged hopeless and closed.
pub const MAX_CONTROL_FRAMES: usize = 1024;

/// Why the server closes a connection: the close code and reason sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
}

pub const CLOSE_GOING_AWAY: CloseReason = CloseReason {
    code: 1001,
    reason: "server shutting down",
};
pub const CLOSE_POLICY: CloseReason = CloseReason {
    code: 1008,
    reason: "policy violation",
};
pub const CLOSE_TOO_SLOW: CloseReason = CloseReason {
    code: 1008,
    reason: "too slow to read",
};
pub const CLOSE_TOO_MANY_ERRORS: CloseReason = CloseReason {
    code: 1008,
    reason: "too many malformed messages",
};
/// A text frame that is not UTF-8 (RFC 6455: 1007, inconsistent data).
pub const CLOSE_INVALID_UTF8: CloseReason = CloseReason {
    code: 1007,
    reason: "text frame is not UTF-8",
};
pub const CLOSE_TOO_LARGE: CloseReason = CloseReason {
    code: 1009,
    reason: "message too large",
};
/// A frame that breaks RFC 6455 (unmasked, a reserved bit or opcode, bad fragmentation).
pub const CLOSE_PROTOCOL: CloseReason = CloseReason {
    code: 1002,
    reason: "protocol error",
};

#[derive(Default)]
struct Lanes {
    control: VecDeque<Frame>,
    /// The newest `state` per match not yet written.
    states: Vec<(MatchId, Frame)>,
    /// A heartbeat ping is wanted.
    ping: bool,
    /// The payload of the client's latest ping, to be answered (RFC 6455: the latest is
    /// enough).
    pong: Option<Bytes>,
    close: Option<CloseReason>,
    /// The send half, while no one is writing to it.
    parked: Option<Parked>,
}

impl Lanes {
    /// No `state` is staged: the connection is closing, or the member left (`gone`, read
    /// under the lock: see [`Outbox::stage_state`]).
    fn refuses_states(&self, gone: Option<&AtomicBool>) -> bool {
        self.close.is_some() || gone.is_some_and(|gone| gone.load(Ordering::Acquire))
    }

    /// Nothing is queued and the send half is parked with nothing unsent: a frame may be
    /// written at once.
    fn is_idle(&self) -> bool {
        !self.has_queued() && self.send_half_free()
    }

    /// The send half is parked, with nothing unsent left in it.
    fn send_half_free(&self) -> bool {
        self.parked
            .as_ref()
            .is_some_and(|parked| parked.unsent.is_empty())
    }

    /// Something waits to be written (or the close to be sent).
    fn has_queued(&self) -> bool {
        !self.control.is_empty()
            || !self.states.is_empty()
            || self.ping
            || self.pong.is_some()
            || self.close.is_some()
    }

    /// Queues the frame `make` gives in place of the match's unsent `state`, or behind the
    /// queue (see [`Outbox::stage_state`]).
    fn stage(&mut self, match_id: MatchId, make: impl FnOnce(bool) -> Option<Frame>) -> Staged {
        match self.states.iter_mut().find(|(id, _)| *id == match_id) {
            Some(slot) => match make(true) {
                Some(frame) => {
                    slot.1 = frame;
                    Staged::Replaced
                }
                None => Staged::Skipped,
            },
            None => match make(false) {
                Some(frame) => {
                    self.states.push((match_id, frame));
                    Staged::Queued
                }
                None => Staged::Skipped,
            },
        }
    }

    /// For a sender: the parked send half and everything queued (into `batch`), in one go;
    /// `None` when that is the writer task's to do (the send half is busy, holds unsent frames,
    /// or the connection is closing).
    fn claim(&mut self, batch: &mut Batch) -> Option<Parked> {
        if self.close.is_some() || !self.send_half_free() {
            return None;
        }
        std::mem::swap(&mut self.control, &mut batch.control);
        std::mem::swap(&mut self.states, &mut batch.states);
        batch.ping = std::mem::take(&mut self.ping);
        batch.pong = self.pong.take();
        batch.close = None;
        self.parked.take()
    }
}

/// A connection's send half with what goes with it, parked in its outbox between writes.
pub struct Parked {
    /// The socket's write half.
    pub socket: OwnedWriteHalf,
    /// Frames taken out of the queue that the socket has not taken yet (the first maybe in
    /// part): whoever writes next writes them first, so the order holds.
    pub unsent: Unsent,
    /// Where the frames and bytes written are counted.
    pub metrics: Arc<Metrics>,
    /// The socket's descriptor, open while `socket` is: a sender that holds the outbox's
    /// lock with the send half parked writes to it without reading the socket's registration.
    #[cfg(target_os = "linux")]
    fd: std::os::fd::RawFd,
}

/// Up to this many bytes a write is copied into one buffer and `send` (a `state` of Pong 2v2 in
/// JSON is about 600 bytes); past it, the frames go by `writev` uncopied.
pub const GATHER_BYTES: usize = 4 * 1024;

thread_local! {
    /// Where a thread gathers a small write ([`send`]): one buffer per thread, reused, so an
    /// idle connection holds none.
    static GATHER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(GATHER_BYTES));
}

/// Writes `slices` without waiting, as far as the socket takes them: gathered into one buffer
/// and written with one `send` when they are small (the kernel's `writev` path pays for the
/// file's position and the vector's import, a copy of a few hundred bytes costs less), with
/// `writev` otherwise. `WouldBlock` when the socket takes nothing.
#[cfg(target_os = "linux")]
fn send(socket: &OwnedWriteHalf, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    let len: usize = slices.iter().map(|slice| slice.len()).sum();
    if len > GATHER_BYTES {
        return socket.try_write_vectored(slices);
    }
    GATHER.with_borrow_mut(|gather| {
        gather.clear();
        for slice in slices {
            gather.extend_from_slice(slice);
        }
        send_gathered(socket, gather)
    })
}

/// Elsewhere, one vectored write (`MSG_NOSIGNAL` is Linux's).
#[cfg(not(target_os = "linux"))]
fn send(socket: &OwnedWriteHalf, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    socket.try_write_vectored(slices)
}

/// One non-blocking `send` of `gather`.
#[cfg(target_os = "linux")]
fn send_gathered(socket: &OwnedWriteHalf, gather: &[u8]) -> io::Result<usize> {
    let stream = socket.as_ref();
    stream.try_io(Interest::WRITABLE, || {
        // SAFETY: `gather` is a live, initialized slice of `gather.len()` bytes for the whole
        // call, and the descriptor is the socket's, open while `socket` is borrowed.
        let sent = unsafe {
            libc::send(
                stream.as_raw_fd(),
                gather.as_ptr().cast(),
                gather.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        usize::try_from(sent).map_err(|_| io::Error::last_os_error())
    })
}

/// A control frame pushed while the lock was held elsewhere ([`Outbox::push`]).
enum Spilled {
    Frame(Frame),
    /// [`Outbox::push_final`]'s: the match's unsent `state` goes when it is moved in.
    Final(MatchId, Frame),
}

/// What staging a member's `state` did ([`Outbox::stage_state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Staged {
    Queued,
    /// Queued in place of an unsent older `state` of the match, which is dropped.
    Replaced,
    /// Nothing queued: the member is gone, the connection is closing, or there was no frame
    /// for it.
    Skipped,
}

impl Parked {
    /// A connection's write half, nothing unsent.
    pub fn new(socket: OwnedWriteHalf, metrics: Arc<Metrics>) -> Parked {
        Parked {
            #[cfg(target_os = "linux")]
            fd: socket.as_ref().as_raw_fd(),
            socket,
            unsent: Unsent::default(),
            metrics,
        }
    }

    /// Writes `frame` when nothing is unsent: its head and payload copied into the thread's
    /// buffer and written with one `send` that does not wait; what the socket does not take
    /// stays unsent, first in line (false). A socket error is left for the writer task to meet
    /// again (false too).
    fn send_whole(&mut self, frame: &Frame, compact: bool) -> bool {
        let (sent, len) = GATHER.with_borrow_mut(|gather| {
            gather.clear();
            frame::write_whole(frame, gather);
            (self.send_raw(gather), gather.len())
        });
        let mut counts = FrameCounts::default();
        counts.add(frame);
        counts.report(&self.metrics, compact);
        if sent == len {
            return true;
        }
        self.unsent.push_begun(Out::Frame(frame.clone()), sent);
        false
    }

    /// One non-blocking `send` of `bytes` on the descriptor: the bytes taken (none when the
    /// socket is full or failed). Readiness is not touched: the writer task that a shortfall
    /// wakes tries the socket itself before it waits for it.
    #[cfg(target_os = "linux")]
    fn send_raw(&self, bytes: &[u8]) -> usize {
        // SAFETY: `bytes` is a live slice for the whole call, and the descriptor is the
        // socket's, open while `self.socket` is.
        let sent = unsafe {
            libc::send(
                self.fd,
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        usize::try_from(sent).unwrap_or(0)
    }

    /// Elsewhere, tokio's non-blocking write.
    #[cfg(not(target_os = "linux"))]
    fn send_raw(&self, bytes: &[u8]) -> usize {
        self.socket.try_write(bytes).unwrap_or(0)
    }

    /// Moves the frames of `batch` (not its close) behind the unsent ones, in the order they
    /// go out: the heartbeat's ping and a pong, control frames, then `state`s; counts them.
    pub fn enqueue(&mut self, batch: &mut Batch, compact: bool) {
        if std::mem::take(&mut batch.ping) {
            self.unsent.push(Out::Frame(Frame::Ping));
        }
        if let Some(pong) = batch.pong.take() {
            self.unsent.push(Out::Pong(pong));
        }
        let mut counts = FrameCounts::default();
        let frames = batch
            .control
            .drain(..)
            .chain(batch.states.drain(..).map(|(_, frame)| frame));
        for frame in frames {
            counts.add(&frame);
            self.unsent.push(Out::Frame(frame));
        }
        counts.report(&self.metrics, compact);
    }

    /// Writes what is unsent, as far as the socket takes it without waiting: true when all of
    /// it is written.
    pub fn write_now(&mut self) -> io::Result<bool> {
        let socket = &self.socket;
        self.unsent.write_with(|slices| send(socket, slices))
    }

    /// Writes everything unsent, waiting for the socket as long as it takes (the caller
    /// bounds that).
    pub async fn write_all(&mut self) -> io::Result<()> {
        while !self.write_now()? {
            self.socket.writable().await?;
        }
        Ok(())
    }
}

/// What the writer takes out in one go.
#[derive(Default)]
pub struct Batch {
    pub control: VecDeque<Frame>,
    pub states: Vec<(MatchId, Frame)>,
    pub ping: bool,
    /// A pong to send (the payload of the client's ping).
    pub pong: Option<Bytes>,
    pub close: Option<CloseReason>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.control.is_empty()
            && self.states.is_empty()
            && !self.ping
            && self.pong.is_none()
            && self.close.is_none()
    }
}

/// The outbound queue of one connection.
#[derive(Default)]
pub struct Outbox {
    lanes: Mutex<Lanes>,
    /// Control frames pushed while another thread held `lanes`' lock, oldest first: moved
    /// into `control` by the next one to take the lock ([`Outbox::lock`], or a push that gets
    /// it), before anything else is done under it, so a pusher's frames keep their order.
    spill: SegQueue<Spilled>,
    /// Set after a frame is spilled, cleared by the holder of the lock that moves the spill in:
    /// while it is false, taking the lock reads nothing of the spill (a lock-free queue's
    /// `pop` reads its head and tail, two cache lines more for each outbox a sender walks).
    spilled: AtomicBool,
    wake_writer: Notify,
    /// Stale `state` frames replaced before they were written (for the metric).
    dropped_states: AtomicU64,
    /// The connection's codec for what the server pushes: false JSON, true MessagePack.
    msgpack: AtomicBool,
    /// The connection asked for compact `state` frames (`?codec=compact`): everything else is
    /// MessagePack, and its `state`s are keyframes and deltas (PROTOCOL.md "Compact snapshots").
    compact: AtomicBool,
    /// What the connection's reader reads for every frame.
    reader_side: ReaderSide,
}

/// What a connection's reader reads for every frame, on a cache line of its own: its lock,
/// taken for every input, would otherwise write a line that the senders read on every tick
/// (`Lanes`' fields), and move it between their cores and the reader's.
#[derive(Default)]
#[repr(align(64))]
struct ReaderSide {
    /// Whether a close was asked for (`Lanes::close` is set): read without the lock, since the
    /// reader asks after every frame and the tick thread's `try_lock` would skip a state for it.
    closing: AtomicBool,
    /// Where the connection's inputs went last ([`InputRoute`]): written by the tick thread
    /// when it routes an input the long way, read by the session for every input it sends,
    /// so that the tick thread checks a route instead of looking one up.
    input_route: Mutex<Option<InputRoute>>,
}

/// A match's id and the route of a player's inputs to its seat there ([`sim::InputRoute`]).
pub type InputRoute = (MatchId, sim::InputRoute);

impl Outbox {
    pub fn new(codec: Codec) -> Outbox {
        let outbox = Outbox::default();
        outbox.set_codec(codec);
        outbox
    }

    /// A compact connection's queue: MessagePack envelopes, compact `state`s.
    pub fn new_compact() -> Outbox {
        let outbox = Outbox::new(Codec::Msgpack);
        outbox.compact.store(true, Ordering::Relaxed);
        outbox
    }

    /// Whether this connection gets compact `state` frames.
    pub fn is_compact(&self) -> bool {
        self.compact.load(Ordering::Relaxed)
    }

    /// The encoding of frames pushed to this connection.
    pub fn codec(&self) -> Codec {
        if self.msgpack.load(Ordering::Relaxed) || self.is_compact() {
            Codec::Msgpack
        } else {
            Codec::Json
        }
    }

    pub fn set_codec(&self, codec: Codec) {
        self.msgpack
            .store(codec == Codec::Msgpack, Ordering::Relaxed);
    }

    /// Queues a frame that must arrive. When the queue is hopelessly long the connection is
    /// closed instead (1008).
    ///
    /// Never waits, from any thread: when another thread holds the queue's lock, the frame is
    /// spilled (lock-free) and moved in by the next holder, ahead of anything pushed later.
    pub fn push(&self, frame: Frame) {
        match self.lanes.try_lock() {
            Ok(mut lanes) => {
                self.unspill(&mut lanes);
                self.push_control(&mut lanes, frame);
            }
            Err(TryLockError::WouldBlock) => self.spill_frame(Spilled::Frame(frame)),
            Err(TryLockError::Poisoned(_)) => panic!("outbox lock poisoned"),
        }
        self.wake_writer.notify_one();
    }

    fn push_control(&self, lanes: &mut Lanes, frame: Frame) {
        if lanes.close.is_some() {
            return;
        }
        if lanes.control.len() >= MAX_CONTROL_FRAMES {
            lanes.control.clear();
            lanes.states.clear();
            lanes.close = Some(CLOSE_TOO_SLOW);
            self.reader_side.closing.store(true, Ordering::Release);
        } else {
            lanes.control.push_back(frame);
        }
    }

    /// Leaves a frame for the lock's next holder. The mark follows the frame: a holder that
    /// sees it finds the frame, and one that misses it is followed by the writer this push
    /// wakes, which takes the lock after the mark is set.
    fn spill_frame(&self, spilled: Spilled) {
        self.spill.push(spilled);
        self.spilled.store(true, Ordering::Release);
    }

    /// Moves the spilled control frames into the lane, in the order they were pushed.
    fn unspill(&self, lanes: &mut Lanes) {
        // The mark is cleared before the spill is read (a read-modify-write: not reordered
        // with the pops), so a frame spilled after the last pop marks it again.
        if !self.spilled.load(Ordering::Acquire) || !self.spilled.swap(false, Ordering::AcqRel) {
            return;
        }
        while let Some(spilled) = self.spill.pop() {
            match spilled {
                Spilled::Frame(frame) => self.push_control(lanes, frame),
                Spilled::Final(match_id, frame) => {
                    lanes.states.retain(|(id, _)| *id != match_id);
                    self.push_control(lanes, frame);
                }
            }
        }
    }

    /// The queue's lock, for the threads that may wait on it (tokio's), with the spilled
    /// frames moved in.
    fn lock(&self) -> MutexGuard<'_, Lanes> {
        let mut lanes = self.lanes.lock().expect("outbox lock");
        self.unspill(&mut lanes);
        lanes
    }

    /// Queues the newest state of a match, replacing (and counting) an unsent older one, and
    /// wakes the writer (tokio's side: it may wait for the lock). Returns true when an older
    /// frame was dropped.
    pub fn push_state(&self, match_id: MatchId, frame: Frame) -> bool {
        let staged = self.stage_state(match_id, None, move |_| Some(frame));
        self.wake_writer.notify_one();
        staged == Staged::Replaced
    }

    /// Queues a member's newest `state` of a match, without waking the writer (the sender task
    /// that calls it writes the socket itself, `bridge::wake`). It waits for the lock, so it is
    /// not for the tick thread.
    ///
    /// `gone` is the member's flag (`link::Member::gone`), read under the lock: the tick thread
    /// sets it before it pushes the leave's `ack` or the `match.end`, and a `match.end` drops
    /// the match's unsent `state` (under the lock too, or by the lock's next holder when it was
    /// spilled), so no `state` of a match follows its end. A compact connection's `state`s
    /// form a chain: `make` is called under the lock with whether an unsent `state` of the
    /// match is still queued (a delta would build on it) and gives the frame to queue in its
    /// place, or `None` to leave the queue as it is.
    pub fn stage_state(
        &self,
        match_id: MatchId,
        gone: Option<&AtomicBool>,
        make: impl FnOnce(bool) -> Option<Frame>,
    ) -> Staged {
        let mut lanes = self.lock();
        if lanes.refuses_states(gone) {
            return Staged::Skipped;
        }
        let staged = lanes.stage(match_id, make);
        drop(lanes);
        self.count_staged(staged)
    }

    /// For a sender (`bridge::wake`): stages a member's newest `state` of a match as
    /// [`Outbox::stage_state`] does, and writes the queue to the socket without waiting. When
    /// nothing else is queued and the send half is parked with nothing unsent (the usual case)
    /// that is one hold of the lock, one `send` of the frame (`make` lends it; no reference is
    /// taken) and no task woken; otherwise everything queued is claimed with the send half,
    /// written after the lock is let go and the send half parked again. What the socket does
    /// not take is left to the writer task, woken.
    pub fn send_state<'f>(
        &self,
        match_id: MatchId,
        gone: Option<&AtomicBool>,
        make: impl FnOnce(bool) -> Option<&'f Frame>,
        batch: &mut Batch,
    ) -> Staged {
        let mut lanes = self.lock();
        if lanes.refuses_states(gone) {
            return Staged::Skipped;
        }
        let staged = if lanes.is_idle() {
            let Some(frame) = make(false) else {
                return Staged::Skipped;
            };
            let parked = lanes
                .parked
                .as_mut()
                .expect("an idle queue has its send half");
            if frame.len() < GATHER_BYTES {
                let whole = parked.send_whole(frame, self.is_compact());
                drop(lanes);
                if !whole {
                    self.wake_writer.notify_one();
                }
                return Staged::Queued;
            }
            lanes.states.push((match_id, frame.clone()));
            Staged::Queued
        } else {
            lanes.stage(match_id, |stale| make(stale).cloned())
        };
        if staged == Staged::Skipped {
            return staged;
        }
        let parked = lanes.claim(batch);
        drop(lanes);
        match parked {
            Some(mut parked) => {
                parked.enqueue(batch, self.is_compact());
                let done = parked.write_now().unwrap_or(false);
                self.park(parked, !done);
            }
            None => self.wake_writer.notify_one(),
        }
        self.count_staged(staged)
    }

    /// Counts a stale `state` replaced (after the lock is let go).
    fn count_staged(&self, staged: Staged) -> Staged {
        if staged == Staged::Replaced {
            self.dropped_states.fetch_add(1, Ordering::Relaxed);
        }
        staged
    }

    /// Asks the CPU to bring into its cache, without waiting for them, the lines a sender
    /// reads to write a `state` ([`Outbox::send_state`]: the lock, the lanes, the codec's
    /// marks). A sender asks it for every member of its share before it writes the first, so
    /// that the misses overlap instead of coming one after another between `send`s.
    pub fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: a prefetch is a hint that reads nothing and never faults (SSE is part of
            // x86-64); the addresses are inside `self`.
            let prefetch = |line: *const i8| unsafe { _mm_prefetch::<_MM_HINT_T0>(line) };
            let lanes = std::ptr::from_ref(&self.lanes).cast::<i8>();
            for offset in (0..size_of::<Mutex<Lanes>>()).step_by(64) {
                prefetch(lanes.wrapping_add(offset));
            }
            prefetch(std::ptr::from_ref(&self.compact).cast());
        }
    }

    /// The route of the connection's inputs, sent with each (`Command::Input`).
    pub fn input_route(&self) -> Option<InputRoute> {
        *self.reader_side.input_route.lock().expect("route lock")
    }

    /// Keeps the route of the connection's inputs (the tick thread: when a session reads it at
    /// that instant, this one is skipped and the next input routes again).
    pub fn set_input_route(&self, route: InputRoute) {
        if let Ok(mut held) = self.reader_side.input_route.try_lock() {
            *held = Some(route);
        }
    }

    /// Wakes the writer to send what is staged.
    pub fn wake(&self) {
        self.wake_writer.notify_one();
    }

    /// Queues the last frame of a match (`match.end`), dropping its unsent state: nothing of
    /// the match may follow its end. Never waits, as [`Outbox::push`].
    pub fn push_final(&self, match_id: MatchId, frame: Frame) {
        match self.lanes.try_lock() {
            Ok(mut lanes) => {
                self.unspill(&mut lanes);
                lanes.states.retain(|(id, _)| *id != match_id);
                self.push_control(&mut lanes, frame);
            }
            Err(TryLockError::WouldBlock) => self.spill_frame(Spilled::Final(match_id, frame)),
            Err(TryLockError::Poisoned(_)) => panic!("outbox lock poisoned"),
        }
        self.wake_writer.notify_one();
    }

    /// Asks the writer to close the connection after what is queued.
    pub fn close(&self, reason: CloseReason) {
        let mut lanes = self.lock();
        lanes.close.get_or_insert(reason);
        self.reader_side.closing.store(true, Ordering::Release);
        drop(lanes);
        self.wake_writer.notify_one();
    }

    /// Asks the writer to send a WebSocket ping (the heartbeat).
    pub fn ping(&self) {
        self.lock().ping = true;
        self.wake_writer.notify_one();
    }

    /// Asks the writer to answer a client's ping (a control frame: never dropped, but a newer
    /// ping's pong replaces an unsent older one, as RFC 6455 allows).
    pub fn pong(&self, payload: &[u8]) {
        let mut lanes = self.lock();
        if lanes.close.is_some() {
            return;
        }
        lanes.pong = Some(Bytes::copy_from_slice(payload));
        drop(lanes);
        self.wake_writer.notify_one();
    }

    /// For the writer task as it ends: the connection is over, its reader stops.
    pub fn mark_closing(&self) {
        self.reader_side.closing.store(true, Ordering::Release);
    }

    /// Whether the connection is being closed (or its writer has ended).
    pub fn is_closing(&self) -> bool {
        self.reader_side.closing.load(Ordering::Acquire)
    }

    /// Moves everything queued into `batch` (whose buffers are reused).
    pub fn take(&self, batch: &mut Batch) {
        let mut lanes = self.lock();
        std::mem::swap(&mut lanes.control, &mut batch.control);
        std::mem::swap(&mut lanes.states, &mut batch.states);
        batch.ping = std::mem::take(&mut lanes.ping);
        batch.pong = lanes.pong.take();
        batch.close = lanes.close;
    }

    /// Parks the send half after a write (or before the first), and wakes the writer task when
    /// it has something to do: frames queued meanwhile, or frames left over (`wake_writer`,
    /// from a sender whose socket would not take everything).
    pub fn park(&self, parked: Parked, wake_writer: bool) {
        let mut lanes = self.lock();
        let queued = lanes.has_queued();
        lanes.parked = Some(parked);
        drop(lanes);
        if wake_writer || queued {
            self.wake_writer.notify_one();
        }
    }

    /// For the writer task: the send half, when it is parked (else a sender has it, and parks
    /// it again).
    pub fn unpark(&self) -> Option<Parked> {
        self.lanes.lock().expect("outbox lock").parked.take()
    }

    /// Waits until something is pushed.
    pub async fn wait(&self) {
        self.wake_writer.notified().await;
    }

    pub fn dropped_states(&self) -> u64 {
        self.dropped_states.load(Ordering::Relaxed)
    }

    /// Tests: holds the queue's lock, as a writer or sender moving frames does, until dropped.
    #[cfg(test)]
    pub(crate) fn hold_lock(&self) -> impl Drop + '_ {
        self.lanes.lock().expect("outbox lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::testing::{loopback, read_messages};

    fn text(s: &'static str) -> Frame {
        Frame::Text(s.into())
    }

    /// Writes of small frames (each under [`GATHER_BYTES`]: gathered into one `send`) to a
    /// client that does not read: the socket takes part, the rest waits first in line, and
    /// once the client reads, every frame arrives once, in order.
    #[tokio::test]
    async fn gathered_sends_cut_short_by_a_full_socket_resume_in_order() {
        let (socket, mut peer) = loopback().await;
        let (_, write_half) = socket.into_split();
        let mut parked = Parked::new(write_half, Arc::new(Metrics::new()));
        const FRAMES: usize = 4_000;
        const FRAME: usize = 100;
        const {
            assert!(
                32 * (FRAME + 2) < GATHER_BYTES,
                "a write of 32 frames is gathered"
            )
        };
        for n in 0..FRAMES {
            let frame = Frame::Binary(Bytes::from(vec![(n % 251) as u8; FRAME]));
            parked.unsent.push(Out::Frame(frame));
        }
        assert!(
            !parked.write_now().unwrap(),
            "the socket took 400 KB unread"
        );
        let left = parked.unsent.frames().count();
        assert!(left > 0 && left < FRAMES, "{left} frames left");

        let (read, written) = tokio::join!(read_messages(&mut peer, FRAMES), parked.write_all());
        written.unwrap();
        let expected: Vec<(u8, usize)> = (0..FRAMES).map(|n| ((n % 251) as u8, FRAME)).collect();
        assert_eq!(read, expected);
    }

    /// A member marked gone gets no `state` (read under the lock), and neither does a closing
    /// connection; a `make` that gives nothing leaves the unsent `state` in place.
    #[test]
    fn a_gone_member_or_a_closing_connection_gets_no_state() {
        let outbox = Outbox::new(Codec::Json);
        let gone = AtomicBool::new(false);
        let state = |name: &'static str| move |_| Some(text(name));
        assert_eq!(
            outbox.stage_state(MatchId(1), Some(&gone), state("s1")),
            Staged::Queued
        );
        assert_eq!(
            outbox.stage_state(MatchId(1), Some(&gone), |_| None),
            Staged::Skipped
        );
        gone.store(true, Ordering::Relaxed);
        assert_eq!(
            outbox.stage_state(MatchId(1), Some(&gone), state("s2")),
            Staged::Skipped
        );
        let mut batch = Batch::default();
        outbox.take(&mut batch);
        assert_eq!(batch.states, [(MatchId(1), text("s1"))]);
        outbox.close(CLOSE_GOING_AWAY);
        assert_eq!(
            outbox.stage_state(MatchId(1), None, state("s3")),
            Staged::Skipped
        );
        assert_eq!(outbox.dropped_states(), 0);
    }

    /// While another thread holds the lock, pushes (from the tick thread or tokio's) return at
    /// once; nothing is dropped, a pusher's frames keep their order (those pushed after the
    /// lock is free go behind the spilled ones), and a spilled `match.end` still drops the
    /// match's unsent `state`.
    #[test]
    fn a_push_never_waits_for_the_lock_and_keeps_its_order() {
        let outbox = Arc::new(Outbox::new(Codec::Json));
        assert!(!outbox.push_state(MatchId(1), text("s1")));
        assert!(!outbox.push_state(MatchId(2), text("other")));
        let held = outbox.hold_lock();
        let pusher = outbox.clone();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            pusher.push(text("a"));
            pusher.push(text("b"));
            pusher.push_final(MatchId(1), text("end"));
            done.send(()).unwrap();
        });
        // The pushes returned with the lock still held.
        finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the pushes did not wait");
        drop(held);
        outbox.push(text("c"));
        let mut batch = Batch::default();
        outbox.take(&mut batch);
        assert_eq!(
            batch.control,
            [text("a"), text("b"), text("end"), text("c")]
        );
        assert_eq!(batch.states, [(MatchId(2), text("other"))]);
        let mut next = Batch::default();
        outbox.take(&mut next);
        assert!(next.is_empty());
    }

    /// Frames spilled behind a held lock count toward the backlog that closes a connection,
    /// and a close asked for after them lets them out first.
    #[test]
    fn spilled_frames_count_toward_the_backlog_and_go_before_a_close() {
        let outbox = Outbox::new(Codec::Json);
        let held = outbox.hold_lock();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                outbox.push(text("x"));
                outbox.close(CLOSE_GOING_AWAY);
            });
            // The close waits for the lock (tokio's side may); the push before it did not.
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(held);
        });
        let mut batch = Batch::default();
        outbox.take(&mut batch);
        assert_eq!(batch.control, [text("x")]);
        assert_eq!(batch.close, Some(CLOSE_GOING_AWAY));

        let outbox = Outbox::new(Codec::Json);
        let held = outbox.hold_lock();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..=MAX_CONTROL_FRAMES {
                    outbox.push(text("x"));
                }
            });
        });
        drop(held);
        let mut batch = Batch::default();
        outbox.take(&mut batch);
        assert_eq!(batch.close, Some(CLOSE_TOO_SLOW));
        assert!(batch.control.is_empty());
    }

    /// Pushers racing a thread that keeps taking the lock (and so moving the spill in): every
    /// frame arrives once, each pusher's in the order pushed, whether it was spilled behind a
    /// holder or not; none is left behind a cleared `spilled` mark.
    #[test]
    fn frames_spilled_while_the_lock_changes_hands_all_arrive_in_order() {
        const PUSHERS: usize = 3;
        // Fewer than MAX_CONTROL_FRAMES in all, so that no backlog closes the outbox.
        const FRAMES: usize = 300;
        for _round in 0..200 {
            let outbox = Outbox::new(Codec::Json);
            let mut arrived: VecDeque<Frame> = VecDeque::new();
            let done = AtomicU64::new(0);
            std::thread::scope(|scope| {
                for pusher in 0..PUSHERS {
                    let (outbox, done) = (&outbox, &done);
                    scope.spawn(move || {
                        for n in 0..FRAMES {
                            outbox.push(Frame::Text(format!("{pusher}:{n}").into()));
                        }
                        done.fetch_add(1, Ordering::Release);
                    });
                }
                let mut batch = Batch::default();
                while done.load(Ordering::Acquire) < PUSHERS as u64 {
                    outbox.take(&mut batch);
                    arrived.append(&mut batch.control);
                }
            });
            // Everything pushed is in the lane or the spill now: one more holder moves it in.
            let mut batch = Batch::default();
            outbox.take(&mut batch);
            arrived.append(&mut batch.control);
            assert_eq!(arrived.len(), PUSHERS * FRAMES);
            let mut next = [0usize; PUSHERS];
            for frame in &arrived {
                let Frame::Text(text) = frame else {
                    panic!("a text frame")
                };
                let (pusher, n) = text.as_str().split_once(':').expect("pusher:n");
                let pusher: usize = pusher.parse().unwrap();
                assert_eq!(
                    n.parse::<usize>().unwrap(),
                    next[pusher],
                    "pusher {pusher}'s order"
                );
                next[pusher] += 1;
            }
            assert!(outbox.spill.is_empty());
        }
    }

    #[test]
    fn newest_state_per_match_wins_and_control_frames_stay() {
        let outbox = Outbox::new(Codec::Json);
        outbox.push(text("reply"));
        assert!(!outbox.push_state(MatchId(1), text("s1")));
        assert!(outbox.push_state(MatchId(1), text("s2")));
        assert!(!outbox.push_state(MatchId(2), text("other")));
        outbox.push(text("end"));
        let mut batch = Batch::default();
        outbox.take(&mut batch);
        assert_eq!(batch.control, [text("reply"), text("end")]);
        assert_eq!(
            batch.states,
            [(MatchId(1), text("s2")), (MatchId(2), text("other"))]
        );
        assert_eq!(outbox.dropped_states(), 1);
        let mut next = Batch::default();
        outbox.take(&mut next);
        assert!(next.is_empty());
    }

    #[test]
    fn a_chained_state_replacing_an_unsent_one_is_told_so() {
        let outbox = Outbox::new_compact();
        assert_eq!(outbox.codec(), Codec::Msgpack);
        assert!(outbox.is_compact());
        let frame = |stale: bool| Some(text(if stale { "key" } else { "delta" }));
        assert_eq!(outbox.stage_state(MatchId(1), None, frame), Staged::Queued);
        assert_eq!(
            outbox.stage_state(MatchId(1), None, frame),
            Staged::Replaced
        );
        let mut batch = Batch::default();
        outbox.take(&mut batch);
        assert_eq!(batch.states, [(MatchId(1), text("key"))]);
        assert_eq!(outbox.stage_state(MatchId(1), None, frame), Staged::Queued);
        assert_eq!(outbox.dropped_states(), 1);
    }

    #[test]
    fn a_hopeless_backlog_closes_the_connection() {
        let outbox = Outbox::new(Codec::Json);
        for _ in 0..=MAX_CONTROL_FRAMES {
            outbox.push(text("x"));
        }
        let mut batch = Batch::default();
        outbox.take(&mut batch);
        assert_eq!(batch.close, Some(CLOSE_TOO_SLOW));
        assert!(batch.control.is_empty());
    }
}
