//! A shadow: a candidate version run on a copy of production's requests, off the response
//! path, its answers compared with production's and thrown away. What the comparison found.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowReport {
    pub model: String,
    /// The candidate.
    pub version: u32,
    /// The version whose answers it is compared with (production).
    pub versus: u32,
    /// Share of requests copied to it (1-100).
    pub percent: u8,
    /// Requests the candidate answered, and failed.
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Copies dropped because the candidate fell behind (production never waits for it).
    pub dropped: u64,
    /// The class output compared, rows compared and the share where both gave the same class.
    pub output: Option<String>,
    pub rows: u64,
    pub agreement: Option<f64>,
    /// Production's class -> the candidate's class -> rows.
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per row, the largest difference between the two's scores: median, 95th percentile,
    /// largest (over the last rows kept).
    pub score_difference: Option<[f64; 3]>,
    /// The candidate's time per call, median and 99th percentile, in milliseconds.
    pub latency_ms: Option<[f64; 2]>,
    /// Seconds since the shadow started (in this server process).
    pub seconds: f64,
    /// When a server restarted after a crash took the shadow up again: its counts start there
    /// (what the shadow saw before was lost with the old process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_at: Option<chrono::DateTime<chrono::Utc>>,
}
