//! Every configured environment's fleet in one list (`:fleet all`): this environment's rows as
//! the console reads them, each other one's from its own periodic read. Every environment says
//! how fresh it is, or why it cannot be read: a dead one shows as dead, with its last rows and
//! their age, and never holds back the others. Keys act on a row in its own environment (the
//! console moves there first, with that environment's read-only and confirmation rules).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::effect::Effect;
use super::fleet::{self, FleetRow};
use super::state::{Mode, SourceStatus, State, View};
use crate::keymap::Action;

/// Seconds between two reads of another environment while the list is open: each read lists
/// its registry and scrapes its servers twice, so it is paced slower than this one's refresh.
pub const READ_EVERY_SECONDS: f64 = 10.0;

/// The other environments' fleets, and the list's selection.
#[derive(Debug, Clone, Default)]
pub struct Everywhere {
    /// By environment name; this environment's rows are the console's own.
    pub environments: BTreeMap<String, EnvironmentFleet>,
    /// The selected row, and what it is (environment, model): the selection follows it when
    /// rows re-sort.
    pub selected: usize,
    pub identity: Option<(String, String)>,
    /// A model was opened from this list: Esc in it comes back here.
    pub opened_from: bool,
}

/// One read of another environment: its rows, and why its serving numbers could not be read
/// where they could not (its registry answered, its metrics source did not).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvironmentRows {
    pub rows: Vec<FleetRow>,
    pub metrics_problem: Option<String>,
}

impl From<Vec<FleetRow>> for EnvironmentRows {
    fn from(rows: Vec<FleetRow>) -> Self {
        Self {
            rows,
            metrics_problem: None,
        }
    }
}

/// Another environment's fleet as last read.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentFleet {
    pub rows: Vec<FleetRow>,
    /// Its metrics source failing at the last read: the rows have no numbers, and the list
    /// says why rather than a bare ✔.
    pub metrics_problem: Option<String>,
    pub status: SourceStatus,
    /// When its read was last asked for (monotonic seconds).
    pub asked: Option<f64>,
}

/// How far an environment's rows can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Freshness {
    /// Read at its last refresh.
    Live,
    /// Not read yet.
    Reading,
    /// Read, but longer ago than its reads are paced (the list was closed, or a read hangs):
    /// the rows are this old.
    Old { age_seconds: i64 },
    /// Its last read failed: the rows shown (if any) are this old.
    Failing {
        error: String,
        age_seconds: Option<i64>,
    },
    /// Read at its last refresh, but its serving numbers could not be: the rows have none.
    NoNumbers { problem: String },
}

/// One line of the list: a model in an environment, or an environment with no model to show
/// (not read yet, unreadable, or with nothing registered).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EverywhereRow<'a> {
    pub environment: &'a str,
    pub read_only: bool,
    pub freshness: Freshness,
    #[serde(flatten)]
    /// Borrowed from the other environments' reads (three thousand rows are drawn a few times
    /// a second: copying them was most of a frame).
    pub row: Option<RowRef<'a>>,
}

/// A fleet row borrowed from another environment's read, or worked out now (this
/// environment's, or one marked stale): small either way, so sorting thousands moves little.
#[derive(Debug, Clone, PartialEq)]
pub enum RowRef<'a> {
    Borrowed(&'a FleetRow),
    Owned(Box<FleetRow>),
}

impl std::ops::Deref for RowRef<'_> {
    type Target = FleetRow;

    fn deref(&self) -> &FleetRow {
        match self {
            RowRef::Borrowed(row) => row,
            RowRef::Owned(row) => row,
        }
    }
}

impl Serialize for RowRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl EverywhereRow<'_> {
    pub fn model(&self) -> Option<&str> {
        self.row.as_ref().map(|r| r.model.as_str())
    }

    fn identity(&self) -> (String, String) {
        (
            self.environment.to_string(),
            self.model().unwrap_or_default().to_string(),
        )
    }
}

/// The configured environments (this one included even when the config names none), with
/// whether each is read-only.
fn environments(state: &State) -> Vec<(&str, bool)> {
    let mut all: Vec<(&str, bool)> = state
        .config
        .environments
        .iter()
        .map(|(name, read_only, _)| (name.as_str(), *read_only))
        .collect();
    if !all.iter().any(|(n, _)| *n == state.config.environment) {
        all.push((&state.config.environment, state.config.read_only));
    }
    all.sort();
    all
}

fn freshness(status: &SourceStatus, now: DateTime<Utc>, every: f64) -> Freshness {
    match (&status.error, status.last_ok) {
        (Some(error), _) => Freshness::Failing {
            error: error.clone(),
            age_seconds: status.age_seconds(now),
        },
        (None, None) => Freshness::Reading,
        (None, Some(_)) => match status.lag_seconds(now, every) {
            Some(age_seconds) => Freshness::Old { age_seconds },
            None => Freshness::Live,
        },
    }
}

/// Seconds between two reads of an environment: this one's refresh, the others' pace.
fn pace(state: &State, here: bool) -> f64 {
    if here {
        state.config.refresh_seconds
    } else {
        state.config.refresh_seconds.max(READ_EVERY_SECONDS)
    }
}

/// Every environment's rows, filtered by the `/` filter (on environment and model) and sorted
/// like the fleet; an environment with no row to show has one line saying why, after the rows.
pub fn rows(state: &State) -> Vec<EverywhereRow<'_>> {
    let filter = super::filter::RowFilter::new(&state.filter);
    let reads = state.everywhere.as_ref().map(|e| &e.environments);
    let mut rows = Vec::new();
    let mut placeholders = Vec::new();
    for (name, read_only) in environments(state) {
        let here = name == state.config.environment;
        let stored = reads.and_then(|r| r.get(name));
        // Just moved here: its own read has not answered yet, the list's last read of it has.
        let fresh_here = here && (state.sources.registry.last_ok.is_some() || stored.is_none());
        let (models, status): (Vec<RowRef>, SourceStatus) = if fresh_here {
            (
                fleet::all_rows(state)
                    .into_iter()
                    .map(|r| RowRef::Owned(Box::new(r)))
                    .collect(),
                state.sources.registry.clone(),
            )
        } else {
            (
                stored.map_or_else(Vec::new, |r| r.rows.iter().map(RowRef::Borrowed).collect()),
                stored.map(|r| r.status.clone()).unwrap_or_default(),
            )
        };
        let freshness = match (
            freshness(&status, state.now, pace(state, fresh_here)),
            stored
                .filter(|_| !fresh_here)
                .and_then(|r| r.metrics_problem.clone()),
        ) {
            (Freshness::Live, Some(problem)) => Freshness::NoNumbers { problem },
            (freshness, _) => freshness,
        };
        // Numbers from a read that failed since are stale, as the fleet says of a server.
        let stale = match &freshness {
            Freshness::Failing { error, age_seconds } => Some((*age_seconds, error.clone())),
            Freshness::Old { age_seconds } => {
                Some((Some(*age_seconds), "not read again since".to_string()))
            }
            Freshness::Live | Freshness::Reading | Freshness::NoNumbers { .. } => None,
        };
        let models: Vec<RowRef> = match stale {
            Some((age_seconds, error)) => models
                .into_iter()
                .map(|r| {
                    if r.stats.is_none() {
                        return r;
                    }
                    let mut stale = (*r).clone();
                    stale.signal = fleet::Signal::Stale {
                        age_seconds,
                        error: format!("{name}: {error}"),
                    };
                    RowRef::Owned(Box::new(stale))
                })
                .collect(),
            None => models,
        };
        if models.is_empty() {
            if filter.accepts(&[name]) {
                placeholders.push(EverywhereRow {
                    environment: name,
                    read_only,
                    freshness,
                    row: None,
                });
            }
            continue;
        }
        rows.extend(
            models
                .into_iter()
                .filter(|r| filter.accepts(&[name, r.model.as_str()]))
                .map(|row| EverywhereRow {
                    environment: name,
                    read_only,
                    freshness: freshness.clone(),
                    row: Some(row),
                }),
        );
    }
    rows.sort_by(|a, b| match (&a.row, &b.row) {
        (Some(x), Some(y)) => fleet::order(x, y, state.sort, state.sort_reversed)
            .then_with(|| a.environment.cmp(b.environment)),
        _ => a.environment.cmp(b.environment),
    });
    rows.extend(placeholders);
    rows
}

/// Reads of the other environments that are due (only while the list is shown).
pub fn due_reads(state: &mut State) -> Vec<Effect> {
    if state.view != super::state::View::Everywhere {
        return Vec::new();
    }
    let every = state.config.refresh_seconds.max(READ_EVERY_SECONDS);
    let now = state.monotonic;
    let here = state.config.environment.clone();
    let names: Vec<String> = environments(state)
        .into_iter()
        .map(|(n, _)| n.to_string())
        .filter(|n| *n != here)
        .collect();
    let everywhere = state.everywhere.get_or_insert_with(Default::default);
    let mut effects = Vec::new();
    for name in names {
        let read = everywhere.environments.entry(name.clone()).or_default();
        if read.status.in_flight || read.asked.is_some_and(|t| now - t < every) {
            continue;
        }
        read.status.in_flight = true;
        read.asked = Some(now);
        effects.push(Effect::ReadEnvironment { name });
    }
    effects
}

/// Another environment's fleet arrived (or its read failed: its last rows stay, with their
/// age and the error).
pub fn read(
    state: &mut State,
    name: String,
    at: DateTime<Utc>,
    result: Result<EnvironmentRows, String>,
) {
    let now = state.now;
    let every = pace(state, false);
    let everywhere = state.everywhere.get_or_insert_with(Default::default);
    let read = everywhere.environments.entry(name).or_default();
    read.status.in_flight = false;
    // The same rows again, from an environment that was fresh: nothing to draw.
    state.unchanged = matches!(&result, Ok(r) if r.rows == read.rows && r.metrics_problem == read.metrics_problem)
        && read.status.error.is_none()
        && read.status.last_ok.is_some()
        && read.status.lag_seconds(now, every).is_none();
    match result {
        Ok(EnvironmentRows {
            rows,
            metrics_problem,
        }) => {
            read.rows = rows;
            read.metrics_problem = metrics_problem;
            read.status.last_ok = Some(at);
            read.status.error = None;
        }
        Err(e) => read.status.error = Some(e),
    }
    follow(state);
}

/// The row now highlighted becomes the selection (after a key).
pub fn remember(state: &mut State) {
    let identity = rows(state)
        .get(selected(state))
        .map(EverywhereRow::identity);
    if let Some(everywhere) = &mut state.everywhere {
        everywhere.identity = identity;
    }
}

/// After rows changed under the user: the same row stays selected wherever it moved.
pub fn follow(state: &mut State) {
    let Some(everywhere) = &state.everywhere else {
        return;
    };
    let rows = rows(state);
    let found = everywhere
        .identity
        .as_ref()
        .and_then(|(environment, model)| {
            rows.iter().position(|r| {
                r.environment == environment && r.model().unwrap_or_default() == model
            })
        });
    let (selected, identity) = match found {
        Some(index) => (index, everywhere.identity.clone()),
        None => {
            let index = everywhere.selected.min(rows.len().saturating_sub(1));
            (index, rows.get(index).map(EverywhereRow::identity))
        }
    };
    drop(rows);
    if let Some(everywhere) = &mut state.everywhere {
        everywhere.selected = selected;
        everywhere.identity = identity;
    }
}

/// The selected row's index.
pub fn selected(state: &State) -> usize {
    state.everywhere.as_ref().map_or(0, |e| e.selected)
}

/// Whether the selected row's environment is read-only (unknown: yes), from what the
/// selection is, without working out every row again.
pub fn selected_read_only(state: &State) -> bool {
    let Some((environment, _)) = state.everywhere.as_ref().and_then(|e| e.identity.as_ref()) else {
        return true;
    };
    environments(state)
        .iter()
        .find(|(name, _)| name == environment)
        .is_none_or(|(_, read_only)| *read_only)
}

/// The selected row.
pub fn selected_row(state: &State) -> Option<EverywhereRow<'_>> {
    rows(state).into_iter().nth(selected(state))
}

/// `:fleet all`: the list, read at once.
pub fn open(state: &mut State) -> Vec<Effect> {
    // Starting on the model selected in this environment's fleet.
    let from_fleet = (state.view == View::Fleet)
        .then(|| super::update::selected_model(state))
        .flatten()
        .map(|model| (state.config.environment.clone(), model));
    state.view = View::Everywhere;
    let everywhere = state.everywhere.get_or_insert_with(Default::default);
    everywhere.opened_from = false;
    if from_fleet.is_some() {
        everywhere.identity = from_fleet;
    }
    // Asked now, not at the next pace: whoever typed it wants to see.
    for read in everywhere.environments.values_mut() {
        read.asked = None;
    }
    follow(state);
    due_reads(state)
}

/// What `:env` keeps of the list when it starts over in another environment: the others' reads,
/// and the one it leaves as this console last read it (it is one of the others now).
pub fn leaving(state: &State) -> Option<Everywhere> {
    let mut everywhere = state.everywhere.clone()?;
    // A model opened in the environment left behind is not one to come back to.
    everywhere.opened_from = false;
    let mut status = state.sources.registry.clone();
    status.in_flight = false;
    everywhere.environments.insert(
        state.config.environment.clone(),
        EnvironmentFleet {
            rows: fleet::all_rows(state),
            metrics_problem: None,
            status,
            asked: Some(state.monotonic),
        },
    );
    Some(everywhere)
}

/// Keys on the list. Movement, `/`, sorting and Esc act on the list; the rest act on the
/// selected row's model in its own environment.
pub(super) fn on_action(state: &mut State, action: Action) -> Vec<Effect> {
    let last = rows(state).len().saturating_sub(1);
    if let Some(to) = super::update::moved(selected(state), action, last) {
        if let Some(everywhere) = &mut state.everywhere {
            everywhere.selected = to;
        }
        return Vec::new();
    }
    match action {
        Action::Filter => {
            state.filter.clear();
            state.mode = Mode::Filter;
        }
        Action::Back if !state.filter.is_empty() => state.filter.clear(),
        Action::Back => state.view = View::Fleet,
        Action::Sort => state.sort = state.sort.next(),
        Action::SortReverse => state.sort_reversed = !state.sort_reversed,
        Action::Json => super::update::describe(state, true),
        Action::NextPane | Action::PreviousPane => {}
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
        | Action::Bottom => {}
        Action::Open
        | Action::Deploy
        | Action::Promote
        | Action::Rollback
        | Action::Abort
        | Action::Smoke
        | Action::Evaluate
        | Action::Rollout
        | Action::Shadow
        | Action::Sentinel
        | Action::Compare
        | Action::Logs => return act_on_selected(state, action),
    }
    follow(state);
    Vec::new()
}

/// Opens the selected row's model in its environment (moving the console there first, so
/// what follows acts there, with its rules), then does what `action` does in a model's view.
fn act_on_selected(state: &mut State, action: Action) -> Vec<Effect> {
    let Some((environment, model)) =
        selected_row(state).map(|r| (r.environment.to_string(), r.model().map(str::to_string)))
    else {
        return Vec::new();
    };
    // A line saying why an environment has no rows: Enter shows it whole (its error may be
    // cut), rather than moving the console somewhere it cannot read.
    if model.is_none() {
        super::update::describe(state, action == Action::Json);
        return Vec::new();
    }
    let mut effects = Vec::new();
    if environment != state.config.environment {
        // The list is one view over every environment: its filter and order stay as they
        // were when the console moves under it.
        let kept = (state.filter.clone(), state.sort, state.sort_reversed);
        effects = super::update::switch_environment(state, &environment);
        (state.filter, state.sort, state.sort_reversed) = kept;
        if state.config.environment != environment {
            // Refused (and said why): nothing acts in the wrong place.
            return effects;
        }
    }
    let Some(model) = model else {
        return effects;
    };
    effects.extend(super::update::open_model(state, model.clone()));
    if let Some(everywhere) = &mut state.everywhere {
        everywhere.opened_from = true;
    }
    if action != Action::Open {
        let pane = crate::app::state::Pane::Serving;
        effects.extend(super::update::on_model_action(state, &model, pane, action));
    }
    effects
}
