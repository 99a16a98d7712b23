//! `match.invite` (tokio threads): checks the friendship in the store, asks the tick thread
//! whether the inviter plays or watches the match, and sends the event.

use arcade_data::social::Relation;
use arcade_systems::model::{Game, MatchId, Mode, PlayerId};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::link::ReplyTo;
use crate::social::chat::Who;
use crate::social::presence::SocialOp;
use crate::state::AppState;
use crate::wire::protocol::{Envelope, ErrorCode, MatchInvite, PlayerInfo};

/// The `match.invite` event the invited player gets.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InviteEvent {
    match_id: MatchId,
    from: Who,
    game: Game,
    mode: Mode,
}

/// Why the tick thread refuses an invitation.
#[derive(Debug, PartialEq, Eq)]
pub enum InviteRefusal {
    NoMatch,
    NotAMember,
}

/// `match.invite`: the inviter plays or watches the match, the invited player is the
/// inviter's friend (a request accepted; a pending request is not enough). `ack` `{"matchId", "playerId"}`; the event reaches the friend
/// unless the friend blocks the inviter (the inviter is not told).
pub async fn invite(state: &AppState, from: &PlayerInfo, reply: ReplyTo, invite: MatchInvite) {
    let (me, to) = (from.id, invite.player_id);
    if to == me {
        return reply.error(ErrorCode::BadRequest, "invite another player");
    }
    let checked = state
        .blocking(move |store| {
            let exists = store.get_player(to)?.is_some();
            let friend = store.has_relation(Relation::Friend, me, to)?;
            let blocked = store.has_relation(Relation::Block, to, me)?;
            Ok::<_, arcade_data::DataError>((exists, friend, blocked))
        })
        .await;
    let (exists, friend, blocked) = match checked {
        Ok(Ok(found)) => found,
        _ => return reply.error(ErrorCode::Internal, "storage is unavailable"),
    };
    // A guest that is not stored yet exists while it is connected.
    let exists = exists || state.is_online(to);
    if !exists {
        return reply.error(ErrorCode::NotFound, format!("no player {to}"));
    }
    if !friend {
        return reply.error(
            ErrorCode::Forbidden,
            "invitations go to your friends (a request they accepted)",
        );
    }
    let (answer, answered) = oneshot::channel();
    let op = SocialOp::MatchOf {
        match_id: invite.match_id,
        player: me,
        answer,
    };
    let Ok(found) = state.ask_tick(super::presence::command(op), answered).await else {
        return reply.error(ErrorCode::Internal, "the game loop did not answer");
    };
    let (game, mode) = match found {
        Ok(found) => found,
        Err(InviteRefusal::NoMatch) => {
            let message = format!("no live match {}", invite.match_id);
            return reply.error(ErrorCode::NotFound, message);
        }
        Err(InviteRefusal::NotAMember) => {
            let message = format!("you neither play nor watch {}", invite.match_id);
            return reply.error(ErrorCode::Forbidden, message);
        }
    };
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct InviteReply {
        match_id: MatchId,
        player_id: PlayerId,
    }
    reply.ack(InviteReply {
        match_id: invite.match_id,
        player_id: to,
    });
    if !blocked {
        let event = InviteEvent {
            match_id: invite.match_id,
            from: Who::from(from),
            game,
            mode,
        };
        state
            .hub
            .send_to_players(&Envelope::event("match.invite", event), &[to]);
    }
}
