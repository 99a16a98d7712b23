//! The values the store hands out and takes: stored matches and players, the filter and page
//! of a match listing, its cursor, and session ids. Their serde forms are the wire forms of
//! PROTOCOL.md, so the HTTP layer can send them as they are.

use std::fmt;
use std::str::FromStr;

use arcade_systems::model::{
    EndReason, Game, MatchId, MatchOptions, MatchRecord, Mode, PlayerId, RecordPlayer,
};
use arcade_systems::replay::{GAME_VERSION, ReplayHeader};
use serde::{Deserialize, Serialize};

/// The most matches one page of [`crate::Store::list_matches`] holds (PROTOCOL.md: `limit`
/// is 1..=100).
pub const MAX_PAGE_LIMIT: u32 = 100;
/// The page size when the caller gives none (PROTOCOL.md: default 20).
pub const DEFAULT_PAGE_LIMIT: u32 = 20;

/// One finished match as stored: the body of `GET /api/matches/{id}` and an item of
/// `GET /api/matches`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMatch {
    pub id: MatchId,
    pub game: Game,
    pub mode: Mode,
    pub options: MatchOptions,
    pub seed: u64,
    /// Unix milliseconds; on the wire an RFC 3339 string (`startedAt`).
    #[serde(rename = "startedAt", with = "crate::time::rfc3339_ms")]
    pub started_at_ms: i64,
    /// Unix milliseconds; on the wire an RFC 3339 string (`endedAt`).
    #[serde(rename = "endedAt", with = "crate::time::rfc3339_ms")]
    pub ended_at_ms: i64,
    pub ticks: u64,
    pub tick_rate: u32,
    pub reason: EndReason,
    /// Whether `GET /api/matches/{id}/replay` can play it: a replay was stored with the record,
    /// under this server's game version (issue 16).
    #[serde(default)]
    pub has_replay: bool,
    /// The tournament and round that played it (issue 13); absent for other matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tournament: Option<TournamentLink>,
    /// Every seat, in the order of the record: `{id, name, seat, score, result}`.
    pub players: Vec<RecordPlayer>,
}

/// Which tournament, and which round of it, a finished match was played in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TournamentLink {
    /// `t_` and 16 hex digits.
    pub id: arcade_systems::model::TournamentId,
    /// Counted from 1.
    pub round: u32,
}

impl StoredMatch {
    /// What its replay is played from (issue 16).
    pub fn replay_header(&self) -> ReplayHeader {
        ReplayHeader {
            id: self.id,
            game: self.game,
            mode: self.mode,
            options: self.options.clone(),
            seed: self.seed,
            started_at_ms: self.started_at_ms,
            tick_rate: self.tick_rate,
            ticks: self.ticks,
        }
    }

    /// The stored form of a record the simulation produced, ended at `ended_at_ms`.
    pub fn from_record(record: MatchRecord, ended_at_ms: i64) -> StoredMatch {
        StoredMatch {
            id: record.id,
            game: record.game,
            mode: record.mode,
            options: record.options,
            seed: record.seed,
            started_at_ms: record.started_at_ms,
            ended_at_ms,
            ticks: record.ticks,
            tick_rate: record.tick_rate,
            reason: record.reason,
            has_replay: record
                .replay
                .as_ref()
                .is_some_and(|replay| replay.game_version == GAME_VERSION),
            tournament: None,
            players: record.players,
        }
    }
}

/// What a listing of finished matches shows: all of them, one game's, one player's, or one
/// player's in one game; `limit` per page, older than `before`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchFilter {
    pub game: Option<Game>,
    pub player: Option<PlayerId>,
    /// Matches per page, clamped to 1..=[`MAX_PAGE_LIMIT`].
    pub limit: u32,
    /// The `next` of the previous page; `None` for the newest page.
    pub before: Option<Cursor>,
}

impl Default for MatchFilter {
    fn default() -> Self {
        MatchFilter {
            game: None,
            player: None,
            limit: DEFAULT_PAGE_LIMIT,
            before: None,
        }
    }
}

/// One page of a listing, newest first: `{"matches": [..], "next": cursor-or-null}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchPage {
    pub matches: Vec<StoredMatch>,
    /// Where the next (older) page starts; `None` when this page is the last.
    pub next: Option<Cursor>,
}

/// A position in the listing of finished matches: the page after it starts with the match
/// stored just before the one it names. Opaque to clients (`c` and hex digits); stable while
/// new matches land, since new matches only ever go before the first page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor(pub(crate) i64);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{:x}", self.0)
    }
}

impl FromStr for Cursor {
    type Err = CursorParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix('c').ok_or(CursorParseError)?;
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CursorParseError);
        }
        let seq = i64::from_str_radix(hex, 16).map_err(|_| CursorParseError)?;
        if seq <= 0 {
            return Err(CursorParseError);
        }
        Ok(Cursor(seq))
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A string that is not a cursor this store handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed cursor")]
pub struct CursorParseError;

/// A player as stored (without the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayerRow {
    pub id: PlayerId,
    pub name: String,
    pub guest: bool,
    /// Unix milliseconds; on the wire an RFC 3339 string (`createdAt`).
    #[serde(rename = "createdAt", with = "crate::time::rfc3339_ms")]
    pub created_at_ms: i64,
}

/// A registered player's row with the password hash, for checking a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub player: PlayerRow,
    /// Whatever the caller stored at registration (a PHC string, say); never sent anywhere.
    pub password_hash: String,
}

/// The id of an issued token's session, written `s_` and 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s_{:016x}", self.0)
    }
}

impl FromStr for SessionId {
    type Err = SessionIdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("s_").ok_or(SessionIdParseError)?;
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SessionIdParseError);
        }
        u64::from_str_radix(hex, 16)
            .map(SessionId)
            .map_err(|_| SessionIdParseError)
    }
}

/// A string that is not a session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed session id")]
pub struct SessionIdParseError;

#[cfg(test)]
mod tests {
    use super::*;
    use arcade_systems::model::{PlayerResult, Seat};

    #[test]
    fn cursors_and_session_ids_round_trip() {
        for seq in [1, 42, i64::MAX] {
            let cursor = Cursor(seq);
            assert_eq!(cursor.to_string().parse::<Cursor>(), Ok(cursor));
        }
        for bad in [
            "",
            "c",
            "c0",
            "42",
            "cxyz",
            "c+1",
            "c-1",
            "c10000000000000000",
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
        let session = SessionId(0x1234_5678_9abc);
        assert_eq!(session.to_string(), "s_0000123456789abc");
        assert_eq!(session.to_string().parse::<SessionId>(), Ok(session));
        assert!("p_0000123456789abc".parse::<SessionId>().is_err());
    }

    #[test]
    fn a_stored_match_has_the_wire_shape_of_protocol_md() {
        let stored = StoredMatch {
            id: MatchId(0x8f3a),
            game: Game::Pong,
            mode: Mode::OneVsOne,
            options: MatchOptions {
                score_limit: Some(11),
                ..Default::default()
            },
            seed: 7,
            started_at_ms: 1_795_304_700_123,
            ended_at_ms: 1_795_304_760_000,
            ticks: 3600,
            tick_rate: 60,
            reason: EndReason::ScoreLimit,
            has_replay: true,
            tournament: None,
            players: vec![RecordPlayer {
                id: PlayerId(5),
                name: "ada".into(),
                seat: Seat::Left,
                score: 11,
                result: PlayerResult::Win,
            }],
        };
        let json = serde_json::to_value(&stored).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "m_0000000000008f3a", "game": "pong", "mode": "1v1",
                "options": {"scoreLimit": 11}, "seed": 7,
                "startedAt": "2026-11-21T23:45:00.123Z", "endedAt": "2026-11-21T23:46:00.000Z",
                "ticks": 3600, "tickRate": 60, "reason": "score_limit", "hasReplay": true,
                "players": [{"id": "p_0000000000000005", "name": "ada", "seat": "left",
                             "score": 11, "result": "win"}]
            })
        );
        let back: StoredMatch = serde_json::from_value(json).unwrap();
        assert_eq!(back, stored);
    }

    #[test]
    fn a_page_has_the_wire_shape_of_protocol_md() {
        let page = MatchPage {
            matches: vec![],
            next: Some(Cursor(255)),
        };
        assert_eq!(
            serde_json::to_value(&page).unwrap(),
            serde_json::json!({"matches": [], "next": "cff"})
        );
        let last = MatchPage {
            matches: vec![],
            next: None,
        };
        assert_eq!(
            serde_json::to_value(&last).unwrap(),
            serde_json::json!({"matches": [], "next": null})
        );
    }
}
