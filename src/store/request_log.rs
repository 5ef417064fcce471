//! Reading the request log local model servers keep in the data dir (`requests/MODEL/*.jsonl`,
//! segments named by their first entry's time): the newest entries, or one request by its id.
//! A line that cannot be read (a segment cut short by a crash) is skipped and counted.

use std::path::{Path, PathBuf};

use crate::model::LoggedRequest;

/// What was read, and how many lines could not be.
#[derive(Debug, Default)]
pub struct Read {
    /// Newest first.
    pub entries: Vec<LoggedRequest>,
    pub unreadable: usize,
}

/// The segments of `model`'s log, newest first.
fn segments(data_dir: &Path, model: &str) -> Vec<PathBuf> {
    let dir = data_dir.join("requests").join(model);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|read| {
            read.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths.reverse();
    paths
}

/// Whether `model` has a request log at all (the log is off unless a rate is set).
pub fn exists(data_dir: &Path, model: &str) -> bool {
    !segments(data_dir, model).is_empty()
}

/// The entries of a log file in the request log's format (a segment's JSON lines, or the array
/// `flightdeck requests --json` prints), newest first, at most `limit`.
pub fn from_file(
    path: &Path,
    limit: usize,
    keep: impl Fn(&LoggedRequest) -> bool,
) -> std::io::Result<Read> {
    let text = std::fs::read_to_string(path)?;
    let mut read = Read::default();
    if text.trim_start().starts_with('[') {
        let entries: Vec<LoggedRequest> = serde_json::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        // `flightdeck requests --json` lists newest first already.
        read.entries = entries
            .into_iter()
            .filter(|e| keep(e))
            .take(limit)
            .collect();
        return Ok(read);
    }
    for line in text.lines().rev().filter(|l| !l.trim().is_empty()) {
        if read.entries.len() >= limit {
            break;
        }
        match serde_json::from_str::<LoggedRequest>(line) {
            Ok(entry) if keep(&entry) => read.entries.push(entry),
            Ok(_) => {}
            Err(_) => read.unreadable += 1,
        }
    }
    Ok(read)
}

/// The newest entries of `model` that `keep` accepts, at most `limit`, newest first.
pub fn newest(
    data_dir: &Path,
    model: &str,
    limit: usize,
    keep: impl Fn(&LoggedRequest) -> bool,
) -> Read {
    let mut read = Read::default();
    for path in segments(data_dir, model) {
        // One segment at a time (a tenth of the size limit), read from its newest line back,
        // each line parsed only if it is needed.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for line in text.lines().rev().filter(|l| !l.trim().is_empty()) {
            if read.entries.len() >= limit {
                return read;
            }
            match serde_json::from_str::<LoggedRequest>(line) {
                Ok(entry) if keep(&entry) => read.entries.push(entry),
                Ok(_) => {}
                Err(_) => read.unreadable += 1,
            }
        }
    }
    read
}
