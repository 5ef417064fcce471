//! Shadow traffic in the model server: a candidate version answers a copy of an exact share of
//! production's requests on a thread of its own, after production has answered; its answers are
//! compared with production's (class agreement, a confusion table, score differences, its
//! errors and latency) and thrown away. Bounded: when the candidate falls behind, copies are
//! dropped and counted; production never waits for it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::state::LoadedVersion;
use crate::model::ShadowReport;
use crate::model::comparison::{ComparedOutput, OutputValues, Tally};
use crate::runtime::{NamedTensor, TensorData};

/// Copies waiting for the candidate; past this, new ones are dropped.
const QUEUE: usize = 256;
/// How long the candidate's thread sleeps when it has no copy to answer.
const POLL: Duration = Duration::from_millis(2);

/// One copy: the request's inputs and production's answers to them.
struct Mirrored {
    inputs: Vec<NamedTensor>,
    production: Vec<NamedTensor>,
}

/// A shadow of one model.
#[derive(Debug)]
pub struct Shadow {
    pub version: u32,
    pub versus: u32,
    pub percent: u8,
    sender: SyncSender<Mirrored>,
    seen: AtomicU64,
    dropped: AtomicU64,
    stopped: Arc<AtomicBool>,
    stats: Arc<Mutex<Tally>>,
    started: Instant,
    /// When a restarted server took the shadow up again.
    resumed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for Mirrored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mirrored")
    }
}

impl Shadow {
    /// Starts the candidate's thread.
    pub fn start(
        candidate: Arc<LoadedVersion>,
        versus: u32,
        percent: u8,
        resumed: bool,
    ) -> Result<Arc<Self>, String> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE);
        let stats = Arc::new(Mutex::new(Tally::default()));
        let stopped = Arc::new(AtomicBool::new(false));
        let (kept, stop) = (stats.clone(), stopped.clone());
        let version = candidate.version;
        std::thread::Builder::new()
            .name(format!("shadow-v{version}"))
            .spawn(move || answer_copies(&candidate, receiver, &kept, &stop))
            .map_err(|e| format!("cannot start the shadow's thread: {e}"))?;
        Ok(Arc::new(Shadow {
            version,
            versus,
            percent: percent.clamp(1, 100),
            sender,
            seen: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            stopped,
            stats,
            started: Instant::now(),
            resumed_at: resumed.then(chrono::Utc::now),
        }))
    }

    /// Whether this request is copied: exactly `percent` of every hundred.
    pub fn sampled(&self) -> bool {
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        let p = u64::from(self.percent);
        ((n + 1) * p) / 100 > (n * p) / 100
    }

    /// Hands a copy to the candidate; dropped (and counted) when it is behind.
    pub fn mirror(&self, inputs: Vec<NamedTensor>, production: Vec<NamedTensor>) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.sender.try_send(Mirrored { inputs, production })
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Ends the candidate's thread once its queue is drained.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    pub fn report(&self, model: &str) -> ShadowReport {
        let stats = self.stats.lock().map(|s| snapshot(&s)).unwrap_or_default();
        ShadowReport {
            model: model.to_string(),
            version: self.version,
            versus: self.versus,
            percent: self.percent,
            dropped: self.dropped.load(Ordering::Relaxed),
            seconds: self.started.elapsed().as_secs_f64(),
            resumed_at: self.resumed_at,
            ..stats
        }
    }
}

fn snapshot(s: &Tally) -> ShadowReport {
    ShadowReport {
        requests: s.requests,
        errors: s.errors,
        first_error: s.first_error.clone(),
        output: s.output.clone(),
        rows: s.rows,
        agreement: s.agreement(),
        confusion: s.confusion.clone(),
        score_difference: s.score_difference(),
        latency_ms: s.latency_ms(),
        ..ShadowReport::default()
    }
}

/// The shadows' comparison and the request log's counts, for `/metrics`.
pub fn gauges(state: &super::state::ServerState) -> Vec<super::metrics::GaugeSample> {
    use super::metrics::GaugeSample;
    let mut out = Vec::new();
    for (model, shadow) in state.shadows() {
        let r = shadow.report(&model);
        let labels = || {
            vec![
                ("model", model.clone()),
                ("version", r.version.to_string()),
                ("versus", r.versus.to_string()),
            ]
        };
        let mut push = |name, help, value: Option<f64>| {
            if let Some(value) = value {
                out.push(GaugeSample {
                    name,
                    help,
                    labels: labels(),
                    value,
                });
            }
        };
        push(
            "flightdeck_shadow_agreement_ratio",
            "Share of rows where the shadow candidate answered the class production answered.",
            r.agreement,
        );
        push(
            "flightdeck_shadow_compared_rows",
            "Rows whose class the shadow candidate and production both answered.",
            Some(r.rows as f64),
        );
        push(
            "flightdeck_shadow_errors",
            "Copies of requests the shadow candidate failed to answer.",
            Some(r.errors as f64),
        );
        push(
            "flightdeck_shadow_dropped",
            "Copies dropped because the shadow candidate fell behind.",
            Some(r.dropped as f64),
        );
    }
    if let Some(log) = &state.request_log {
        for (name, help, value) in [
            (
                "flightdeck_request_log_written",
                "Requests written to the request log.",
                log.written.load(Ordering::Relaxed),
            ),
            (
                "flightdeck_request_log_dropped",
                "Sampled requests dropped because the log's writer fell behind.",
                log.dropped.load(Ordering::Relaxed),
            ),
        ] {
            out.push(GaugeSample {
                name,
                help,
                labels: Vec::new(),
                value: value as f64,
            });
        }
    }
    // One family at a time: the exposition names each family's type once.
    out.sort_by_key(|g| g.name);
    out
}

/// The candidate's thread: each copy answered and compared, until stopped.
fn answer_copies(
    candidate: &LoadedVersion,
    queue: Receiver<Mirrored>,
    stats: &Mutex<Tally>,
    stopped: &AtomicBool,
) {
    loop {
        // Polled, not waited on: a sleeping receiver would make every request that hands it a
        // copy pay for waking it (a system call on production's path).
        let copy = match queue.try_recv() {
            Ok(copy) => copy,
            Err(std::sync::mpsc::TryRecvError::Empty) if stopped.load(Ordering::Relaxed) => {
                return;
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
        };
        let started = Instant::now();
        let answered = candidate.model.run(&copy.inputs);
        let took = started.elapsed().as_secs_f64() * 1e3;
        let Ok(mut s) = stats.lock() else { return };
        match answered {
            Ok(outputs) => s.answered(took, &compared(&copy.production), &compared(&outputs)),
            Err(e) => s.failed(took, e.to_string()),
        }
    }
}

/// Tensors as the comparison takes them: classes when they are integers, strings or
/// booleans, one per row; scores when they are floats.
fn compared(tensors: &[NamedTensor]) -> Vec<ComparedOutput> {
    tensors
        .iter()
        .map(|t| {
            let one_per_row = t.shape.len() == 1 || (t.shape.len() == 2 && t.shape[1] == 1);
            let rows = t.shape.first().copied().unwrap_or(1);
            let values = match &t.data {
                TensorData::I64(v) if one_per_row => {
                    OutputValues::Classes(v.iter().map(i64::to_string).collect())
                }
                TensorData::I32(v) if one_per_row => {
                    OutputValues::Classes(v.iter().map(i32::to_string).collect())
                }
                TensorData::String(v) if one_per_row => OutputValues::Classes(v.clone()),
                TensorData::Bool(v) if one_per_row => {
                    OutputValues::Classes(v.iter().map(bool::to_string).collect())
                }
                TensorData::F32(v) => OutputValues::Scores {
                    rows,
                    values: v.iter().map(|x| f64::from(*x)).collect(),
                },
                TensorData::F64(v) => OutputValues::Scores {
                    rows,
                    values: v.clone(),
                },
                _ => OutputValues::Other,
            };
            ComparedOutput {
                name: t.name.clone(),
                values,
            }
        })
        .collect()
}
