//! [`WakeUps`]: what a tick hands to the sender tasks on the tokio runtime (filled on the tick
//! thread, carried out on tokio): each match's state as read, with its member list
//! ([`Delivery`]).
//!
//! The tick thread reads a match's state once (a copy of its components) and hands over one
//! [`Delivery`] per match: it neither writes a frame nor reads a member's connection, so a tick
//! costs the same for a match whatever its members read and their queues hold. A sender writes
//! each frame the members read once (`bridge::encode`: the JSON or MessagePack `state`, the
//! compact delta, the keyframe for a member whose chain is broken) and writes it to each
//! member's socket itself, with one write that never waits (`Outbox::send_state`: when nothing
//! else is queued, one hold of the outbox's lock and one `send`, nothing staged), not a task
//! wake-up. A socket that does not take everything at once (or a send half its writer
//! task holds) is handed to the connection's writer task, which waits for it (at most
//! `SEND_STALL_LIMIT`, then 1008), so a slow client never delays the others. Without senders
//! (tests, one-process tools) the tick thread carries out the deliveries itself and wakes the
//! writers.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::MatchId;
use arcade_systems::view::StateView;

use crate::bridge::encode::{Encoder, Frames};
use crate::link::audience::Members;
use crate::link::handoff::Handoff;
use crate::outbox::{Batch, Outbox, Staged};
use crate::wire::codec::Frame;

/// One match's `state` of this tick, for its members: read on the tick thread, written and
/// staged in each member's outbox by a sender.
pub(crate) struct Delivery {
    pub match_id: MatchId,
    pub members: Members,
    /// The match's state as read this tick.
    pub state: StateView,
}

/// Where the tick thread hands its deliveries, to be carried out by the sender tasks on the
/// tokio runtime (one per runtime worker; a match goes to the same one every tick, so its
/// `state`s reach a member in order, and its compact stream lives there). Without senders, the
/// tick thread carries them out.
#[derive(Resource, Default)]
pub struct WakeUps {
    senders: Vec<Sender>,
    /// This tick's deliveries, without senders, and what writes their frames.
    inline: Vec<Delivery>,
    inline_encoder: Encoder,
    /// `state`s dropped (replaced unsent, or not staged for a compact member whose chain broke),
    /// counted by the senders, taken by the tick thread for the metric.
    dropped: Arc<AtomicU64>,
}

/// What one sender is handed for one tick.
#[derive(Default)]
struct Share {
    deliveries: Vec<Delivery>,
    /// Server ticks a second (a compact snapshot's velocities are per tick rate).
    tick_rate: u32,
}

impl Share {
    fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }

    /// An empty share with room for what `like` holds: made when no emptied share is back
    /// (the senders are a tick behind), so that the next tick's deliveries go into one
    /// allocation instead of a vector grown, and copied, a dozen times.
    fn with_room_of(like: &Share) -> Share {
        Share {
            deliveries: Vec::with_capacity(like.deliveries.len()),
            tick_rate: like.tick_rate,
        }
    }
}

/// The channels to one sender task: shares out, emptied shares back for reuse (a handoff: the
/// tick thread takes one back without waiting for the sender, `link::handoff`).
struct Sender {
    shares: tokio::sync::mpsc::UnboundedSender<Share>,
    emptied: Arc<Handoff<Share>>,
    /// This tick's share, being filled.
    share: Share,
}

/// Shares a sender has emptied, kept for reuse (more are dropped: the tick thread makes a new
/// share when it finds none, and one that finds the pool's lock held must not grow it for
/// good).
const RECYCLED_SHARES: usize = 4;

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
        let dropped = Arc::new(AtomicU64::new(0));
        let mut senders = Vec::with_capacity(workers);
        let mut tasks = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (shares, to_send) = tokio::sync::mpsc::unbounded_channel();
            let emptied = Arc::new(Handoff::default());
            senders.push(Sender {
                shares,
                emptied: emptied.clone(),
                share: Share::default(),
            });
            tasks.push(send_task(to_send, emptied, dropped.clone()));
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
                senders,
                dropped,
                ..WakeUps::default()
            },
            task,
        )
    }

    /// Hands over a match's `state` of this tick.
    pub(super) fn deliver(&mut self, delivery: Delivery) {
        let count = self.senders.len();
        if count == 0 {
            self.inline.push(delivery);
        } else {
            let index = (delivery.match_id.0 % count as u64) as usize;
            self.senders[index].share.deliveries.push(delivery);
        }
    }

    /// Hands each sender its share of this tick (or, without senders, carries out the
    /// deliveries here and wakes the writers). `tick_rate`: the server's.
    pub(super) fn flush(&mut self, tick_rate: u32) {
        let mut dropped = 0;
        if !self.inline.is_empty() {
            self.inline_encoder.next_share();
        }
        for delivery in self.inline.drain(..) {
            let mut frames = Frames::new(&mut self.inline_encoder, &delivery.state, tick_rate);
            dropped += deliver(&delivery, &mut frames, &mut Via::Writers);
        }
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        for sender in &mut self.senders {
            if sender.share.is_empty() {
                continue;
            }
            let next = sender
                .emptied
                .try_pop()
                .unwrap_or_else(|| Share::with_room_of(&sender.share));
            let mut share = std::mem::replace(&mut sender.share, next);
            share.tick_rate = tick_rate;
            // Refused only when the runtime is gone (shutdown): nobody writes any more.
            let _ = sender.shares.send(share);
        }
    }

    /// The `state`s dropped since the last call.
    pub(super) fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

/// One sender: for every share from the tick thread, writes each delivery's frames, stages
/// them in its members' outboxes and writes them.
async fn send_task(
    mut to_send: tokio::sync::mpsc::UnboundedReceiver<Share>,
    give_back: Arc<Handoff<Share>>,
    dropped: Arc<AtomicU64>,
) {
    let mut batch = Batch::default();
    let mut encoder = Encoder::default();
    while let Some(mut share) = to_send.recv().await {
        let mut count = 0;
        // Behind by more than a tick (the workers were busy): only the newest tick's `state`s
        // go out, as the outboxes' newest-wins would have it; the older ones are dropped.
        while let Ok(newer) = to_send.try_recv() {
            count += skip(&mut share);
            give_back.push_within(std::mem::replace(&mut share, newer), RECYCLED_SHARES);
        }
        encoder.next_share();
        prefetch_outboxes(&share);
        for delivery in share.deliveries.drain(..) {
            let mut frames = Frames::new(&mut encoder, &delivery.state, share.tick_rate);
            count += deliver(&delivery, &mut frames, &mut Via::Sender(&mut batch));
            // A share is long (every match of the tick): the worker's other tasks, the
            // readers that bring the inputs, get their turns in between.
            tokio::task::coop::consume_budget().await;
        }
        dropped.fetch_add(count, Ordering::Relaxed);
        give_back.push_within(share, RECYCLED_SHARES);
    }
}

/// Asks for every member's outbox of `share` to be brought into the cache before the first is
/// written (`Outbox::prefetch`): walked in the writing loop, each would be a miss after a
/// `send` that evicted it; here the loads do not wait on each other, so the misses overlap.
fn prefetch_outboxes(share: &Share) {
    for delivery in &share.deliveries {
        for member in delivery.members.iter() {
            member.outbox.prefetch();
        }
    }
}

/// Drops a share that a newer one supersedes; returns the `state`s dropped. Its compact members
/// miss a frame, so their chains break: each is marked for a keyframe.
fn skip(share: &mut Share) -> u64 {
    let mut dropped = 0;
    for delivery in share.deliveries.drain(..) {
        dropped += delivery.members.len() as u64;
        for member in delivery.members.iter() {
            if member.outbox.is_compact() {
                member.needs_keyframe.store(true, Ordering::Relaxed);
            }
        }
    }
    dropped
}

/// How a delivery's frames reach the sockets.
enum Via<'a> {
    /// Staged, and the writer task of each member that got one woken (without senders).
    Writers,
    /// Staged and written by the sender itself ([`Outbox::send_state`]; `Batch` holds its
    /// reused buffers).
    Sender(&'a mut Batch),
}

impl Via<'_> {
    /// Stages the frame `make` lends for a member (see [`Outbox::stage_state`]) and sends it on.
    fn stage<'f>(
        &mut self,
        outbox: &Outbox,
        match_id: MatchId,
        gone: &AtomicBool,
        make: impl FnOnce(bool) -> Option<&'f Frame>,
    ) -> Staged {
        match self {
            Via::Writers => {
                let staged = outbox.stage_state(match_id, Some(gone), |stale| make(stale).cloned());
                if staged != Staged::Skipped {
                    outbox.wake();
                }
                staged
            }
            Via::Sender(batch) => outbox.send_state(match_id, Some(gone), make, batch),
        }
    }
}

/// Stages a match's `state` in each member's outbox and sends it on (`via`); returns the
/// `state`s dropped. A compact member gets the delta while its chain
/// holds, else the keyframe. A member whose outbox still holds its previous (unsent) `state` of
/// the match gets no delta that would build on it: the unsent one stays queued (it still
/// chains) and the member gets a keyframe at the match's next `state`.
fn deliver(delivery: &Delivery, frames: &mut Frames<'_>, via: &mut Via<'_>) -> u64 {
    let mut dropped = 0;
    for member in delivery.members.iter() {
        let outbox = &member.outbox;
        let gone = &member.gone;
        let result = if outbox.is_compact() {
            if !frames.compact() {
                continue;
            }
            let broken = member.needs_keyframe.swap(false, Ordering::Relaxed);
            let chain_held = !broken && !member.keyframes_only && frames.delta().is_some();
            if !chain_held {
                // Written before the outbox is locked.
                frames.keyframe();
            }
            let mut not_staged = false;
            let written: &Frames<'_> = frames;
            let result = via.stage(outbox, delivery.match_id, gone, |stale| {
                let frame = match (chain_held, stale) {
                    (true, false) => written.delta(),
                    (true, true) => None,
                    (false, _) => written.written_keyframe(),
                };
                not_staged = frame.is_none();
                frame
            });
            if not_staged {
                dropped += 1;
                member.needs_keyframe.store(true, Ordering::Relaxed);
            }
            result
        } else {
            let frame = frames.plain(outbox.codec());
            via.stage(outbox, delivery.match_id, gone, |_| Some(frame))
        };
        if result == Staged::Replaced {
            dropped += 1;
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use arcade_systems::model::MatchId;
    use bytes::Bytes;

    use arcade_systems::compact::{DELTA_TAG, KEYFRAME_TAG};

    use super::*;
    use crate::metrics::Metrics;
    use crate::outbox::{CLOSE_POLICY, Parked};
    use crate::wire::codec::{Codec, Frame};
    use crate::ws::frame::Out;
    use crate::ws::testing::{loopback, read_messages};

    fn binary(byte: u8, len: usize) -> Frame {
        Frame::Binary(Bytes::from(vec![byte; len]))
    }

    /// A MessagePack outbox with the send half of a loopback socket parked in it, and the
    /// socket's peer.
    async fn parked_outbox() -> (Outbox, tokio::net::TcpStream) {
        let (socket, peer) = loopback().await;
        let outbox = Outbox::new(Codec::Msgpack);
        let (_, write_half) = socket.into_split();
        outbox.park(Parked::new(write_half, Arc::new(Metrics::new())), false);
        (outbox, peer)
    }

    /// What the writer task does once woken: finishes what is unsent, then writes what is
    /// queued.
    async fn write_as_the_writer(outbox: &Outbox, batch: &mut Batch) {
        let mut held = outbox.unpark().expect("parked");
        held.write_all().await.unwrap();
        outbox.take(batch);
        held.enqueue(batch, false);
        held.write_all().await.unwrap();
    }

    #[tokio::test]
    async fn a_sender_writes_what_the_socket_takes_and_leaves_the_rest_to_the_writer_in_order() {
        let (outbox, mut peer) = parked_outbox().await;
        let mut batch = Batch::default();
        // Far more than the small buffers hold.
        const FRAME: usize = 1024;
        const FRAMES: u8 = 250;
        for byte in 0..FRAMES {
            outbox.push(binary(byte, FRAME));
        }
        let state = binary(250, FRAME);
        outbox.send_state(MatchId(1), None, |_| Some(&state), &mut batch);
        let held = outbox.unpark().expect("parked");
        let left = held.unsent.frames().count();
        assert!(
            left > 0 && left < 251,
            "a partial write: {left} frames left"
        );
        outbox.park(held, false);

        // What the socket did not take waits with the send half, first in line; a sender
        // leaves that connection to its writer until it is sent.
        let state = binary(251, FRAME);
        outbox.send_state(MatchId(2), None, |_| Some(&state), &mut batch);
        let held = outbox.unpark().expect("parked");
        assert_eq!(held.unsent.frames().count(), left, "not touched");
        assert!(matches!(
            held.unsent.frames().last(),
            Some(Out::Frame(Frame::Binary(bytes))) if bytes[0] == 250
        ));
        outbox.park(held, false);

        // The writer finishes it, then sends the newer state: everything arrives once, in
        // order.
        let (read, ()) = tokio::join!(
            read_messages(&mut peer, usize::from(FRAMES) + 2),
            write_as_the_writer(&outbox, &mut batch)
        );
        let expected: Vec<(u8, usize)> =
            (0..FRAMES).chain([250, 251]).map(|b| (b, FRAME)).collect();
        assert_eq!(read, expected);
    }

    /// With nothing queued, a sender writes a `state` straight to the socket; one the socket
    /// takes only in part waits, begun, first in line, and the newer `state`s staged behind it
    /// replace each other until the writer sends them: what arrives is whole and in order.
    #[tokio::test]
    async fn a_state_the_socket_takes_in_part_is_finished_before_the_newer_one() {
        let (outbox, mut peer) = parked_outbox().await;
        let mut batch = Batch::default();
        const FRAME: usize = 3000;
        let mut sent = 0;
        loop {
            let state = binary((sent % 250) as u8, FRAME);
            let staged = outbox.send_state(MatchId(1), None, |_| Some(&state), &mut batch);
            assert_eq!(staged, Staged::Queued);
            sent += 1;
            let held = outbox.unpark().expect("parked");
            let begun = !held.unsent.is_empty();
            outbox.park(held, false);
            if begun {
                break;
            }
            assert!(sent < 10_000, "the socket took {sent} frames unread");
        }
        // Newer states while the begun one waits: staged, each replacing the one before.
        for byte in [251, 252] {
            let state = binary(byte, FRAME);
            outbox.send_state(MatchId(1), None, |_| Some(&state), &mut batch);
        }
        assert_eq!(outbox.dropped_states(), 1, "251 replaced by 252");

        let (read, ()) = tokio::join!(
            read_messages(&mut peer, sent + 1),
            write_as_the_writer(&outbox, &mut batch)
        );
        let expected: Vec<(u8, usize)> = (0..sent)
            .map(|n| ((n % 250) as u8, FRAME))
            .chain([(252, FRAME)])
            .collect();
        assert_eq!(read, expected);
    }

    #[tokio::test]
    async fn a_closing_connection_is_left_to_its_writer() {
        let (outbox, mut peer) = parked_outbox().await;
        let mut batch = Batch::default();
        let state = binary(7, 10);
        let staged = outbox.send_state(MatchId(1), None, |_| Some(&state), &mut batch);
        assert_eq!(staged, Staged::Queued);
        assert_eq!(read_messages(&mut peer, 1).await, [(7, 10)]);
        outbox.close(CLOSE_POLICY);
        let staged = outbox.send_state(MatchId(1), None, |_| Some(&state), &mut batch);
        assert_eq!(staged, Staged::Skipped);
        let held = outbox.unpark().expect("still parked for the writer");
        assert!(held.unsent.is_empty());
    }

    /// A member of a match with its outbox, in an audience.
    fn add_member(audience: &mut crate::link::Audience, conn: u64, outbox: &Arc<Outbox>) {
        use std::sync::atomic::AtomicBool;
        audience.add(crate::link::audience::Member {
            conn,
            player: arcade_systems::model::PlayerId(conn),
            seat: None,
            outbox: outbox.clone(),
            needs_keyframe: AtomicBool::new(true),
            keyframes_only: false,
            gone: AtomicBool::new(false),
        });
    }

    /// A Pong match of two bots in play, and the state of each of its next `ticks` ticks.
    fn states(ticks: usize) -> Vec<StateView> {
        use arcade_systems::model::{BotLevel, Game, MatchOptions, Mode};
        use arcade_systems::sim::{self, MatchSpec, SimConfig, Simulation};
        let mut sim = Simulation::new(SimConfig {
            tick_rate: 60,
            reconnect_grace_ticks: 600,
        });
        let options = MatchOptions::default()
            .resolve(Game::Pong, Mode::OneVsOne)
            .unwrap();
        let spec = MatchSpec {
            id: MatchId(9),
            game: Game::Pong,
            mode: Mode::OneVsOne,
            options,
            seed: 1,
            started_at_ms: 0,
        };
        let game = sim::create_match(&mut sim.world, spec);
        sim::fill_with_bots(&mut sim.world, game, BotLevel::Hard).unwrap();
        let mut reader = arcade_systems::view::StateReader::new(&mut sim.world);
        (0..ticks)
            .map(|_| {
                sim.step();
                reader.update(&sim.world);
                reader.read(&sim.world, game).unwrap()
            })
            .collect()
    }

    fn delivery(audience: &crate::link::Audience, state: StateView) -> Delivery {
        Delivery {
            match_id: MatchId(9),
            members: audience.members.clone(),
            state,
        }
    }

    /// The kind of each compact `state` an outbox holds: keyframe or delta (their first byte).
    fn compact_kinds(outbox: &Outbox) -> Vec<u8> {
        let mut batch = Batch::default();
        outbox.take(&mut batch);
        batch
            .states
            .iter()
            .map(|(_, frame)| match frame {
                Frame::Binary(bytes) => bytes[0],
                other => panic!("{other:?} for a compact member"),
            })
            .collect()
    }

    /// A sender that finds several ticks queued sends only the newest tick's `state`s (as the
    /// outboxes' newest-wins would), counting the older ones dropped; a compact member that
    /// missed a frame gets the keyframe of the newest tick, then deltas again.
    #[tokio::test]
    async fn a_sender_behind_sends_the_newest_tick_and_a_compact_member_a_keyframe() {
        let plain = Arc::new(Outbox::new(Codec::Json));
        let compact = Arc::new(Outbox::new_compact());
        let mut audience = crate::link::Audience::default();
        add_member(&mut audience, 1, &plain);
        add_member(&mut audience, 2, &compact);
        let states = states(4);
        let (shares, to_send) = tokio::sync::mpsc::unbounded_channel();
        let give_back = Arc::new(Handoff::default());
        let dropped = Arc::new(AtomicU64::new(0));
        let share_of = |state: &StateView| {
            let mut share = Share {
                tick_rate: 60,
                ..Share::default()
            };
            share.deliveries.push(delivery(&audience, *state));
            share
        };
        // The compact member had its first keyframe already.
        audience.members[1]
            .needs_keyframe
            .store(false, Ordering::Relaxed);
        // Two ticks queued before the sender runs (this test's runtime has one thread).
        shares.send(share_of(&states[0])).unwrap();
        shares.send(share_of(&states[1])).unwrap();
        let sender = tokio::spawn(send_task(to_send, give_back, dropped.clone()));
        let sent = |outbox: &Arc<Outbox>| {
            let outbox = outbox.clone();
            async move {
                let mut batch = Batch::default();
                for _ in 0..100 {
                    outbox.take(&mut batch);
                    if !batch.states.is_empty() {
                        return batch.states;
                    }
                    tokio::task::yield_now().await;
                }
                panic!("nothing staged");
            }
        };
        let mut encoder = Encoder::default();
        assert_eq!(
            sent(&plain).await,
            [(MatchId(9), encoder.plain(Codec::Json, &states[1]))],
            "the newest tick only"
        );
        let kind = |states: Vec<(MatchId, Frame)>| match &states[..] {
            [(_, Frame::Binary(bytes))] => bytes[0],
            other => panic!("{other:?}"),
        };
        assert_eq!(
            kind(sent(&compact).await),
            KEYFRAME_TAG,
            "a keyframe after a miss"
        );
        // plain and compact: 1 skipped each.
        assert_eq!(dropped.load(Ordering::Relaxed), 2);

        // The next ticks: deltas, the chain holds again.
        for state in &states[2..] {
            shares.send(share_of(state)).unwrap();
            assert_eq!(kind(sent(&compact).await), DELTA_TAG);
        }
        drop(shares);
        sender.await.unwrap();
    }

    /// With the senders a tick behind (here: never run), the tick thread's next share is made
    /// with room for as many deliveries as the last: no vector grown on the next tick.
    #[tokio::test]
    async fn a_share_made_while_the_senders_are_behind_has_room_for_a_tick() {
        let (mut wake_ups, _senders_not_spawned) = WakeUps::with_waker_task();
        assert_eq!(wake_ups.senders.len(), 1);
        let outbox = Arc::new(Outbox::new(Codec::Json));
        let mut audience = crate::link::Audience::default();
        add_member(&mut audience, 1, &outbox);
        let state = states(1)[0];
        for _ in 0..100 {
            wake_ups.deliver(delivery(&audience, state));
        }
        wake_ups.flush(60);
        let next = &wake_ups.senders[0].share;
        assert!(next.deliveries.is_empty());
        assert!(
            next.deliveries.capacity() >= 100,
            "room for {}",
            next.deliveries.capacity()
        );
    }

    /// A compact member whose previous `state` is still unsent gets no delta that builds on it:
    /// the unsent one stays, and the next tick brings a keyframe in its place.
    #[test]
    fn a_compact_member_behind_gets_a_keyframe_in_place_of_its_unsent_state() {
        let compact = Arc::new(Outbox::new_compact());
        let mut audience = crate::link::Audience::default();
        add_member(&mut audience, 1, &compact);
        let mut encoder = Encoder::default();
        let mut tick = |state: &StateView| {
            let made = delivery(&audience, *state);
            deliver(
                &made,
                &mut Frames::new(&mut encoder, state, 60),
                &mut Via::Writers,
            )
        };
        let states = states(4);
        assert_eq!(tick(&states[0]), 0);
        assert_eq!(compact_kinds(&compact), [KEYFRAME_TAG], "the first state");
        assert_eq!(tick(&states[1]), 0);
        // Not taken: the next delta is not staged on it (and counts as dropped).
        assert_eq!(tick(&states[2]), 1);
        assert_eq!(
            compact_kinds(&compact),
            [DELTA_TAG],
            "the unsent delta, still"
        );
        assert_eq!(tick(&states[3]), 0);
        assert_eq!(compact_kinds(&compact), [KEYFRAME_TAG]);
    }

    /// A member marked gone (it left, or the match ended) gets nothing more from a delivery made
    /// before.
    #[test]
    fn a_delivery_skips_a_member_gone_since_it_was_made() {
        let outbox = Arc::new(Outbox::new(Codec::Json));
        let mut audience = crate::link::Audience::default();
        add_member(&mut audience, 1, &outbox);
        let state = states(1)[0];
        let made = delivery(&audience, state);
        audience.members.dismiss();
        let mut encoder = Encoder::default();
        let frames = &mut Frames::new(&mut encoder, &state, 60);
        assert_eq!(deliver(&made, frames, &mut Via::Writers), 0);
        let mut batch = Batch::default();
        outbox.take(&mut batch);
        assert!(batch.states.is_empty());
    }
}
