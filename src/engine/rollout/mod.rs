//! Progressive delivery: a canary handed to `flightdeck watch`, which moves it through its
//! traffic steps (`10,25,50,100`) while the promote gates pass over each step's window, aborts it
//! by itself when one fails, and waits, saying for what and about how long, while they lack
//! data. Every step is an operation on the one operations path; the rollout itself lives in the
//! registry (so it survives a restart of `watch`) and every change of it is journaled.

mod advance;
mod manual;

pub use advance::advance_all;
pub use manual::{abort, pause, resume};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ops::{Consent, OpOutcome, OpPlan, OpRequest, Operator, PlanOptions, Progress};
use crate::error::EngineError;
use crate::model::{ModelName, NewJournalEntry, Outcome, Rollout, RolloutPhase};
use crate::store::Registry;
use crate::store::registry::rollouts::StoredRollout;

/// What happened to a rollout, as `watch` says it and the receivers hear it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutEventKind {
    Started,
    /// The gates passed over a step: the canary takes the next step's share.
    Stepped,
    /// A step's interval is over and a gate lacks data.
    Waiting,
    Paused,
    Resumed,
    /// The canary was removed: a gate failed, or by hand.
    Aborted,
    /// The canary was promoted.
    Completed,
    /// The deployment was changed outside the rollout, which stopped without touching it.
    Superseded,
    /// The rollout must move (or abort) and cannot: the operation was refused or failed.
    Stuck,
}

impl RolloutEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutEventKind::Started => "started",
            RolloutEventKind::Stepped => "stepped",
            RolloutEventKind::Waiting => "waiting",
            RolloutEventKind::Paused => "paused",
            RolloutEventKind::Resumed => "resumed",
            RolloutEventKind::Aborted => "aborted",
            RolloutEventKind::Completed => "completed",
            RolloutEventKind::Superseded => "superseded",
            RolloutEventKind::Stuck => "stuck",
        }
    }

    /// The journal's operation for it ("rollout aborted").
    pub fn journal_name(self) -> String {
        format!("rollout {}", self.as_str())
    }
}

/// One thing that happened to a rollout, with the rollout as it is after it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutEvent {
    pub kind: RolloutEventKind,
    pub sentence: String,
    pub rollout: Rollout,
    pub at: DateTime<Utc>,
}

impl RolloutEvent {
    /// The event as receivers hear it: an abort is a warning, a rollout that must move and
    /// cannot is critical, the rest is news.
    pub fn notice(&self) -> crate::model::Notice {
        use crate::model::Severity;
        let severity = match self.kind {
            RolloutEventKind::Stuck => Severity::Critical,
            RolloutEventKind::Aborted => Severity::Warning,
            _ => Severity::Info,
        };
        crate::model::Notice {
            event: self.kind.journal_name(),
            model: self.rollout.model.clone(),
            severity,
            summary: format!(
                "{} v{}: {}",
                self.rollout.model, self.rollout.version, self.sentence
            ),
            at: self.at,
            details: serde_json::json!({ "rollout": summary(&self.rollout) }),
        }
    }
}

/// Tells `receivers` of an event done by hand (watch tells them of its own through its
/// outbox); returns a sentence for each receiver that could not be told.
pub async fn tell(receivers: &[crate::model::Receiver], event: &RolloutEvent) -> Vec<String> {
    if receivers.is_empty() {
        return Vec::new();
    }
    let notice = event.notice();
    let client = match crate::clients::http::client() {
        Ok(c) => c,
        Err(e) => return vec![format!("the receivers were not told: {e}")],
    };
    let mut missed = Vec::new();
    for receiver in receivers {
        let told = crate::clients::notify::tell(
            &client,
            receiver,
            &notice,
            std::time::Duration::from_secs(5),
        )
        .await;
        if let Err(e) = told {
            missed.push(format!("{} did not hear of it: {e}", receiver.url()));
        }
    }
    missed
}

/// A rollout as people and receivers read it: its step in words, no counters.
pub fn summary(r: &Rollout) -> serde_json::Value {
    serde_json::json!({
        "model": r.model,
        "environment": r.environment,
        "version": r.version,
        "production": r.production,
        "phase": r.phase,
        "step": r.step_text(),
        "percent": r.percent(),
        "steps": r.steps,
        "interval_seconds": r.interval_seconds,
        "note": r.note,
        "gates": r.gates,
        "started_by": r.started_by,
        "started_at": r.started_at,
        "checked_at": r.checked_at,
    })
}

/// What `flightdeck rollout` will do: the first step's operation (none when the canary already
/// serves at the first step's share) and the rollout it hands to `watch`.
#[derive(Debug, Clone)]
pub struct RolloutStart {
    pub first: Option<OpPlan>,
    pub rollout: Rollout,
}

/// Plans a rollout of `version`: checks the steps, refuses over a rollout under way, and plans
/// the first step as a canary deploy (with its gates: smoke, signature, artifact).
pub async fn plan_start(
    operator: &Operator,
    model: &ModelName,
    version: u32,
    steps: Vec<u8>,
    interval_seconds: f64,
    options: PlanOptions,
    progress: Progress<'_>,
) -> Result<RolloutStart, EngineError> {
    let refuse = |reason: String| EngineError::Refused {
        model: model.to_string(),
        reason,
    };
    operator
        .actor()
        .ensure_writable(&format!("roll out {model} v{version}"))?;
    crate::model::rollout::check_steps(&steps).map_err(refuse)?;
    if interval_seconds < 1.0 {
        return Err(refuse("--interval is at least 1s".into()));
    }
    if let Some(under_way) = active(operator, model)? {
        let r = under_way.rollout;
        return Err(refuse(format!(
            "a rollout of v{} is under way ({}, {}); `flightdeck rollout {model} --abort` ends it first",
            r.version,
            r.step_text(),
            r.phase.as_str()
        )));
    }
    let status = operator
        .serving()
        .status_or_unreadable(model.as_str())
        .await
        .map_err(|why| refuse(format!("cannot read what serves {model}: {why}")))?;
    // Judged on the canary's metrics from the first step on: a rollout that could never read
    // them would sit blind, so it does not start.
    if let Err(e) = operator.serving().evidence(model.as_str()).await.counters
        && !crate::clients::metrics::is_no_series(&e)
    {
        return Err(refuse(format!(
            "a rollout is judged on the serving metrics, and they cannot be read: {e}"
        )));
    }
    let first_percent = steps[0];
    let already = status
        .serving
        .is_some_and(|s| s.canary == Some(version) && s.canary_percent == first_percent);
    let first = if already {
        None
    } else {
        let request = OpRequest::Deploy {
            version,
            canary_percent: Some(first_percent),
        };
        Some(operator.plan(model, request, options, progress).await?)
    };
    let production = match (&first, status.serving) {
        (Some(plan), _) => plan.after.production,
        (None, Some(s)) => Some(s.stable),
        (None, None) => None,
    }
    .ok_or_else(|| {
        refuse(format!(
            "nothing is in production to roll v{version} out against; deploy a version with --direct first"
        ))
    })?;
    let now = Utc::now();
    Ok(RolloutStart {
        first,
        rollout: Rollout {
            model: model.to_string(),
            environment: operator.actor().environment.clone(),
            version,
            production,
            steps,
            interval_seconds,
            step: 0,
            step_since: now,
            phase: RolloutPhase::Running,
            baseline: Default::default(),
            gates: Vec::new(),
            note: String::new(),
            started_by: operator.actor().user.clone(),
            started_at: now,
            checked_at: None,
            checked_every: None,
        },
    })
}

/// Runs the first step (with the user's consent to its gates) and hands the rollout to `watch`.
pub async fn start(
    operator: &Operator,
    start: RolloutStart,
    consent: Consent,
) -> Result<(Option<OpOutcome>, RolloutEvent), EngineError> {
    let RolloutStart { first, mut rollout } = start;
    let outcome = match &first {
        Some(plan) => Some(operator.run(plan, consent).await?),
        None => None,
    };
    let model = ModelName::new(&rollout.model).map_err(EngineError::BadModelName)?;
    let counted = operator
        .window_gates(
            &model,
            rollout.production,
            rollout.version,
            &Default::default(),
            "",
        )
        .await;
    let now = Utc::now();
    rollout.baseline = counted.now;
    rollout.step_since = now;
    rollout.note = format!(
        "{}: `flightdeck watch` judges the gates every round; the next step comes after {} if they pass",
        rollout.step_text(),
        duration_text(rollout.interval_seconds)
    );
    let sentence = format!(
        "rollout of {} v{} started by {}: steps {} every {}, from {}",
        rollout.model,
        rollout.version,
        rollout.started_by,
        steps_text(&rollout.steps),
        duration_text(rollout.interval_seconds),
        rollout.step_text()
    );
    let mut registry = open(operator)?;
    if registry.put_rollout(&rollout, None)?.is_none() {
        return Err(EngineError::Refused {
            model: rollout.model.clone(),
            reason: "another rollout of it started meanwhile; the first step was applied, `flightdeck rollout MODEL` shows the rollout under way".into(),
        });
    }
    let event = event(RolloutEventKind::Started, sentence, &rollout, now);
    journal(&mut registry, operator, &event)?;
    Ok((outcome, event))
}

/// The rollout of `model` under way in the operator's environment, if any.
pub fn active(
    operator: &Operator,
    model: &ModelName,
) -> Result<Option<StoredRollout>, EngineError> {
    Ok(open(operator)?
        .rollout(&operator.actor().environment, model.as_str())?
        .filter(|s| s.rollout.phase.is_active()))
}

/// The latest rollout of `model` (under way or ended) in `environment`.
pub fn latest(
    registry: &Registry,
    environment: &str,
    model: &str,
) -> Result<Option<Rollout>, EngineError> {
    Ok(registry.rollout(environment, model)?.map(|s| s.rollout))
}

fn open(operator: &Operator) -> Result<Registry, EngineError> {
    Registry::open(operator.data_dir())
}

fn event(
    kind: RolloutEventKind,
    sentence: String,
    rollout: &Rollout,
    at: DateTime<Utc>,
) -> RolloutEvent {
    RolloutEvent {
        kind,
        sentence,
        rollout: rollout.clone(),
        at,
    }
}

/// Journals an event: who, which rollout, the gates it was judged on.
fn journal(
    registry: &mut Registry,
    operator: &Operator,
    event: &RolloutEvent,
) -> Result<(), EngineError> {
    let r = &event.rollout;
    let actor = operator.actor();
    registry.append_journal(&NewJournalEntry {
        user: actor.user.clone(),
        environment: actor.environment.clone(),
        operation: event.kind.journal_name(),
        model: Some(r.model.clone()),
        from: Some(format!("v{}", r.production)),
        to: Some(format!("v{} {}%", r.version, r.percent())),
        outcome: match event.kind {
            RolloutEventKind::Stuck => Outcome::Failed,
            _ => Outcome::Succeeded,
        },
        details: serde_json::json!({
            "sentence": event.sentence,
            "rollout": r,
        }),
    })?;
    Ok(())
}

/// "10,25,50,100".
pub fn steps_text(steps: &[u8]) -> String {
    steps
        .iter()
        .map(|p| format!("{p}%"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// "2m", "1m 30s", "45s", "1h 5m".
pub fn duration_text(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}
