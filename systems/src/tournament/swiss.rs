//! Swiss (pure): each round pairs players of equal score who have not met, in table order; an
//! odd field gives a bye to the lowest-ranked player who has not had one.

use std::collections::HashSet;

use super::{Bracket, MAX_SWISS_ROUNDS, Outcome, Pairing, Slot, standings};

/// How many pairing attempts the search for a round without rematches may make before it
/// gives up (and the tournament ends a round early).
const SEARCH_BUDGET: u32 = 200_000;

/// The most rounds a field can play without a rematch.
pub(super) fn max_rounds(count: usize) -> u32 {
    let most = if !count.is_multiple_of(2) {
        count
    } else {
        count - 1
    };
    (most as u32).clamp(1, MAX_SWISS_ROUNDS)
}

/// The pairings of `round`, drawn from the current table; `None` when no pairing without a
/// rematch exists (the tournament then ends a round early).
pub(super) fn pair_round(bracket: &Bracket, round: u32) -> Option<Vec<Pairing>> {
    let table = standings::table(bracket);
    let mut order: Vec<u16> = table
        .iter()
        .map(|standing| standing.entrant)
        .filter(|&entrant| !bracket.entrants[entrant as usize].withdrawn)
        .collect();
    let mut met = HashSet::new();
    let mut had_bye = HashSet::new();
    for pairing in &bracket.pairings {
        match pairing.entrants() {
            Some((a, b)) => {
                met.insert((a.min(b), a.max(b)));
            }
            None if pairing.outcome == Some(Outcome::Bye) => {
                if let Some(entrant) = pairing.home.entrant() {
                    had_bye.insert(entrant);
                }
            }
            None => {}
        }
    }
    let mut pairings = Vec::with_capacity(order.len() / 2 + 1);
    let mut bye = None;
    if order.len() % 2 == 1 {
        let at = order
            .iter()
            .rposition(|entrant| !had_bye.contains(entrant))
            .unwrap_or(order.len() - 1);
        bye = Some(order.remove(at));
    }
    let mut budget = SEARCH_BUDGET;
    let mut chosen = Vec::with_capacity(order.len() / 2);
    let mut used = vec![false; order.len()];
    if !search(&order, &met, &mut used, &mut chosen, &mut budget) {
        return None;
    }
    for (slot, (a, b)) in chosen.into_iter().enumerate() {
        pairings.push(Pairing::new(
            round,
            slot as u32,
            Slot::Entrant(a),
            Slot::Entrant(b),
        ));
    }
    if let Some(entrant) = bye {
        let slot = pairings.len() as u32;
        pairings.push(Pairing::new(
            round,
            slot,
            Slot::Entrant(entrant),
            Slot::Empty,
        ));
    }
    Some(pairings)
}

/// Pairs the first unpaired player with the next in table order it has not met, backtracking
/// when the rest cannot be paired.
fn search(
    order: &[u16],
    met: &HashSet<(u16, u16)>,
    used: &mut [bool],
    chosen: &mut Vec<(u16, u16)>,
    budget: &mut u32,
) -> bool {
    let Some(first) = used.iter().position(|&u| !u) else {
        return true;
    };
    used[first] = true;
    for second in first + 1..order.len() {
        if used[second] {
            continue;
        }
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let (a, b) = (order[first], order[second]);
        if met.contains(&(a.min(b), a.max(b))) {
            continue;
        }
        used[second] = true;
        chosen.push((a, b));
        if search(order, met, used, chosen, budget) {
            return true;
        }
        chosen.pop();
        used[second] = false;
    }
    used[first] = false;
    false
}
