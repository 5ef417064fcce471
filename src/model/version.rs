//! Registered model versions and their lineage.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Alias, BaselineProfile, ModelName, SentinelSet, Signature};

/// Where a version came from, so that a rollback can be reasoned about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    pub data_hash: Option<String>,
    pub code_commit: Option<String>,
    pub pipeline_version: Option<String>,
    pub author: String,
    pub created_at: DateTime<Utc>,
}

/// One registered version of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub model: ModelName,
    pub version: u32,
    pub sha256: String,
    pub size_bytes: u64,
    pub description: Option<String>,
    pub signature: Signature,
    pub lineage: Lineage,
    pub metrics: BTreeMap<String, f64>,
    pub profile: Option<BaselineProfile>,
    pub sentinels: Option<SentinelSet>,
    /// Aliases that point at this version now, production first.
    pub aliases: Vec<String>,
    /// Whether the latest smoke test passed (`None`: never smoke-tested).
    #[serde(default)]
    pub smoke_passed: Option<bool>,
    /// Why flightdeck cannot serve it, when the registry says so (`not ONNX` for an MLflow
    /// version logged in another flavour); listed in place of its smoke test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_servable: Option<String>,
    /// Its latest evaluation (`flightdeck evaluate`), as stored with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<super::Evaluation>,
}

impl ModelVersion {
    pub fn label(&self) -> String {
        format!("v{}", self.version)
    }
}

/// A model with its latest version and its aliases, for the `models` listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub name: ModelName,
    pub versions: u32,
    pub latest_version: Option<u32>,
    pub aliases: Vec<Alias>,
    pub updated_at: DateTime<Utc>,
    /// Whether the latest smoke test of each version an alias points at passed.
    #[serde(default)]
    pub smoke: BTreeMap<u32, bool>,
}
