//! The fleet view model: one row per model, joined from the registry, the local servers and
//! their metrics; filtered and sorted as the user asked. Derived, never stored.

use crate::clients::metrics::ServingStats;
use crate::model::{AliasName, Verdict};

use super::state::{SortColumn, State};

/// One model in the fleet table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FleetRow {
    pub model: String,
    pub production: Option<u32>,
    pub canary: Option<u32>,
    /// The canary's share of traffic, in percent, as the server reports it.
    pub canary_percent: Option<u8>,
    /// What the server (or cluster) reports it serves, whatever the aliases say.
    pub serving: Option<crate::model::ServingPlan>,
    /// `serving`, `down: <reason>`, or `not served`.
    pub health: Health,
    /// The model's serving numbers, `None` when nothing was measured.
    pub stats: Option<ServingStats>,
    /// Whether those numbers are live, stale (and how old), or unknown, and why.
    pub signal: Signal,
    pub drift: Option<Verdict>,
    /// Production's accuracy on its labelled answers; `None` when no label arrived (or the
    /// model is not a classifier).
    pub accuracy: Option<LabelledAccuracy>,
    /// The latest smoke test of the canary (else production): passed, failed, or never run.
    pub smoke: Option<bool>,
    /// Short markers for what needs attention (`!down`, `!err`, `!p99`, `!drift`, `!alias`,
    /// `!smoke`).
    pub alerts: Vec<&'static str>,
    /// The alert rules firing for the model, with when each fired.
    pub firing: Vec<FiringAlert>,
    /// Its rollout under way, or one that ended within the last hour.
    pub rollout: Option<RolloutRow>,
    /// The shadow candidate answering a copy of its requests, as its server last said.
    pub shadow: Option<crate::clients::metrics::ShadowNumbers>,
}

/// A rollout as the fleet and `status --json` show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RolloutRow {
    pub version: u32,
    pub phase: crate::model::RolloutPhase,
    /// "step 2 of 4 (25%)".
    pub step: String,
    pub percent: u8,
    pub steps: Vec<u8>,
    /// What it is doing, waiting for, or why it ended.
    pub note: String,
    /// The gates as last judged over the step's window.
    pub gates: Vec<crate::model::GateResult>,
    /// When `watch` last judged it; `None`: never (is `watch` running?).
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How long `watch` has been silent about it, when that is longer than a few of its
    /// rounds: nothing protects the canary.
    pub watch_silent_seconds: Option<i64>,
}

/// How long an ended rollout stays on the fleet: the on-call engineer arriving after an
/// automatic abort sees it.
const ENDED_SHOWN_SECONDS: i64 = 3600;

/// The rollout of `model` worth showing now: under way, or ended within the hour.
pub fn rollout_row(state: &State, model: &str) -> Option<RolloutRow> {
    let r = state.rollouts.get(model)?;
    let last = r.checked_at.unwrap_or(r.started_at).max(r.step_since);
    if !r.phase.is_active() && (state.now - last).num_seconds() > ENDED_SHOWN_SECONDS {
        return None;
    }
    // An ended rollout says nothing of another canary serving since.
    let canary_now = state
        .servers
        .get(model)
        .and_then(|s| s.serving)
        .and_then(|p| p.canary);
    if !r.phase.is_active() && canary_now.is_some_and(|c| c != r.version) {
        return None;
    }
    Some(RolloutRow {
        version: r.version,
        phase: r.phase,
        step: r.step_text(),
        percent: r.percent(),
        steps: r.steps.clone(),
        note: r.note.clone(),
        gates: r.gates.clone(),
        checked_at: r.checked_at,
        watch_silent_seconds: r.watch_silent_seconds(state.now),
    })
}

/// An alert rule firing for a model, as the fleet shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FiringAlert {
    pub rule: String,
    pub severity: crate::model::Severity,
    pub since: chrono::DateTime<chrono::Utc>,
}

/// A version's accuracy on the answers whose labels arrived.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LabelledAccuracy {
    pub accuracy: f64,
    /// Labelled answers over answered requests (0-1): how much of the traffic it speaks for.
    pub coverage: f64,
}

/// How much a row's serving numbers can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Signal {
    /// Measured at the last read.
    Live,
    /// The last read failed: the numbers shown are from the read before, this old.
    Stale {
        age_seconds: Option<i64>,
        error: String,
    },
    /// Nothing measured, and why.
    Unknown { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "problem", rename_all = "snake_case")]
pub enum Health {
    Serving,
    Down(String),
    NotServed,
    /// The cluster cannot be read and never said anything of this model: what serves it is
    /// not known (never "not served").
    Unknown(String),
}

/// Rows for the fleet table, filtered by `state.filter` and sorted by `state.sort`.
pub fn rows(state: &State) -> Vec<FleetRow> {
    let filter = super::filter::RowFilter::new(&state.filter);
    let mut rows: Vec<FleetRow> = state
        .models
        .iter()
        .filter(|m| filter.accepts(&[m.name.as_str()]))
        .map(|m| row(state, m))
        .collect();
    rows.sort_by(|a, b| order(a, b, state.sort, state.sort_reversed));
    rows
}

/// How interesting a row is in the sorted column (higher first); `None` when it was not
/// measured, which sorts last whichever the direction.
fn sort_key(r: &FleetRow, column: SortColumn) -> Option<f64> {
    let s = r.stats;
    match column {
        SortColumn::Name => Some(0.0),
        // A model nothing serves has no health to rank: last, like any unmeasured value.
        SortColumn::Health => match r.health {
            Health::Down(_) => Some(2.0),
            Health::Unknown(_) => Some(1.0),
            Health::Serving => Some(0.0),
            Health::NotServed => None,
        },
        SortColumn::RequestRate => s.map(|s| s.requests_per_second),
        SortColumn::P99 => s.and_then(|s| s.p99),
        SortColumn::ErrorRatio => s.and_then(|s| s.error_ratio),
        SortColumn::Drift => r.drift.map(|v| match v {
            Verdict::Drift => 3.0,
            Verdict::Warn => 2.0,
            Verdict::InsufficientData => 1.0,
            Verdict::Ok => 0.0,
        }),
        SortColumn::Alerts => Some((r.alerts.len() + r.firing.len()) as f64),
    }
}

/// Two rows in the fleet's order: by `column` (the most first, or the least when `reversed`;
/// values not measured last either way), then by name.
pub fn order(a: &FleetRow, b: &FleetRow, column: SortColumn, reversed: bool) -> std::cmp::Ordering {
    let by_value = match (sort_key(a, column), sort_key(b, column)) {
        (Some(x), Some(y)) if reversed => x.total_cmp(&y),
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    };
    let by_name = if reversed && column == SortColumn::Name {
        b.model.cmp(&a.model)
    } else {
        a.model.cmp(&b.model)
    };
    by_value.then(by_name)
}

/// The alert rules firing for `model` now: as judged here, and as `watch` says in the journal.
fn firing(state: &State, model: &str) -> Vec<FiringAlert> {
    let mut firing: Vec<FiringAlert> = state
        .alerts
        .active()
        .filter(|a| a.model == model && a.state == crate::model::AlertState::Firing)
        .map(|a| FiringAlert {
            rule: a.rule.clone(),
            severity: a.severity,
            since: a.since,
        })
        .collect();
    for w in state.watched.iter().filter(|w| w.model == model) {
        if !firing.iter().any(|f| f.rule == w.rule) {
            firing.push(FiringAlert {
                rule: w.rule.clone(),
                severity: w.severity,
                since: w.since,
            });
        }
    }
    firing
}

/// The stable version's accuracy on its labelled answers, from the model's last scrape.
fn stable_accuracy(state: &State, model: &str, stable: u32) -> Option<LabelledAccuracy> {
    let scrape = state.scrapes.get(model)?;
    let live = scrape
        .snapshot
        .live
        .get(&(model.to_string(), stable.to_string()))?;
    Some(LabelledAccuracy {
        accuracy: *live.metrics.get("accuracy")?,
        coverage: live.coverage,
    })
}

/// Every model's row, neither filtered nor sorted (what alert rules judge: the user's filter
/// must not hide a model from them).
pub fn all_rows(state: &State) -> Vec<FleetRow> {
    state.models.iter().map(|m| row(state, m)).collect()
}

/// `model`'s row, if it is registered.
pub fn row_of(state: &State, model: &str) -> Option<FleetRow> {
    let m = state.models.iter().find(|m| m.name.as_str() == model)?;
    Some(row(state, m))
}

/// One model's row: what serves, its numbers and how far they can be trusted, its alerts.
fn row(state: &State, m: &crate::model::ModelSummary) -> FleetRow {
    let name = m.name.to_string();
    let alias = |a: &str| crate::model::version_of(&m.aliases, a);
    let server = state.servers.get(&name);
    let production = alias(AliasName::PRODUCTION);
    let health = match server {
        Some(s) if s.healthy => Health::Serving,
        Some(s) => Health::Down(s.problem.clone().unwrap_or_else(|| "down".into())),
        None => match (&state.sources.cluster_problem, production) {
            (Some(problem), _) if state.servers.is_empty() => Health::Unknown(problem.clone()),
            // A production version nothing serves (a server stopped by hand): its clients
            // get no answer, as `watch`'s `down` says.
            (_, Some(version)) => Health::Down(format!("nothing serves production v{version}")),
            (_, None) => Health::NotServed,
        },
    };
    let serving = server.and_then(|s| s.serving);
    // Over the versions the server serves, weighted by their requests; nothing
    // measured is `None`, never a row of zeros.
    let stats = serving.and_then(|plan| {
        let versions = std::iter::once(plan.stable).chain(plan.canary);
        let measured: Vec<&ServingStats> = versions
            .filter_map(|v| state.serving.get(&(name.clone(), v.to_string())))
            .collect();
        ServingStats::combined(measured)
    });
    let signal = signal(state, &name, server, stats.is_some());
    // Drift is judged from the same reads as the numbers: with none measured now (the
    // server is down, or was never read), there is no verdict to show.
    let drift = state
        .scrapes
        .get(&name)
        .filter(|_| stats.is_some())
        .and_then(|scrape| model_verdict(&scrape.snapshot, &name));
    // Read with the numbers, like drift: what the stable version answered right.
    let accuracy = serving
        .filter(|_| stats.is_some())
        .and_then(|plan| stable_accuracy(state, &name, plan.stable));
    let firing = firing(state, &name);
    let rollout = rollout_row(state, &name);
    // Read with the numbers, like drift: from the model's last scrape.
    let shadow = state
        .scrapes
        .get(&name)
        .filter(|_| stats.is_some())
        .and_then(|s| s.snapshot.shadow.get(&name).cloned());
    let mut alerts = Vec::new();
    // A model with a production version whose server does not answer is an incident.
    if matches!(health, Health::Down(_)) && production.is_some() {
        alerts.push("!down");
    }
    // Its supervisor died: it serves, but nothing restarts it if it fails.
    if server.is_some_and(|s| s.healthy && !s.supervisor_alive && s.kube.is_none()) {
        alerts.push("!orphan");
    }
    if let Some(s) = &stats {
        // Every answer that was not a success counts: a version refusing every
        // request with 400 is an incident as much as one failing with 500.
        if s.error_ratio
            .is_some_and(|r| r >= state.config.alert_error_ratio)
        {
            alerts.push("!err");
        }
        if s.p99.is_some_and(|p| p >= state.config.alert_p99_seconds) {
            alerts.push("!p99");
        }
    }
    if drift == Some(Verdict::Drift) {
        alerts.push("!drift");
    }
    // The registry says one thing, the server (or cluster) serves another: production
    // v8 while v7 serves, or a canary alias with no canary traffic (or the reverse).
    // An unset production alias while a version serves is a mismatch too.
    let mismatch = serving.is_some_and(|plan| {
        production != Some(plan.stable)
            || alias(AliasName::CANARY) != plan.canary.filter(|_| plan.canary_percent > 0)
    });
    if mismatch {
        alerts.push("!alias");
    }
    let canary = serving.and_then(|p| p.canary).or(alias(AliasName::CANARY));
    let smoke = canary.or(production).and_then(|v| m.smoke.get(&v).copied());
    if smoke == Some(false) {
        alerts.push("!smoke");
    }
    // A rollout its gates aborted within the hour: the canary is gone, and whoever looks
    // should know why (an abort by hand is someone's decision, not news).
    if rollout.as_ref().is_some_and(|r| {
        r.phase == crate::model::RolloutPhase::Aborted
            && r.note.starts_with("aborted automatically")
    }) {
        alerts.push("!rollout");
    }
    // A rollout under way that no `watch` judges: its canary is unguarded.
    if rollout
        .as_ref()
        .is_some_and(|r| r.watch_silent_seconds.is_some())
    {
        alerts.push("!watch");
    }
    FleetRow {
        serving,
        model: name,
        production,
        smoke,
        canary,
        canary_percent: serving
            .filter(|p| p.canary.is_some())
            .map(|p| p.canary_percent),
        health,
        stats,
        signal,
        drift,
        accuracy,
        alerts,
        firing,
        rollout,
        shadow,
    }
}

/// How far a row's numbers can be trusted: live, stale with the age of the last good read and
/// the error of the last one, or unknown with the reason.
fn signal(
    state: &State,
    model: &str,
    server: Option<&crate::model::ServingStatus>,
    measured: bool,
) -> Signal {
    let status = state.sources.metrics.get(model);
    match (status.and_then(|s| s.error.clone()), measured) {
        (Some(error), true) => Signal::Stale {
            age_seconds: status.and_then(|s| s.age_seconds(state.now)),
            error,
        },
        (None, true) => Signal::Live,
        (Some(error), false) => Signal::Unknown { reason: error },
        (None, false) => Signal::Unknown {
            reason: match server {
                None => "not served".into(),
                Some(s) if !s.healthy => s.problem.clone().unwrap_or_else(|| "down".into()),
                Some(_) if status.is_some_and(|s| s.last_ok.is_some()) => {
                    "waiting for a second read to measure rates".into()
                }
                Some(_) => "not read yet".into(),
            },
        },
    }
}

/// A model's drift verdict over its loaded versions: the worst verdict among those with one;
/// "insufficient data" only when no version has enough rows. Servers that publish no verdict
/// (older ones) are judged by their drift share alone.
fn model_verdict(
    snapshot: &crate::clients::metrics::ScrapeSnapshot,
    model: &str,
) -> Option<Verdict> {
    let verdicts: Vec<Verdict> = snapshot
        .drift_verdict
        .iter()
        .filter(|((m, _), _)| m == model)
        .map(|(_, v)| *v)
        .collect();
    if verdicts.is_empty() {
        let share = snapshot
            .drift_share
            .iter()
            .filter(|((m, _), _)| m == model)
            .map(|(_, v)| *v)
            .reduce(f64::max)?;
        return Some(if share > 0.0 {
            Verdict::Drift
        } else {
            Verdict::Ok
        });
    }
    let severity = |v: &Verdict| match v {
        Verdict::InsufficientData => 0,
        Verdict::Ok => 1,
        Verdict::Warn => 2,
        Verdict::Drift => 3,
    };
    verdicts.into_iter().max_by_key(severity)
}

/// The models whose rows may be on screen: the open one, or the fleet rows within a screen's
/// height of the selection (the table scrolls to keep the selection visible).
pub fn on_screen(state: &State) -> std::collections::BTreeSet<String> {
    if let Some(model) = state.open_model() {
        return [model.to_string()].into();
    }
    // No server to ask about: which rows are on screen does not matter (and with thousands
    // of rows, working it out every few seconds was a good part of an idle console's work).
    if state.servers.is_empty() {
        return std::collections::BTreeSet::new();
    }
    let height = usize::from(state.size.1);
    // Over every environment, this environment's rows among those around the list's selection.
    if state.view == super::state::View::Everywhere {
        let rows = super::everywhere::rows(state);
        let selected = super::everywhere::selected(state);
        let end = (selected + height).min(rows.len());
        return rows
            .get(selected.saturating_sub(height)..end)
            .unwrap_or_default()
            .iter()
            .filter(|r| r.environment == state.config.environment)
            .filter_map(|r| r.model().map(str::to_string))
            .collect();
    }
    let rows = rows(state);
    let start = state.selected.saturating_sub(height);
    let end = (state.selected + height).min(rows.len());
    rows.get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|r| r.model.clone())
        .collect()
}
