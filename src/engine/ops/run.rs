//! Running a planned operation: apply to the server, move the aliases (compare-and-swap),
//! verify both by reading them back, and journal the start and the outcome.

use serde::Serialize;
use serde_json::json;

use super::lock;
use super::plan::{DeploymentState, OpPlan};
use crate::engine::registry::aliases::{AliasChange, Expectation};
use crate::engine::serving::Serving;
use crate::engine::{Actor, EngineError, Registry};
use crate::model::{AliasName, NewJournalEntry, Outcome, ServingPlan};

/// What the user confirmed and what the environment asks for, beyond the plan itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// The explicit confirmation a feature-pipeline change needs.
    pub allow_pipeline_mismatch: bool,
    /// Put serving and aliases back when verify fails (the environment's `auto_rollback`).
    pub auto_rollback: bool,
}

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
    NewJournalEntry {
        user: actor.user.clone(),
        environment: actor.environment.clone(),
        operation: plan.request.name().to_string(),
        model: Some(plan.model.to_string()),
        from: plan.before.label(),
        to: plan.after.label(),
        outcome,
        details,
    }
}

/// The alias moves a plan makes: (alias, from, to).
fn alias_moves(plan: &OpPlan) -> [(AliasName, Option<u32>, Option<u32>); 2] {
    [
        (
            AliasName::production(),
            plan.before.production,
            plan.after.production,
        ),
        (AliasName::canary(), plan.before.canary, plan.after.canary),
    ]
}

/// Runs the plan.
pub async fn execute(
    plan: &OpPlan,
    registry: &mut Registry,
    serving: &dyn Serving,
    actor: &Actor,
    options: RunOptions,
) -> Result<OpOutcome, EngineError> {
    let model = &plan.model;
    actor.ensure_writable(&format!("{} {model}", plan.request.name()))?;
    if let Some((from, to)) = &plan.pipeline_change
        && !options.allow_pipeline_mismatch
    {
        return Err(EngineError::Refused {
            model: model.to_string(),
            reason: format!(
                "the feature pipeline changes from {from} to {to}; confirm that upstream features match (--allow-pipeline-mismatch)"
            ),
        });
    }
    let _lock = lock::acquire(registry.data_dir(), model.as_str(), plan.request.name())?;
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

    crate::engine::failpoint::pause_if_armed("op:after-start");

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
    for (alias, from, to) in alias_moves(plan) {
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
    let alias_version = |name: &str| crate::model::version_of(&aliases, name);
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
        let problem = problems.join("; ");
        // The failure is journaled first, so the journal reads in the order things happened:
        // the failed operation, then the automatic rollback's own row.
        let _ = registry.append_journal(&entry(
            plan,
            actor,
            Outcome::Failed,
            json!({ "error": format!("verify failed: {problem}"), "auto_rollback": options.auto_rollback }),
        ));
        let then = if options.auto_rollback {
            match roll_back(plan, registry, serving, actor, previous.serving, &problem).await {
                Ok(restored) => format!("rolled back automatically: {restored}"),
                Err(why) => format!(
                    "the automatic rollback failed too ({why}); see `flightdeck server list` and `flightdeck alias list {model}`"
                ),
            }
        } else {
            format!(
                "nothing was put back (auto_rollback is off for this environment); see `flightdeck server list` and `flightdeck alias list {model}`, then `flightdeck rollback {model}` if needed"
            )
        };
        return Err(EngineError::VerifyFailed {
            model: model.to_string(),
            problem,
            then,
        });
    }

    crate::engine::failpoint::pause_if_armed("op:after-verify");

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

/// After a failed verify: puts serving back to `previous` (or stops a server the operation
/// started) and each alias the plan moved back to where it was, unless somebody else has moved
/// it since (that move is theirs and is kept). Re-reads both, journals an `auto-rollback` row,
/// and says what is served now, or why the rollback failed.
async fn roll_back(
    plan: &OpPlan,
    registry: &mut Registry,
    serving: &dyn Serving,
    actor: &Actor,
    previous: Option<ServingPlan>,
    problem: &str,
) -> Result<String, String> {
    let model = &plan.model;
    let mut failures = Vec::new();
    let served = match previous {
        Some(old) => serving.apply(model, old).await.map(|_| ()),
        None => serving.stop(model).await,
    };
    if let Err(e) = served {
        failures.push(format!("serving: {e}"));
    }
    match registry.aliases(model) {
        Ok(aliases) => {
            for (alias, before, after) in alias_moves(plan) {
                if before == after {
                    continue;
                }
                let Some(current) = aliases.iter().find(|a| a.alias == alias) else {
                    continue;
                };
                if current.version != after {
                    failures.push(format!(
                        "{alias} was moved by someone else (now {}); left as they set it",
                        current
                            .version
                            .map(|v| format!("v{v}"))
                            .unwrap_or_else(|| "unset".into())
                    ));
                    continue;
                }
                let change = AliasChange {
                    model: model.clone(),
                    alias,
                    to_version: before,
                    expect: Expectation::Revision(current.revision),
                };
                if let Err(e) = registry.move_alias(&change, actor) {
                    failures.push(e.to_string());
                }
            }
        }
        Err(e) => failures.push(e.to_string()),
    }
    if failures.is_empty() {
        let now = serving.status(model.as_str()).await.serving;
        if now != previous {
            failures.push(format!(
                "the server reports {} instead of {}",
                now.map(|p| p.describe())
                    .unwrap_or_else(|| "nothing".into()),
                previous
                    .map(|p| p.describe())
                    .unwrap_or_else(|| "nothing".into())
            ));
        }
    }
    let result = if failures.is_empty() {
        Ok(match plan.before.label() {
            Some(state) => format!("{state} serves again, aliases as before"),
            None => "the server it started is stopped, aliases as before".to_string(),
        })
    } else {
        Err(failures.join("; "))
    };
    let _ = registry.append_journal(&NewJournalEntry {
        user: actor.user.clone(),
        environment: actor.environment.clone(),
        operation: "auto-rollback".into(),
        model: Some(model.to_string()),
        from: plan.after.label(),
        to: plan.before.label(),
        outcome: if result.is_ok() {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        },
        details: json!({
            "after": plan.request.name(),
            "verify_problem": problem,
            "result": match &result { Ok(s) | Err(s) => s },
        }),
    });
    result
}
