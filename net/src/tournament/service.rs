//! The tournament service and its runner (tokio threads): every tournament not over, in
//! memory behind one async lock; each change is checked, applied, saved (the writer commits it
//! before anyone hears of it), then announced (`tournament.update`, `tournament.match`) and
//! its new matches handed to the tick thread as jobs. The runner task applies match ends from
//! the tick thread and the clock (check-in opening, planned starts). The tick thread never
//! waits on any of this: it only runs the jobs and sends ends down an unbounded channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arcade_data::tournaments::TournamentMatch;
use arcade_systems::model::{
    EndReason, ID_BITS_MASK, MatchId, PlayerId, PlayerRef, PlayerResult, TournamentId,
};
use arcade_systems::tournament::{Outcome, Side};
use serde_json::json;
use tokio::sync::mpsc;

use super::book::{CreateRequest, Status, Tournament, TournamentView, conflict, forbidden};
use super::tick::{EndedMatch, Seating, TournamentMatchSpec, leave_match_job, start_match_job};
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::link::Command;
use crate::outbox::{ConnId, Outbox};
use crate::state::AppState;
use crate::wire::protocol::{Envelope, PlayerInfo};

/// How often the runner looks at the clock (check-in opening, planned starts).
pub const CLOCK_EVERY: Duration = Duration::from_millis(250);

/// Every tournament not over, and who watches which.
#[derive(Default)]
pub struct Tournaments {
    /// The tournaments, locked for a whole change (check, apply, save).
    book: tokio::sync::Mutex<Book>,
    /// Connections that watch a tournament (`tournament.watch`); never held across IO.
    watchers: Mutex<HashMap<TournamentId, Watchers>>,
}

/// The connections watching one tournament.
type Watchers = Vec<(ConnId, Arc<Outbox>)>;

/// A match to create: its spec, its round, and both players (id, name).
type PlannedMatch = (TournamentMatchSpec, u32, [(PlayerId, String); 2]);

/// The tournaments in memory.
#[derive(Default)]
struct Book {
    /// Every tournament not finished nor cancelled.
    open: HashMap<TournamentId, Tournament>,
    /// The tournament of every live tournament match.
    by_match: HashMap<MatchId, TournamentId>,
}

/// What a change leaves to do once it is saved.
#[derive(Default)]
struct After {
    /// Matches to create: spec and the two players.
    starts: Vec<PlannedMatch>,
    /// Live matches a withdrawn player leaves.
    leaves: Vec<(MatchId, PlayerId)>,
}

fn not_found(id: TournamentId) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no tournament {id}"),
    )
}

impl Tournaments {
    pub fn new() -> Tournaments {
        Tournaments::default()
    }

    /// The connections watching `id`, without those that closed.
    fn watchers_of(&self, id: TournamentId) -> Vec<Arc<Outbox>> {
        let mut watchers = self.watchers.lock().expect("watchers lock");
        let Some(list) = watchers.get_mut(&id) else {
            return Vec::new();
        };
        list.retain(|(_, outbox)| !outbox.is_closing());
        list.iter().map(|(_, outbox)| outbox.clone()).collect()
    }

    /// Adds a watcher.
    pub fn watch(&self, id: TournamentId, conn: ConnId, outbox: Arc<Outbox>) {
        let mut watchers = self.watchers.lock().expect("watchers lock");
        let list = watchers.entry(id).or_default();
        if !list.iter().any(|(c, _)| *c == conn) {
            list.push((conn, outbox));
        }
    }

    /// Removes a watcher; whether it watched.
    pub fn unwatch(&self, id: TournamentId, conn: ConnId) -> bool {
        let mut watchers = self.watchers.lock().expect("watchers lock");
        let Some(list) = watchers.get_mut(&id) else {
            return false;
        };
        let before = list.len();
        list.retain(|(c, _)| *c != conn);
        before != list.len()
    }

    /// Whether `outbox` watches `id` (the chat channel's audience).
    pub fn is_watching(&self, id: TournamentId, outbox: &Arc<Outbox>) -> bool {
        self.watchers
            .lock()
            .expect("watchers lock")
            .get(&id)
            .is_some_and(|list| list.iter().any(|(_, o)| Arc::ptr_eq(o, outbox)))
    }

    /// The participants of an open tournament (entrants and host), for the chat channel.
    pub async fn participants(&self, id: TournamentId) -> Option<Vec<PlayerId>> {
        let book = self.book.lock().await;
        book.open.get(&id).map(Tournament::participants)
    }

    /// Sends `message` to the tournament's participants and watchers.
    pub fn announce<T: serde::Serialize>(
        &self,
        state: &AppState,
        id: TournamentId,
        participants: &[PlayerId],
        message: &T,
    ) {
        state.hub.send_to_players(message, participants);
        for outbox in self.watchers_of(id) {
            outbox.push(outbox.codec().encode_once(message));
        }
    }
}

/// The whole view of a tournament: from memory while open, else from the store.
pub async fn view(state: &AppState, id: TournamentId) -> Result<TournamentView, ApiError> {
    {
        let book = state.tournaments.book.lock().await;
        if let Some(tournament) = book.open.get(&id) {
            return Ok(tournament.view());
        }
    }
    let stored = state
        .blocking(move |store| store.get_tournament(id))
        .await??
        .ok_or_else(|| not_found(id))?;
    let tournament = Tournament::from_stored(stored.0).map_err(ApiError::internal)?;
    Ok(tournament.view())
}

/// `POST /api/tournaments`: checks, saves, answers the view.
pub async fn create(
    state: &AppState,
    host: &PlayerInfo,
    request: CreateRequest,
) -> Result<TournamentView, ApiError> {
    let id = TournamentId(rand::random_range(1..=ID_BITS_MASK));
    let mut tournament = Tournament::create(id, host.id, &host.name, request, now_ms())?;
    let save = tournament.to_save();
    state
        .blocking(move |store| store.save_tournament(save))
        .await??;
    let view = tournament.view();
    state
        .tournaments
        .book
        .lock()
        .await
        .open
        .insert(id, tournament);
    Ok(view)
}

/// Applies `change` to an open tournament; saves it (undone if the save fails), then
/// announces it and starts its new matches. Answers the view after the change.
async fn change(
    state: &AppState,
    id: TournamentId,
    change: impl FnOnce(&mut Tournament) -> Result<(), ApiError>,
) -> Result<TournamentView, ApiError> {
    let mut book = state.tournaments.book.lock().await;
    let Some(tournament) = book.open.get_mut(&id) else {
        drop(book);
        // A tournament over is not in memory: it exists, but nothing changes it any more.
        let found = state
            .blocking(move |store| store.get_tournament(id))
            .await??;
        return Err(match found {
            Some((stored, _)) => conflict(format!("the tournament is {}", stored.status)),
            None => not_found(id),
        });
    };
    let before = tournament.clone();
    change(tournament)?;
    commit(state, &mut book, id, before).await
}

/// Saves the changed tournament `id` (restoring `before` if that fails), then announces.
async fn commit(
    state: &AppState,
    book: &mut Book,
    id: TournamentId,
    before: Tournament,
) -> Result<TournamentView, ApiError> {
    let Some(tournament) = book.open.get_mut(&id) else {
        return Err(not_found(id));
    };
    tournament.settle_status();
    tournament.updated_at_ms = now_ms();
    let after = plan_matches(tournament, &before);
    let save = tournament.to_save();
    let saved = state
        .blocking(move |store| store.save_tournament(save))
        .await;
    if let Err(error) = saved
        .map_err(ApiError::from)
        .and_then(|r| r.map_err(ApiError::from))
    {
        book.open.insert(id, before);
        return Err(error);
    }
    let tournament = &book.open[&id];
    for (spec, _, _) in &after.starts {
        book.by_match.insert(spec.id, id);
    }
    let view = tournament.view();
    let participants = tournament.participants();
    let over = tournament.status.is_over();
    run_after(state, id, after);
    state.tournaments.announce(
        state,
        id,
        &participants,
        &Envelope::event("tournament.update", &view),
    );
    if over {
        book.open.remove(&id);
        book.by_match.retain(|_, t| *t != id);
    }
    Ok(view)
}

/// Gives every ready pairing a match id (saved with the tournament), and notes the live
/// matches of players who withdrew in this change.
fn plan_matches(tournament: &mut Tournament, before: &Tournament) -> After {
    let mut after = After::default();
    if let (Some(now), Some(was)) = (&tournament.bracket, &before.bracket) {
        for (entrant, (old, new)) in was.entrants.iter().zip(&now.entrants).enumerate() {
            if new.withdrawn && !old.withdrawn {
                for pairing in &was.pairings {
                    if let Some(live) = pairing.live
                        && pairing.side_of(entrant as u16).is_some()
                    {
                        after.leaves.push((live, new.player));
                    }
                }
            }
        }
    }
    if tournament.status != Status::Running {
        return after;
    }
    let Some(bracket) = tournament.bracket.as_mut() else {
        return after;
    };
    let ready: Vec<(usize, u16, u16)> = bracket.ready().collect();
    for (index, home, away) in ready {
        let match_id = MatchId(rand::random_range(1..=ID_BITS_MASK));
        if bracket.assign(index, match_id).is_err() {
            continue;
        }
        let pairing = bracket.pairings[index];
        let players = [
            bracket.entrants[home as usize].player,
            bracket.entrants[away as usize].player,
        ];
        tournament.new_matches.push(TournamentMatch {
            match_id,
            tournament: tournament.id,
            round: pairing.round,
            slot: pairing.slot,
        });
        after.starts.push((
            TournamentMatchSpec {
                id: match_id,
                game: tournament.game,
                mode: tournament.mode,
                options: tournament.settings.options.clone(),
                seed: rand::random::<u64>() & ID_BITS_MASK,
                started_at_ms: now_ms(),
            },
            pairing.round,
            [players[0], players[1]].map(|p| (p, String::new())),
        ));
    }
    for (_, _, players) in &mut after.starts {
        for (player, name) in players.iter_mut() {
            *name = tournament
                .entry(*player)
                .map(|entry| entry.name.clone())
                .unwrap_or_default();
        }
    }
    after
}

/// Hands the new matches and leaves to the tick thread and tells each player of their match.
fn run_after(state: &AppState, id: TournamentId, after: After) {
    for (match_id, player) in after.leaves {
        let _ = state
            .commands
            .send(Command::Run(leave_match_job(match_id, player)));
    }
    for (spec, round, players) in after.starts {
        let match_id = spec.id;
        let seats = players
            .iter()
            .map(|(player, name)| Seating {
                player: PlayerRef {
                    id: *player,
                    name: name.clone(),
                },
                conns: state.hub.connections_of(*player),
            })
            .collect();
        if state
            .commands
            .send(Command::Run(start_match_job(spec, seats)))
            .is_err()
        {
            tracing::warn!(%match_id, "the game loop is not running: tournament match not created");
            continue;
        }
        for (me, other) in [(0, 1), (1, 0)] {
            let event = Envelope::event(
                "tournament.match",
                json!({
                    "tournamentId": id,
                    "round": round,
                    "matchId": match_id,
                    "opponent": {"id": players[other].0, "name": players[other].1},
                }),
            );
            state.hub.send_to_players(&event, &[players[me].0]);
        }
    }
}

/// `POST /api/tournaments/{id}/register`.
pub async fn register(
    state: &AppState,
    id: TournamentId,
    player: &PlayerInfo,
    alias: Option<String>,
) -> Result<TournamentView, ApiError> {
    if player.guest {
        // The player is written now so that their placings outlive the token.
        let (who, name) = (player.id, player.name.clone());
        state
            .blocking(move |store| store.ensure_guest(who, &name))
            .await??;
    }
    let now = now_ms();
    change(state, id, |t| {
        t.register(player.id, &player.name, alias, now)
    })
    .await
}

/// `POST /api/tournaments/{id}/unregister`.
pub async fn unregister(
    state: &AppState,
    id: TournamentId,
    player: PlayerId,
) -> Result<TournamentView, ApiError> {
    change(state, id, |t| t.unregister(player)).await
}

/// `POST /api/tournaments/{id}/checkin`.
pub async fn checkin(
    state: &AppState,
    id: TournamentId,
    player: PlayerId,
) -> Result<TournamentView, ApiError> {
    change(state, id, |t| t.checkin(player)).await
}

/// The seeding ratings of the players who would start `id` now.
async fn ratings_of(state: &AppState, id: TournamentId) -> Vec<(PlayerId, f64)> {
    let (starters, game) = {
        let book = state.tournaments.book.lock().await;
        match book.open.get(&id) {
            Some(t) => (t.starters(), t.game),
            None => return Vec::new(),
        }
    };
    let mut ratings = Vec::with_capacity(starters.len());
    for player in starters {
        ratings.push((
            player,
            crate::matchmaking::rating_for(state, player, game).await,
        ));
    }
    ratings
}

/// `POST /api/tournaments/{id}/start` (host only).
pub async fn start(
    state: &AppState,
    id: TournamentId,
    player: PlayerId,
) -> Result<TournamentView, ApiError> {
    let ratings = ratings_of(state, id).await;
    change(state, id, |t| {
        if t.host != player {
            return Err(forbidden("only the host starts the tournament"));
        }
        t.start(&ratings)
    })
    .await
}

/// `POST /api/tournaments/{id}/cancel` (host only).
pub async fn cancel(
    state: &AppState,
    id: TournamentId,
    player: PlayerId,
) -> Result<TournamentView, ApiError> {
    change(state, id, |t| {
        if t.host != player {
            return Err(forbidden("only the host cancels the tournament"));
        }
        t.status = Status::Cancelled;
        Ok(())
    })
    .await
}

/// What a tournament match's end means for its pairing.
fn outcome_of(ended: &EndedMatch, home: PlayerId, away: PlayerId) -> Outcome {
    let find = |player: PlayerId| ended.players.iter().find(|(p, _, _)| *p == player);
    let (Some(&(_, home_score, home_result)), Some(&(_, away_score, away_result))) =
        (find(home), find(away))
    else {
        return Outcome::DoubleForfeit;
    };
    match ended.reason {
        EndReason::Aborted => Outcome::DoubleForfeit,
        EndReason::Forfeit => match (home_result, away_result) {
            (PlayerResult::Loss, _) => Outcome::Forfeit { loser: Side::Home },
            (_, PlayerResult::Loss) => Outcome::Forfeit { loser: Side::Away },
            _ => Outcome::DoubleForfeit,
        },
        _ => {
            let by_score = home_score.cmp(&away_score);
            let by_result = match (home_result, away_result) {
                (PlayerResult::Win, _) => std::cmp::Ordering::Greater,
                (_, PlayerResult::Win) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Equal,
            };
            if by_result == std::cmp::Ordering::Equal || by_result == by_score {
                Outcome::Played {
                    home: home_score,
                    away: away_score,
                }
            } else if by_result == std::cmp::Ordering::Greater {
                // The game's own rule decided against the scores (a field out of lives).
                Outcome::Forfeit { loser: Side::Away }
            } else {
                Outcome::Forfeit { loser: Side::Home }
            }
        }
    }
}

/// A tournament match ended: its pairing is decided (or replayed), the bracket moves on.
async fn match_ended(state: &AppState, ended: EndedMatch) {
    let mut book = state.tournaments.book.lock().await;
    let Some(id) = book.by_match.remove(&ended.id) else {
        return;
    };
    let Some(tournament) = book.open.get_mut(&id) else {
        return;
    };
    let before = tournament.clone();
    let Some(bracket) = tournament.bracket.as_mut() else {
        return;
    };
    let Some(index) = bracket.pairing_of(ended.id) else {
        return;
    };
    let Some((home, away)) = bracket.pairings[index].entrants() else {
        return;
    };
    let outcome = outcome_of(
        &ended,
        bracket.entrants[home as usize].player,
        bracket.entrants[away as usize].player,
    );
    if let Err(error) = bracket.record(index, outcome) {
        tracing::warn!(%error, tournament = %id, "a tournament result was not recorded");
        return;
    }
    if let Err(error) = commit(state, &mut book, id, before).await {
        tracing::error!(%error, tournament = %id, "a tournament result could not be saved");
    }
}

/// The clock: opens check-in and starts (or, short of players, cancels) planned tournaments.
async fn clock(state: &AppState) {
    let now = now_ms();
    let (to_checkin, to_start): (Vec<TournamentId>, Vec<TournamentId>) = {
        let book = state.tournaments.book.lock().await;
        let due =
            |t: &&Tournament| t.status.is_open() && t.starts_at_ms.is_some_and(|at| at <= now);
        let checkin = book
            .open
            .values()
            .filter(|t| {
                t.status == Status::Registration
                    && t.checkin_opens_at_ms().is_some_and(|at| at <= now)
                    && !due(t)
            })
            .map(|t| t.id)
            .collect();
        let start = book.open.values().filter(due).map(|t| t.id).collect();
        (checkin, start)
    };
    for id in to_checkin {
        let _ = change(state, id, |t| {
            t.status = Status::Checkin;
            Ok(())
        })
        .await;
    }
    for id in to_start {
        let ratings = ratings_of(state, id).await;
        let result = change(state, id, |t| {
            if t.start(&ratings).is_err() {
                t.status = Status::Cancelled;
            }
            Ok(())
        })
        .await;
        if let Err(error) = result {
            tracing::warn!(%error, tournament = %id, "a planned start failed");
        }
    }
}

/// Loads the tournaments not over and resumes the running ones: their matches that were live
/// are replayed as new matches of the same round.
pub async fn resume(state: &AppState) -> Result<usize, ApiError> {
    let open = state.blocking(|store| store.open_tournaments()).await??;
    let mut ids = Vec::with_capacity(open.len());
    {
        let mut book = state.tournaments.book.lock().await;
        for (stored, _) in open {
            match Tournament::from_stored(stored) {
                Ok(mut tournament) => {
                    if let Some(bracket) = tournament.bracket.as_mut() {
                        bracket.clear_live();
                    }
                    ids.push(tournament.id);
                    book.open.insert(tournament.id, tournament);
                }
                Err(error) => tracing::error!(%error, "a stored tournament could not be read"),
            }
        }
    }
    for &id in &ids {
        let mut book = state.tournaments.book.lock().await;
        if let Some(tournament) = book.open.get(&id)
            && tournament.status == Status::Running
        {
            let before = tournament.clone();
            match commit(state, &mut book, id, before).await {
                Ok(view) => tracing::info!(
                    tournament = %id,
                    round = view.summary.round.unwrap_or(0),
                    "tournament resumed"
                ),
                Err(error) => tracing::error!(%error, tournament = %id, "resuming a tournament"),
            }
        }
    }
    Ok(ids.len())
}

/// The runner: applies tournament match ends from the tick thread and the clock, until the
/// channel closes (the tick thread stopped). Call [`resume`] first.
pub async fn run(state: AppState, mut ended: mpsc::UnboundedReceiver<EndedMatch>) {
    let mut ticker = tokio::time::interval(CLOCK_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            next = ended.recv() => match next {
                Some(match_end) => match_ended(&state, match_end).await,
                None => return,
            },
            _ = ticker.tick() => clock(&state).await,
        }
    }
}
