//! Keeping the registry from vanishing: an empty or missing `registry.db` beside stored
//! artifacts is refused (never quietly a fresh registry that reuses version numbers), and the
//! registry can be backed up (SQLite's `VACUUM INTO`: one consistent file while others read)
//! and restored from such a file.

use std::path::Path;

use super::{Registry, lock};
use crate::error::EngineError;

/// Stored model artifacts under `artifacts_root` (`sha256/ab/<sha>.onnx`).
pub(super) fn stored_artifacts(artifacts_root: &Path) -> usize {
    let Ok(shards) = std::fs::read_dir(artifacts_root.join("sha256")) else {
        return 0;
    };
    shards
        .flatten()
        .filter_map(|shard| std::fs::read_dir(shard.path()).ok())
        .map(|files| files.flatten().count())
        .sum()
}

/// Refuses to open a registry whose database is missing or empty while the data dir holds
/// artifacts: it was truncated or deleted, and opening it would start an empty registry.
pub(super) fn refuse_lost(db_path: &Path, artifacts_root: &Path) -> Result<(), EngineError> {
    let empty = std::fs::metadata(db_path).map_or(true, |m| m.len() == 0);
    if !empty {
        return Ok(());
    }
    let artifacts = stored_artifacts(artifacts_root);
    if artifacts == 0 {
        return Ok(());
    }
    Err(EngineError::RegistryLost {
        path: db_path.to_path_buf(),
        artifacts,
    })
}

impl Registry {
    /// Writes a consistent copy of the registry to `target` (which must not exist yet).
    pub fn backup(&self, target: &Path) -> Result<(), EngineError> {
        if target.exists() {
            return Err(EngineError::Write {
                path: target.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a file is already there; name a new one",
                ),
            });
        }
        let text = target.to_string_lossy().to_string();
        self.conn()
            .execute("VACUUM INTO ?1", [text])
            .map_err(|e| self.db_error(e))?;
        Ok(())
    }
}

/// (model, version, sha256) of every version in the registry file at `path`.
fn versions_in(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<(String, u32, String)>> {
    let mut stmt =
        conn.prepare("SELECT model, version, sha256 FROM versions ORDER BY model, version")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// What restoring would lose: versions the registry holds now (or, when it cannot be read,
/// stored artifacts) that the backup does not know. Restoring them away would let their version
/// numbers be given to other files.
fn newer_than(data_dir: &Path, backup: &[(String, u32, String)]) -> Vec<String> {
    let db = data_dir.join("registry.db");
    let current =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|conn| versions_in(&conn));
    match current {
        Ok(current) => current
            .into_iter()
            .filter(|v| !backup.contains(v))
            .map(|(model, version, sha)| {
                format!("{model} v{version} (sha256 {})", &sha[..sha.len().min(12)])
            })
            .collect(),
        Err(_) => {
            // The registry is lost: the stored artifacts say what was registered.
            let known: std::collections::BTreeSet<&str> =
                backup.iter().map(|(_, _, sha)| sha.as_str()).collect();
            let Ok(shards) = std::fs::read_dir(data_dir.join("artifacts").join("sha256")) else {
                return Vec::new();
            };
            shards
                .flatten()
                .filter_map(|shard| std::fs::read_dir(shard.path()).ok())
                .flat_map(|files| files.flatten())
                .filter_map(|f| {
                    let name = f.file_name().to_string_lossy().to_string();
                    let sha = name.strip_suffix(".onnx")?.to_string();
                    (!known.contains(sha.as_str())).then(|| {
                        format!(
                            "a stored artifact no version of the backup names (sha256 {})",
                            &sha[..sha.len().min(12)]
                        )
                    })
                })
                .collect()
        }
    }
}

/// Replaces the registry in `data_dir` with the backup `source`, after checking that it is a
/// flightdeck registry this build can read and that it knows every version the registry holds
/// now (unless `discard_newer`: those versions are then lost, and their numbers may be given to
/// other files). Taken under the writer lock; the old database is kept beside it, timestamped;
/// the restore is journaled.
pub fn restore(
    data_dir: &Path,
    source: &Path,
    lock_timeout: std::time::Duration,
    discard_newer: bool,
    actor: &crate::store::Actor,
) -> Result<String, EngineError> {
    let bad = |detail: String| EngineError::Refused {
        model: "registry".into(),
        reason: format!(
            "{} is not a flightdeck registry backup: {detail}",
            source.display()
        ),
    };
    let (summary, backup) = {
        let conn = rusqlite::Connection::open_with_flags(
            source,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .map_err(|e| bad(e.to_string()))?;
        let count = |table: &str| -> Result<i64, EngineError> {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .map_err(|e| bad(e.to_string()))
        };
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| bad(e.to_string()))?;
        let known = super::schema::latest_version();
        if version > known {
            return Err(EngineError::SchemaTooNew {
                path: source.to_path_buf(),
                found: version,
                known,
            });
        }
        let summary = format!(
            "{} models, {} versions, {} journal rows",
            count("models")?,
            count("versions")?,
            count("journal")?
        );
        (summary, versions_in(&conn).map_err(|e| bad(e.to_string()))?)
    };
    let lost = newer_than(data_dir, &backup);
    if !lost.is_empty() && !discard_newer {
        return Err(EngineError::Refused {
            model: "registry".into(),
            reason: format!(
                "the backup does not know {} that the data dir holds now: {}. Restoring it would lose them and give their version numbers to other files. Restore a newer backup, or add --discard-newer to restore this one anyway",
                if lost.len() == 1 {
                    "one version"
                } else {
                    "versions"
                },
                lost.join(", ")
            ),
        });
    }
    std::fs::create_dir_all(data_dir).map_err(|e| EngineError::Write {
        path: data_dir.to_path_buf(),
        source: e,
    })?;
    let lock = lock::acquire(
        &data_dir.join("registry.lock"),
        lock_timeout,
        "restoring the registry",
    )?;
    let db = data_dir.join("registry.db");
    let staged = data_dir.join("registry.db.restoring");
    let write = |path: &Path, e: std::io::Error| EngineError::Write {
        path: path.to_path_buf(),
        source: e,
    };
    std::fs::copy(source, &staged).map_err(|e| write(&staged, e))?;
    std::fs::File::open(&staged)
        .and_then(|f| f.sync_all())
        .map_err(|e| write(&staged, e))?;
    let kept = data_dir.join(format!(
        "registry.db.before-restore-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    ));
    if db.exists() {
        std::fs::rename(&db, &kept).map_err(|e| write(&kept, e))?;
    }
    for stale in ["registry.db-wal", "registry.db-shm"] {
        let _ = std::fs::remove_file(data_dir.join(stale));
    }
    std::fs::rename(&staged, &db).map_err(|e| write(&db, e))?;
    drop(lock);
    // On record in the restored registry: what was restored, and what it discarded.
    let mut registry = Registry::open_with_timeout(data_dir, lock_timeout)?;
    registry.append_journal(&crate::model::NewJournalEntry {
        user: actor.user.clone(),
        environment: actor.environment.clone(),
        operation: "restore".into(),
        model: None,
        from: None,
        to: None,
        outcome: crate::model::Outcome::Succeeded,
        details: serde_json::json!({
            "from": source.display().to_string(),
            "previous_registry_kept_as": kept.display().to_string(),
            "discarded": lost,
        }),
    })?;
    Ok(if lost.is_empty() {
        format!(
            "{summary}; the previous registry is kept as {}",
            kept.display()
        )
    } else {
        format!(
            "{summary}; DISCARDED {}; the previous registry is kept as {}",
            lost.join(", "),
            kept.display()
        )
    })
}
