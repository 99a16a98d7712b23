//! `arcade migrate --from <file> --to postgres://…`: copies a single-process SQLite database
//! into PostgreSQL (arcade_data::pg::copy), printing a progress line per table on stderr and the
//! counts at the end on stdout. Runs on the main thread, before and instead of serving.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::config::is_postgres_url;

/// Runs the copy and prints what it did.
pub fn run(from: &Path, to: &str) -> anyhow::Result<()> {
    anyhow::ensure!(is_postgres_url(to), "--to must be a postgres:// URL");
    let mut stderr = std::io::stderr();
    let mut current = String::new();
    let counts = arcade_data::pg::copy::copy_from_sqlite(from, to, |table, done, total| {
        if current != table {
            if !current.is_empty() {
                let _ = writeln!(stderr);
            }
            current = table.to_owned();
        }
        let _ = write!(stderr, "\rcopying {table}: {done}/{total}");
        let _ = stderr.flush();
    })
    .with_context(|| format!("copying {} into PostgreSQL", from.display()))?;
    let _ = writeln!(stderr);
    let summary: Vec<String> = counts
        .iter()
        .map(|count| format!("{} {} ({} new)", count.table, count.read, count.new))
        .collect();
    println!("copied: {}", summary.join(", "));
    Ok(())
}
