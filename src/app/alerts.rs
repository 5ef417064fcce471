//! The alert rules judged on the fleet the console shows, in the console (after each scrape)
//! and in `flightdeck watch` alike: per model, its error ratios, p99, production's input drift
//! share, answers' drift and labelled accuracy, and whether its server answers.

use super::fleet::{self, Health};
use super::state::State;
use crate::engine::alerts::Observation;
use crate::model::AlertSignal;

/// Every model's signals in `state` (a fleet collected headless). A signal not measured is
/// `None`: a rule can neither fire nor resolve on it.
pub fn observations(state: &State) -> Vec<Observation> {
    fleet::all_rows(state)
        .iter()
        .flat_map(|row| row_observations(state, row))
        .collect()
}

/// Why the fleet just collected cannot be trusted as a whole, if it cannot: the registry or
/// the cluster unreadable, or not one served model's metrics read (a metrics source down).
pub fn blind(state: &State) -> Option<String> {
    if let Some(e) = &state.sources.registry.error {
        return Some(format!("the registry: {e}"));
    }
    if let Some(e) = &state.sources.cluster_problem {
        return Some(format!("the cluster: {e}"));
    }
    let metrics: Vec<&super::state::SourceStatus> = state.sources.metrics.values().collect();
    let failing = metrics.iter().filter_map(|s| s.error.as_ref()).find(|e| {
        // A model that took no traffic yet has no series: an absence, not a failure.
        !crate::clients::metrics::is_no_series(e)
    });
    match failing {
        Some(e) if metrics.iter().all(|s| s.error.is_some()) => Some(format!("the metrics: {e}")),
        _ => None,
    }
}

/// One model's signals, from its fleet row.
fn row_observations(state: &State, row: &fleet::FleetRow) -> Vec<Observation> {
    let stats = row.stats;
    let down = match row.health {
        Health::Serving => Some(0.0),
        // Down counts only where something should serve: a production version whose server
        // does not answer, or that nothing serves (stopped by hand, or never restarted).
        Health::Down(_) | Health::NotServed if row.production.is_some() => Some(1.0),
        Health::Down(_) | Health::NotServed => Some(0.0),
        Health::Unknown(_) => None,
    };
    // Drift is production's: a canary's inputs and answers are its promote gates' business,
    // and an alert (or a retraining) must name the version it speaks of.
    let stable = row.serving.map(|p| p.stable.to_string());
    let production_value = |gauge: fn(
        &crate::clients::metrics::ScrapeSnapshot,
    )
        -> &std::collections::BTreeMap<(String, String), f64>| {
        let scrape = state.scrapes.get(&row.model)?;
        gauge(&scrape.snapshot)
            .get(&(row.model.clone(), stable.clone()?))
            .copied()
    };
    let input_drift = production_value(|s| &s.drift_share);
    let prediction_drift = production_value(|s| &s.prediction_psi);
    let signals = [
        (AlertSignal::Down, down),
        (AlertSignal::Errors, stats.and_then(|s| s.error_ratio)),
        (
            AlertSignal::ServerErrors,
            stats.and_then(|s| s.server_error_ratio),
        ),
        (
            AlertSignal::ClientErrors,
            stats.and_then(|s| s.client_error_ratio),
        ),
        (
            AlertSignal::P99Ms,
            stats.and_then(|s| s.p99).map(|p| p * 1e3),
        ),
        (AlertSignal::InputDrift, input_drift),
        (AlertSignal::PredictionDrift, prediction_drift),
        (AlertSignal::LiveAccuracy, row.accuracy.map(|a| a.accuracy)),
    ];
    signals
        .into_iter()
        .map(|(signal, value)| Observation {
            model: row.model.clone(),
            signal,
            value,
        })
        .collect()
}

/// The rules on `model`, just scraped, kept in the state (the fleet's ALERTS column shows the
/// firing ones with their age). One model a scrape: judging the whole fleet on every scrape
/// would build every row once per model. Returns the alerts that fired or resolved.
pub fn judge(state: &mut State, model: &str) -> Vec<crate::model::Alert> {
    if state.config.alert_rules.is_empty() {
        return Vec::new();
    }
    let Some(row) = fleet::row_of(state, model) else {
        return Vec::new();
    };
    let observations = row_observations(state, &row);
    let rules = state.config.alert_rules.clone();
    let now = state.now;
    state.alerts.step(&rules, &observations, now)
}
