//! One operation per model at a time: an OS file lock per model, released by the kernel when
//! its holder exits or dies, so a crashed operation cannot block the next one forever.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::Path;

use crate::engine::EngineError;

#[derive(Debug)]
pub struct OpLock {
    _file: File,
}

pub fn acquire(data_dir: &Path, model: &str, operation: &str) -> Result<OpLock, EngineError> {
    let dir = data_dir.join("ops");
    std::fs::create_dir_all(&dir).map_err(|source| EngineError::Write {
        path: dir.clone(),
        source,
    })?;
    let path = dir.join(format!("{model}.lock"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| EngineError::Write {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(EngineError::OperationInProgress {
                model: model.to_string(),
                holder: holder.trim().to_string(),
            });
        }
        Err(TryLockError::Error(source)) => return Err(EngineError::Write { path, source }),
    }
    let _ = file.set_len(0);
    let _ = write!(
        file,
        "{operation} by {} (pid {}) since {}",
        crate::engine::Actor::login_name(),
        std::process::id(),
        chrono::Utc::now().format("%H:%M:%S UTC")
    );
    Ok(OpLock { _file: file })
}
