-- 9: live matches kept across a restart (`--keep-live-matches`, issue 18): the checkpoint of
-- each match live at SIGTERM, restored (and deleted) by the next start.
CREATE TABLE live_matches (
    match_id   INTEGER PRIMARY KEY,
    checkpoint BLOB NOT NULL,
    saved_at   INTEGER NOT NULL
);
