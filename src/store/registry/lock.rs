//! The registry's writer lock: the holder lock on `registry.lock`, waited for up to the
//! configured timeout, then refused naming its holder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::EngineError;
use crate::store::lock::{HolderLock, Refusal, take};

/// Waits up to `timeout` for the lock, then fails naming the holder.
pub fn acquire(path: &Path, timeout: Duration, purpose: &str) -> Result<HolderLock, EngineError> {
    let holder = format!(
        "pid {} ({}) by {} since {}",
        std::process::id(),
        purpose,
        crate::store::actor::login_name(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    );
    take(path, timeout, &holder).map_err(|refusal| match refusal {
        Refusal::Held { holder, waited } => EngineError::Busy {
            path: parent(path),
            holder: if holder.is_empty() {
                "held by another flightdeck process".into()
            } else {
                format!("held by {holder}")
            },
            waited_ms: waited.as_millis() as u64,
        },
        Refusal::Io(source) => EngineError::Write {
            path: path.to_path_buf(),
            source,
        },
    })
}

fn parent(path: &Path) -> PathBuf {
    path.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| path.to_path_buf())
}
