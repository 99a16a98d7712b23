//! Unit and property tests of the brackets (pure, no World).

use std::collections::HashSet;

use proptest::prelude::*;

use super::elimination::seed_order;
use super::*;

fn players(count: usize) -> Vec<(PlayerId, f64)> {
    // Player i has rating 2000 - i, so the seed order is the player order.
    (0..count)
        .map(|i| (PlayerId(i as u64 + 1), 2000.0 - i as f64))
        .collect()
}

fn rules(format: Format) -> Rules {
    Rules {
        format,
        third_place: false,
        rounds: 3,
    }
}

/// Plays every ready pairing with `score` (home score, away score) until the bracket is done.
fn play_out(bracket: &mut Bracket, mut score: impl FnMut(u16, u16) -> (u32, u32)) {
    let mut guard = 0;
    while !bracket.finished {
        let ready: Vec<_> = bracket.ready().collect();
        assert!(
            !ready.is_empty(),
            "a running bracket always has a match to play"
        );
        for (index, home, away) in ready {
            let (h, a) = score(home, away);
            bracket
                .record(index, Outcome::Played { home: h, away: a })
                .unwrap();
        }
        guard += 1;
        assert!(guard < 1000);
    }
}

fn place_of(bracket: &Bracket, entrant: u16) -> Option<u32> {
    bracket
        .standings()
        .iter()
        .find(|s| s.entrant == entrant)
        .unwrap()
        .place
}

#[test]
fn the_top_seeds_meet_last() {
    assert_eq!(seed_order(2), vec![0, 1]);
    assert_eq!(seed_order(8), vec![0, 7, 3, 4, 1, 6, 2, 5]);
}

#[test]
fn entrants_are_seeded_by_rating_then_id() {
    let bracket = Bracket::start(
        rules(Format::SingleElimination),
        &[
            (PlayerId(5), 1500.0),
            (PlayerId(3), 1700.0),
            (PlayerId(4), 1500.0),
        ],
    )
    .unwrap();
    let order: Vec<u64> = bracket.entrants.iter().map(|e| e.player.0).collect();
    assert_eq!(order, vec![3, 4, 5]);
}

#[test]
fn a_field_of_seven_gives_the_top_seed_a_bye() {
    let bracket = Bracket::start(rules(Format::SingleElimination), &players(7)).unwrap();
    assert_eq!(bracket.rounds, 3);
    let first: Vec<_> = bracket.round_pairings(1).collect();
    assert_eq!(first.len(), 4);
    assert_eq!(first[0].outcome, Some(Outcome::Bye));
    assert_eq!(first[0].winner(), Slot::Entrant(0));
    let ready: Vec<_> = bracket.ready().map(|(_, h, a)| (h, a)).collect();
    assert_eq!(ready, vec![(3, 4), (1, 6), (2, 5)]);
    // The bye already sits in round two.
    let second: Vec<_> = bracket.round_pairings(2).collect();
    assert_eq!(second[0].home, Slot::Entrant(0));
    assert_eq!(second[0].away, Slot::Open);
}

#[test]
fn the_better_seed_winning_every_match_crowns_the_top_seed() {
    let mut bracket = Bracket::start(rules(Format::SingleElimination), &players(7)).unwrap();
    play_out(
        &mut bracket,
        |home, away| if home < away { (1, 0) } else { (0, 1) },
    );
    assert_eq!(place_of(&bracket, 0), Some(1));
    assert_eq!(place_of(&bracket, 1), Some(2));
    assert_eq!(place_of(&bracket, 2), Some(3));
    assert_eq!(place_of(&bracket, 3), Some(3));
    for entrant in 4..7 {
        assert_eq!(place_of(&bracket, entrant), Some(5));
    }
}

#[test]
fn the_third_place_match_takes_the_semifinal_losers() {
    let mut options = rules(Format::SingleElimination);
    options.third_place = true;
    let mut bracket = Bracket::start(options, &players(4)).unwrap();
    assert_eq!(bracket.pairings.len(), 4);
    play_out(
        &mut bracket,
        |home, away| if home < away { (3, 1) } else { (1, 3) },
    );
    let third = bracket.pairings.iter().find(|p| p.third_place).unwrap();
    assert_eq!(third.entrants(), Some((3, 2)));
    assert_eq!(place_of(&bracket, 2), Some(3));
    assert_eq!(place_of(&bracket, 3), Some(4));
    assert_eq!(place_of(&bracket, 1), Some(2));
}

#[test]
fn a_drawn_elimination_match_is_replayed() {
    let mut bracket = Bracket::start(rules(Format::SingleElimination), &players(2)).unwrap();
    let (index, _, _) = bracket.ready().next().unwrap();
    bracket.assign(index, MatchId(9)).unwrap();
    assert_eq!(bracket.ready().count(), 0);
    let recorded = bracket
        .record(index, Outcome::Played { home: 2, away: 2 })
        .unwrap();
    assert_eq!(recorded, Recorded::Replay);
    assert_eq!(bracket.pairings[index].replays, 1);
    assert_eq!(
        bracket.ready().count(),
        1,
        "the pairing waits for a new match"
    );
    let recorded = bracket
        .record(index, Outcome::Played { home: 1, away: 2 })
        .unwrap();
    assert_eq!(recorded, Recorded::Finished);
    assert_eq!(place_of(&bracket, 1), Some(1));
}

#[test]
fn a_forfeit_advances_the_other_side() {
    let mut bracket = Bracket::start(rules(Format::SingleElimination), &players(4)).unwrap();
    let (index, home, _) = bracket.ready().next().unwrap();
    bracket
        .record(index, Outcome::Forfeit { loser: Side::Home })
        .unwrap();
    assert_eq!(place_of(&bracket, home), Some(3));
    assert_eq!(
        bracket.record(index, Outcome::Bye),
        Err(BracketError::AlreadyDecided)
    );
}

#[test]
fn a_player_who_leaves_forfeits_the_rest() {
    let mut bracket = Bracket::start(rules(Format::RoundRobin), &players(4)).unwrap();
    bracket.withdraw(PlayerId(1)).unwrap();
    // Round one: entrant 0's pairing is forfeited at once; the other waits for a match.
    assert_eq!(bracket.ready().count(), 1);
    play_out(&mut bracket, |_, _| (1, 0));
    let standing = bracket
        .standings()
        .into_iter()
        .find(|s| s.entrant == 0)
        .unwrap();
    assert_eq!((standing.wins, standing.losses), (0, 3));
    assert_eq!(standing.place, Some(4));
}

#[test]
fn both_absent_in_elimination_leaves_the_next_opponent_a_walkover() {
    let mut bracket = Bracket::start(rules(Format::SingleElimination), &players(4)).unwrap();
    let ready: Vec<_> = bracket.ready().collect();
    bracket.record(ready[0].0, Outcome::DoubleForfeit).unwrap();
    let recorded = bracket
        .record(ready[1].0, Outcome::Played { home: 1, away: 0 })
        .unwrap();
    assert_eq!(recorded, Recorded::Finished, "the final is a walkover");
    assert_eq!(place_of(&bracket, ready[1].1), Some(1));
}

#[test]
fn round_robin_ranks_by_wins_then_difference_then_head_to_head_then_rating() {
    // Five players, ten matches. Results chosen so that:
    // - entrant 4 wins everything but loses to 3 (3 wins):
    let mut bracket = Bracket::start(rules(Format::RoundRobin), &players(5)).unwrap();
    assert_eq!(bracket.rounds, 5);
    assert_eq!(bracket.pairings.len(), 10);
    // Wins: 4 beats 0,1,2; 3 beats 4; 0 beats 1,2,3; 1 beats 2,3; 2 beats 3.
    // Points: 4 -> 3 wins, 0 -> 3 wins, 3 -> 1 win, 1 -> 2 wins, 2 -> 1 win.
    // Every win 1-0, so 0 and 4 tie on wins and difference; 4 beat 0 head to head.
    // 2 and 3 tie on wins (1) and difference (-2 each); 2 beat 3 head to head.
    let beats = |a: u16, b: u16| {
        matches!(
            (a, b),
            (4, 0) | (4, 1) | (4, 2) | (3, 4) | (0, 1) | (0, 2) | (0, 3) | (1, 2) | (1, 3) | (2, 3)
        )
    };
    play_out(&mut bracket, |home, away| {
        if beats(home, away) { (1, 0) } else { (0, 1) }
    });
    let order: Vec<u16> = bracket.standings().iter().map(|s| s.entrant).collect();
    assert_eq!(order, vec![4, 0, 1, 2, 3]);
}

#[test]
fn round_robin_falls_back_to_rating_when_all_else_ties() {
    let mut bracket = Bracket::start(rules(Format::RoundRobin), &players(3)).unwrap();
    // A cycle: 0 beats 1, 1 beats 2, 2 beats 0, all 1-0: everything ties but the seed.
    let beats = |a: u16, b: u16| matches!((a, b), (0, 1) | (1, 2) | (2, 0));
    play_out(&mut bracket, |home, away| {
        if beats(home, away) { (1, 0) } else { (0, 1) }
    });
    let order: Vec<u16> = bracket.standings().iter().map(|s| s.entrant).collect();
    assert_eq!(order, vec![0, 1, 2]);
}

#[test]
fn swiss_pairs_equal_scores_without_rematches() {
    let mut bracket = Bracket::start(rules(Format::Swiss), &players(6)).unwrap();
    assert_eq!(bracket.rounds, 3);
    // The better seed always wins by one.
    play_out(
        &mut bracket,
        |home, away| if home < away { (1, 0) } else { (0, 1) },
    );
    let mut met = HashSet::new();
    for pairing in &bracket.pairings {
        let (a, b) = pairing.entrants().unwrap();
        assert!(met.insert((a.min(b), a.max(b))), "no rematch");
    }
    // Round two pairs the winners of round one together.
    let second: Vec<_> = bracket
        .round_pairings(2)
        .map(|p| p.entrants().unwrap())
        .collect();
    assert_eq!(second[0], (0, 2));
    let order: Vec<u16> = bracket.standings().iter().map(|s| s.entrant).collect();
    assert_eq!(order[0], 0);
}

#[test]
fn swiss_gives_the_bye_to_the_lowest_ranked_without_one() {
    let mut bracket = Bracket::start(rules(Format::Swiss), &players(5)).unwrap();
    play_out(
        &mut bracket,
        |home, away| if home < away { (1, 0) } else { (0, 1) },
    );
    let byes: Vec<u16> = bracket
        .pairings
        .iter()
        .filter(|p| p.outcome == Some(Outcome::Bye))
        .map(|p| p.home.entrant().unwrap())
        .collect();
    assert_eq!(byes.len(), 3);
    assert_eq!(byes[0], 4, "the lowest seed sits out first");
    assert_eq!(
        byes.iter().collect::<HashSet<_>>().len(),
        3,
        "no second bye"
    );
}

#[test]
fn bad_fields_are_refused() {
    assert_eq!(
        Bracket::start(rules(Format::RoundRobin), &players(1)),
        Err(BracketError::TooFewEntrants)
    );
    assert_eq!(
        Bracket::start(rules(Format::RoundRobin), &players(257)),
        Err(BracketError::TooManyEntrants)
    );
}

#[test]
fn a_bracket_survives_serde() {
    let mut bracket = Bracket::start(rules(Format::SingleElimination), &players(5)).unwrap();
    let (index, _, _) = bracket.ready().next().unwrap();
    bracket.assign(index, MatchId(77)).unwrap();
    let text = serde_json::to_string(&bracket).unwrap();
    let back: Bracket = serde_json::from_str(&text).unwrap();
    assert_eq!(back, bracket);
    assert_eq!(back.pairing_of(MatchId(77)), Some(index));
}

proptest! {
    #[test]
    fn elimination_always_crowns_one_champion(
        count in 2usize..=70,
        third in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut options = rules(Format::SingleElimination);
        options.third_place = third;
        let mut bracket = Bracket::start(options, &players(count)).unwrap();
        let mut state = seed | 1;
        play_out(&mut bracket, |_, _| {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            let home = (state % 4) as u32;
            let away = ((state >> 8) % 4) as u32;
            (home, away)
        });
        let standings = bracket.standings();
        prop_assert_eq!(standings.iter().filter(|s| s.place == Some(1)).count(), 1);
        prop_assert!(standings.iter().all(|s| s.place.is_some()));
        if third && count >= 4 {
            prop_assert_eq!(standings.iter().filter(|s| s.place == Some(3)).count(), 1);
        }
        // Every entrant loses at most once (a semifinal loser may lose the third-place match too).
        let most = if third { 2 } else { 1 };
        prop_assert!(standings.iter().all(|s| s.losses <= most));
    }

    #[test]
    fn round_robin_meets_every_pair_once(count in 2usize..=40) {
        let bracket = Bracket::start(rules(Format::RoundRobin), &players(count)).unwrap();
        let mut met = HashSet::new();
        for pairing in &bracket.pairings {
            let (a, b) = pairing.entrants().unwrap();
            prop_assert!(met.insert((a.min(b), a.max(b))));
        }
        prop_assert_eq!(met.len(), count * (count - 1) / 2);
        // Nobody plays twice in a round.
        for round in 1..=bracket.rounds {
            let mut seen = HashSet::new();
            for pairing in bracket.round_pairings(round) {
                let (a, b) = pairing.entrants().unwrap();
                prop_assert!(seen.insert(a) && seen.insert(b));
            }
        }
    }

    #[test]
    fn swiss_never_rematches_and_never_gives_two_byes(
        count in 2usize..=24,
        rounds in 1u32..=6,
        seed in any::<u64>(),
    ) {
        let mut options = rules(Format::Swiss);
        options.rounds = rounds;
        let mut bracket = Bracket::start(options, &players(count)).unwrap();
        let mut state = seed | 1;
        play_out(&mut bracket, |_, _| {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            ((state % 3) as u32, ((state >> 8) % 3) as u32)
        });
        let mut met = HashSet::new();
        let mut byes = HashSet::new();
        for pairing in &bracket.pairings {
            match pairing.entrants() {
                Some((a, b)) => prop_assert!(met.insert((a.min(b), a.max(b)))),
                None => prop_assert!(byes.insert(pairing.home.entrant().unwrap())),
            }
        }
    }
}
