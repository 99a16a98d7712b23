//! Standings (pure): wins, draws, losses and points per entrant, and the round robin / Swiss
//! table order: points (a win 2, a draw 1), then point difference, then head-to-head among the
//! tied, then seed (rating).

use serde::Serialize;

use super::{Bracket, Outcome, POINTS_DRAW, POINTS_WIN, Slot};
use crate::model::PlayerId;

/// An entrant's line in the table.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    /// The entrant's index in seed order (0: the top seed).
    pub entrant: u16,
    /// Who.
    pub player: PlayerId,
    /// The place: elimination, once out (or champion); round robin and Swiss, the current
    /// table position.
    pub place: Option<u32>,
    /// Matches won (forfeits and byes count).
    pub wins: u32,
    /// Matches drawn.
    pub draws: u32,
    /// Matches lost (forfeits count).
    pub losses: u32,
    /// Table points: [`POINTS_WIN`] a win, [`POINTS_DRAW`] a draw.
    pub points: u32,
    /// Goals (or bricks) scored in played matches.
    pub scored: u32,
    /// Goals conceded in played matches.
    pub conceded: u32,
}

impl Standing {
    /// Scored minus conceded.
    pub fn difference(&self) -> i64 {
        i64::from(self.scored) - i64::from(self.conceded)
    }
}

/// Every entrant's line in seed order, without places.
pub(super) fn tally(bracket: &Bracket) -> Vec<Standing> {
    let mut table: Vec<Standing> = bracket
        .entrants
        .iter()
        .enumerate()
        .map(|(index, entrant)| Standing {
            entrant: index as u16,
            player: entrant.player,
            place: None,
            wins: 0,
            draws: 0,
            losses: 0,
            points: 0,
            scored: 0,
            conceded: 0,
        })
        .collect();
    for pairing in &bracket.pairings {
        let Some(outcome) = pairing.outcome else {
            continue;
        };
        if let Outcome::Played { home, away } = outcome
            && let Some((h, a)) = pairing.entrants()
        {
            table[h as usize].scored += home;
            table[h as usize].conceded += away;
            table[a as usize].scored += away;
            table[a as usize].conceded += home;
            if home == away {
                for entrant in [h, a] {
                    table[entrant as usize].draws += 1;
                    table[entrant as usize].points += POINTS_DRAW;
                }
                continue;
            }
        }
        if let Slot::Entrant(winner) = pairing.winner() {
            table[winner as usize].wins += 1;
            table[winner as usize].points += POINTS_WIN;
        }
        match outcome {
            Outcome::DoubleForfeit => {
                for slot in [pairing.home, pairing.away] {
                    if let Some(entrant) = slot.entrant() {
                        table[entrant as usize].losses += 1;
                    }
                }
            }
            _ => {
                if let Slot::Entrant(loser) = pairing.loser() {
                    table[loser as usize].losses += 1;
                }
            }
        }
    }
    table
}

/// The table in ranking order with places 1, 2, ...
pub(super) fn table(bracket: &Bracket) -> Vec<Standing> {
    let mut table = tally(bracket);
    table.sort_by(|a, b| {
        b.points
            .cmp(&a.points)
            .then(b.difference().cmp(&a.difference()))
    });
    // Head-to-head inside each run of equal points and difference, then seed.
    let mut start = 0;
    while start < table.len() {
        let key = (table[start].points, table[start].difference());
        let end = start
            + table[start..]
                .iter()
                .take_while(|s| (s.points, s.difference()) == key)
                .count();
        let group: Vec<u16> = table[start..end].iter().map(|s| s.entrant).collect();
        let head = head_to_head(bracket, &group);
        table[start..end].sort_by_key(|s| {
            let points = head
                .iter()
                .find(|(entrant, _)| *entrant == s.entrant)
                .map_or(0, |(_, points)| *points);
            (std::cmp::Reverse(points), s.entrant)
        });
        start = end;
    }
    for (position, standing) in table.iter_mut().enumerate() {
        standing.place = Some(position as u32 + 1);
    }
    table
}

/// Table points each member of `group` took from matches between members.
fn head_to_head(bracket: &Bracket, group: &[u16]) -> Vec<(u16, u32)> {
    let mut points: Vec<(u16, u32)> = group.iter().map(|&entrant| (entrant, 0)).collect();
    if group.len() < 2 {
        return points;
    }
    let mut add = |entrant: u16, gained: u32| {
        if let Some(line) = points.iter_mut().find(|(e, _)| *e == entrant) {
            line.1 += gained;
        }
    };
    for pairing in &bracket.pairings {
        let Some((h, a)) = pairing.entrants() else {
            continue;
        };
        if !group.contains(&h) || !group.contains(&a) {
            continue;
        }
        match (pairing.outcome, pairing.winner()) {
            (Some(Outcome::Played { home, away }), _) if home == away => {
                add(h, POINTS_DRAW);
                add(a, POINTS_DRAW);
            }
            (Some(_), Slot::Entrant(winner)) => add(winner, POINTS_WIN),
            _ => {}
        }
    }
    points
}
