//! Talking to what flightdeck reads and drives over HTTP: bounded answers, a flightdeck model
//! server's endpoints and its `/metrics` exposition, Prometheus's query API with the PromQL of
//! each serving runtime, and MLflow's REST API. Each call has a deadline and says what failed in
//! the words of the server it asked.

use std::time::Duration;

pub mod alert_rules;
pub mod answer;
pub mod http;
pub mod metrics;
pub mod mlflow;
pub mod model_server;
pub mod notify;
pub mod prometheus;
pub mod prometheus_drift;
pub mod promql;

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
