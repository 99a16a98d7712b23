//! Single elimination (pure): the seeded tree with byes, carrying winners forward, the
//! third-place match, and the placings.

use super::{Bracket, Pairing, Slot, Standing, standings};

/// Bracket positions of the seeds (from 0) in a tree of `size` leaves, so that the top seeds
/// meet last: 1 v 8, 4 v 5, 2 v 7, 3 v 6 for eight.
pub(super) fn seed_order(size: usize) -> Vec<usize> {
    let mut order = vec![1usize];
    while order.len() < size {
        let next_len = order.len() * 2;
        order = order
            .iter()
            .flat_map(|&seed| [seed, next_len + 1 - seed])
            .collect();
    }
    order.into_iter().map(|seed| seed - 1).collect()
}

/// Every pairing of the tree: round 1 seeded (a seed past the field is a bye), later rounds
/// open, and the third-place match in the final's round. Returns the pairings and the rounds.
pub(super) fn tree(count: usize, third_place: bool) -> (Vec<Pairing>, u32) {
    let size = count.next_power_of_two().max(2);
    let rounds = size.trailing_zeros();
    let order = seed_order(size);
    let slot_of = |seed: usize| {
        if seed < count {
            Slot::Entrant(seed as u16)
        } else {
            Slot::Empty
        }
    };
    let mut pairings: Vec<Pairing> = order
        .chunks(2)
        .enumerate()
        .map(|(slot, pair)| Pairing::new(1, slot as u32, slot_of(pair[0]), slot_of(pair[1])))
        .collect();
    for round in 2..=rounds {
        let slots = size >> round;
        pairings.extend(
            (0..slots).map(|slot| Pairing::new(round, slot as u32, Slot::Open, Slot::Open)),
        );
    }
    if third_place && rounds >= 2 {
        let mut third = Pairing::new(rounds, 1, Slot::Open, Slot::Open);
        third.third_place = true;
        pairings.push(third);
    }
    (pairings, rounds)
}

/// Where a decided pairing sends its winner (and, for a semifinal, its loser).
fn targets(bracket: &Bracket, from: &Pairing) -> [Option<(usize, bool, Slot)>; 2] {
    let rounds = bracket.rounds;
    if from.third_place || from.round >= rounds {
        return [None, None];
    }
    let home = from.slot.is_multiple_of(2);
    let find = |third: bool, slot: u32| {
        bracket.pairings.iter().position(|pairing| {
            pairing.round == from.round + 1 && pairing.third_place == third && pairing.slot == slot
        })
    };
    let winner = find(false, from.slot / 2).map(|index| (index, home, from.winner()));
    let loser = if from.round + 1 == rounds {
        find(true, 1).map(|index| (index, home, from.loser_or_empty()))
    } else {
        None
    };
    [winner, loser]
}

impl Pairing {
    /// The loser for the third-place match: an entrant, or nobody.
    fn loser_or_empty(&self) -> Slot {
        match self.loser() {
            Slot::Entrant(index) => Slot::Entrant(index),
            _ => Slot::Empty,
        }
    }
}

/// Carries every decided pairing's winner (and semifinal loser) into the open slot it feeds.
/// Returns whether a slot changed.
pub(super) fn fill(bracket: &mut Bracket) -> bool {
    let mut changed = false;
    for index in 0..bracket.pairings.len() {
        let from = bracket.pairings[index];
        if from.outcome.is_none() {
            continue;
        }
        for (target, home, slot) in targets(bracket, &from).into_iter().flatten() {
            let pairing = &mut bracket.pairings[target];
            let side = if home {
                &mut pairing.home
            } else {
                &mut pairing.away
            };
            if *side == Slot::Open {
                *side = slot;
                changed = true;
            }
        }
    }
    changed
}

/// The placings: the champion 1, the final's loser 2, the third-place match 3 and 4 (or both
/// semifinal losers 3 without it), and a loser in a round of `m` matches `m + 1`. Entrants
/// still in come first, in seed order.
pub(super) fn standings(bracket: &Bracket) -> Vec<Standing> {
    let mut table = standings::tally(bracket);
    let rounds = bracket.rounds;
    for pairing in bracket.pairings.iter().filter(|p| p.outcome.is_some()) {
        let mut place = |slot: Slot, place: u32| {
            if let Some(entrant) = slot.entrant() {
                table[entrant as usize].place = Some(place);
            }
        };
        if pairing.third_place {
            continue;
        }
        let losers_place = (1u32 << (rounds - pairing.round)) + 1;
        if pairing.outcome == Some(super::Outcome::DoubleForfeit) {
            place(pairing.home, losers_place);
            place(pairing.away, losers_place);
        } else {
            place(pairing.loser(), losers_place);
        }
        if pairing.round == rounds {
            place(pairing.winner(), 1);
        }
    }
    for pairing in bracket.pairings.iter().filter(|p| p.third_place) {
        match pairing.outcome {
            Some(super::Outcome::DoubleForfeit) => {
                for slot in [pairing.home, pairing.away] {
                    if let Some(entrant) = slot.entrant() {
                        table[entrant as usize].place = Some(4);
                    }
                }
            }
            Some(_) => {
                if let Some(entrant) = pairing.winner().entrant() {
                    table[entrant as usize].place = Some(3);
                }
                if let Some(entrant) = pairing.loser().entrant() {
                    table[entrant as usize].place = Some(4);
                }
            }
            None => {}
        }
    }
    table.sort_by_key(|standing| (standing.place.unwrap_or(0), standing.entrant));
    table
}
