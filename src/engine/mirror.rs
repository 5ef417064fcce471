//! MLflow versions made servable by local servers: a version fetched from MLflow (its ONNX file
//! checked against its `onnx.sha256` tag, its run, its sentinels) is registered in the local
//! registry under MLflow's own version number, with the run's lineage. Local servers, the smoke
//! test and drift then treat it as any local version, while MLflow's aliases stay the registry
//! of record.

use crate::engine::ops::mlflow::Fetched;
use crate::error::EngineError;
use crate::model::{ModelName, SentinelSet};
use crate::runtime::LoadedModel;
use crate::store::registry::artifacts;
use crate::store::registry::versions::{NewVersion, insert_version_numbered};
use crate::store::{Actor, Registry, journal};

/// What the local registry holds for an MLflow version after [`mirror`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirrored {
    /// Copied now.
    Copied,
    /// It was there already, with the same file.
    Present,
}

/// Registers `fetched` as `version` of `model` in the local registry, unless it is there with
/// the same file. Refused when the local registry has this number with another file, or this
/// file under another number: serving it would show a version number that lies.
pub fn mirror(
    registry: &mut Registry,
    model: &ModelName,
    version: u32,
    fetched: &Fetched,
    actor: &Actor,
) -> Result<Mirrored, EngineError> {
    let refused = |reason: String| EngineError::Refused {
        model: model.to_string(),
        reason,
    };
    let home = registry.data_dir().display().to_string();
    if registry.model_exists(model)? {
        if let Ok(existing) = registry.version(model, version) {
            if existing.sha256 == fetched.sha256 {
                // Written again in case the stored copy was damaged; the same bytes either way.
                artifacts::store(registry.artifacts_root(), &fetched.sha256, &fetched.bytes)?;
                return Ok(Mirrored::Present);
            }
            return Err(refused(format!(
                "the local registry in {home} has v{version} with another file (sha256 {}, MLflow's is {}): a local registry and this MLflow environment share model names there. Give the MLflow environment its own data directory (FLIGHTDECK_HOME or --data-dir)",
                short(&existing.sha256),
                short(&fetched.sha256)
            )));
        }
        if let Some(other) = registry.version_by_sha(model, &fetched.sha256)? {
            return Err(refused(format!(
                "MLflow's v{version} has the same file as the local registry's v{other} in {home}: serving it would be shown as v{other}. Give the MLflow environment its own data directory (FLIGHTDECK_HOME or --data-dir)"
            )));
        }
    }

    let loaded = LoadedModel::from_bytes(&fetched.bytes)
        .map_err(|e| refused(format!("MLflow's v{version} does not load: {e}")))?;
    let signature = loaded.signature().clone();
    let sentinels = match &fetched.sentinels {
        None => None,
        Some(bytes) => Some(parse_sentinels(bytes, &signature).map_err(|e| {
            refused(format!(
                "MLflow's v{version} carries a sentinels.json that cannot be used: {e}"
            ))
        })?),
    };
    let new = NewVersion {
        model: model.clone(),
        sha256: fetched.sha256.clone(),
        size_bytes: fetched.bytes.len() as u64,
        description: fetched.entry.description.clone().filter(|d| !d.is_empty()),
        signature,
        lineage: crate::clients::mlflow::lineage(&fetched.entry, fetched.run.as_ref()),
        metrics: fetched
            .run
            .as_ref()
            .map(|run| {
                run.data
                    .metrics
                    .iter()
                    .filter(|m| m.value.is_finite())
                    .map(|m| (m.key.clone(), m.value))
                    .collect()
            })
            .unwrap_or_default(),
        profile: None,
        sentinels,
    };
    artifacts::store(registry.artifacts_root(), &fetched.sha256, &fetched.bytes)?;
    registry.write("copying an MLflow version into the local registry", |tx| {
        insert_version_numbered(tx, &new, &actor.user, version)?;
        journal::append(
            tx,
            &crate::engine::register::registered(
                actor,
                model,
                version,
                serde_json::json!({
                    "sha256": new.sha256,
                    "from_mlflow": fetched.source,
                    "checksum": fetched.checksum,
                    "size_bytes": new.size_bytes,
                }),
            ),
        )?;
        Ok(())
    })?;
    Ok(Mirrored::Copied)
}

fn parse_sentinels(
    bytes: &[u8],
    signature: &crate::model::Signature,
) -> Result<SentinelSet, String> {
    let set: SentinelSet =
        serde_json::from_slice(bytes).map_err(|e| format!("not a valid sentinel file: {e}"))?;
    crate::engine::sentinels::validate(&set, signature)?;
    Ok(set)
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
