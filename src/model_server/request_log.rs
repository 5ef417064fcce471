//! The request log: a sampled record of requests and their answers, per model, on disk in the
//! data dir (`requests/MODEL/*.jsonl`), for replaying production's own traffic and reading
//! what a client sent. Off by default (inputs can be personal data). Off the request's path:
//! a request hands its bytes to a bounded queue and a writer thread does the rest; when the
//! writer falls behind, entries are dropped and counted, never waited for. Bounded on disk by
//! size and age, in segments the writer rotates and deletes oldest first.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use chrono::{DateTime, Utc};

/// How a server keeps its request log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestLogLimits {
    /// Share of requests logged (0: off, 1: all).
    pub rate: f64,
    /// Bytes on disk per model, all segments together.
    pub max_bytes: u64,
    /// Segments older than this are deleted.
    pub max_age: Duration,
}

impl RequestLogLimits {
    pub fn off() -> Self {
        RequestLogLimits {
            rate: 0.0,
            max_bytes: 0,
            max_age: Duration::ZERO,
        }
    }
}

/// Entries waiting for the writer; past this, new ones are dropped (and counted).
const QUEUE: usize = 4096;
/// How long the writer sleeps when the queue is empty (then flushes what it wrote).
const POLL: Duration = Duration::from_millis(20);
/// Segments per model: a segment is closed at a tenth of the size limit, or after an hour.
const SEGMENTS: u64 = 10;
const SEGMENT_SECONDS: i64 = 3600;

/// One request as it is handed over: its bytes, untouched (the writer makes the line).
pub struct Entry {
    pub at: DateTime<Utc>,
    pub model: String,
    pub version: Option<String>,
    pub id: Option<String>,
    pub status: u16,
    pub latency: Duration,
    pub request: Bytes,
    /// The answer's body, or the error's message.
    pub answer: Result<Bytes, String>,
}

/// The log of one server (every model it serves).
#[derive(Debug)]
pub struct RequestLog {
    sender: SyncSender<Entry>,
    rate: f64,
    seen: AtomicU64,
    pub written: std::sync::Arc<AtomicU64>,
    pub dropped: AtomicU64,
}

impl RequestLog {
    /// Starts the writer under `data_dir/requests`; `None` when the log is off.
    pub fn start(data_dir: &Path, limits: RequestLogLimits) -> Option<std::sync::Arc<Self>> {
        if limits.rate <= 0.0 {
            return None;
        }
        let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE);
        let written = std::sync::Arc::new(AtomicU64::new(0));
        let counted = written.clone();
        let root = data_dir.join("requests");
        let spawned = std::thread::Builder::new()
            .name("request-log".into())
            .spawn(move || write_all(&root, limits, receiver, &counted));
        if let Err(e) = spawned {
            eprintln!("request log: cannot start its writer ({e}); requests are not logged");
            return None;
        }
        Some(std::sync::Arc::new(RequestLog {
            sender,
            rate: limits.rate.min(1.0),
            seen: AtomicU64::new(0),
            written,
            dropped: AtomicU64::new(0),
        }))
    }

    /// Whether this request is one of the sample: exactly `rate` of every run of requests
    /// (the n-th is logged when n x rate crosses a whole number), no randomness to explain.
    pub fn sampled(&self) -> bool {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * self.rate).floor() > (n * self.rate).floor()
    }

    /// Hands an entry to the writer; dropped (and counted) when it is behind.
    pub fn record(&self, entry: Entry) {
        match self.sender.try_send(entry) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The writer: one open segment per model, flushed when the queue is idle.
fn write_all(root: &Path, limits: RequestLogLimits, queue: Receiver<Entry>, written: &AtomicU64) {
    let mut open: std::collections::HashMap<String, Segment> = Default::default();
    let mut last_prune = Instant::now();
    loop {
        // Polled, not waited on: a sleeping writer would make every logged request pay for
        // waking it (a system call on the request's path).
        let entry = match queue.try_recv() {
            Ok(entry) => entry,
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                for segment in open.values_mut() {
                    let _ = segment.file.flush();
                }
                std::thread::sleep(POLL);
                if last_prune.elapsed() > Duration::from_secs(60) {
                    for model in open.keys() {
                        prune(&root.join(model), limits, None);
                    }
                    last_prune = Instant::now();
                }
                continue;
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
        };
        let line = line(&entry);
        let dir = root.join(&entry.model);
        let due = open
            .get(&entry.model)
            .is_none_or(|s| s.full(limits, entry.at));
        if due {
            if let Some(mut old) = open.remove(&entry.model) {
                let _ = old.file.flush();
            }
            match Segment::create(&dir, entry.at) {
                Ok(segment) => {
                    prune(&dir, limits, Some(&segment.path));
                    open.insert(entry.model.clone(), segment);
                }
                Err(e) => {
                    // A disk that refuses: said in the server's log, the serving goes on.
                    eprintln!("request log: cannot write in {}: {e}", dir.display());
                    continue;
                }
            }
        }
        if let Some(segment) = open.get_mut(&entry.model) {
            if segment.file.write_all(&line).is_ok() {
                segment.bytes += line.len() as u64;
                written.fetch_add(1, Ordering::Relaxed);
            } else {
                open.remove(&entry.model);
            }
        }
    }
    for segment in open.values_mut() {
        let _ = segment.file.flush();
    }
}

struct Segment {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    bytes: u64,
    opened: DateTime<Utc>,
}

impl Segment {
    fn create(dir: &Path, at: DateTime<Utc>) -> std::io::Result<Segment> {
        std::fs::create_dir_all(dir)?;
        // Named by the time of their first entry, so names sort oldest first.
        let mut path = dir.join(format!("{}.jsonl", at.format("%Y%m%dT%H%M%S%.6fZ")));
        let mut n = 1;
        while path.exists() {
            path = dir.join(format!("{}-{n}.jsonl", at.format("%Y%m%dT%H%M%S%.6fZ")));
            n += 1;
        }
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        Ok(Segment {
            path,
            file: std::io::BufWriter::new(file),
            bytes: 0,
            opened: at,
        })
    }

    fn full(&self, limits: RequestLogLimits, now: DateTime<Utc>) -> bool {
        self.bytes >= (limits.max_bytes / SEGMENTS).max(1)
            || (now - self.opened).num_seconds() >= SEGMENT_SECONDS
    }
}

/// Deletes the oldest segments of `dir` until the rest fit the size limit, and any older than
/// the age limit; the segment being written (`keep`) stays.
fn prune(dir: &Path, limits: RequestLogLimits, keep: Option<&Path>) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    let mut segments: Vec<(PathBuf, u64, std::time::SystemTime)> = read
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((e.path(), meta.len(), meta.modified().ok()?))
        })
        .collect();
    segments.sort();
    let mut total: u64 = segments.iter().map(|s| s.1).sum();
    let now = std::time::SystemTime::now();
    for (path, size, modified) in segments {
        if Some(path.as_path()) == keep {
            continue;
        }
        let old = now
            .duration_since(modified)
            .is_ok_and(|age| age > limits.max_age);
        if (total > limits.max_bytes || old) && std::fs::remove_file(&path).is_ok() {
            total = total.saturating_sub(size);
        }
    }
}

/// One JSON line: the request and the answer as they were sent, with who, when and how it
/// went. Bodies known to be JSON (a request the server parsed, an answer it wrote) are copied in
/// as they are, not parsed again; anything else is checked, and kept as a string if it is not.
fn line(e: &Entry) -> Vec<u8> {
    /// The body's own id, for a request refused before the server gave it one.
    #[derive(serde::Deserialize)]
    struct BodyId {
        id: Option<String>,
    }
    let id = e.id.clone().or_else(|| {
        serde_json::from_slice::<BodyId>(&e.request)
            .ok()
            .and_then(|b| b.id)
    });
    let head = serde_json::json!({
        "at": e.at,
        "model": e.model,
        "version": e.version,
        "id": id,
        "status": e.status,
        "latency_ms": e.latency.as_secs_f64() * 1e3,
        "error": e.answer.as_ref().err(),
    });
    let mut text = serde_json::to_vec(&head).unwrap_or_default();
    // Reopen the object to append the two bodies.
    text.pop();
    let parsed = (200..300).contains(&e.status);
    text.extend_from_slice(b",\"request\":");
    raw_json(&mut text, &e.request, parsed);
    text.extend_from_slice(b",\"answer\":");
    match &e.answer {
        Ok(bytes) => raw_json(&mut text, bytes, true),
        Err(_) => text.extend_from_slice(b"null"),
    }
    text.extend_from_slice(b"}\n");
    text
}

/// Appends `bytes` as JSON: as they are when known to be JSON, else when they parse, else as a
/// string.
fn raw_json(out: &mut Vec<u8>, bytes: &[u8], known: bool) {
    let valid = known || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
    if valid && !bytes.is_empty() {
        out.extend_from_slice(bytes);
    } else {
        let text = serde_json::Value::String(String::from_utf8_lossy(bytes).into());
        out.extend_from_slice(&serde_json::to_vec(&text).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_logs_exactly_that_share_of_every_run_of_requests() {
        let log = RequestLog::start(
            tempfile::tempdir().unwrap().path(),
            RequestLogLimits {
                rate: 0.1,
                max_bytes: 1 << 20,
                max_age: Duration::from_secs(60),
            },
        )
        .unwrap();
        let logged = (0..1000).filter(|_| log.sampled()).count();
        assert_eq!(logged, 100);
        assert!(RequestLog::start(Path::new("/nonexistent"), RequestLogLimits::off()).is_none());
    }
}
