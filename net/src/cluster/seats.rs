//! Re-seating a player wherever it reconnects (tokio threads; one job on the tick thread per
//! heartbeat). While a player holds a seat in a live match, the match's owner keeps
//! `arcade:seat:<playerId>` → `{"match", "owner"}` in Redis (written with each heartbeat,
//! with the heartbeat's TTL, so a dead owner's keys vanish; removed when the seat is gone).
//! An instance that accepts a connection reads its player's key; when another instance owns
//! the match, it routes the connection there and forwards a re-attach, which the owner serves
//! as it serves a local reconnect (`match.start`, `player_back`, a fresh countdown) through a
//! virtual connection ([`super::relay`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{MatchId, Phase, PlayerId, PlayerRef};
use arcade_systems::{sim, view};
use serde::{Deserialize, Serialize};

use super::relay::ForwardedOp;
use super::{Cluster, HEARTBEAT_EVERY, HEARTBEAT_TTL_SECONDS};
use crate::link::audience::{Lobby, MatchIdOf};
use crate::link::{Command, ReplyTo};
use crate::outbox::{ConnId, Outbox};

/// How long a connection's re-seating waits for Redis before giving up (the player can
/// still `match.join` by hand).
pub const SEAT_READ_WAIT: Duration = Duration::from_secs(2);

/// Deletes a seat key only while it still says what this instance wrote (another instance
/// that adopted the match may have claimed the seat since).
const DELETE_IF_MINE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// The key naming where `player`'s seat is (Redis databases keep clusters apart).
pub fn seat_key(player: PlayerId) -> String {
    format!("arcade:seat:{player}")
}

/// What a seat key holds.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct SeatRecord {
    /// The live match the player holds a seat in.
    #[serde(rename = "match")]
    pub match_id: MatchId,
    /// The instance that owns the match.
    pub owner: String,
}

impl SeatRecord {
    fn encode(match_id: MatchId, owner: &str) -> String {
        serde_json::to_string(&SeatRecord {
            match_id,
            owner: owner.to_owned(),
        })
        .expect("a seat record encodes")
    }
}

/// The seat keys this instance wrote at its last heartbeat: player → the value written.
pub(super) type Written = HashMap<PlayerId, String>;

/// Every seat held in a live match of this world (tick thread): player and match.
pub(crate) fn seated(world: &World) -> Vec<(PlayerId, MatchId)> {
    let lobby = world.resource::<Lobby>();
    let mut seated = Vec::with_capacity(lobby.seats_of.len());
    for (&player, games) in &lobby.seats_of {
        for &game in games {
            let live = view::match_phase(world, game).is_some_and(|phase| phase != Phase::Finished);
            if !live || sim::seat_of(world, game, player).is_none() {
                continue;
            }
            if let Some(id) = world.get::<MatchIdOf>(game) {
                seated.push((player, id.0));
            }
        }
    }
    seated
}

impl Cluster {
    /// Writes the seat keys of `players` in `match_id` as held by this instance (say, after
    /// adopting the match from a dead instance), overwriting whoever held them. The
    /// heartbeat keeps them from then on while the match lives here.
    pub async fn claim_seats(
        &self,
        match_id: MatchId,
        players: &[PlayerId],
    ) -> redis::RedisResult<()> {
        if players.is_empty() {
            return Ok(());
        }
        let value = SeatRecord::encode(match_id, &self.instance);
        let mut pipe = redis::pipe();
        for &player in players {
            pipe.set_ex(seat_key(player), &value, HEARTBEAT_TTL_SECONDS)
                .ignore();
        }
        let mut redis = self.redis.clone();
        pipe.query_async(&mut redis).await
    }

    /// Where `player`'s seat is, as its owner last wrote it.
    pub async fn seat_of(&self, player: PlayerId) -> redis::RedisResult<Option<SeatRecord>> {
        let mut redis = self.redis.clone();
        let value: Option<String> = redis::cmd("GET")
            .arg(seat_key(player))
            .query_async(&mut redis)
            .await?;
        Ok(value.and_then(|value| serde_json::from_str(&value).ok()))
    }

    /// Refreshes the seat keys of the live matches held here and removes the ones whose seat
    /// is gone (the match ended, the player left). Asks the tick thread for the seats; a tick
    /// thread that does not answer within a heartbeat leaves the keys to their TTL.
    pub(super) async fn keep_seats(&self) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Command::Run(Box::new(move |world: &mut World| {
            let _ = reply.send(seated(world));
        }));
        if self.commands.send(job).is_err() {
            return;
        }
        let Ok(Ok(seated)) = tokio::time::timeout(HEARTBEAT_EVERY, answer).await else {
            return;
        };
        let now: Written = seated
            .into_iter()
            .map(|(player, id)| (player, SeatRecord::encode(id, &self.instance)))
            .collect();
        let before = std::mem::take(&mut *self.seats.lock().expect("cluster lock"));
        let mut pipe = redis::pipe();
        for (player, value) in &now {
            pipe.set_ex(seat_key(*player), value, HEARTBEAT_TTL_SECONDS)
                .ignore();
        }
        for (player, value) in &before {
            if now.get(player) != Some(value) {
                pipe.cmd("EVAL")
                    .arg(DELETE_IF_MINE)
                    .arg(1)
                    .arg(seat_key(*player))
                    .arg(value)
                    .ignore();
            }
        }
        let mut redis = self.redis.clone();
        let written: redis::RedisResult<()> =
            match tokio::time::timeout(HEARTBEAT_EVERY, pipe.query_async(&mut redis)).await {
                Ok(written) => written,
                Err(_) => Ok(()),
            };
        match written {
            // Keys that could not be deleted now are tried again at the next beat.
            Ok(()) => *self.seats.lock().expect("cluster lock") = now,
            Err(error) => {
                tracing::warn!(%error, "the seat keys could not be written");
                let mut seats = self.seats.lock().expect("cluster lock");
                *seats = before;
                seats.extend(now);
            }
        }
    }

    /// A connection of `player` opened here: when the player holds a seat in a match another
    /// instance owns, the connection is routed there and re-attached (off the tick thread: a
    /// task reads the seat key). A match owned here was re-attached by the tick thread.
    pub fn reseat(self: &Arc<Self>, conn: ConnId, player: PlayerRef, outbox: Arc<Outbox>) {
        let cluster = self.clone();
        tokio::spawn(async move {
            let seat = match tokio::time::timeout(SEAT_READ_WAIT, cluster.seat_of(player.id)).await
            {
                Ok(Ok(Some(seat))) if seat.owner != cluster.instance => seat,
                Ok(Ok(_)) => return,
                Ok(Err(error)) => {
                    return tracing::warn!(%error, "the seat key could not be read");
                }
                Err(_) => return tracing::warn!("the seat key read timed out"),
            };
            let reply = ReplyTo {
                codec: outbox.codec(),
                outbox,
                request_id: None,
            };
            // Under the routes lock: a connection that closes now is either gone already
            // (nothing is forwarded) or told gone after the re-attach, in that order.
            let mut routes = cluster.routes.lock().expect("cluster lock");
            let here = cluster
                .hub
                .player_of(conn)
                .is_some_and(|now| now == player.id);
            if !here {
                return;
            }
            let routed = routes.entry(conn).or_default();
            if !routed.iter().any(|(id, _)| *id == seat.match_id) {
                routed.push((seat.match_id, seat.owner.clone()));
            }
            cluster.forward(&seat.owner, conn, &player, &reply, ForwardedOp::Attach);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seat_record_reads_back() {
        let value = SeatRecord::encode(MatchId(0x42), "i1");
        assert_eq!(
            value,
            format!("{{\"match\":\"{}\",\"owner\":\"i1\"}}", MatchId(0x42))
        );
        let back: SeatRecord = serde_json::from_str(&value).unwrap();
        assert_eq!(
            back,
            SeatRecord {
                match_id: MatchId(0x42),
                owner: "i1".into()
            }
        );
        assert_eq!(
            seat_key(PlayerId(7)),
            format!("arcade:seat:{}", PlayerId(7))
        );
    }
}
