//! `arcade admin grant NAME --role ROLE` and `arcade backup PATH` (the main thread, instead of
//! serving; issue 14). Both are safe while a server runs on the same database.

use std::path::Path;

use anyhow::{Context, bail};
use arcade_data::moderation::{AuditEntry, ModAction, Role};
use arcade_data::{Database, Store};
use arcade_systems::model::PlayerId;

/// Who the audit log says acted, for the command line.
const COMMAND_LINE_ACTOR: &str = "arcade admin";

/// Gives the registered player `name` the role `role`, with an audit entry.
pub fn grant(database: &Database, name: &str, role: Role) -> anyhow::Result<()> {
    let store = Store::open_database(database).context("opening the database")?;
    let Some(found) = store.find_credentials(name)? else {
        bail!("no registered player is named {name:?}");
    };
    let player = found.player;
    let audit = AuditEntry {
        actor: PlayerId(0),
        actor_name: COMMAND_LINE_ACTOR.into(),
        action: "role.set".into(),
        target: Some(player.id.to_string()),
        detail: format!("{} is {role}", player.name),
    };
    let action = ModAction::SetRole {
        player: player.id,
        role,
    };
    store.moderate(action, Some(audit))?;
    store.close()?;
    println!("{} ({}) is {role}", player.name, player.id);
    Ok(())
}

/// Writes a consistent copy of the SQLite database to `path` and prints its size.
pub fn backup(database: &Database, path: &Path) -> anyhow::Result<()> {
    let Database::Sqlite(source) = database else {
        bail!("the database is PostgreSQL: back it up with pg_dump");
    };
    let bytes = arcade_data::moderation::backup_file(source, path)
        .with_context(|| format!("backing up {} to {}", source.display(), path.display()))?;
    println!("{} bytes written to {}", bytes, path.display());
    Ok(())
}
