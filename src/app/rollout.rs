//! The console's hand on rollouts: `R` (and `:rollout`) hands the model's canary to
//! `flightdeck watch`, from the share it serves at, or pauses and resumes the rollout under way.
//! Aborting is `a`, the operation dialog's abort: the rollout sees its canary gone.

use super::effect::{Effect, RolloutCommand};
use super::state::State;

/// The steps above the canary's share when none are given.
const DEFAULT_STEPS: [u8; 4] = [10, 25, 50, 100];
/// How long each step lasts at least when no interval is given.
const DEFAULT_INTERVAL_SECONDS: f64 = 120.0;

/// How long a first `R` waits for the second that confirms it.
const CONFIRM_SECONDS: f64 = 5.0;

/// `R`: pauses or resumes the rollout under way, else hands the canary to `watch`.
pub fn on_key(state: &mut State, model: &str) -> Vec<Effect> {
    match state.rollouts.get(model).filter(|r| r.phase.is_active()) {
        Some(r) if r.phase == crate::model::RolloutPhase::Paused => {
            command(state, model, RolloutCommand::Resume)
        }
        Some(_) => command(state, model, RolloutCommand::Pause),
        None => start(state, model, None, DEFAULT_INTERVAL_SECONDS),
    }
}

/// `:rollout`, `:rollout pause|resume`, `:rollout 10,50,100 [5m]`.
pub fn on_command(state: &mut State, model: &str, words: &[&str]) -> Vec<Effect> {
    match words {
        ["pause"] => command(state, model, RolloutCommand::Pause),
        ["resume"] => command(state, model, RolloutCommand::Resume),
        [] => start(state, model, None, DEFAULT_INTERVAL_SECONDS),
        [steps, rest @ ..] => {
            let parsed: Result<Vec<u8>, _> = steps.split(',').map(str::parse).collect();
            let Ok(steps) = parsed else {
                state.toast = Some(format!(
                    "rollout: {steps:?} is not a list of percentages like 10,50,100"
                ));
                return Vec::new();
            };
            let interval = match rest {
                [] => Ok(DEFAULT_INTERVAL_SECONDS),
                [text] => crate::settings::duration_seconds(text),
                _ => Err("give the steps and one interval, e.g. :rollout 10,50,100 5m".into()),
            };
            match interval {
                Ok(seconds) => start(state, model, Some(steps), seconds),
                Err(e) => {
                    state.toast = Some(format!("rollout: {e}"));
                    Vec::new()
                }
            }
        }
    }
}

fn command(state: &mut State, model: &str, command: RolloutCommand) -> Vec<Effect> {
    state.toast = Some(format!("rollout of {model}: {}...", command.verb()));
    vec![Effect::Rollout {
        model: model.to_string(),
        command,
    }]
}

/// Hands the canary to `watch` from the share it serves at now: nothing moves until `watch`
/// judges the first step.
fn start(state: &mut State, model: &str, steps: Option<Vec<u8>>, interval: f64) -> Vec<Effect> {
    let serving = state.servers.get(model).and_then(|s| s.serving);
    let Some((version, share)) = serving.and_then(|s| Some((s.canary?, s.canary_percent))) else {
        state.toast = Some(format!(
            "{model} has no canary to roll out: deploy one first (d on a version in the versions pane), then R hands it to watch"
        ));
        return Vec::new();
    };
    let steps = steps.unwrap_or_else(|| {
        std::iter::once(share)
            .chain(DEFAULT_STEPS.into_iter().filter(|p| *p > share))
            .collect()
    });
    if steps.first() != Some(&share) {
        state.toast = Some(format!(
            "v{version} serves {share}% now: the steps start there (e.g. :rollout {share},50,100); another first share is `flightdeck rollout` with its preview"
        ));
        return Vec::new();
    }
    if let Err(e) = crate::model::rollout::check_steps(&steps) {
        state.toast = Some(format!("rollout: {e}"));
        return Vec::new();
    }
    // It will promote by itself: asked twice, as any operation is confirmed.
    let confirmed = state
        .rollout_armed
        .take()
        .is_some_and(|(m, at)| m == model && state.monotonic - at <= CONFIRM_SECONDS);
    if !confirmed {
        state.rollout_armed = Some((model.to_string(), state.monotonic));
        state.toast = Some(format!(
            "R again within {CONFIRM_SECONDS:.0}s: watch rolls v{version} out {} every {}, promoting by itself",
            crate::engine::rollout::steps_text(&steps),
            crate::engine::rollout::duration_text(interval)
        ));
        return Vec::new();
    }
    command(
        state,
        model,
        RolloutCommand::Start {
            version,
            steps,
            interval_seconds: interval,
        },
    )
}
