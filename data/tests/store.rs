//! The store end to end on a real file, and on PostgreSQL when `ARCADE_TEST_POSTGRES_URL` is
//! set: matches, paging, filters, players, sessions, visits,
//! flush and close.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use arcade_data::{Cursor, DataError, MatchFilter, SessionId, Store, StoredMatch};
use arcade_systems::model::{Game, MatchId, PlayerId};
use common::{each_backend, open, record, vs_bot_record};

#[test]
fn opening_twice_migrates_once_and_keeps_the_data() {
    each_backend(|db| {
        let store = open(db);
        store.record_match(record(1, Game::Pong, 10, 11), 1_795_304_800_000);
        store.close().unwrap();
        drop(store);
        let again = open(db);
        assert!(again.get_match(MatchId(1)).unwrap().is_some());
        again.close().unwrap();
        let third = open(db);
        assert_eq!(
            third
                .list_matches(&MatchFilter::default())
                .unwrap()
                .matches
                .len(),
            1
        );
        assert!(third.ping());
        assert!(third.size_bytes() > 0);
        assert_eq!(third.location(), db.location());
    });
}

#[test]
fn a_match_reads_back_with_every_field() {
    each_backend(|db| {
        let store = open(db);
        let rec = vs_bot_record(0x1f_ffff_ffff_ffff);
        let ended_at = 1_795_305_000_456;
        store.record_match(rec.clone(), ended_at);
        store.flush().unwrap();

        let stored = store.get_match(rec.id).unwrap().expect("stored");
        assert_eq!(stored, StoredMatch::from_record(rec.clone(), ended_at));
        assert_eq!(
            serde_json::to_value(&stored).unwrap(),
            serde_json::json!({
                "id": "m_001fffffffffffff", "game": "pong", "mode": "vs_bot",
                "options": {"scoreLimit": 21, "bot": "hard", "private": true},
                "seed": u64::MAX - 1,
                "startedAt": "2026-11-21T23:45:00.123Z", "endedAt": "2026-11-21T23:50:00.456Z",
                "ticks": 12345, "tickRate": 120, "reason": "aborted", "hasReplay": false,
                "players": [{"id": "p_000000000000004d", "name": "Zoë", "seat": "left",
                             "score": 4, "result": "none"}]
            })
        );
        // the two-player record keeps its seats in order
        let two = record(2, Game::Pong, 10, 11);
        store.record_match(two.clone(), 5);
        store.flush().unwrap();
        assert_eq!(
            store.get_match(two.id).unwrap().unwrap().players,
            two.players
        );
        assert_eq!(store.get_match(MatchId(3)).unwrap(), None);
    });
}

#[test]
fn paging_shows_each_match_once_while_new_ones_land() {
    each_backend(|db| {
        let store = open(db);
        for id in 1..=250 {
            store.record_match(record(id, Game::Pong, 10, 11), 0);
        }
        store.flush().unwrap();

        let mut seen = Vec::new();
        let mut before: Option<Cursor> = None;
        let mut newcomer = 1000;
        loop {
            let filter = MatchFilter {
                limit: 20,
                before,
                ..Default::default()
            };
            let page = store.list_matches(&filter).unwrap();
            assert!(page.matches.len() <= 20);
            seen.extend(page.matches.iter().map(|m| m.id.0));
            // the cursor travels as an opaque string
            before = page.next.map(|c| c.to_string().parse().unwrap());
            // a new match lands between every two pages
            newcomer += 1;
            store.record_match(record(newcomer, Game::Pong, 10, 11), 0);
            store.flush().unwrap();
            if before.is_none() {
                break;
            }
        }
        let expected: Vec<u64> = (1..=250).rev().collect();
        assert_eq!(
            seen, expected,
            "newest first, each exactly once, no newcomer"
        );

        // the first page now starts with the newest newcomer
        let first = store.list_matches(&MatchFilter::default()).unwrap();
        assert_eq!(first.matches[0].id, MatchId(newcomer));
        assert_eq!(first.matches.len(), 20);
    });
}

#[test]
fn limits_are_clamped_and_the_last_page_has_no_next() {
    each_backend(|db| {
        let store = open(db);
        for id in 1..=150 {
            store.record_match(record(id, Game::Breakout, 10, 0), 0);
        }
        store.flush().unwrap();
        let all = MatchFilter {
            limit: 1000,
            ..Default::default()
        };
        let page = store.list_matches(&all).unwrap();
        assert_eq!(page.matches.len(), 100);
        let rest = store
            .list_matches(&MatchFilter {
                before: page.next,
                ..all
            })
            .unwrap();
        assert_eq!(rest.matches.len(), 50);
        assert_eq!(rest.next, None);
        let exactly = store
            .list_matches(&MatchFilter {
                limit: 150,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(exactly.matches.len(), 100);
        let zero = store
            .list_matches(&MatchFilter {
                limit: 0,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(zero.matches.len(), 1);
        let empty = open(&db.fresh())
            .list_matches(&MatchFilter::default())
            .unwrap();
        assert!(empty.matches.is_empty() && empty.next.is_none());
    });
}

/// Pages through `filter` to the end and returns the ids seen.
fn all_pages(store: &Store, mut filter: MatchFilter) -> Vec<u64> {
    let mut ids = Vec::new();
    loop {
        let page = store.list_matches(&filter).unwrap();
        ids.extend(page.matches.iter().map(|m| m.id.0));
        match page.next {
            Some(next) => filter.before = Some(next),
            None => return ids,
        }
    }
}

#[test]
fn filters_by_game_by_player_and_by_both() {
    each_backend(|db| {
        let store = open(db);
        // ids 1..=60: pong for odd ids (players 10 and 11, or 10 and 12 for multiples of 3),
        // breakout solo for even ids (player 11, or 12 for multiples of 4)
        for id in 1..=60u64 {
            let rec = if !id.is_multiple_of(2) {
                record(
                    id,
                    Game::Pong,
                    10,
                    if id.is_multiple_of(3) { 12 } else { 11 },
                )
            } else {
                record(
                    id,
                    Game::Breakout,
                    if id.is_multiple_of(4) { 12 } else { 11 },
                    0,
                )
            };
            store.record_match(rec, 0);
        }
        store.flush().unwrap();
        let ids = |keep: &dyn Fn(u64) -> bool| -> Vec<u64> {
            (1..=60).rev().filter(|&id| keep(id)).collect()
        };
        let plays = |id: u64, player: u64| -> bool {
            if !id.is_multiple_of(2) {
                player == 10 || player == if id.is_multiple_of(3) { 12 } else { 11 }
            } else {
                player == if id.is_multiple_of(4) { 12 } else { 11 }
            }
        };
        let filter = |game, player: Option<u64>| MatchFilter {
            game,
            player: player.map(PlayerId),
            limit: 7,
            before: None,
        };

        assert_eq!(
            all_pages(&store, filter(Some(Game::Pong), None)),
            ids(&|id| !id.is_multiple_of(2))
        );
        assert_eq!(
            all_pages(&store, filter(Some(Game::Breakout), None)),
            ids(&|id| id.is_multiple_of(2))
        );
        for player in [10, 11, 12] {
            assert_eq!(
                all_pages(&store, filter(None, Some(player))),
                ids(&|id| plays(id, player)),
                "player {player}"
            );
            assert_eq!(
                all_pages(&store, filter(Some(Game::Breakout), Some(player))),
                ids(&|id| id.is_multiple_of(2) && plays(id, player)),
                "player {player} in breakout"
            );
            assert_eq!(
                all_pages(&store, filter(Some(Game::Pong), Some(player))),
                ids(&|id| !id.is_multiple_of(2) && plays(id, player)),
                "player {player} in pong"
            );
        }
        assert!(all_pages(&store, filter(None, Some(99))).is_empty());
        // every listed match carries its seats
        let page = store.list_matches(&filter(None, Some(12))).unwrap();
        assert!(
            page.matches
                .iter()
                .all(|m| m.players.iter().any(|p| p.id == PlayerId(12)))
        );
    });
}

#[test]
fn visits_count_up_and_survive_a_reopen() {
    each_backend(|db| {
        let store = open(db);
        assert_eq!(store.visits().unwrap(), 0);
        assert_eq!(store.increment_visits().unwrap(), 1);
        assert_eq!(store.increment_visits().unwrap(), 2);
        assert_eq!(store.visits().unwrap(), 2);
        // many callers at once: every total is handed out exactly once
        let totals = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (store, totals) = (store.clone(), Arc::clone(&totals));
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        let total = store.increment_visits().unwrap();
                        totals.lock().unwrap().push(total);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut totals = totals.lock().unwrap().clone();
        totals.sort_unstable();
        assert_eq!(totals, (3..=202).collect::<Vec<i64>>());
        drop(store);
        let again = open(db);
        assert_eq!(again.visits().unwrap(), 202);
        assert_eq!(again.increment_visits().unwrap(), 203);
    });
}

#[test]
fn flush_waits_for_everything_queued_before_it() {
    each_backend(|db| {
        let store = open(db);
        let observed = Arc::new(Mutex::new(Vec::new()));
        store.set_write_observer({
            let observed = Arc::clone(&observed);
            move |op, took| observed.lock().unwrap().push((op, took))
        });
        assert_eq!(store.last_write_at_ms(), None);
        for id in 1..=500 {
            store.record_match(record(id, Game::Pong, 10, 11), 0);
        }
        store.flush().unwrap();
        // every record is committed and visible to a read connection now
        let all = MatchFilter {
            limit: 100,
            ..Default::default()
        };
        assert_eq!(all_pages(&store, all).len(), 500);
        assert!(store.last_write_at_ms().is_some());
        let observed = observed.lock().unwrap();
        assert_eq!(
            observed
                .iter()
                .filter(|(op, _)| *op == "record_match")
                .count(),
            500
        );
        let commits = observed.iter().filter(|(op, _)| *op == "commit").count();
        assert!(
            (2..500).contains(&commits),
            "batched: {commits} commits for 500 records"
        );
        assert_eq!(store.failed_records(), 0);
    });
}

#[test]
fn an_acknowledged_record_survives_a_drop_without_close() {
    each_backend(|db| {
        let store = open(db);
        store.record_match(record(42, Game::Breakout, 10, 0), 7);
        store.flush().unwrap();
        drop(store);
        assert!(open(db).get_match(MatchId(42)).unwrap().is_some());

        // and while the first store is leaked (its writer alive and holding the file), another
        // process-like handle already sees the acknowledged record
        let leaked = open(db);
        leaked.record_match(record(43, Game::Breakout, 10, 0), 7);
        leaked.flush().unwrap();
        std::mem::forget(leaked);
        let other = open(db);
        assert!(other.get_match(MatchId(43)).unwrap().is_some());
    });
}

#[test]
fn a_failing_record_is_counted_and_spares_its_batch() {
    each_backend(|db| {
        let store = open(db);
        store.record_match(record(1, Game::Pong, 10, 11), 0);
        store.record_match(record(1, Game::Pong, 10, 11), 0); // the same id again
        store.record_match(record(2, Game::Pong, 10, 11), 0);
        store.flush().unwrap();
        assert_eq!(store.failed_records(), 1);
        assert!(store.get_match(MatchId(2)).unwrap().is_some());
        assert_eq!(
            store
                .list_matches(&MatchFilter::default())
                .unwrap()
                .matches
                .len(),
            2
        );
    });
}

#[test]
fn players_sessions_and_names() {
    each_backend(|db| {
        let store = open(db);
        let guest = store.create_guest("guest-1").unwrap();
        assert!(guest.guest && guest.id.0 > 0 && guest.id.0 < 1 << 53);
        assert_eq!(store.get_player(guest.id).unwrap(), Some(guest.clone()));
        // guests may share a name
        let twin = store.create_guest("guest-1").unwrap();
        assert_ne!(twin.id, guest.id);

        let ada = store.create_player("Ada", "hash-1").unwrap();
        assert!(!ada.guest);
        assert_eq!(
            store.create_player("ADA", "hash-2"),
            Err(DataError::NameTaken)
        );
        let creds = store.find_credentials("aDa").unwrap().expect("registered");
        assert_eq!(
            (creds.player, creds.password_hash.as_str()),
            (ada.clone(), "hash-1")
        );
        assert_eq!(store.find_credentials("guest-1").unwrap(), None);
        assert_eq!(store.get_player(PlayerId(12345)).unwrap(), None);

        let session = store.create_session(ada.id).unwrap();
        assert!(store.session_valid(session, ada.id).unwrap());
        assert!(!store.session_valid(session, guest.id).unwrap());
        assert!(!store.session_valid(SessionId(1), ada.id).unwrap());
        let other = store.create_session(ada.id).unwrap();
        store.revoke_session(session).unwrap();
        assert!(!store.session_valid(session, ada.id).unwrap());
        assert!(
            store.session_valid(other, ada.id).unwrap(),
            "only that session is revoked"
        );
        store.revoke_session(session).unwrap();
        store.revoke_session(SessionId(7)).unwrap();
        assert_eq!(
            store.create_session(PlayerId(999)),
            Err(DataError::NotFound)
        );

        // all of it is committed: a fresh store sees it
        drop(store);
        let again = open(db);
        assert!(again.get_player(twin.id).unwrap().is_some());
        assert!(again.session_valid(other, ada.id).unwrap());
        assert!(!again.session_valid(session, ada.id).unwrap());
        let ids: HashSet<_> = (0..50)
            .map(|i| again.create_guest(&format!("g{i}")).unwrap().id)
            .collect();
        assert_eq!(ids.len(), 50);
    });
}

#[test]
fn close_commits_then_refuses_writes_but_keeps_reads() {
    each_backend(|db| {
        let store = open(db);
        let clone = store.clone();
        store.record_match(record(1, Game::Pong, 10, 11), 0);
        store.close().unwrap();
        assert!(!store.writer_running());
        assert!(!clone.ping());
        assert_eq!(clone.increment_visits(), Err(DataError::Closed));
        assert_eq!(clone.flush(), Err(DataError::Closed));
        clone.record_match(record(2, Game::Pong, 10, 11), 0);
        assert_eq!(clone.failed_records(), 1);
        assert!(
            clone.get_match(MatchId(1)).unwrap().is_some(),
            "reads still work"
        );
        assert_eq!(clone.close(), Ok(()));
    });
}

#[test]
fn a_store_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Store>();
}

#[test]
fn a_replay_is_stored_with_its_record_and_read_back() {
    use arcade_systems::model::PlayerRef;
    use arcade_systems::replay::{GAME_VERSION, Replay};
    each_backend(|db| {
        let store = open(db);
        let replay = Replay {
            game_version: GAME_VERSION,
            reconnect_grace_ticks: 600,
            players: vec![PlayerRef {
                id: PlayerId(5),
                name: "ann".into(),
            }],
            log: vec![0x90, 0, 0x08, 0x83, 7],
            final_hash: u64::MAX - 3,
        };
        let mut with = record(1, Game::Pong, 5, 6);
        with.replay = Some(Arc::new(replay.clone()));
        let mut old = record(2, Game::Pong, 5, 6);
        old.replay = Some(Arc::new(Replay {
            game_version: GAME_VERSION + 1,
            ..replay.clone()
        }));
        store.record_match(with, 10);
        store.record_match(old, 11);
        store.record_match(record(3, Game::Breakout, 5, 0), 12);
        store.flush().unwrap();

        let (stored, back) = store.get_replay(MatchId(1)).unwrap().expect("stored");
        assert!(stored.has_replay);
        assert_eq!(back, Some(replay));
        let (stored, back) = store.get_replay(MatchId(2)).unwrap().expect("stored");
        assert!(!stored.has_replay, "another version is not playable");
        assert_eq!(back.unwrap().game_version, GAME_VERSION + 1);
        let (stored, back) = store.get_replay(MatchId(3)).unwrap().expect("stored");
        assert!(!stored.has_replay);
        assert_eq!(back, None);
        assert!(store.get_replay(MatchId(4)).unwrap().is_none());
        assert!(store.get_match(MatchId(1)).unwrap().unwrap().has_replay);
        assert_eq!(store.replayed_matches().unwrap(), [MatchId(1), MatchId(2)]);
    });
}
