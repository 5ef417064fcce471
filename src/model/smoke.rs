//! Smoke-test results: the checks a version passed or failed before it may serve traffic.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmokeCheck {
    pub name: String,
    pub passed: bool,
    pub detail: String,
    /// It had nothing to check (no sentinel case registered): it fails nothing, and it is not
    /// shown as a pass either.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmokeReport {
    pub model: String,
    pub version: u32,
    pub at: DateTime<Utc>,
    pub passed: bool,
    pub checks: Vec<SmokeCheck>,
    /// Where it ran: a throwaway local server, or the endpoint given.
    pub endpoint: String,
}

impl SmokeReport {
    /// The first failed check, for one-line summaries.
    pub fn first_failure(&self) -> Option<&SmokeCheck> {
        self.checks.iter().find(|c| !c.passed)
    }
}
