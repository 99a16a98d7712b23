//! The vocabulary shared by the simulation, the network layer and storage: ids, games, modes,
//! seats, phases, options, and the history record of a finished match.
//!
//! These are plain values (no ECS types) so that `net` and `data` can speak about matches
//! without touching the World. Their serde forms are the wire forms of PROTOCOL.md.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Ids are random 53-bit integers, so that a JavaScript client could hold them as numbers;
/// on the wire they are strings with a kind prefix (`m_…`, `p_…`).
pub const ID_BITS_MASK: u64 = (1 << 53) - 1;

/// A hasher for the server's own ids (matches, players, connections, entities): one multiply
/// per integer instead of SipHash's rounds. Only for maps whose keys no client chooses (a
/// client may look up any id, but inserts only ever use ids the server made).
#[derive(Clone, Copy, Default)]
pub struct IdHasher(u64);

/// The multiplier of the Fibonacci hash (2^64 / φ, odd).
const ID_HASH_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // hashbrown picks the bucket from the low bits and a tag from the top 7: the rotation
        // gives both the well-mixed high bits of the product.
        self.0.rotate_left(26)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(byte.into());
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(n.into());
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n.into());
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(ID_HASH_MULTIPLIER);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// Builds [`IdHasher`]s.
pub type IdHash = BuildHasherDefault<IdHasher>;
/// A map keyed by the server's own ids ([`IdHasher`]).
pub type IdMap<K, V> = HashMap<K, V, IdHash>;
/// A set of the server's own ids ([`IdHasher`]).
pub type IdSet<K> = HashSet<K, IdHash>;

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $what:literal) => {
        #[doc = concat!("The id of a ", $what, ", written `", $prefix, "` and 16 hex digits on the wire.")]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{:016x}"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let hex = s.strip_prefix($prefix).ok_or(IdParseError)?;
                if hex.is_empty() || hex.len() > 16 {
                    return Err(IdParseError);
                }
                // Hex digits, as the server writes them, in one pass (an `input` names its
                // match 60 times a second); anything else as `from_str_radix` reads it.
                let mut value = 0u64;
                for &byte in hex.as_bytes() {
                    let digit = match byte {
                        b'0'..=b'9' => byte - b'0',
                        b'a'..=b'f' => byte - b'a' + 10,
                        b'A'..=b'F' => byte - b'A' + 10,
                        _ => {
                            return u64::from_str_radix(hex, 16)
                                .map($name)
                                .map_err(|_| IdParseError);
                        }
                    };
                    value = value << 4 | u64::from(digit);
                }
                Ok($name(value))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(MatchId, "m_", "match");
prefixed_id!(PlayerId, "p_", "player");
prefixed_id!(TournamentId, "t_", "tournament");

/// A string that is not a well-formed id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdParseError;

impl fmt::Display for IdParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed id")
    }
}

impl std::error::Error for IdParseError {}

/// Which game a match plays.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Game {
    Pong,
    Breakout,
}

impl Game {
    pub const ALL: [Game; 2] = [Game::Pong, Game::Breakout];

    pub fn as_str(self) -> &'static str {
        match self {
            Game::Pong => "pong",
            Game::Breakout => "breakout",
        }
    }
}

impl FromStr for Game {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "pong" => Ok(Game::Pong),
            "breakout" => Ok(Game::Breakout),
            _ => Err(()),
        }
    }
}

/// How a match is played: which seats it has and who fills them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Mode {
    #[serde(rename = "1v1")]
    OneVsOne,
    #[serde(rename = "2v2")]
    TwoVsTwo,
    #[serde(rename = "vs_bot")]
    VsBot,
    #[serde(rename = "solo")]
    Solo,
    #[serde(rename = "versus")]
    Versus,
}

impl Mode {
    /// Every mode, Pong's first.
    pub const ALL: [Mode; 5] = [
        Mode::OneVsOne,
        Mode::TwoVsTwo,
        Mode::VsBot,
        Mode::Solo,
        Mode::Versus,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::OneVsOne => "1v1",
            Mode::TwoVsTwo => "2v2",
            Mode::VsBot => "vs_bot",
            Mode::Solo => "solo",
            Mode::Versus => "versus",
        }
    }

    /// Whether this mode belongs to that game (pong: 1v1, 2v2, vs_bot; breakout: solo, versus).
    pub fn fits(self, game: Game) -> bool {
        matches!(
            (game, self),
            (Game::Pong, Mode::OneVsOne | Mode::TwoVsTwo | Mode::VsBot)
                | (Game::Breakout, Mode::Solo | Mode::Versus)
        )
    }

    /// The seats people take, in the order they are filled (the creator takes the first).
    pub fn player_seats(self) -> &'static [Seat] {
        match self {
            Mode::OneVsOne => &[Seat::Left, Seat::Right],
            Mode::VsBot => &[Seat::Left],
            Mode::TwoVsTwo => &[
                Seat::LeftBack,
                Seat::RightBack,
                Seat::LeftFront,
                Seat::RightFront,
            ],
            Mode::Solo => &[Seat::P1],
            Mode::Versus => &[Seat::P1, Seat::P2],
        }
    }
}

impl FromStr for Mode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "1v1" => Ok(Mode::OneVsOne),
            "2v2" => Ok(Mode::TwoVsTwo),
            "vs_bot" => Ok(Mode::VsBot),
            "solo" => Ok(Mode::Solo),
            "versus" => Ok(Mode::Versus),
            _ => Err(()),
        }
    }
}

/// A place in a match: a paddle in Pong, a field in Breakout.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seat {
    Left,
    Right,
    LeftBack,
    LeftFront,
    RightBack,
    RightFront,
    P1,
    P2,
}

impl Seat {
    pub fn as_str(self) -> &'static str {
        match self {
            Seat::Left => "left",
            Seat::Right => "right",
            Seat::LeftBack => "left_back",
            Seat::LeftFront => "left_front",
            Seat::RightBack => "right_back",
            Seat::RightFront => "right_front",
            Seat::P1 => "p1",
            Seat::P2 => "p2",
        }
    }
}

impl FromStr for Seat {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [
            Seat::Left,
            Seat::Right,
            Seat::LeftBack,
            Seat::LeftFront,
            Seat::RightBack,
            Seat::RightFront,
            Seat::P1,
            Seat::P2,
        ]
        .into_iter()
        .find(|seat| seat.as_str() == s)
        .ok_or(())
    }
}

/// Where a match is in its life (GAMES.md "Matches").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Waiting,
    Countdown,
    Playing,
    Paused,
    Finished,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Waiting,
        Phase::Countdown,
        Phase::Playing,
        Phase::Paused,
        Phase::Finished,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Countdown => "countdown",
            Phase::Playing => "playing",
            Phase::Paused => "paused",
            Phase::Finished => "finished",
        }
    }
}

/// How strong a server bot plays.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotLevel {
    Easy,
    #[default]
    Normal,
    Hard,
}

/// The options a match is created with. Unset options take the defaults of GAMES.md; a
/// record stores the options as given, with the defaults that applied filled in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchOptions {
    /// Pong: first to this many points wins (1..=21, default 11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_limit: Option<u32>,
    /// Breakout versus: seconds until the match ends on time (default 180).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<u32>,
    /// Pong vs_bot: the bot's strength (default normal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<BotLevel>,
    /// A private match is joined by its join code only and is not listed as live.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
}

pub const DEFAULT_SCORE_LIMIT: u32 = 11;
pub const MAX_SCORE_LIMIT: u32 = 21;
pub const DEFAULT_TIME_LIMIT_SECONDS: u32 = 180;
/// The longest `timeLimit` accepted: one hour.
pub const MAX_TIME_LIMIT_SECONDS: u32 = 3600;

impl MatchOptions {
    /// Checks the options against the game and mode, and fills in the defaults that apply.
    pub fn resolve(mut self, game: Game, mode: Mode) -> Result<MatchOptions, String> {
        if !mode.fits(game) {
            return Err(format!(
                "mode {} is not a mode of {}",
                mode.as_str(),
                game.as_str()
            ));
        }
        match game {
            Game::Pong => {
                let limit = self.score_limit.unwrap_or(DEFAULT_SCORE_LIMIT);
                if !(1..=MAX_SCORE_LIMIT).contains(&limit) {
                    return Err(format!("scoreLimit must be 1..={MAX_SCORE_LIMIT}"));
                }
                self.score_limit = Some(limit);
                if self.time_limit.is_some() {
                    return Err("timeLimit applies to breakout versus only".into());
                }
            }
            Game::Breakout => {
                if self.score_limit.is_some() {
                    return Err("scoreLimit applies to pong only".into());
                }
                if mode == Mode::Versus {
                    let limit = self.time_limit.unwrap_or(DEFAULT_TIME_LIMIT_SECONDS);
                    if !(1..=MAX_TIME_LIMIT_SECONDS).contains(&limit) {
                        return Err(format!("timeLimit must be 1..={MAX_TIME_LIMIT_SECONDS}"));
                    }
                    self.time_limit = Some(limit);
                } else if self.time_limit.is_some() {
                    return Err("timeLimit applies to breakout versus only".into());
                }
            }
        }
        if mode == Mode::VsBot {
            self.bot = Some(self.bot.unwrap_or_default());
        } else if self.bot.is_some() {
            return Err("bot applies to vs_bot only".into());
        }
        Ok(self)
    }
}

/// Why a match ended.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    ScoreLimit,
    Lives,
    Cleared,
    Time,
    Forfeit,
    Aborted,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::ScoreLimit => "score_limit",
            EndReason::Lives => "lives",
            EndReason::Cleared => "cleared",
            EndReason::Time => "time",
            EndReason::Forfeit => "forfeit",
            EndReason::Aborted => "aborted",
        }
    }
}

/// A player's outcome; `None` in an aborted match.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlayerResult {
    Win,
    Loss,
    Draw,
    None,
}

impl PlayerResult {
    pub fn as_str(self) -> &'static str {
        match self {
            PlayerResult::Win => "win",
            PlayerResult::Loss => "loss",
            PlayerResult::Draw => "draw",
            PlayerResult::None => "none",
        }
    }
}

/// Who a person is, as far as a match cares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerRef {
    pub id: PlayerId,
    pub name: String,
}

/// One seat of a finished match in its history record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordPlayer {
    pub id: PlayerId,
    pub name: String,
    pub seat: Seat,
    pub score: u32,
    pub result: PlayerResult,
}

/// The history record of one finished match (GAMES.md "Matches"), as the simulation knows it:
/// the wall-clock end time is added by whoever stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchRecord {
    pub id: MatchId,
    pub game: Game,
    pub mode: Mode,
    pub options: MatchOptions,
    pub seed: u64,
    /// Unix milliseconds when the match was created (given at creation; the simulation reads
    /// no clock).
    pub started_at_ms: i64,
    /// Server ticks from the match's creation to its end, in every phase.
    pub ticks: u64,
    pub tick_rate: u32,
    pub reason: EndReason,
    pub players: Vec<RecordPlayer>,
    /// The replay (issue 16), sealed by the simulation when the match ended; stored with the
    /// record in the same transaction. Not part of any wire form.
    #[serde(skip)]
    pub replay: Option<std::sync::Arc<crate::replay::Replay>>,
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn id_maps_find_every_id_and_spread_sequential_ones() {
        let mut map: IdMap<PlayerId, u64> = IdMap::default();
        let random = (0..10_000u64).map(|n| n.wrapping_mul(0x2545_f491_4f6c_dd1d) & ID_BITS_MASK);
        for (n, id) in (1..=10_000u64).chain(random).enumerate() {
            map.insert(PlayerId(id), n as u64);
        }
        assert_eq!(map.len(), 20_000);
        for (n, id) in (1..=10_000u64).enumerate() {
            assert_eq!(map.get(&PlayerId(id)), Some(&(n as u64)));
        }
        // Sequential ids land in many buckets and take many tags (the top 7 bits).
        let hash = IdHash::default();
        let buckets: HashSet<u64> = (1..=1024u64)
            .map(|id| hash.hash_one(PlayerId(id)) & 1023)
            .collect();
        let tags: HashSet<u64> = (1..=1024u64)
            .map(|id| hash.hash_one(PlayerId(id)) >> 57)
            .collect();
        assert!(buckets.len() > 600, "{} buckets", buckets.len());
        assert_eq!(tags.len(), 128);
    }

    #[test]
    fn ids_round_trip_through_their_wire_form() {
        let id = MatchId(0x8f3a_0000_1234);
        assert_eq!(id.to_string(), "m_00008f3a00001234");
        assert_eq!("m_00008f3a00001234".parse::<MatchId>(), Ok(id));
        assert!("p_00008f3a00001234".parse::<MatchId>().is_err());
        assert!("m_".parse::<MatchId>().is_err());
        assert!("m_zz".parse::<MatchId>().is_err());
        assert_eq!(PlayerId(5).to_string(), "p_0000000000000005");
    }

    proptest::proptest! {
        /// The one-pass hex read takes the ids `from_str_radix` takes, as the same values.
        #[test]
        fn ids_read_as_from_str_radix_reads_them(hex in "[0-9a-fA-F+g-]{0,18}") {
            let expected = (!hex.is_empty() && hex.len() <= 16)
                .then(|| u64::from_str_radix(&hex, 16).ok())
                .flatten()
                .map(MatchId);
            proptest::prop_assert_eq!(format!("m_{hex}").parse::<MatchId>().ok(), expected);
        }
    }

    #[test]
    fn options_fill_defaults_and_refuse_what_does_not_apply() {
        let pong = MatchOptions::default()
            .resolve(Game::Pong, Mode::OneVsOne)
            .unwrap();
        assert_eq!(pong.score_limit, Some(DEFAULT_SCORE_LIMIT));
        let versus = MatchOptions::default()
            .resolve(Game::Breakout, Mode::Versus)
            .unwrap();
        assert_eq!(versus.time_limit, Some(DEFAULT_TIME_LIMIT_SECONDS));
        let bot = MatchOptions::default()
            .resolve(Game::Pong, Mode::VsBot)
            .unwrap();
        assert_eq!(bot.bot, Some(BotLevel::Normal));
        let too_high = MatchOptions {
            score_limit: Some(22),
            ..Default::default()
        };
        assert!(too_high.resolve(Game::Pong, Mode::OneVsOne).is_err());
        assert!(
            MatchOptions::default()
                .resolve(Game::Pong, Mode::Solo)
                .is_err()
        );
    }

    #[test]
    fn names_match_their_wire_strings() {
        for seat in Mode::TwoVsTwo.player_seats() {
            assert_eq!(seat.as_str().parse::<Seat>(), Ok(*seat));
        }
        for mode in Mode::ALL {
            assert_eq!(mode.as_str().parse::<Mode>(), Ok(mode));
        }
    }
}
