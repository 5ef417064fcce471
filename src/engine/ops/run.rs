//! Running a planned operation: apply to the server, move the aliases (compare-and-swap),
//! verify both by reading them back, and journal the start and the outcome.

use serde::Serialize;
use serde_json::json;

use super::lock;
use super::plan::{DeploymentState, OpPlan};
use crate::engine::registry::aliases::{AliasChange, Expectation};
use crate::engine::serving::LocalServing;
use crate::engine::{Actor, EngineError, Registry};
use crate::model::{AliasName, NewJournalEntry, Outcome};

/// What happened, for the CLI's summary and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct OpOutcome {
    pub model: String,
    pub operation: &'static str,
    pub sentence: String,
    pub before: DeploymentState,
    pub after: DeploymentState,
    pub endpoint: Option<String>,
    pub warnings: Vec<String>,
}

fn entry(
    plan: &OpPlan,
    actor: &Actor,
    outcome: Outcome,
    details: serde_json::Value,
) -> NewJournalEntry {
    let v = |s: &DeploymentState| match (s.production, s.canary) {
        (Some(p), Some(c)) => Some(format!("v{p} + canary v{c} {}%", s.canary_percent)),
        (Some(p), None) => Some(format!("v{p}")),
        _ => None,
    };
    NewJournalEntry {
        user: actor.user.clone(),
        environment: actor.environment.clone(),
        operation: plan.request.name().to_string(),
        model: Some(plan.model.to_string()),
        from: v(&plan.before),
        to: v(&plan.after),
        outcome,
        details,
    }
}

/// Runs the plan. `allow_pipeline_mismatch` is the explicit confirmation a pipeline change needs.
pub async fn execute(
    plan: &OpPlan,
    registry: &mut Registry,
    serving: &LocalServing,
    actor: &Actor,
    allow_pipeline_mismatch: bool,
) -> Result<OpOutcome, EngineError> {
    let model = &plan.model;
    actor.ensure_writable(&format!("{} {model}", plan.request.name()))?;
    if let Some((from, to)) = &plan.pipeline_change
        && !allow_pipeline_mismatch
    {
        return Err(EngineError::Refused {
            model: model.to_string(),
            reason: format!(
                "the feature pipeline changes from {from} to {to}; confirm that upstream features match (--allow-pipeline-mismatch)"
            ),
        });
    }
    let data_dir = registry
        .db_path()
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let _lock = lock::acquire(&data_dir, model.as_str(), plan.request.name())?;
    let target = plan
        .after
        .serving_plan()
        .ok_or_else(|| EngineError::Refused {
            model: model.to_string(),
            reason: "the result would have no production version to serve".into(),
        })?;
    registry.append_journal(&entry(
        plan,
        actor,
        Outcome::Started,
        json!({ "plan": plan }),
    ))?;
    let fail = |registry: &mut Registry, error: EngineError, outcome: Outcome| {
        let _ = registry.append_journal(&entry(
            plan,
            actor,
            outcome,
            json!({ "error": error.to_string() }),
        ));
        Err(error)
    };

    // 1. Serving first: if the server refuses, nothing else has moved.
    let previous = serving.status(model.as_str()).await;
    let served = if previous.supervisor_alive {
        serving.apply(model, target).await
    } else {
        serving.start(model, target).await
    };
    if let Err(e) = served {
        return fail(
            registry,
            EngineError::Serving(e.to_string()),
            Outcome::Failed,
        );
    }

    crate::engine::failpoint::pause_if_armed("op:after-serving");

    // 2. Aliases, each a compare-and-swap on the revision read when planning.
    let moves = [
        (
            AliasName::production(),
            plan.before.production,
            plan.after.production,
        ),
        (AliasName::canary(), plan.before.canary, plan.after.canary),
    ];
    for (alias, from, to) in moves {
        if from == to {
            continue;
        }
        let expected = plan.revisions.get(alias.as_str()).copied().unwrap_or(0);
        let change = AliasChange {
            model: model.clone(),
            alias,
            to_version: to,
            expect: Expectation::Revision(expected),
        };
        if let Err(e) = registry.move_alias(&change, actor) {
            // Put serving back as it was, so registry and traffic do not disagree.
            let restore = match previous.serving {
                Some(old) => serving.apply(model, old).await.map(|_| ()),
                None => serving.stop(model).await,
            };
            if let Err(r) = restore {
                tracing::error!(model = %model, error = %r, "could not restore serving after an alias conflict");
            }
            let outcome = if matches!(e, EngineError::AliasConflict { .. }) {
                Outcome::Conflict
            } else {
                Outcome::Failed
            };
            return fail(registry, e, outcome);
        }
    }

    crate::engine::failpoint::pause_if_armed("op:after-aliases");

    // 3. Verify by reading the real state back.
    let now = serving.status(model.as_str()).await;
    let aliases = registry.aliases(model)?;
    let alias_version = |name: &str| {
        aliases
            .iter()
            .find(|a| a.alias.as_str() == name)
            .and_then(|a| a.version)
    };
    let mut problems = Vec::new();
    if now.serving != Some(target) {
        problems.push(format!(
            "the server reports {} instead of {}",
            now.serving
                .map(|p| p.describe())
                .unwrap_or_else(|| "nothing".into()),
            target.describe()
        ));
    }
    if alias_version(AliasName::PRODUCTION) != plan.after.production
        || alias_version(AliasName::CANARY) != plan.after.canary
    {
        problems.push("the aliases do not point where the plan says".into());
    }
    if !problems.is_empty() {
        let error = EngineError::VerifyFailed {
            model: model.to_string(),
            problem: problems.join("; "),
        };
        return fail(registry, error, Outcome::Failed);
    }

    // 4. Journal.
    registry.append_journal(&entry(
        plan,
        actor,
        Outcome::Succeeded,
        json!({ "sentence": plan.sentence, "warnings": plan.warnings, "pipeline_change_confirmed": plan.pipeline_change.is_some() }),
    ))?;
    Ok(OpOutcome {
        model: model.to_string(),
        operation: plan.request.name(),
        sentence: plan.sentence.clone(),
        before: plan.before,
        after: plan.after,
        endpoint: now.endpoint(),
        warnings: plan.warnings.clone(),
    })
}
