//! The requests pane's reading of the request log: it tails the newest requests while the
//! newest is selected; it holds still (and counts what it does not show) once the user moves
//! down, so the highlighted request stays the one `t` keeps; a `/` filter searches the whole
//! log, not only the rows on screen.

use chrono::{DateTime, Utc};

use super::effect::Effect;
use super::state::{Pane, State, View};
use crate::model::LoggedRequest;

/// Requests the pane reads at most (the newest, or a search's newest matches).
pub const SHOWN: usize = 200;

fn on_requests(state: &State) -> bool {
    matches!(
        state.view,
        View::Model {
            pane: Pane::Requests,
            ..
        }
    )
}

/// Whether the pane holds its rows: a request below the newest is selected, or the rows are a
/// search's.
pub fn held(state: &State) -> bool {
    state.detail.selected > 0
        || !state.detail.filter.is_empty()
        || state.detail.requests_search.is_some()
}

/// The read the pane needs on a refresh: the newest requests (also while held, to count the
/// newer ones); none while it shows a search, or is not on screen.
pub fn tail(state: &mut State, model: &str) -> Option<Effect> {
    if !on_requests(state)
        || state.sources.requests_status.in_flight
        || !state.detail.filter.is_empty()
    {
        return None;
    }
    state.sources.requests_status.in_flight = true;
    Some(Effect::FetchRequests {
        model: model.to_string(),
        search: None,
    })
}

/// After the filter was set or cleared on the requests pane: search the whole log for it, or
/// go back to the newest.
pub fn search(state: &mut State) -> Vec<Effect> {
    let Some(model) = state.open_model().map(str::to_string) else {
        return Vec::new();
    };
    if !on_requests(state) {
        return Vec::new();
    }
    let needle = state.detail.filter.trim().to_lowercase();
    if needle.is_empty() {
        state.detail.requests_search = None;
        state.detail.selected = 0;
        state.detail.identity = None;
        state.sources.requests_status.in_flight = false;
        return tail(state, &model).into_iter().collect();
    }
    if needle.starts_with('!') {
        // Inverted, it filters the rows shown: a whole log of non-matches is no search.
        state.toast = Some(
            "! keeps the rows shown that do not match; the whole log is searched for text without it"
                .into(),
        );
        return Vec::new();
    }
    state.sources.requests_status.in_flight = true;
    state.toast = Some(format!(
        "searching {model}'s whole request log for {needle:?}..."
    ));
    vec![Effect::FetchRequests {
        model,
        search: Some(needle),
    }]
}

/// A read of the log came back.
pub fn fetched(
    state: &mut State,
    model: String,
    at: DateTime<Utc>,
    result: Result<Vec<LoggedRequest>, String>,
    search: Option<String>,
) {
    let status = &mut state.sources.requests_status;
    status.in_flight = false;
    let entries = match result {
        Ok(entries) => entries,
        Err(e) => {
            status.error = Some(e);
            return;
        }
    };
    status.last_ok = Some(at);
    status.error = None;
    match search {
        // A search counts only while its filter is still the one set.
        Some(needle) => {
            if state.detail.filter.trim().to_lowercase() != needle {
                return;
            }
            state.toast = Some(format!(
                "{} of {model}'s logged requests hold {needle:?}{} (Esc goes back to the newest)",
                entries.len(),
                if entries.len() >= SHOWN {
                    format!(" (the newest {SHOWN} shown)")
                } else {
                    String::new()
                }
            ));
            state.detail.requests.insert(model, entries);
            state.detail.requests_search = Some(needle);
            state.detail.requests_newer = 0;
        }
        None if held(state) => {
            // Held still: only how many newer requests it is not showing.
            let newest_shown = state
                .detail
                .requests
                .get(&model)
                .and_then(|r| r.first())
                .map(|e| e.at);
            state.detail.requests_newer = entries
                .iter()
                .filter(|e| newest_shown.is_none_or(|t| e.at > t))
                .count();
        }
        None => {
            // Tailing: the newest stays selected (not the request that was newest before).
            state.detail.requests.insert(model, entries);
            state.detail.requests_newer = 0;
            state.detail.identity = None;
            state.detail.selected = 0;
        }
    }
}
