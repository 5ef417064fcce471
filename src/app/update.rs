//! The reducer: `update(&mut State, Msg) -> Vec<Effect>`. No I/O and no clock reads.

use std::collections::{BTreeMap, VecDeque};

use super::effect::Effect;
use super::fleet;
use super::msg::{FleetData, Msg};
use super::state::{Mode, Overlay, Pane, State, View};
use crate::keymap::{Action, Key, KeyCode};

/// How long a message stays in the footer.
const TOAST_SECONDS: f64 = 15.0;

/// Rows a page key moves.
const PAGE: usize = 10;

pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    // Which selection to keep by identity afterwards: after a key, the row now highlighted is
    // the selection; after new data, the selected row stays selected wherever it moved.
    enum Keep {
        Highlighted,
        Fleet,
        Pane,
        Nothing,
    }
    let keep = match &msg {
        Msg::Key(_) | Msg::Click { .. } => Keep::Highlighted,
        Msg::FleetFetched { .. } | Msg::ServersListed { .. } => Keep::Fleet,
        // Rates re-sort the fleet only when it is sorted by one.
        Msg::MetricsScraped { .. } if state.sort != super::state::SortColumn::Name => Keep::Fleet,
        Msg::VersionsFetched { .. }
        | Msg::JournalFetched { .. }
        | Msg::DriftFetched { .. }
        | Msg::RequestsFetched { .. } => Keep::Pane,
        _ => Keep::Nothing,
    };
    let toast_before = state.toast.clone();
    state.unchanged = false;
    let effects = dispatch(state, msg);
    // Nothing new to follow either.
    let keep = if state.unchanged { Keep::Nothing } else { keep };
    // A message stays for a while, then gives the footer back: an old "done" must not read
    // as news after the world has moved on.
    if state.toast != toast_before {
        state.toast_since = state.toast.as_ref().map(|_| state.monotonic);
    } else if state
        .toast_since
        .is_some_and(|since| state.monotonic - since > TOAST_SECONDS)
        && state.modal().is_none()
    {
        state.toast = None;
        state.toast_since = None;
    }
    match keep {
        Keep::Highlighted => super::panes::remember(state),
        Keep::Fleet => super::panes::follow_fleet(state),
        Keep::Pane => super::panes::follow_pane(state),
        Keep::Nothing => {}
    }
    effects
}

fn dispatch(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(state, key),
        Msg::Click { index } => on_click(state, index),
        Msg::Resize { width, height } => {
            state.size = (width, height);
            Vec::new()
        }
        Msg::Tick { now, monotonic } => {
            state.now = now;
            state.monotonic = monotonic;
            due_fetches(state)
        }
        Msg::FleetFetched { at, result } => fleet_fetched(state, at, result),
        Msg::FleetUnchanged { at } => {
            // What was shown is confirmed: news only if the registry was failing before.
            state.unchanged =
                state.sources.registry.error.is_none() && state.sources.registry.last_ok.is_some();
            state.sources.registry.last_ok = Some(at);
            state.sources.registry.error = None;
            Vec::new()
        }
        Msg::ServersListed {
            servers,
            problem,
            known_at,
        } => {
            state.sources.cluster_problem = problem;
            let effects = servers_listed(state, servers);
            // Rows the cluster has not confirmed since it failed are as old as that.
            if let Some(at) = known_at {
                state.sources.servers_status.last_ok = Some(at);
            }
            effects
        }
        Msg::HistoryFetched {
            model,
            range,
            result,
        } => {
            match result {
                Ok(series) => super::chart_range::history_fetched(state, &model, range, series),
                Err(e) => state.toast = Some(format!("chart history: {e}")),
            }
            Vec::new()
        }
        Msg::OpPlanned { result } => {
            if let Some(modal) = state.modal_mut() {
                modal.stage = match result {
                    Ok(plan) => {
                        modal.request = plan.request;
                        super::state::OpStage::Ready(plan)
                    }
                    Err(e) => super::state::OpStage::Failed(e),
                };
            }
            Vec::new()
        }
        Msg::Progress { step } => {
            state.progress = Some(step);
            Vec::new()
        }
        Msg::CheckFinished { result } => super::checks::finished(state, result),
        Msg::OpFinished { result } => op_finished(state, result),
        Msg::SwitchFailed {
            name,
            back_to,
            error,
        } => switch_failed(state, &name, &back_to, &error),
        Msg::DriftFetched { model, at, result } => {
            if let Ok(reports) = &result {
                record_drift_trend(state, &model, reports);
            }
            let (status, data) = (&mut state.sources.drift_status, &mut state.detail.drift);
            store(status, data, model, at, result);
            clamp_detail(state);
            Vec::new()
        }
        Msg::JournalFetched { model, at, result } => {
            let (status, data) = (&mut state.sources.journal_status, &mut state.detail.journal);
            store(status, data, model, at, result);
            clamp_detail(state);
            Vec::new()
        }
        Msg::LogFetched {
            model,
            file,
            result,
        } => {
            super::logs::fetched(state, &model, file, result);
            Vec::new()
        }
        Msg::RequestsFetched {
            model,
            at,
            result,
            search,
        } => {
            super::requests::fetched(state, model, at, result, search);
            clamp_detail(state);
            Vec::new()
        }
        Msg::EnvironmentRead { name, at, result } => {
            super::everywhere::read(state, name, at, result);
            Vec::new()
        }
        Msg::VersionsFetched { model, at, result } => {
            let (status, data) = (
                &mut state.sources.versions_status,
                &mut state.detail.versions,
            );
            store(status, data, model, at, result);
            clamp_detail(state);
            Vec::new()
        }
        Msg::MetricsScraped {
            model,
            endpoint,
            monotonic,
            at,
            result,
        } => {
            let judged = model.clone();
            super::signals::scraped(state, model, endpoint, monotonic, at, result);
            super::alerts::judge(state, &judged);
            Vec::new()
        }
    }
}

/// The registry's answer: its models and interrupted operations (and the servers, when they
/// came with it); on failure the last good data stays, with the error and its age.
fn fleet_fetched(
    state: &mut State,
    at: chrono::DateTime<chrono::Utc>,
    result: Result<FleetData, String>,
) -> Vec<Effect> {
    match result {
        Ok(FleetData {
            models,
            servers,
            interrupted,
            rollouts,
        }) => {
            let environment = state.config.environment.clone();
            let rollouts: BTreeMap<String, crate::model::Rollout> = rollouts
                .into_iter()
                .filter(|r| r.environment == environment)
                .map(|r| (r.model.clone(), r))
                .collect();
            let same = state.models == models
                && state.interrupted == interrupted
                && state.rollouts == rollouts
                && state.sources.registry.error.is_none()
                && state.sources.registry.last_ok.is_some();
            state.interrupted = interrupted;
            state.rollouts = rollouts;
            state.models = models;
            if !same {
                clamp_selection(state);
            }
            state.sources.registry.last_ok = Some(at);
            state.sources.registry.error = None;
            match servers {
                Some(servers) => {
                    let effects = servers_listed(state, servers);
                    state.unchanged &= same;
                    effects
                }
                // The fetch stays in flight until the servers are listed.
                None => {
                    state.unchanged = same;
                    Vec::new()
                }
            }
        }
        Err(e) => {
            // Keep the last good data; show the error and its age.
            state.sources.registry.in_flight = false;
            state.sources.registry.error = Some(e);
            Vec::new()
        }
    }
}

/// An operation ended: its result in the dialog and a toast, and every source read again.
fn op_finished(state: &mut State, result: Result<String, String>) -> Vec<Effect> {
    state.progress = None;
    super::servers::finished(state, result.is_ok());
    state.toast = Some(match &result {
        Ok(summary) => summary.clone(),
        Err(e) => format!("failed: {e}"),
    });
    if let Some(modal) = state.modal_mut() {
        modal.stage = super::state::OpStage::Done(result);
    }
    // Show the new state at once.
    state.last_fetch = None;
    state.sources.registry.in_flight = false;
    due_fetches(state)
}

/// Appends each feature's statistic to its trend (features with no live rows have none).
fn record_drift_trend(state: &mut State, model: &str, reports: &[crate::model::DriftReport]) {
    use super::state::DRIFT_TREND;
    for report in reports {
        for feature in report
            .features
            .iter()
            .chain(&report.predictions)
            .filter(|f| f.n > 0)
        {
            let points = state
                .detail
                .drift_trend
                .entry((model.to_string(), report.version, feature.name.clone()))
                .or_insert_with(|| VecDeque::with_capacity(DRIFT_TREND));
            if points.len() == DRIFT_TREND {
                points.pop_front();
            }
            points.push_back(feature.statistic as f32);
        }
    }
}

/// Keeps a detail source's answer: its data on success; on failure the error, with the last
/// good data kept on screen.
fn store<T>(
    status: &mut super::state::SourceStatus,
    data: &mut std::collections::BTreeMap<String, T>,
    model: String,
    at: chrono::DateTime<chrono::Utc>,
    result: Result<T, String>,
) {
    status.in_flight = false;
    match result {
        Ok(value) => {
            data.insert(model, value);
            status.last_ok = Some(at);
            status.error = None;
        }
        Err(e) => status.error = Some(e),
    }
}

/// A click on a fleet row selects it; a click on the selected row opens it. A click on a row
/// of a pane's list selects it (then keys act on it). While a dialog is open, or the user
/// types, clicks do nothing (keys do everything).
fn on_click(state: &mut State, index: usize) -> Vec<Effect> {
    if state.overlay.is_some() || state.mode != Mode::Normal {
        return Vec::new();
    }
    match state.view.clone() {
        View::Fleet => {
            if index >= fleet::rows(state).len() {
                return Vec::new();
            }
            if index == state.selected {
                return on_action(state, Action::Open);
            }
            state.selected = index;
        }
        View::Everywhere => {
            if index >= super::everywhere::rows(state).len() {
                return Vec::new();
            }
            if index == super::everywhere::selected(state) {
                return on_action(state, Action::Open);
            }
            if let Some(everywhere) = &mut state.everywhere {
                everywhere.selected = index;
            }
        }
        View::Model {
            pane: Pane::Versions | Pane::Journal | Pane::Drift | Pane::Requests,
            ..
        } => {
            if index < detail_rows(state) {
                state.detail.selected = index;
            }
        }
        View::Model { .. } => {}
    }
    Vec::new()
}

/// Fetches whose refresh interval has passed.
fn due_fetches(state: &mut State) -> Vec<Effect> {
    let mut effects = super::everywhere::due_reads(state);
    effects.extend(this_environment_fetches(state));
    effects
}

/// This environment's fetches whose refresh interval has passed.
fn this_environment_fetches(state: &mut State) -> Vec<Effect> {
    let due = state
        .last_fetch
        .is_none_or(|t| state.monotonic - t >= state.config.refresh_seconds);
    if !due || state.sources.registry.in_flight {
        return Vec::new();
    }
    state.last_fetch = Some(state.monotonic);
    state.sources.registry.in_flight = true;
    let mut effects = vec![Effect::FetchFleet];
    effects.extend(detail_fetches(state));
    // An open log follows its file.
    effects.extend(super::logs::read(state));
    effects
}

/// Fetches the open model's panes need, unless one is already under way.
fn detail_fetches(state: &mut State) -> Vec<Effect> {
    let Some(model) = state.open_model().map(str::to_string) else {
        return Vec::new();
    };
    let mut effects = Vec::new();
    if !state.sources.versions_status.in_flight {
        state.sources.versions_status.in_flight = true;
        effects.push(Effect::FetchVersions {
            model: model.clone(),
        });
    }
    if !state.sources.journal_status.in_flight {
        state.sources.journal_status.in_flight = true;
        effects.push(Effect::FetchJournal {
            model: model.clone(),
        });
    }
    effects.extend(super::requests::tail(state, &model));
    let endpoint = state
        .servers
        .get(&model)
        .filter(|s| s.supervisor_alive || s.healthy)
        .and_then(|s| s.endpoint());
    if let Some(endpoint) = endpoint
        && !state.sources.drift_status.in_flight
    {
        state.sources.drift_status.in_flight = true;
        effects.push(Effect::FetchDrift { model, endpoint });
    }
    effects
}

fn detail_rows(state: &State) -> usize {
    super::panes::rows(state)
}

fn clamp_detail(state: &mut State) {
    state.detail.selected = state
        .detail
        .selected
        .min(detail_rows(state).saturating_sub(1));
}

fn clamp_selection(state: &mut State) {
    let n = fleet::rows(state).len();
    state.selected = state.selected.min(n.saturating_sub(1));
}

fn on_key(state: &mut State, key: Key) -> Vec<Effect> {
    match &state.overlay {
        None => {}
        Some(Overlay::Operation(_)) => return on_modal_key(state, key),
        Some(Overlay::Check(_)) => return super::checks::on_key(state, key),
        // Any key closes the comparison.
        Some(Overlay::Compare { .. }) => {
            state.overlay = None;
            return Vec::new();
        }
        Some(Overlay::Help | Overlay::Errors) => {
            if matches!(
                state.config.keymap.action(key),
                Some(Action::Back | Action::Help | Action::Quit)
            ) {
                state.overlay = None;
            }
            return Vec::new();
        }
        Some(Overlay::Describe { .. }) => {
            on_describe_key(state, key);
            return Vec::new();
        }
        Some(Overlay::Logs(_)) => return super::logs::on_key(state, key),
        Some(Overlay::Servers(_)) => return super::servers::on_key(state, key),
    }
    match state.mode.clone() {
        // Typing a filter: every key is text (or ends it); none reaches an operation.
        Mode::Filter => {
            let in_pane = state.open_model().is_some();
            let filter = if in_pane {
                &mut state.detail.filter
            } else {
                &mut state.filter
            };
            let mut effects = Vec::new();
            match key.code {
                KeyCode::Enter => {
                    state.mode = Mode::Normal;
                    // The requests pane searches the whole log, not the rows it shows.
                    effects = super::requests::search(state);
                }
                KeyCode::Esc => {
                    filter.clear();
                    state.mode = Mode::Normal;
                    effects = super::requests::search(state);
                }
                KeyCode::Backspace => {
                    filter.pop();
                }
                KeyCode::Char('u') if key.ctrl => filter.clear(),
                KeyCode::Char(c) if !key.ctrl && !key.alt => filter.push(c),
                _ => {}
            }
            // The selected row stays selected while it matches.
            if in_pane {
                super::panes::follow_pane(state);
            } else {
                super::panes::follow_fleet(state);
            }
            effects
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
                if let Some(done) = super::palette::complete(state, &text) {
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
        // The guided tour's `n` (only while a tour runs, so `n` stays free otherwise).
        Mode::Normal if state.guide.is_some() && key == Key::char('n') => {
            let next = state.guide.map(|s| s + 1).unwrap_or(0);
            if next < super::guide::STEPS.len() {
                state.guide = Some(next);
                vec![Effect::GuideStep(next)]
            } else {
                state.toast = Some("that was the last step; q quits the demo".into());
                Vec::new()
            }
        }
        Mode::Normal => match state.config.keymap.action(key) {
            Some(action) => on_action(state, action),
            None => {
                state.toast = Some(format!("{key}: no such key; ? lists the keys"));
                Vec::new()
            }
        },
    }
}

/// Keys over a description: scroll, `y` between text and JSON, Esc (or Enter, q) closes.
fn on_describe_key(state: &mut State, key: Key) {
    let action = state.config.keymap.action(key);
    let Some(Overlay::Describe {
        described,
        json,
        scroll,
    }) = &mut state.overlay
    else {
        return;
    };
    // Lines it shows at this width, so a scroll never runs past them (the drawing shows the
    // last screenful).
    let total = super::describe::shown_lines(described, *json, state.size.0).len();
    let total = u16::try_from(total).unwrap_or(u16::MAX);
    *scroll = (*scroll).min(total);
    match action {
        Some(Action::Back | Action::Quit | Action::Open) => state.overlay = None,
        Some(Action::Json) => {
            *json = !*json;
            *scroll = 0;
        }
        Some(Action::Down) => *scroll = scroll.saturating_add(1),
        Some(Action::Up) => *scroll = scroll.saturating_sub(1),
        Some(Action::PageDown) => *scroll = scroll.saturating_add(PAGE as u16),
        Some(Action::PageUp) => *scroll = scroll.saturating_sub(PAGE as u16),
        Some(Action::Top) => *scroll = 0,
        // The drawing stops at the last screenful.
        Some(Action::Bottom) => *scroll = total,
        _ => {}
    }
}

/// Enter on a row (or `y`, as JSON): the selected object whole.
pub(super) fn describe(state: &mut State, json: bool) {
    match super::describe::selected(state) {
        Some(described) => {
            state.overlay = Some(Overlay::Describe {
                described,
                json,
                scroll: 0,
            })
        }
        None => state.toast = Some("nothing selected to describe".into()),
    }
}

/// The model of the fleet's selected row.
pub(super) fn selected_model(state: &State) -> Option<String> {
    fleet::rows(state)
        .get(state.selected)
        .map(|r| r.model.clone())
}

/// Where a movement key takes a selection in a list of `last + 1` rows; `None` for other keys.
pub(super) fn moved(selected: usize, action: Action, last: usize) -> Option<usize> {
    Some(match action {
        Action::Up => selected.saturating_sub(1),
        Action::Down => (selected + 1).min(last),
        Action::PageUp => selected.saturating_sub(PAGE),
        Action::PageDown => (selected + PAGE).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => return None,
    })
}

/// The actions that start an operation or a check, as a pattern: the per-view matches name
/// them once and stay exhaustive.
macro_rules! operation_actions {
    () => {
        Action::Deploy
            | Action::Promote
            | Action::Rollback
            | Action::Abort
            | Action::Smoke
            | Action::Evaluate
    };
}

/// The same for the actions `on_action` answers the same in every view (quit, help, the
/// palette, refresh) and the movements.
macro_rules! handled_in_every_view {
    () => {
        Action::Quit
            | Action::Help
            | Action::Command
            | Action::Refresh
            | Action::TimeRange
            | Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
    };
}

fn on_action(state: &mut State, action: Action) -> Vec<Effect> {
    state.toast = None;
    // Keys that do the same in every view.
    match action {
        Action::Quit => {
            state.quit = true;
            return vec![Effect::Quit];
        }
        Action::Help => {
            state.overlay = Some(Overlay::Help);
            return Vec::new();
        }
        Action::Command => {
            state.mode = Mode::Command(String::new());
            return Vec::new();
        }
        Action::Refresh => {
            state.last_fetch = None;
            return due_fetches(state);
        }
        Action::TimeRange => {
            state.chart_range = state.chart_range.next();
            state.toast = Some(format!(
                "the serving charts show up to the last {} in {} steps, as many as fit (T for the next range)",
                state.chart_range.label(),
                state.chart_range.step_label()
            ));
            // What the metrics source remembers of that range (Prometheus does).
            return match state.open_model() {
                Some(model) => vec![Effect::FetchHistory {
                    model: model.to_string(),
                    range: state.chart_range,
                }],
                None => Vec::new(),
            };
        }
        _ => {}
    }
    if let View::Model { name, pane } = state.view.clone() {
        return on_model_action(state, &name, pane, action);
    }
    if state.view == View::Everywhere {
        return super::everywhere::on_action(state, action);
    }
    let last = fleet::rows(state).len().saturating_sub(1);
    if let Some(selected) = moved(state.selected, action, last) {
        state.selected = selected;
        return Vec::new();
    }
    match action {
        // A new `/` starts a new filter (k9s does), not an addition to the last one.
        Action::Filter => {
            state.filter.clear();
            state.mode = Mode::Filter;
        }
        Action::Back => state.filter.clear(),
        Action::Sort => state.sort = state.sort.next(),
        Action::SortReverse => state.sort_reversed = !state.sort_reversed,
        Action::Open => {
            if let Some(row) = fleet::rows(state).get(state.selected) {
                let model = row.model.clone();
                return open_model(state, model);
            }
        }
        Action::NextPane | Action::PreviousPane => {}
        // Handled above: the same in every view, or movement.
        handled_in_every_view!() => {}
        Action::Compare => {
            state.toast = Some(
                "compare: open a model's versions pane (Enter, Tab Tab), c on one version, c on another"
                    .into(),
            );
        }
        operation_actions!() => {
            let model = selected_model(state);
            if let Some(model) = model {
                return open_operation(state, &model, action, None);
            }
        }
        Action::Rollout => {
            let model = selected_model(state);
            if let Some(model) = model {
                return super::rollout::on_key(state, &model);
            }
        }
        Action::Shadow => {
            let model = selected_model(state);
            if let Some(model) = model {
                return super::shadow::on_key(state, &model);
            }
        }
        Action::Sentinel => {
            state.toast = Some(
                "t keeps a logged request as a sentinel case: open a model, Tab to its requests pane"
                    .into(),
            );
        }
        Action::Json => describe(state, true),
        Action::Logs => {
            let model = selected_model(state);
            if let Some(model) = model {
                return super::logs::open(state, &model);
            }
        }
    }
    clamp_selection(state);
    Vec::new()
}

/// Opens `model`'s detail on its serving pane, with the fetches its panes need.
pub(super) fn open_model(state: &mut State, model: String) -> Vec<Effect> {
    // Esc goes back where it was opened from: the list sets this again after.
    if let Some(everywhere) = &mut state.everywhere {
        everywhere.opened_from = false;
    }
    state.view = View::Model {
        name: model.clone(),
        pane: Pane::Serving,
    };
    state.detail.selected = 0;
    state.detail.filter.clear();
    state.detail.requests_search = None;
    let mut effects = detail_fetches(state);
    // Charts start with what the metrics source remembers (Prometheus does).
    effects.push(Effect::FetchHistory {
        model: model.clone(),
        range: super::chart_range::ChartRange::FiveMinutes,
    });
    if state.chart_range != super::chart_range::ChartRange::FiveMinutes {
        effects.push(Effect::FetchHistory {
            model,
            range: state.chart_range,
        });
    }
    // The servers again at once: the cluster source fetches an opened model's
    // pods ahead of its watches, and the pane should not wait a refresh for them.
    if !state.sources.registry.in_flight {
        state.last_fetch = Some(state.monotonic);
        state.sources.registry.in_flight = true;
        effects.push(Effect::FetchFleet);
    }
    effects
}

/// Keys in a model's detail view.
pub(super) fn on_model_action(
    state: &mut State,
    name: &str,
    pane: Pane,
    action: Action,
) -> Vec<Effect> {
    let last = detail_rows(state).saturating_sub(1);
    if let Some(selected) = moved(state.detail.selected, action, last) {
        state.detail.selected = selected;
        // Back on the newest request, the pane follows the log again at once.
        if pane == Pane::Requests && selected == 0 {
            return detail_fetches(state);
        }
        return Vec::new();
    }
    match action {
        // Esc clears a filter first, then goes back to the fleet.
        Action::Back if !state.detail.filter.is_empty() => {
            state.detail.filter.clear();
            return super::requests::search(state);
        }
        // Back to the list it was opened from: every environment's, or this one's fleet.
        Action::Back if state.everywhere.as_ref().is_some_and(|e| e.opened_from) => {
            state.view = View::Everywhere;
        }
        Action::Back => state.view = View::Fleet,
        Action::NextPane | Action::PreviousPane => {
            let next = if action == Action::NextPane {
                pane.next()
            } else {
                pane.previous()
            };
            state.view = View::Model {
                name: name.to_string(),
                pane: next,
            };
            state.detail.selected = 0;
            state.detail.filter.clear();
            state.detail.requests_search = None;
            if next == Pane::Requests {
                return detail_fetches(state);
            }
        }
        Action::Filter => match pane {
            Pane::Versions | Pane::Journal | Pane::Drift | Pane::Cluster | Pane::Requests => {
                state.detail.filter.clear();
                state.mode = Mode::Filter
            }
            Pane::Serving => {
                state.toast = Some("the serving pane has no rows to filter".into());
            }
        },
        Action::Sort | Action::SortReverse => {
            state.toast = Some("o sorts the fleet's columns (Esc goes back to it)".into());
        }
        Action::Open => describe(state, false),
        Action::Json => describe(state, true),
        Action::Logs => return super::logs::open(state, name),
        // Handled for every view in `on_action`.
        handled_in_every_view!() => {}
        Action::Compare => {
            let selected = super::panes::selected_version(state);
            match (pane, selected, state.compare_mark.clone()) {
                (Pane::Versions, Some(b), Some((model, a))) if model == name && a != b => {
                    state.overlay = Some(Overlay::Compare {
                        model: name.to_string(),
                        left: a,
                        right: b,
                    });
                    state.compare_mark = None;
                }
                (Pane::Versions, Some(v), _) => {
                    state.compare_mark = Some((name.to_string(), v));
                    state.toast = Some(format!(
                        "v{v} marked: select another version and press c to compare"
                    ));
                }
                _ => {
                    state.toast = Some(
                        "compare: Tab to the versions pane, c on one version, c on another".into(),
                    )
                }
            }
        }
        operation_actions!() => {
            // In the versions pane, the selected version is the one to deploy or roll back to.
            let version = super::panes::selected_version(state);
            return open_operation(state, name, action, version);
        }
        Action::Rollout => return super::rollout::on_key(state, name),
        Action::Shadow => return super::shadow::on_key(state, name),
        Action::Sentinel => return super::shadow::keep_sentinel(state, name),
    }
    Vec::new()
}

/// The servers are known: the fleet fetch is over, and every supervised server with an
/// endpoint is scraped, unless its last scrape is still under way.
fn servers_listed(state: &mut State, servers: Vec<crate::model::ServingStatus>) -> Vec<Effect> {
    state.sources.registry.in_flight = false;
    let servers: BTreeMap<String, crate::model::ServingStatus> =
        servers.into_iter().map(|s| (s.model.clone(), s)).collect();
    state.unchanged = state.servers == servers
        && state.sources.servers_status.last_ok.is_some()
        && state.sources.servers_status.error == state.sources.cluster_problem;
    state.servers = servers;
    // The fleet's rows changed with the models (a new one, a selection past the end).
    if !state.unchanged {
        clamp_selection(state);
    }
    state.sources.servers_status.last_ok = Some(state.now);
    state.sources.servers_status.error = state.sources.cluster_problem.clone();
    // A server that no longer runs has no numbers: what it last said must not pass for now.
    let gone: Vec<String> = state
        .sources
        .metrics
        .keys()
        .filter(|m| {
            state
                .servers
                .get(*m)
                .is_none_or(|s| !(s.supervisor_alive || s.healthy) || s.endpoint().is_none())
        })
        .cloned()
        .collect();
    for model in gone {
        super::signals::server_gone(state, &model);
    }
    // Worked out only when a server could be read (it sorts every row).
    let readable = state
        .servers
        .values()
        .any(|s| (s.supervisor_alive || s.healthy) && s.endpoint().is_some());
    let on_screen = if readable {
        fleet::on_screen(state)
    } else {
        Default::default()
    };
    let slow = chrono::Duration::milliseconds(
        (OFF_SCREEN_EVERY * state.config.refresh_seconds * 1000.0) as i64,
    );
    let targets: Vec<(String, String)> = state
        .servers
        .values()
        // A server whose supervisor died still serves: it is read like any other.
        .filter(|s| s.supervisor_alive || s.healthy)
        .filter_map(|s| s.endpoint().map(|e| (s.model.clone(), e)))
        .filter(|(model, _)| {
            let status = state.sources.metrics.get(model);
            let in_flight = status.is_some_and(|m| m.in_flight);
            let recent = status
                .and_then(|m| m.last_ok)
                .is_some_and(|at| state.now - at < slow);
            !in_flight && (on_screen.contains(model) || !recent)
        })
        .collect();
    let mut effects = Vec::with_capacity(targets.len());
    for (model, endpoint) in targets {
        state
            .sources
            .metrics
            .entry(model.clone())
            .or_default()
            .in_flight = true;
        effects.push(Effect::Scrape { model, endpoint });
    }
    effects
}

/// Servers off screen are scraped this many refresh intervals apart: a thousand servers read
/// every second cost the console a quarter of a core, for rows nobody is looking at.
const OFF_SCREEN_EVERY: f64 = 10.0;

/// Opens the operation dialog on finishing or reverting an interrupted operation: of `model`,
/// or the newest one.
fn open_recovery(
    state: &mut State,
    model: Option<&str>,
    how: crate::engine::ops::Recovery,
) -> Vec<Effect> {
    let found = state
        .interrupted
        .iter()
        .find(|i| model.is_none_or(|m| m == i.model))
        .cloned();
    let Some(found) = found else {
        state.toast = Some(match model {
            Some(m) => format!("{m} has no interrupted operation"),
            None => "no interrupted operation to finish or revert".into(),
        });
        return Vec::new();
    };
    state.progress = None;
    state.overlay = Some(Overlay::Operation(super::state::OpModal {
        model: found.model.clone(),
        // Replaced by the recovered operation's own request once the plan arrives.
        request: crate::engine::ops::OpRequest::Abort,
        recovery: Some(how),
        stage: super::state::OpStage::Planning,
        typed: String::new(),
        override_gates: false,
        allow_pipeline_mismatch: false,
    }));
    vec![Effect::PlanRecovery {
        model: found.model,
        how,
    }]
}

/// Opens the operation dialog and asks the engine for a plan.
fn open_operation(
    state: &mut State,
    model: &str,
    action: Action,
    version: Option<u32>,
) -> Vec<Effect> {
    use super::state::CheckKind;
    use crate::engine::ops::OpRequest;
    let request = match (action, version) {
        (Action::Smoke, v) => return super::checks::open(state, model, CheckKind::Smoke, v),
        (Action::Evaluate, v) => return super::checks::open(state, model, CheckKind::Evaluate, v),
        (Action::Promote, _) => OpRequest::Promote,
        (Action::Abort, _) => OpRequest::Abort,
        (Action::Rollback, to) => OpRequest::Rollback { to },
        (Action::Deploy, Some(v)) => OpRequest::Deploy {
            version: v,
            canary_percent: Some(10),
        },
        (Action::Deploy, None) => {
            state.toast = Some(
                "deploy: open the model's versions pane (Enter, Tab Tab) and press d on a version"
                    .into(),
            );
            return Vec::new();
        }
        (other, _) => {
            state.toast = Some(format!("{} is not an operation", other.name()));
            return Vec::new();
        }
    };
    state.progress = None;
    state.overlay = Some(Overlay::Operation(super::state::OpModal {
        model: model.to_string(),
        request,
        recovery: None,
        stage: super::state::OpStage::Planning,
        typed: String::new(),
        override_gates: false,
        allow_pipeline_mismatch: false,
    }));
    vec![Effect::PlanOp {
        model: model.to_string(),
        request,
    }]
}

/// Keys while the operation dialog is open: Esc cancels; Enter (or the typed model name)
/// confirms; `o` overrides failing gates; `m` confirms a feature-pipeline change.
fn on_modal_key(state: &mut State, key: Key) -> Vec<Effect> {
    use super::state::OpStage;
    let typed_confirmation = state.config.typed_confirmation;
    let Some(modal) = state.modal_mut() else {
        return Vec::new();
    };
    match (&modal.stage, key.code) {
        (OpStage::Running(_), _) => Vec::new(),
        (_, KeyCode::Esc) => {
            state.overlay = None;
            // The dialog's hints ("press o ...") go with it.
            state.toast = None;
            Vec::new()
        }
        (OpStage::Done(_) | OpStage::Failed(_), _) => {
            state.overlay = None;
            Vec::new()
        }
        (OpStage::Ready(plan), KeyCode::Enter) => {
            let consent = modal.consent();
            let typed_ok = !typed_confirmation || modal.typed == modal.model;
            if plan.blocking_gates().any(|g| !consent.covers(g)) {
                state.toast = Some(
                    "a gate failed or has not enough data yet: press o to override it (the journal records it), or Esc".into(),
                );
                return Vec::new();
            }
            if !consent.allows(plan) {
                state.toast = Some("the feature pipeline changes: press m to confirm upstream features match, or Esc".into());
                return Vec::new();
            }
            if !typed_ok {
                state.toast = Some(format!("type {} to confirm", modal.model));
                return Vec::new();
            }
            let plan = plan.clone();
            let effect = Effect::RunOp {
                plan: plan.clone(),
                consent,
            };
            modal.stage = OpStage::Running(plan);
            vec![effect]
        }
        (OpStage::Ready(_), KeyCode::Backspace) => {
            modal.typed.pop();
            Vec::new()
        }
        (OpStage::Ready(_), KeyCode::Char(c)) if typed_confirmation => {
            modal.typed.push(c);
            Vec::new()
        }
        (OpStage::Ready(_), KeyCode::Char('o')) => {
            modal.override_gates = !modal.override_gates;
            Vec::new()
        }
        (OpStage::Ready(_), KeyCode::Char('m')) => {
            modal.allow_pipeline_mismatch = !modal.allow_pipeline_mismatch;
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn run_command(state: &mut State, text: &str) -> Vec<Effect> {
    let mut words = text.split_whitespace();
    match (words.next(), words.next()) {
        (Some("q" | "quit"), _) => {
            state.quit = true;
            vec![Effect::Quit]
        }
        (Some("fleet"), Some("all")) => super::everywhere::open(state),
        (Some("server" | "servers"), _) => super::servers::open(state),
        (Some("models" | "fleet"), _) => {
            state.view = View::Fleet;
            if let Some(everywhere) = &mut state.everywhere {
                everywhere.opened_from = false;
            }
            Vec::new()
        }
        (
            Some(pane @ ("serving" | "drift" | "versions" | "cluster" | "journal" | "requests")),
            _,
        ) => {
            let pane = match pane {
                "drift" => Pane::Drift,
                "requests" => Pane::Requests,
                "versions" => Pane::Versions,
                "cluster" => Pane::Cluster,
                "journal" => Pane::Journal,
                _ => Pane::Serving,
            };
            let name = state
                .open_model()
                .map(str::to_string)
                .or_else(|| selected_model(state));
            match name {
                Some(name) => {
                    state.view = View::Model { name, pane };
                    state.detail.selected = 0;
                    state.detail.filter.clear();
                    state.detail.requests_search = None;
                    detail_fetches(state)
                }
                None => {
                    state.toast = Some("no model to show; register one first".into());
                    Vec::new()
                }
            }
        }
        (Some("help"), _) => {
            state.overlay = Some(Overlay::Help);
            Vec::new()
        }
        (Some("errors"), _) => {
            state.overlay = Some(Overlay::Errors);
            Vec::new()
        }
        (Some(verb @ ("finish" | "revert")), model) => {
            let how = if verb == "finish" {
                crate::engine::ops::Recovery::Finish
            } else {
                crate::engine::ops::Recovery::Revert
            };
            open_recovery(state, model, how)
        }
        (Some(verb @ ("shadow" | "rollout")), _) => {
            // The open model, else the one selected in the fleet.
            let model = state
                .open_model()
                .map(str::to_string)
                .or_else(|| selected_model(state));
            let words: Vec<&str> = text.split_whitespace().skip(1).collect();
            match (model, verb) {
                (Some(model), "shadow") => super::shadow::on_command(state, &model, &words),
                (Some(model), _) => super::rollout::on_command(state, &model, &words),
                (None, _) => {
                    state.toast = Some(format!("no model selected: :{verb} acts on one"));
                    Vec::new()
                }
            }
        }
        (Some("theme"), Some(name)) => {
            let themes = crate::theme::Theme::names();
            if themes.contains(&name) {
                state.config.theme = name.to_string();
            } else {
                state.toast = Some(format!("no theme {name:?}; themes: {}", themes.join(", ")));
            }
            Vec::new()
        }
        (Some("env"), Some(name)) if name == state.config.environment => Vec::new(),
        (Some("env"), Some(name)) => switch_environment(state, name),
        (None, _) => Vec::new(),
        (Some(other), _) => {
            state.toast = Some(format!(
                "unknown command :{other}; try :models, :errors, :theme NAME, :env NAME, :help, :q"
            ));
            Vec::new()
        }
    }
}

/// `:env NAME`: a fresh state for another configured environment (nothing read from the old
/// one may pass for the new one's), and the effect that switches the background's sources.
pub(super) fn switch_environment(state: &mut State, name: &str) -> Vec<Effect> {
    let Some((_, read_only, typed)) = state
        .config
        .environments
        .iter()
        .find(|(n, _, _)| n == name)
        .cloned()
    else {
        let known: Vec<&str> = state
            .config
            .environments
            .iter()
            .map(|(n, _, _)| n.as_str())
            .collect();
        state.toast = Some(format!(
            "no environment {name:?} in the config (configured: {})",
            known.join(", ")
        ));
        return Vec::new();
    };
    start_over_in(state, name, read_only, typed);
    state.toast = Some(format!("environment {name}"));
    let mut effects = vec![Effect::SwitchEnvironment {
        name: name.to_string(),
    }];
    effects.extend(due_fetches(state));
    effects
}

/// Nothing read from the old environment may pass for the new one's: a fresh state, keeping
/// only what is the user's (keys, theme, thresholds, terminal, clock).
fn start_over_in(state: &mut State, name: &str, read_only: bool, typed_confirmation: bool) {
    let config = super::state::ConsoleConfig {
        environment: name.to_string(),
        read_only,
        typed_confirmation,
        ..state.config.clone()
    };
    let everywhere = super::everywhere::leaving(state);
    *state = State {
        config,
        everywhere,
        now: state.now,
        monotonic: state.monotonic,
        size: state.size,
        ..State::new(
            name,
            read_only,
            &state.config.theme,
            state.config.keymap.clone(),
            state.config.refresh_seconds,
        )
    };
}

/// The environment could not be opened (its sources or operator): the console stays in the
/// one it was in, as its sources still are, and says why.
fn switch_failed(state: &mut State, name: &str, back_to: &str, error: &str) -> Vec<Effect> {
    let (read_only, typed) = state
        .config
        .environments
        .iter()
        .find(|(n, _, _)| n == back_to)
        .map_or(
            (state.config.read_only, state.config.typed_confirmation),
            |(_, r, t)| (*r, *t),
        );
    start_over_in(state, back_to, read_only, typed);
    state.toast = Some(format!(
        "cannot switch to {name}: {error}; still in {back_to}"
    ));
    due_fetches(state)
}
