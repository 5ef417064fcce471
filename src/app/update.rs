//! The reducer: `update(&mut State, Msg) -> Vec<Effect>`. No I/O and no clock reads.

use super::effect::Effect;
use super::fleet;
use super::msg::{FleetData, Msg};
use super::state::{Mode, ScrapeSample, State};
use crate::keymap::{Action, Key, KeyCode};
use crate::sources::metrics;

/// Rows a page key moves.
const PAGE: usize = 10;

/// Commands the palette knows, for completion and help.
pub const COMMANDS: &[&str] = &["models", "help", "theme", "env", "quit", "q"];

pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(state, key),
        Msg::Resize { width, height } => {
            state.size = (width, height);
            Vec::new()
        }
        Msg::Tick { now, monotonic } => {
            state.now = now;
            state.monotonic = monotonic;
            due_fetches(state)
        }
        Msg::FleetFetched { at, result } => {
            state.registry.in_flight = false;
            match result {
                Ok(FleetData { models, servers }) => {
                    state.models = models;
                    state.servers = servers.into_iter().map(|s| (s.model.clone(), s)).collect();
                    state.registry.last_ok = Some(at);
                    state.registry.error = None;
                    clamp_selection(state);
                    // Scrape every supervised server with an endpoint, unless one is under way.
                    let targets: Vec<(String, String)> = state
                        .servers
                        .values()
                        .filter(|s| s.supervisor_alive)
                        .filter_map(|s| s.endpoint().map(|e| (s.model.clone(), e)))
                        .filter(|(model, _)| !state.metrics.get(model).is_some_and(|m| m.in_flight))
                        .collect();
                    let mut effects = Vec::with_capacity(targets.len());
                    for (model, endpoint) in targets {
                        state.metrics.entry(model.clone()).or_default().in_flight = true;
                        effects.push(Effect::Scrape { model, endpoint });
                    }
                    effects
                }
                Err(e) => {
                    // Keep the last good data; show the error and its age.
                    state.registry.error = Some(e);
                    Vec::new()
                }
            }
        }
        Msg::MetricsScraped {
            model,
            monotonic,
            at,
            result,
        } => {
            let status = state.metrics.entry(model.clone()).or_default();
            status.in_flight = false;
            match result {
                Ok(snapshot) => {
                    status.last_ok = Some(at);
                    status.error = None;
                    if let Some(previous) = state.scrapes.get(&model) {
                        let seconds = monotonic - previous.monotonic;
                        for (key, current) in &snapshot.versions {
                            let before = previous
                                .snapshot
                                .versions
                                .get(key)
                                .cloned()
                                .unwrap_or_default();
                            state
                                .serving
                                .insert(key.clone(), metrics::between(&before, current, seconds));
                        }
                    }
                    state.scrapes.insert(
                        model,
                        ScrapeSample {
                            monotonic,
                            snapshot,
                        },
                    );
                }
                Err(e) => status.error = Some(e),
            }
            Vec::new()
        }
    }
}

/// Fetches whose refresh interval has passed.
fn due_fetches(state: &mut State) -> Vec<Effect> {
    let due = state
        .last_fetch
        .is_none_or(|t| state.monotonic - t >= state.refresh_seconds);
    if due && !state.registry.in_flight {
        state.last_fetch = Some(state.monotonic);
        state.registry.in_flight = true;
        return vec![Effect::FetchFleet];
    }
    Vec::new()
}

fn clamp_selection(state: &mut State) {
    let n = fleet::rows(state).len();
    state.selected = state.selected.min(n.saturating_sub(1));
}

fn on_key(state: &mut State, key: Key) -> Vec<Effect> {
    match state.mode.clone() {
        Mode::Filter => {
            match key.code {
                KeyCode::Enter => state.mode = Mode::Normal,
                KeyCode::Esc => {
                    state.filter.clear();
                    state.mode = Mode::Normal;
                }
                KeyCode::Backspace => {
                    state.filter.pop();
                }
                KeyCode::Char(c) if !key.ctrl => state.filter.push(c),
                _ => {}
            }
            clamp_selection(state);
            Vec::new()
        }
        Mode::Command(mut text) => match key.code {
            KeyCode::Enter => {
                state.mode = Mode::Normal;
                run_command(state, text.trim())
            }
            KeyCode::Esc => {
                state.mode = Mode::Normal;
                Vec::new()
            }
            KeyCode::Tab => {
                if let Some(done) = complete(&text) {
                    state.mode = Mode::Command(done);
                }
                Vec::new()
            }
            KeyCode::Backspace => {
                text.pop();
                state.mode = Mode::Command(text);
                Vec::new()
            }
            KeyCode::Char(c) if !key.ctrl => {
                text.push(c);
                state.mode = Mode::Command(text);
                Vec::new()
            }
            _ => Vec::new(),
        },
        Mode::Help => {
            if matches!(
                state.keymap.action(key),
                Some(Action::Back | Action::Help | Action::Quit)
            ) {
                state.mode = Mode::Normal;
            }
            Vec::new()
        }
        Mode::Normal => match state.keymap.action(key) {
            Some(action) => on_action(state, action),
            None => Vec::new(),
        },
    }
}

fn on_action(state: &mut State, action: Action) -> Vec<Effect> {
    let rows = fleet::rows(state).len();
    let last = rows.saturating_sub(1);
    state.toast = None;
    match action {
        Action::Quit => {
            state.quit = true;
            return vec![Effect::Quit];
        }
        Action::Help => state.mode = Mode::Help,
        Action::Command => state.mode = Mode::Command(String::new()),
        Action::Filter => state.mode = Mode::Filter,
        Action::Back => state.filter.clear(),
        Action::Up => state.selected = state.selected.saturating_sub(1),
        Action::Down => state.selected = (state.selected + 1).min(last),
        Action::PageUp => state.selected = state.selected.saturating_sub(PAGE),
        Action::PageDown => state.selected = (state.selected + PAGE).min(last),
        Action::Top => state.selected = 0,
        Action::Bottom => state.selected = last,
        Action::Sort => state.sort = state.sort.next(),
        Action::Refresh => {
            state.last_fetch = None;
            return due_fetches(state);
        }
        Action::NextPane | Action::PreviousPane | Action::Open => {}
        Action::Deploy
        | Action::Promote
        | Action::Rollback
        | Action::Abort
        | Action::Smoke
        | Action::Evaluate => {
            // Operations arrive with the operations pipeline; until then say so, never guess.
            state.toast = Some(format!(
                "{} is not available in the console yet; use `flightdeck server start` from a shell",
                action.name()
            ));
        }
    }
    clamp_selection(state);
    Vec::new()
}

/// Completes a command prefix when exactly one command matches.
fn complete(text: &str) -> Option<String> {
    let matches: Vec<&&str> = COMMANDS
        .iter()
        .filter(|c| c.starts_with(text) && c.len() > 1)
        .collect();
    (matches.len() == 1).then(|| matches[0].to_string())
}

fn run_command(state: &mut State, text: &str) -> Vec<Effect> {
    let mut words = text.split_whitespace();
    match (words.next(), words.next()) {
        (Some("q" | "quit"), _) => {
            state.quit = true;
            vec![Effect::Quit]
        }
        (Some("models"), _) => {
            state.view = super::state::View::Fleet;
            Vec::new()
        }
        (Some("help"), _) => {
            state.mode = Mode::Help;
            Vec::new()
        }
        (Some("theme"), Some(name)) => {
            if crate::settings::THEMES.contains(&name) {
                state.theme = name.to_string();
            } else {
                state.toast = Some(format!(
                    "no theme {name:?}; themes: {}",
                    crate::settings::THEMES.join(", ")
                ));
            }
            Vec::new()
        }
        (Some("env"), Some(name)) if name == state.environment => Vec::new(),
        (Some("env"), Some(name)) => {
            state.toast = Some(format!(
                "environment {name:?} is not configured here (only {})",
                state.environment
            ));
            Vec::new()
        }
        (None, _) => Vec::new(),
        (Some(other), _) => {
            state.toast = Some(format!(
                "unknown command :{other}; try :models, :theme NAME, :env NAME, :help, :q"
            ));
            Vec::new()
        }
    }
}
