//! [`WakeUps`]: the outboxes the tick thread filled, handed in one batch per sender to the
//! sender tasks on the tokio runtime, which write them (filled on the tick thread, written on
//! tokio).
//!
//! A sender walks its share of the outboxes after a tick and writes each one's frames to its
//! socket itself, with one vectored write that never waits (`Parked::write_now`): a connection
//! costs a lock, its frame heads and one `writev`, not a task wake-up. A socket that does not
//! take everything at once (or a send half its writer task holds) is handed to the
//! connection's writer task, which waits for it (at most `SEND_STALL_LIMIT`, then 1008), so a
//! slow client never delays the others.

use std::future::Future;
use std::sync::Arc;

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;

use crate::outbox::{Batch, Outbox};

/// Where the tick thread hands the outboxes it filled, to be written by the sender tasks on
/// the tokio runtime (one per runtime worker; an outbox goes to the same one every tick).
/// Without senders, outboxes wake their writer tasks directly.
#[derive(Resource, Default)]
pub struct WakeUps {
    staged: Vec<Arc<Outbox>>,
    senders: Vec<Sender>,
}

/// The channels to one sender task: batches out, emptied batches back for reuse.
struct Sender {
    batches: tokio::sync::mpsc::UnboundedSender<Vec<Arc<Outbox>>>,
    emptied: crossbeam_channel::Receiver<Vec<Arc<Outbox>>>,
    /// This tick's share, being filled.
    share: Vec<Arc<Outbox>>,
}

/// Batches a sender has emptied, kept for reuse.
const RECYCLED_BATCHES: usize = 4;

/// The most sender tasks, whatever the runtime's size.
const MAX_SENDERS: usize = 16;

impl WakeUps {
    /// Wake-ups handed to sender tasks on the runtime (one per worker of the current runtime,
    /// or one outside a runtime), and the task to spawn there (it spawns the other senders).
    pub fn with_waker_task() -> (WakeUps, impl Future<Output = ()> + Send) {
        let workers = tokio::runtime::Handle::try_current()
            .map(|runtime| runtime.metrics().num_workers())
            .unwrap_or(1)
            .clamp(1, MAX_SENDERS);
        let mut senders = Vec::with_capacity(workers);
        let mut tasks = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (batches, to_send) = tokio::sync::mpsc::unbounded_channel();
            let (give_back, emptied) = crossbeam_channel::bounded(RECYCLED_BATCHES);
            senders.push(Sender {
                batches,
                emptied,
                share: Vec::new(),
            });
            tasks.push(send_task(to_send, give_back));
        }
        let task = async move {
            let mut tasks = tasks.into_iter();
            let first = tasks.next();
            for task in tasks {
                tokio::spawn(task);
            }
            if let Some(first) = first {
                first.await;
            }
        };
        (
            WakeUps {
                staged: Vec::new(),
                senders,
            },
            task,
        )
    }

    /// Notes an outbox the tick filled: straight into its sender's share (the same sender for
    /// an outbox every tick: its address is stable while it lives), or, without senders, to be
    /// woken at [`WakeUps::flush`].
    pub(super) fn stage(&mut self, outbox: &Arc<Outbox>) {
        let count = self.senders.len();
        if count == 0 {
            self.staged.push(outbox.clone());
        } else {
            let index = (Arc::as_ptr(outbox) as usize >> 7) % count;
            self.senders[index].share.push(outbox.clone());
        }
    }

    /// Hands each sender its share of this tick (or wakes the writers, without senders).
    pub(super) fn flush(&mut self) {
        self.staged.drain(..).for_each(|outbox| outbox.wake());
        for sender in &mut self.senders {
            if sender.share.is_empty() {
                continue;
            }
            let next = sender.emptied.try_recv().unwrap_or_default();
            let share = std::mem::replace(&mut sender.share, next);
            if let Err(unsent) = sender.batches.send(share) {
                unsent.0.iter().for_each(|outbox| outbox.wake());
            }
        }
    }
}

/// One sender: for every batch from the tick thread, writes each outbox's frames.
async fn send_task(
    mut to_send: tokio::sync::mpsc::UnboundedReceiver<Vec<Arc<Outbox>>>,
    give_back: crossbeam_channel::Sender<Vec<Arc<Outbox>>>,
) {
    let mut batch = Batch::default();
    while let Some(mut outboxes) = to_send.recv().await {
        for outbox in outboxes.drain(..) {
            send_now(&outbox, &mut batch);
        }
        let _ = give_back.try_send(outboxes);
    }
}

/// Writes what `outbox` holds to its socket as far as that can be done at once; what cannot is
/// left to the connection's writer task (woken), in order. A socket error is left to the
/// writer too: it meets it again and ends the connection.
fn send_now(outbox: &Outbox, batch: &mut Batch) {
    let Some(mut parked) = outbox.claim(batch) else {
        return;
    };
    parked.enqueue(batch, outbox.is_compact());
    let done = parked.write_now().unwrap_or(false);
    outbox.park(parked, !done);
}

#[cfg(test)]
mod tests {
    use arcade_systems::model::MatchId;
    use bytes::Bytes;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    use super::*;
    use crate::metrics::Metrics;
    use crate::outbox::{CLOSE_POLICY, Parked};
    use crate::wire::codec::{Codec, Frame};
    use crate::ws::frame::{Message, Out, Reader};
    use crate::ws::testing::loopback;

    fn binary(byte: u8, len: usize) -> Frame {
        Frame::Binary(Bytes::from(vec![byte; len]))
    }

    /// Reads frames from `peer` until `count` messages came: their first byte and length.
    async fn read_messages(peer: &mut TcpStream, count: usize) -> Vec<(u8, usize)> {
        let mut reader = Reader::of_server(1 << 20);
        let mut messages = Vec::new();
        while messages.len() < count {
            while let Some(message) = reader.read_message().unwrap() {
                match message {
                    Message::Binary(bytes) => messages.push((bytes[0], bytes.len())),
                    other => panic!("unexpected {other:?}"),
                }
            }
            if messages.len() < count {
                let read = peer.read_buf(reader.buffer(64 * 1024)).await.unwrap();
                assert!(read > 0, "the socket closed early");
            }
        }
        messages
    }

    #[tokio::test]
    async fn a_sender_writes_what_the_socket_takes_and_leaves_the_rest_to_the_writer_in_order() {
        let (socket, mut peer) = loopback().await;
        let mut batch = Batch::default();
        let outbox = Outbox::new(Codec::Msgpack);
        let (_, write_half) = socket.into_split();
        outbox.park(Parked::new(write_half, Arc::new(Metrics::new())), false);
        // Far more than the small buffers hold.
        const FRAME: usize = 1024;
        const FRAMES: u8 = 250;
        for byte in 0..FRAMES {
            outbox.push(binary(byte, FRAME));
        }
        outbox.try_stage_state(MatchId(1), binary(250, FRAME));
        send_now(&outbox, &mut batch);
        let held = outbox.unpark().expect("parked");
        let left = held.unsent.frames().count();
        assert!(
            left > 0 && left < 251,
            "a partial write: {left} frames left"
        );
        outbox.park(held, false);

        // What the socket did not take waits with the send half, first in line; a sender
        // leaves that connection to its writer until it is sent.
        outbox.try_stage_state(MatchId(2), binary(251, FRAME));
        send_now(&outbox, &mut batch);
        let held = outbox.unpark().expect("parked");
        assert_eq!(held.unsent.frames().count(), left, "not touched");
        assert!(matches!(
            held.unsent.frames().last(),
            Some(Out::Frame(Frame::Binary(bytes))) if bytes[0] == 250
        ));
        outbox.park(held, false);
        assert!(outbox.claim(&mut batch).is_none());

        // The writer finishes it, then sends the newer state: everything arrives once, in
        // order.
        let mut held = outbox.unpark().expect("parked");
        let (read, written) =
            tokio::join!(read_messages(&mut peer, usize::from(FRAMES) + 2), async {
                held.write_all().await.unwrap();
                outbox.take(&mut batch);
                held.enqueue(&mut batch, false);
                held.write_all().await.unwrap();
            });
        let () = written;
        let expected: Vec<(u8, usize)> =
            (0..FRAMES).chain([250, 251]).map(|b| (b, FRAME)).collect();
        assert_eq!(read, expected);
    }

    #[tokio::test]
    async fn a_closing_connection_is_left_to_its_writer() {
        let (socket, _peer) = loopback().await;
        let mut batch = Batch::default();
        let outbox = Outbox::new(Codec::Json);
        let (_, write_half) = socket.into_split();
        outbox.park(Parked::new(write_half, Arc::new(Metrics::new())), false);
        assert!(outbox.claim(&mut batch).is_some_and(|parked| {
            outbox.park(parked, false);
            true
        }));
        outbox.close(CLOSE_POLICY);
        assert!(outbox.claim(&mut batch).is_none());
        assert!(outbox.unpark().is_some(), "still parked for the writer");
    }
}
