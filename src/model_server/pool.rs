//! The inference worker pool: a fixed set of threads fed by a bounded queue, so inference never
//! runs on the async reactor (health checks stay fast under load) and a full queue answers 503
//! at once instead of growing memory.

use crossbeam_channel::{Sender, TrySendError, bounded};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("the server is at capacity: the inference queue is full; retry shortly")]
    Busy,
    #[error("the server is shutting down")]
    Closed,
}

#[derive(Debug, Clone)]
pub struct InferencePool {
    sender: Sender<Job>,
}

impl InferencePool {
    /// Starts `workers` threads sharing a queue of at most `queue` waiting jobs.
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Self> {
        let (sender, receiver) = bounded::<Job>(queue.max(1));
        for i in 0..workers.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("inference-{i}"))
                .spawn(move || {
                    while let Ok(job) = receiver.recv() {
                        job();
                    }
                })?;
        }
        Ok(Self { sender })
    }

    /// Runs `f` on a worker and waits for its result without blocking the reactor.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.sender.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => PoolError::Busy,
            TrySendError::Disconnected(_) => PoolError::Closed,
        })?;
        rx.await.map_err(|_| PoolError::Closed)
    }
}

/// Worker threads to use by default: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}
