//! Gates: evidence an operation must have before it runs. Smoke before deploy: the version's
//! latest smoke test must have passed; a version never smoke-tested is tested now.

use std::path::Path;

use crate::engine::smoke::{SmokeOptions, smoke};
use crate::engine::{EngineError, Registry};
use crate::model::{ModelName, SmokeReport};

/// Passes when the version's smoke test passed (running one if there is none). `skip` is the
/// user's explicit override, for the journal.
pub async fn smoke_gate(
    registry: &mut Registry,
    program: &Path,
    model: &ModelName,
    version: u32,
    skip: bool,
    progress: &dyn Fn(&str),
) -> Result<Option<SmokeReport>, EngineError> {
    if skip {
        return Ok(None);
    }
    let report = match registry.latest_smoke(model, version)? {
        Some(report) => report,
        None => {
            smoke(
                registry,
                program,
                model,
                version,
                &SmokeOptions::default(),
                progress,
            )
            .await?
        }
    };
    match report.first_failure() {
        None => Ok(Some(report)),
        Some(failed) => Err(EngineError::GateFailed {
            model: model.to_string(),
            gate: "smoke".into(),
            detail: format!("v{version} failed {}: {}", failed.name, failed.detail),
            flag: "--skip-smoke".into(),
        }),
    }
}
