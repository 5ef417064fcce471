//! The config's `[[alerts]]` rules, validated; without any, a default set built from the
//! thresholds the console already alerts on.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::model::{AlertRule, AlertSignal, Receiver, Severity};

/// One `[[alerts]]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAlert {
    name: Option<String>,
    signal: String,
    above: Option<f64>,
    below: Option<f64>,
    #[serde(rename = "for")]
    for_: Option<String>,
    severity: Option<String>,
    model: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// One `[[receivers]]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileReceiver {
    kind: String,
    url: String,
    /// The environment variable holding the webhook's signing secret.
    secret_env: Option<String>,
    /// Say a firing alert again this often (webhook, slack): "4h".
    repeat: Option<String>,
}

/// The receivers `file` declares; a webhook's secret is read from its environment variable.
pub(super) fn receivers(file: &[FileReceiver]) -> Result<Vec<Receiver>, String> {
    file.iter()
        .enumerate()
        .map(|(i, r)| {
            let here = |e: String| format!("receivers[{i}]: {e}");
            if !(r.url.starts_with("http://") || r.url.starts_with("https://")) {
                return Err(here(format!("url {:?} is not an http(s) URL", r.url)));
            }
            let url = r.url.trim_end_matches('/').to_string();
            let repeat_seconds = r
                .repeat
                .as_deref()
                .map(duration_seconds)
                .transpose()
                .map_err(here)?;
            match r.kind.as_str() {
                "alertmanager" => Ok(Receiver::Alertmanager { url }),
                "webhook" => Ok(Receiver::Webhook {
                    url,
                    secret_env: r.secret_env.clone(),
                    repeat_seconds,
                }),
                "slack" => Ok(Receiver::Slack {
                    url,
                    repeat_seconds,
                }),
                other => Err(here(format!(
                    "kind {other:?} is not one of alertmanager, webhook, slack"
                ))),
            }
        })
        .collect()
}

/// The rules `file` declares, or the defaults when it declares none.
pub(super) fn resolve(
    file: &[FileAlert],
    thresholds: &super::Thresholds,
) -> Result<Vec<AlertRule>, String> {
    if file.is_empty() {
        return Ok(defaults(thresholds));
    }
    let mut names = BTreeSet::new();
    let mut rules = Vec::new();
    for (i, a) in file.iter().enumerate() {
        let rule = one(a).map_err(|e| format!("alerts[{i}]: {e}"))?;
        if !names.insert(rule.name.clone()) {
            return Err(format!(
                "alerts[{i}]: the name {:?} is used twice; give each rule its own name",
                rule.name
            ));
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn one(a: &FileAlert) -> Result<AlertRule, String> {
    let signal: AlertSignal = a.signal.parse().map_err(|_| {
        let known: Vec<&str> = <AlertSignal as strum::VariantArray>::VARIANTS
            .iter()
            .map(|s| s.name())
            .collect();
        format!("signal {:?} is not one of {}", a.signal, known.join(", "))
    })?;
    let threshold = match (signal.fires_below(), a.above, a.below) {
        (false, Some(x), None) | (true, None, Some(x)) if x.is_finite() => x,
        // Down is 1 or 0, stale counts seconds from 0: "above 0" goes without saying.
        (false, None, None) if matches!(signal, AlertSignal::Down | AlertSignal::Stale) => 0.0,
        (false, _, _) => {
            return Err(format!(
                "{} alerts above a threshold: write above = NUMBER (and no below)",
                signal.name()
            ));
        }
        (true, _, _) => {
            return Err(format!(
                "{} alerts below a threshold: write below = NUMBER (and no above)",
                signal.name()
            ));
        }
    };
    let for_seconds = match &a.for_ {
        Some(text) => duration_seconds(text)?,
        None => 0.0,
    };
    let severity = match &a.severity {
        Some(text) => text
            .parse()
            .map_err(|_| format!("severity {text:?} is not one of critical, warning, info"))?,
        None => Severity::Warning,
    };
    let name = a.name.clone().unwrap_or_else(|| match &a.model {
        Some(model) => format!("{model}-{}", signal.name()),
        None => signal.name().to_string(),
    });
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "name {name:?}: letters, digits, '-', '_' and '.' only"
        ));
    }
    // Prometheus and Alertmanager take label names of letters, digits and '_' only.
    if let Some(bad) = a.labels.keys().find(|k| {
        k.is_empty()
            || k.starts_with(|c: char| c.is_ascii_digit())
            || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }) {
        return Err(format!(
            "label {bad:?}: label names are letters, digits and '_' (not starting with a digit)"
        ));
    }
    Ok(AlertRule {
        name,
        signal,
        threshold,
        for_seconds,
        severity,
        model: a.model.clone(),
        labels: a.labels.clone(),
    })
}

/// "90s", "2m", "1h", "1d", "500ms" in seconds.
pub fn duration_seconds(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("duration {text:?}: write it as 30s, 2m, 1h or 1d"))?;
    let scale = match unit {
        "ms" => 0.001,
        "s" | "" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => {
            return Err(format!(
                "duration {text:?}: the unit is one of ms, s, m, h, d"
            ));
        }
    };
    Ok(value * scale)
}

/// Without `[[alerts]]`: what the fleet's markers already flag, held for a while so a blip does
/// not page anyone.
fn defaults(t: &super::Thresholds) -> Vec<AlertRule> {
    let rule = |signal: AlertSignal, threshold: f64, for_seconds: f64, severity| AlertRule {
        name: signal.name().to_string(),
        signal,
        threshold,
        for_seconds,
        severity,
        model: None,
        labels: BTreeMap::new(),
    };
    vec![
        rule(AlertSignal::Down, 0.0, 30.0, Severity::Critical),
        // watch blind for a minute: the alerts it would send cannot be judged.
        rule(AlertSignal::Stale, 0.0, 60.0, Severity::Warning),
        rule(
            AlertSignal::Errors,
            t.error_rate_warn,
            60.0,
            Severity::Warning,
        ),
        rule(AlertSignal::P99Ms, t.p99_warn_ms, 60.0, Severity::Warning),
        rule(AlertSignal::InputDrift, 0.0, 300.0, Severity::Warning),
        rule(
            AlertSignal::PredictionDrift,
            t.psi_drift,
            300.0,
            Severity::Warning,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_name_prometheus_would_refuse_is_refused_here() {
        let alert = |key: &str| FileAlert {
            signal: "errors".into(),
            above: Some(0.1),
            labels: [(key.to_string(), "x".to_string())].into(),
            ..FileAlert::default()
        };
        assert!(one(&alert("team_name")).is_ok());
        let err = one(&alert("team-name")).unwrap_err();
        assert!(err.contains("label \"team-name\""), "{err}");
    }

    #[test]
    fn down_and_stale_need_no_threshold() {
        for signal in ["down", "stale"] {
            let rule = one(&FileAlert {
                signal: signal.into(),
                ..FileAlert::default()
            })
            .unwrap();
            assert_eq!(rule.threshold, 0.0, "{signal}");
        }
        let err = one(&FileAlert {
            signal: "errors".into(),
            ..FileAlert::default()
        })
        .unwrap_err();
        assert!(err.contains("write above = NUMBER"), "{err}");
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration_seconds("90s"), Ok(90.0));
        assert_eq!(duration_seconds("2m"), Ok(120.0));
        assert_eq!(duration_seconds("1.5h"), Ok(5400.0));
        assert_eq!(duration_seconds("500ms"), Ok(0.5));
        assert!(duration_seconds("2 weeks").is_err());
    }
}
