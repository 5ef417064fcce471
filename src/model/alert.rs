//! Alert rules: which signal of a model, past which threshold, for how long, how severe, and the
//! states an alert goes through (pending, firing, resolved).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

/// What a rule watches, per model (and version where the signal has one).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AlertSignal {
    /// Share of answers with a 5xx status (0-1).
    ServerErrors,
    /// Share of answers with a 4xx status (0-1).
    ClientErrors,
    /// Share of answers that were not a success (0-1).
    Errors,
    /// 99th percentile latency, in milliseconds.
    P99Ms,
    /// Share of input features whose drift verdict is drift (0-1).
    InputDrift,
    /// The largest PSI of a version's answers against its answers on its reference rows.
    PredictionDrift,
    /// Accuracy on labelled answers (0-1); alerts below its threshold.
    LiveAccuracy,
    /// The model's server does not answer (1) while it should serve.
    Down,
    /// Seconds the environment's sources (registry, servers or cluster, metrics) have been
    /// unreadable: `watch` is blind. Its alerts are about the whole environment, model `*`.
    Stale,
}

impl AlertSignal {
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether the alert fires below the threshold (accuracy) rather than above it.
    pub fn fires_below(self) -> bool {
        matches!(self, AlertSignal::LiveAccuracy)
    }

    /// The unit the threshold is written in, for messages.
    pub fn unit(self) -> &'static str {
        match self {
            AlertSignal::P99Ms => " ms",
            AlertSignal::Stale => " s",
            _ => "",
        }
    }
}

/// How urgent an alert is; receivers route on it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

/// One alert rule, resolved from the config (or the default set built from the thresholds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRule {
    /// Unique among the rules: the alert's name where it is delivered.
    pub name: String,
    pub signal: AlertSignal,
    /// Fires above it (below it for accuracy), strictly.
    pub threshold: f64,
    /// How long the condition must hold before the alert fires (pending until then).
    pub for_seconds: f64,
    pub severity: Severity,
    /// Only this model; every model when `None`.
    pub model: Option<String>,
    /// Extra labels sent with the alert (team, runbook, ...).
    pub labels: BTreeMap<String, String>,
}

impl AlertRule {
    /// Whether `value` is past the rule's threshold: above it, or below it for accuracy (as
    /// Prometheus' `>` and `<`).
    pub fn breached(&self, value: f64) -> bool {
        if self.signal.fires_below() {
            value < self.threshold
        } else {
            value > self.threshold
        }
    }

    /// The comparison as PromQL and people write it.
    pub fn operator(&self) -> &'static str {
        if self.signal.fires_below() { "<" } else { ">" }
    }

    /// "server_errors > 0.05 for 120s" as a person reads the rule.
    pub fn condition(&self) -> String {
        let op = self.operator();
        format!(
            "{} {op} {}{} for {}s",
            self.signal.name(),
            self.threshold,
            self.signal.unit(),
            self.for_seconds
        )
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Past the threshold, not yet for the rule's duration.
    Pending,
    Firing,
    /// Back under the threshold after firing.
    Resolved,
}

/// Where `flightdeck watch` sends alerts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Receiver {
    /// Alertmanager's API v2 (`POST /api/v2/alerts` under this base URL).
    Alertmanager { url: String },
    /// A JSON body per change, signed with HMAC-SHA256 when a secret is set
    /// (`X-Flightdeck-Signature: sha256=HEX`); the secret is read from the environment
    /// variable `secret_env` names, when sending (so other commands never need it).
    Webhook {
        url: String,
        secret_env: Option<String>,
        /// Say a firing alert again after this many seconds (`None`: once).
        repeat_seconds: Option<f64>,
    },
    /// Slack's incoming-webhook format (`{"text": ...}`).
    Slack {
        url: String,
        repeat_seconds: Option<f64>,
    },
}

/// An alert: a rule breached by one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub rule: String,
    pub model: String,
    pub signal: AlertSignal,
    pub severity: Severity,
    pub threshold: f64,
    pub state: AlertState,
    /// When the condition began to hold (pending), when it fired, or when it resolved.
    pub since: DateTime<Utc>,
    /// When the condition began to hold, whatever the state: how long it has been past its
    /// threshold.
    pub breached_since: DateTime<Utc>,
    /// The last value read; `None` when the signal went unmeasured while the alert fired.
    pub value: Option<f64>,
    pub labels: BTreeMap<String, String>,
}

impl Receiver {
    pub fn url(&self) -> &str {
        match self {
            Receiver::Alertmanager { url }
            | Receiver::Webhook { url, .. }
            | Receiver::Slack { url, .. } => url,
        }
    }

    /// How often a firing alert is said again (Alertmanager: every round, as it expects).
    pub fn repeat_seconds(&self) -> Option<f64> {
        match self {
            Receiver::Alertmanager { .. } => Some(0.0),
            Receiver::Webhook { repeat_seconds, .. } | Receiver::Slack { repeat_seconds, .. } => {
                *repeat_seconds
            }
        }
    }
}

/// A model's alerts kept from receivers for a while, on purpose, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub model: String,
    /// One rule, or every rule of the model when `None`.
    pub rule: Option<String>,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub by: String,
}

impl Silence {
    /// Whether it keeps `alert` from the receivers at `now`.
    pub fn covers(&self, alert: &Alert, now: DateTime<Utc>) -> bool {
        self.model == alert.model
            && self.rule.as_ref().is_none_or(|r| *r == alert.rule)
            && now < self.until
    }
}

/// Something `watch` did or saw that people must hear of once (a rollout stepped, aborted or
/// completed), as opposed to an alert, which holds while its condition does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// What happened, as receivers route on it: `rollout aborted`, `rollout completed`, ...
    pub event: String,
    pub model: String,
    pub severity: Severity,
    /// The whole of it in a sentence, with the evidence.
    pub summary: String,
    pub at: DateTime<Utc>,
    /// The object it is about (the rollout, with its gates), for a program.
    pub details: serde_json::Value,
}
