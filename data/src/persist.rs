//! The bridge from the simulation to the store: a system, run on the tick thread in
//! `SimSystems::Send`, that hands the history record of every match that ended this tick to
//! [`Store::record_match_then`]. It never blocks the tick: the record is queued for the
//! writer, with a [`CommitGate`] (kept in [`CommitGates`] for the rest of the tick) behind
//! which the network layer stages the match's `match.end`.

use std::collections::HashMap;
use std::sync::Arc;

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::MatchId;
use arcade_systems::tick::{MatchEvent, MatchEvents};

use crate::Store;
use crate::notice::CommitGate;
use crate::time::now_ms;

/// The store that [`persist_finished_matches`] writes to.
#[derive(Resource, Clone)]
pub struct PersistStore(pub Store);

/// The gate of every match whose record was queued this tick: it opens when the record is
/// committed. A system after [`persist_finished_matches`] takes a match's gate
/// ([`CommitGates::take`]) and stages the match's acknowledgement behind it; gates nobody took
/// are forgotten at the next tick (their records are stored all the same).
#[derive(Resource, Default)]
pub struct CommitGates(HashMap<MatchId, Arc<CommitGate>>);

impl CommitGates {
    /// The gate of a match recorded this tick (None: it was not recorded, send at once).
    pub fn take(&mut self, id: MatchId) -> Option<Arc<CommitGate>> {
        self.0.remove(&id)
    }
}

/// Puts `store` in the World for [`persist_finished_matches`] (the World must also hold the
/// simulation's `MatchEvents`).
pub fn install(world: &mut World, store: Store) {
    world.insert_resource(PersistStore(store));
    world.init_resource::<CommitGates>();
}

/// Stores every `MatchEvent::Ended` of this tick, stamped with the wall-clock time now as its
/// end, each with a gate in [`CommitGates`]. Reads the events and leaves them for the other
/// `Send` systems.
pub fn persist_finished_matches(
    events: Res<MatchEvents>,
    store: Res<PersistStore>,
    mut gates: ResMut<CommitGates>,
) {
    gates.0.clear();
    let mut ended_at_ms = None;
    for (_, _, _, event) in &events.list {
        if let MatchEvent::Ended(record) = event {
            let ended_at_ms = *ended_at_ms.get_or_insert_with(now_ms);
            let gate = CommitGate::new();
            store
                .0
                .record_match_then(record.clone(), ended_at_ms, gate.notice());
            gates.0.insert(record.id, gate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcade_systems::bevy_ecs::system::RunSystemOnce;
    use arcade_systems::model::{EndReason, Game, MatchId, MatchOptions, MatchRecord, Mode};

    #[test]
    fn an_ended_match_is_stored_and_other_events_are_not() {
        crate::store::each_store(|store| {
            let mut world = World::new();
            install(&mut world, store.clone());
            let entity = world.spawn_empty().id();
            let record = MatchRecord {
                id: MatchId(9),
                game: Game::Breakout,
                mode: Mode::Solo,
                options: MatchOptions::default(),
                seed: 3,
                started_at_ms: 1_000,
                ticks: 900,
                tick_rate: 60,
                reason: EndReason::Lives,
                players: vec![],
                replay: None,
            };
            let mut events = MatchEvents::default();
            events
                .list
                .push((entity, MatchId(8), 10, MatchEvent::Started));
            events
                .list
                .push((entity, MatchId(9), 900, MatchEvent::Ended(record.clone())));
            world.insert_resource(events);

            let before = now_ms();
            world.run_system_once(persist_finished_matches).unwrap();
            store.flush().unwrap();

            let stored = store.get_match(MatchId(9)).unwrap().expect("stored");
            assert_eq!(stored.ticks, record.ticks);
            assert!(stored.ended_at_ms >= before && stored.ended_at_ms <= now_ms());
            assert_eq!(store.get_match(MatchId(8)).unwrap(), None);
            let gate = world
                .resource_mut::<CommitGates>()
                .take(MatchId(9))
                .expect("a gate for the recorded match");
            let (opened, seen) = std::sync::mpsc::channel();
            gate.then(move |committed| opened.send(committed).unwrap());
            assert_eq!(
                seen.try_recv(),
                Ok(true),
                "open once the record is committed"
            );
            assert!(
                world
                    .resource_mut::<CommitGates>()
                    .take(MatchId(8))
                    .is_none()
            );
            assert_eq!(
                world.resource::<MatchEvents>().list.len(),
                2,
                "events are left in place"
            );
        });
    }
}
