//! One operation per model at a time: the holder lock on `ops/MODEL.lock`, never waited for,
//! so a second operation is refused at once naming the first (a crashed holder's lock is
//! released by the kernel, so it cannot block the next one forever).

use std::path::Path;
use std::time::Duration;

use crate::error::EngineError;
use crate::store::lock::{HolderLock, Refusal, take};

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
    take(&path, Duration::ZERO, &holder).map_err(|refusal| match refusal {
        Refusal::Held { holder, .. } => EngineError::OperationInProgress {
            model: model.to_string(),
            holder,
        },
        Refusal::Io(source) => EngineError::Write { path, source },
    })
}
