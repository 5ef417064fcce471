//! The console's serving signals per model: two scrapes of the same server make a rate; a
//! version the server no longer reports loses its numbers; a server that was replaced starts
//! over (its predecessor's numbers are not its own); a server that stopped leaves nothing
//! behind that could pass for a measurement. Failed reads keep the last numbers, marked stale.

use chrono::{DateTime, Utc};

use super::state::{ScrapeSample, State};
use crate::clients::metrics::{self, ScrapeSnapshot, VersionCounters};

/// One scrape of `model`'s server at `endpoint` came back.
pub fn scraped(
    state: &mut State,
    model: String,
    endpoint: String,
    monotonic: f64,
    at: DateTime<Utc>,
    result: Result<ScrapeSnapshot, String>,
) {
    let status = state.sources.metrics.entry(model.clone()).or_default();
    status.in_flight = false;
    let snapshot = match result {
        Ok(snapshot) => snapshot,
        Err(e) => {
            // The last numbers stay on screen, dimmed with their age and this error.
            status.error = Some(e);
            return;
        }
    };
    status.last_ok = Some(at);
    status.error = None;
    let previous = state
        .scrapes
        .get(&model)
        .filter(|p| p.endpoint == endpoint)
        .cloned();
    let Some(previous) = previous else {
        // A first read, or a server replaced at a new endpoint: nothing to pair with, so no
        // rate yet, and nothing of the old server's may pass for the new one's.
        forget_numbers(state, &model);
        keep(state, model, endpoint, monotonic, snapshot);
        return;
    };
    let seconds = monotonic - previous.monotonic;
    // Every version the server reports: with requests, or loaded and not asked yet (0 req/s,
    // measured); versions it no longer reports lose their numbers.
    let versions: std::collections::BTreeSet<_> = snapshot
        .versions
        .keys()
        .chain(snapshot.roles.keys())
        .filter(|(m, _)| *m == model)
        .cloned()
        .collect();
    state
        .serving
        .retain(|key, _| key.0 != model || versions.contains(key));
    let none = VersionCounters::default();
    for key in versions {
        let current = snapshot.versions.get(&key).unwrap_or(&none);
        let before = previous.snapshot.versions.get(&key).unwrap_or(&none);
        // Loaded since the last read (a deploy, a rollback switching in place), or counting
        // again from zero (its server restarted at the same place): it answered for part of
        // the interval only, and its requests over the whole interval would be a rate too low.
        // No rate until the next read pairs two counts of its own.
        let appeared = !previous.snapshot.versions.contains_key(&key)
            && !previous.snapshot.roles.contains_key(&key)
            && !previous.snapshot.roles.is_empty();
        let restarted = current.requests < before.requests;
        if (appeared || restarted) && current.requests > 0.0 {
            state.serving.remove(&key);
            continue;
        }
        let stats = metrics::between(before, current, seconds);
        state.serving.insert(key.clone(), stats);
        state.coarse.entry(key).or_default().add(
            at.timestamp(),
            super::state::HistoryPoint::read(stats, at.timestamp()),
        );
    }
    keep(state, model, endpoint, monotonic, snapshot);
}

/// Keeps this scrape for the next one to pair with.
fn keep(
    state: &mut State,
    model: String,
    endpoint: String,
    monotonic: f64,
    snapshot: ScrapeSnapshot,
) {
    let sample = ScrapeSample {
        endpoint,
        monotonic,
        snapshot,
    };
    state.scrapes.insert(model, sample);
}

/// `model`'s server is not running (stopped, or its supervisor died): its numbers are unknown
/// from now on, and its metrics source neither ok nor failing (there is nothing to read).
pub fn server_gone(state: &mut State, model: &str) {
    forget_numbers(state, model);
    state.scrapes.remove(model);
    state.sources.metrics.remove(model);
}

/// Drops the rates of `model`'s versions (their charts' history stays).
fn forget_numbers(state: &mut State, model: &str) {
    state.serving.retain(|key, _| key.0 != model);
}
