//! One round of `watch` for every rollout under way: read what serves, judge the promote gates
//! over the step's window, and move on, abort, wait or stop, as the gates and the deployment say.

use chrono::{DateTime, Utc};

use super::{RolloutEvent, RolloutEventKind, duration_text, event, journal, open};
use crate::engine::ops::{
    Consent, GateStatus, OpRequest, Operator, PlanOptions, TRAFFIC, WindowGates,
};
use crate::error::EngineError;
use crate::model::{GateResult, ModelName, Rollout, RolloutPhase, ServingPlan};

/// Judges every rollout of the operator's environment that is under way, `every` seconds
/// apart, and records what changed. A paused one is judged too but never moved on: a failing
/// gate still aborts it. An update that lost to a change made meanwhile (a pause typed during
/// the round) is dropped: the next round reads the rollout again.
pub async fn advance_all(
    operator: &Operator,
    now: DateTime<Utc>,
    every: f64,
) -> Result<Vec<RolloutEvent>, EngineError> {
    let stored = open(operator)?.active_rollouts(&operator.actor().environment)?;
    let mut events = Vec::new();
    for s in stored {
        let mut r = s.rollout;
        r.checked_every = Some(every);
        let (rollout, happened) = advance(operator, r, now).await;
        let mut registry = open(operator)?;
        registry.put_rollout(&rollout, Some(s.revision))?;
        for e in &happened {
            journal(&mut registry, operator, e)?;
        }
        events.extend(happened);
    }
    Ok(events)
}

/// One round for one rollout.
async fn advance(
    operator: &Operator,
    mut r: Rollout,
    now: DateTime<Utc>,
) -> (Rollout, Vec<RolloutEvent>) {
    r.checked_at = Some(now);
    let model = match ModelName::new(&r.model) {
        Ok(m) => m,
        Err(e) => {
            return stop(
                r,
                RolloutPhase::Superseded,
                format!("invalid model name: {e}"),
                now,
            );
        }
    };
    let serving = match operator
        .serving()
        .status_or_unreadable(model.as_str())
        .await
    {
        Ok(status) => status.serving,
        Err(why) => {
            r.note = format!(
                "cannot read what serves {model}: {why}; {} stays as it is, tried again next round",
                r.step_text()
            );
            return (r, Vec::new());
        }
    };
    let mut happened = Vec::new();
    match judge_deployment(&r, serving) {
        Deployment::AsRecorded => {}
        Deployment::NextStepApplied => {
            // The step was applied and `watch` stopped before recording it.
            r.step += 1;
            r.step_since = now;
            r.baseline.clear();
        }
        Deployment::Promoted => {
            let note = format!(
                "v{} is production (promoted outside the rollout or before watch recorded it)",
                r.version
            );
            return stop(r, RolloutPhase::Completed, note, now);
        }
        Deployment::Removed => {
            let note = format!(
                "v{} was removed outside the rollout (an abort by hand); production v{} serves all traffic",
                r.version, r.production
            );
            return stop(r, RolloutPhase::Aborted, note, now);
        }
        Deployment::Changed(what) => {
            let note = format!(
                "stopped without touching anything: {what}; `flightdeck rollout {model} {} ...` starts a new one",
                r.version
            );
            return stop(r, RolloutPhase::Superseded, note, now);
        }
    }
    let window = format!(
        "in {} (since {} UTC)",
        r.step_text(),
        r.step_since.format("%H:%M:%S")
    );
    let judged = operator
        .window_gates(&model, r.production, r.version, &r.baseline, &window)
        .await;
    if r.baseline.is_empty() {
        r.baseline = judged.now.clone();
    }
    r.gates = judged.gates.clone();
    if let Some(why) = &judged.unreadable {
        // Blind is not failing: nothing moves, and people hear that it cannot be judged.
        let note = format!(
            "cannot judge {}: {why}; nothing moves until the evidence can be read again",
            r.step_text()
        );
        return stuck(r, note, now);
    }
    let elapsed = (now - r.step_since).num_milliseconds() as f64 / 1e3;
    if let Some(failed) = first_failed(&judged.gates) {
        let why = format!("{}: {}", failed.name, failed.evidence);
        return abort_for(operator, &model, r, why, now, happened).await;
    }
    if r.phase == RolloutPhase::Paused {
        // Held, not unguarded: judged like any step, never moved on.
        r.note = format!(
            "paused at {}: held there and still judged every round (a failing gate aborts it); {}",
            r.step_text(),
            gates_summary(&judged.gates)
        );
        return (r, happened);
    }
    if elapsed < r.interval_seconds {
        r.phase = RolloutPhase::Running;
        r.note = format!(
            "{}: {}; the next step in {} if they pass",
            r.step_text(),
            gates_summary(&judged.gates),
            duration_text(r.interval_seconds - elapsed)
        );
        return (r, happened);
    }
    if judged
        .gates
        .iter()
        .any(|g| g.status == GateStatus::NotEnoughData)
    {
        let note = waiting_note(operator, &r, &judged, elapsed);
        let entering = r.phase != RolloutPhase::Waiting;
        r.phase = RolloutPhase::Waiting;
        r.note = note.clone();
        if entering {
            happened.push(event(RolloutEventKind::Waiting, note, &r, now));
        }
        return (r, happened);
    }
    next_step(operator, &model, r, &judged, elapsed, now).await
}

/// What the deployment says of the rollout.
enum Deployment {
    /// The canary serves at the recorded step's share.
    AsRecorded,
    /// The canary serves at the next step's share.
    NextStepApplied,
    /// The canary is production, alone.
    Promoted,
    /// Production as recorded, alone: the canary was aborted.
    Removed,
    /// Anything else, in words.
    Changed(String),
}

fn judge_deployment(r: &Rollout, serving: Option<ServingPlan>) -> Deployment {
    let Some(s) = serving else {
        return Deployment::Changed(format!("nothing serves {} now", r.model));
    };
    if s.stable == r.version && s.canary.is_none() {
        return Deployment::Promoted;
    }
    if s.stable != r.production {
        return Deployment::Changed(format!(
            "production is v{} now, not v{}",
            s.stable, r.production
        ));
    }
    match s.canary {
        Some(c) if c == r.version && s.canary_percent == r.percent() => Deployment::AsRecorded,
        Some(c) if c == r.version && r.steps.get(r.step + 1) == Some(&s.canary_percent) => {
            Deployment::NextStepApplied
        }
        Some(c) if c == r.version => Deployment::Changed(format!(
            "v{c}'s share was set to {}% by hand ({} expected)",
            s.canary_percent,
            r.step_text()
        )),
        Some(c) => Deployment::Changed(format!("the canary is v{c} now, not v{}", r.version)),
        None => Deployment::Removed,
    }
}

fn first_failed(gates: &[GateResult]) -> Option<&GateResult> {
    gates.iter().find(|g| g.status == GateStatus::Fail)
}

/// "6 gates pass, 1 lacks data (canary traffic)".
fn gates_summary(gates: &[GateResult]) -> String {
    let passing = gates.iter().filter(|g| g.passed()).count();
    let waiting: Vec<&str> = gates
        .iter()
        .filter(|g| g.status == GateStatus::NotEnoughData)
        .map(|g| g.name.as_str())
        .collect();
    let pass = if passing == 1 {
        "1 gate passes".to_string()
    } else {
        format!("{passing} gates pass")
    };
    match waiting.len() {
        0 => pass,
        1 => format!("{pass}, 1 lacks data ({})", waiting[0]),
        n => format!("{pass}, {n} lack data ({})", waiting.join(", ")),
    }
}

/// What the step waits for and, from the canary's request rate in the step, about how long.
fn waiting_note(operator: &Operator, r: &Rollout, judged: &WindowGates, elapsed: f64) -> String {
    let lacking: Vec<String> = judged
        .gates
        .iter()
        .filter(|g| g.status == GateStatus::NotEnoughData)
        .map(|g| format!("{}: {}", g.name, g.evidence))
        .collect();
    let requests = judged.within.get(&r.version).map_or(0.0, |c| c.requests);
    let rate = if elapsed > 0.0 {
        requests / elapsed
    } else {
        0.0
    };
    let needed = operator.limits().min_canary_requests as f64;
    let traffic_lacking = judged
        .gates
        .iter()
        .any(|g| g.name == TRAFFIC && g.status == GateStatus::NotEnoughData);
    let estimate = if rate <= 0.0 {
        "no canary requests in this step yet, so no estimate: is traffic reaching the model?"
            .to_string()
    } else if traffic_lacking {
        format!(
            "at {rate:.1} canary requests/s, about {} more",
            duration_text((needed - requests).max(0.0) / rate)
        )
    } else {
        format!("the canary answers {rate:.1} requests/s")
    };
    format!(
        "{} waits for data: {}; {estimate}",
        r.step_text(),
        lacking.join("; ")
    )
}

/// Every gate passed over a whole step: the next share, or the promote.
async fn next_step(
    operator: &Operator,
    model: &ModelName,
    mut r: Rollout,
    judged: &WindowGates,
    elapsed: f64,
    now: DateTime<Utc>,
) -> (Rollout, Vec<RolloutEvent>) {
    let next = r.step + 1;
    let Some(&percent) = r.steps.get(next) else {
        // The last step is 100: reaching past it cannot happen; said rather than hidden.
        let note = format!(
            "{} is the last step and v{} is not production",
            r.step_text(),
            r.version
        );
        return stop(r, RolloutPhase::Superseded, note, now);
    };
    let passed = format!(
        "the gates passed over {} ({}): {}",
        r.step_text(),
        duration_text(elapsed),
        passed_evidence(&judged.gates)
    );
    let request = if percent >= 100 {
        OpRequest::Promote
    } else {
        OpRequest::Deploy {
            version: r.version,
            canary_percent: Some(percent),
        }
    };
    let plan = match operator
        .plan(model, request, PlanOptions::default(), &|_| {})
        .await
    {
        Ok(plan) => plan,
        Err(e) => {
            return stuck(
                r,
                format!("cannot plan the next step ({percent}%): {e}"),
                now,
            );
        }
    };
    // The promote judges everything since each version was loaded once more: a failure there
    // aborts, missing data waits, as in any step.
    if let Some(failed) = first_failed(&plan.gates) {
        let why = format!("{}: {}", failed.name, failed.evidence);
        return abort_for(operator, model, r, why, now, Vec::new()).await;
    }
    if plan.blocking_gates().next().is_some() {
        let lacking: Vec<String> = plan
            .blocking_gates()
            .map(|g| format!("{}: {}", g.name, g.evidence))
            .collect();
        r.phase = RolloutPhase::Waiting;
        r.note = format!("the promote waits for data: {}", lacking.join("; "));
        return (r, Vec::new());
    }
    if let Err(e) = operator.run(&plan, Consent::default()).await {
        return stuck(r, format!("the step to {percent}% failed: {e}"), now);
    }
    if percent >= 100 {
        let note = format!(
            "v{} promoted: production v{} -> v{} after {} steps in {}; {passed}",
            r.version,
            r.production,
            r.version,
            r.steps.len(),
            duration_text((now - r.started_at).num_milliseconds() as f64 / 1e3)
        );
        r.step = next;
        return stop(r, RolloutPhase::Completed, note, now);
    }
    r.step = next;
    r.step_since = now;
    r.baseline = judged.now.clone();
    r.phase = RolloutPhase::Running;
    r.gates = Vec::new();
    r.note = format!(
        "{}: started {}, the next step after {} if the gates pass",
        r.step_text(),
        now.format("%H:%M:%S UTC"),
        duration_text(r.interval_seconds)
    );
    let sentence = format!(
        "v{} now takes {percent}% ({}); {passed}",
        r.version,
        r.step_text()
    );
    let stepped = event(RolloutEventKind::Stepped, sentence, &r, now);
    (r, vec![stepped])
}

/// The passing gates' evidence, for the journal and the receivers.
fn passed_evidence(gates: &[GateResult]) -> String {
    gates
        .iter()
        .filter(|g| g.name == TRAFFIC || g.status == GateStatus::Pass)
        .map(|g| format!("{}: {}", g.name, g.evidence))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A gate failed: the canary is removed through the operations path, with the gate's evidence.
async fn abort_for(
    operator: &Operator,
    model: &ModelName,
    mut r: Rollout,
    why: String,
    now: DateTime<Utc>,
    happened: Vec<RolloutEvent>,
) -> (Rollout, Vec<RolloutEvent>) {
    let aborted = async {
        let plan = operator
            .plan(model, OpRequest::Abort, PlanOptions::default(), &|_| {})
            .await?;
        operator.run(&plan, Consent::default()).await
    }
    .await;
    match aborted {
        Ok(_) => {
            let paused = if r.phase == RolloutPhase::Paused {
                " while paused"
            } else {
                ""
            };
            let note = format!(
                "aborted automatically{paused} at {}: {why}; production v{} serves all traffic",
                r.step_text(),
                r.production
            );
            r.gates.retain(|g| g.status == GateStatus::Fail);
            let (r, mut events) = stop(r, RolloutPhase::Aborted, note, now);
            let mut all = happened;
            all.append(&mut events);
            (r, all)
        }
        Err(e) => {
            r.phase = RolloutPhase::Running;
            stuck(
                r,
                format!("must abort ({why}) and cannot: {e}; tried again next round"),
                now,
            )
        }
    }
}

/// The rollout ends in `phase`, said in `note`.
fn stop(
    mut r: Rollout,
    phase: RolloutPhase,
    note: String,
    now: DateTime<Utc>,
) -> (Rollout, Vec<RolloutEvent>) {
    r.phase = phase;
    r.note = note.clone();
    let kind = match phase {
        RolloutPhase::Completed => RolloutEventKind::Completed,
        RolloutPhase::Aborted => RolloutEventKind::Aborted,
        _ => RolloutEventKind::Superseded,
    };
    let e = event(kind, note, &r, now);
    (r, vec![e])
}

/// The rollout must move and cannot: said once per distinct reason (a round repeats it
/// silently), kept under way so the next round tries again.
fn stuck(mut r: Rollout, note: String, now: DateTime<Utc>) -> (Rollout, Vec<RolloutEvent>) {
    let new = r.note != note;
    r.note = note.clone();
    let events = if new {
        vec![event(RolloutEventKind::Stuck, note, &r, now)]
    } else {
        Vec::new()
    };
    (r, events)
}
