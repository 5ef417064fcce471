//! The read side: one collector per kind of signal. Parsing is pure (bytes in, view models
//! out) and tested on real payloads; fetching runs in the background with timeouts.

use std::time::Duration;

pub mod answer;
pub mod embedded;
pub mod kubernetes;
pub mod kubernetes_store;
pub mod metrics;
pub mod mlflow;
pub mod prometheus;
pub mod prometheus_drift;
pub mod promql;
pub mod server;
pub mod source;

pub use source::{RegistryView, Sources};

/// Waits for `work` at most `timeout`: every read has a deadline, so a hung backend shows as
/// an error instead of a pane that never fills.
pub async fn within<T>(
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}
