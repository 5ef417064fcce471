//! The registry's writer lock: an OS file lock (released by the kernel when its holder dies, so
//! a crashed process cannot keep it) whose file names the holder, so a waiting process can say
//! who it is waiting for.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::engine::EngineError;

/// Held while a process writes to the registry; unlocked on drop.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

/// Waits up to `timeout` for the lock, then fails naming the holder.
pub fn acquire(path: &Path, timeout: Duration, purpose: &str) -> Result<WriterLock, EngineError> {
    let write_err = |source| EngineError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(write_err)?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(EngineError::Busy {
                    path: parent(path),
                    holder: describe_holder(&mut file),
                    waited_ms: started.elapsed().as_millis() as u64,
                });
            }
            Err(TryLockError::Error(source)) => return Err(write_err(source)),
        }
    }
    let holder = format!(
        "pid {} ({}) by {} since {}",
        std::process::id(),
        purpose,
        crate::engine::Actor::login_name(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    );
    // The holder line is informational: failing to write it must not fail the operation.
    let _ = file
        .set_len(0)
        .and_then(|_| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(holder.as_bytes()));
    Ok(WriterLock { _file: file })
}

fn describe_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text));
    let text = text.trim();
    if text.is_empty() {
        "held by another flightdeck process".into()
    } else {
        format!("held by {text}")
    }
}

fn parent(path: &Path) -> PathBuf {
    path.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| path.to_path_buf())
}
