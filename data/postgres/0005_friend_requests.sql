-- arcade's PostgreSQL storage, migration step 5 (the twin of SQLite's step 5, see src/pg/schema.rs): friendship becomes
-- a request the other player accepts (src/social.rs).
--
-- The `friends` table keeps its rows with a new meaning: a row (`player_id`, `friend_id`) says
-- that `player_id` wants `friend_id` as a friend. A pair present both ways is a friendship; a
-- row alone is a pending request from `player_id` to `friend_id`. So the one-sided lists of
-- version 3 migrate as they are: pairs present both ways stay friends, one-sided rows become
-- outgoing requests. A block clears both directions from now on: clear them for the blocks that
-- already exist.
DELETE FROM friends WHERE EXISTS (
    SELECT 1 FROM blocks b
    WHERE (b.player_id = friends.player_id AND b.blocked_id = friends.friend_id)
       OR (b.player_id = friends.friend_id AND b.blocked_id = friends.player_id)
);
