//! Every open connection (tokio threads; a read-mostly lock, never held across IO).
//!
//! Every open connection, by id: who it is and where its frames go. Chat fans out through the
//! hub without touching the tick thread. Held behind an `RwLock` that is only ever taken to
//! read or change the map, never across IO.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use arcade_systems::model::PlayerId;
use serde::Serialize;

use crate::cluster::bus::{Outgoing, RelayedClose, Said};
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
    /// In a cluster, where deliveries for other instances' connections go (the bus
    /// publisher, `crate::cluster`); never blocks: a full queue drops the message.
    relay: OnceLock<tokio::sync::mpsc::Sender<Outgoing>>,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    pub fn next_conn_id(&self) -> ConnId {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Joins the hub to a cluster: deliveries and connections are told to the other
    /// instances through `relay` from now on.
    pub fn set_relay(&self, relay: tokio::sync::mpsc::Sender<Outgoing>) {
        let _ = self.relay.set(relay);
    }

    /// Hands `said` to the cluster, if there is one. Never blocks.
    fn tell_cluster(&self, said: impl FnOnce() -> Option<Said>) {
        if let Some(relay) = self.relay.get()
            && let Some(said) = said()
        {
            let _ = relay.try_send(Outgoing::Bus(said));
        }
    }

    pub fn insert(&self, conn: ConnId, entry: ConnEntry) {
        let player = entry.player.clone();
        let in_cluster = self.relay.get().is_some();
        let first = {
            let mut conns = self.conns.write().expect("hub lock");
            // Only a cluster needs to know whether this is the player's first connection (a
            // scan of every connection under the lock: not paid by a server running alone).
            let first = in_cluster && !conns.values().any(|other| other.player.id == player.id);
            conns.insert(conn, entry);
            first
        };
        if first {
            self.tell_cluster(|| {
                Some(Said::Connected {
                    player,
                    online: true,
                })
            });
        }
    }

    pub fn update_player(&self, conn: ConnId, player: PlayerInfo) {
        let before = {
            let mut conns = self.conns.write().expect("hub lock");
            let Some(entry) = conns.get_mut(&conn) else {
                return;
            };
            std::mem::replace(&mut entry.player, player.clone())
        };
        if before.id != player.id {
            self.told_gone(before);
            self.tell_cluster(|| {
                Some(Said::Connected {
                    player,
                    online: true,
                })
            });
        }
    }

    /// Tells the cluster that `player` is gone from here, unless another connection has it.
    fn told_gone(&self, player: PlayerInfo) {
        if self.relay.get().is_some() && !self.is_online(player.id) {
            self.tell_cluster(|| {
                Some(Said::Connected {
                    player,
                    online: false,
                })
            });
        }
    }

    /// Records the session of the token that now identifies `conn` (after an `auth`).
    pub fn update_session(&self, conn: ConnId, session: Option<String>) {
        if let Some(entry) = self.conns.write().expect("hub lock").get_mut(&conn) {
            entry.session = session;
        }
    }

    /// Sends `message` to, then closes with `reason`, every connection identified by
    /// `session` (a logout), here and on every other instance of a cluster. Returns how many
    /// there were here.
    pub fn close_session<T: Serialize>(
        &self,
        session: &str,
        message: &T,
        reason: crate::outbox::CloseReason,
    ) -> usize {
        self.tell_cluster(|| {
            Some(Said::EndSession {
                session: session.to_owned(),
                message: serde_json::to_value(message).ok()?,
                close: RelayedClose::of(reason)?,
            })
        });
        self.close_session_here(session, message, reason)
    }

    /// [`Hub::close_session`] for this instance's connections only.
    pub fn close_session_here<T: Serialize>(
        &self,
        session: &str,
        message: &T,
        reason: crate::outbox::CloseReason,
    ) -> usize {
        self.close_where(
            |entry| entry.session.as_deref() == Some(session),
            message,
            reason,
        )
    }

    /// Sends `message` to, then closes with `reason`, every connection of `player` (a ban),
    /// here and on every other instance of a cluster. Returns how many there were here.
    pub fn close_player<T: Serialize>(
        &self,
        player: PlayerId,
        message: &T,
        reason: crate::outbox::CloseReason,
    ) -> usize {
        self.tell_cluster(|| {
            Some(Said::EndPlayer {
                player,
                message: serde_json::to_value(message).ok()?,
                close: RelayedClose::of(reason)?,
            })
        });
        self.close_player_here(player, message, reason)
    }

    /// [`Hub::close_player`] for this instance's connections only.
    pub fn close_player_here<T: Serialize>(
        &self,
        player: PlayerId,
        message: &T,
        reason: crate::outbox::CloseReason,
    ) -> usize {
        self.close_where(|entry| entry.player.id == player, message, reason)
    }

    /// Sends `message` to, then closes with `reason`, every connection that passes `filter`.
    fn close_where<T: Serialize>(
        &self,
        filter: impl Fn(&ConnEntry) -> bool,
        message: &T,
        reason: crate::outbox::CloseReason,
    ) -> usize {
        let outboxes = self.outboxes(filter);
        for outbox in &outboxes {
            outbox.push(outbox.codec().encode_once(message));
            outbox.close(reason);
        }
        outboxes.len()
    }

    pub fn remove(&self, conn: ConnId) {
        let removed = self.conns.write().expect("hub lock").remove(&conn);
        if let Some(entry) = removed {
            self.told_gone(entry.player);
        }
    }

    /// The outbox of a connection here, if it is open.
    pub fn outbox(&self, conn: ConnId) -> Option<Arc<Outbox>> {
        self.conns
            .read()
            .expect("hub lock")
            .get(&conn)
            .map(|entry| entry.outbox.clone())
    }

    /// The player of a connection here, if it is open.
    pub fn player_of(&self, conn: ConnId) -> Option<PlayerId> {
        self.conns
            .read()
            .expect("hub lock")
            .get(&conn)
            .map(|entry| entry.player.id)
    }

    /// Every distinct player connected here (what a new instance of a cluster is told).
    pub fn players(&self) -> Vec<PlayerInfo> {
        let conns = self.conns.read().expect("hub lock");
        let mut players: HashMap<PlayerId, PlayerInfo> = HashMap::new();
        for entry in conns.values() {
            players
                .entry(entry.player.id)
                .or_insert_with(|| entry.player.clone());
        }
        players.into_values().collect()
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

    /// Sends `message` to every connection, here and on every other instance of a cluster
    /// (`global` chat).
    pub fn broadcast_everywhere<T: Serialize>(&self, message: &T) {
        self.tell_cluster(|| {
            Some(Said::ToEveryone {
                message: serde_json::to_value(message).ok()?,
            })
        });
        self.broadcast(message, |_| true);
    }

    /// Whether a player has any open connection here.
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

    /// Sends `message` to every connection of the given players, here and on every other
    /// instance of a cluster.
    pub fn send_to_players<T: Serialize>(&self, message: &T, players: &[PlayerId]) {
        self.tell_cluster(|| {
            Some(Said::ToPlayers {
                players: players.to_vec(),
                message: serde_json::to_value(message).ok()?,
            })
        });
        self.send_to_players_here(message, players);
    }

    /// [`Hub::send_to_players`] for this instance's connections only.
    pub fn send_to_players_here<T: Serialize>(&self, message: &T, players: &[PlayerId]) {
        self.broadcast(message, |entry| players.contains(&entry.player.id));
    }
}
