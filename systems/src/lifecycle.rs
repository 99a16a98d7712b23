//! The life of a match (GAMES.md "Matches") as systems shared by every game: inputs, the
//! match clock, the countdown, the reconnect grace and the end with its history record.
//!
//! The operations of [`crate::sim`] (join, leave, drop, return, abort) change phases between
//! ticks; these systems do what time does: count, time out, and announce.

use bevy_ecs::prelude::*;

use crate::components::{
    EndCause, EndedMatches, FieldProgress, InPlay, MatchClock, MatchEnding, MatchInfo, MatchPhase,
    Outcome, PlayerInput, Presence, SeatSlot, Seats, Side, TeamScore,
};
use crate::model::{EndReason, MatchRecord, Phase, PlayerResult, RecordPlayer};
use crate::passes::read_first;
use crate::tick::{MatchEvent, MatchEvents, SimConfig};

/// The countdown before play, and before play resumes after a pause: 3 s.
pub const COUNTDOWN_SECONDS: u32 = 3;

/// What a player's departure (leaving on purpose, or a reconnect grace that ran out) does to
/// a match that has not finished.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Departure {
    /// The creator left a match still `waiting`: it never started and is no history.
    Discard,
    /// Someone else left a `waiting` match: the seat opens again.
    FreeSeat,
    /// The match ends now.
    End(EndCause),
}

/// GAMES.md "Matches": a player who leaves forfeits at once; a match whose every player is
/// gone ends as `aborted` with no winner; a match that never left `waiting` is discarded when
/// its creator leaves.
pub(crate) fn departure(
    phase: Phase,
    is_creator: bool,
    side: Side,
    anyone_still_present: bool,
) -> Departure {
    match phase {
        Phase::Waiting if is_creator => Departure::Discard,
        Phase::Waiting => Departure::FreeSeat,
        _ if !anyone_still_present => Departure::End(EndCause::Ended {
            reason: EndReason::Aborted,
            outcome: Outcome::NoResult,
        }),
        _ => Departure::End(EndCause::Ended {
            reason: EndReason::Forfeit,
            outcome: Outcome::Won(side.other()),
        }),
    }
}

/// Starts the countdown (3 s × tick rate): when every seat fills, and when the last absent
/// player of a paused match is back.
pub(crate) fn start_countdown(phase: &mut MatchPhase, config: &SimConfig, resuming: bool) {
    *phase = MatchPhase {
        phase: Phase::Countdown,
        countdown_left: config.ticks(COUNTDOWN_SECONDS),
        resuming,
    };
}

/// PROTOCOL.md "input" and GAMES.md "Input is a state": the newest pending input of every
/// seat becomes its held state, and its seq the one acked in `state`. Runs first in
/// [`crate::sim::SimSystems::Game`], in every phase.
pub(crate) fn apply_inputs(mut inputs: Query<&mut PlayerInput>) {
    inputs.iter_mut().for_each(|mut input| {
        if let Some(frame) = input.pending {
            let input = &mut *input;
            input.axis = frame.axis;
            input.launch = frame.launch;
            input.applied_seq = frame.seq;
            input.pending = None;
        }
    });
}

/// GAMES.md "Matches": a match's `tick` counts server ticks from its creation, in every phase
/// (and stops when it finishes).
pub(crate) fn advance_match_clock(mut matches: Query<(&mut MatchClock, &MatchPhase)>) {
    matches.iter_mut().for_each(|(mut clock, phase)| {
        if phase.phase != Phase::Finished {
            clock.tick += 1;
        }
    });
}

/// GAMES.md pong "countdown": 180 ticks (3 s) from the moment every seat is filled to the
/// first serve; GAMES.md "Matches": a paused match resumes after a fresh 3 s countdown.
pub(crate) fn run_countdown(
    mut events: ResMut<MatchEvents>,
    mut phases: Query<(Entity, &mut MatchPhase)>,
    matches: Query<(&MatchInfo, &MatchClock)>,
    mut counting: Local<Vec<Entity>>,
) {
    // In play no match counts down.
    read_first(phases.iter(), &mut counting, |(entity, phase)| {
        (phase.phase == Phase::Countdown).then_some(entity)
    });
    for &entity in counting.iter() {
        let Ok((_, mut phase)) = phases.get_mut(entity) else {
            continue;
        };
        // The timer runs down without marking the phase changed: `mark_seats_in_play` visits
        // only the matches whose `phase` moved.
        let left = phase.countdown_left.saturating_sub(1);
        phase.bypass_change_detection().countdown_left = left;
        if left > 0 {
            continue;
        }
        phase.phase = Phase::Playing;
        if phase.resuming {
            phase.resuming = false;
            if let Ok((info, clock)) = matches.get(entity) {
                events
                    .list
                    .push((entity, info.id, clock.tick, MatchEvent::Resumed));
            }
        }
    }
}

/// Puts [`InPlay`] on the seats of every match whose phase became `playing`, and takes it off
/// those of every match whose phase became anything else, since this system last ran: the
/// operations between ticks, `forfeit_absent_players` and `run_countdown` change phases before
/// it, the seat rules (bots, paddles) read the marker after it, in the same tick. Only matches
/// whose [`MatchPhase`] changed are visited; a seat moves to or from the marked archetype only
/// when its match starts or stops playing (in seat order, so that a match's bots keep acting
/// in seat order).
pub(crate) fn mark_seats_in_play(
    mut commands: Commands,
    matches: Query<(&MatchPhase, &Seats), Changed<MatchPhase>>,
    seats: Query<Has<InPlay>>,
) {
    for (phase, list) in &matches {
        let playing = phase.phase == Phase::Playing;
        for seat in list.entities() {
            if seats.get(*seat).is_ok_and(|marked| marked != playing) {
                if playing {
                    commands.entity(*seat).insert(InPlay);
                } else {
                    commands.entity(*seat).remove::<InPlay>();
                }
            }
        }
    }
}

/// GAMES.md "Matches": a player who drops keeps the seat for `reconnectGrace` (10 s by
/// default, [`SimConfig::reconnect_grace_ticks`]); after the grace the absent player forfeits,
/// and a match whose every player is gone ends as `aborted`. In `waiting`, an absent creator
/// past the grace discards the match and anyone else loses the seat.
pub(crate) fn forfeit_absent_players(
    config: Res<SimConfig>,
    mut absences: Query<(Entity, &mut Seats)>,
    mut matches: Query<(&MatchClock, &mut MatchPhase, &mut MatchEnding)>,
    mut slots: Query<&mut SeatSlot>,
    mut with_absent: Local<Vec<Entity>>,
) {
    let grace = config.reconnect_grace_ticks;
    read_first(absences.iter(), &mut with_absent, |(entity, seats)| {
        (seats.absent > 0).then_some(entity)
    });
    for &entity in with_absent.iter() {
        let Ok((_, mut seats)) = absences.get_mut(entity) else {
            continue;
        };
        let Ok((clock, mut phase, mut ending)) = matches.get_mut(entity) else {
            continue;
        };
        if phase.phase == Phase::Finished {
            continue;
        }
        let expired = seats.entities().iter().position(|seat| {
            slots.get(*seat).is_ok_and(|slot| {
                matches!(&slot.occupant, Some(o) if matches!(o.presence,
                    Presence::Dropped { at_tick } if clock.tick.saturating_sub(at_tick) >= grace))
            })
        });
        let Some(index) = expired else { continue };
        let seat_entity = seats.entities()[index];
        let anyone_present = seats
            .entities()
            .iter()
            .any(|seat| slots.get(*seat).is_ok_and(SeatSlot::is_present));
        let Ok(mut slot) = slots.get_mut(seat_entity) else {
            continue;
        };
        seats.absent -= 1;
        match departure(phase.phase, index == 0, slot.side, anyone_present) {
            Departure::Discard => {
                phase.phase = Phase::Finished;
                *ending = MatchEnding::Pending(EndCause::Discarded);
            }
            Departure::FreeSeat => slot.occupant = None,
            Departure::End(cause) => {
                if let Some(occupant) = &mut slot.occupant {
                    occupant.presence = Presence::Gone;
                }
                phase.phase = Phase::Finished;
                *ending = MatchEnding::Pending(cause);
            }
        }
    }
}

/// What `finish_matches` reads of a match that ends.
type EndingMatch<'a> = (
    &'a MatchInfo,
    &'a MatchClock,
    &'a Seats,
    Option<&'a TeamScore>,
);

/// GAMES.md "Matches": each finished match is one history record (every player's seat,
/// score and result, the reason, the ticks played); a match discarded from `waiting` is no
/// history. A score is the side's points in Pong, the field's in Breakout; bot seats have no
/// player and are not in the record. Announces each match that ended this tick (`Ended` or `Discarded`) and leaves
/// the entity for the next step to despawn.
pub(crate) fn finish_matches(
    config: Res<SimConfig>,
    mut events: ResMut<MatchEvents>,
    mut ended: ResMut<EndedMatches>,
    mut endings: Query<(Entity, &mut MatchEnding)>,
    matches: Query<EndingMatch>,
    slots: Query<(&SeatSlot, Option<&FieldProgress>)>,
    mut pending: Local<Vec<(Entity, EndCause)>>,
) {
    read_first(
        endings.iter(),
        &mut pending,
        |(entity, ending)| match *ending {
            MatchEnding::Pending(cause) => Some((entity, cause)),
            _ => None,
        },
    );
    for &(entity, cause) in pending.iter() {
        let Ok((_, mut ending)) = endings.get_mut(entity) else {
            continue;
        };
        let Ok((info, clock, seats, score)) = matches.get(entity) else {
            continue;
        };
        *ending = MatchEnding::Done;
        ended.0.push(entity);
        let event = match cause {
            EndCause::Discarded => MatchEvent::Discarded,
            EndCause::Ended { reason, outcome } => MatchEvent::Ended(MatchRecord {
                id: info.id,
                game: info.game,
                mode: info.mode,
                options: info.options.clone(),
                seed: info.seed,
                started_at_ms: info.started_at_ms,
                ticks: clock.tick,
                tick_rate: config.tick_rate,
                reason,
                players: seats
                    .entities()
                    .iter()
                    .filter_map(|seat| slots.get(*seat).ok())
                    .filter_map(|(slot, field)| {
                        let occupant = slot.occupant.as_ref()?;
                        let team = score.map_or(0, |s| s.0[slot.side.index()]);
                        Some(RecordPlayer {
                            id: occupant.player.id,
                            name: occupant.player.name.clone(),
                            seat: slot.seat,
                            score: field.map_or(team, |field| field.score),
                            result: result_of(outcome, slot.side),
                        })
                    })
                    .collect(),
                // Sealed by `replay::seal_replays`, right after this system.
                replay: None,
            }),
        };
        events.list.push((entity, info.id, clock.tick, event));
    }
}

/// A side's result in an ended match.
fn result_of(outcome: Outcome, side: Side) -> PlayerResult {
    match outcome {
        Outcome::Won(winner) if winner == side => PlayerResult::Win,
        Outcome::Won(_) => PlayerResult::Loss,
        Outcome::Draw => PlayerResult::Draw,
        Outcome::NoResult => PlayerResult::None,
    }
}

#[cfg(test)]
mod tests {
    use bevy_ecs::system::RunSystemOnce;

    use super::*;
    use crate::model::{MatchId, Mode, PlayerId};
    use crate::sim;
    use crate::testkit::{events, phase, player, seated_pong, seats, set_phase, simulation, spec};
    use crate::tick::InputFrame;

    fn drop_at(world: &mut World, game: Entity, player: u64, tick: u64) {
        world.get_mut::<MatchClock>(game).unwrap().tick = tick;
        sim::player_dropped(world, game, PlayerId(player));
    }

    fn set_tick(world: &mut World, game: Entity, tick: u64) {
        world.get_mut::<MatchClock>(game).unwrap().tick = tick;
    }

    fn ending(world: &World, game: Entity) -> MatchEnding {
        *world.get::<MatchEnding>(game).unwrap()
    }

    #[test]
    fn the_newest_input_becomes_the_held_state_and_is_acked() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = seated_pong(world, 1, 11);
        let left = seats(world, game)[0];
        world.get_mut::<PlayerInput>(left).unwrap().pending = Some(InputFrame {
            seq: 4,
            axis: -0.25,
            launch: false,
        });
        world.run_system_once(apply_inputs).unwrap();
        let held = *world.get::<PlayerInput>(left).unwrap();
        assert_eq!(
            (held.axis, held.applied_seq, held.pending),
            (-0.25, 4, None)
        );
        // Input is a state: with nothing new it holds.
        world.run_system_once(apply_inputs).unwrap();
        assert_eq!(*world.get::<PlayerInput>(left).unwrap(), held);
    }

    #[test]
    fn the_match_clock_counts_in_every_phase_until_finished() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let games: Vec<(Entity, Phase)> = Phase::ALL
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let game = seated_pong(world, i as u64, 11);
                set_phase(world, game, *p);
                (game, *p)
            })
            .collect();
        world.run_system_once(advance_match_clock).unwrap();
        for (game, p) in games {
            let expected = if p == Phase::Finished { 0 } else { 1 };
            assert_eq!(
                world.get::<MatchClock>(game).unwrap().tick,
                expected,
                "{p:?}"
            );
        }
    }

    #[test]
    fn the_countdown_lasts_3_seconds_of_ticks() {
        for tick_rate in [60, 30] {
            let mut sim = simulation(tick_rate);
            let world = &mut sim.world;
            let game = seated_pong(world, 1, 11);
            assert_eq!(phase(world, game), Phase::Countdown);
            for _ in 1..3 * tick_rate {
                world.run_system_once(run_countdown).unwrap();
                assert_eq!(phase(world, game), Phase::Countdown);
            }
            world.run_system_once(run_countdown).unwrap();
            assert_eq!(phase(world, game), Phase::Playing);
            // The first start is no resume.
            assert_eq!(events(world, game), [MatchEvent::Started]);
        }
    }

    #[test]
    fn only_the_end_of_a_countdown_marks_the_phase_changed() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = seated_pong(world, 1, 11);
        let changed_at = |world: &World| {
            world
                .entity(game)
                .get_change_ticks::<MatchPhase>()
                .unwrap()
                .changed
        };
        let started = changed_at(world);
        for _ in 1..3 * 60 {
            world.run_system_once(run_countdown).unwrap();
            assert_eq!(changed_at(world), started);
        }
        assert_eq!(world.get::<MatchPhase>(game).unwrap().countdown_left, 1);
        world.run_system_once(run_countdown).unwrap();
        assert_eq!(phase(world, game), Phase::Playing);
        assert_ne!(changed_at(world), started);
    }

    /// How many seats of a match carry [`InPlay`].
    fn marked(world: &World, game: Entity) -> usize {
        seats(world, game)
            .iter()
            .filter(|seat| world.get::<InPlay>(**seat).is_some())
            .count()
    }

    #[test]
    fn seats_are_in_play_exactly_while_their_match_plays_from_its_first_playing_tick() {
        let mut sim = simulation(60);
        let game = seated_pong(&mut sim.world, 1, 11);
        let left = seats(&sim.world, game)[0];
        let input = InputFrame {
            seq: 1,
            axis: 1.0,
            launch: false,
        };
        sim::submit_input(&mut sim.world, game, PlayerId(1), input).unwrap();
        for _ in 0..179 {
            sim.step();
            assert_eq!(marked(&sim.world, game), 0);
        }
        let paddle_y = |world: &World| world.get::<crate::components::Paddle>(left).unwrap().y;
        let before = paddle_y(&sim.world);
        // The tick the countdown ends, the paddle already moves.
        sim.step();
        assert_eq!(phase(&sim.world, game), Phase::Playing);
        assert_eq!(marked(&sim.world, game), 2);
        assert!(paddle_y(&sim.world) > before);

        sim::player_dropped(&mut sim.world, game, PlayerId(2));
        sim.step();
        assert_eq!(marked(&sim.world, game), 0);
        let frozen = paddle_y(&sim.world);
        sim.step();
        assert_eq!(paddle_y(&sim.world), frozen);
        sim::player_returned(&mut sim.world, game, PlayerId(2));
        for _ in 0..180 {
            sim.step();
        }
        assert_eq!(phase(&sim.world, game), Phase::Playing);
        assert_eq!(marked(&sim.world, game), 2);

        sim::leave_match(&mut sim.world, game, PlayerId(1));
        sim.step();
        assert_eq!(marked(&sim.world, game), 0);
    }

    #[test]
    fn a_countdown_after_a_pause_ends_with_resumed() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = seated_pong(world, 1, 11);
        let config = *world.resource::<SimConfig>();
        start_countdown(
            &mut world.get_mut::<MatchPhase>(game).unwrap(),
            &config,
            true,
        );
        for _ in 0..180 {
            world.run_system_once(run_countdown).unwrap();
        }
        assert_eq!(phase(world, game), Phase::Playing);
        assert_eq!(events(world, game).last(), Some(&MatchEvent::Resumed));
    }

    #[test]
    fn an_absent_player_forfeits_when_the_grace_runs_out() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let grace = world.resource::<SimConfig>().reconnect_grace_ticks;
        let game = seated_pong(world, 1, 11);
        set_phase(world, game, Phase::Playing);
        drop_at(world, game, 2, 100);
        assert_eq!(phase(world, game), Phase::Paused);

        set_tick(world, game, 100 + grace - 1);
        world.run_system_once(forfeit_absent_players).unwrap();
        assert_eq!(ending(world, game), MatchEnding::Live);

        set_tick(world, game, 100 + grace);
        world.run_system_once(forfeit_absent_players).unwrap();
        assert_eq!(phase(world, game), Phase::Finished);
        assert_eq!(
            ending(world, game),
            MatchEnding::Pending(EndCause::Ended {
                reason: EndReason::Forfeit,
                outcome: Outcome::Won(Side::Left),
            })
        );
    }

    #[test]
    fn a_match_whose_every_player_is_away_past_the_grace_is_aborted() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let grace = world.resource::<SimConfig>().reconnect_grace_ticks;
        let game = seated_pong(world, 1, 11);
        drop_at(world, game, 1, 10);
        drop_at(world, game, 2, 20);
        set_tick(world, game, 10 + grace);
        world.run_system_once(forfeit_absent_players).unwrap();
        assert_eq!(
            ending(world, game),
            MatchEnding::Pending(EndCause::Ended {
                reason: EndReason::Aborted,
                outcome: Outcome::NoResult,
            })
        );
    }

    #[test]
    fn in_waiting_an_absent_creator_discards_and_anyone_else_loses_the_seat() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let grace = world.resource::<SimConfig>().reconnect_grace_ticks;

        let solo_wait = sim::create_match(world, spec(1, Mode::OneVsOne, 11, 1));
        sim::join_match(world, solo_wait, player(1)).unwrap();
        drop_at(world, solo_wait, 1, 0);
        assert_eq!(phase(world, solo_wait), Phase::Waiting);

        let team_wait = sim::create_match(world, spec(2, Mode::TwoVsTwo, 11, 2));
        for n in 1..=3 {
            sim::join_match(world, team_wait, player(n)).unwrap();
        }
        drop_at(world, team_wait, 2, 0);

        set_tick(world, solo_wait, grace);
        set_tick(world, team_wait, grace);
        world.run_system_once(forfeit_absent_players).unwrap();
        assert_eq!(
            ending(world, solo_wait),
            MatchEnding::Pending(EndCause::Discarded)
        );
        assert_eq!(ending(world, team_wait), MatchEnding::Live);
        assert_eq!(phase(world, team_wait), Phase::Waiting);
        assert_eq!(sim::seat_of(world, team_wait, PlayerId(2)), None);
        assert_eq!(world.get::<Seats>(team_wait).unwrap().absent, 0);
    }

    #[test]
    fn a_finished_match_is_announced_with_its_record_once() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = seated_pong(world, 9, 5);
        set_tick(world, game, 1234);
        world.get_mut::<TeamScore>(game).unwrap().0 = [5, 3];
        *world.get_mut::<MatchEnding>(game).unwrap() = MatchEnding::Pending(EndCause::Ended {
            reason: EndReason::ScoreLimit,
            outcome: Outcome::Won(Side::Left),
        });
        world.run_system_once(finish_matches).unwrap();
        world.run_system_once(finish_matches).unwrap();

        let ended: Vec<_> = events(world, game)
            .into_iter()
            .filter_map(|event| match event {
                MatchEvent::Ended(record) => Some(record),
                _ => None,
            })
            .collect();
        let [record] = &ended[..] else {
            panic!("one Ended event, got {ended:?}")
        };
        assert_eq!(record.id, MatchId(10));
        assert_eq!((record.ticks, record.tick_rate, record.seed), (1234, 60, 9));
        assert_eq!(record.reason, EndReason::ScoreLimit);
        assert_eq!(record.options.score_limit, Some(5));
        assert_eq!(
            record.players,
            [
                RecordPlayer {
                    id: PlayerId(1),
                    name: "player1".into(),
                    seat: crate::model::Seat::Left,
                    score: 5,
                    result: PlayerResult::Win,
                },
                RecordPlayer {
                    id: PlayerId(2),
                    name: "player2".into(),
                    seat: crate::model::Seat::Right,
                    score: 3,
                    result: PlayerResult::Loss,
                },
            ]
        );
        assert_eq!(ending(world, game), MatchEnding::Done);
        assert_eq!(world.resource::<EndedMatches>().0, [game]);
    }

    #[test]
    fn a_discarded_match_is_announced_without_a_record() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = sim::create_match(world, spec(1, Mode::OneVsOne, 11, 1));
        *world.get_mut::<MatchEnding>(game).unwrap() = MatchEnding::Pending(EndCause::Discarded);
        world.run_system_once(finish_matches).unwrap();
        assert_eq!(events(world, game), [MatchEvent::Discarded]);
    }

    #[test]
    fn departures_follow_the_rules_of_matches() {
        let forfeit = |winner| {
            Departure::End(EndCause::Ended {
                reason: EndReason::Forfeit,
                outcome: Outcome::Won(winner),
            })
        };
        let aborted = Departure::End(EndCause::Ended {
            reason: EndReason::Aborted,
            outcome: Outcome::NoResult,
        });
        assert_eq!(
            departure(Phase::Waiting, true, Side::Left, true),
            Departure::Discard
        );
        assert_eq!(
            departure(Phase::Waiting, false, Side::Right, true),
            Departure::FreeSeat
        );
        assert_eq!(
            departure(Phase::Playing, false, Side::Right, true),
            forfeit(Side::Left)
        );
        assert_eq!(
            departure(Phase::Countdown, true, Side::Left, true),
            forfeit(Side::Right)
        );
        assert_eq!(departure(Phase::Paused, true, Side::Left, false), aborted);
    }
}
