//! Who receives a match's frames ([`Audience`]) and the bridge's indexes over live matches
//! ([`Lobby`]): tick thread only.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{MatchId, PlayerId, Seat};

use crate::bridge::send::StateFrames;
use crate::outbox::{ConnId, Outbox};

/// Who receives a match's frames.
#[derive(Component, Default)]
pub struct Audience {
    /// The connections that get the match's events and `state`.
    pub members: Vec<Member>,
    /// The connections of players who left the started match with `match.leave` (and so
    /// ended it): they get its `match.end` and nothing else (PROTOCOL.md "match.leave").
    pub leavers: Vec<Member>,
}

pub struct Member {
    pub conn: ConnId,
    pub player: PlayerId,
    /// None for a spectator.
    pub seat: Option<Seat>,
    pub outbox: Arc<Outbox>,
    /// A compact connection's chain of `state`s is broken (it just arrived, or asked with
    /// `state.resync`): its next `state` of the match is a keyframe. Tick thread only.
    pub needs_keyframe: AtomicBool,
    /// The connection already plays or watches another live match whose id has the same low
    /// 16 bits: a delta's tag would be ambiguous, so it gets only keyframes of this one.
    pub keyframes_only: bool,
}

impl Audience {
    pub fn spectators(&self) -> usize {
        self.members
            .iter()
            .filter(|member| member.seat.is_none())
            .count()
    }
}

/// The bridge's own indexes over live matches (written on the tick thread only).
#[derive(Resource, Default)]
pub struct Lobby {
    /// The live private matches by join code.
    pub(crate) join_codes: HashMap<String, MatchId>,
    /// The join code of each private match (to forget it when the match ends).
    pub(crate) code_of: HashMap<MatchId, String>,
    /// The live matches a player holds a seat in.
    pub(crate) seats_of: HashMap<PlayerId, Vec<Entity>>,
    /// The live matches a connection plays or watches.
    pub(crate) watching: HashMap<ConnId, Vec<Entity>>,
    /// Server ticks run so far (paces snapshots).
    pub(crate) ticks: u64,
    /// What every `state` frame is written with (JSON, MessagePack and compact).
    pub(crate) frames: StateFrames,
}

/// The id of a match entity, kept by the bridge for lookups in its own indexes.
#[derive(Component, Clone, Copy)]
pub struct MatchIdOf(pub MatchId);

/// The live match a player holds a seat in, other than a finished one.
pub(crate) fn playing_in(world: &World, player: PlayerId) -> Option<Entity> {
    let lobby = world.resource::<Lobby>();
    lobby
        .seats_of
        .get(&player)
        .and_then(|games| games.first().copied())
}

pub(crate) fn add_member(
    world: &mut World,
    game: Entity,
    conn: ConnId,
    player: PlayerId,
    seat: Option<Seat>,
    outbox: Arc<Outbox>,
) {
    let keyframes_only = tag_clash(world, game, conn);
    if let Some(mut audience) = world.get_mut::<Audience>(game) {
        audience.members.retain(|member| member.conn != conn);
        audience.members.push(Member {
            conn,
            player,
            seat,
            outbox,
            needs_keyframe: AtomicBool::new(true),
            keyframes_only,
        });
    }
    let mut lobby = world.resource_mut::<Lobby>();
    let watching = lobby.watching.entry(conn).or_default();
    if !watching.contains(&game) {
        watching.push(game);
    }
    if seat.is_some() {
        let seats = lobby.seats_of.entry(player).or_default();
        if !seats.contains(&game) {
            seats.push(game);
        }
    }
}

/// Whether `conn` holds another live match whose id has the low 16 bits of `game`'s (the tag
/// of a compact delta).
fn tag_clash(world: &World, game: Entity, conn: ConnId) -> bool {
    let tag = |entity: Entity| world.get::<MatchIdOf>(entity).map(|id| id.0.0 as u16);
    let Some(mine) = tag(game) else {
        return false;
    };
    world
        .resource::<Lobby>()
        .watching
        .get(&conn)
        .is_some_and(|games| {
            games
                .iter()
                .any(|&other| other != game && tag(other) == Some(mine))
        })
}

pub(crate) fn remove_member(world: &mut World, game: Entity, conn: ConnId) -> Option<Member> {
    let mut audience = world.get_mut::<Audience>(game)?;
    let index = audience
        .members
        .iter()
        .position(|member| member.conn == conn)?;
    let member = audience.members.swap_remove(index);
    let mut lobby = world.resource_mut::<Lobby>();
    if let Some(watching) = lobby.watching.get_mut(&conn) {
        watching.retain(|&watched| watched != game);
        if watching.is_empty() {
            lobby.watching.remove(&conn);
        }
    }
    Some(member)
}
