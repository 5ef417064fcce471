//! The console's hand on shadows and the request log: `S` (and `:shadow`) starts a shadow of
//! the selected version or stops the running one; `t` keeps the selected logged request as a
//! sentinel case. Neither changes what clients are answered, so neither asks twice: each says
//! what it did, and the journal keeps it.

use super::effect::{Effect, ShadowCommand};
use super::state::{Pane, State, View};

/// The share of production's requests a shadow started from the console gets.
pub const DEFAULT_PERCENT: u8 = 10;

/// The version shadowing `model` now, as its server's last scrape said.
fn running(state: &State, model: &str) -> Option<u32> {
    state.shadow_of(model).map(|s| s.version)
}

/// `S`: on a version of the versions pane, shadows it (or stops it when it is the one
/// shadowing); elsewhere stops the running shadow, or says how to start one.
pub fn on_key(state: &mut State, model: &str) -> Vec<Effect> {
    let selected = match &state.view {
        View::Model {
            pane: Pane::Versions,
            ..
        } => super::panes::selected_version(state),
        _ => None,
    };
    match (selected, running(state, model)) {
        (Some(v), Some(r)) if v == r => command(state, model, ShadowCommand::Stop),
        (Some(version), _) => start(state, model, version, DEFAULT_PERCENT),
        (None, Some(_)) => command(state, model, ShadowCommand::Stop),
        (None, None) => {
            state.toast = Some(format!(
                "no shadow of {model} runs: S on a version in the versions pane (or :shadow VERSION [PERCENT]) starts one"
            ));
            Vec::new()
        }
    }
}

/// `:shadow VERSION [PERCENT]`, `:shadow stop`.
pub fn on_command(state: &mut State, model: &str, words: &[&str]) -> Vec<Effect> {
    match words {
        ["stop"] => command(state, model, ShadowCommand::Stop),
        [version, rest @ ..] if rest.len() <= 1 => {
            let version = version.trim_start_matches('v').parse::<u32>();
            let percent = match rest {
                [] => Ok(DEFAULT_PERCENT),
                [p] => p
                    .trim_end_matches('%')
                    .parse::<u8>()
                    .ok()
                    .filter(|p| (1..=100).contains(p))
                    .ok_or(()),
                _ => Err(()),
            };
            match (version, percent) {
                (Ok(version), Ok(percent)) => start(state, model, version, percent),
                _ => {
                    state.toast = Some(
                        "shadow: give a version and a share from 1 to 100, e.g. :shadow 2 10, or :shadow stop"
                            .into(),
                    );
                    Vec::new()
                }
            }
        }
        _ => {
            state.toast =
                Some("shadow: :shadow VERSION [PERCENT] starts one, :shadow stop ends it".into());
            Vec::new()
        }
    }
}

fn start(state: &mut State, model: &str, version: u32, percent: u8) -> Vec<Effect> {
    if state.config.read_only {
        state.toast = Some(format!(
            "environment {} is read-only: no shadow is started",
            state.config.environment
        ));
        return Vec::new();
    }
    let production = state
        .servers
        .get(model)
        .and_then(|s| s.serving)
        .map(|s| s.stable);
    if production == Some(version) {
        state.toast = Some(format!(
            "v{version} is production: a shadow compares another version with it"
        ));
        return Vec::new();
    }
    command(state, model, ShadowCommand::Start { version, percent })
}

fn command(state: &mut State, model: &str, command: ShadowCommand) -> Vec<Effect> {
    state.toast = Some(match command {
        ShadowCommand::Start { version, percent } => {
            format!(
                "shadow of {model}: starting v{version} on {percent}% of production's requests..."
            )
        }
        ShadowCommand::Stop => format!("shadow of {model}: stopping..."),
    });
    vec![Effect::Shadow {
        model: model.to_string(),
        command,
    }]
}

/// `t` on the requests pane: the selected request becomes a sentinel case of the version that
/// answered it.
pub fn keep_sentinel(state: &mut State, model: &str) -> Vec<Effect> {
    let Some(entry) = super::panes::selected_request(state).cloned() else {
        state.toast = Some(
            "t keeps a logged request as a sentinel case: Tab to the requests pane and select one"
                .into(),
        );
        return Vec::new();
    };
    if entry.status != 200 {
        state.toast = Some(format!(
            "that request failed (HTTP {}): only an answered one says what to expect",
            entry.status
        ));
        return Vec::new();
    }
    if state.config.read_only {
        state.toast = Some(format!(
            "environment {} is read-only: no sentinel case is added",
            state.config.environment
        ));
        return Vec::new();
    }
    state.toast = Some(format!(
        "keeping request {} as a sentinel case of {model} v{}...",
        entry.id.as_deref().unwrap_or("(no id)"),
        entry.version.as_deref().unwrap_or("?")
    ));
    vec![Effect::KeepSentinel {
        model: model.to_string(),
        entry: Box::new(entry),
    }]
}
