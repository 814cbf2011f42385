//! `banter backup` and `banter restore`: the embedded store's copies, for
//! operators (docs/DEPLOYMENT.md). The work is `banter_store::sqlite::backup`;
//! this module finds the database the configuration names (the same layers
//! as `banter serve`: `--data-dir`, `--config`, `BANTER_DATA_DIR`) and
//! prints what was copied.

use std::path::PathBuf;

use anyhow::Context;
use banter_server::ServerConfig;
use banter_store::sqlite::backup::{self, BackupSummary};

use crate::serve::SettingsArgs;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Where to write the copy (a new file; never overwritten).
    destination: PathBuf,
    #[command(flatten)]
    settings: SettingsArgs,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A file `banter backup` wrote.
    backup: PathBuf,
    #[command(flatten)]
    settings: SettingsArgs,
}

pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let config = embedded(args.settings.load()?)?;
    let database = config.database_path();
    let summary = backup::backup(&database, &args.destination)
        .with_context(|| format!("backing up {}", database.display()))?;
    println!("backed up {} to {}: {}", database.display(), args.destination.display(), describe(&summary));
    Ok(())
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let config = embedded(args.settings.load()?)?;
    let database = config.database_path();
    let (summary, kept) = backup::restore(&args.backup, &database)
        .with_context(|| format!("restoring {} into {}", args.backup.display(), database.display()))?;
    println!("restored {} into {}: {}", args.backup.display(), database.display(), describe(&summary));
    if let Some(kept) = kept {
        println!("the database it replaced is kept as {}", kept.display());
    }
    Ok(())
}

/// Refuses cluster configurations: PostgreSQL has its own tools.
fn embedded(config: ServerConfig) -> anyhow::Result<ServerConfig> {
    anyhow::ensure!(
        config.database_urls.is_empty(),
        "this configuration stores in PostgreSQL (database_urls is set): back that up with PostgreSQL's own tools \
         (pg_dump, or continuous archiving); see docs/DEPLOYMENT.md"
    );
    Ok(config)
}

fn describe(summary: &BackupSummary) -> String {
    format!(
        "{} bytes, schema version {}, {} users, {} conversations, {} messages",
        summary.bytes, summary.schema_version, summary.users, summary.conversations, summary.messages
    )
}
