//! One operation per model at a time: the holder lock on `ops/MODEL.lock`, hardly waited for,
//! so a second operation is refused at once naming the first (a crashed holder's lock is
//! released by the kernel, so it cannot block the next one forever). The lock also tells an
//! operation under way from one a killed process left behind: only the first holds it.

use std::path::Path;
use std::time::Duration;

use crate::error::EngineError;
use crate::store::lock::{HolderLock, Observed, Refusal, take};

/// Longer than any reader's look at the journal under a shared hold.
const OBSERVER_GRACE: Duration = Duration::from_millis(250);

/// Whether an operation on `model` is under way (its holder line), or the lock is free and
/// kept free while the returned hold lives.
pub fn observe(data_dir: &Path, model: &str) -> std::io::Result<Observed> {
    crate::store::lock::observe(&data_dir.join("ops").join(format!("{model}.lock")))
}

pub fn acquire(data_dir: &Path, model: &str, operation: &str) -> Result<HolderLock, EngineError> {
    let dir = data_dir.join("ops");
    std::fs::create_dir_all(&dir).map_err(|source| EngineError::Write {
        path: dir.clone(),
        source,
    })?;
    let path = dir.join(format!("{model}.lock"));
    let holder = format!(
        "{operation} by {} (pid {}) since {}",
        crate::store::actor::login_name(),
        std::process::id(),
        chrono::Utc::now().format("%H:%M:%S UTC")
    );
    // A reader telling under way from interrupted holds the lock shared for the moment it
    // reads the journal; the short wait is for that, never for another operation.
    take(&path, OBSERVER_GRACE, &holder).map_err(|refusal| match refusal {
        Refusal::Held { holder, .. } => EngineError::OperationInProgress {
            model: model.to_string(),
            holder,
        },
        Refusal::Io(source) => EngineError::Write { path, source },
    })
}
