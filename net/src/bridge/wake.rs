//! [`WakeUps`]: the outboxes the tick thread filled, handed in one batch per sender to the
//! sender tasks on the tokio runtime, which write them (filled on the tick thread, written on
//! tokio).
//!
//! A sender walks its share of the outboxes after a tick and writes each one's frames to its
//! socket itself, polling once and never waiting: a connection costs a lock, the frames'
//! framing and one `write`, not a task wake-up. A socket that does not take everything at once
//! (or a send half its writer task holds) is handed to the connection's writer task, which
//! waits for it (at most `SEND_STALL_LIMIT`, then 1008), so a slow client never delays the
//! others.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use futures_util::Sink;

use crate::outbox::{Batch, Outbox, Parked};
use crate::wire::codec::Frame;
use crate::ws::session::FrameCounts;

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
        // Unconstrained: a socket polled past the task's cooperative budget would answer
        // "not ready" and be handed to its writer for nothing.
        tokio::task::coop::unconstrained(std::future::poll_fn(|cx| {
            for outbox in outboxes.drain(..) {
                send_now(&outbox, &mut batch, cx);
            }
            Poll::Ready(())
        }))
        .await;
        let _ = give_back.try_send(outboxes);
    }
}

/// Writes what `outbox` holds to its socket if that can be done at once; what cannot is left
/// to the connection's writer task (woken), in order.
fn send_now(outbox: &Outbox, batch: &mut Batch, cx: &mut Context<'_>) {
    let Some(mut parked) = outbox.claim(batch) else {
        return;
    };
    if std::mem::take(&mut batch.ping) {
        batch.control.push_front(Frame::Ping);
    }
    let Parked {
        sink,
        unsent,
        unflushed,
        metrics,
    } = &mut parked;
    let mut sink = Pin::new(sink);
    let mut counts = FrameCounts::default();
    let mut blocked = false;
    let frames = batch
        .control
        .drain(..)
        .chain(batch.states.drain(..).map(|(_, frame)| frame));
    for frame in frames {
        if blocked {
            unsent.push_back(frame);
            continue;
        }
        match sink.as_mut().poll_ready(cx) {
            Poll::Ready(Ok(())) => {
                counts.add(&frame);
                *unflushed = true;
                if sink.as_mut().start_send(frame.into_message()).is_err() {
                    // The writer meets the error again and ends the connection.
                    blocked = true;
                }
            }
            Poll::Pending | Poll::Ready(Err(_)) => {
                blocked = true;
                unsent.push_back(frame);
            }
        }
    }
    if !blocked && *unflushed {
        match sink.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => *unflushed = false,
            Poll::Pending | Poll::Ready(Err(_)) => blocked = true,
        }
    }
    counts.report(metrics, outbox.is_compact());
    outbox.park(parked, blocked);
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use arcade_systems::model::MatchId;
    use axum::extract::ws::{Message, Utf8Bytes};
    use futures_util::task::noop_waker_ref;

    use super::*;
    use crate::metrics::Metrics;
    use crate::outbox::CLOSE_POLICY;
    use crate::wire::codec::Codec;

    /// A socket that takes `room` messages, then is not ready.
    struct Narrow {
        taken: Arc<Mutex<Vec<Message>>>,
        room: usize,
    }

    impl Sink<Message> for Narrow {
        type Error = axum::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            if self.room > 0 {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        }
        fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
            self.room -= 1;
            self.taken.lock().unwrap().push(message);
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    fn text(s: &'static str) -> Frame {
        Frame::Text(Utf8Bytes::from_static(s))
    }

    fn parked(room: usize) -> (Parked, Arc<Mutex<Vec<Message>>>) {
        let taken = Arc::new(Mutex::new(Vec::new()));
        let sink = Narrow {
            taken: taken.clone(),
            room,
        };
        let parked = Parked {
            sink: Box::new(sink),
            unsent: VecDeque::new(),
            unflushed: false,
            metrics: Arc::new(Metrics::new()),
        };
        (parked, taken)
    }

    #[test]
    fn a_sender_writes_what_the_socket_takes_and_leaves_the_rest_to_the_writer_in_order() {
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut batch = Batch::default();
        let outbox = Outbox::new(Codec::Json);
        let (sink, taken) = parked(2);
        outbox.park(sink, false);
        outbox.push(text("reply"));
        outbox.stage_state(MatchId(1), text("s1"));
        outbox.stage_state(MatchId(2), text("s2"));
        send_now(&outbox, &mut batch, &mut cx);
        let sent: Vec<Message> = taken.lock().unwrap().drain(..).collect();
        assert_eq!(sent, [text("reply"), text("s1")].map(Frame::into_message));

        // What the socket did not take waits with the send half, first in line; a sender
        // leaves that connection to its writer until it is sent.
        outbox.stage_state(MatchId(2), text("s2 newer"));
        send_now(&outbox, &mut batch, &mut cx);
        assert!(taken.lock().unwrap().is_empty());
        let held = outbox.unpark().expect("parked");
        assert_eq!(held.unsent, [text("s2")]);
        outbox.park(held, false);
        assert!(outbox.claim(&mut batch).is_none());
    }

    #[test]
    fn a_closing_connection_is_left_to_its_writer() {
        let mut batch = Batch::default();
        let outbox = Outbox::new(Codec::Json);
        let (sink, _) = parked(8);
        outbox.park(sink, false);
        assert!(outbox.claim(&mut batch).is_some_and(|parked| {
            outbox.park(parked, false);
            true
        }));
        outbox.close(CLOSE_POLICY);
        assert!(outbox.claim(&mut batch).is_none());
        assert!(outbox.unpark().is_some(), "still parked for the writer");
    }
}
