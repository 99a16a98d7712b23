//! `crate::moderation` on PostgreSQL (the writer thread for [`apply`], the backend's runtime for
//! the reads): the same statements, the same answers.

use arcade_systems::model::PlayerId;
use deadpool_postgres::{Object, Transaction};
use tokio_postgres::Row;

use super::{is_foreign_key_violation, pg};
use crate::error::DataError;
use crate::moderation::*;
use crate::reply::{Ack, reply};
use crate::sql::{u64_from_sql, u64_to_sql};
use crate::time::now_ms;
use crate::types::Cursor;

type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

async fn rows(
    tx: &Transaction<'_>,
    statement: &str,
    params: &[Param<'_>],
) -> Result<Vec<Row>, DataError> {
    let prepared = tx.prepare_cached(statement).await.map_err(pg)?;
    tx.query(&prepared, params).await.map_err(pg)
}

/// A write whose unknown player shows as a foreign key violation.
async fn execute(
    tx: &Transaction<'_>,
    statement: &str,
    params: &[Param<'_>],
) -> Result<u64, DataError> {
    let prepared = tx.prepare_cached(statement).await.map_err(pg)?;
    match tx.execute(&prepared, params).await {
        Ok(count) => Ok(count),
        Err(error) if is_foreign_key_violation(&error) => Err(DataError::NotFound),
        Err(error) => Err(pg(error)),
    }
}

fn changed(count: u64) -> Applied {
    if count > 0 {
        Applied::Changed
    } else {
        Applied::Unchanged
    }
}

/// Applies one moderation write (and its audit row) in a savepoint of `tx`.
pub(crate) async fn apply(tx: &mut Transaction<'_>, op: ModWrite) -> Ack {
    let ModWrite {
        action,
        audit,
        reply: to,
    } = op;
    let result = match tx.savepoint("moderation").await {
        Err(error) => Err(pg(error)),
        Ok(sp) => {
            let mut result = apply_action(&sp, &action).await;
            if let Ok(applied) = result
                && applied != Applied::Unchanged
                && let Some(entry) = &audit
                && let Err(error) = insert_audit(&sp, entry).await
            {
                result = Err(error);
            }
            match result {
                Ok(applied) => sp.commit().await.map(|()| applied).map_err(pg),
                Err(error) => {
                    let _ = sp.rollback().await;
                    Err(error)
                }
            }
        }
    };
    reply(to, result)
}

async fn apply_action(tx: &Transaction<'_>, action: &ModAction) -> Result<Applied, DataError> {
    let now = now_ms();
    match action {
        ModAction::SetRole { player, role } => {
            let id = u64_to_sql(player.0);
            if rows(tx, SQL_PLAYER_EXISTS, &[&id]).await?.is_empty() {
                return Err(DataError::NotFound);
            }
            let current = rows(tx, SQL_ROLE, &[&id]).await?;
            if role_from_sql(current.first().map(|row| row.get(0))) == *role {
                return Ok(Applied::Unchanged);
            }
            if *role == Role::Player {
                execute(tx, SQL_DROP_ROLE, &[&id]).await?;
            } else {
                execute(tx, SQL_SET_ROLE, &[&id, &role.as_str(), &now]).await?;
            }
            Ok(Applied::Changed)
        }
        ModAction::DeleteMessage(message) => {
            let id = u64_to_sql(message.0);
            if rows(tx, SQL_MESSAGE, &[&id]).await?.is_empty() {
                return Err(DataError::NotFound);
            }
            execute(tx, SQL_DELETE_MESSAGE, &[&now, &id])
                .await
                .map(changed)
        }
        ModAction::Sanction {
            kind,
            player,
            until_ms,
            reason,
            by,
        } => {
            let params: [Param<'_>; 5] = [
                &u64_to_sql(player.0),
                until_ms,
                reason,
                &u64_to_sql(by.0),
                &now,
            ];
            execute(tx, kind.statements().0, &params)
                .await
                .map(|_| Applied::Changed)
        }
        ModAction::Lift(kind, player) => {
            execute(tx, kind.statements().1, &[&u64_to_sql(player.0), &now])
                .await
                .map(changed)
        }
        ModAction::Report(report) => {
            let player = u64_to_sql(report.player.0);
            if rows(tx, SQL_PLAYER_EXISTS, &[&player]).await?.is_empty() {
                return Err(DataError::NotFound);
            }
            let reporter = u64_to_sql(report.reporter.0);
            let message = report.message.map_or(0, |id| u64_to_sql(id.0));
            if !rows(tx, SQL_OPEN_REPORT_EXISTS, &[&reporter, &player, &message])
                .await?
                .is_empty()
            {
                return Ok(Applied::Unchanged);
            }
            let message = report.message.map(|id| u64_to_sql(id.0));
            let created = rows(
                tx,
                SQL_INSERT_REPORT,
                &[&reporter, &player, &message, &report.reason, &now],
            )
            .await?;
            let id: i64 = created
                .first()
                .map(|row| row.get(0))
                .ok_or_else(|| DataError::Postgres("no report id returned".into()))?;
            Ok(Applied::Created(u64_from_sql(id)))
        }
        ModAction::Resolve { report, by, note } => {
            let id = u64_to_sql(report.0);
            let state = rows(tx, SQL_REPORT_STATE, &[&id]).await?;
            match state.first().map(|row| row.get::<_, Option<i64>>(0)) {
                None => Err(DataError::NotFound),
                Some(Some(_)) => Ok(Applied::Unchanged),
                Some(None) => execute(tx, SQL_RESOLVE, &[&now, &u64_to_sql(by.0), note, &id])
                    .await
                    .map(changed),
            }
        }
        ModAction::Note => Ok(Applied::Changed),
    }
}

async fn insert_audit(tx: &Transaction<'_>, entry: &AuditEntry) -> Result<(), DataError> {
    execute(
        tx,
        SQL_INSERT_AUDIT,
        &[
            &now_ms(),
            &u64_to_sql(entry.actor.0),
            &entry.actor_name,
            &entry.action,
            &entry.target,
            &entry.detail,
        ],
    )
    .await
    .map(|_| ())
}

// ---- reads ------------------------------------------------------------------------------------

async fn query(
    client: &Object,
    statement: &str,
    params: &[Param<'_>],
) -> Result<Vec<Row>, DataError> {
    let prepared = client.prepare_cached(statement).await.map_err(pg)?;
    client.query(&prepared, params).await.map_err(pg)
}

pub(crate) async fn role_of(client: Object, player: PlayerId) -> Result<Role, DataError> {
    let found = query(&client, SQL_ROLE, &[&u64_to_sql(player.0)]).await?;
    Ok(role_from_sql(found.first().map(|row| row.get(0))))
}

fn sanction(row: &Row) -> Sanction {
    Sanction {
        until_ms: row.get(0),
        reason: row.get(1),
        by: PlayerId(u64_from_sql(row.get(2))),
        at_ms: row.get(3),
    }
}

pub(crate) async fn sanctions(client: Object, player: PlayerId) -> Result<Sanctions, DataError> {
    let (id, now) = (u64_to_sql(player.0), now_ms());
    let mute = query(&client, SQL_MUTE_OF, &[&id, &now]).await?;
    let ban = query(&client, SQL_BAN_OF, &[&id, &now]).await?;
    Ok(Sanctions {
        mute: mute.first().map(sanction),
        ban: ban.first().map(sanction),
    })
}

pub(crate) async fn active_mutes(client: Object) -> Result<Vec<(PlayerId, i64)>, DataError> {
    let found = query(&client, SQL_ACTIVE_MUTES, &[&now_ms()]).await?;
    Ok(found
        .iter()
        .map(|row| (PlayerId(u64_from_sql(row.get(0))), row.get(1)))
        .collect())
}

pub(crate) async fn chat_message(
    client: Object,
    id: MessageId,
) -> Result<Option<StoredMessage>, DataError> {
    let found = query(&client, SQL_MESSAGE, &[&u64_to_sql(id.0)]).await?;
    Ok(found.first().map(|row| StoredMessage {
        id: MessageId(u64_from_sql(row.get(0))),
        channel: row.get(1),
        sender: PlayerId(u64_from_sql(row.get(2))),
        sender_name: row.get(3),
        text: row.get(4),
        at_ms: row.get(5),
        deleted: row.get::<_, Option<i64>>(6).is_some(),
    }))
}

pub(crate) async fn open_reports(
    client: Object,
    after: Option<Cursor>,
    limit: u32,
) -> Result<ReportPage, DataError> {
    let limit = limit.clamp(1, MAX_MOD_PAGE);
    let found = query(
        &client,
        SQL_OPEN_REPORTS,
        &[&after.map_or(0, |c| c.0), &(i64::from(limit) + 1)],
    )
    .await?;
    let mut reports: Vec<Report> = found
        .iter()
        .map(|row| Report {
            id: ReportId(u64_from_sql(row.get(0))),
            report: NewReport {
                reporter: PlayerId(u64_from_sql(row.get(1))),
                player: PlayerId(u64_from_sql(row.get(2))),
                message: row
                    .get::<_, Option<i64>>(3)
                    .map(|id| MessageId(u64_from_sql(id))),
                reason: row.get(4),
            },
            at_ms: row.get(5),
            resolved: None,
        })
        .collect();
    let next = crate::read::end_page(&mut reports, limit, |report| u64_to_sql(report.id.0));
    Ok(ReportPage { reports, next })
}

pub(crate) async fn audit(client: Object, filter: AuditFilter) -> Result<AuditPage, DataError> {
    let (before, actor, action, since, fetch) = audit_params(&filter);
    let found = query(
        &client,
        SQL_AUDIT,
        &[&before, &actor, &action, &since, &fetch],
    )
    .await?;
    let mut entries: Vec<AuditRow> = found
        .iter()
        .map(|row| AuditRow {
            cursor: Cursor(row.get(0)),
            at_ms: row.get(1),
            entry: AuditEntry {
                actor: PlayerId(u64_from_sql(row.get(2))),
                actor_name: row.get(3),
                action: row.get(4),
                target: row.get(5),
                detail: row.get(6),
            },
        })
        .collect();
    let next = crate::read::end_page(&mut entries, filter.limit.clamp(1, MAX_MOD_PAGE), |row| {
        row.cursor.0
    });
    Ok(AuditPage { entries, next })
}
