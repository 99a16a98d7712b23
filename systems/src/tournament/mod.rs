//! Tournament brackets as plain values (pure: no IO, no clock): seeding, pairing, results,
//! forfeits and standings for single elimination, round robin and Swiss. Driven by the network
//! layer's tournament runner (tokio side), which stores the [`Bracket`] after every change.
//!
//! A [`Bracket`] holds its entrants in seed order (index 0 is the top seed: highest rating,
//! ties by player id) and every [`Pairing`] created so far. Rounds are played one at a time:
//! [`Bracket::ready`] lists the pairings of the current round that wait for a match, the runner
//! reports each outcome with [`Bracket::record`], and when the last pairing of a round is
//! decided the next round is drawn (Swiss) or filled in (elimination) at once. A pairing that
//! needs no match (a bye, a withdrawn player) is decided as soon as its round begins.
//!
//! - `elimination`: the seeded tree, byes, the third-place match and placings.
//! - `round_robin`: the circle schedule (every pair once).
//! - `swiss`: pairing equal scores without rematches, and the bye.
//! - `standings`: the table of wins, point difference and head-to-head.

mod elimination;
mod round_robin;
mod standings;
mod swiss;

use serde::{Deserialize, Serialize};

use crate::model::{MatchId, PlayerId};

pub use standings::Standing;

/// The fewest entrants a tournament starts with.
pub const MIN_ENTRANTS: usize = 2;
/// The most entrants a tournament takes (a 256-player bracket has 8 rounds).
pub const MAX_ENTRANTS: usize = 256;
/// The most Swiss rounds a host may ask for.
pub const MAX_SWISS_ROUNDS: u32 = 16;
/// Points for a win (a bye counts as a win) in round robin and Swiss tables.
pub const POINTS_WIN: u32 = 2;
/// Points for a draw: half a win.
pub const POINTS_DRAW: u32 = 1;

/// How the entrants meet.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A knockout tree seeded by rating; a draw is replayed.
    SingleElimination,
    /// Every pair meets once.
    RoundRobin,
    /// A fixed number of rounds, each pairing players of equal score who have not met.
    Swiss,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::SingleElimination => "single_elimination",
            Format::RoundRobin => "round_robin",
            Format::Swiss => "swiss",
        }
    }

    pub fn parse(text: &str) -> Option<Format> {
        [Format::SingleElimination, Format::RoundRobin, Format::Swiss]
            .into_iter()
            .find(|format| format.as_str() == text)
    }
}

/// The host's choices that shape the bracket.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rules {
    /// How entrants meet.
    pub format: Format,
    /// Single elimination only: the semifinal losers play for third place.
    pub third_place: bool,
    /// Swiss only: how many rounds (clamped at the start to what the field allows; the
    /// tournament ends early if no round without a rematch can be drawn).
    pub rounds: u32,
}

/// A player in the bracket, in seed order.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entrant {
    /// Who plays.
    pub player: PlayerId,
    /// The rating the player was seeded with.
    pub rating: f64,
    /// The player left the tournament: every match still to come is forfeited.
    pub withdrawn: bool,
}

/// A side of a pairing.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Home,
    Away,
}

/// One side of a pairing in an elimination tree may wait for the winner of an earlier one.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "entrant")]
pub enum Slot {
    /// Waits for the pairing that feeds it.
    Open,
    /// An entrant (index in seed order).
    Entrant(u16),
    /// Nobody will come (a bye, or both players of the feeding pairing forfeited).
    Empty,
}

impl Slot {
    pub fn entrant(self) -> Option<u16> {
        match self {
            Slot::Entrant(index) => Some(index),
            _ => None,
        }
    }
}

/// How a pairing was decided.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// A match was played to these scores (equal scores: a draw).
    Played { home: u32, away: u32 },
    /// One side did not play (absent, or left the tournament): the other wins.
    Forfeit { loser: Side },
    /// Neither side played: nobody wins.
    DoubleForfeit,
    /// Only one side (or none) exists: it goes through without a match.
    Bye,
}

/// One meeting of two entrants (or an entrant and a bye) in a round.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pairing {
    /// The round, from 1.
    pub round: u32,
    /// The place in the round, from 0 (elimination: the position in the tree).
    pub slot: u32,
    /// The first side (the better seed where it is known).
    pub home: Slot,
    /// The second side.
    pub away: Slot,
    /// Elimination only: the match for third place (played in the final's round).
    pub third_place: bool,
    /// How it was decided, once it is.
    pub outcome: Option<Outcome>,
    /// The live match playing it, while one does.
    pub live: Option<MatchId>,
    /// The last match that played it (kept once it is decided).
    #[serde(default)]
    pub last_match: Option<MatchId>,
    /// How many drawn matches were replayed (elimination).
    pub replays: u32,
}

impl Pairing {
    fn new(round: u32, slot: u32, home: Slot, away: Slot) -> Pairing {
        Pairing {
            round,
            slot,
            home,
            away,
            third_place: false,
            outcome: None,
            live: None,
            last_match: None,
            replays: 0,
        }
    }

    /// The side that won, once decided (none for a draw or a double forfeit).
    pub fn winner(&self) -> Slot {
        match self.outcome {
            None => Slot::Open,
            Some(Outcome::Played { home, away }) if home > away => self.home,
            Some(Outcome::Played { home, away }) if away > home => self.away,
            Some(Outcome::Played { .. }) | Some(Outcome::DoubleForfeit) => Slot::Empty,
            Some(Outcome::Forfeit { loser: Side::Home }) => self.away,
            Some(Outcome::Forfeit { loser: Side::Away }) => self.home,
            Some(Outcome::Bye) => match (self.home, self.away) {
                (Slot::Entrant(_), _) => self.home,
                (_, Slot::Entrant(_)) => self.away,
                _ => Slot::Empty,
            },
        }
    }

    /// The side that lost, once decided (an entrant that lost a played or forfeited match).
    pub fn loser(&self) -> Slot {
        match self.outcome {
            None => Slot::Open,
            Some(Outcome::Played { home, away }) if home > away => self.away,
            Some(Outcome::Played { home, away }) if away > home => self.home,
            Some(Outcome::Forfeit { loser: Side::Home }) => self.home,
            Some(Outcome::Forfeit { loser: Side::Away }) => self.away,
            Some(_) => Slot::Empty,
        }
    }

    /// Both entrants, when both are known.
    pub fn entrants(&self) -> Option<(u16, u16)> {
        Some((self.home.entrant()?, self.away.entrant()?))
    }

    /// Which side an entrant plays on.
    pub fn side_of(&self, entrant: u16) -> Option<Side> {
        if self.home == Slot::Entrant(entrant) {
            Some(Side::Home)
        } else if self.away == Slot::Entrant(entrant) {
            Some(Side::Away)
        } else {
            None
        }
    }
}

/// What a call to [`Bracket::record`] changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Recorded {
    /// The pairing is decided; the round goes on.
    Decided,
    /// An elimination match was drawn: the pairing waits for a new match.
    Replay,
    /// The pairing decided its round; the next round is ready.
    NextRound(u32),
    /// The pairing decided the tournament.
    Finished,
}

/// Why a bracket refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BracketError {
    TooFewEntrants,
    TooManyEntrants,
    UnknownPairing,
    AlreadyDecided,
    NotInRound,
    NotAnEntrant,
}

impl std::fmt::Display for BracketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BracketError::TooFewEntrants => "a tournament needs at least 2 entrants",
            BracketError::TooManyEntrants => "a tournament takes at most 256 entrants",
            BracketError::UnknownPairing => "no such pairing",
            BracketError::AlreadyDecided => "that pairing is already decided",
            BracketError::NotInRound => "that pairing is not in the current round",
            BracketError::NotAnEntrant => "that player is not an entrant",
        })
    }
}

impl std::error::Error for BracketError {}

/// A tournament's bracket: entrants, every pairing so far, and the round being played.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bracket {
    /// The host's choices (Swiss rounds as clamped at the start).
    pub rules: Rules,
    /// The entrants in seed order.
    pub entrants: Vec<Entrant>,
    /// Every pairing so far, by round then slot.
    pub pairings: Vec<Pairing>,
    /// The round being played (from 1); past the last once finished.
    pub round: u32,
    /// How many rounds the tournament has.
    pub rounds: u32,
    /// Every pairing is decided.
    pub finished: bool,
}

impl Bracket {
    /// Seeds the players (highest rating first, ties by id) and draws the first round (the
    /// whole tree for elimination, the whole schedule for round robin).
    pub fn start(rules: Rules, players: &[(PlayerId, f64)]) -> Result<Bracket, BracketError> {
        if players.len() < MIN_ENTRANTS {
            return Err(BracketError::TooFewEntrants);
        }
        if players.len() > MAX_ENTRANTS {
            return Err(BracketError::TooManyEntrants);
        }
        let mut entrants: Vec<Entrant> = players
            .iter()
            .map(|&(player, rating)| Entrant {
                player,
                rating: if rating.is_finite() { rating } else { 0.0 },
                withdrawn: false,
            })
            .collect();
        entrants.sort_by(|a, b| b.rating.total_cmp(&a.rating).then(a.player.cmp(&b.player)));
        let count = entrants.len();
        let mut rules = rules;
        let (pairings, rounds) = match rules.format {
            Format::SingleElimination => elimination::tree(count, rules.third_place),
            Format::RoundRobin => round_robin::schedule(count),
            Format::Swiss => {
                rules.rounds = rules.rounds.clamp(1, swiss::max_rounds(count));
                (Vec::new(), rules.rounds)
            }
        };
        let mut bracket = Bracket {
            rules,
            entrants,
            pairings,
            round: 1,
            rounds,
            finished: false,
        };
        if rules.format == Format::Swiss {
            bracket.pairings = swiss::pair_round(&bracket, 1).unwrap_or_default();
        }
        bracket.settle();
        Ok(bracket)
    }

    /// The index of an entrant by player id.
    pub fn entrant_of(&self, player: PlayerId) -> Option<u16> {
        self.entrants
            .iter()
            .position(|entrant| entrant.player == player)
            .map(|index| index as u16)
    }

    /// The pairings of the current round that wait for a match (both sides known, undecided,
    /// no live match): `(index in pairings, home, away)`.
    pub fn ready(&self) -> impl Iterator<Item = (usize, u16, u16)> + '_ {
        self.pairings
            .iter()
            .enumerate()
            .filter(|(_, pairing)| {
                pairing.round == self.round && pairing.outcome.is_none() && pairing.live.is_none()
            })
            .filter_map(|(index, pairing)| {
                let (home, away) = pairing.entrants()?;
                Some((index, home, away))
            })
    }

    /// An undecided pairing of the current round, to change.
    fn undecided(&mut self, pairing: usize) -> Result<&mut Pairing, BracketError> {
        let round = self.round;
        let slot = self
            .pairings
            .get_mut(pairing)
            .ok_or(BracketError::UnknownPairing)?;
        if slot.outcome.is_some() {
            return Err(BracketError::AlreadyDecided);
        }
        if slot.round != round {
            return Err(BracketError::NotInRound);
        }
        Ok(slot)
    }

    /// Notes the live match that plays a pairing.
    pub fn assign(&mut self, pairing: usize, live: MatchId) -> Result<(), BracketError> {
        self.undecided(pairing)?.live = Some(live);
        Ok(())
    }

    /// Forgets every live match (after a restart: they are replayed as new matches).
    pub fn clear_live(&mut self) {
        for pairing in &mut self.pairings {
            pairing.live = None;
        }
    }

    /// The pairing a live match plays.
    pub fn pairing_of(&self, live: MatchId) -> Option<usize> {
        self.pairings
            .iter()
            .position(|pairing| pairing.live == Some(live))
    }

    /// Decides a pairing of the current round. A drawn elimination match is replayed; when the
    /// round is complete the next one is drawn at once.
    pub fn record(&mut self, pairing: usize, outcome: Outcome) -> Result<Recorded, BracketError> {
        let format = self.rules.format;
        let slot = self.undecided(pairing)?;
        slot.last_match = slot.live.take().or(slot.last_match);
        if let Outcome::Played { home, away } = outcome
            && home == away
            && format == Format::SingleElimination
        {
            slot.replays += 1;
            return Ok(Recorded::Replay);
        }
        slot.outcome = Some(outcome);
        Ok(self.settle())
    }

    /// A player leaves: every undecided pairing of theirs that is drawn already is forfeited,
    /// and every later one as soon as its round begins.
    pub fn withdraw(&mut self, player: PlayerId) -> Result<Recorded, BracketError> {
        let entrant = self.entrant_of(player).ok_or(BracketError::NotAnEntrant)?;
        self.entrants[entrant as usize].withdrawn = true;
        if self.finished {
            return Ok(Recorded::Finished);
        }
        // Forfeits in later rounds of a fixed schedule (round robin) wait for their round, so
        // that the table reads in round order; `settle` decides them.
        Ok(self.settle())
    }

    /// The pairings of one round.
    pub fn round_pairings(&self, round: u32) -> impl Iterator<Item = &Pairing> + '_ {
        self.pairings
            .iter()
            .filter(move |pairing| pairing.round == round)
    }

    /// The standings: every entrant with its place (final for elimination losers and for
    /// everyone once finished; the current table for round robin and Swiss).
    pub fn standings(&self) -> Vec<Standing> {
        match self.rules.format {
            Format::SingleElimination => elimination::standings(self),
            Format::RoundRobin | Format::Swiss => standings::table(self),
        }
    }

    /// Decides every pairing of the current round that needs no match, and moves on while
    /// rounds complete. Returns what the last change amounts to.
    fn settle(&mut self) -> Recorded {
        let start_round = self.round;
        loop {
            if self.finished {
                return Recorded::Finished;
            }
            let round = self.round;
            let withdrawn: Vec<bool> = self.entrants.iter().map(|e| e.withdrawn).collect();
            for pairing in self.pairings.iter_mut().filter(|p| p.round == round) {
                if pairing.outcome.is_some() {
                    continue;
                }
                if pairing.home == Slot::Open || pairing.away == Slot::Open {
                    continue;
                }
                let gone = |slot: Slot| slot.entrant().is_none_or(|e| withdrawn[e as usize]);
                let home_is_entrant = pairing.home.entrant().is_some();
                let away_is_entrant = pairing.away.entrant().is_some();
                pairing.outcome = match (gone(pairing.home), gone(pairing.away)) {
                    (false, false) => continue,
                    (true, true) if home_is_entrant && away_is_entrant => {
                        Some(Outcome::DoubleForfeit)
                    }
                    (true, false) if home_is_entrant => {
                        Some(Outcome::Forfeit { loser: Side::Home })
                    }
                    (false, true) if away_is_entrant => {
                        Some(Outcome::Forfeit { loser: Side::Away })
                    }
                    (true, true) if home_is_entrant => Some(Outcome::Forfeit { loser: Side::Home }),
                    (true, true) if away_is_entrant => Some(Outcome::Forfeit { loser: Side::Away }),
                    _ => Some(Outcome::Bye),
                };
                pairing.live = None;
            }
            if self.format_fill() {
                continue;
            }
            let complete = self
                .pairings
                .iter()
                .filter(|p| p.round == round)
                .all(|p| p.outcome.is_some());
            if !complete {
                return if round == start_round {
                    Recorded::Decided
                } else {
                    Recorded::NextRound(round)
                };
            }
            if round >= self.rounds {
                self.finished = true;
                self.round = self.rounds + 1;
                return Recorded::Finished;
            }
            if self.rules.format == Format::Swiss {
                match swiss::pair_round(self, round + 1) {
                    Some(next) => self.pairings.extend(next),
                    None => {
                        // No pairing without a rematch is left: the tournament ends here.
                        self.rounds = round;
                        continue;
                    }
                }
            }
            self.round += 1;
        }
    }

    /// Elimination: carries decided winners (and semifinal losers) into the slots they feed.
    /// Returns whether a slot of the current round changed (so `settle` looks again).
    fn format_fill(&mut self) -> bool {
        if self.rules.format != Format::SingleElimination {
            return false;
        }
        elimination::fill(self)
    }
}

#[cfg(test)]
mod tests;
