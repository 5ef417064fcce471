//! Dynamic batching: small requests for the same version that are ready in the same turn of the
//! event loop run as one model call, as Triton's dynamic batcher does but with no added delay
//! (a request waits at most for the requests already ready beside it). Under concurrent load
//! the model's fixed cost per call is shared; a lone request runs as before.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::oneshot;

use super::state::LoadedVersion;
use crate::runtime::{LoadedModel, NamedTensor, RuntimeError};

type Outcome = Result<Vec<NamedTensor>, RuntimeError>;

/// Requests of at most this many rows may share a call.
pub const MAX_REQUEST_ROWS: usize = 8;

/// One version's queue of requests waiting to share a model call.
#[derive(Debug)]
pub struct Batcher {
    /// Every input has a variable batch dimension; a fixed one (say [1, 4]) cannot take several
    /// requests' rows.
    stackable: bool,
    queue: Mutex<Queue>,
    /// Set once the model's outputs turned out not to have one row per input row: its calls
    /// cannot be split back into requests, so each request runs alone from then on.
    unsplittable: AtomicBool,
}

#[derive(Debug, Default)]
struct Queue {
    jobs: Vec<Job>,
    rows: usize,
}

#[derive(Debug)]
struct Job {
    inputs: Vec<NamedTensor>,
    rows: usize,
    reply: oneshot::Sender<Outcome>,
}

impl Batcher {
    pub fn for_model(model: &LoadedModel) -> Self {
        Self {
            stackable: model
                .signature()
                .inputs
                .iter()
                .all(|i| i.shape.first().is_some_and(|d| *d < 0)),
            queue: Mutex::default(),
            unsplittable: AtomicBool::new(false),
        }
    }

    /// Whether a request of `rows` rows may join a shared call.
    pub fn accepts(&self, rows: usize, max_batch_rows: usize) -> bool {
        self.stackable
            && rows > 0
            && rows <= MAX_REQUEST_ROWS.min(max_batch_rows)
            && !self.unsplittable.load(Ordering::Relaxed)
    }

    /// Runs the request's inputs, together with whatever other requests for this version are
    /// ready in the same turn. The first request to arrive leads: it lets the other ready tasks
    /// run once, then runs the queue; the others wait for their share of its result.
    pub async fn run(
        &self,
        version: &LoadedVersion,
        inputs: Vec<NamedTensor>,
        rows: usize,
        max_batch_rows: usize,
    ) -> Outcome {
        let (reply, result) = oneshot::channel();
        let (leads, full) = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let leads = queue.jobs.is_empty();
            queue.jobs.push(Job {
                inputs,
                rows,
                reply,
            });
            queue.rows += rows;
            (leads, queue.rows >= max_batch_rows)
        };
        if full {
            self.flush(version);
        } else if leads {
            // Runs the queue even if this request is dropped (its client went away) while
            // yielding, so the requests that joined it are never left waiting.
            let _flush = FlushOnDrop {
                batcher: self,
                version,
            };
            tokio::task::yield_now().await;
        }
        result.await.unwrap_or_else(|_| {
            Err(RuntimeError::Inference(
                "the shared model call was abandoned; retry".into(),
            ))
        })
    }

    /// Runs every queued request: as one call when they fit together, else one by one.
    fn flush(&self, version: &LoadedVersion) {
        let jobs = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.rows = 0;
            std::mem::take(&mut queue.jobs)
        };
        if jobs.len() < 2 {
            return run_each(version, jobs);
        }
        let Some(merged) = merge(&jobs) else {
            return run_each(version, jobs);
        };
        let outcome = run_timed(version, &merged);
        let rows: Vec<usize> = jobs.iter().map(|j| j.rows).collect();
        match outcome.map(|outputs| split(outputs, &rows)) {
            Ok(Some(parts)) => {
                // Each request's rows with its own answers (the merged outputs are split).
                for (job, part) in jobs.into_iter().zip(parts) {
                    record_drift(version, &job.inputs, &part);
                    let _ = job.reply.send(Ok(part));
                }
            }
            Ok(None) => {
                self.unsplittable.store(true, Ordering::Relaxed);
                run_each(version, jobs);
            }
            // One request's bad values must not fail the others: each gets its own answer.
            Err(_) => run_each(version, jobs),
        }
    }
}

struct FlushOnDrop<'a> {
    batcher: &'a Batcher,
    version: &'a LoadedVersion,
}

impl Drop for FlushOnDrop<'_> {
    fn drop(&mut self) {
        self.batcher.flush(self.version);
    }
}

fn run_each(version: &LoadedVersion, jobs: Vec<Job>) {
    for job in jobs {
        let _ = job.reply.send(run_and_record(version, &job.inputs));
    }
}

/// Runs the model and, when it succeeds, records the inputs in the drift window.
pub fn run_and_record(version: &LoadedVersion, inputs: &[NamedTensor]) -> Outcome {
    let outputs = run_timed(version, inputs);
    if let Ok(answered) = &outputs {
        record_drift(version, inputs, answered);
    }
    outputs
}

/// Runs the model and learns its cost per row.
fn run_timed(version: &LoadedVersion, inputs: &[NamedTensor]) -> Outcome {
    let started = Instant::now();
    let outputs = version.model.run(inputs);
    let rows = batch_rows(inputs);
    version.cost.observe(rows, started.elapsed());
    version.metrics.calls.observe(rows as f64);
    outputs
}

fn record_drift(version: &LoadedVersion, inputs: &[NamedTensor], outputs: &[NamedTensor]) {
    // The window is a sample of recent traffic: when another thread holds it, skip these rows
    // rather than make requests queue behind each other.
    if let Some(window) = &version.drift
        && let Ok(mut window) = window.try_lock()
    {
        let started = Instant::now();
        window.record(inputs, outputs, started);
        version.metrics.drift_recorded(started.elapsed());
    }
}

fn batch_rows(inputs: &[NamedTensor]) -> usize {
    inputs
        .first()
        .and_then(|t| t.shape.first().copied())
        .unwrap_or(1)
}

/// The requests' inputs stacked along the batch dimension, when every request has the same
/// inputs in the same order with the same types and row shapes.
fn merge(jobs: &[Job]) -> Option<Vec<NamedTensor>> {
    let (first, rest) = jobs.split_first()?;
    let mut merged = first.inputs.clone();
    for job in rest {
        if job.inputs.len() != merged.len() {
            return None;
        }
        for (into, from) in merged.iter_mut().zip(&job.inputs) {
            let same_rows = into.name == from.name
                && into.shape.len() == from.shape.len()
                && into.shape.get(1..) == from.shape.get(1..);
            if !same_rows || !into.data.append(&from.data) {
                return None;
            }
            if let Some(n) = into.shape.first_mut() {
                *n += from.shape.first().copied().unwrap_or(0);
            }
        }
    }
    Some(merged)
}

/// Each request's rows of every output, or `None` when an output does not have one row per
/// input row (a model that reduces over the batch, say).
fn split(outputs: Vec<NamedTensor>, rows: &[usize]) -> Option<Vec<Vec<NamedTensor>>> {
    let total: usize = rows.iter().sum();
    let mut parts: Vec<Vec<NamedTensor>> = rows.iter().map(|_| Vec::new()).collect();
    for output in outputs {
        if output.shape.first() != Some(&total) {
            return None;
        }
        let per_row: usize = output.shape[1..].iter().product();
        if output.data.len() != total * per_row {
            return None;
        }
        let mut start = 0;
        for (part, n) in parts.iter_mut().zip(rows) {
            let mut shape = output.shape.clone();
            shape[0] = *n;
            let end = start + n * per_row;
            part.push(NamedTensor {
                name: output.name.clone(),
                shape,
                data: output.data.slice(start, end),
            });
            start = end;
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::TensorData;
    use std::sync::Arc;

    fn job(values: Vec<f32>, rows: usize) -> (Job, oneshot::Receiver<Outcome>) {
        let (reply, result) = oneshot::channel();
        let width = values.len() / rows;
        let job = Job {
            inputs: vec![NamedTensor {
                name: "X".into(),
                shape: vec![rows, width],
                data: TensorData::F32(values),
            }],
            rows,
            reply,
        };
        (job, result)
    }

    #[test]
    fn requests_stack_along_the_batch_dimension_and_split_back() {
        let (a, _ra) = job(vec![1.0, 2.0], 1);
        let (b, _rb) = job(vec![3.0, 4.0, 5.0, 6.0], 2);
        let merged = merge(&[a, b]).unwrap_or_default();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].shape, vec![3, 2]);
        assert_eq!(
            merged[0].data,
            TensorData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        let outputs = vec![NamedTensor {
            name: "label".into(),
            shape: vec![3],
            data: TensorData::I64(vec![7, 8, 9]),
        }];
        let parts = split(outputs, &[1, 2]).unwrap_or_default();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0][0].shape, vec![1]);
        assert_eq!(parts[0][0].data, TensorData::I64(vec![7]));
        assert_eq!(parts[1][0].shape, vec![2]);
        assert_eq!(parts[1][0].data, TensorData::I64(vec![8, 9]));
    }

    #[test]
    fn different_row_shapes_or_types_do_not_merge() {
        let (a, _ra) = job(vec![1.0, 2.0], 1);
        let (b, _rb) = job(vec![3.0, 4.0, 5.0], 1);
        assert!(merge(&[a, b]).is_none());
        let (a, _ra) = job(vec![1.0, 2.0], 1);
        let (mut b, _rb) = job(vec![3.0, 4.0], 1);
        b.inputs[0].data = TensorData::F64(vec![3.0, 4.0]);
        assert!(merge(&[a, b]).is_none());
    }

    fn logreg() -> LoadedVersion {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/models/logreg_multiclass.onnx"
        );
        let bytes = std::fs::read(path).unwrap_or_default();
        let model = crate::runtime::LoadedModel::from_bytes(&bytes);
        assert!(model.is_ok(), "{model:?}");
        let Ok(model) = model else { unreachable!() };
        LoadedVersion {
            version: 1,
            sha256: String::new(),
            batcher: Batcher::for_model(&model),
            model,
            drift: None,
            reading: None,
            metrics: super::super::metrics::Metrics::default().version("fraud", "1"),
            cost: Default::default(),
        }
    }

    fn row(i: usize) -> Vec<NamedTensor> {
        let x = i as f32;
        vec![NamedTensor {
            name: "X".into(),
            shape: vec![1, 4],
            data: TensorData::F32(vec![x, 10.0 - x, x * 0.5, -x]),
        }]
    }

    /// Starts `n` one-row requests at once on a single-threaded runtime (as `flightdeck serve`
    /// runs) and returns their outcomes in order.
    fn run_together(version: &Arc<LoadedVersion>, n: usize, max_batch_rows: usize) -> Vec<Outcome> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| unreachable!("{e}"));
        runtime.block_on(async {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let version = version.clone();
                    tokio::spawn(async move {
                        version
                            .batcher
                            .run(&version, row(i), 1, max_batch_rows)
                            .await
                    })
                })
                .collect();
            let mut outcomes = Vec::new();
            for task in tasks {
                outcomes.push(task.await.unwrap_or_else(|e| unreachable!("{e}")));
            }
            outcomes
        })
    }

    #[test]
    fn requests_ready_in_the_same_turn_share_one_call_and_get_their_own_rows() {
        let version = Arc::new(logreg());
        let outcomes = run_together(&version, 10, 64);
        // All ten were ready before the first one's call ran: one call of ten rows.
        assert_eq!(version.metrics.calls.count(), 1);
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let alone = version.model.run(&row(i)).unwrap_or_default();
            let shared = outcome.unwrap_or_default();
            assert_eq!(shared.len(), alone.len(), "row {i}");
            for (s, a) in shared.iter().zip(&alone) {
                assert_eq!((&s.name, &s.shape), (&a.name, &a.shape), "row {i}");
                let (s, a) = (s.data.to_f64(), a.data.to_f64());
                let (s, a) = (s.unwrap_or_default(), a.unwrap_or_default());
                assert_eq!(s.len(), a.len());
                // The same numbers up to float rounding (a 10-row product may sum in another order).
                for (x, y) in s.iter().zip(&a) {
                    assert!((x - y).abs() < 1e-6, "row {i}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn a_full_batch_runs_at_once_and_the_rest_run_next() {
        let version = Arc::new(logreg());
        for outcome in run_together(&version, 7, 3) {
            assert!(outcome.is_ok(), "{outcome:?}");
        }
        // Three, three, then the last one alone.
        assert_eq!(version.metrics.calls.count(), 3);
    }

    #[test]
    fn outputs_without_one_row_per_input_row_cannot_be_split() {
        let outputs = vec![NamedTensor {
            name: "total".into(),
            shape: vec![1],
            data: TensorData::F32(vec![1.0]),
        }];
        assert!(split(outputs, &[1, 2]).is_none());
    }
}
