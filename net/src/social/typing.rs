//! Typing indicators (tokio threads; issue 14 item 7): `chat.typing {channel, typing}` from a
//! client becomes `typing.start` / `typing.stop {channel, player}` for the channel's other
//! members. Nothing is stored.
//!
//! - At most one `typing.start` per player and channel every [`TYPING_START_EVERY`]: a client
//!   may say `typing: true` on every key press.
//! - A `typing.stop` goes out by itself after [`TYPING_SILENCE`] without a `typing: true`
//!   (a timer task per start; a newer start or a stop makes it do nothing).
//! - `global` goes to every other connection, `dm:<id>` to that player (never when they block
//!   the typist), `match:<id>` to the match's audience (the tick thread knows it: a
//!   [`Command::Run`] that only pushes to outboxes).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arcade_data::social::Relation;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{Phase, PlayerId};
use arcade_systems::{sim, view};
use serde::{Deserialize, Serialize};

use crate::link::{Audience, Command, ReplyTo};
use crate::social::chat::{Channel, Who};
use crate::state::AppState;
use crate::wire::protocol::{Envelope, PlayerInfo};

/// The least time between two `typing.start`s of one player in one channel.
pub const TYPING_START_EVERY: Duration = Duration::from_secs(2);
/// Silence after which a `typing.stop` goes out by itself.
pub const TYPING_SILENCE: Duration = Duration::from_secs(5);
/// Past this many tracked typists, finished ones are swept out.
const MAX_TRACKED_TYPISTS: usize = 10_000;

/// `chat.typing` from a client.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingSend {
    /// `global`, `match:<matchId>` or `dm:<playerId>`; `global` when absent.
    #[serde(default)]
    pub channel: Option<String>,
    pub typing: bool,
}

/// `typing.start` / `typing.stop`.
#[derive(Clone, Serialize)]
struct TypingEvent {
    /// The channel as its reader names it.
    channel: String,
    player: Who,
}

/// One player typing in one channel.
struct Typist {
    /// When the last `typing.start` went out.
    started: Instant,
    /// Bumped by every `typing: true` and every stop: a timer that finds another value does
    /// nothing.
    generation: u64,
    /// Whether the others were told `typing.start` and not yet `typing.stop`.
    typing: bool,
}

/// Who is typing where (a lock only ever held to read or change the map).
#[derive(Default)]
pub struct Typing {
    typists: Mutex<HashMap<(PlayerId, String), Typist>>,
}

/// What a `chat.typing` makes the server send.
#[derive(Debug, PartialEq, Eq)]
enum Send {
    Start,
    Stop,
    Nothing,
}

impl Typing {
    /// Records `typing` of `player` in `channel` (a storage key) at `now`; answers what to
    /// send and the generation a silence timer must find.
    fn note(&self, player: PlayerId, channel: &str, typing: bool, now: Instant) -> (Send, u64) {
        let mut typists = self.typists.lock().expect("typing lock");
        if typists.len() > MAX_TRACKED_TYPISTS {
            typists.retain(|_, typist| typist.typing);
        }
        let typist = typists
            .entry((player, channel.to_owned()))
            .or_insert(Typist {
                started: now,
                generation: 0,
                typing: false,
            });
        typist.generation += 1;
        let send = if typing {
            if !typist.typing || now.duration_since(typist.started) >= TYPING_START_EVERY {
                typist.typing = true;
                typist.started = now;
                Send::Start
            } else {
                Send::Nothing
            }
        } else if std::mem::take(&mut typist.typing) {
            Send::Stop
        } else {
            Send::Nothing
        };
        (send, typist.generation)
    }

    /// The silence timer of `generation` ran out: whether to send `typing.stop`.
    fn silent(&self, player: PlayerId, channel: &str, generation: u64) -> bool {
        let mut typists = self.typists.lock().expect("typing lock");
        match typists.get_mut(&(player, channel.to_owned())) {
            Some(typist) if typist.generation == generation && typist.typing => {
                typist.typing = false;
                true
            }
            _ => false,
        }
    }
}

/// Handles a `chat.typing` the session has parsed. `Err` is a malformed channel (the
/// session's `bad_request`); the sender gets a bare `ack` otherwise.
pub async fn typing(
    state: &AppState,
    sender: &PlayerInfo,
    reply: ReplyTo,
    send: TypingSend,
) -> Result<(), String> {
    let channel = Channel::parse(send.channel.as_deref().unwrap_or("global"))?;
    if channel == Channel::Dm(sender.id) {
        return Err("a direct message goes to another player".into());
    }
    let key = channel.key(sender.id);
    let (what, generation) = state
        .typing
        .note(sender.id, &key, send.typing, Instant::now());
    reply.ack_bare();
    match what {
        Send::Nothing => return Ok(()),
        Send::Start => {
            let (later, typist, key) = (state.clone(), sender.clone(), key.clone());
            tokio::spawn(async move {
                tokio::time::sleep(TYPING_SILENCE).await;
                if later.typing.silent(typist.id, &key, generation) {
                    deliver(&later, &typist, channel, "typing.stop").await;
                }
            });
            deliver(state, sender, channel, "typing.start").await;
        }
        Send::Stop => deliver(state, sender, channel, "typing.stop").await,
    }
    Ok(())
}

/// Sends `kind` about `sender` to the other members of `channel`.
async fn deliver(state: &AppState, sender: &PlayerInfo, channel: Channel, kind: &'static str) {
    let me = sender.id;
    match channel {
        Channel::Global => {
            let event = TypingEvent {
                channel: channel.name(),
                player: Who::from(sender),
            };
            state
                .hub
                .broadcast(&Envelope::event(kind, &event), |entry| {
                    entry.player.id != me
                });
        }
        Channel::Dm(other) => {
            let blocked = state
                .blocking(move |store| store.has_relation(Relation::Block, other, me))
                .await;
            if !matches!(blocked, Ok(Ok(false))) {
                return;
            }
            let event = TypingEvent {
                channel: Channel::Dm(me).name(),
                player: Who::from(sender),
            };
            state
                .hub
                .send_to_players(&Envelope::event(kind, &event), &[other]);
        }
        Channel::Match(match_id) => {
            let event = TypingEvent {
                channel: channel.name(),
                player: Who::from(sender),
            };
            let run = move |world: &mut World| {
                let Some(game) = sim::find_match(world, match_id) else {
                    return;
                };
                if view::match_phase(world, game).is_none_or(|phase| phase == Phase::Finished) {
                    return;
                }
                let Some(audience) = world.get::<Audience>(game) else {
                    return;
                };
                if !audience.members.iter().any(|member| member.player == me) {
                    return;
                }
                let envelope = Envelope::event(kind, &event);
                for member in audience.members.iter().filter(|member| member.player != me) {
                    member
                        .outbox
                        .push(member.outbox.codec().encode_once(&envelope));
                }
            };
            let _ = state.commands.send(Command::Run(Box::new(run)));
        }
        Channel::Tournament(id) => {
            // The tournament's players and host hear a participant type (not its watchers).
            let Some(participants) = state.tournaments.participants(id).await else {
                return;
            };
            if !participants.contains(&me) {
                return;
            }
            let others: Vec<PlayerId> = participants.into_iter().filter(|p| *p != me).collect();
            let event = TypingEvent {
                channel: channel.name(),
                player: Who::from(sender),
            };
            state
                .hub
                .send_to_players(&Envelope::event(kind, &event), &others);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_start_per_two_seconds_and_a_stop_only_after_a_start() {
        let typing = Typing::default();
        let ada = PlayerId(1);
        let t0 = Instant::now();
        assert_eq!(typing.note(ada, "global", false, t0).0, Send::Nothing);
        assert_eq!(typing.note(ada, "global", true, t0).0, Send::Start);
        let (again, generation) = typing.note(ada, "global", true, t0 + Duration::from_secs(1));
        assert_eq!(again, Send::Nothing);
        // Another channel is counted apart.
        assert_eq!(typing.note(ada, "dm:a:b", true, t0).0, Send::Start);
        assert_eq!(
            typing.note(ada, "global", true, t0 + TYPING_START_EVERY).0,
            Send::Start
        );
        // A timer of an older generation does nothing; the newest one stops.
        assert!(!typing.silent(ada, "global", generation));
        let (_, newest) = typing.note(ada, "global", true, t0 + TYPING_START_EVERY);
        assert!(typing.silent(ada, "global", newest));
        assert!(!typing.silent(ada, "global", newest), "stopped once");
        assert_eq!(typing.note(ada, "dm:a:b", false, t0).0, Send::Stop);
        assert_eq!(typing.note(ada, "dm:a:b", false, t0).0, Send::Nothing);
    }
}
