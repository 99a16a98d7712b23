//! Limits shared by every connection of one player or one address (tokio threads; the tick
//! thread never touches them): open WebSocket connections per address, chat per player and
//! per address, the slow mode of `global`, `match.invite` and wrong join codes (issue 15).
//!
//! Each is a fixed-window counter per key ([`KeyedWindows`]); keys idle for a window are swept
//! out once a map holds [`SWEEP_PAST_KEYS`]. A refused event is not counted.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arcade_systems::model::PlayerId;

use crate::state::AbuseLimits;

/// Chat messages one player may send per second, over all their connections.
pub const CHAT_PER_PLAYER_PER_SECOND: u32 = 5;
/// Chat messages one address may send per second, over all its players.
pub const CHAT_PER_ADDRESS_PER_SECOND: u32 = 10;
/// `global` messages one address may send per slow-mode interval (one per player).
pub const GLOBAL_PER_ADDRESS_PER_INTERVAL: u32 = 3;
/// `match.invite`s one player may send per [`INVITE_WINDOW`].
pub const INVITES_PER_PLAYER: u32 = 10;
/// `match.invite`s one address may send per [`INVITE_WINDOW`].
pub const INVITES_PER_ADDRESS: u32 = 30;
/// The window of the invitation limits.
pub const INVITE_WINDOW: Duration = Duration::from_secs(60);
/// Join-code attempts one player (or address) may make per [`CODE_WINDOW`]; wrong codes are
/// what this stops (a right one is needed once).
pub const CODE_ATTEMPTS: u32 = 10;
/// The window of [`CODE_ATTEMPTS`].
pub const CODE_WINDOW: Duration = Duration::from_secs(60);
/// A map of counters is swept of idle keys once it holds this many.
pub const SWEEP_PAST_KEYS: usize = 10_000;

/// The key of a client whose address is unknown.
pub const UNKNOWN_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// At most `max` events per key in each window of `window` (fixed windows).
pub struct KeyedWindows<K> {
    max: u32,
    window: Duration,
    counts: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Hash + Eq + Copy> KeyedWindows<K> {
    pub fn new(max: u32, window: Duration) -> KeyedWindows<K> {
        KeyedWindows {
            max,
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether one more event of `key` fits at `now` (nothing is counted).
    fn fits(&self, key: K, now: Instant) -> bool {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        match counts.get(&key) {
            Some(&(start, count)) => now.duration_since(start) >= self.window || count < self.max,
            None => self.max > 0,
        }
    }

    /// Counts one event of `key` at `now`.
    fn count(&self, key: K, now: Instant) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= SWEEP_PAST_KEYS {
            let window = self.window;
            counts.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = counts.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    /// Counts one event of `key` if it fits.
    pub fn allow(&self, key: K, now: Instant) -> bool {
        let fits = self.fits(key, now);
        if fits {
            self.count(key, now);
        }
        fits
    }
}

/// Counts one event against a player's and an address's limits, only if both allow it.
fn allow_both(
    players: &KeyedWindows<PlayerId>,
    addresses: &KeyedWindows<IpAddr>,
    player: PlayerId,
    address: IpAddr,
    now: Instant,
) -> bool {
    let fits = players.fits(player, now) && addresses.fits(address, now);
    if fits {
        players.count(player, now);
        addresses.count(address, now);
    }
    fits
}

/// What a chat message was refused for.
#[derive(Debug, PartialEq, Eq)]
pub enum ChatRefusal {
    /// Over the per-player or per-address rate.
    Rate,
    /// `global` within the slow-mode interval of this player's (or address's) last line.
    SlowMode(Duration),
}

/// Every shared limit (one per server, in `AppState`).
pub struct SharedLimits {
    /// The operator's settings.
    pub config: AbuseLimits,
    /// Open WebSocket connections per address.
    open: Mutex<HashMap<IpAddr, u32>>,
    chat_players: KeyedWindows<PlayerId>,
    chat_addresses: KeyedWindows<IpAddr>,
    global_players: KeyedWindows<PlayerId>,
    global_addresses: KeyedWindows<IpAddr>,
    invite_players: KeyedWindows<PlayerId>,
    invite_addresses: KeyedWindows<IpAddr>,
    code_players: KeyedWindows<PlayerId>,
    code_addresses: KeyedWindows<IpAddr>,
}

impl SharedLimits {
    pub fn new(config: AbuseLimits) -> SharedLimits {
        let second = Duration::from_secs(1);
        let slow = config.global_slow_mode;
        // Slow mode off: `global` counts only against the chat rate.
        let (global_player, global_address) = if slow.is_zero() {
            (u32::MAX, u32::MAX)
        } else {
            (1, GLOBAL_PER_ADDRESS_PER_INTERVAL)
        };
        SharedLimits {
            config,
            open: Mutex::new(HashMap::new()),
            chat_players: KeyedWindows::new(CHAT_PER_PLAYER_PER_SECOND, second),
            chat_addresses: KeyedWindows::new(CHAT_PER_ADDRESS_PER_SECOND, second),
            global_players: KeyedWindows::new(global_player, slow.max(second)),
            global_addresses: KeyedWindows::new(global_address, slow.max(second)),
            invite_players: KeyedWindows::new(INVITES_PER_PLAYER, INVITE_WINDOW),
            invite_addresses: KeyedWindows::new(INVITES_PER_ADDRESS, INVITE_WINDOW),
            code_players: KeyedWindows::new(CODE_ATTEMPTS, CODE_WINDOW),
            code_addresses: KeyedWindows::new(CODE_ATTEMPTS, CODE_WINDOW),
        }
    }

    /// Takes one of `address`'s connection slots (`None` when it holds
    /// `config.ws_per_address` already; 0 is unlimited). The slot is given back on drop.
    pub fn open_connection(self: &Arc<Self>, address: IpAddr) -> Option<ConnectionSlot> {
        let cap = self.config.ws_per_address;
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(address).or_insert(0);
        if cap > 0 && *count >= cap {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            limits: self.clone(),
            address,
        })
    }

    /// Counts a chat message of `player` from `address` on a channel (`global` or not).
    pub fn chat(
        &self,
        player: PlayerId,
        address: IpAddr,
        global: bool,
        now: Instant,
    ) -> Result<(), ChatRefusal> {
        if global
            && !(self.global_players.fits(player, now) && self.global_addresses.fits(address, now))
        {
            return Err(ChatRefusal::SlowMode(self.config.global_slow_mode));
        }
        if !allow_both(
            &self.chat_players,
            &self.chat_addresses,
            player,
            address,
            now,
        ) {
            return Err(ChatRefusal::Rate);
        }
        if global {
            self.global_players.count(player, now);
            self.global_addresses.count(address, now);
        }
        Ok(())
    }

    /// Counts a `match.invite` of `player` from `address`.
    pub fn invite(&self, player: PlayerId, address: IpAddr, now: Instant) -> bool {
        allow_both(
            &self.invite_players,
            &self.invite_addresses,
            player,
            address,
            now,
        )
    }

    /// Counts a join-code attempt of `player` from `address`.
    pub fn join_code(&self, player: PlayerId, address: IpAddr, now: Instant) -> bool {
        allow_both(
            &self.code_players,
            &self.code_addresses,
            player,
            address,
            now,
        )
    }
}

/// One open connection of an address; dropping it frees the slot.
pub struct ConnectionSlot {
    limits: Arc<SharedLimits>,
    address: IpAddr,
}

impl ConnectionSlot {
    /// The address this slot counts against.
    pub fn address(&self) -> IpAddr {
        self.address
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(slow: Duration, cap: u32) -> Arc<SharedLimits> {
        Arc::new(SharedLimits::new(AbuseLimits {
            global_slow_mode: slow,
            ws_per_address: cap,
            ..AbuseLimits::default()
        }))
    }

    #[test]
    fn connection_slots_are_capped_per_address_and_given_back() {
        let limits = limits(Duration::ZERO, 2);
        let a = IpAddr::from([10, 0, 0, 1]);
        let first = limits.open_connection(a).unwrap();
        let _second = limits.open_connection(a).unwrap();
        assert!(limits.open_connection(a).is_none());
        assert!(
            limits
                .open_connection(IpAddr::from([10, 0, 0, 2]))
                .is_some()
        );
        drop(first);
        assert!(limits.open_connection(a).is_some());
    }

    #[test]
    fn chat_counts_per_player_and_per_address() {
        let limits = limits(Duration::ZERO, 0);
        let now = Instant::now();
        let a = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..CHAT_PER_PLAYER_PER_SECOND {
            assert_eq!(limits.chat(PlayerId(1), a, false, now), Ok(()));
        }
        assert_eq!(
            limits.chat(PlayerId(1), a, false, now),
            Err(ChatRefusal::Rate)
        );
        for _ in CHAT_PER_PLAYER_PER_SECOND..CHAT_PER_ADDRESS_PER_SECOND {
            assert_eq!(limits.chat(PlayerId(2), a, false, now), Ok(()));
        }
        assert_eq!(
            limits.chat(PlayerId(3), a, false, now),
            Err(ChatRefusal::Rate)
        );
        let later = now + Duration::from_secs(1);
        assert_eq!(limits.chat(PlayerId(1), a, false, later), Ok(()));
    }

    #[test]
    fn global_slow_mode_allows_one_line_per_interval() {
        let slow = Duration::from_secs(3);
        let limits = limits(slow, 0);
        let now = Instant::now();
        let a = IpAddr::from([10, 0, 0, 1]);
        assert_eq!(limits.chat(PlayerId(1), a, true, now), Ok(()));
        assert_eq!(
            limits.chat(PlayerId(1), a, true, now),
            Err(ChatRefusal::SlowMode(slow))
        );
        assert_eq!(
            limits.chat(PlayerId(1), a, false, now),
            Ok(()),
            "not global"
        );
        assert_eq!(limits.chat(PlayerId(1), a, true, now + slow), Ok(()));
    }
}
