//! The social side of the tick thread: who is online or in a match ([`PresenceBook`],
//! [`track_presence`]) and the [`SocialOp`]s sessions ask of the World (match chat, membership).

use std::collections::{HashMap, HashSet};

use arcade_data::persist::PersistStore;
use arcade_data::social::ChatLine;
use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{Game, IdSet, MatchId, Mode, Phase, PlayerId, PlayerRef};
use arcade_systems::{sim, view};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use utoipa::ToSchema;

use crate::link::{Audience, Command, ReplyTo};
use crate::social::chat::{ChatOut, Who, ack_after_commit};
use crate::social::invite::InviteRefusal;
use crate::wire::codec::Frame;
use crate::wire::protocol::{Envelope, ErrorCode};

/// How often (in ticks) the tick thread rescans who plays in a match, for presence.
pub const PRESENCE_SCAN_EVERY_TICKS: u64 = 6;

/// A presence status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Online,
    InMatch,
    Offline,
}

/// A status change, from the tick thread to [`run_presence_feed`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PresenceChange {
    pub player: Who,
    pub status: Status,
}

/// What sessions and handlers ask of the tick thread for social features.
pub enum SocialOp {
    /// A message for `match:<id>`: delivered to the match's audience and stored if `player`
    /// plays or watches it; `reply` gets `ack` or `forbidden` / `not_found`.
    MatchChat {
        match_id: MatchId,
        player: PlayerId,
        message: Box<(ChatOut, ChatLine)>,
        reply: ReplyTo,
    },
    /// The game and mode of a live match `player` plays or watches (for an invitation).
    MatchOf {
        match_id: MatchId,
        player: PlayerId,
        answer: oneshot::Sender<Result<(Game, Mode), InviteRefusal>>,
    },
    /// Whether `player` may read `match:<id>` now: `None` when the match is not live,
    /// else whether the player plays or watches it.
    Member {
        match_id: MatchId,
        player: PlayerId,
        answer: oneshot::Sender<Option<bool>>,
    },
    /// The status of each player.
    Presence {
        players: Vec<PlayerId>,
        answer: oneshot::Sender<Vec<Status>>,
    },
}

/// Who is online and who plays, as the tick thread sees it.
#[derive(Resource, Default)]
pub struct PresenceBook {
    /// Open connections and the name of every connected player.
    connected: HashMap<PlayerId, (u32, String)>,
    /// Players with a seat in a live match and a connection in its audience (last scan).
    in_match: IdSet<PlayerId>,
    /// The set the next scan fills (the one before last, emptied: no allocation per scan).
    scan: IdSet<PlayerId>,
    /// The status last published for each player not offline.
    published: HashMap<PlayerId, (Status, String)>,
    /// Players whose status may have changed since the last publication.
    dirty: HashSet<PlayerId>,
    /// Ticks run so far (paces the scans).
    ticks: u64,
    /// Where changes go; none in tests that do not listen.
    feed: Option<mpsc::UnboundedSender<PresenceChange>>,
}

/// Puts the presence book in the World, publishing changes to `feed`.
pub fn install(world: &mut World, feed: mpsc::UnboundedSender<PresenceChange>) {
    world.insert_resource(PresenceBook {
        feed: Some(feed),
        ..Default::default()
    });
}

/// A connection of `player` opened (from `Command::Connected`).
pub fn connected(world: &mut World, player: &PlayerRef) {
    if let Some(mut book) = world.get_resource_mut::<PresenceBook>() {
        let entry = book
            .connected
            .entry(player.id)
            .or_insert((0, player.name.clone()));
        entry.0 += 1;
        entry.1.clone_from(&player.name);
        book.dirty.insert(player.id);
    }
}

/// A connection of `player` closed (from `Command::Disconnected`).
pub fn disconnected(world: &mut World, player: PlayerId) {
    if let Some(mut book) = world.get_resource_mut::<PresenceBook>() {
        if let Some(entry) = book.connected.get_mut(&player) {
            entry.0 = entry.0.saturating_sub(1);
            if entry.0 == 0 {
                book.connected.remove(&player);
            }
        }
        book.dirty.insert(player);
    }
}

/// The command that applies `op` on the tick thread (see [`apply`]).
pub fn command(op: SocialOp) -> Command {
    Command::Run(Box::new(move |world: &mut World| apply(world, op)))
}

/// Applies one [`SocialOp`] (run by `bridge::receive_commands`).
pub fn apply(world: &mut World, op: SocialOp) {
    match op {
        SocialOp::MatchChat {
            match_id,
            player,
            message,
            reply,
        } => match membership(world, match_id, player) {
            None => reply.error(ErrorCode::NotFound, format!("no live match {match_id}")),
            Some((_, false)) => {
                let message = format!("you neither play nor watch {match_id}");
                reply.error(ErrorCode::Forbidden, message);
            }
            Some((game, true)) => {
                let (event, line) = *message;
                let mut held = Vec::new();
                if let Some(audience) = world.get::<Audience>(game) {
                    let envelope = Envelope::event("chat.message", &event);
                    let mut encoded: [Option<Frame>; 2] = [None, None];
                    for member in &audience.members {
                        let codec = member.outbox.codec();
                        let frame = encoded[codec.index()]
                            .get_or_insert_with(|| codec.encode_once(&envelope));
                        held.push((member.outbox.clone(), frame.clone()));
                    }
                }
                // The ack and the delivery wait for the commit (on the writer thread).
                let notice = ack_after_commit(reply, move || {
                    for (outbox, frame) in held {
                        outbox.push(frame);
                    }
                });
                match world.get_resource::<PersistStore>() {
                    Some(store) => store.0.record_chat_then(line, notice),
                    None => notice.settle(true),
                }
            }
        },
        SocialOp::MatchOf {
            match_id,
            player,
            answer,
        } => {
            let found = match membership(world, match_id, player) {
                None => Err(InviteRefusal::NoMatch),
                Some((_, false)) => Err(InviteRefusal::NotAMember),
                Some((game, true)) => view::match_summary(world, game)
                    .map(|summary| (summary.game, summary.mode))
                    .ok_or(InviteRefusal::NoMatch),
            };
            let _ = answer.send(found);
        }
        SocialOp::Member {
            match_id,
            player,
            answer,
        } => {
            let _ = answer.send(membership(world, match_id, player).map(|(_, member)| member));
        }
        SocialOp::Presence { players, answer } => {
            let book = world.get_resource::<PresenceBook>();
            let statuses = players
                .iter()
                .map(|player| {
                    book.and_then(|book| book.published.get(player))
                        .map_or(Status::Offline, |(status, _)| *status)
                })
                .collect();
            let _ = answer.send(statuses);
        }
    }
}

/// The entity of a live (not finished) match and whether `player` plays or watches it.
fn membership(world: &World, match_id: MatchId, player: PlayerId) -> Option<(Entity, bool)> {
    let game = sim::find_match(world, match_id)?;
    let audience = world.get::<Audience>(game)?;
    if view::match_phase(world, game).is_none_or(|phase| phase == Phase::Finished) {
        return None;
    }
    let member = sim::seat_of(world, game, player).is_some()
        || audience
            .members
            .iter()
            .any(|member| member.player == player);
    Some((game, member))
}

/// Publishes presence changes (runs in `SimSystems::Send`, after the bridge): connection
/// changes at once, match changes within [`PRESENCE_SCAN_EVERY_TICKS`].
pub fn track_presence(world: &mut World) {
    let Some(ticks) = world.get_resource_mut::<PresenceBook>().map(|mut book| {
        book.ticks += 1;
        book.ticks
    }) else {
        return;
    };
    if ticks.is_multiple_of(PRESENCE_SCAN_EVERY_TICKS) {
        let mut playing = std::mem::take(&mut world.resource_mut::<PresenceBook>().scan);
        playing.clear();
        let mut audiences = world.query::<(Entity, &Audience)>();
        for (game, audience) in audiences.iter(world) {
            if view::match_phase(world, game).is_none_or(|phase| phase == Phase::Finished) {
                continue;
            }
            playing.extend(
                audience
                    .members
                    .iter()
                    .filter(|member| member.seat.is_some())
                    .map(|member| member.player),
            );
        }
        let mut book = world.resource_mut::<PresenceBook>();
        let book = &mut *book;
        book.dirty
            .extend(book.in_match.symmetric_difference(&playing).copied());
        book.scan = std::mem::replace(&mut book.in_match, playing);
    }
    let mut book = world.resource_mut::<PresenceBook>();
    if book.dirty.is_empty() {
        return;
    }
    let book = &mut *book;
    for player in std::mem::take(&mut book.dirty) {
        let status = match book.connected.get(&player) {
            None => Status::Offline,
            Some(_) if book.in_match.contains(&player) => Status::InMatch,
            Some(_) => Status::Online,
        };
        let before = book
            .published
            .get(&player)
            .map_or(Status::Offline, |(s, _)| *s);
        if status == before {
            continue;
        }
        let name = match book.connected.get(&player) {
            Some((_, name)) => name.clone(),
            None => book
                .published
                .get(&player)
                .map(|(_, name)| name.clone())
                .unwrap_or_default(),
        };
        if status == Status::Offline {
            book.published.remove(&player);
        } else {
            book.published.insert(player, (status, name.clone()));
        }
        if let Some(feed) = &book.feed {
            let _ = feed.send(PresenceChange {
                player: Who { id: player, name },
                status,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_changes_are_published_once_per_change() {
        let (feed, mut changes) = mpsc::unbounded_channel();
        let mut world = World::new();
        install(&mut world, feed);
        let ada = PlayerRef {
            id: PlayerId(1),
            name: "ada".into(),
        };
        connected(&mut world, &ada);
        connected(&mut world, &ada);
        track_presence(&mut world);
        let change = changes.try_recv().unwrap();
        assert_eq!(change.status, Status::Online);
        assert_eq!(change.player.name, "ada");
        disconnected(&mut world, ada.id);
        track_presence(&mut world);
        assert!(changes.try_recv().is_err(), "one connection is still open");
        disconnected(&mut world, ada.id);
        track_presence(&mut world);
        assert_eq!(changes.try_recv().unwrap().status, Status::Offline);
    }
}
