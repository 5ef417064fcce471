//! The embedded model registry: SQLite metadata in the data dir plus content-addressed artifact
//! files. Every write takes the writer lock and one immediate transaction, so a process killed at
//! any point leaves either the whole change or none of it.

pub mod aliases;
pub mod artifacts;
pub mod backup;
mod lock;
mod reports;
pub mod rollouts;
mod schema;
pub mod versions;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use crate::error::EngineError;

/// How long a writer waits for another before giving up and naming it.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// An open registry.
#[derive(Debug)]
pub struct Registry {
    conn: Connection,
    db_path: PathBuf,
    artifacts_root: PathBuf,
    lock_path: PathBuf,
    lock_timeout: Duration,
}

impl Registry {
    /// Opens (creating if needed) the registry in `data_dir`, upgrading its schema.
    pub fn open(data_dir: &Path) -> Result<Self, EngineError> {
        Self::open_with_timeout(data_dir, DEFAULT_LOCK_TIMEOUT)
    }

    pub fn open_with_timeout(data_dir: &Path, lock_timeout: Duration) -> Result<Self, EngineError> {
        std::fs::create_dir_all(data_dir).map_err(|source| EngineError::Write {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let db_path = data_dir.join("registry.db");
        let artifacts_root = data_dir.join("artifacts");
        let lock_path = data_dir.join("registry.lock");
        // Never a fresh registry over a lost one: version numbers would be reused.
        backup::refuse_lost(&db_path, &artifacts_root)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&db_path, flags)
            .map_err(|source| classify(&db_path, &artifacts_root, source))?;
        let mut registry = Self {
            conn,
            db_path,
            artifacts_root,
            lock_path,
            lock_timeout,
        };
        registry.configure()?;
        registry.migrate()?;
        Ok(registry)
    }

    fn configure(&self) -> Result<(), EngineError> {
        self.conn
            .busy_timeout(self.lock_timeout)
            .map_err(|e| self.db_error(e))?;
        // WAL lets the console read while a writer works; FULL makes a commit survive power loss.
        self.conn
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(|e| self.db_error(e))?;
        self.conn
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| self.db_error(e))
    }

    fn migrate(&mut self) -> Result<(), EngineError> {
        let current = self.schema_version()?;
        let latest = schema::latest_version();
        if current > latest {
            return Err(EngineError::SchemaTooNew {
                path: self.db_path.clone(),
                found: current,
                known: latest,
            });
        }
        if current == latest {
            return Ok(());
        }
        self.write("upgrading the registry schema", |tx| {
            // Another process may have migrated while we waited for the lock.
            let mut version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            while version < latest {
                tx.execute_batch(schema::MIGRATIONS[version as usize])?;
                version += 1;
            }
            tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
            Ok(())
        })
    }

    fn schema_version(&self) -> Result<i64, EngineError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.db_error(e))
    }

    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The data dir the registry lives in (servers and throwaway servers are started on it).
    pub fn data_dir(&self) -> &Path {
        self.db_path.parent().unwrap_or(Path::new("."))
    }

    pub fn artifacts_root(&self) -> &Path {
        &self.artifacts_root
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in one immediate transaction while holding the writer lock.
    pub(crate) fn write<T>(
        &mut self,
        purpose: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, WriteError>,
    ) -> Result<T, EngineError> {
        let _lock = lock::acquire(&self.lock_path, self.lock_timeout, purpose)?;
        let db_path = self.db_path.clone();
        let artifacts_root = self.artifacts_root.clone();
        let map = |e| classify(&db_path, &artifacts_root, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map)?;
        let value = f(&tx).map_err(|e| match e {
            WriteError::Engine(e) => e,
            WriteError::Sql(e) => map(e),
        })?;
        tx.commit().map_err(map)?;
        Ok(value)
    }

    pub(crate) fn db_error(&self, source: rusqlite::Error) -> EngineError {
        classify(&self.db_path, &self.artifacts_root, source)
    }
}

/// What a write closure can fail with: a domain error, or SQLite.
#[derive(Debug)]
pub(crate) enum WriteError {
    Engine(EngineError),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> Self {
        WriteError::Sql(e)
    }
}

impl From<EngineError> for WriteError {
    fn from(e: EngineError) -> Self {
        WriteError::Engine(e)
    }
}

/// Turns SQLite's codes into the errors a user can act on.
fn classify(db_path: &Path, artifacts: &Path, source: rusqlite::Error) -> EngineError {
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => EngineError::Corrupt {
            path: db_path.to_path_buf(),
            artifacts: artifacts.to_path_buf(),
            detail: source.to_string(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => EngineError::Busy {
            path: db_path.to_path_buf(),
            holder: "locked by a process outside flightdeck's writer lock (an sqlite3 shell?)"
                .into(),
            waited_ms: DEFAULT_LOCK_TIMEOUT.as_millis() as u64,
        },
        _ => EngineError::Database {
            path: db_path.to_path_buf(),
            source,
        },
    }
}
