//! Sentinel cases: inputs with the outputs a version must produce, within a tolerance, for its
//! smoke test to pass.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Values of one tensor, as nested JSON arrays (numbers, strings or booleans) or a flat list.
pub type TensorValues = serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelSet {
    /// Default absolute tolerance for numeric outputs.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    pub cases: Vec<SentinelCase>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelCase {
    pub name: String,
    /// Input name -> values, shaped like the model's input (batch first).
    pub inputs: BTreeMap<String, TensorValues>,
    /// Output name -> expected values. Labels compare exactly, numbers within the tolerance.
    pub expected: BTreeMap<String, TensorValues>,
    /// Overrides the set's tolerance for this case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
}

pub fn default_tolerance() -> f64 {
    1e-4
}
