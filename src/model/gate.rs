//! A gate's verdict on the evidence an operation must have before it runs: pass, fail or not
//! enough data yet, with what was measured.

use serde::{Deserialize, Serialize};

/// A gate's verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateStatus {
    Pass,
    #[default]
    Fail,
    /// Too little evidence to judge yet; blocks like a failure, and says how much more it needs.
    NotEnoughData,
}

impl GateStatus {
    /// As a preview line says it.
    pub fn as_str(self) -> &'static str {
        match self {
            GateStatus::Pass => "passed",
            GateStatus::Fail => "FAILED",
            GateStatus::NotEnoughData => "NOT ENOUGH DATA",
        }
    }
}

/// One gate's verdict, with the evidence the preview shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub name: String,
    #[serde(default)]
    pub status: GateStatus,
    /// What was measured, against which threshold, over which window.
    pub evidence: String,
}

impl GateResult {
    pub fn passed(&self) -> bool {
        self.status == GateStatus::Pass
    }
}
