-- arcade's storage, schema version 3 (migration step 3, see src/schema.rs): chat history,
-- friends and blocks (src/social.rs).

-- Every chat message that was delivered. `channel` is the channel's storage key: `global`,
-- `match:m_…`, or `dm:p_…:p_…` (the two player ids in ascending order, so both sides of a
-- conversation share one key). `seq` is the insert order: history is newest first by it.
CREATE TABLE chat_messages (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel     TEXT    NOT NULL,
    sender_id   INTEGER NOT NULL, -- no foreign key: history outlives its players
    sender_name TEXT    NOT NULL, -- the name at the time of the message
    text        TEXT    NOT NULL,
    at          INTEGER NOT NULL  -- Unix milliseconds
);
CREATE INDEX chat_messages_by_channel ON chat_messages (channel, seq);

-- A player's friends list: `player_id` has `friend_id` on it (one-sided, like a contact list).
CREATE TABLE friends (
    player_id  INTEGER NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    friend_id  INTEGER NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (player_id, friend_id),
    CHECK (player_id <> friend_id)
) WITHOUT ROWID;
-- Who has a player on their list (for presence events).
CREATE INDEX friends_by_friend ON friends (friend_id, player_id);

-- `player_id` blocks `blocked_id`: the blocked player's DMs and invitations never reach them.
CREATE TABLE blocks (
    player_id  INTEGER NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    blocked_id INTEGER NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (player_id, blocked_id),
    CHECK (player_id <> blocked_id)
) WITHOUT ROWID;
