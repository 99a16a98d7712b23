//! Who receives a match's frames ([`Audience`]) and the bridge's indexes over live matches
//! ([`Lobby`]): tick thread only, but for a match's member list, which the sender tasks
//! (tokio) read to stage its `state`s (`bridge::wake`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{MatchId, PlayerId, Seat};

use crate::bridge::send::StateReading;
use crate::outbox::{ConnId, Outbox};

/// Who receives a match's frames.
#[derive(Component, Default)]
pub struct Audience {
    /// The connections that get the match's events and `state`.
    pub members: Members,
    /// The connections of players who left the started match with `match.leave` (and so
    /// ended it): they get its `match.end` and nothing else (PROTOCOL.md "match.leave").
    pub leavers: Vec<Arc<Member>>,
}

pub struct Member {
    pub conn: ConnId,
    pub player: PlayerId,
    /// None for a spectator.
    pub seat: Option<Seat>,
    pub outbox: Arc<Outbox>,
    /// A compact connection's chain of `state`s is broken (it just arrived, asked with
    /// `state.resync`, or its outbox still held the previous delta): its next `state` of the
    /// match is a keyframe.
    pub needs_keyframe: AtomicBool,
    /// The connection already plays or watches another live match whose id has the same low
    /// 16 bits: a delta's tag would be ambiguous, so it gets only keyframes of this one.
    pub keyframes_only: bool,
    /// Set by the tick thread when the member leaves the match (or the match ends), before
    /// anything that says so is pushed: a sender still holding an older member list reads it
    /// under the outbox lock and stages no `state` after the leave or the `match.end`.
    pub gone: AtomicBool,
}

/// A match's member list, shared with the sender tasks that stage its `state`s: a tick hands
/// them the list as it is (one `Arc` clone per match), and a change makes a new list (copy on
/// write), so the tick thread never reads a member's connection to send a `state`.
#[derive(Clone, Default)]
pub struct Members(Arc<Vec<Arc<Member>>>);

impl std::ops::Deref for Members {
    type Target = [Arc<Member>];
    fn deref(&self) -> &[Arc<Member>] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Members {
    type Item = &'a Arc<Member>;
    type IntoIter = std::slice::Iter<'a, Arc<Member>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Members {
    fn edit(&mut self) -> &mut Vec<Arc<Member>> {
        Arc::make_mut(&mut self.0)
    }

    /// Removes the members `leaves` picks, marking each gone.
    fn remove_where(&mut self, leaves: impl Fn(&Member) -> bool) -> Vec<Arc<Member>> {
        if !self.iter().any(|member| leaves(member)) {
            return Vec::new();
        }
        let list = self.edit();
        let (gone, stay) = std::mem::take(list)
            .into_iter()
            .partition(|member| leaves(member));
        *list = stay;
        for member in &gone {
            member.gone.store(true, Ordering::Release);
        }
        gone
    }

    /// Marks every member gone (the match ends or leaves this instance).
    pub fn dismiss(&self) {
        for member in self.iter() {
            member.gone.store(true, Ordering::Release);
        }
    }
}

impl Audience {
    pub fn spectators(&self) -> usize {
        self.members
            .iter()
            .filter(|member| member.seat.is_none())
            .count()
    }

    /// Adds a member (replacing the connection's earlier membership, if any).
    pub fn add(&mut self, member: Member) {
        let conn = member.conn;
        let list = self.members.edit();
        list.retain(|held| held.conn != conn);
        list.push(Arc::new(member));
    }

    /// Removes the members `leaves` picks (marked gone).
    pub fn remove_where(&mut self, leaves: impl Fn(&Member) -> bool) -> Vec<Arc<Member>> {
        self.members.remove_where(leaves)
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
    /// The outbox of every open connection (from its `Command::Connected` to its
    /// `Command::Disconnected`): where a refused input is answered (`InputReply`).
    pub(crate) outboxes: HashMap<ConnId, Arc<Outbox>>,
    /// Server ticks run so far (paces snapshots).
    pub(crate) ticks: u64,
    /// What every `state` is read with.
    pub(crate) reading: StateReading,
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
        audience.add(Member {
            conn,
            player,
            seat,
            outbox,
            needs_keyframe: AtomicBool::new(true),
            keyframes_only,
            gone: AtomicBool::new(false),
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

pub(crate) fn remove_member(world: &mut World, game: Entity, conn: ConnId) -> Option<Arc<Member>> {
    let mut audience = world.get_mut::<Audience>(game)?;
    let member = audience.remove_where(|member| member.conn == conn).pop()?;
    let mut lobby = world.resource_mut::<Lobby>();
    if let Some(watching) = lobby.watching.get_mut(&conn) {
        watching.retain(|&watched| watched != game);
        if watching.is_empty() {
            lobby.watching.remove(&conn);
        }
    }
    Some(member)
}
