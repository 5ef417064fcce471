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
    scan(data_dir, model, limit, |_| true, keep)
}

/// The newest entries of `model` whose line holds `needle` (letters in either case), at most
/// `limit`, newest first, from the whole log: a line is parsed only when it holds the needle.
pub fn search(data_dir: &Path, model: &str, needle: &str, limit: usize) -> Read {
    let needle = needle.to_ascii_lowercase();
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let lowered = std::cell::RefCell::new(Vec::new());
    scan(
        data_dir,
        model,
        limit,
        |line| {
            let mut buffer = lowered.borrow_mut();
            buffer.clear();
            buffer.extend(line.iter().map(u8::to_ascii_lowercase));
            finder.find(&buffer).is_some()
        },
        |_| true,
    )
}

/// Lines from the newest back that `holds` lets through, parsed, kept when `keep` accepts them.
fn scan(
    data_dir: &Path,
    model: &str,
    limit: usize,
    holds: impl Fn(&[u8]) -> bool,
    keep: impl Fn(&LoggedRequest) -> bool,
) -> Read {
    let mut read = Read::default();
    for path in segments(data_dir, model) {
        // One segment at a time, read from its end back in blocks, each line parsed only if it
        // is needed: the console tails a 25 MB segment by reading its last few blocks.
        let _ = lines_from_end(&path, |line| {
            if read.entries.len() >= limit {
                return false;
            }
            if !line.trim_ascii().is_empty() && holds(line) {
                match serde_json::from_slice::<LoggedRequest>(line) {
                    Ok(entry) if keep(&entry) => read.entries.push(entry),
                    Ok(_) => {}
                    Err(_) => read.unreadable += 1,
                }
            }
            true
        });
        if read.entries.len() >= limit {
            break;
        }
    }
    read
}

/// Calls `each` with the lines of `path` from the last to the first, until it returns false.
fn lines_from_end(path: &Path, mut each: impl FnMut(&[u8]) -> bool) -> std::io::Result<()> {
    use std::io::{Read as _, Seek, SeekFrom};
    const BLOCK: u64 = 256 * 1024;
    let mut file = std::fs::File::open(path)?;
    let mut end = file.metadata()?.len();
    // The start of the line the block before must complete.
    let mut carry: Vec<u8> = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let mut block = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&carry);
        let mut pieces = block.split(|b| *b == b'\n');
        // The first piece may be cut: it waits for the block before it.
        let first = pieces.next().unwrap_or_default().to_vec();
        let rest: Vec<&[u8]> = pieces.collect();
        for line in rest.iter().rev() {
            if !each(line) {
                return Ok(());
            }
        }
        carry = first;
        end = start;
    }
    each(&carry);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_back_whole_and_newest_first_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment.jsonl");
        // About 600 KB: lines cross the 256 KB blocks the reader takes from the end.
        let lines: Vec<String> = (0..3000)
            .map(|i| format!("{i}:{}", "x".repeat(i % 397)))
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let mut seen = Vec::new();
        lines_from_end(&path, |line| {
            if !line.is_empty() {
                seen.push(String::from_utf8(line.to_vec()).unwrap());
            }
            true
        })
        .unwrap();
        let mut expected = lines.clone();
        expected.reverse();
        assert_eq!(seen, expected);
        let mut first_two = Vec::new();
        lines_from_end(&path, |line| {
            if !line.is_empty() {
                first_two.push(line.to_vec());
            }
            first_two.len() < 2
        })
        .unwrap();
        assert_eq!(first_two.len(), 2);
    }
}
