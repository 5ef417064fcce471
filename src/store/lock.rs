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

/// What a look at the lock at `path` found, without taking it for writing.
#[derive(Debug)]
pub enum Observed {
    /// Nobody holds it; a shared hold keeps a writer out until this is dropped, so what the
    /// caller reads meanwhile cannot be changed by the lock's next holder.
    Free(SharedHold),
    /// A process holds it: its holder line.
    Held(String),
}

/// A shared hold on a holder lock, released when dropped.
#[derive(Debug)]
pub struct SharedHold {
    _file: Option<File>,
}

/// Looks at the lock at `path`: held by a live process, or free (and kept free while the
/// returned hold lives). A lock file that does not exist was never taken, so it is free. An
/// error opening it is returned: the caller cannot tell.
pub fn observe(path: &Path) -> std::io::Result<Observed> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Observed::Free(SharedHold { _file: None }));
        }
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Observed::Free(SharedHold { _file: Some(file) })),
        Err(TryLockError::WouldBlock) => Ok(Observed::Held(holder_of(&mut file))),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

fn holder_of(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text));
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observe_sees_a_holder_and_a_shared_hold_keeps_a_writer_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.lock");
        assert!(
            matches!(observe(&path).unwrap(), Observed::Free(_)),
            "no file yet"
        );
        let held = take(&path, Duration::ZERO, "deploy by alice").unwrap();
        match observe(&path).unwrap() {
            Observed::Held(holder) => assert_eq!(holder, "deploy by alice"),
            Observed::Free(_) => panic!("the exclusive holder was not seen"),
        }
        drop(held);
        let Observed::Free(hold) = observe(&path).unwrap() else {
            panic!("free once released");
        };
        assert!(matches!(
            take(&path, Duration::ZERO, "promote"),
            Err(Refusal::Held { .. })
        ));
        drop(hold);
        assert!(take(&path, Duration::ZERO, "promote").is_ok());
    }
}
