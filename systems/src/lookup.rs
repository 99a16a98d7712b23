//! Per-system scratch tables that join a member to its match (or a ball to its paddles) by an
//! array read instead of a `Query::get`: a rule system fills one from a query iteration at
//! the start of its run and reads it once per member. Used by the rule systems, on the tick
//! thread.
//!
//! Why: a `Query::get` finds the entity's archetype and table and each component's column
//! again on every call (~60 to 130 instructions here); iterating the matches first and
//! reading an array indexed by entity costs a few (BENCHMARKS.md "The ECS within 2× of the
//! baseline").

use bevy_ecs::entity::Entity;

/// A value per entity for one run of a system, in a `Vec` indexed by the entity's index.
/// Each run starts it anew ([`EntityTable::start`]): entries from an earlier run read as
/// absent, and the allocation is kept from run to run.
#[derive(Debug)]
pub(crate) struct EntityTable<T> {
    /// Per entity index: the run that wrote it, the entity (with its generation), the value.
    slots: Vec<Slot<T>>,
    /// The current run; a slot written at another run is absent.
    run: u32,
}

/// One entry of an [`EntityTable`].
#[derive(Clone, Copy, Debug)]
struct Slot<T> {
    /// The run that wrote it.
    run: u32,
    /// The entity it is for: a later entity with the same index does not read it.
    entity: Entity,
    /// The value.
    value: T,
}

impl<T> Default for EntityTable<T> {
    fn default() -> Self {
        EntityTable {
            slots: Vec::new(),
            run: 0,
        }
    }
}

impl<T: Copy> EntityTable<T> {
    /// Starts a run: every entry of the earlier runs is absent from now on.
    pub(crate) fn start(&mut self) {
        self.run = self.run.wrapping_add(1);
        if self.run == 0 {
            // Wrapped (after 2^32 runs): forget every slot once, so that none reads as current.
            for slot in &mut self.slots {
                slot.run = 0;
            }
            self.run = 1;
        }
    }

    /// Sets the value of `entity` for this run.
    pub(crate) fn insert(&mut self, entity: Entity, value: T) {
        let index = entity.index_u32() as usize;
        let slot = Slot {
            run: self.run,
            entity,
            value,
        };
        if index >= self.slots.len() {
            self.slots.resize(index + 1, Slot { run: 0, ..slot });
        }
        self.slots[index] = slot;
    }

    /// The value of `entity` set in this run, if any.
    pub(crate) fn get(&self, entity: Entity) -> Option<&T> {
        let slot = self.slots.get(entity.index_u32() as usize)?;
        (slot.run == self.run && slot.entity == entity).then_some(&slot.value)
    }

    /// Whether `entity` has a value in this run.
    pub(crate) fn contains(&self, entity: Entity) -> bool {
        self.get(entity).is_some()
    }
}

#[cfg(test)]
mod tests {
    use bevy_ecs::world::World;

    use super::*;

    #[test]
    fn a_table_holds_only_this_runs_entries_for_the_same_entity() {
        let mut world = World::new();
        let first = world.spawn_empty().id();
        let second = world.spawn_empty().id();
        assert_ne!(first.index_u32(), second.index_u32());
        let mut table = EntityTable::default();
        table.start();
        table.insert(second, 7);
        assert_eq!(table.get(second), Some(&7));
        assert_eq!(table.get(first), None);

        // A new run forgets the last one's entries.
        table.start();
        assert!(!table.contains(second));
        table.insert(first, 3);
        assert_eq!(table.get(first), Some(&3));

        // A later entity with the same index (another generation) does not read its entry.
        let reused =
            Entity::from_index_and_generation(first.index(), first.generation().after_versions(1));
        assert_eq!(reused.index_u32(), first.index_u32());
        assert_eq!(table.get(reused), None);
    }

    #[test]
    fn a_wrapped_run_counter_forgets_every_entry() {
        let mut world = World::new();
        let entity = world.spawn_empty().id();
        let mut table = EntityTable::default();
        table.run = u32::MAX - 1;
        table.start();
        table.insert(entity, 1);
        table.start();
        assert_eq!(table.run, 1);
        assert!(!table.contains(entity));
    }
}
