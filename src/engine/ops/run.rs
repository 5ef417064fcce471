//! Running a planned operation: check the user's consent to every gate that did not pass,
//! take the model's operation lock, apply to serving, move the aliases (compare-and-swap),
//! verify both by reading them back, and journal the start and the outcome, for every
//! registry backend alike.

use serde::Serialize;
use serde_json::json;

use super::gates::{GateResult, SMOKE};
use super::lock;
use super::plan::{DeploymentState, OpPlan};
use super::registry::{Move, OpRegistry, Role};
use crate::error::EngineError;
use crate::model::{NewJournalEntry, Outcome, ServingPlan};
use crate::serving::Serving;
use crate::store::Actor;
use crate::store::Registry;

/// What the user agreed to beyond the plan itself. Every consent given is journaled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Consent {
    /// Go ahead although gates other than the smoke test failed or lack data
    /// (`--override-gates`, the console's `o`).
    pub override_gates: bool,
    /// Go ahead without a passing smoke test (`--skip-smoke`, the console's `o`).
    pub skip_smoke: bool,
    /// The feature-pipeline change is confirmed (`--allow-pipeline-mismatch`, the console's `m`).
    pub pipeline_change: bool,
}

impl Consent {
    /// Whether the user consented to going ahead past `gate`.
    pub fn covers(&self, gate: &GateResult) -> bool {
        gate.passed()
            || match gate.name.as_str() {
                SMOKE => self.skip_smoke,
                // A damaged file is what a restart loads: overriding it would let the next
                // restart take production down. It is repaired, never gone past.
                super::gates::ARTIFACT => false,
                _ => self.override_gates,
            }
    }

    /// Whether the engine would run `plan` with this consent: every gate that did not pass is
    /// covered, and a pipeline change is confirmed. Front ends ask for confirmation only then.
    pub fn allows(&self, plan: &OpPlan) -> bool {
        plan.blocking_gates().all(|g| self.covers(g))
            && (plan.pipeline_change.is_none() || self.pipeline_change)
    }

    /// The command-line flag that gives consent for `gate`, for refusals.
    pub fn flag_for(gate: &GateResult) -> &'static str {
        match gate.name.as_str() {
            SMOKE => "--skip-smoke",
            super::gates::ARTIFACT => {
                "nothing (it cannot be overridden: register the original file again)"
            }
            _ => "--override-gates",
        }
    }
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
    pub gates: Vec<GateResult>,
    /// Gates that did not pass and that the user went past.
    pub overridden: Vec<String>,
}

/// What an executor needs besides the plan.
pub(super) struct Executor<'a> {
    pub journal: &'a mut Registry,
    pub registry: &'a dyn OpRegistry,
    pub serving: &'a dyn Serving,
    pub actor: &'a Actor,
    /// Put serving and aliases back when verify fails (the environment's `auto_rollback`).
    pub auto_rollback: bool,
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
        operation: plan.journal_name().to_string(),
        model: Some(plan.model.to_string()),
        from: plan.before.label(),
        to: plan.after.label(),
        outcome,
        details,
    }
}

/// The aliases a plan moves: (alias, from, to).
fn alias_moves(plan: &OpPlan) -> Vec<(Role, Option<u32>, Option<u32>)> {
    Role::BOTH
        .iter()
        .map(|r| (*r, r.of(&plan.before), r.of(&plan.after)))
        .filter(|(_, from, to)| from != to)
        .collect()
}

fn version_text(v: Option<u32>) -> String {
    v.map(|v| format!("v{v}")).unwrap_or_else(|| "unset".into())
}

impl Executor<'_> {
    /// Runs the plan with the user's consent.
    pub async fn execute(
        &mut self,
        plan: &OpPlan,
        consent: Consent,
    ) -> Result<OpOutcome, EngineError> {
        let model = &plan.model;
        let actor = self.actor;
        actor.ensure_writable(&format!("{} {model}", plan.request.name()))?;
        let overridden: Vec<String> = plan.blocking_gates().map(|g| g.name.clone()).collect();
        self.check_consent(plan, consent)?;
        let _lock = lock::acquire(self.journal.data_dir(), model.as_str(), plan.request.name())?;
        // Nothing to serve is a result only a recovery may have: the revert of a first deploy.
        let target = plan.after.serving_plan();
        if target.is_none() && plan.recovery.is_none() {
            return Err(EngineError::Refused {
                model: model.to_string(),
                reason: "the result would have no production version to serve".into(),
            });
        }
        self.check_aliases_unmoved(plan).await?;
        // The smoke gate went past: skipped (never run) or overridden (run, and it failed).
        let smoke = plan
            .blocking_gates()
            .find(|g| g.name == SMOKE)
            .map(super::gates::smoke_was_run);
        let consented = json!({
            "overridden": overridden,
            "smoke_skipped": smoke == Some(false),
            "smoke_overridden": smoke == Some(true),
            "pipeline_change_confirmed": plan.pipeline_change.is_some(),
        });
        self.journal.append_journal(&entry(
            plan,
            actor,
            Outcome::Started,
            json!({ "plan": plan, "consent": consented }),
        ))?;

        crate::failpoint::pause_if_armed("op:after-start");

        // 1. Serving first: if the server refuses, nothing else has moved.
        let previous = self.serving.status(model.as_str()).await;
        if let Err((error, outcome)) = self.apply_serving(plan, target, &previous).await {
            return self.fail(plan, error, outcome);
        }

        crate::failpoint::pause_if_armed("op:after-serving");

        // 2. Aliases, each a compare-and-swap on the token read when planning.
        if let Err((error, outcome)) = self.move_aliases(plan, previous.serving).await {
            return self.fail(plan, error, outcome);
        }

        crate::failpoint::pause_if_armed("op:after-aliases");

        // 3. Verify by reading the real state back.
        let now = self.serving.status(model.as_str()).await;
        let problems = self.verify(plan, target, &now).await;
        if !problems.is_empty() {
            return Err(self.verify_failed(plan, previous.serving, problems).await);
        }

        crate::failpoint::pause_if_armed("op:after-verify");

        // 4. Journal.
        self.journal.append_journal(&entry(
            plan,
            actor,
            Outcome::Succeeded,
            json!({
                "sentence": plan.sentence,
                "warnings": plan.warnings,
                "before": plan.before,
                "after": plan.after,
                "gates": plan.gates,
                "consent": consented,
                "recovery": plan.recovery,
            }),
        ))?;
        Ok(OpOutcome {
            model: model.to_string(),
            operation: plan.request.name(),
            sentence: plan.sentence.clone(),
            before: plan.before,
            after: plan.after,
            endpoint: now.endpoint(),
            warnings: plan.warnings.clone(),
            gates: plan.gates.clone(),
            overridden,
        })
    }

    /// Refuses the plan unless the user consented to every gate that did not pass (the refusal
    /// journaled, every stopping gate named) and to a change of feature pipeline.
    fn check_consent(&mut self, plan: &OpPlan, consent: Consent) -> Result<(), EngineError> {
        let model = &plan.model;
        let actor = self.actor;
        let refused: Vec<&GateResult> = plan
            .blocking_gates()
            .filter(|g| !consent.covers(g))
            .collect();
        if let Some(gate) = refused.first() {
            // A blocked operation is evidence too: who tried what, and which gates stopped it.
            let _ = self.journal.append_journal(&entry(
                plan,
                actor,
                Outcome::Failed,
                json!({ "blocked": true, "gate": gate.name, "gates": plan.gates }),
            ));
            let verdict = |g: &GateResult| match g.status {
                super::gates::GateStatus::NotEnoughData => "has not enough data yet",
                _ => "failed",
            };
            // Every gate that stops it is named, not only the first.
            let mut detail = gate.evidence.clone();
            for other in &refused[1..] {
                detail.push_str(&format!(
                    "; also the {} gate {}: {}",
                    other.name,
                    verdict(other),
                    other.evidence
                ));
            }
            let mut flags: Vec<&str> = refused.iter().map(|g| Consent::flag_for(g)).collect();
            flags.dedup();
            return Err(EngineError::GateFailed {
                model: model.to_string(),
                gate: gate.name.clone(),
                verdict: verdict(gate).into(),
                detail,
                flag: flags.join(" and "),
            });
        }
        if let Some((from, to)) = &plan.pipeline_change
            && !consent.pipeline_change
        {
            return Err(EngineError::Refused {
                model: model.to_string(),
                reason: format!(
                    "the feature pipeline changes from {from} to {to}; confirm that upstream features match (--allow-pipeline-mismatch)"
                ),
            });
        }
        Ok(())
    }

    /// Nothing moves if the aliases are not where the preview saw them.
    async fn check_aliases_unmoved(&mut self, plan: &OpPlan) -> Result<(), EngineError> {
        let model = &plan.model;
        let held = self.registry.held(model).await?;
        for role in Role::BOTH {
            let planned = plan.revisions.get(role.key()).copied().unwrap_or(0);
            if held.revision(role) != planned || held.of(role) != role.of(&plan.before) {
                return Err(EngineError::AliasConflict {
                    model: model.to_string(),
                    alias: role.key().to_string(),
                    expected: planned,
                    actual: held.revision(role),
                    moved: format!(
                        " (now {}, the preview saw {})",
                        version_text(held.of(role)),
                        version_text(role.of(&plan.before))
                    ),
                });
            }
        }
        Ok(())
    }

    /// Serving first: if the server refuses, nothing else has moved.
    async fn apply_serving(
        &mut self,
        plan: &OpPlan,
        target: Option<ServingPlan>,
        previous: &crate::model::ServingStatus,
    ) -> Result<(), (EngineError, Outcome)> {
        let model = &plan.model;
        let served = match target {
            Some(target) if previous.supervisor_alive => {
                self.serving.apply(model, target).await.map(|_| ())
            }
            Some(target) => self.serving.start(model, target).await.map(|_| ()),
            // Stopped; a server already gone is as good.
            None => match self.serving.stop(model).await {
                Err(crate::serving::ServingError::NotRunning(_)) => Ok(()),
                other => other,
            },
        };
        served.map_err(|e| match e {
            crate::serving::ServingError::Conflict { .. } => (
                EngineError::ServingConflict(e.to_string()),
                Outcome::Conflict,
            ),
            e => (EngineError::Serving(e.to_string()), Outcome::Failed),
        })
    }

    /// Moves each alias as a compare-and-swap on the token read when planning; on a refusal,
    /// serving goes back to `previous`, so registry and traffic do not disagree.
    async fn move_aliases(
        &mut self,
        plan: &OpPlan,
        previous: Option<ServingPlan>,
    ) -> Result<(), (EngineError, Outcome)> {
        let model = &plan.model;
        for (role, _, to) in alias_moves(plan) {
            let expected = plan.revisions.get(role.key()).copied().unwrap_or(0);
            if let Err(e) = self
                .registry
                .set(model, Move { role, to, expected }, self.actor)
                .await
            {
                // Put serving back as it was, so registry and traffic do not disagree.
                let restore = match previous {
                    Some(old) => self.serving.apply(model, old).await.map(|_| ()),
                    None => self.serving.stop(model).await,
                };
                if let Err(r) = restore {
                    tracing::error!(model = %model, error = %r, "could not restore serving after an alias conflict");
                }
                let outcome = if matches!(e, EngineError::AliasConflict { .. }) {
                    Outcome::Conflict
                } else {
                    Outcome::Failed
                };
                return Err((e, outcome));
            }
        }

        Ok(())
    }

    /// What differs between the plan and the state read back (empty when they agree).
    async fn verify(
        &mut self,
        plan: &OpPlan,
        target: Option<ServingPlan>,
        now: &crate::model::ServingStatus,
    ) -> Vec<String> {
        let model = &plan.model;
        let mut problems = Vec::new();
        if now.serving != target {
            problems.push(format!(
                "the server reports {} instead of {}",
                now.serving
                    .map(|p| p.describe())
                    .unwrap_or_else(|| "nothing".into()),
                target
                    .map(|p| p.describe())
                    .unwrap_or_else(|| "nothing".into())
            ));
        }
        match self.registry.held(model).await {
            Ok(held)
                if held.production == plan.after.production && held.canary == plan.after.canary => {
            }
            Ok(held) => problems.push(format!(
                "the aliases say production {}, canary {} instead of what the plan says",
                version_text(held.production),
                version_text(held.canary)
            )),
            Err(e) => problems.push(format!("the aliases cannot be read back: {e}")),
        }
        problems
    }

    /// Journals a failed verify, then rolls back automatically when the environment says so.
    async fn verify_failed(
        &mut self,
        plan: &OpPlan,
        previous: Option<ServingPlan>,
        problems: Vec<String>,
    ) -> EngineError {
        let model = &plan.model;
        let actor = self.actor;
        let problem = problems.join("; ");
        // The failure is journaled first, so the journal reads in the order things happened:
        // the failed operation, then the automatic rollback's own row.
        let _ = self.journal.append_journal(&entry(
            plan,
            actor,
            Outcome::Failed,
            json!({ "error": format!("verify failed: {problem}"), "auto_rollback": self.auto_rollback }),
        ));
        let then = if self.auto_rollback {
            match self.roll_back(plan, previous, &problem).await {
                Ok(restored) => format!("rolled back automatically: {restored}"),
                Err(why) => format!(
                    "the automatic rollback failed too ({why}); see `flightdeck status {model}` and `flightdeck journal --model {model}`"
                ),
            }
        } else {
            format!(
                "nothing was put back (auto_rollback is off for this environment); see `flightdeck status {model}` and `flightdeck journal --model {model}`, then `flightdeck rollback {model}` if needed"
            )
        };
        EngineError::VerifyFailed {
            model: model.to_string(),
            problem,
            then,
        }
    }

    /// Journals how the operation ended and returns its error.
    fn fail(
        &mut self,
        plan: &OpPlan,
        error: EngineError,
        outcome: Outcome,
    ) -> Result<OpOutcome, EngineError> {
        let _ = self.journal.append_journal(&entry(
            plan,
            self.actor,
            outcome,
            json!({ "error": error.to_string() }),
        ));
        Err(error)
    }

    /// After a failed verify: puts serving back to `previous` (or stops a server the operation
    /// started) and each alias the plan moved back to where it was, unless somebody else has
    /// moved it since (that move is theirs and is kept). Re-reads both, journals an
    /// `auto-rollback` row, and says what is served now, or why the rollback failed.
    async fn roll_back(
        &mut self,
        plan: &OpPlan,
        previous: Option<ServingPlan>,
        problem: &str,
    ) -> Result<String, String> {
        let model = &plan.model;
        let mut failures = Vec::new();
        let served = match previous {
            Some(old) => self.serving.apply(model, old).await.map(|_| ()),
            None => self.serving.stop(model).await,
        };
        if let Err(e) = served {
            failures.push(format!("serving: {e}"));
        }
        match self.registry.held(model).await {
            Ok(held) => {
                for (role, before, after) in alias_moves(plan) {
                    if held.of(role) != after {
                        failures.push(format!(
                            "{} was moved by someone else (now {}); left as they set it",
                            role.key(),
                            version_text(held.of(role))
                        ));
                        continue;
                    }
                    if let Err(e) = self
                        .registry
                        .set(
                            model,
                            Move {
                                role,
                                to: before,
                                expected: held.revision(role),
                            },
                            self.actor,
                        )
                        .await
                    {
                        failures.push(e.to_string());
                    }
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
        if failures.is_empty() {
            let now = self.serving.status(model.as_str()).await.serving;
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
        let _ = self.journal.append_journal(&NewJournalEntry {
            user: self.actor.user.clone(),
            environment: self.actor.environment.clone(),
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
}
