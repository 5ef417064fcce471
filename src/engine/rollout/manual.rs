//! A rollout held, let go or ended by hand: `flightdeck rollout MODEL --pause|--resume|--abort`
//! and the console's keys.

use chrono::Utc;

use super::{RolloutEvent, RolloutEventKind, active, event, journal, open};
use crate::engine::ops::{Consent, OpOutcome, OpRequest, Operator, PlanOptions};
use crate::error::EngineError;
use crate::model::{ModelName, Rollout, RolloutPhase};

/// How often a hand's change is tried again when `watch` updated the rollout in between.
const TRIES: usize = 5;

/// Holds the rollout of `model` at its step until it is resumed.
pub fn pause(operator: &Operator, model: &ModelName) -> Result<RolloutEvent, EngineError> {
    change(operator, model, "pause", |r| {
        if r.phase == RolloutPhase::Paused {
            return Err(format!("the rollout of v{} is already paused", r.version));
        }
        r.phase = RolloutPhase::Paused;
        Ok((
            RolloutEventKind::Paused,
            format!(
                "{} held where it is; still judged every round, a failing gate aborts it",
                r.step_text()
            ),
        ))
    })
}

/// Lets a paused rollout go on from its step.
pub fn resume(operator: &Operator, model: &ModelName) -> Result<RolloutEvent, EngineError> {
    change(operator, model, "resume", |r| {
        if r.phase != RolloutPhase::Paused {
            return Err(format!("the rollout of v{} is not paused", r.version));
        }
        r.phase = RolloutPhase::Running;
        Ok((
            RolloutEventKind::Resumed,
            format!(
                "{} goes on; `flightdeck watch` moves it on when its gates pass",
                r.step_text()
            ),
        ))
    })
}

/// Ends the rollout of `model`: the canary is removed through the operations path (when it
/// still serves), and the rollout is recorded aborted.
pub async fn abort(
    operator: &Operator,
    model: &ModelName,
) -> Result<(Option<OpOutcome>, RolloutEvent), EngineError> {
    let Some(stored) = active(operator, model)? else {
        return Err(none_under_way(model));
    };
    let status = operator
        .serving()
        .status_or_unreadable(model.as_str())
        .await
        .map_err(|why| EngineError::Refused {
            model: model.to_string(),
            reason: format!("cannot read what serves {model}: {why}; nothing was changed"),
        })?;
    let serves = status
        .serving
        .is_some_and(|s| s.canary == Some(stored.rollout.version));
    let outcome = if serves {
        let plan = operator
            .plan(model, OpRequest::Abort, PlanOptions::default(), &|_| {})
            .await?;
        Some(operator.run(&plan, Consent::default()).await?)
    } else {
        None
    };
    let ended = change(operator, model, "abort", |r| {
        r.phase = RolloutPhase::Aborted;
        Ok((
            RolloutEventKind::Aborted,
            format!(
                "aborted by hand at {}; production v{} serves all traffic",
                r.step_text(),
                r.production
            ),
        ))
    })?;
    Ok((outcome, ended))
}

fn none_under_way(model: &ModelName) -> EngineError {
    EngineError::Refused {
        model: model.to_string(),
        reason: format!(
            "no rollout of {model} is under way; `flightdeck rollout {model} VERSION` starts one"
        ),
    }
}

/// Reads the rollout under way, changes it, and writes it back if `watch` did not change it
/// meanwhile (else reads it again).
fn change(
    operator: &Operator,
    model: &ModelName,
    what: &str,
    apply: impl Fn(&mut Rollout) -> Result<(RolloutEventKind, String), String>,
) -> Result<RolloutEvent, EngineError> {
    operator
        .actor()
        .ensure_writable(&format!("{what} the rollout of {model}"))?;
    for _ in 0..TRIES {
        let Some(stored) = active(operator, model)? else {
            return Err(none_under_way(model));
        };
        let mut r = stored.rollout;
        let (kind, said) = apply(&mut r).map_err(|reason| EngineError::Refused {
            model: model.to_string(),
            reason,
        })?;
        let sentence = format!("{said} (by {})", operator.actor().user);
        r.note = sentence.clone();
        let mut registry = open(operator)?;
        if registry.put_rollout(&r, Some(stored.revision))?.is_some() {
            let e = event(kind, sentence, &r, Utc::now());
            journal(&mut registry, operator, &e)?;
            return Ok(e);
        }
    }
    Err(EngineError::Refused {
        model: model.to_string(),
        reason: format!("the rollout kept changing while trying to {what} it; try again"),
    })
}
