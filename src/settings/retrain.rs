//! The config's `[retrain]`: when drift or live accuracy stays past its alert rule's threshold
//! for a while, `watch` calls the pipeline that trains. Validated when the config is read.

use serde::Deserialize;

use super::alerts::duration_seconds;
use crate::model::retrain::RETRAIN_SIGNALS;
use crate::model::{AlertRule, AlertSignal, RetrainTrigger};

/// `[retrain]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRetrain {
    signals: Option<Vec<String>>,
    #[serde(rename = "for")]
    for_: Option<String>,
    model: Option<String>,
    command: Option<Vec<String>>,
    url: Option<String>,
    secret_env: Option<String>,
    again_after: Option<String>,
}

/// How long a signal must hold by default: drift for an afternoon is a trend, not a blip.
const DEFAULT_FOR: &str = "6h";

/// The trigger `file` declares, checked against the alert rules its signals take their
/// thresholds from.
pub(super) fn resolve(
    file: Option<&FileRetrain>,
    rules: &[AlertRule],
) -> Result<Option<RetrainTrigger>, String> {
    let Some(f) = file else {
        return Ok(None);
    };
    let here = |e: String| format!("retrain: {e}");
    let has_rule = |s: AlertSignal| rules.iter().any(|r| r.signal == s);
    let signals: Vec<AlertSignal> = match &f.signals {
        None => RETRAIN_SIGNALS.into_iter().filter(|s| has_rule(*s)).collect(),
        Some(names) => names
            .iter()
            .map(|n| {
                let s: AlertSignal = n.parse().map_err(|_| n.clone())?;
                RETRAIN_SIGNALS.contains(&s).then_some(s).ok_or(n.clone())
            })
            .collect::<Result<_, String>>()
            .map_err(|n| {
                here(format!(
                    "signal {n:?} cannot call for retraining; signals are input_drift, prediction_drift, live_accuracy"
                ))
            })?,
    };
    if signals.is_empty() {
        return Err(here(
            "no signal to watch: name some in signals = [...] (input_drift, prediction_drift, live_accuracy)".into(),
        ));
    }
    if let Some(s) = signals.iter().find(|s| !has_rule(**s)) {
        return Err(here(format!(
            "{} has no [[alerts]] rule to take its threshold from; add one (e.g. signal = \"{}\" {} = ...)",
            s.name(),
            s.name(),
            if s.fires_below() { "below" } else { "above" }
        )));
    }
    if f.command.is_none() && f.url.is_none() {
        return Err(here(
            "say whom to tell: command = [\"/path/to/retrain\", ...] and/or url = \"https://...\""
                .into(),
        ));
    }
    if f.command.as_ref().is_some_and(|c| c.is_empty()) {
        return Err(here(
            "command is empty: give the program and its arguments".into(),
        ));
    }
    if let Some(url) = &f.url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(here(format!("url {url:?} is not an http(s) URL")));
    }
    let for_seconds = duration_seconds(f.for_.as_deref().unwrap_or(DEFAULT_FOR)).map_err(here)?;
    let again_after_seconds = f
        .again_after
        .as_deref()
        .map(duration_seconds)
        .transpose()
        .map_err(here)?;
    Ok(Some(RetrainTrigger {
        signals,
        for_seconds,
        model: f.model.clone(),
        command: f.command.clone(),
        url: f.url.clone(),
        secret_env: f.secret_env.clone(),
        again_after_seconds,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(signal: AlertSignal) -> AlertRule {
        AlertRule {
            name: signal.name().into(),
            signal,
            threshold: 0.2,
            for_seconds: 60.0,
            severity: crate::model::Severity::Warning,
            model: None,
            labels: Default::default(),
        }
    }

    #[test]
    fn a_trigger_takes_its_thresholds_from_the_alert_rules_and_says_what_is_missing() {
        let rules = [rule(AlertSignal::InputDrift), rule(AlertSignal::Errors)];
        let file = |signals: Option<Vec<&str>>, command: Option<Vec<&str>>| FileRetrain {
            signals: signals.map(|s| s.into_iter().map(String::from).collect()),
            command: command.map(|c| c.into_iter().map(String::from).collect()),
            ..FileRetrain::default()
        };
        let found = resolve(Some(&file(None, Some(vec!["retrain"]))), &rules)
            .unwrap()
            .unwrap();
        assert_eq!(
            found.signals,
            [AlertSignal::InputDrift],
            "those with a rule"
        );
        assert_eq!(found.for_seconds, 6.0 * 3600.0);
        let err = resolve(
            Some(&file(Some(vec!["live_accuracy"]), Some(vec!["retrain"]))),
            &rules,
        )
        .unwrap_err();
        assert!(
            err.contains("live_accuracy has no [[alerts]] rule") && err.contains("below"),
            "{err}"
        );
        let err = resolve(Some(&file(Some(vec!["errors"]), Some(vec!["r"]))), &rules).unwrap_err();
        assert!(err.contains("cannot call for retraining"), "{err}");
        let err = resolve(Some(&file(None, None)), &rules).unwrap_err();
        assert!(err.contains("say whom to tell"), "{err}");
        assert_eq!(resolve(None, &rules), Ok(None));
    }
}
