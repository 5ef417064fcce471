//! An evaluation's result: a candidate's and production's metrics on one frozen labelled set,
//! kept with the candidate and read by the promote gate.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Metrics of one version on the labelled set (higher is better for accuracy and AUC; lower
/// for log loss, MAE and RMSE).
pub type Metrics = BTreeMap<String, f64>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub model: String,
    pub candidate: u32,
    pub baseline: Option<u32>,
    pub rows: usize,
    pub data: String,
    pub at: DateTime<Utc>,
    pub candidate_metrics: Metrics,
    pub baseline_metrics: Option<Metrics>,
}
