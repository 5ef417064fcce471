//! The CLI's local checks of MLflow versions (smoke tests, evaluations, `server start`): each
//! version is copied into the local registry first, as a deploy with local serving copies it.

use std::time::Duration;

use super::Failure;
use crate::engine::ops::OpRegistry;
use crate::engine::ops::mlflow::MlflowOpRegistry;
use crate::model::ModelName;
use crate::settings::Settings;

/// MLflow's registry, copying versions into the local registry; refused for an environment
/// that serves through Kubernetes (its versions are checked by deploy there).
pub(super) fn registry(
    settings: &Settings,
    program: &std::path::Path,
) -> Result<MlflowOpRegistry, Failure> {
    let environment = &settings.environment;
    if environment.serving != crate::settings::ServingBackend::Local {
        return Err(Failure {
            code: 1,
            message: format!(
                "environment {} serves through Kubernetes: an MLflow version is checked by deploy before anything moves (its artifact check); run smoke tests and evaluations in an MLflow environment with serving = \"local\"",
                environment.name
            ),
        });
    }
    Ok(MlflowOpRegistry::new(environment)
        .map_err(|message| Failure { code: 1, message })?
        .serving_locally(
            settings.data_dir.clone(),
            Duration::from_millis(settings.lock_timeout_ms),
            program.to_path_buf(),
            crate::store::Actor::new(settings.user.clone(), environment.name.clone()),
        ))
}

/// Copies `version` (when it is not there yet); a version that cannot be copied (its file
/// fails its checksum, does not load) ends the command with `code` and the reason.
pub(super) async fn copy(
    mlflow: &MlflowOpRegistry,
    model: &ModelName,
    version: u32,
    code: u8,
) -> Result<(), Failure> {
    let facts = mlflow.facts(model, version).await?;
    facts.inputs.map(|_| ()).map_err(|why| Failure {
        code,
        message: format!("{model} v{version}: {why}"),
    })
}
