//! The rows of the open model's panes as the user sees them (filtered by `/`), and which row is
//! selected by identity: a version, a journal row or a feature stays selected while the rows
//! refresh, re-sort or filter; the index is derived from it. The reducer and the drawing read
//! the same rows, so a key acts on the row that is highlighted.

use crate::model::{FeatureDrift, JournalEntry, LoggedRequest, ModelVersion};

use super::filter::RowFilter;
use super::state::{Pane, State, View};

/// What a selected row is, whatever its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowId {
    Model(String),
    Version(u32),
    Journal(i64),
    Feature(String),
    /// A logged request, by its time and id (ids are the client's and may repeat).
    Request(String),
}

fn request_key(e: &LoggedRequest) -> String {
    format!(
        "{}|{}",
        e.at.to_rfc3339(),
        e.id.as_deref().unwrap_or_default()
    )
}

/// Whether a row whose words are `fields` passes the open pane's filter.
fn matches(filter: &RowFilter, fields: &[&str]) -> bool {
    filter.accepts(fields)
}

/// The open pane's `/` filter (a regular expression, `!` for the rows that do not match).
fn needle(state: &State) -> RowFilter {
    RowFilter::new(&state.detail.filter)
}

/// The open model's versions, filtered.
pub fn versions<'a>(state: &'a State, model: &str) -> Vec<&'a ModelVersion> {
    let needle = needle(state);
    state
        .detail
        .versions
        .get(model)
        .map(|all| {
            all.iter()
                .filter(|v| {
                    let metrics: Vec<String> =
                        v.metrics.iter().map(|(k, x)| format!("{k}={x}")).collect();
                    matches(
                        &needle,
                        &[
                            &v.label(),
                            &v.aliases.join(","),
                            match v.smoke_passed {
                                Some(true) => "passed",
                                Some(false) => "failed",
                                None => "",
                            },
                            &v.lineage.author,
                            v.lineage.pipeline_version.as_deref().unwrap_or_default(),
                            v.lineage.code_commit.as_deref().unwrap_or_default(),
                            &v.sha256,
                            &metrics.join(" "),
                        ],
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The open model's journal rows, newest first, filtered.
pub fn journal<'a>(state: &'a State, model: &str) -> Vec<&'a JournalEntry> {
    let needle = needle(state);
    state
        .detail
        .journal
        .get(model)
        .map(|all| {
            all.iter()
                .filter(|e| {
                    matches(
                        &needle,
                        &[
                            &e.operation,
                            e.outcome.as_str(),
                            &e.user,
                            e.from.as_deref().unwrap_or_default(),
                            e.to.as_deref().unwrap_or_default(),
                            &e.time.format("%m-%d %H:%M:%S").to_string(),
                            &e.note().unwrap_or_default(),
                        ],
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The open model's logged requests, newest first, filtered (by id, version, status, time,
/// error or the classes answered).
pub fn requests<'a>(state: &'a State, model: &str) -> Vec<&'a LoggedRequest> {
    let needle = needle(state);
    state
        .detail
        .requests
        .get(model)
        .map(|all| {
            all.iter()
                .filter(|e| {
                    // The fields as shown, and the bodies as logged (what a search of the
                    // whole log matches: ids, input values, classes).
                    needle.is_empty()
                        || matches(
                            &needle,
                            &[
                                e.id.as_deref().unwrap_or_default(),
                                e.version.as_deref().unwrap_or_default(),
                                &e.status.to_string(),
                                &e.at.format("%m-%d %H:%M:%S%.3f").to_string(),
                                e.error.as_deref().unwrap_or_default(),
                                &answer_text(e),
                                &e.request.to_string(),
                                &e.answer.to_string(),
                            ],
                        )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A logged answer in a line: `output_label=["fraud"]` per output, or the error.
pub fn answer_text(e: &LoggedRequest) -> String {
    if let Some(error) = &e.error {
        return format!("error: {error}");
    }
    if let Some(outputs) = e.answer.get("outputs").and_then(|o| o.as_array()) {
        return outputs
            .iter()
            .map(|o| format!("{}={}", o["name"].as_str().unwrap_or("?"), o["data"]))
            .collect::<Vec<_>>()
            .join(" ");
    }
    match e.answer.get("predictions") {
        Some(p) => format!("predictions={p}"),
        None => "-".into(),
    }
}

/// The request selected on the open model's requests pane.
pub fn selected_request(state: &State) -> Option<&LoggedRequest> {
    let View::Model {
        name,
        pane: Pane::Requests,
    } = &state.view
    else {
        return None;
    };
    requests(state, name).get(state.detail.selected).copied()
}

/// The features of the open model's first drift report, filtered.
pub fn features<'a>(state: &'a State, model: &str) -> Vec<&'a FeatureDrift> {
    let needle = needle(state);
    state
        .detail
        .drift
        .get(model)
        .and_then(|r| r.first())
        .map(|report| {
            // The version's answers first (prediction drift), then its inputs.
            report
                .predictions
                .iter()
                .chain(&report.features)
                .filter(|f| matches(&needle, &[&f.name, &f.method, f.verdict.as_str()]))
                .collect()
        })
        .unwrap_or_default()
}

/// The open pane's rows, by identity, in the order shown.
fn pane_ids(state: &State) -> Vec<RowId> {
    let View::Model { name, pane } = &state.view else {
        return Vec::new();
    };
    match pane {
        Pane::Versions => versions(state, name)
            .iter()
            .map(|v| RowId::Version(v.version))
            .collect(),
        Pane::Journal => journal(state, name)
            .iter()
            .map(|e| RowId::Journal(e.id))
            .collect(),
        Pane::Drift => features(state, name)
            .iter()
            .map(|f| RowId::Feature(f.name.clone()))
            .collect(),
        Pane::Requests => requests(state, name)
            .iter()
            .map(|e| RowId::Request(request_key(e)))
            .collect(),
        Pane::Serving | Pane::Cluster => Vec::new(),
    }
}

/// Rows in the open pane, as shown.
pub fn rows(state: &State) -> usize {
    pane_ids(state).len()
}

/// The version selected on the open model's versions pane.
pub fn selected_version(state: &State) -> Option<u32> {
    let View::Model {
        name,
        pane: Pane::Versions,
    } = &state.view
    else {
        return None;
    };
    versions(state, name)
        .get(state.detail.selected)
        .map(|v| v.version)
}

/// After the user moved or filtered: the selection is whatever row is now highlighted.
pub fn remember(state: &mut State) {
    state.detail.identity = pane_ids(state).get(state.detail.selected).cloned();
    if state.view == View::Everywhere {
        super::everywhere::remember(state);
    } else if state.open_model().is_none() {
        state.fleet_identity = super::fleet::rows(state)
            .get(state.selected)
            .map(|r| RowId::Model(r.model.clone()));
    }
}

/// After the rows changed under the user (a refresh, a re-sort): the same row stays selected
/// wherever it moved; if it is gone, the nearest position is kept.
pub fn follow_pane(state: &mut State) {
    let ids = pane_ids(state);
    match state
        .detail
        .identity
        .as_ref()
        .and_then(|id| ids.iter().position(|r| r == id))
    {
        Some(index) => state.detail.selected = index,
        None => {
            state.detail.selected = state.detail.selected.min(ids.len().saturating_sub(1));
            state.detail.identity = ids.get(state.detail.selected).cloned();
        }
    }
}

/// As [`follow_pane`], for the fleet's selected model.
pub fn follow_fleet(state: &mut State) {
    // Over every environment, the list's selection is the one on screen (the fleet's is
    // followed again when it is back).
    if state.view == View::Everywhere {
        super::everywhere::follow(state);
        return;
    }
    let rows = super::fleet::rows(state);
    let found = match &state.fleet_identity {
        Some(RowId::Model(model)) => rows.iter().position(|r| &r.model == model),
        _ => None,
    };
    match found {
        Some(index) => state.selected = index,
        None => {
            state.selected = state.selected.min(rows.len().saturating_sub(1));
            state.fleet_identity = rows
                .get(state.selected)
                .map(|r| RowId::Model(r.model.clone()));
        }
    }
}
