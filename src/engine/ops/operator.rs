//! The one operator every front end calls: it plans a request (the current state, the sentence,
//! every gate that applies with its evidence, a missing smoke test run now) and runs a plan
//! with the user's consent. The CLI, the console and the demo only build the request, show the
//! plan, collect consent and show the outcome; which gates an operation has is decided here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::gates::{self, GateResult};
use super::history::{last_healthy, production_moves};
use super::plan::{DeploymentState, OpPlan, OpRequest, RecoveryOf, change, describe};
use super::recover::{Recovery, unended};
use super::registry::{EmbeddedOpRegistry, OpRegistry};
use super::run::{Consent, Executor, OpOutcome};
use crate::error::EngineError;
use crate::model::ModelName;
use crate::serving::Serving;
use crate::settings::{Environment, Gates, RegistryBackend, Settings};
use crate::store::Actor;
use crate::store::Registry;

/// How a plan is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Do not run a missing smoke test (`--skip-smoke`): the smoke gate then says it was not
    /// run, and the run needs the user's consent to go without it.
    pub skip_smoke: bool,
}

/// Requests production must have answered before its refusals say what its clients send.
const REFUSALS_JUDGED: f64 = 20.0;
/// The share of 4xx answers above which production is taken to be refusing its clients.
const REFUSING: f64 = 0.5;

/// What production's clients send, as far as the registry and the server tell.
enum Clients {
    /// Their inputs; `basis` says why they are not production's own, when they are not.
    Known {
        who: String,
        inputs: Vec<crate::model::TensorSpec>,
        basis: Option<String>,
    },
    /// Production refuses them and nothing tells what they send.
    Unknown { why: String },
    /// Production's inputs could not be read.
    Failed { who: String, why: String },
}

/// A progress line for the user ("smoke test: running sentinel cases").
pub use crate::model::Progress;

/// The promote gates judged over a window, and the counters they were judged on.
#[derive(Debug, Clone)]
pub struct WindowGates {
    pub gates: Vec<GateResult>,
    /// Each version's counters as read now (totals since it was loaded).
    pub now: std::collections::BTreeMap<u32, crate::model::VersionCounters>,
    /// What each version counted within the window.
    pub within: std::collections::BTreeMap<u32, crate::model::VersionCounters>,
    /// Why the evidence could not be read (the metrics, or the drift reports), when it could
    /// not: the gates then fail for want of evidence, not because the canary did.
    pub unreadable: Option<String>,
}

/// Plans and runs operations in one environment.
#[derive(Clone)]
pub struct Operator {
    actor: Actor,
    limits: Gates,
    auto_rollback: bool,
    data_dir: PathBuf,
    lock_timeout: Duration,
    serving: Arc<dyn Serving>,
    registry: Arc<dyn OpRegistry>,
}

impl Operator {
    /// The operator of `environment` (one of `settings`' environments), acting as the settings'
    /// user, with the environment's serving, registry, read-only flag and auto-rollback.
    pub fn for_environment(
        settings: &Settings,
        environment: &Environment,
        program: PathBuf,
    ) -> Result<Operator, String> {
        let lock_timeout = Duration::from_millis(settings.lock_timeout_ms);
        let serving = crate::serving::for_environment(
            environment,
            &settings.data_dir,
            program.clone(),
            settings.config_path.clone(),
        );
        let registry: Arc<dyn OpRegistry> = match environment.registry {
            RegistryBackend::Embedded => Arc::new(EmbeddedOpRegistry::new(
                settings.data_dir.clone(),
                lock_timeout,
                program,
            )),
            RegistryBackend::Mlflow => {
                let mlflow = crate::engine::ops::mlflow::MlflowOpRegistry::new(environment)?;
                Arc::new(match environment.serving {
                    // Local servers serve from the local registry: versions are copied there.
                    crate::settings::ServingBackend::Local => mlflow.serving_locally(
                        settings.data_dir.clone(),
                        lock_timeout,
                        program,
                        Actor::new(settings.user.clone(), environment.name.clone()),
                    ),
                    crate::settings::ServingBackend::Kubernetes => mlflow,
                })
            }
        };
        let actor = Actor::new(settings.user.clone(), environment.name.clone())
            .with_read_only(environment.read_only);
        Ok(Operator {
            actor,
            limits: settings.gates.clone(),
            auto_rollback: environment.auto_rollback,
            data_dir: settings.data_dir.clone(),
            lock_timeout,
            serving,
            registry,
        })
    }

    /// The operator of the settings' own environment.
    pub fn new(settings: &Settings, program: PathBuf) -> Result<Operator, String> {
        Self::for_environment(settings, &settings.environment, program)
    }

    /// Acts as `actor` instead (e.g. `--readonly` on top of the environment).
    pub fn with_actor(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// What serves this environment's models.
    pub fn serving(&self) -> &Arc<dyn Serving> {
        &self.serving
    }

    /// Where the registry of record's aliases point for `model` (MLflow's in an MLflow
    /// environment).
    pub async fn held(&self, model: &ModelName) -> Result<super::Held, EngineError> {
        self.registry.held(model).await
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The local registry, which keeps the journal whatever registry holds the aliases.
    fn journal(&self) -> Result<Registry, EngineError> {
        Registry::open_with_timeout(&self.data_dir, self.lock_timeout)
    }

    /// Plans `request`: nothing is written (a missing smoke test is run and its report kept).
    pub async fn plan(
        &self,
        model: &ModelName,
        request: OpRequest,
        options: PlanOptions,
        progress: Progress<'_>,
    ) -> Result<OpPlan, EngineError> {
        self.actor
            .ensure_writable(&format!("{} {model}", request.name()))?;
        self.refuse_over_interrupted(model)?;
        let held = self.registry.held(model).await?;
        let status = self
            .serving
            .status_or_unreadable(model.as_str())
            .await
            .map_err(|reason| EngineError::Refused {
                model: model.to_string(),
                reason: format!(
                    "cannot read what serves {model}: {reason}; nothing was changed, try again once it answers"
                ),
            })?;
        let rollback_to = match request {
            OpRequest::Rollback { to: None } => {
                self.rollback_target(model, held.production).await?
            }
            _ => Err(String::new()),
        };
        let (before, after) = change(model, request, &held, status.serving, rollback_to)?;
        self.refuse_what_the_cluster_cannot(model, request, &status, &before, &after)?;
        // A version about to take traffic must exist, and its facts are its gates' evidence.
        let newcomer = match request {
            OpRequest::Deploy { version, .. } => Some(version),
            // A rollback's target, named or found in the journal.
            OpRequest::Rollback { .. } => after.production,
            OpRequest::Promote | OpRequest::Abort => None,
        }
        .filter(|v| after.serves(*v) && !before.serves(*v));
        let newcomer_facts = match newcomer {
            Some(v) => Some(self.registry.facts(model, v).await?),
            None => None,
        };
        let pipeline_change = self.pipeline_change(model, &before, &after).await?;
        let mut warnings = Vec::new();
        if let Some((a, b)) = &pipeline_change {
            warnings.push(format!(
                "the feature pipeline changes from {a} to {b}: the upstream features must match the new production version"
            ));
        }
        let mut gates = Vec::new();
        if let (Some(version), Some(facts)) = (newcomer, &newcomer_facts) {
            gates.extend(
                self.newcomer_gates(model, version, facts, &before, options, progress)
                    .await?,
            );
        }
        if let (OpRequest::Promote, Some(production), Some(canary)) =
            (request, before.production, before.canary)
        {
            gates = self.promote_gates(model, production, canary).await?;
        }
        let mut sentence = describe(
            &before,
            &after,
            request == OpRequest::Promote,
            &self.actor.environment,
            self.actor.read_only,
        );
        if let Some(note) = self.registry.aliases_note() {
            sentence.push_str(&format!("; {note}"));
        }
        Ok(OpPlan {
            model: model.clone(),
            request,
            before,
            after,
            revisions: held.revisions,
            sentence,
            warnings,
            pipeline_change,
            environment: self.actor.environment.clone(),
            read_only: self.actor.read_only,
            gates,
            recovery: None,
        })
    }

    /// A half-done operation is resolved first: a new one on top would end it in the journal's
    /// eyes and leave its half-moved state behind without a word.
    /// One still running is refused as under way, naming who runs it: its `started` row is not
    /// a half-done operation to recover.
    fn refuse_over_interrupted(&self, model: &ModelName) -> Result<(), EngineError> {
        let unended = unended(&self.journal()?, Some(model.as_str()))?;
        if let Some(running) = unended.under_way.into_iter().next() {
            return Err(EngineError::OperationInProgress {
                model: model.to_string(),
                holder: running.holder,
            });
        }
        if let Some(pending) = unended
            .interrupted
            .into_iter()
            .find(|i| i.entry.environment == self.actor.environment)
        {
            return Err(EngineError::Refused {
                model: model.to_string(),
                reason: format!(
                    "the {} interrupted at {} (journal #{}) is not finished: `flightdeck recover {model} --finish|--revert` (or :finish / :revert in the console) first",
                    if pending.plan.recovery.is_some() {
                        "recovery"
                    } else {
                        pending.plan.request.name()
                    },
                    pending.entry.time.format("%Y-%m-%d %H:%M:%S UTC"),
                    pending.entry.id
                ),
            });
        }
        Ok(())
    }

    /// What the cluster would refuse or get wrong is refused before any preview offers to go
    /// ahead: credentials that may not patch, a canary in a mode that ignores its percent.
    fn refuse_what_the_cluster_cannot(
        &self,
        model: &ModelName,
        request: OpRequest,
        status: &crate::model::ServingStatus,
        before: &DeploymentState,
        after: &DeploymentState,
    ) -> Result<(), EngineError> {
        if let Some(kube) = &status.kube
            && kube
                .may_not
                .iter()
                .any(|m| m == crate::k8s::access::PATCH_ISVC)
        {
            // For these credentials the environment is read-only: exit 4, as any read-only one.
            return Err(EngineError::ReadOnly {
                environment: self.actor.environment.clone(),
                action: format!("{} {model}", request.name()),
                remedy: format!(
                    "Your Kubernetes credentials may not patch inferenceservices in namespace {} (the API server's access review says no): ask for RBAC access, or use another kube_context.",
                    kube.namespace
                ),
            });
        }
        // Said before anyone confirms: KServe would send a "canary" all the traffic in this mode.
        if let Some(kube) = &status.kube
            && !kube.mode.supports_canary()
            && after.canary.is_some()
            && (after.canary != before.canary || after.canary_percent != before.canary_percent)
        {
            return Err(EngineError::Refused {
                model: model.to_string(),
                reason: format!(
                    "{model} runs in KServe's {} mode, which ignores canaryTrafficPercent; deploy with --direct (no canary) or switch the InferenceService to Serverless",
                    kube.mode.as_str()
                ),
            });
        }
        Ok(())
    }

    /// The limits the gates judge against (`[gates]`).
    pub fn limits(&self) -> &Gates {
        &self.limits
    }

    /// The promote gates over a window: what each version counted since `baseline` (its
    /// counters when the window began), with the window named in the evidence as `window`.
    /// Also returns the counters read now (the next window's baseline) and the window's own.
    pub async fn window_gates(
        &self,
        model: &ModelName,
        production: u32,
        canary: u32,
        baseline: &std::collections::BTreeMap<u32, crate::model::VersionCounters>,
        window: &str,
    ) -> WindowGates {
        let mut evidence = self.serving.evidence(model.as_str()).await;
        // No series yet is no traffic yet: nothing counted, not a source that fails.
        if evidence
            .counters
            .as_ref()
            .is_err_and(|e| crate::clients::metrics::is_no_series(e))
        {
            evidence.counters = Ok(Default::default());
        }
        if evidence
            .drift
            .as_ref()
            .is_err_and(|e| crate::clients::metrics::is_no_series(e))
        {
            evidence.drift = Ok(Vec::new());
        }
        let unreadable = match (&evidence.counters, &evidence.drift) {
            (Err(e), _) => Some(format!("cannot read the serving metrics: {e}")),
            (_, Err(e)) => Some(format!("cannot read the drift reports: {e}")),
            _ => None,
        };
        let mut now = std::collections::BTreeMap::new();
        let mut within = std::collections::BTreeMap::new();
        if let Ok(snapshot) = &mut evidence.counters {
            for v in [production, canary] {
                let key = (model.to_string(), v.to_string());
                let counted = snapshot.versions.get(&key).cloned().unwrap_or_default();
                let since = counted.since(&baseline.get(&v).cloned().unwrap_or_default());
                now.insert(v, counted);
                within.insert(v, since.clone());
                snapshot.versions.insert(key, since);
            }
        }
        let gates = gates::promote_gates(evidence, model, production, canary, &self.limits, window);
        WindowGates {
            gates,
            now,
            within,
            unreadable,
        }
    }

    /// A promote's gates: the canary's serving against production's, its stored file whole,
    /// and its evaluation when it has one.
    async fn promote_gates(
        &self,
        model: &ModelName,
        production: u32,
        canary: u32,
    ) -> Result<Vec<GateResult>, EngineError> {
        let evidence = self.serving.evidence(model.as_str()).await;
        let mut gates = gates::promote_gates(
            evidence,
            model,
            production,
            canary,
            &self.limits,
            gates::SINCE_LOADED,
        );
        // What serves after a restart is loaded from the stored file: it must be whole.
        if let Some(checked) = self.registry.artifact(model, canary).await? {
            gates.push(gates::artifact_gate(checked));
        }
        if let Some(evaluation) = self.registry.evaluation(model, canary).await?
            && let Some(gate) =
                gates::evaluation_gate(&evaluation, production, self.limits.max_metric_drop)
        {
            gates.push(gate);
        }
        Ok(gates)
    }

    /// The gates of a version about to take traffic (a deploy's or a rollback's target): its
    /// smoke test, and whether it takes what production's clients send.
    async fn newcomer_gates(
        &self,
        model: &ModelName,
        version: u32,
        facts: &super::registry::VersionFacts,
        before: &DeploymentState,
        options: PlanOptions,
        progress: Progress<'_>,
    ) -> Result<Vec<GateResult>, EngineError> {
        let task = format!("smoke test v{version}");
        let smoke_progress = |step: &crate::model::Step| progress(&step.within(&task));
        let smoke = self
            .registry
            .smoke(model, version, !options.skip_smoke, &smoke_progress)
            .await?;
        let mut gates = vec![gates::smoke_gate(version, smoke.as_ref())];
        if let Some(checked) = self.registry.artifact(model, version).await? {
            gates.push(gates::artifact_gate(checked));
        }
        let clients = match before.production.filter(|p| *p != version) {
            Some(p) => Some(self.clients_of(model, p).await?),
            None => None,
        };
        let mut signature = match (&facts.inputs, &clients) {
            (
                Ok(inputs),
                Some(Clients::Known {
                    who, inputs: sent, ..
                }),
            ) => gates::signature_gate(version, inputs, Some((who, sent))),
            (Ok(inputs), None) => gates::signature_gate(version, inputs, None),
            (Ok(inputs), Some(Clients::Unknown { why })) => GateResult {
                name: gates::SIGNATURE.into(),
                status: gates::GateStatus::Pass,
                evidence: format!(
                    "{why}, and no earlier production that ended healthy says what they send: nothing to compare v{version}'s inputs with ({})",
                    inputs
                        .iter()
                        .map(|i| format!("{} {} {}", i.name, i.datatype, i.shape_text()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            (Err(why), _) => GateResult {
                name: gates::SIGNATURE.into(),
                status: gates::GateStatus::Fail,
                evidence: format!("v{version}'s inputs are unknown: {why}"),
            },
            (Ok(_), Some(Clients::Failed { who, why })) => GateResult {
                name: gates::SIGNATURE.into(),
                status: gates::GateStatus::Fail,
                evidence: format!("what {who} send is unknown, nothing to compare with: {why}"),
            },
        };
        if let Some(Clients::Known {
            basis: Some(basis), ..
        }) = &clients
        {
            signature.evidence = format!("{basis}. {}", signature.evidence);
        }
        gates.push(signature);
        if let Some(production) = before.production.filter(|p| *p != version) {
            let report = self.shadow_report(model, version)?;
            gates.extend(gates::shadow_gate(
                version,
                production,
                report.as_ref(),
                &self.limits,
            ));
        }
        Ok(gates)
    }

    /// The final report of the newest shadow `version` ran (journaled when it stopped).
    fn shadow_report(
        &self,
        model: &ModelName,
        version: u32,
    ) -> Result<Option<crate::model::ShadowReport>, EngineError> {
        if self.limits.min_shadow_agreement.is_none() {
            return Ok(None);
        }
        let rows = self
            .journal()?
            .journal(&crate::store::journal::JournalQuery {
                model: Some(model.to_string()),
                limit: Some(1000),
            })?;
        let reports: Vec<crate::model::ShadowReport> = rows
            .iter()
            .filter(|r| r.operation == "shadow stopped")
            .filter_map(|r| {
                serde_json::from_value::<crate::model::ShadowReport>(r.details["shadow"].clone())
                    .ok()
            })
            .filter(|r| r.version == version)
            .collect();
        // The newest phase long enough to judge; else the newest at all (it says what is
        // missing).
        let long_enough = reports
            .iter()
            .find(|r| r.rows >= self.limits.min_shadow_rows)
            .cloned();
        Ok(long_enough.or_else(|| reports.into_iter().next()))
    }

    /// Who production's clients are and the inputs they send: production's own inputs, unless
    /// production refuses most of what it is sent (4xx), which says its clients send something
    /// else: then the inputs of the last production version that ended healthy, which they
    /// were served by. (A broken production must not block the rollback away from it.)
    async fn clients_of(&self, model: &ModelName, production: u32) -> Result<Clients, EngineError> {
        let who = format!("production v{production}'s clients");
        let evidence = self.serving.evidence(model.as_str()).await;
        let refused = evidence.counters.ok().and_then(|snapshot| {
            let c = snapshot
                .versions
                .get(&(model.to_string(), production.to_string()))?
                .clone();
            (c.requests >= REFUSALS_JUDGED && c.client_errors / c.requests >= REFUSING)
                .then_some((c.client_errors / c.requests, c.requests))
        });
        let Some((share, requests)) = refused else {
            return Ok(match self.registry.facts(model, production).await?.inputs {
                Ok(inputs) => Clients::Known {
                    who,
                    inputs,
                    basis: None,
                },
                Err(why) => Clients::Failed { who, why },
            });
        };
        let refusing = format!(
            "production v{production} refuses {:.0}% of its {requests:.0} requests (4xx): its clients do not send its inputs",
            share * 100.0
        );
        let Ok(healthy) = self.rollback_target(model, Some(production)).await? else {
            return Ok(Clients::Unknown { why: refusing });
        };
        Ok(match self.registry.facts(model, healthy).await?.inputs {
            Ok(inputs) => Clients::Known {
                who,
                inputs,
                basis: Some(format!(
                    "{refusing}; they send what v{healthy}, the last production that ended healthy, took"
                )),
            },
            Err(why) => Clients::Failed { who, why },
        })
    }

    /// The feature-pipeline versions (from, to) when production changes between versions
    /// built with different ones.
    async fn pipeline_change(
        &self,
        model: &ModelName,
        before: &DeploymentState,
        after: &DeploymentState,
    ) -> Result<Option<(String, String)>, EngineError> {
        let (Some(from), Some(to)) = (before.production, after.production) else {
            return Ok(None);
        };
        if from == to {
            return Ok(None);
        }
        let pipeline = |facts: super::registry::VersionFacts| {
            facts.pipeline_version.unwrap_or_else(|| "(none)".into())
        };
        let a = pipeline(self.registry.facts(model, from).await?);
        let b = pipeline(self.registry.facts(model, to).await?);
        Ok((a != b).then_some((a, b)))
    }

    /// Where a rollback with no target goes: the last production version that ended healthy,
    /// from this environment's journal (else the registry's own alias history), never one that
    /// was rolled back from or failed its smoke test. `Err` says why there is none.
    async fn rollback_target(
        &self,
        model: &ModelName,
        current: Option<u32>,
    ) -> Result<Result<u32, String>, EngineError> {
        let rows = self
            .journal()?
            .journal(&crate::store::journal::JournalQuery {
                model: Some(model.to_string()),
                limit: Some(5000),
            })?;
        let moves = production_moves(&rows, &self.actor.environment);
        let mut failed_smoke = std::collections::BTreeSet::new();
        let mut candidates: Vec<u32> = moves.iter().filter_map(|m| m.from).collect();
        let earlier = self.registry.earlier_production(model).await?;
        candidates.extend(earlier.iter().copied());
        for v in candidates {
            if failed_smoke.contains(&v) || Some(v) == current {
                continue;
            }
            if let Some(smoke) = self.registry.smoke(model, v, false, &|_| {}).await?
                && !smoke.passed
            {
                failed_smoke.insert(v);
            }
        }
        let smoke_failed = |v: u32| failed_smoke.contains(&v);
        let (found, mut passed) = last_healthy(&moves, current, &smoke_failed);
        if let Some(v) = found {
            return Ok(Ok(v));
        }
        // No production history in the journal (aliases moved before it was kept, or by
        // another tool): the registry's own record, with the same exclusions.
        let rolled_back: Vec<u32> = passed.iter().map(|p| p.version).collect();
        for v in earlier {
            if Some(v) == current || rolled_back.contains(&v) {
                continue;
            }
            if smoke_failed(v) {
                passed.push(super::history::Passed {
                    version: v,
                    why: format!("v{v} failed its latest smoke test"),
                });
                continue;
            }
            return Ok(Ok(v));
        }
        let why: Vec<String> = passed.into_iter().map(|p| p.why).collect();
        Ok(Err(if why.is_empty() {
            "no previous production version to roll back to (name one with --to; in the console, r on the versions pane)".to_string()
        } else {
            format!(
                "no previous production version ended healthy ({}); name one with --to (in the console, r on the versions pane)",
                why.join("; ")
            )
        }))
    }

    /// Runs `plan` with the user's `consent`: a gate that did not pass and was not consented
    /// to refuses it before anything moves.
    pub async fn run(&self, plan: &OpPlan, consent: Consent) -> Result<OpOutcome, EngineError> {
        let mut journal = self.journal()?;
        let mut executor = Executor {
            journal: &mut journal,
            registry: self.registry.as_ref(),
            serving: self.serving.as_ref(),
            actor: &self.actor,
            // A recovery is already a human's decision: it verifies, but never undoes itself.
            auto_rollback: self.auto_rollback && plan.recovery.is_none(),
        };
        executor.execute(plan, consent).await
    }

    /// The plan that finishes or reverts the newest interrupted operation of `model`, from
    /// where things stand now. Its gates were judged (and any override journaled) when it
    /// started: a recovery completes or undoes that decision rather than asking again.
    pub async fn recovery_plan(
        &self,
        model: &ModelName,
        how: Recovery,
    ) -> Result<OpPlan, EngineError> {
        self.actor.ensure_writable(&format!("recover {model}"))?;
        let journal = self.journal()?;
        let unended = unended(&journal, Some(model.as_str()))?;
        if let Some(running) = unended.under_way.into_iter().next() {
            return Err(EngineError::OperationInProgress {
                model: model.to_string(),
                holder: running.holder,
            });
        }
        let Some(found) = unended
            .interrupted
            .into_iter()
            .find(|i| i.entry.environment == self.actor.environment)
        else {
            return Err(EngineError::Refused {
                model: model.to_string(),
                reason: "no interrupted operation to recover".into(),
            });
        };
        // An interrupted recovery resolves to its original operation's states.
        let (of, original) = super::recover::original(&journal, &found)?;
        let held = self.registry.held(model).await?;
        let serving_now = self.serving.status(model.as_str()).await.serving;
        let current = DeploymentState {
            production: held.production,
            canary: held.canary,
            canary_percent: serving_now
                .filter(|s| s.canary.is_some())
                .map(|s| s.canary_percent)
                .unwrap_or(0),
        };
        let target = match how {
            Recovery::Finish => original.after,
            Recovery::Revert => original.before,
        };
        let verb = match how {
            Recovery::Finish => "finish",
            Recovery::Revert => "revert",
        };
        let mut warnings = vec![if of == found.entry.id {
            format!(
                "{} the {} interrupted at {} (journal #{of})",
                if how == Recovery::Finish {
                    "finishing"
                } else {
                    "reverting"
                },
                original.request.name(),
                found.entry.time.format("%Y-%m-%d %H:%M:%S UTC"),
            )
        } else {
            format!(
                "{} the {} of journal #{of}, whose recovery (journal #{}) was interrupted at {} in turn",
                if how == Recovery::Finish {
                    "finishing"
                } else {
                    "reverting"
                },
                original.request.name(),
                found.entry.id,
                found.entry.time.format("%Y-%m-%d %H:%M:%S UTC"),
            )
        }];
        // The sentence compares aliases; what serves may differ mid-operation: said too.
        if let Some(served) = serving_now
            && current.serving_plan() != Some(served)
        {
            warnings.push(format!(
                "the server serves {} now (the aliases say {}): that is what moves",
                served.describe(),
                current.label().unwrap_or_else(|| "no production".into())
            ));
        }
        if target.production.is_none() {
            warnings.push(format!(
                "before it, nothing served {model}: its server stops and no alias points anywhere"
            ));
        }
        let mut sentence = describe(
            &current,
            &target,
            how == Recovery::Finish && original.request == OpRequest::Promote,
            &self.actor.environment,
            self.actor.read_only,
        );
        if let Some(note) = self.registry.aliases_note() {
            sentence.push_str(&format!("; {note}"));
        }
        Ok(OpPlan {
            before: current,
            after: target,
            revisions: held.revisions,
            sentence,
            warnings,
            pipeline_change: None,
            gates: Vec::new(),
            recovery: Some(RecoveryOf {
                how: verb.into(),
                journal_id: of,
            }),
            environment: self.actor.environment.clone(),
            read_only: self.actor.read_only,
            model: original.model,
            request: original.request,
        })
    }
}
