//! The retraining trigger: which signals, held past their alert rules' thresholds for how long,
//! make `flightdeck watch` tell the pipeline that trains (a command, a webhook, or both).
//! flightdeck does not train.

use serde::Serialize;

use super::alert::AlertSignal;

/// The config's `[retrain]`, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrainTrigger {
    /// Signals that call for retraining (drift of the inputs or the answers, live accuracy),
    /// each judged against the threshold of its `[[alerts]]` rule.
    pub signals: Vec<AlertSignal>,
    /// How long a signal must stay past its threshold.
    pub for_seconds: f64,
    /// Only this model; every model when `None`.
    pub model: Option<String>,
    /// Run with the evidence as JSON on standard input.
    pub command: Option<Vec<String>>,
    /// Sent the evidence as a JSON POST, signed like a webhook when `secret_env` names a secret.
    pub url: Option<String>,
    pub secret_env: Option<String>,
    /// While the signal stays past its threshold, called again after this long (`None`: once).
    pub again_after_seconds: Option<f64>,
}

/// The signals a retraining trigger may name.
pub const RETRAIN_SIGNALS: [AlertSignal; 3] = [
    AlertSignal::InputDrift,
    AlertSignal::PredictionDrift,
    AlertSignal::LiveAccuracy,
];
