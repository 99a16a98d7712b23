//! `arcade migrate`'s copy (`arcade_data::pg::copy::copy_from_sqlite`) on a real SQLite file
//! and a fresh PostgreSQL database: everything arrives, a second run copies nothing twice.
//! Skipped (with a note) when `ARCADE_TEST_POSTGRES_URL` is not set.

mod common;

use arcade_data::social::{ChatLine, Relation};
use arcade_data::{Database, MatchFilter, Store};
use arcade_systems::model::{Game, MatchId, PlayerId};
use common::{open, postgres_db, record, temp_db, vs_bot_record};

#[test]
fn a_filled_file_is_copied_once_and_reads_back_the_same() {
    let Some(target) = postgres_db() else {
        eprintln!("ARCADE_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let Database::Postgres(url) = &target.database else {
        unreachable!()
    };
    let source = temp_db();
    let Database::Sqlite(path) = &source.database else {
        unreachable!()
    };
    let file = open(&source);
    let ada = file.create_player("Ada", "hash").unwrap();
    let bob = file.create_guest("bob").unwrap();
    let session = file.create_session(ada.id).unwrap();
    let revoked = file.create_session(bob.id).unwrap();
    file.revoke_session(revoked).unwrap();
    for id in 1..=700 {
        file.record_match(
            record(id, Game::Pong, ada.id.0, bob.id.0),
            1_000 + id as i64,
        );
    }
    file.record_match(vs_bot_record(9_000), 5);
    file.record_chat(ChatLine {
        id: None,
        channel: "global".into(),
        sender: ada.id,
        sender_name: "Ada".into(),
        text: "hello".into(),
        at_ms: 7,
    });
    file.set_relation(Relation::Friend, ada.id, bob.id, true)
        .unwrap();
    file.set_relation(Relation::Friend, bob.id, ada.id, true)
        .unwrap();
    // The vs-bot record's guest (77, stored with the record) is blocked by bob.
    file.flush().unwrap();
    file.set_relation(Relation::Block, bob.id, PlayerId(77), true)
        .unwrap();
    file.increment_visits().unwrap();
    file.increment_visits().unwrap();
    file.close().unwrap();
    drop(file);

    let mut lines = 0;
    let counts = arcade_data::pg::copy::copy_from_sqlite(path, url, |_, _, _| lines += 1).unwrap();
    assert!(lines >= 9, "a progress line per table and chunk");
    let count = |table: &str| counts.iter().find(|c| c.table == table).unwrap().clone();
    assert_eq!(
        (count("players").read, count("players").new),
        (3, 3),
        "Ada, bob and the vs-bot record's guest"
    );
    assert_eq!(count("matches").new, 701);
    assert_eq!(count("match_players").new, 1401);
    assert_eq!(count("sessions").new, 2);
    assert_eq!(count("chat_messages").new, 1);
    assert_eq!(count("friends").new, 2, "a friendship is a row each way");
    assert_eq!(count("blocks").new, 1);
    assert_eq!(count("counters").new, 1);

    let again = arcade_data::pg::copy::copy_from_sqlite(path, url, |_, _, _| {}).unwrap();
    assert!(again.iter().all(|c| c.new == 0), "{again:?}");

    let file = Store::open(path).unwrap();
    let copied = Store::connect(url).unwrap();
    assert_eq!(copied.visits().unwrap(), 2);
    assert!(copied.session_valid(session, ada.id).unwrap());
    assert!(!copied.session_valid(revoked, bob.id).unwrap());
    assert_eq!(
        copied
            .find_credentials("ada")
            .unwrap()
            .unwrap()
            .password_hash,
        "hash"
    );
    assert_eq!(
        copied.get_match(MatchId(9_000)).unwrap(),
        file.get_match(MatchId(9_000)).unwrap()
    );
    let filter = MatchFilter {
        limit: 50,
        ..Default::default()
    };
    assert_eq!(
        copied.list_matches(&filter).unwrap(),
        file.list_matches(&filter).unwrap(),
        "the same page, cursors included"
    );
    assert_eq!(
        copied.player_stats(ada.id).unwrap(),
        file.player_stats(ada.id).unwrap()
    );
    assert_eq!(
        copied.chat_history("global", None, 10).unwrap(),
        file.chat_history("global", None, 10).unwrap()
    );
    assert!(
        copied
            .has_relation(Relation::Block, bob.id, PlayerId(77))
            .unwrap()
    );
    assert!(
        copied
            .has_relation(Relation::Friend, ada.id, bob.id)
            .unwrap()
    );
    // New rows follow the copied ones.
    copied.record_match(record(10_000, Game::Pong, 1, 2), 9);
    copied.flush().unwrap();
    let newest = copied.list_matches(&MatchFilter::default()).unwrap();
    assert_eq!(newest.matches[0].id, MatchId(10_000));
}
