//! Keeping the registry from vanishing: an empty or missing `registry.db` beside stored
//! artifacts is refused (never quietly a fresh registry that reuses version numbers), and the
//! registry can be backed up (SQLite's `VACUUM INTO`: one consistent file while others read)
//! and restored from such a file.

use std::path::Path;

use super::{Registry, lock};
use crate::engine::EngineError;

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

/// Replaces the registry in `data_dir` with the backup `source`, after checking that it is a
/// flightdeck registry this build can read. Taken under the writer lock; the old database is
/// kept beside it as `registry.db.before-restore`.
pub fn restore(
    data_dir: &Path,
    source: &Path,
    lock_timeout: std::time::Duration,
) -> Result<String, EngineError> {
    let bad = |detail: String| EngineError::Corrupt {
        path: source.to_path_buf(),
        artifacts: data_dir.join("artifacts"),
        detail,
    };
    let summary = {
        let conn = rusqlite::Connection::open_with_flags(
            source,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .map_err(|e| bad(e.to_string()))?;
        let count = |table: &str| -> Result<i64, EngineError> {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .map_err(|e| bad(format!("not a flightdeck registry ({e})")))
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
        format!(
            "{} models, {} versions, {} journal rows",
            count("models")?,
            count("versions")?,
            count("journal")?
        )
    };
    std::fs::create_dir_all(data_dir).map_err(|e| EngineError::Write {
        path: data_dir.to_path_buf(),
        source: e,
    })?;
    let _lock = lock::acquire(
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
    if db.exists() {
        let kept = data_dir.join("registry.db.before-restore");
        std::fs::rename(&db, &kept).map_err(|e| write(&kept, e))?;
    }
    for stale in ["registry.db-wal", "registry.db-shm"] {
        let _ = std::fs::remove_file(data_dir.join(stale));
    }
    std::fs::rename(&staged, &db).map_err(|e| write(&db, e))?;
    Ok(summary)
}
