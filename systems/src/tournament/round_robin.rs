//! Round robin (pure): the circle schedule, so that every pair meets exactly once.

use super::{Pairing, Slot};

/// Every round of the schedule: the first seed stays put while the others turn around it; an
/// odd field adds a ghost, and whoever meets the ghost sits the round out (no pairing).
/// Returns the pairings and the number of rounds.
pub(super) fn schedule(count: usize) -> (Vec<Pairing>, u32) {
    let ghost = count;
    let size = count + count % 2;
    let rounds = (size - 1) as u32;
    let mut circle: Vec<usize> = (0..size).collect();
    let mut pairings = Vec::with_capacity(count * (count - 1) / 2);
    for round in 1..=rounds {
        let mut slot = 0;
        for i in 0..size / 2 {
            let (a, b) = (circle[i], circle[size - 1 - i]);
            if a == ghost || b == ghost {
                continue;
            }
            let (home, away) = (a.min(b), a.max(b));
            pairings.push(Pairing::new(
                round,
                slot,
                Slot::Entrant(home as u16),
                Slot::Entrant(away as u16),
            ));
            slot += 1;
        }
        circle[1..].rotate_right(1);
    }
    (pairings, rounds)
}
