//! One request a model server logged with its answer (the request log), as readers get it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub at: DateTime<Utc>,
    pub model: String,
    /// The version that answered (none when the request failed before one was chosen).
    pub version: Option<String>,
    pub id: Option<String>,
    pub status: u16,
    pub latency_ms: f64,
    /// The request body as sent (JSON; a body that was not JSON, as a string).
    pub request: serde_json::Value,
    /// The answer's body, when there was one.
    pub answer: serde_json::Value,
    /// The error the client was told, when it failed.
    pub error: Option<String>,
}
