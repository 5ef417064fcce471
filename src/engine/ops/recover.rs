//! Interrupted operations: a `started` journal row with no ending means the process died
//! mid-operation. Recovery either finishes it (moves serving and aliases to the plan's result)
//! or reverts it (back to the plan's starting point), through the same pipeline.

use serde::Serialize;

use super::plan::{DeploymentState, OpPlan, describe};
use super::run::{OpOutcome, RunOptions, execute};
use crate::engine::serving::Serving;
use crate::engine::{Actor, EngineError, Registry};
use crate::model::{AliasName, JournalEntry, ModelName, Outcome};

/// An operation that started and never ended.
#[derive(Debug, Clone, Serialize)]
pub struct Interrupted {
    pub entry: JournalEntry,
    pub plan: OpPlan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Move to the state the operation was heading for.
    Finish,
    /// Go back to the state it started from.
    Revert,
}

/// Interrupted operations, newest first (optionally for one model).
pub fn interrupted(
    registry: &Registry,
    model: Option<&str>,
) -> Result<Vec<Interrupted>, EngineError> {
    let rows = registry.journal(&crate::engine::journal::JournalQuery {
        model: model.map(str::to_string),
        limit: Some(1000),
    })?;
    let mut found = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if row.outcome != Outcome::Started {
            continue;
        }
        // Rows are newest first: anything before index i is later in time.
        let ended = rows[..i].iter().any(|later| {
            later.model == row.model
                && later.operation == row.operation
                && later.outcome != Outcome::Started
        });
        if ended {
            continue;
        }
        if let Ok(plan) = serde_json::from_value::<OpPlan>(row.details["plan"].clone()) {
            found.push(Interrupted {
                entry: row.clone(),
                plan,
            });
        }
    }
    Ok(found)
}

/// Finishes or reverts the newest interrupted operation of `model`.
pub async fn recover(
    registry: &mut Registry,
    serving: &dyn Serving,
    actor: &Actor,
    model: &ModelName,
    how: Recovery,
) -> Result<OpOutcome, EngineError> {
    let plan = recovery_plan(registry, serving, model, how).await?;
    // The pipeline question was answered when the operation started; a recovery verifies like
    // any operation but never rolls back on its own: it is already the human's decision.
    let options = RunOptions {
        allow_pipeline_mismatch: true,
        auto_rollback: false,
    };
    execute(&plan, registry, serving, actor, options).await
}

/// The plan that finishes or reverts the newest interrupted operation of `model`, from where
/// things stand now: what the console previews before the user confirms.
pub async fn recovery_plan(
    registry: &mut Registry,
    serving: &dyn Serving,
    model: &ModelName,
    how: Recovery,
) -> Result<OpPlan, EngineError> {
    let Some(found) = interrupted(registry, Some(model.as_str()))?
        .into_iter()
        .next()
    else {
        return Err(EngineError::Refused {
            model: model.to_string(),
            reason: "no interrupted operation to recover".into(),
        });
    };
    let original = found.plan;
    let aliases = registry.aliases(model)?;
    let version = |name: &str| crate::model::version_of(&aliases, name);
    let serving_now = serving.status(model.as_str()).await.serving;
    let current = DeploymentState {
        production: version(AliasName::PRODUCTION),
        canary: version(AliasName::CANARY),
        canary_percent: serving_now
            .filter(|s| s.canary.is_some())
            .map(|s| s.canary_percent)
            .unwrap_or(0),
    };
    let target = match how {
        Recovery::Finish => original.after,
        Recovery::Revert => original.before,
    };
    let plan = OpPlan {
        before: current,
        after: target,
        revisions: aliases
            .iter()
            .map(|a| (a.alias.to_string(), a.revision))
            .collect(),
        sentence: describe(
            &current,
            &target,
            how == Recovery::Finish && original.request == super::OpRequest::Promote,
            &original.environment,
            original.read_only,
        ),
        warnings: vec![format!(
            "{} the {} interrupted at {} (journal #{})",
            if how == Recovery::Finish {
                "finishing"
            } else {
                "reverting"
            },
            original.request.name(),
            found.entry.time.format("%Y-%m-%d %H:%M:%S UTC"),
            found.entry.id
        )],
        pipeline_change: None,
        // Its gates were judged (and any override journaled) when it started; a recovery
        // completes or undoes that decision rather than asking again.
        gates: Vec::new(),
        ..original
    };
    Ok(plan)
}
