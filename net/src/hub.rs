//! Every open connection (tokio threads; a read-mostly lock, never held across IO).
//!
//! Every open connection, by id: who it is and where its frames go. Chat fans out through the
//! hub without touching the tick thread. Held behind an `RwLock` that is only ever taken to
//! read or change the map, never across IO.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use arcade_systems::model::PlayerId;
use serde::Serialize;

use crate::outbox::Outbox;
use crate::wire::protocol::PlayerInfo;

pub use crate::outbox::ConnId;

/// What the hub knows of a connection.
#[derive(Clone)]
pub struct ConnEntry {
    pub player: PlayerInfo,
    pub outbox: Arc<Outbox>,
    /// The session (`s_…`) of the token that identified the connection, so that logout can
    /// close it; `None` when unknown.
    pub session: Option<String>,
}

#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    conns: RwLock<HashMap<ConnId, ConnEntry>>,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    pub fn next_conn_id(&self) -> ConnId {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn insert(&self, conn: ConnId, entry: ConnEntry) {
        self.conns.write().expect("hub lock").insert(conn, entry);
    }

    pub fn update_player(&self, conn: ConnId, player: PlayerInfo) {
        if let Some(entry) = self.conns.write().expect("hub lock").get_mut(&conn) {
            entry.player = player;
        }
    }

    /// Records the session of the token that now identifies `conn` (after an `auth`).
    pub fn update_session(&self, conn: ConnId, session: Option<String>) {
        if let Some(entry) = self.conns.write().expect("hub lock").get_mut(&conn) {
            entry.session = session;
        }
    }

    /// Sends `message` to, then closes with `reason`, every connection identified by
    /// `session` (a logout). Returns how many there were.
    pub fn close_session<T: Serialize>(
        &self,
        session: &str,
        message: &T,
        reason: crate::outbox::CloseReason,
    ) -> usize {
        let outboxes = self.outboxes(|entry| entry.session.as_deref() == Some(session));
        for outbox in &outboxes {
            outbox.push(outbox.codec().encode_once(message));
            outbox.close(reason);
        }
        outboxes.len()
    }

    pub fn remove(&self, conn: ConnId) {
        self.conns.write().expect("hub lock").remove(&conn);
    }

    pub fn len(&self) -> usize {
        self.conns.read().expect("hub lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every outbox of the connections that pass `filter`, snapshotted so that no lock is held
    /// while frames are pushed.
    pub fn outboxes(&self, filter: impl Fn(&ConnEntry) -> bool) -> Vec<Arc<Outbox>> {
        let conns = self.conns.read().expect("hub lock");
        conns
            .values()
            .filter(|entry| filter(entry))
            .map(|entry| entry.outbox.clone())
            .collect()
    }

    /// Sends `message` to every connection that passes `filter`, encoded once per codec.
    pub fn broadcast<T: Serialize>(&self, message: &T, filter: impl Fn(&ConnEntry) -> bool) {
        let mut encoded = [None, None];
        for outbox in self.outboxes(filter) {
            let codec = outbox.codec();
            let frame = encoded[codec.index()].get_or_insert_with(|| codec.encode_once(message));
            outbox.push(frame.clone());
        }
    }

    /// Whether a player has any open connection.
    pub fn is_online(&self, player: PlayerId) -> bool {
        self.conns
            .read()
            .expect("hub lock")
            .values()
            .any(|entry| entry.player.id == player)
    }

    /// A connected player, as its connection knows it (a guest may not be stored yet).
    pub fn player(&self, player: PlayerId) -> Option<PlayerInfo> {
        self.conns
            .read()
            .expect("hub lock")
            .values()
            .find(|entry| entry.player.id == player)
            .map(|entry| entry.player.clone())
    }

    /// Every open connection of `player` with its outbox (tournament matches seat a player
    /// on each).
    pub fn connections_of(&self, player: PlayerId) -> Vec<(ConnId, Arc<Outbox>)> {
        self.conns
            .read()
            .expect("hub lock")
            .iter()
            .filter(|(_, entry)| entry.player.id == player)
            .map(|(conn, entry)| (*conn, entry.outbox.clone()))
            .collect()
    }

    /// Sends `message` to every connection of the given players.
    pub fn send_to_players<T: Serialize>(&self, message: &T, players: &[PlayerId]) {
        self.broadcast(message, |entry| players.contains(&entry.player.id));
    }
}
