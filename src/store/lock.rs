//! The holder lock: an OS file lock, released by the kernel when its holder exits or dies (so a
//! crashed process cannot keep it), whose file names the holder, so whoever waits can say who for.
//! The registry's writer lock and the one-operation-per-model lock are both this lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Held until dropped.
#[derive(Debug)]
pub struct HolderLock {
    _file: File,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum Refusal {
    /// Another process holds it; its holder line as written (empty if it wrote none).
    Held { holder: String, waited: Duration },
    /// The lock file could not be opened or locked.
    Io(std::io::Error),
}

/// Takes the lock at `path` (creating the file), trying until `wait` has passed, then writes
/// `holder` into the file for whoever waits next.
pub fn take(path: &Path, wait: Duration, holder: &str) -> Result<HolderLock, Refusal> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(Refusal::Io)?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(Refusal::Held {
                    holder: holder_of(&mut file),
                    waited: started.elapsed(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(Refusal::Io(source)),
        }
    }
    // The holder line is informational: failing to write it must not fail the lock.
    let _ = file
        .set_len(0)
        .and_then(|_| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(holder.as_bytes()));
    Ok(HolderLock { _file: file })
}

fn holder_of(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text));
    text.trim().to_string()
}
