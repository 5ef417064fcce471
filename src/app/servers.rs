//! `:server`: every local server of the environment with what it serves, its process, port,
//! restarts and last exit; `x` stops the selected one and `r` restarts it, each confirmed first
//! (Enter, or the model's name where the environment asks for it typed), like any other
//! destructive action. A server stopped here stays listed as stopped, and `s` starts it again
//! serving what the aliases say. `l` tails its logs.

use super::effect::{Effect, ServerCommand};
use super::state::{Overlay, State};
use crate::keymap::{Action, Key, KeyCode};

/// The open servers list.
#[derive(Debug, Clone, PartialEq)]
pub struct ServersView {
    pub selected: usize,
    /// A stop or restart asked for and not yet confirmed.
    pub confirming: Option<(ServerCommand, String)>,
    /// What the user typed, where the environment wants the model's name typed.
    pub typed: String,
    /// The command sent and not yet answered.
    pub running: Option<(ServerCommand, String)>,
}

/// The servers, in the order listed (by model name), those stopped here among them.
pub fn listed(state: &State) -> Vec<&crate::model::ServingStatus> {
    // Only this machine's processes: a cluster's InferenceServices are the cluster pane's.
    let mut listed: Vec<&crate::model::ServingStatus> = state
        .servers
        .values()
        .filter(|s| s.kube.is_none())
        .collect();
    listed.extend(
        state
            .stopped_here
            .iter()
            .filter(|s| !state.servers.contains_key(&s.model)),
    );
    listed.sort_by(|a, b| a.model.cmp(&b.model));
    listed
}

/// `:server`: the list, on the selected model's server when there is one.
pub fn open(state: &mut State) -> Vec<Effect> {
    let model = state
        .open_model()
        .map(str::to_string)
        .or_else(|| super::update::selected_model(state));
    let selected = model
        .and_then(|m| listed(state).iter().position(|s| s.model == m))
        .unwrap_or(0);
    state.overlay = Some(Overlay::Servers(ServersView {
        selected,
        confirming: None,
        typed: String::new(),
        running: None,
    }));
    Vec::new()
}

/// The command finished (`ok`) or failed: the list shows servers as they are read next; one
/// stopped stays listed as stopped, one started is the listing's again.
pub fn finished(state: &mut State, ok: bool) {
    let last = match &state.overlay {
        Some(Overlay::Servers(ServersView {
            running: Some((ServerCommand::Stop, model)),
            ..
        })) if ok => state.servers.get(model).cloned(),
        _ => None,
    };
    let now = state.now;
    if let Some(Overlay::Servers(view)) = &mut state.overlay {
        if let (Some((ServerCommand::Start, model)), true) = (&view.running, ok) {
            state.stopped_here.retain(|s| &s.model != model);
        }
        view.running = None;
    }
    if let Some(mut stopped) = last {
        stopped.healthy = false;
        stopped.supervisor_alive = false;
        stopped.serving = None;
        stopped.problem = Some(format!(
            "stopped here at {} UTC; s starts it again",
            now.format("%H:%M:%S")
        ));
        state.stopped_here.retain(|s| s.model != stopped.model);
        state.stopped_here.push(stopped);
    }
}

/// Keys over the list.
pub fn on_key(state: &mut State, key: Key) -> Vec<Effect> {
    let count = listed(state).len();
    let action = state.config.keymap.action(key);
    let read_only = state.config.read_only;
    let typed_confirmation = state.config.typed_confirmation;
    let selected_model = {
        let Some(Overlay::Servers(view)) = &state.overlay else {
            return Vec::new();
        };
        listed(state).get(view.selected).map(|s| s.model.clone())
    };
    let Some(Overlay::Servers(view)) = &mut state.overlay else {
        return Vec::new();
    };
    // Confirming: Enter (with the name typed, where asked) sends it; Esc forgets it.
    if let Some((command, model)) = view.confirming.clone() {
        match key.code {
            KeyCode::Esc => {
                view.confirming = None;
                view.typed.clear();
            }
            KeyCode::Enter if !typed_confirmation || view.typed == model => {
                view.confirming = None;
                view.typed.clear();
                view.running = Some((command, model.clone()));
                return vec![Effect::Server { model, command }];
            }
            KeyCode::Enter => {
                state.toast = Some(format!("type {model} exactly, then Enter (Esc cancels)"));
            }
            KeyCode::Backspace if typed_confirmation => {
                view.typed.pop();
            }
            KeyCode::Char(c) if typed_confirmation && !key.ctrl => view.typed.push(c),
            _ => {}
        }
        return Vec::new();
    }
    // A stopped server starts at once: nothing is taken away from anyone.
    if key.code == KeyCode::Char('s') && !key.ctrl {
        let Some(model) = selected_model else {
            return Vec::new();
        };
        if !state.stopped_here.iter().any(|s| s.model == model) {
            state.toast = Some(format!(
                "{model}'s server is not stopped: r restarts it, x stops it"
            ));
            return Vec::new();
        }
        if read_only {
            state.toast = Some(format!(
                "environment {} is read-only: start {model}'s server refused",
                state.config.environment
            ));
            return Vec::new();
        }
        if view.running.is_some() {
            return Vec::new();
        }
        view.running = Some((ServerCommand::Start, model.clone()));
        return vec![Effect::Server {
            model,
            command: ServerCommand::Start,
        }];
    }
    let command = match key.code {
        KeyCode::Char('x') => Some(ServerCommand::Stop),
        KeyCode::Char('r') => Some(ServerCommand::Restart),
        _ => None,
    };
    if let Some(command) = command {
        let Some(model) = selected_model else {
            return Vec::new();
        };
        if read_only {
            state.toast = Some(format!(
                "environment {} is read-only: {} {model}'s server refused",
                state.config.environment,
                command.verb()
            ));
            return Vec::new();
        }
        if view.running.is_some() {
            return Vec::new();
        }
        view.confirming = Some((command, model));
        view.typed.clear();
        return Vec::new();
    }
    let last = count.saturating_sub(1);
    match action {
        Some(Action::Back | Action::Quit) => state.overlay = None,
        Some(Action::Down) => view.selected = (view.selected + 1).min(last),
        Some(Action::Up) => view.selected = view.selected.saturating_sub(1),
        Some(Action::Top) => view.selected = 0,
        Some(Action::Bottom) => view.selected = last,
        Some(Action::Logs) => {
            if let Some(model) = selected_model {
                let back_to = view.clone();
                return super::logs::open_from(state, &model, Some(back_to));
            }
        }
        _ => {}
    }
    Vec::new()
}
