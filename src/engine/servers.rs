//! Starting, stopping and restarting a model's local server: the one path `flightdeck server`
//! and the console's servers list take. Each is refused in a read-only environment, journaled,
//! and a shadow running in the server has its final report journaled before it ends with it.

use serde_json::json;

use crate::error::EngineError;
use crate::model::{ModelName, NewJournalEntry, Outcome, ServingPlan, ServingStatus, ShadowReport};
use crate::serving::LocalServing;
use crate::store::{Actor, Registry};

/// What a stop ended.
#[derive(Debug)]
pub struct Stopped {
    /// What the server served.
    pub plan: ServingPlan,
    /// The shadow that ended with it, with its last report.
    pub shadow: Option<ShadowReport>,
    /// Why the journal does not have it, when it could not be written (it happened anyway).
    pub unjournaled: Option<String>,
}

/// What a restart did.
#[derive(Debug)]
pub struct Restarted {
    /// The server as it answers now.
    pub status: ServingStatus,
    /// The shadow that ended with the old server.
    pub shadow: Option<ShadowReport>,
    pub unjournaled: Option<String>,
}

/// What a start did.
#[derive(Debug)]
pub struct Started {
    /// The server as it answers now.
    pub status: ServingStatus,
    /// It was running and now serves the plan in place (with the settings it started with).
    pub was_running: bool,
    pub unjournaled: Option<String>,
}

/// Starts `model`'s server serving `plan` (or switches a running one to it in place). Each
/// version must be in the local registry (an MLflow version is copied there first).
pub async fn start(
    serving: &LocalServing,
    registry: &mut Registry,
    actor: &Actor,
    model: &ModelName,
    plan: ServingPlan,
) -> Result<Started, EngineError> {
    actor.ensure_writable(&format!("start serving {model}"))?;
    for version in std::iter::once(plan.stable).chain(plan.canary) {
        registry.version(model, version)?;
    }
    let was_running = serving.status(model.as_str()).await.healthy;
    let (result, unjournaled) = start_journaled(
        serving,
        registry,
        actor,
        model,
        ("server start", None),
        plan,
    )
    .await;
    Ok(Started {
        status: result?,
        was_running,
        unjournaled,
    })
}

/// A canary's share of traffic when nothing says otherwise (`--canary-percent`'s default).
pub const DEFAULT_CANARY_PERCENT: u8 = 10;

/// What the aliases say `model` serves: `production` as the stable version and `canary` (if
/// any) at the share the newest operation that made it the canary planned for it, else
/// `canary_percent`.
pub fn plan_of_aliases(
    registry: &Registry,
    model: &ModelName,
    (production, canary): (u32, Option<u32>),
    canary_percent: u8,
) -> ServingPlan {
    ServingPlan {
        stable: production,
        canary,
        canary_percent: canary.map_or(0, |c| {
            last_canary_share(registry, model, c).unwrap_or(canary_percent)
        }),
    }
}

/// The traffic share the newest operation that made `canary` the canary planned for it,
/// from the plan recorded in its journal row.
fn last_canary_share(registry: &Registry, model: &ModelName, canary: u32) -> Option<u8> {
    let rows = registry
        .journal(&crate::store::journal::JournalQuery {
            model: Some(model.to_string()),
            limit: Some(200),
        })
        .ok()?;
    rows.iter().find_map(|row| {
        let after = &row.details["plan"]["after"];
        (after["canary"].as_u64() == Some(u64::from(canary)))
            .then(|| after["canary_percent"].as_u64())
            .flatten()
            .and_then(|p| u8::try_from(p).ok())
    })
}

/// Stops `model`'s server and its supervisor: its clients get no answer until it is started
/// again.
pub async fn stop(
    serving: &LocalServing,
    registry: &mut Registry,
    actor: &Actor,
    model: &ModelName,
) -> Result<Stopped, EngineError> {
    actor.ensure_writable(&format!("stop serving {model}"))?;
    let plan = serving.status(model.as_str()).await.plan;
    // Journaled by the shadow's own stop when there is one; none running is no error here.
    let shadow = crate::engine::shadow::stop(serving, registry, actor, model)
        .await
        .ok();
    let result = serving
        .stop(model)
        .await
        .map_err(|e| EngineError::Serving(e.to_string()));
    let unjournaled = journal(
        registry,
        actor,
        "server stop",
        model,
        (Some(&plan), None),
        result.as_ref().err(),
    );
    result?;
    Ok(Stopped {
        plan,
        shadow,
        unjournaled,
    })
}

/// Stops `model`'s server and starts it again serving what it served (on the same port), e.g.
/// to apply a changed config or after its supervisor gave up on a crashing server.
pub async fn restart(
    serving: &LocalServing,
    registry: &mut Registry,
    actor: &Actor,
    model: &ModelName,
) -> Result<Restarted, EngineError> {
    actor.ensure_writable(&format!("restart serving {model}"))?;
    let status = serving.status(model.as_str()).await;
    if status.record.is_none() {
        return Err(EngineError::Refused {
            model: model.to_string(),
            reason: format!(
                "no local server of {model} to restart; `flightdeck server start {model}` starts one"
            ),
        });
    }
    let plan = status.plan;
    let shadow = crate::engine::shadow::stop(serving, registry, actor, model)
        .await
        .ok();
    // Not running (it crashed for good) is no reason not to start it.
    let _ = serving.stop(model).await;
    let (result, unjournaled) = start_journaled(
        serving,
        registry,
        actor,
        model,
        ("server restart", Some(&plan)),
        plan,
    )
    .await;
    Ok(Restarted {
        status: result?,
        shadow,
        unjournaled,
    })
}

/// Stops `model`'s server under `data_dir` (servers started again read `config`).
pub async fn stop_local(
    data_dir: &std::path::Path,
    program: std::path::PathBuf,
    config: Option<std::path::PathBuf>,
    actor: &Actor,
    model: &ModelName,
) -> Result<Stopped, EngineError> {
    let serving = LocalServing::new(data_dir, program).with_config(config);
    let mut registry = Registry::open(data_dir)?;
    stop(&serving, &mut registry, actor, model).await
}

/// Starts `model`'s server under `data_dir`, reading `config`, serving what the aliases hold:
/// `(production, canary)`, the canary at the share its operation gave it.
pub async fn start_local(
    data_dir: &std::path::Path,
    program: std::path::PathBuf,
    config: Option<std::path::PathBuf>,
    actor: &Actor,
    model: &ModelName,
    held: (u32, Option<u32>),
) -> Result<Started, EngineError> {
    let serving = LocalServing::new(data_dir, program).with_config(config);
    let mut registry = Registry::open(data_dir)?;
    let plan = plan_of_aliases(&registry, model, held, DEFAULT_CANARY_PERCENT);
    start(&serving, &mut registry, actor, model, plan).await
}

/// Restarts `model`'s server under `data_dir`, reading `config`.
pub async fn restart_local(
    data_dir: &std::path::Path,
    program: std::path::PathBuf,
    config: Option<std::path::PathBuf>,
    actor: &Actor,
    model: &ModelName,
) -> Result<Restarted, EngineError> {
    let serving = LocalServing::new(data_dir, program).with_config(config);
    let mut registry = Registry::open(data_dir)?;
    restart(&serving, &mut registry, actor, model).await
}

/// Starts `plan` and journals it as `operation` from `from`: the start's result, and why the
/// journal does not have it, if it could not be written.
async fn start_journaled(
    serving: &LocalServing,
    registry: &mut Registry,
    actor: &Actor,
    model: &ModelName,
    (operation, from): (&str, Option<&ServingPlan>),
    plan: ServingPlan,
) -> (Result<ServingStatus, EngineError>, Option<String>) {
    let result = serving
        .start(model, plan)
        .await
        .map_err(|e| EngineError::Serving(e.to_string()));
    let unjournaled = journal(
        registry,
        actor,
        operation,
        model,
        (from, Some(&plan)),
        result.as_ref().err(),
    );
    (result, unjournaled)
}

/// Journals what was done; the error of a journal that cannot be written (the server was
/// stopped or started whatever the journal says: that is said, not undone).
fn journal(
    registry: &mut Registry,
    actor: &Actor,
    operation: &str,
    model: &ModelName,
    (from, to): (Option<&ServingPlan>, Option<&ServingPlan>),
    error: Option<&EngineError>,
) -> Option<String> {
    let entry = NewJournalEntry {
        user: actor.user.clone(),
        environment: actor.environment.clone(),
        operation: operation.into(),
        model: Some(model.to_string()),
        from: from.map(ServingPlan::describe),
        to: to.map(ServingPlan::describe),
        outcome: if error.is_some() {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        },
        details: json!({ "plan": from.or(to), "error": error.map(|e| e.to_string()) }),
    };
    registry.append_journal(&entry).err().map(|e| e.to_string())
}
