//! A tournament in memory (tokio threads): the host's settings, the sign-ups, the bracket,
//! the checks of every request that changes it, and its wire views (PROTOCOL.md
//! "Tournaments"). Pure values: no IO; the service in `super::service` locks, saves and
//! announces.

use arcade_data::time::format_rfc3339_ms;
use arcade_data::tournaments::{
    EntryRow, PairingRow, StoredTournament, TournamentMatch, TournamentSave,
};
use arcade_systems::model::{Game, MatchId, MatchOptions, Mode, PlayerId, TournamentId};
use arcade_systems::tournament::{
    Bracket, Format, MAX_ENTRANTS, MAX_SWISS_ROUNDS, MIN_ENTRANTS, Outcome, Pairing, Rules, Slot,
};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::error::ApiError;

/// The longest tournament name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The longest alias, in characters.
pub const MAX_ALIAS_CHARS: usize = 24;
/// The longest check-in window: a day.
pub const MAX_CHECKIN_WINDOW_SECS: u32 = 86_400;
/// Swiss rounds when the host names none.
pub const DEFAULT_SWISS_ROUNDS: u32 = 3;

/// Where a tournament is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Registration,
    Checkin,
    Running,
    Finished,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Registration,
        Status::Checkin,
        Status::Running,
        Status::Finished,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Registration => "registration",
            Status::Checkin => "checkin",
            Status::Running => "running",
            Status::Finished => "finished",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Finished or cancelled: nothing changes any more.
    pub fn is_over(self) -> bool {
        matches!(self, Status::Finished | Status::Cancelled)
    }

    /// Players may still sign up (and leave without forfeiting).
    pub fn is_open(self) -> bool {
        matches!(self, Status::Registration | Status::Checkin)
    }
}

/// The host's choices kept as the stored `settings` JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Every match's options (defaults filled in).
    pub options: MatchOptions,
    /// Single elimination: the semifinal losers play for third place.
    pub third_place: bool,
    /// Swiss: how many rounds.
    pub rounds: u32,
    /// Seconds before `startsAt` when check-in opens (0: no check-in).
    pub checkin_window: u32,
    /// The host's name when creating it.
    pub host_name: String,
}

/// `POST /api/tournaments`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRequest {
    /// 1..=64 characters.
    pub name: String,
    /// `pong` or `breakout`.
    pub game: String,
    /// `1v1` (pong, the default) or `versus` (breakout, the default).
    #[serde(default)]
    pub mode: Option<String>,
    /// `single_elimination`, `round_robin` or `swiss`.
    pub format: String,
    /// The most entrants, 2..=256.
    pub cap: u32,
    /// Every match's options: `scoreLimit` (pong), `timeLimit` (breakout versus).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub options: Option<MatchOptions>,
    /// Single elimination: a match for third place (default false).
    #[serde(default)]
    pub third_place: bool,
    /// Swiss: rounds, 1..=16 (default 3).
    #[serde(default)]
    pub rounds: Option<u32>,
    /// RFC 3339; absent: the host starts it with `/start`.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// Seconds of check-in before `startsAt` (0..=86400, default 0: no check-in).
    #[serde(default)]
    pub checkin_window: Option<u32>,
}

/// One sign-up.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub player: PlayerId,
    pub name: String,
    pub alias: Option<String>,
    pub registered_at_ms: i64,
    pub checked_in: bool,
}

/// A tournament in memory.
#[derive(Clone, Debug)]
pub struct Tournament {
    pub id: TournamentId,
    pub host: PlayerId,
    pub name: String,
    pub game: Game,
    pub mode: Mode,
    pub format: Format,
    pub cap: u32,
    pub status: Status,
    pub settings: Settings,
    pub starts_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// In registration order.
    pub entries: Vec<Entry>,
    /// Once running.
    pub bracket: Option<Bracket>,
    /// Matches created since the last save (their links are written with it).
    pub new_matches: Vec<TournamentMatch>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

pub fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", message)
}

pub fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// Checks an alias: trimmed, 1..=24 characters, no control characters.
pub fn check_alias(alias: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(alias) = alias else { return Ok(None) };
    let alias = alias.trim().to_owned();
    let chars = alias.chars().count();
    if chars == 0 || chars > MAX_ALIAS_CHARS || alias.chars().any(char::is_control) {
        return Err(bad(format!(
            "alias must be 1..={MAX_ALIAS_CHARS} characters without control characters"
        )));
    }
    Ok(Some(alias))
}

impl Tournament {
    /// A new tournament in `registration`, from a checked request.
    pub fn create(
        id: TournamentId,
        host: PlayerId,
        host_name: &str,
        request: CreateRequest,
        now_ms: i64,
    ) -> Result<Tournament, ApiError> {
        let name = request.name.trim().to_owned();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(bad(format!(
                "name must be 1..={MAX_NAME_CHARS} characters without control characters"
            )));
        }
        let game: Game = request
            .game
            .parse()
            .map_err(|()| bad(format!("unknown game {:?}: pong or breakout", request.game)))?;
        let mode = match request.mode.as_deref() {
            None => match game {
                Game::Pong => Mode::OneVsOne,
                Game::Breakout => Mode::Versus,
            },
            Some(text) => text
                .parse::<Mode>()
                .ok()
                .filter(|mode| matches!(mode, Mode::OneVsOne | Mode::Versus) && mode.fits(game))
                .ok_or_else(|| {
                    bad(format!(
                        "mode {text:?} is not a tournament mode of {}: pong 1v1 or breakout versus",
                        game.as_str()
                    ))
                })?,
        };
        let format = Format::parse(&request.format).ok_or_else(|| {
            bad(format!(
                "unknown format {:?}: single_elimination, round_robin or swiss",
                request.format
            ))
        })?;
        let cap = request.cap;
        if !(MIN_ENTRANTS as u32..=MAX_ENTRANTS as u32).contains(&cap) {
            return Err(bad(format!(
                "cap must be {MIN_ENTRANTS}..={MAX_ENTRANTS}, not {cap}"
            )));
        }
        let options = request.options.unwrap_or_default();
        if options.private {
            return Err(bad("tournament matches cannot be private"));
        }
        let options = options.resolve(game, mode).map_err(bad)?;
        let rounds = match (format, request.rounds) {
            (Format::Swiss, None) => DEFAULT_SWISS_ROUNDS,
            (Format::Swiss, Some(rounds)) if (1..=MAX_SWISS_ROUNDS).contains(&rounds) => rounds,
            (Format::Swiss, Some(_)) => {
                return Err(bad(format!("rounds must be 1..={MAX_SWISS_ROUNDS}")));
            }
            (_, None) => 0,
            (_, Some(_)) => return Err(bad("rounds applies to swiss only")),
        };
        if request.third_place && format != Format::SingleElimination {
            return Err(bad("thirdPlace applies to single_elimination only"));
        }
        let starts_at_ms = match request.starts_at.as_deref() {
            None => None,
            Some(text) => {
                let at = arcade_data::time::parse_rfc3339_ms(text).ok_or_else(|| {
                    bad(format!("startsAt must be an RFC 3339 time, not {text:?}"))
                })?;
                if at <= now_ms {
                    return Err(bad("startsAt is in the past"));
                }
                Some(at)
            }
        };
        let checkin_window = request.checkin_window.unwrap_or(0);
        if checkin_window > MAX_CHECKIN_WINDOW_SECS {
            return Err(bad(format!(
                "checkinWindow must be 0..={MAX_CHECKIN_WINDOW_SECS} seconds"
            )));
        }
        if checkin_window > 0 && starts_at_ms.is_none() {
            return Err(bad("checkinWindow needs a startsAt"));
        }
        Ok(Tournament {
            id,
            host,
            name,
            game,
            mode,
            format,
            cap,
            status: Status::Registration,
            settings: Settings {
                options,
                third_place: request.third_place,
                rounds,
                checkin_window,
                host_name: host_name.to_owned(),
            },
            starts_at_ms,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            entries: Vec::new(),
            bracket: None,
            new_matches: Vec::new(),
        })
    }

    pub fn entry(&self, player: PlayerId) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.player == player)
    }

    /// The host's rules for the bracket.
    pub fn rules(&self) -> Rules {
        Rules {
            format: self.format,
            third_place: self.settings.third_place,
            rounds: self.settings.rounds,
        }
    }

    /// When check-in opens, if it has a window.
    pub fn checkin_opens_at_ms(&self) -> Option<i64> {
        let starts = self.starts_at_ms?;
        (self.settings.checkin_window > 0)
            .then(|| starts - i64::from(self.settings.checkin_window) * 1000)
    }

    /// Signs a player up.
    pub fn register(
        &mut self,
        player: PlayerId,
        name: &str,
        alias: Option<String>,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        let alias = check_alias(alias)?;
        if !self.status.is_open() {
            return Err(conflict(format!(
                "registration is closed: the tournament is {}",
                self.status.as_str()
            )));
        }
        if self.entry(player).is_some() {
            return Err(conflict("already registered"));
        }
        if self.entries.len() >= self.cap as usize {
            return Err(conflict(format!(
                "the tournament is full ({} players)",
                self.cap
            )));
        }
        if let Some(alias) = &alias
            && self
                .entries
                .iter()
                .any(|entry| entry.alias.as_deref().unwrap_or(&entry.name) == alias)
        {
            return Err(conflict(format!(
                "the alias {alias:?} is taken in this tournament"
            )));
        }
        self.entries.push(Entry {
            player,
            name: name.to_owned(),
            alias,
            registered_at_ms: now_ms,
            checked_in: false,
        });
        Ok(())
    }

    /// Leaves before the start (the entry goes) or while running (forfeits the rest).
    pub fn unregister(&mut self, player: PlayerId) -> Result<(), ApiError> {
        if self.entry(player).is_none() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "not registered in this tournament",
            ));
        }
        match self.status {
            Status::Registration | Status::Checkin => {
                self.entries.retain(|entry| entry.player != player);
                Ok(())
            }
            Status::Running => {
                let bracket = self
                    .bracket
                    .as_mut()
                    .ok_or_else(|| conflict("no bracket"))?;
                let entrant = bracket.entrant_of(player);
                match entrant {
                    Some(index) if bracket.entrants[index as usize].withdrawn => {
                        Err(conflict("already left the tournament"))
                    }
                    Some(_) => {
                        bracket
                            .withdraw(player)
                            .map_err(|error| conflict(error.to_string()))?;
                        Ok(())
                    }
                    None => Err(conflict("not playing in this tournament")),
                }
            }
            Status::Finished | Status::Cancelled => Err(conflict(format!(
                "the tournament is {}",
                self.status.as_str()
            ))),
        }
    }

    /// Checks a player in (during `checkin` only; again is fine).
    pub fn checkin(&mut self, player: PlayerId) -> Result<(), ApiError> {
        if self.status != Status::Checkin {
            return Err(conflict(format!(
                "check-in is not open: the tournament is {}",
                self.status.as_str()
            )));
        }
        let entry = self
            .entries
            .iter_mut()
            .find(|entry| entry.player == player)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "not registered in this tournament",
                )
            })?;
        entry.checked_in = true;
        Ok(())
    }

    /// Who plays if it starts now: the checked-in entrants during check-in, else everyone.
    pub fn starters(&self) -> Vec<PlayerId> {
        self.entries
            .iter()
            .filter(|entry| self.status != Status::Checkin || entry.checked_in)
            .map(|entry| entry.player)
            .collect()
    }

    /// Starts the bracket with `ratings` (one per starter); those not checked in are dropped.
    pub fn start(&mut self, ratings: &[(PlayerId, f64)]) -> Result<(), ApiError> {
        if !self.status.is_open() {
            return Err(conflict(format!(
                "the tournament is {}",
                self.status.as_str()
            )));
        }
        let starters = self.starters();
        if starters.len() < MIN_ENTRANTS {
            return Err(conflict(format!(
                "a tournament needs at least {MIN_ENTRANTS} players to start ({} {})",
                starters.len(),
                if self.status == Status::Checkin {
                    "checked in"
                } else {
                    "registered"
                }
            )));
        }
        let field: Vec<(PlayerId, f64)> = starters
            .iter()
            .map(|player| {
                let rating = ratings
                    .iter()
                    .find(|(p, _)| p == player)
                    .map_or(arcade_data::ratings::DEFAULT_RATING, |(_, r)| *r);
                (*player, rating)
            })
            .collect();
        let bracket =
            Bracket::start(self.rules(), &field).map_err(|error| conflict(error.to_string()))?;
        self.entries
            .retain(|entry| starters.contains(&entry.player));
        self.bracket = Some(bracket);
        self.status = Status::Running;
        self.settle_status();
        Ok(())
    }

    /// Marks the tournament finished once its bracket is.
    pub fn settle_status(&mut self) {
        if self.status == Status::Running && self.bracket.as_ref().is_some_and(|b| b.finished) {
            self.status = Status::Finished;
        }
    }

    /// The name a player goes by in this tournament (alias, else name).
    pub fn display_name(&self, player: PlayerId) -> String {
        self.entry(player)
            .map(|entry| entry.alias.clone().unwrap_or_else(|| entry.name.clone()))
            .unwrap_or_else(|| player.to_string())
    }

    /// Every player who hears `tournament.update`: the entrants and the host.
    pub fn participants(&self) -> Vec<PlayerId> {
        let mut players: Vec<PlayerId> = self.entries.iter().map(|entry| entry.player).collect();
        if !players.contains(&self.host) {
            players.push(self.host);
        }
        players
    }

    /// A player's seed (from 1) and whether they withdrew, once running.
    fn seed_of(&self, player: PlayerId) -> (Option<u32>, bool) {
        self.bracket
            .as_ref()
            .and_then(|b| {
                b.entrant_of(player)
                    .map(|i| (Some(u32::from(i) + 1), b.entrants[i as usize].withdrawn))
            })
            .unwrap_or((None, false))
    }

    /// The player of a bracket slot.
    fn slot_player(&self, slot: Slot) -> Option<PlayerId> {
        let bracket = self.bracket.as_ref()?;
        slot.entrant()
            .and_then(|index| bracket.entrants.get(index as usize))
            .map(|entrant| entrant.player)
    }

    // ---- storage ------------------------------------------------------------------------

    /// What a save writes (and forgets the new match links it hands over).
    pub fn to_save(&mut self) -> TournamentSave {
        let standings = self
            .bracket
            .as_ref()
            .map(|bracket| bracket.standings())
            .unwrap_or_default();
        let over_places =
            matches!(self.format, Format::SingleElimination) || self.status == Status::Finished;
        let entries = self
            .entries
            .iter()
            .map(|entry| {
                let (seed, withdrawn) = self.seed_of(entry.player);
                let place = standings
                    .iter()
                    .find(|s| s.player == entry.player)
                    .and_then(|s| s.place)
                    .filter(|_| over_places);
                EntryRow {
                    player: entry.player,
                    name: entry.name.clone(),
                    alias: entry.alias.clone(),
                    registered_at_ms: entry.registered_at_ms,
                    checked_in: entry.checked_in,
                    withdrawn,
                    seed,
                    place,
                }
            })
            .collect();
        let pairings = self
            .bracket
            .as_ref()
            .map(|bracket| {
                bracket
                    .pairings
                    .iter()
                    .map(|p| {
                        let (outcome, home_score, away_score) = outcome_columns(p.outcome);
                        PairingRow {
                            round: p.round,
                            slot: p.slot,
                            third_place: p.third_place,
                            home: self.slot_player(p.home),
                            away: self.slot_player(p.away),
                            outcome,
                            home_score,
                            away_score,
                            match_id: p.live.or(p.last_match),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        TournamentSave {
            tournament: StoredTournament {
                id: self.id,
                host: self.host,
                name: self.name.clone(),
                game: self.game.as_str().to_owned(),
                mode: self.mode.as_str().to_owned(),
                format: self.format.as_str().to_owned(),
                cap: self.cap,
                status: self.status.as_str().to_owned(),
                settings: serde_json::to_string(&self.settings).unwrap_or_default(),
                starts_at_ms: self.starts_at_ms,
                bracket: self
                    .bracket
                    .as_ref()
                    .and_then(|bracket| serde_json::to_string(bracket).ok()),
                created_at_ms: self.created_at_ms,
                updated_at_ms: self.updated_at_ms,
                entrant_count: self.entries.len() as u32,
                entries,
            },
            pairings,
            new_matches: std::mem::take(&mut self.new_matches),
        }
    }

    /// The tournament as stored (its bracket from the stored JSON).
    pub fn from_stored(stored: StoredTournament) -> Result<Tournament, String> {
        let game = stored.game.parse::<Game>().map_err(|()| "bad game")?;
        let mode = stored.mode.parse::<Mode>().map_err(|()| "bad mode")?;
        let format = Format::parse(&stored.format).ok_or("bad format")?;
        let status = Status::parse(&stored.status).ok_or("bad status")?;
        let settings: Settings =
            serde_json::from_str(&stored.settings).map_err(|e| format!("settings: {e}"))?;
        let bracket = match &stored.bracket {
            Some(text) => {
                Some(serde_json::from_str::<Bracket>(text).map_err(|e| format!("bracket: {e}"))?)
            }
            None => None,
        };
        Ok(Tournament {
            id: stored.id,
            host: stored.host,
            name: stored.name,
            game,
            mode,
            format,
            cap: stored.cap,
            status,
            settings,
            starts_at_ms: stored.starts_at_ms,
            created_at_ms: stored.created_at_ms,
            updated_at_ms: stored.updated_at_ms,
            entries: stored
                .entries
                .into_iter()
                .map(|row| Entry {
                    player: row.player,
                    name: row.name,
                    alias: row.alias,
                    registered_at_ms: row.registered_at_ms,
                    checked_in: row.checked_in,
                })
                .collect(),
            bracket,
            new_matches: Vec::new(),
        })
    }

    // ---- views --------------------------------------------------------------------------

    fn who(&self, player: PlayerId) -> Who {
        Who {
            id: player,
            name: self.display_name(player),
        }
    }

    /// The listing view.
    pub fn summary(&self) -> TournamentSummary {
        TournamentSummary {
            id: self.id,
            name: self.name.clone(),
            game: self.game.as_str().to_owned(),
            mode: self.mode.as_str().to_owned(),
            format: self.format.as_str().to_owned(),
            status: self.status,
            host: Who {
                id: self.host,
                name: self.settings.host_name.clone(),
            },
            cap: self.cap,
            entrants: self.entries.len() as u32,
            starts_at: self.starts_at_ms.map(format_rfc3339_ms),
            checkin_window: self.settings.checkin_window,
            options: self.settings.options.clone(),
            third_place: self.settings.third_place,
            rounds: match self.format {
                Format::Swiss => self
                    .bracket
                    .as_ref()
                    .map_or(self.settings.rounds, |bracket| bracket.rounds),
                _ => self.bracket.as_ref().map_or(0, |bracket| bracket.rounds),
            },
            round: self
                .bracket
                .as_ref()
                .filter(|bracket| !bracket.finished)
                .map(|bracket| bracket.round),
            created_at: format_rfc3339_ms(self.created_at_ms),
        }
    }

    /// The whole view: players, every match, standings.
    pub fn view(&self) -> TournamentView {
        let standings = self
            .bracket
            .as_ref()
            .map(|bracket| bracket.standings())
            .unwrap_or_default();
        let players = self
            .entries
            .iter()
            .map(|entry| {
                let (seed, withdrawn) = self.seed_of(entry.player);
                EntrantView {
                    id: entry.player,
                    name: entry.name.clone(),
                    alias: entry.alias.clone(),
                    checked_in: entry.checked_in,
                    withdrawn,
                    seed,
                }
            })
            .collect();
        let matches = self
            .bracket
            .as_ref()
            .map(|bracket| {
                bracket
                    .pairings
                    .iter()
                    .map(|p| self.pairing_view(p))
                    .collect()
            })
            .unwrap_or_default();
        let standings = standings
            .into_iter()
            .map(|s| StandingView {
                player: self.who(s.player),
                place: s.place,
                wins: s.wins,
                draws: s.draws,
                losses: s.losses,
                points: s.points,
                scored: s.scored,
                conceded: s.conceded,
            })
            .collect();
        TournamentView {
            summary: self.summary(),
            players,
            matches,
            standings,
        }
    }

    fn pairing_view(&self, p: &Pairing) -> PairingView {
        let (outcome, home_score, away_score) = outcome_columns(p.outcome);
        PairingView {
            round: p.round,
            slot: p.slot,
            third_place: p.third_place,
            home: self.slot_player(p.home).map(|player| self.who(player)),
            away: self.slot_player(p.away).map(|player| self.who(player)),
            outcome,
            home_score,
            away_score,
            winner: p.outcome.and_then(|_| self.slot_player(p.winner())),
            match_id: p.live.or(p.last_match),
            live: p.live.is_some(),
            replays: p.replays,
        }
    }
}

/// A pairing's outcome as stored and shown: `(outcome, home score, away score)`.
fn outcome_columns(outcome: Option<Outcome>) -> (Option<String>, Option<u32>, Option<u32>) {
    match outcome {
        None => (None, None, None),
        Some(Outcome::Played { home, away }) => (Some("played".into()), Some(home), Some(away)),
        Some(Outcome::Forfeit { .. }) => (Some("forfeit".into()), None, None),
        Some(Outcome::DoubleForfeit) => (Some("double_forfeit".into()), None, None),
        Some(Outcome::Bye) => (Some("bye".into()), None, None),
    }
}

/// A player as tournaments name one: the alias where there is one.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq)]
pub struct Who {
    #[schema(value_type = String, example = "p_000a1b2c3d4e5f60")]
    pub id: PlayerId,
    pub name: String,
}

/// A tournament in a listing.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TournamentSummary {
    #[schema(value_type = String, example = "t_000a1b2c3d4e5f60")]
    pub id: TournamentId,
    pub name: String,
    /// `pong` or `breakout`.
    pub game: String,
    /// `1v1` or `versus`.
    pub mode: String,
    /// `single_elimination`, `round_robin` or `swiss`.
    pub format: String,
    pub status: Status,
    pub host: Who,
    pub cap: u32,
    /// How many signed up.
    pub entrants: u32,
    /// RFC 3339, or null for a manual start.
    pub starts_at: Option<String>,
    /// Seconds of check-in before `startsAt` (0: none).
    pub checkin_window: u32,
    /// Every match's options.
    #[schema(value_type = Object)]
    pub options: MatchOptions,
    pub third_place: bool,
    /// How many rounds (Swiss: as asked until it starts; 0 before the start otherwise).
    pub rounds: u32,
    /// The round being played while running.
    pub round: Option<u32>,
    pub created_at: String,
}

/// A signed-up player.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntrantView {
    #[schema(value_type = String, example = "p_000a1b2c3d4e5f60")]
    pub id: PlayerId,
    pub name: String,
    pub alias: Option<String>,
    pub checked_in: bool,
    /// Left while running: forfeits the rest.
    pub withdrawn: bool,
    /// From 1 (highest rating), once running.
    pub seed: Option<u32>,
}

/// One match of the bracket (a pairing of a round).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairingView {
    pub round: u32,
    /// The place in the round (elimination: the position in the tree).
    pub slot: u32,
    /// Single elimination: the match for third place.
    pub third_place: bool,
    /// Null: not known yet (elimination) or nobody (a bye).
    pub home: Option<Who>,
    pub away: Option<Who>,
    /// `played`, `forfeit`, `double_forfeit`, `bye`, or null while undecided.
    pub outcome: Option<String>,
    pub home_score: Option<u32>,
    pub away_score: Option<u32>,
    #[schema(value_type = Option<String>)]
    pub winner: Option<PlayerId>,
    /// The live match playing it, else the last one that did.
    #[schema(value_type = Option<String>)]
    pub match_id: Option<MatchId>,
    /// Whether `matchId` is being played now.
    pub live: bool,
    /// Drawn elimination matches replayed.
    pub replays: u32,
}

/// A line of the standings.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StandingView {
    pub player: Who,
    /// Elimination: once out (1 the champion); round robin and Swiss: the table position.
    pub place: Option<u32>,
    pub wins: u32,
    pub draws: u32,
    pub losses: u32,
    /// 2 a win (forfeits and byes too), 1 a draw.
    pub points: u32,
    pub scored: u32,
    pub conceded: u32,
}

/// `GET /api/tournaments/{id}` and `tournament.update`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TournamentView {
    #[serde(flatten)]
    pub summary: TournamentSummary,
    pub players: Vec<EntrantView>,
    /// Every pairing so far, by round.
    pub matches: Vec<PairingView>,
    /// In ranking order.
    pub standings: Vec<StandingView>,
}
