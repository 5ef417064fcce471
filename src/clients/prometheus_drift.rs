//! Input and prediction drift read back from Prometheus (`metrics = "prometheus"`): the gauges
//! every `flightdeck serve` exports (`flightdeck_feature_drift{feature,method}`,
//! `flightdeck_prediction_drift{output,method}`, the verdict state set, the drift share and the
//! window size) rebuilt into the drift pane's reports, so the console
//! never calls servers it only knows through Prometheus (pods inside a cluster). Histograms are
//! not exported: the pane shows the statistics without the reference-vs-live bars.

use std::collections::BTreeMap;
use std::time::Duration;

use super::prometheus::{instant_query, vector_from_response};
use super::within;
use crate::model::{DriftReport, DriftThresholds, FeatureDrift, Histogram, Verdict};

pub struct PrometheusDrift {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
    thresholds: DriftThresholds,
}

impl PrometheusDrift {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        timeout: Duration,
        thresholds: DriftThresholds,
    ) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            timeout,
            thresholds,
        }
    }
}

impl PrometheusDrift {
    /// The drift reports of each version of `model`, from its servers' gauges.
    pub async fn reports(&self, model: String) -> Result<Vec<DriftReport>, String> {
        {
            within(self.timeout, async {
                let query = format!(
                    "{{__name__=~\"flightdeck_(feature_drift|prediction_drift|drift_verdict|drift_share|drift_window_samples)\",model=\"{model}\"}}"
                );
                let (_, body) = instant_query(&self.http, &self.base, &query).await?;
                let series = vector_from_response(&body).map_err(|e| format!("Prometheus: {e}"))?;
                let reports = reports_from(&model, series, &self.thresholds);
                if reports.is_empty() {
                    return Err(format!(
                        "Prometheus has no drift series for {model}: its servers export them only for versions with a baseline profile (register with --reference)"
                    ));
                }
                Ok(reports)
            })
            .await
        }
    }
}

/// The drift gauges of one model, by version, as the servers' own reports (without histograms).
pub fn reports_from(
    model: &str,
    series: Vec<super::prometheus::Sample>,
    thresholds: &DriftThresholds,
) -> Vec<DriftReport> {
    #[derive(Default)]
    struct Version {
        samples: f64,
        share: f64,
        verdict: Option<Verdict>,
        /// feature -> method -> value (replicas: the last one read).
        features: BTreeMap<String, BTreeMap<String, f64>>,
        /// The same for the answers (output -> method -> value).
        predictions: BTreeMap<String, BTreeMap<String, f64>>,
    }
    let mut versions: BTreeMap<u32, Version> = BTreeMap::new();
    for (labels, value) in series {
        let label = |name: &str| labels.get(name).cloned().unwrap_or_default();
        let Ok(version) = label("version").parse::<u32>() else {
            continue;
        };
        let v = versions.entry(version).or_default();
        match label("__name__").as_str() {
            "flightdeck_feature_drift" => {
                v.features
                    .entry(label("feature"))
                    .or_default()
                    .insert(label("method"), value);
            }
            "flightdeck_prediction_drift" => {
                v.predictions
                    .entry(label("output"))
                    .or_default()
                    .insert(label("method"), value);
            }
            "flightdeck_drift_verdict" if value == 1.0 => {
                v.verdict = Verdict::from_label(&label("verdict"));
            }
            "flightdeck_drift_share" => v.share = value,
            "flightdeck_drift_window_samples" => v.samples = value,
            _ => {}
        }
    }
    versions
        .into_iter()
        .map(|(version, v)| {
            let n = v.samples.max(0.0) as u64;
            let level = thresholds.significance(v.features.len() + v.predictions.len());
            let features = v
                .features
                .into_iter()
                .map(|(name, m)| feature(name, &m, n, thresholds, level))
                .collect();
            let predictions = v
                .predictions
                .into_iter()
                .map(|(name, m)| feature(name, &m, n, thresholds, level))
                .collect();
            DriftReport {
                model: model.to_string(),
                version,
                window_samples: n,
                window_seconds: 0.0,
                drift_share: v.share,
                verdict: v.verdict.unwrap_or(Verdict::InsufficientData),
                thresholds: *thresholds,
                features,
                predictions,
                // Each version's pods export their own answers' drift; a canary against its
                // stable version on the same rows is the local model server's alone.
                answers_versus: None,
            }
        })
        .collect()
}

/// A feature's drift as its server exported it. A server too old to export the p-values of
/// PSI and JS is judged on their thresholds alone, as it judged itself.
fn feature(
    name: String,
    m: &BTreeMap<String, f64>,
    n: u64,
    t: &DriftThresholds,
    level: f64,
) -> FeatureDrift {
    let get = |k: &str| m.get(k).copied();
    let numeric = get("psi").is_some() || get("ks_statistic").is_some();
    let (kind, method, statistic, threshold, verdict) = if numeric {
        let psi = get("psi").unwrap_or(0.0);
        let verdict = if n < t.min_samples {
            Verdict::InsufficientData
        } else {
            t.numeric_verdict(
                psi,
                get("psi_p_value").unwrap_or(0.0),
                get("ks_statistic").unwrap_or(0.0),
                get("ks_p_value").unwrap_or(1.0),
                level,
            )
        };
        ("numeric", "psi", psi, t.psi_drift, verdict)
    } else {
        let js = get("js_distance").unwrap_or(0.0);
        let verdict = if n < t.min_samples {
            Verdict::InsufficientData
        } else {
            t.categorical_verdict(js, get("js_p_value").unwrap_or(0.0), level)
        };
        ("categorical", "js", js, t.js_drift, verdict)
    };
    FeatureDrift {
        name,
        kind: kind.into(),
        method: method.into(),
        statistic,
        threshold,
        psi: get("psi"),
        ks_statistic: get("ks_statistic"),
        ks_p_value: get("ks_p_value"),
        js_distance: get("js_distance"),
        js_base: None,
        chi2_p_value: get("chi2_p_value"),
        psi_p_value: get("psi_p_value"),
        js_p_value: get("js_p_value"),
        significance: Some(level),
        missing_rate: get("missing_rate").unwrap_or(0.0),
        out_of_range_rate: get("out_of_range_rate").unwrap_or(0.0),
        n,
        verdict,
        histogram: Histogram::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> super::super::prometheus::Sample {
        let mut l: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.insert("__name__".into(), name.into());
        l.insert("model".into(), "fraud".into());
        l.insert("version".into(), "2".into());
        (l, value)
    }

    #[test]
    fn answers_drift_comes_back_beside_the_features() {
        let series = vec![
            sample("flightdeck_drift_window_samples", &[], 500.0),
            sample("flightdeck_drift_verdict", &[("verdict", "drift")], 1.0),
            sample(
                "flightdeck_feature_drift",
                &[("feature", "amount"), ("method", "psi")],
                0.01,
            ),
            // A constant model's probability against its answers on the reference rows.
            sample(
                "flightdeck_prediction_drift",
                &[("output", "P(1)"), ("method", "psi")],
                8.3,
            ),
            sample(
                "flightdeck_prediction_drift",
                &[("output", "P(1)"), ("method", "ks_statistic")],
                0.52,
            ),
            sample(
                "flightdeck_prediction_drift",
                &[("output", "P(1)"), ("method", "ks_p_value")],
                1e-30,
            ),
        ];
        let reports = reports_from("fraud", series, &DriftThresholds::default());
        let r = &reports[0];
        assert_eq!(
            (r.version, r.window_samples, r.verdict),
            (2, 500, Verdict::Drift)
        );
        assert_eq!(r.features[0].verdict, Verdict::Ok);
        let p = &r.predictions[0];
        assert_eq!((p.name.as_str(), p.psi), ("P(1)", Some(8.3)));
        assert_eq!(p.verdict, Verdict::Drift);
    }
}
