//! `register`: checks an ONNX artifact loads and runs, profiles its reference data, stores the
//! artifact by content and records the version, all or nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;

use super::{profile, sentinels};
use crate::error::EngineError;
use crate::failpoint;
use crate::model::{BaselineProfile, Lineage, ModelName, ModelVersion, NewJournalEntry, Outcome};
use crate::runtime::{LoadedModel, RuntimeError};
use crate::store::registry::artifacts;
use crate::store::registry::versions::{NewVersion, insert_version};
use crate::store::{Actor, Registry, journal};

/// Everything `flightdeck register` takes.
#[derive(Debug, Clone, Default)]
pub struct RegisterRequest {
    pub artifact: PathBuf,
    pub reference: Option<PathBuf>,
    /// How to read the reference: its label, ignored columns, categorical columns and their
    /// declared orders.
    pub profile: profile::ProfileOptions,
    pub sentinels: Option<PathBuf>,
    pub metrics: BTreeMap<String, f64>,
    pub data_hash: Option<String>,
    pub code_commit: Option<String>,
    pub pipeline_version: Option<String>,
    pub description: Option<String>,
}

/// The outcome: the version, and whether this call created it.
#[derive(Debug, Clone)]
pub struct Registered {
    pub version: ModelVersion,
    pub created: bool,
    /// The version existed and its stored file was damaged: written again from this file.
    pub repaired: bool,
    /// Sentinel cases the artifact itself fails (informational; the smoke test gates on them).
    pub sentinel_failures: Vec<String>,
    /// The version existed, and its baseline profile was replaced from this reference (other
    /// columns, labels or category orders than when it was registered).
    pub reprofiled: bool,
}

/// Parses `NAME=NUMBER`.
pub fn parse_metric(text: &str) -> Result<(String, f64), EngineError> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| EngineError::BadMetric(text.into()))?;
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| EngineError::BadMetric(text.into()))?;
    let name = name.trim();
    if name.is_empty() || !value.is_finite() {
        return Err(EngineError::BadMetric(text.into()));
    }
    Ok((name.to_string(), value))
}

pub fn register(
    registry: &mut Registry,
    model: &ModelName,
    request: &RegisterRequest,
    actor: &Actor,
) -> Result<Registered, EngineError> {
    actor.ensure_writable(&format!("register a version of {model}"))?;
    let path = &request.artifact;
    let bytes = std::fs::read(path).map_err(|source| EngineError::Read {
        path: path.clone(),
        source,
    })?;
    let sha256 = artifacts::sha256_hex(&bytes);
    if let Some(existing) = registry.version_by_sha(model, &sha256)? {
        let mut registered =
            already_registered(registry, model, existing, &sha256, &bytes, path, actor)?;
        if request.reference.is_some() {
            registered.reprofiled = reprofile(registry, &registered.version, request, actor)?;
            registered.version = registry.version(model, existing)?;
        }
        return Ok(registered);
    }

    let refused = |source: RuntimeError| EngineError::Model {
        path: path.clone(),
        problem: source.to_string(),
    };
    let loaded = LoadedModel::from_bytes(&bytes).map_err(refused)?;
    loaded.run(&loaded.neutral_inputs(2)).map_err(refused)?;
    let signature = loaded.signature().clone();

    let (profile, sentinel_set) = reference_and_sentinels(request, &loaded)?;
    let sentinel_failures = sentinel_set
        .as_ref()
        .map(|set| sentinels::failing_cases(&loaded, set))
        .unwrap_or_default();

    let new = NewVersion {
        model: model.clone(),
        sha256: sha256.clone(),
        size_bytes: bytes.len() as u64,
        description: request.description.clone(),
        signature,
        lineage: Lineage {
            data_hash: request.data_hash.clone(),
            code_commit: request.code_commit.clone(),
            pipeline_version: request.pipeline_version.clone(),
            author: actor.user.clone(),
            created_at: Utc::now(),
        },
        metrics: request.metrics.clone(),
        profile,
        sentinels: sentinel_set,
    };

    failpoint::pause_if_armed("register:before-artifact");
    artifacts::store(registry.artifacts_root(), &sha256, &bytes)?;
    failpoint::pause_if_armed("register:after-artifact");
    let (number, created) = registry.write("registering a model version", |tx| {
        let (number, created) = insert_version(tx, &new, &actor.user)?;
        if created {
            journal::append(
                tx,
                &registered(
                    actor,
                    model,
                    number,
                    serde_json::json!({
                        "sha256": new.sha256,
                        "artifact": display(path),
                        "size_bytes": new.size_bytes,
                    }),
                ),
            )?;
        }
        failpoint::pause_if_armed("register:before-commit");
        Ok((number, created))
    })?;
    Ok(Registered {
        reprofiled: false,
        repaired: false,
        version: registry.version(model, number)?,
        created,
        sentinel_failures,
    })
}

/// The journal row of a version made: registered here, or copied from MLflow (`details` says
/// from where).
pub(crate) fn registered(
    actor: &Actor,
    model: &ModelName,
    version: u32,
    details: serde_json::Value,
) -> NewJournalEntry {
    NewJournalEntry {
        user: actor.user.clone(),
        environment: actor.environment.clone(),
        operation: "register".into(),
        model: Some(model.to_string()),
        from: None,
        to: Some(format!("v{version}")),
        outcome: Outcome::Succeeded,
        details,
    }
}

/// The version with these bytes exists: its stored file is written again from them if it was
/// damaged (registering the original repairs it), and the repair is on record.
fn already_registered(
    registry: &mut Registry,
    model: &ModelName,
    existing: u32,
    sha256: &str,
    bytes: &[u8],
    path: &Path,
    actor: &Actor,
) -> Result<Registered, EngineError> {
    let damaged = artifacts::load(registry.artifacts_root(), sha256).is_err();
    artifacts::store(registry.artifacts_root(), sha256, bytes)?;
    if damaged {
        registry.append_journal(&crate::model::NewJournalEntry {
            user: actor.user.clone(),
            environment: actor.environment.clone(),
            operation: "repair artifact".into(),
            model: Some(model.to_string()),
            from: None,
            to: Some(format!("v{existing}")),
            outcome: crate::model::Outcome::Succeeded,
            details: serde_json::json!({ "sha256": sha256, "from": path.display().to_string() }),
        })?;
    }
    Ok(Registered {
        version: registry.version(model, existing)?,
        created: false,
        repaired: damaged,
        sentinel_failures: vec![],
        reprofiled: false,
    })
}

/// Profiles the reference again for an existing version; when the profile differs from the
/// stored one (other label, ignored columns or category order), replaces it and journals the
/// change. Returns whether it changed.
fn reprofile(
    registry: &mut Registry,
    version: &crate::model::ModelVersion,
    request: &RegisterRequest,
    actor: &Actor,
) -> Result<bool, EngineError> {
    // Only the reference is read again: the stored version keeps its sentinels.
    // What the version answers on the reference is part of its baseline: its stored file runs.
    let loaded = artifacts::load(registry.artifacts_root(), &version.sha256)
        .ok()
        .and_then(|bytes| LoadedModel::from_bytes(&bytes).ok());
    let profile = reference_profile(request, &version.signature, loaded.as_ref())?;
    // Compared as stored: through the registry's JSON both ways (a NaN is never equal to itself
    // as a float, and parsing a float back may move it by an ulp).
    let as_stored = |p: &BaselineProfile| {
        serde_json::to_string(p)
            .ok()
            .and_then(|text| serde_json::from_str::<BaselineProfile>(&text).ok())
            .and_then(|p| serde_json::to_value(p).ok())
    };
    let mut stored = version.profile.clone();
    if let Some(stored) = stored.as_mut() {
        stored
            .restore_reference_values(registry.reference_values(&version.model, version.version)?);
    }
    let stored = stored.as_ref().and_then(as_stored);
    let Some(profile) = profile.filter(|p| as_stored(p) != stored) else {
        return Ok(false);
    };
    actor.ensure_writable(&format!(
        "re-profile {} v{}",
        version.model, version.version
    ))?;
    let label = format!("v{}", version.version);
    let reference = request.reference.as_deref().map(display);
    registry.write("re-profiling a version", |tx| {
        crate::store::registry::versions::set_profile(
            tx,
            &version.model,
            version.version,
            &profile,
        )?;
        journal::append(
            tx,
            &NewJournalEntry {
                user: actor.user.clone(),
                environment: actor.environment.clone(),
                operation: "reprofile".into(),
                model: Some(version.model.to_string()),
                from: Some(label.clone()),
                to: Some(label.clone()),
                outcome: Outcome::Succeeded,
                details: serde_json::json!({ "reference": reference, "notes": profile.notes }),
            },
        )?;
        Ok(())
    })?;
    Ok(true)
}

/// The baseline profile of the request's reference data and its sentinel cases, each read and
/// checked against the model's signature.
fn reference_and_sentinels(
    request: &RegisterRequest,
    model: &LoadedModel,
) -> Result<
    (
        Option<crate::model::BaselineProfile>,
        Option<crate::model::SentinelSet>,
    ),
    EngineError,
> {
    let signature = model.signature();
    let profile = reference_profile(request, signature, Some(model))?;
    let sentinel_set = request
        .sentinels
        .as_deref()
        .map(|file| {
            sentinels::load(file, signature).map_err(|problem| EngineError::Sentinels {
                path: file.to_path_buf(),
                problem,
            })
        })
        .transpose()?;
    Ok((profile, sentinel_set))
}

/// The baseline profile of the request's reference data (`None` without one); the options that
/// describe a reference's columns are refused without one.
fn reference_profile(
    request: &RegisterRequest,
    signature: &crate::model::Signature,
    model: Option<&LoadedModel>,
) -> Result<Option<BaselineProfile>, EngineError> {
    let options = &request.profile;
    let asked = [
        (!options.categorical.is_empty(), "--categorical"),
        (!options.categories.is_empty(), "--categories"),
        (options.columns.label.is_some(), "--label"),
        (!options.columns.ignore.is_empty(), "--ignore"),
    ];
    if let (None, Some((_, flag))) = (&request.reference, asked.iter().find(|(set, _)| *set)) {
        return Err(EngineError::Reference {
            path: PathBuf::from("(none)"),
            problem: format!("{flag} needs --reference: it describes the reference data's columns"),
        });
    }
    request
        .reference
        .as_deref()
        .map(|table| {
            let (mut profile, rows) =
                profile::profile_table(table, signature, options).map_err(|e| {
                    EngineError::Reference {
                        path: table.to_path_buf(),
                        problem: e.to_string(),
                    }
                })?;
            // The version's own answers on these rows: the baseline of prediction drift.
            let keep = options
                .reference_values
                .unwrap_or(crate::model::DEFAULT_REFERENCE_VALUES);
            match model.map(|m| {
                super::reference_predictions::reference_predictions(m, &profile, &rows, keep)
            }) {
                Some(Ok(predictions)) => profile.predictions = Some(predictions),
                Some(Err(why)) => profile
                    .notes
                    .push(format!("its answers on the reference were not kept: {why}")),
                None => profile.notes.push(
                    "its answers on the reference were not kept: its file does not load".into(),
                ),
            }
            Ok(profile)
        })
        .transpose()
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_parse_name_equals_number() {
        assert_eq!(parse_metric("auc=0.91").unwrap(), ("auc".into(), 0.91));
        assert_eq!(parse_metric(" f1 = 0.5").unwrap(), ("f1".into(), 0.5));
        for bad in ["auc", "auc=", "=0.5", "auc=high", "auc=NaN", "auc=inf"] {
            assert!(parse_metric(bad).is_err(), "{bad}");
        }
    }
}
