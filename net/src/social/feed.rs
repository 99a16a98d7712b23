//! Presence for readers (tokio threads): [`run_presence_feed`] sends the tick thread's changes
//! to followers; [`presence_of`] answers REST.

use arcade_systems::model::PlayerId;
use tokio::sync::{mpsc, oneshot};

use crate::social::presence::{PresenceChange, SocialOp, Status};
use crate::state::AppState;
use crate::wire::protocol::Envelope;

/// Sends every presence change as a `presence` event to the connections of that player's
/// friends (requests accepted both ways; not those the player blocks). Runs until the tick
/// thread drops its sender.
pub async fn run_presence_feed(
    state: AppState,
    mut changes: mpsc::UnboundedReceiver<PresenceChange>,
) {
    while let Some(change) = changes.recv().await {
        let player = change.player.id;
        if let Some(cluster) = &state.cluster {
            cluster.tell(crate::cluster::bus::Said::Playing {
                player,
                playing: change.status == Status::InMatch,
            });
        }
        let followers = match state.blocking(move |store| store.followers(player)).await {
            Ok(Ok(followers)) => followers,
            _ => continue,
        };
        if !followers.is_empty() {
            state
                .hub
                .send_to_players(&Envelope::event("presence", &change), &followers);
        }
    }
}

/// The presence of each player. Connections are the hub's (so a player is `online` from
/// `hello` on and `offline` once the socket is gone, without waiting for a tick); whether a
/// connected player is `in_match` is the tick thread's.
pub async fn presence_of(state: &AppState, players: Vec<PlayerId>) -> Vec<Status> {
    let (answer, answered) = oneshot::channel();
    let op = SocialOp::Presence {
        players: players.clone(),
        answer,
    };
    let playing = state
        .ask_tick(super::presence::command(op), answered)
        .await
        .unwrap_or_default();
    players
        .iter()
        .enumerate()
        .map(|(index, &player)| {
            if !state.hub.is_online(player) {
                // Connected to another instance of the cluster, or not at all.
                match state.cluster.as_ref().and_then(|c| c.remote_player(player)) {
                    Some(remote) if remote.playing => Status::InMatch,
                    Some(_) => Status::Online,
                    None => Status::Offline,
                }
            } else if playing.get(index) == Some(&Status::InMatch) {
                Status::InMatch
            } else {
                Status::Online
            }
        })
        .collect()
}
