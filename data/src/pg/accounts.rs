//! Accounts people manage on PostgreSQL: the twins of `crate::accounts`' writes (applied by
//! the writer thread on its connection) and reads (on the backend's runtime, on a pooled
//! connection). What is not SQL (the ops, the answers, the replay rewrite) is shared.

use arcade_systems::model::PlayerId;
use deadpool_postgres::{Object, Transaction};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::{is_foreign_key_violation, pg};
use crate::accounts::{
    AccountAnswer, AccountOp, AccountWrite, Avatar, DELETED_PLAYER_NAME, SessionClient, SessionRow,
    TotpSecret, dm_fragment, forget_in_replay, settle, tomb_id,
};
use crate::error::DataError;
use crate::reply::Ack;
use crate::sql::{u64_from_sql, u64_to_sql};
use crate::time::now_ms;
use crate::types::SessionId;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn execute(
    tx: &Transaction<'_>,
    statement: &str,
    params: Params<'_>,
) -> Result<u64, DataError> {
    let prepared = tx.prepare_cached(statement).await.map_err(pg)?;
    tx.execute(&prepared, params).await.map_err(pg)
}

async fn query(
    tx: &Transaction<'_>,
    statement: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, DataError> {
    let prepared = tx.prepare_cached(statement).await.map_err(pg)?;
    tx.query(&prepared, params).await.map_err(pg)
}

async fn rows(client: &Object, statement: &str, params: Params<'_>) -> Result<Vec<Row>, DataError> {
    let prepared = client.prepare_cached(statement).await.map_err(pg)?;
    client.query(&prepared, params).await.map_err(pg)
}

/// Applies an account write in its own savepoint of `tx`.
pub(crate) async fn apply(tx: &mut Transaction<'_>, write: AccountWrite) -> Ack {
    let name = write.name();
    let AccountWrite { op, reply } = write;
    let result = match tx.savepoint("account").await {
        Err(error) => Err(pg(error)),
        Ok(sp) => match apply_op(&sp, &op).await {
            Ok(answer) => sp.commit().await.map(|()| answer).map_err(pg),
            Err(error) => {
                let _ = sp.rollback().await;
                Err(error)
            }
        },
    };
    settle(name, reply, result)
}

async fn apply_op(tx: &Transaction<'_>, op: &AccountOp) -> Result<AccountAnswer, DataError> {
    use AccountAnswer::{Changed, Done, Session, Sessions};
    match op {
        AccountOp::OpenSession { player, client } => {
            open_session(tx, *player, client).await.map(Session)
        }
        AccountOp::Seen { session, at_ms } => {
            execute(
                tx,
                "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                &[at_ms, &u64_to_sql(session.0)],
            )
            .await?;
            Ok(Done)
        }
        AccountOp::EndSessions { player, only, keep } => {
            end_sessions(tx, *player, *only, *keep).await.map(Sessions)
        }
        AccountOp::SetPassword { player, hash, keep } => {
            let changed = execute(
                tx,
                "UPDATE players SET password_hash = $1 WHERE id = $2 AND NOT guest",
                &[hash, &u64_to_sql(player.0)],
            )
            .await?;
            if changed == 0 {
                return Err(DataError::NotFound);
            }
            end_sessions(tx, *player, None, Some(*keep))
                .await
                .map(Sessions)
        }
        AccountOp::Rename { player, name } => {
            let prepared = tx
                .prepare_cached(
                    "UPDATE players SET name = $1, name_key = $2 WHERE id = $3 AND NOT guest",
                )
                .await
                .map_err(pg)?;
            let id = u64_to_sql(player.0);
            match tx
                .execute(&prepared, &[name, &name.to_lowercase(), &id])
                .await
            {
                Ok(0) => Err(DataError::NotFound),
                Ok(_) => {
                    execute(
                        tx,
                        "UPDATE player_stats SET name = $1 WHERE player_id = $2",
                        &[name, &id],
                    )
                    .await?;
                    Ok(Done)
                }
                Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    Err(DataError::NameTaken)
                }
                Err(error) => Err(pg(error)),
            }
        }
        AccountOp::SetAvatar { player, avatar } => {
            let id = u64_to_sql(player.0);
            let statement = match avatar {
                Some(_) => {
                    "INSERT INTO avatars (player_id, png, etag, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (player_id) DO UPDATE SET png = EXCLUDED.png, \
                     etag = EXCLUDED.etag, updated_at = EXCLUDED.updated_at"
                }
                None => "DELETE FROM avatars WHERE player_id = $1",
            };
            let prepared = tx.prepare_cached(statement).await.map_err(pg)?;
            let done = match avatar {
                Some((png, etag)) => tx.execute(&prepared, &[&id, png, etag, &now_ms()]).await,
                None => tx.execute(&prepared, &[&id]).await,
            };
            match done {
                Ok(_) => Ok(Done),
                Err(error) if is_foreign_key_violation(&error) => Err(DataError::NotFound),
                Err(error) => Err(pg(error)),
            }
        }
        AccountOp::TotpPending { player, secret } => {
            let prepared = tx
                .prepare_cached(
                    "INSERT INTO totp_secrets AS t (player_id, secret, enabled_at, last_step, \
                     created_at) VALUES ($1, $2, NULL, 0, $3) ON CONFLICT (player_id) DO UPDATE \
                     SET secret = EXCLUDED.secret, last_step = 0, created_at = EXCLUDED.created_at \
                     WHERE t.enabled_at IS NULL",
                )
                .await
                .map_err(pg)?;
            match tx
                .execute(&prepared, &[&u64_to_sql(player.0), secret, &now_ms()])
                .await
            {
                Ok(changed) => Ok(Changed(changed == 1)),
                Err(error) if is_foreign_key_violation(&error) => Err(DataError::NotFound),
                Err(error) => Err(pg(error)),
            }
        }
        AccountOp::TotpEnable {
            player,
            step,
            codes,
        } => {
            let id = u64_to_sql(player.0);
            let enabled = execute(
                tx,
                "UPDATE totp_secrets SET enabled_at = $1, last_step = $2 \
                 WHERE player_id = $3 AND enabled_at IS NULL",
                &[&now_ms(), step, &id],
            )
            .await?;
            if enabled == 0 {
                return Ok(Changed(false));
            }
            execute(
                tx,
                "DELETE FROM recovery_codes WHERE player_id = $1",
                &[&id],
            )
            .await?;
            for code in codes {
                execute(
                    tx,
                    "INSERT INTO recovery_codes (player_id, code_hash) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    &[&id, code],
                )
                .await?;
            }
            Ok(Changed(true))
        }
        AccountOp::TotpStep { player, step } => execute(
            tx,
            "UPDATE totp_secrets SET last_step = $1 \
             WHERE player_id = $2 AND enabled_at IS NOT NULL AND last_step < $1",
            &[step, &u64_to_sql(player.0)],
        )
        .await
        .map(|changed| Changed(changed == 1)),
        AccountOp::TotpDisable { player } => {
            let id = u64_to_sql(player.0);
            execute(tx, "DELETE FROM totp_secrets WHERE player_id = $1", &[&id]).await?;
            execute(
                tx,
                "DELETE FROM recovery_codes WHERE player_id = $1",
                &[&id],
            )
            .await?;
            Ok(Done)
        }
        AccountOp::UseRecoveryCode { player, hash } => execute(
            tx,
            "DELETE FROM recovery_codes WHERE player_id = $1 AND code_hash = $2",
            &[&u64_to_sql(player.0), hash],
        )
        .await
        .map(|changed| Changed(changed == 1)),
        AccountOp::Delete { player, session } => {
            delete_account(tx, *player, *session).await?;
            Ok(Done)
        }
    }
}

/// A session (`super::write`'s insert) that shows `client` in its list.
async fn open_session(
    tx: &Transaction<'_>,
    player: PlayerId,
    client: &SessionClient,
) -> Result<SessionId, DataError> {
    let session = super::write::insert_session(tx, player).await?;
    execute(
        tx,
        "UPDATE sessions SET user_agent = $1, address = $2, last_seen_at = created_at \
         WHERE id = $3",
        &[&client.user_agent, &client.address, &u64_to_sql(session.0)],
    )
    .await?;
    Ok(session)
}

async fn end_sessions(
    tx: &Transaction<'_>,
    player: PlayerId,
    only: Option<SessionId>,
    keep: Option<SessionId>,
) -> Result<Vec<SessionId>, DataError> {
    let ended = query(
        tx,
        "UPDATE sessions SET revoked_at = $1 WHERE player_id = $2 AND revoked_at IS NULL \
         AND ($3::BIGINT IS NULL OR id = $3) AND ($4::BIGINT IS NULL OR id <> $4) RETURNING id",
        &[
            &now_ms(),
            &u64_to_sql(player.0),
            &only.map(|s| u64_to_sql(s.0)),
            &keep.map(|s| u64_to_sql(s.0)),
        ],
    )
    .await?;
    Ok(ended
        .iter()
        .map(|row| SessionId(u64_from_sql(row.get(0))))
        .collect())
}

async fn delete_account(
    tx: &Transaction<'_>,
    player: PlayerId,
    session: SessionId,
) -> Result<(), DataError> {
    let id = u64_to_sql(player.0);
    let tomb = tomb_id()?;
    let replays = query(
        tx,
        "SELECT match_seq, players FROM replays WHERE match_seq IN \
         (SELECT match_seq FROM match_players WHERE player_id = $1)",
        &[&id],
    )
    .await?;
    for row in replays {
        let (seq, players): (i64, String) = (row.get(0), row.get(1));
        let players = forget_in_replay(&players, &player.to_string(), &tomb.to_string())?;
        execute(
            tx,
            "UPDATE replays SET players = $1 WHERE match_seq = $2",
            &[&players, &seq],
        )
        .await?;
    }
    execute(
        tx,
        "UPDATE match_players SET player_id = $2, name = $3 WHERE player_id = $1",
        &[&id, &u64_to_sql(tomb.0), &DELETED_PLAYER_NAME],
    )
    .await?;
    execute(tx, "DELETE FROM player_stats WHERE player_id = $1", &[&id]).await?;
    execute(
        tx,
        "DELETE FROM chat_messages WHERE sender_id = $1 \
         OR (channel LIKE 'dm:%' AND strpos(channel, $2) > 0)",
        &[&id, &dm_fragment(player)],
    )
    .await?;
    // Moderation (issue 14): reports by or about the player go; the audit log and the
    // sanctions the player gave as a moderator keep their rows under the tomb id.
    let tomb_sql = u64_to_sql(tomb.0);
    execute(
        tx,
        "DELETE FROM reports WHERE reporter_id = $1 OR player_id = $1",
        &[&id],
    )
    .await?;
    for statement in [
        "UPDATE reports SET resolved_by = $2 WHERE resolved_by = $1",
        "UPDATE mutes SET by_id = $2 WHERE by_id = $1",
        "UPDATE bans SET by_id = $2 WHERE by_id = $1",
    ] {
        execute(tx, statement, &[&id, &tomb_sql]).await?;
    }
    execute(
        tx,
        "UPDATE audit_log SET actor_id = $2, actor_name = $3 WHERE actor_id = $1",
        &[&id, &tomb_sql, &DELETED_PLAYER_NAME],
    )
    .await?;
    execute(
        tx,
        "UPDATE audit_log SET target = $2 WHERE target = $1",
        &[&player.to_string(), &tomb.to_string()],
    )
    .await?;
    // Sessions, friends, blocks, the avatar, the two-factor secret and codes cascade.
    execute(tx, "DELETE FROM players WHERE id = $1", &[&id]).await?;
    execute(
        tx,
        "INSERT INTO ended_sessions (id, ended_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&u64_to_sql(session.0), &now_ms()],
    )
    .await?;
    Ok(())
}

// ---- reads ----------------------------------------------------------------------------------

pub(crate) async fn sessions(
    client: Object,
    player: PlayerId,
) -> Result<Vec<SessionRow>, DataError> {
    let found = rows(
        &client,
        "SELECT id, created_at, last_seen_at, user_agent, address FROM sessions \
         WHERE player_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id",
        &[&u64_to_sql(player.0)],
    )
    .await?;
    Ok(found
        .iter()
        .map(|row| SessionRow {
            id: SessionId(u64_from_sql(row.get(0))),
            created_at_ms: row.get(1),
            last_seen_ms: row.get(2),
            user_agent: row.get(3),
            address: row.get(4),
        })
        .collect())
}

pub(crate) async fn password_hash(
    client: Object,
    player: PlayerId,
) -> Result<Option<String>, DataError> {
    let found = rows(
        &client,
        "SELECT password_hash FROM players WHERE id = $1 AND NOT guest",
        &[&u64_to_sql(player.0)],
    )
    .await?;
    Ok(found.first().and_then(|row| row.get(0)))
}

pub(crate) async fn avatar(client: Object, player: PlayerId) -> Result<Option<Avatar>, DataError> {
    let found = rows(
        &client,
        "SELECT png, etag, updated_at FROM avatars WHERE player_id = $1",
        &[&u64_to_sql(player.0)],
    )
    .await?;
    Ok(found.first().map(|row| Avatar {
        png: row.get(0),
        etag: row.get(1),
        updated_at_ms: row.get(2),
    }))
}

pub(crate) async fn totp(
    client: Object,
    player: PlayerId,
) -> Result<Option<(TotpSecret, i64)>, DataError> {
    let found = rows(
        &client,
        "SELECT secret, enabled_at IS NOT NULL, last_step, \
         (SELECT COUNT(*) FROM recovery_codes c WHERE c.player_id = t.player_id) \
         FROM totp_secrets t WHERE player_id = $1",
        &[&u64_to_sql(player.0)],
    )
    .await?;
    Ok(found.first().map(|row| {
        (
            TotpSecret {
                secret: row.get(0),
                enabled: row.get(1),
                last_step: row.get(2),
            },
            row.get(3),
        )
    }))
}

/// `crate::accounts::session_ended` on PostgreSQL.
pub(crate) async fn session_ended(client: &Object, session: SessionId) -> Result<bool, DataError> {
    let found = rows(
        client,
        "SELECT EXISTS (SELECT 1 FROM ended_sessions WHERE id = $1)",
        &[&u64_to_sql(session.0)],
    )
    .await?;
    Ok(found.first().is_some_and(|row| row.get(0)))
}
