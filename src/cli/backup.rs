//! `flightdeck backup FILE` and `flightdeck restore FILE`: the registry (versions, aliases,
//! reports and the journal) to one file and back. Artifacts stay in the data dir.

use std::path::PathBuf;

use clap::Args;

use super::{Failure, failure, say};
use crate::settings::Settings;
use crate::store::Actor;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy (a new file).
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `flightdeck backup`.
    pub file: PathBuf,
    /// Replace the registry without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Restore although the registry holds versions the backup does not know (they are lost,
    /// and their version numbers may be given to other files).
    #[arg(long)]
    pub discard_newer: bool,
}

pub fn backup(settings: &Settings, args: BackupArgs) -> Result<(), Failure> {
    let registry = super::open(settings)?;
    registry.backup(&args.file)?;
    say!(
        "registry backed up to {} (artifacts stay under {})",
        args.file.display(),
        settings.data_dir.join("artifacts").display()
    );
    Ok(())
}

pub fn restore(settings: &Settings, actor: &Actor, args: RestoreArgs) -> Result<(), Failure> {
    actor.ensure_writable("restore the registry")?;
    if !args.file.is_file() {
        return Err(failure(format!("{} is not a file", args.file.display())));
    }
    if !args.yes {
        eprintln!(
            "this replaces the registry in {} with {}; the current one is kept beside it (registry.db.before-restore-TIME)",
            settings.data_dir.display(),
            args.file.display()
        );
        let answer = super::ask("type restore to proceed: ", "restore")?;
        if answer.trim() != "restore" {
            return Err(failure("not confirmed; nothing was changed"));
        }
    }
    let timeout = std::time::Duration::from_millis(settings.lock_timeout_ms);
    let summary = crate::store::registry::backup::restore(
        &settings.data_dir,
        &args.file,
        timeout,
        args.discard_newer,
        actor,
    )?;
    say!(
        "registry restored from {}: {summary}; stop and start running consoles and servers so they read it",
        args.file.display()
    );
    Ok(())
}
