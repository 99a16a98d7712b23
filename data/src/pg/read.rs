//! Every query of the store on PostgreSQL: the twins of `crate::read`, `crate::ratings`' reads
//! and `crate::social`'s reads, on a pooled connection. Runs on the backend's runtime.

use std::collections::HashMap;

use arcade_systems::model::{Game, MatchId, PlayerId, PlayerRef, RecordPlayer};
use arcade_systems::replay::Replay;
use deadpool_postgres::Object;
use tokio_postgres::Row;

use super::pg;
use crate::error::DataError;
use crate::guests::SessionState;
use crate::ratings::{GameStats, LeaderboardRow, MAX_LEADERBOARD_LIMIT, STATS_COLUMNS};
use crate::read::{MATCH_COLUMNS, RawMatch, attach_seats, end_page, seat_from};
use crate::social::{ChatLine, ChatPage, MAX_CHAT_PAGE, Relation, StoredChat};
use crate::sql::{VISITS_COUNTER, u64_from_sql, u64_to_sql};
use crate::types::{
    Credentials, Cursor, MAX_PAGE_LIMIT, MatchFilter, MatchPage, PlayerRow, SessionId, StoredMatch,
};

/// Runs `statement` (prepared once per connection) and returns its rows.
async fn rows(
    client: &Object,
    statement: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>, DataError> {
    let prepared = client.prepare_cached(statement).await.map_err(pg)?;
    client.query(&prepared, params).await.map_err(pg)
}

/// A [`PlayerRow`] from the columns `id, name, guest, created_at` (in that order, from 0).
pub(crate) fn player_row(row: &Row) -> PlayerRow {
    PlayerRow {
        id: PlayerId(u64_from_sql(row.get(0))),
        name: row.get(1),
        guest: row.get(2),
        created_at_ms: row.get(3),
    }
}

pub(crate) async fn visits(client: Object) -> Result<i64, DataError> {
    let found = rows(
        &client,
        "SELECT value FROM counters WHERE name = $1",
        &[&VISITS_COUNTER],
    )
    .await?;
    Ok(found.first().map_or(0, |row| row.get(0)))
}

fn raw_match(row: &Row) -> RawMatch {
    RawMatch {
        seq: row.get(0),
        id: row.get(1),
        game: row.get(2),
        mode: row.get(3),
        options: row.get(4),
        seed: row.get(5),
        started_at: row.get(6),
        ended_at: row.get(7),
        ticks: row.get(8),
        tick_rate: row.get(9),
        reason: row.get(10),
        replay_version: row.get(11),
        tournament_id: row.get(12),
        tournament_round: row.get(13),
    }
}

/// Turns raw rows into matches, loading all their seats with one query.
async fn complete(client: &Object, raws: Vec<RawMatch>) -> Result<Vec<StoredMatch>, DataError> {
    let mut players: HashMap<i64, Vec<RecordPlayer>> = HashMap::new();
    if !raws.is_empty() {
        let seqs: Vec<i64> = raws.iter().map(|raw| raw.seq).collect();
        let seats = rows(
            client,
            "SELECT match_seq, player_id, name, seat, score, result FROM match_players \
             WHERE match_seq = ANY($1) ORDER BY match_seq, position",
            &[&seqs],
        )
        .await?;
        for row in &seats {
            let seq: i64 = row.get(0);
            let seat = seat_from(
                seq,
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
            )?;
            players.entry(seq).or_default().push(seat);
        }
    }
    attach_seats(raws, players)
}

pub(crate) async fn get_match(
    client: Object,
    id: MatchId,
) -> Result<Option<StoredMatch>, DataError> {
    match_by_id(&client, id).await
}

async fn match_by_id(client: &Object, id: MatchId) -> Result<Option<StoredMatch>, DataError> {
    let found = rows(
        client,
        &format!("SELECT {MATCH_COLUMNS} FROM matches m WHERE m.id = $1"),
        &[&u64_to_sql(id.0)],
    )
    .await?;
    let raws: Vec<RawMatch> = found.iter().map(raw_match).collect();
    Ok(complete(client, raws).await?.pop())
}

/// `crate::read::get_replay` on PostgreSQL: a finished match and its replay (`None` when it
/// was stored without one).
pub(crate) async fn get_replay(
    client: Object,
    id: MatchId,
) -> Result<Option<(StoredMatch, Option<Replay>)>, DataError> {
    let Some(stored) = match_by_id(&client, id).await? else {
        return Ok(None);
    };
    let found = rows(
        &client,
        "SELECT r.game_version, r.grace_ticks, r.final_hash, r.players, r.log \
         FROM replays r JOIN matches m ON m.seq = r.match_seq WHERE m.id = $1",
        &[&u64_to_sql(id.0)],
    )
    .await?;
    let Some(row) = found.first() else {
        return Ok(Some((stored, None)));
    };
    let version: i64 = row.get(0);
    let players: String = row.get(3);
    let players: Vec<PlayerRef> = serde_json::from_str(&players)
        .map_err(|e| DataError::Corrupt(format!("replay of {id}: players: {e}")))?;
    let replay = Replay {
        game_version: u32::try_from(version)
            .map_err(|_| DataError::Corrupt(format!("replay of {id}: version {version}")))?,
        reconnect_grace_ticks: u64_from_sql(row.get(1)),
        players,
        log: row.get(4),
        final_hash: u64_from_sql(row.get(2)),
    };
    Ok(Some((stored, Some(replay))))
}

/// The ids of every match stored with a replay, oldest first.
pub(crate) async fn replayed_matches(client: Object) -> Result<Vec<MatchId>, DataError> {
    let found = rows(
        &client,
        "SELECT m.id FROM replays r JOIN matches m ON m.seq = r.match_seq ORDER BY r.match_seq",
        &[],
    )
    .await?;
    Ok(found
        .iter()
        .map(|row| MatchId(u64_from_sql(row.get(0))))
        .collect())
}

/// `crate::guests::session_state` on PostgreSQL.
pub(crate) async fn session_state(
    client: Object,
    session: SessionId,
    player: PlayerId,
) -> Result<SessionState, DataError> {
    let found = rows(
        &client,
        "SELECT player_id, revoked_at FROM sessions WHERE id = $1",
        &[&u64_to_sql(session.0)],
    )
    .await?;
    Ok(
        match found
            .first()
            .map(|row| (row.get::<_, i64>(0), row.get::<_, Option<i64>>(1)))
        {
            None if super::accounts::session_ended(&client, session).await? => {
                SessionState::Revoked
            }
            None => SessionState::Unknown,
            Some((owner, None)) if owner == u64_to_sql(player.0) => SessionState::Live,
            Some(_) => SessionState::Revoked,
        },
    )
}

/// One page, newest first by insert order (one row more is fetched to know whether another
/// page follows). Each filter shape has its own statement, walking its own index backwards.
pub(crate) async fn list_matches(
    client: Object,
    filter: MatchFilter,
) -> Result<MatchPage, DataError> {
    let limit = filter.limit.clamp(1, MAX_PAGE_LIMIT);
    let before = filter.before.map_or(i64::MAX, |cursor| cursor.0);
    let fetch = i64::from(limit) + 1;
    let game = filter.game.map(Game::as_str);
    let player = filter.player.map(|p| u64_to_sql(p.0));
    let found = match (game, player) {
        (None, None) => {
            let text = format!(
                "SELECT {MATCH_COLUMNS} FROM matches m WHERE m.seq < $1 \
                 ORDER BY m.seq DESC LIMIT $2"
            );
            rows(&client, &text, &[&before, &fetch]).await?
        }
        (Some(game), None) => {
            let text = format!(
                "SELECT {MATCH_COLUMNS} FROM matches m WHERE m.game = $3 AND m.seq < $1 \
                 ORDER BY m.seq DESC LIMIT $2"
            );
            rows(&client, &text, &[&before, &fetch, &game]).await?
        }
        (None, Some(player)) => {
            let text = format!(
                "SELECT {MATCH_COLUMNS} FROM matches m WHERE m.seq IN ( \
                   SELECT DISTINCT mp.match_seq FROM match_players mp \
                   WHERE mp.player_id = $3 AND mp.match_seq < $1 \
                   ORDER BY mp.match_seq DESC LIMIT $2) \
                 ORDER BY m.seq DESC"
            );
            rows(&client, &text, &[&before, &fetch, &player]).await?
        }
        (Some(game), Some(player)) => {
            let text = format!(
                "SELECT {MATCH_COLUMNS} FROM matches m WHERE m.seq IN ( \
                   SELECT DISTINCT mp.match_seq FROM match_players mp \
                   JOIN matches g ON g.seq = mp.match_seq \
                   WHERE mp.player_id = $4 AND g.game = $3 AND mp.match_seq < $1 \
                   ORDER BY mp.match_seq DESC LIMIT $2) \
                 ORDER BY m.seq DESC"
            );
            rows(&client, &text, &[&before, &fetch, &game, &player]).await?
        }
    };
    let mut raws: Vec<RawMatch> = found.iter().map(raw_match).collect();
    let next = end_page(&mut raws, limit, |raw| raw.seq);
    Ok(MatchPage {
        matches: complete(&client, raws).await?,
        next,
    })
}

pub(crate) async fn get_player(
    client: Object,
    id: PlayerId,
) -> Result<Option<PlayerRow>, DataError> {
    let found = rows(
        &client,
        "SELECT id, name, guest, created_at FROM players WHERE id = $1",
        &[&u64_to_sql(id.0)],
    )
    .await?;
    Ok(found.first().map(player_row))
}

pub(crate) async fn find_credentials(
    client: Object,
    name: String,
) -> Result<Option<Credentials>, DataError> {
    let found = rows(
        &client,
        "SELECT id, name, guest, created_at, password_hash FROM players \
         WHERE name_key = $1 AND password_hash IS NOT NULL",
        &[&name.to_lowercase()],
    )
    .await?;
    Ok(found.first().map(|row| Credentials {
        player: player_row(row),
        password_hash: row.get(4),
    }))
}

pub(crate) async fn session_valid(
    client: Object,
    session: SessionId,
    player: PlayerId,
) -> Result<bool, DataError> {
    let found = rows(
        &client,
        "SELECT EXISTS (SELECT 1 FROM sessions \
         WHERE id = $1 AND player_id = $2 AND revoked_at IS NULL)",
        &[&u64_to_sql(session.0), &u64_to_sql(player.0)],
    )
    .await?;
    Ok(found.first().is_some_and(|row| row.get(0)))
}

pub(crate) async fn ping(client: Object) -> Result<bool, DataError> {
    let found = rows(&client, "SELECT 1::BIGINT", &[]).await?;
    Ok(found.first().is_some_and(|row| row.get::<_, i64>(0) == 1))
}

/// Bytes the database takes on the server.
pub(crate) async fn size_bytes(client: Object) -> Result<u64, DataError> {
    let found = rows(&client, "SELECT pg_database_size(current_database())", &[]).await?;
    Ok(found
        .first()
        .map_or(0, |row| row.get::<_, i64>(0).max(0) as u64))
}

fn stats_at(row: &Row, first: usize) -> GameStats {
    crate::ratings::stats_from((
        row.get(first),
        row.get(first + 1),
        row.get(first + 2),
        row.get(first + 3),
        row.get(first + 4),
        row.get(first + 5),
        row.get(first + 6),
        row.get(first + 7),
    ))
}

pub(crate) async fn player_stats(
    client: Object,
    player: PlayerId,
) -> Result<Vec<(Game, GameStats)>, DataError> {
    let found = rows(
        &client,
        &format!("SELECT s.game, {STATS_COLUMNS} FROM player_stats s WHERE s.player_id = $1"),
        &[&u64_to_sql(player.0)],
    )
    .await?;
    let stats: Vec<(String, GameStats)> = found
        .iter()
        .map(|row| (row.get(0), stats_at(row, 1)))
        .collect();
    Ok(crate::ratings::every_game(&stats))
}

pub(crate) async fn leaderboard(
    client: Object,
    game: Game,
    limit: u32,
) -> Result<Vec<LeaderboardRow>, DataError> {
    let limit = i64::from(limit.clamp(1, MAX_LEADERBOARD_LIMIT));
    let order = match game {
        Game::Pong => "s.rating IS NOT NULL ORDER BY s.rating DESC, s.player_id",
        Game::Breakout => "s.best IS NOT NULL ORDER BY s.best DESC, s.player_id",
    };
    let text = format!(
        "SELECT s.player_id, coalesce(p.name, s.name), coalesce(p.guest, false), \
         {STATS_COLUMNS} FROM player_stats s LEFT JOIN players p ON p.id = s.player_id \
         WHERE s.game = $1 AND {order} LIMIT $2"
    );
    let found = rows(&client, &text, &[&game.as_str(), &limit]).await?;
    Ok(found
        .iter()
        .map(|row| LeaderboardRow {
            player: PlayerId(u64_from_sql(row.get(0))),
            name: row.get(1),
            guest: row.get(2),
            stats: stats_at(row, 3),
        })
        .collect())
}

pub(crate) async fn chat_history(
    client: Object,
    channel: String,
    before: Option<Cursor>,
    limit: u32,
) -> Result<ChatPage, DataError> {
    let limit = limit.clamp(1, MAX_CHAT_PAGE);
    let before = before.map_or(i64::MAX, |cursor| cursor.0);
    let found = rows(
        &client,
        "SELECT seq, sender_id, sender_name, text, at, msg_id FROM chat_messages \
         WHERE channel = $1 AND seq < $2 AND deleted_at IS NULL ORDER BY seq DESC LIMIT $3",
        &[&channel, &before, &(i64::from(limit) + 1)],
    )
    .await?;
    let mut messages: Vec<StoredChat> = found
        .iter()
        .map(|row| StoredChat {
            cursor: Cursor(row.get(0)),
            line: ChatLine {
                id: row
                    .get::<_, Option<i64>>(5)
                    .map(|id| crate::moderation::MessageId(u64_from_sql(id))),
                channel: channel.clone(),
                sender: PlayerId(u64_from_sql(row.get(1))),
                sender_name: row.get(2),
                text: row.get(3),
                at_ms: row.get(4),
            },
        })
        .collect();
    let next = end_page(&mut messages, limit, |message| message.cursor.0);
    Ok(ChatPage { messages, next })
}

/// `crate::social::related` on PostgreSQL: for friends, only the friendships (a row both ways).
pub(crate) async fn related(
    client: Object,
    relation: Relation,
    player: PlayerId,
) -> Result<Vec<PlayerRow>, DataError> {
    let (table, column) = relation.table();
    let mutual = match relation {
        Relation::Friend => {
            " AND EXISTS (SELECT 1 FROM friends back \
             WHERE back.player_id = r.friend_id AND back.friend_id = r.player_id)"
        }
        Relation::Block => "",
    };
    let text = format!(
        "SELECT p.id, p.name, p.guest, p.created_at FROM {table} r \
         JOIN players p ON p.id = r.{column} WHERE r.player_id = $1{mutual} \
         ORDER BY p.name COLLATE \"C\", p.id"
    );
    let found = rows(&client, &text, &[&u64_to_sql(player.0)]).await?;
    Ok(found.iter().map(player_row).collect())
}

/// `crate::social::friend_requests` on PostgreSQL: `(incoming, outgoing)`, each by name.
pub(crate) async fn friend_requests(
    client: Object,
    player: PlayerId,
) -> Result<(Vec<PlayerRow>, Vec<PlayerRow>), DataError> {
    let pending = |mine: &str, theirs: &str| {
        format!(
            "SELECT p.id, p.name, p.guest, p.created_at FROM friends r \
             JOIN players p ON p.id = r.{theirs} WHERE r.{mine} = $1 AND NOT EXISTS \
             (SELECT 1 FROM friends back WHERE back.player_id = r.friend_id \
             AND back.friend_id = r.player_id) ORDER BY p.name COLLATE \"C\", p.id"
        )
    };
    let id = u64_to_sql(player.0);
    let incoming = rows(&client, &pending("friend_id", "player_id"), &[&id]).await?;
    let outgoing = rows(&client, &pending("player_id", "friend_id"), &[&id]).await?;
    Ok((
        incoming.iter().map(player_row).collect(),
        outgoing.iter().map(player_row).collect(),
    ))
}

/// `crate::social::has_relation` on PostgreSQL: friends both ways, or `player` blocks `other`.
pub(crate) async fn has_relation(
    client: Object,
    relation: Relation,
    player: PlayerId,
    other: PlayerId,
) -> Result<bool, DataError> {
    let (table, column) = relation.table();
    let text = match relation {
        Relation::Friend => "SELECT 1::BIGINT FROM friends a JOIN friends b \
             ON b.player_id = a.friend_id AND b.friend_id = a.player_id \
             WHERE a.player_id = $1 AND a.friend_id = $2"
            .to_owned(),
        Relation::Block => {
            format!("SELECT 1::BIGINT FROM {table} WHERE player_id = $1 AND {column} = $2")
        }
    };
    let found = rows(
        &client,
        &text,
        &[&u64_to_sql(player.0), &u64_to_sql(other.0)],
    )
    .await?;
    Ok(!found.is_empty())
}

/// `crate::social::followers` on PostgreSQL: friends both ways, except those `player` blocks.
pub(crate) async fn followers(
    client: Object,
    player: PlayerId,
) -> Result<Vec<PlayerId>, DataError> {
    let found = rows(
        &client,
        "SELECT f.player_id FROM friends f WHERE f.friend_id = $1 AND EXISTS \
         (SELECT 1 FROM friends back WHERE back.player_id = $1 AND back.friend_id = f.player_id) \
         AND NOT EXISTS \
         (SELECT 1 FROM blocks b WHERE b.player_id = $1 AND b.blocked_id = f.player_id)",
        &[&u64_to_sql(player.0)],
    )
    .await?;
    Ok(found
        .iter()
        .map(|row| PlayerId(u64_from_sql(row.get(0))))
        .collect())
}
