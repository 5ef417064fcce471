//! Serving metrics from a `flightdeck serve` `/metrics` exposition: counters per version from
//! one scrape, and request rate, error ratio and latency quantiles between two scrapes.

use std::collections::BTreeMap;

use prometheus_parse::{Scrape, Value};
use serde::Serialize;

use crate::stats::histogram_quantile;

/// A version of a model, as metric labels name it.
pub type VersionKey = (String, String);

pub use crate::model::VersionCounters;

/// A shadow as `/metrics` says it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShadowNumbers {
    pub version: u32,
    pub versus: u32,
    /// Share of compared rows where it answered production's class (none compared yet: `None`).
    pub agreement: Option<f64>,
    pub rows: u64,
    pub errors: u64,
    pub dropped: u64,
}

impl ShadowNumbers {
    /// "shadow v2 87.3%" (or "shadow v2 -" before a row is compared), for a fleet's row.
    pub fn marker(&self) -> String {
        match self.agreement {
            Some(a) => format!("shadow v{} {:.1}%", self.version, a * 100.0),
            None => format!("shadow v{} -", self.version),
        }
    }

    /// "shadow v2 beside v1: agrees on 87.3% of 300 rows; 0 errors, 0 dropped".
    pub fn sentence(&self) -> String {
        let agreement = match self.agreement {
            Some(a) => format!("agrees on {:.1}% of {} rows", a * 100.0, self.rows),
            None => "no row compared yet".into(),
        };
        format!(
            "shadow v{} beside v{}: {agreement}; {} errors, {} dropped",
            self.version, self.versus, self.errors, self.dropped
        )
    }
}

/// What one scrape says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrapeSnapshot {
    pub versions: BTreeMap<VersionKey, VersionCounters>,
    /// Role (`stable`/`canary`) of each loaded version, from `flightdeck_model_info`.
    pub roles: BTreeMap<VersionKey, String>,
    /// Share of traffic per loaded version (0-1).
    pub traffic: BTreeMap<VersionKey, f64>,
    pub drift_share: BTreeMap<VersionKey, f64>,
    /// The largest PSI of a version's answers (over its outputs) against its answers on its
    /// reference rows, from `flightdeck_prediction_drift{method="psi"}`.
    pub prediction_psi: BTreeMap<VersionKey, f64>,
    /// Per model, the shadow candidate running beside production and how it compares.
    pub shadow: BTreeMap<String, ShadowNumbers>,
    /// The drift verdict of each version's live window, from `flightdeck_drift_verdict`.
    pub drift_verdict: BTreeMap<VersionKey, crate::model::Verdict>,
    pub in_flight: BTreeMap<String, f64>,
    /// Each version's quality on its labelled answers, where labels arrived.
    pub live: BTreeMap<VersionKey, LiveNumbers>,
    /// The serving runtime whose series these are, when read through Prometheus (`flightdeck`,
    /// `kserve`, `triton`, ...); `None` for a model server's own `/metrics`. Only flightdeck's
    /// servers export drift, answers and labels.
    pub runtime: Option<&'static str>,
}

impl ScrapeSnapshot {
    /// Whether the series come from a runtime that exports no drift, answers or labels.
    pub fn foreign_runtime(&self) -> Option<&'static str> {
        self.runtime.filter(|r| *r != "flightdeck")
    }
}

/// A version's answers against their labels, from the `flightdeck_live_quality` family and its
/// companions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LiveNumbers {
    /// accuracy, log_loss, auc; or mae, rmse.
    pub metrics: BTreeMap<String, f64>,
    pub labelled: f64,
    /// Labelled rows the metrics are computed over.
    pub rows: f64,
    /// Of the answers kept for their labels, the share labelled (0-1).
    pub coverage: f64,
    /// The counts of that share: answers kept, and those labelled.
    pub kept: f64,
    pub kept_labelled: f64,
    /// Median seconds from an answer to its label.
    pub lag_seconds: Option<f64>,
}

impl LiveNumbers {
    /// One version's numbers from several replicas (pods), each of which joined the labels of
    /// its own answers. Means combine exactly, weighted by each replica's rows (accuracy, log
    /// loss, MAE; RMSE through its squares); AUC and the median lag do not combine, so they
    /// are left out rather than guessed.
    pub fn combined(parts: &[LiveNumbers]) -> LiveNumbers {
        match parts {
            [] => LiveNumbers::default(),
            [one] => one.clone(),
            _ => {
                let rows: f64 = parts.iter().map(|p| p.rows).sum();
                let labelled: f64 = parts.iter().map(|p| p.labelled).sum();
                let kept: f64 = parts.iter().map(|p| p.kept).sum();
                let kept_labelled: f64 = parts.iter().map(|p| p.kept_labelled).sum();
                let mut metrics = BTreeMap::new();
                let weighted = |name: &str, f: &dyn Fn(f64) -> f64| -> Option<f64> {
                    let mut sum = 0.0;
                    for p in parts {
                        sum += f(*p.metrics.get(name)?) * p.rows;
                    }
                    (rows > 0.0).then(|| sum / rows)
                };
                for name in ["accuracy", "log_loss", "mae"] {
                    if let Some(v) = weighted(name, &|x| x) {
                        metrics.insert(name.to_string(), v);
                    }
                }
                if let Some(v) = weighted("rmse", &|x| x * x) {
                    metrics.insert("rmse".to_string(), v.sqrt());
                }
                LiveNumbers {
                    metrics,
                    labelled,
                    rows,
                    coverage: if kept > 0.0 {
                        kept_labelled / kept
                    } else {
                        0.0
                    },
                    kept,
                    kept_labelled,
                    lag_seconds: None,
                }
            }
        }
    }
}

/// The metric families `parse` reads; `# TYPE` lines stay (histograms need them).
const FAMILIES: &[&str] = &[
    "flightdeck_requests_total",
    "flightdeck_request_duration_seconds",
    "flightdeck_model_info",
    "flightdeck_traffic_share_ratio",
    "flightdeck_drift_share",
    "flightdeck_drift_verdict",
    "flightdeck_prediction_drift",
    "flightdeck_shadow_agreement_ratio",
    "flightdeck_shadow_compared_rows",
    "flightdeck_shadow_errors",
    "flightdeck_shadow_dropped",
    "flightdeck_requests_in_flight",
    "flightdeck_live_quality",
    "flightdeck_labelled_answers",
    "flightdeck_label_coverage_ratio",
    "flightdeck_label_lag_seconds",
    "flightdeck_live_quality_rows",
    "flightdeck_label_kept_answers",
    "flightdeck_label_kept_labelled",
];

fn wanted(line: &str) -> bool {
    let line = line.trim_start();
    let name = match line.strip_prefix("# TYPE ") {
        Some(rest) => rest,
        None if line.starts_with('#') => return false,
        None => line,
    };
    FAMILIES.iter().any(|f| {
        name.strip_prefix(f)
            .and_then(|rest| rest.chars().next())
            .is_some_and(|c| matches!(c, '{' | ' ' | '_'))
    })
}

/// Parses an exposition; lines it cannot read are skipped (the parser never fails), so an
/// empty snapshot from a non-empty body means the body was not flightdeck metrics.
/// How a metrics source begins "it answered, but has nothing for this model yet" (a model that
/// took no traffic), so that it is counted as no data rather than as a failing source.
pub const NO_SERIES_YET: &str = "no series yet: ";

/// The answer was an absence of data, not a failure to read.
pub fn is_no_series(error: &str) -> bool {
    error.starts_with(NO_SERIES_YET)
}

pub fn parse(text: &str) -> ScrapeSnapshot {
    // Only the families read below are handed to the parser: a server's per-feature drift
    // gauges are most of its exposition, and parsing them for a thousand servers every second
    // cost a quarter of a core (see `flightdeck bench-console`).
    let lines = text
        .lines()
        .filter(|l| wanted(l))
        .map(|l| Ok(l.to_string()));
    let Ok(scrape) = Scrape::parse(lines) else {
        return ScrapeSnapshot::default();
    };
    let mut snap = ScrapeSnapshot::default();
    for sample in &scrape.samples {
        let label = |name: &str| sample.labels.get(name).unwrap_or_default().to_string();
        let key = || (label("model"), label("version"));
        let scalar = match &sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(*v),
            _ => None,
        };
        match (sample.metric.as_str(), scalar) {
            ("flightdeck_requests_total", Some(v)) => {
                let entry = snap.versions.entry(key()).or_default();
                entry.requests += v;
                match label("code").chars().next() {
                    Some('5') => entry.server_errors += v,
                    Some('4') => entry.client_errors += v,
                    _ => {}
                }
            }
            ("flightdeck_model_info", Some(_)) => {
                snap.roles.insert(key(), label("role"));
            }
            ("flightdeck_traffic_share_ratio", Some(v)) => {
                snap.traffic.insert(key(), v);
            }
            ("flightdeck_drift_share", Some(v)) => {
                snap.drift_share.insert(key(), v);
            }
            (name, Some(v)) if name.starts_with("flightdeck_shadow_") => {
                let shadow = snap.shadow.entry(label("model")).or_default();
                shadow.version = label("version").parse().unwrap_or_default();
                shadow.versus = label("versus").parse().unwrap_or_default();
                // Counters: whole numbers, as `flightdeck shadow --json` gives them.
                let count = v.max(0.0) as u64;
                match name {
                    "flightdeck_shadow_agreement_ratio" => shadow.agreement = Some(v),
                    "flightdeck_shadow_compared_rows" => shadow.rows = count,
                    "flightdeck_shadow_errors" => shadow.errors = count,
                    "flightdeck_shadow_dropped" => shadow.dropped = count,
                    _ => {}
                }
            }
            ("flightdeck_prediction_drift", Some(v)) if label("method") == "psi" => {
                let largest = snap.prediction_psi.entry(key()).or_insert(v);
                *largest = largest.max(v);
            }
            ("flightdeck_drift_verdict", Some(1.0)) => {
                if let Some(verdict) = crate::model::Verdict::from_label(&label("verdict")) {
                    snap.drift_verdict.insert(key(), verdict);
                }
            }
            ("flightdeck_requests_in_flight", Some(v)) => {
                snap.in_flight.insert(label("model"), v);
            }
            ("flightdeck_live_quality", Some(v)) => {
                let live = snap.live.entry(key()).or_default();
                live.metrics.insert(label("metric"), v);
            }
            ("flightdeck_label_kept_answers", Some(v)) => {
                snap.live.entry(key()).or_default().kept = v;
            }
            ("flightdeck_label_kept_labelled", Some(v)) => {
                snap.live.entry(key()).or_default().kept_labelled = v;
            }
            ("flightdeck_live_quality_rows", Some(v)) => {
                snap.live.entry(key()).or_default().rows = v;
            }
            ("flightdeck_labelled_answers", Some(v)) => {
                snap.live.entry(key()).or_default().labelled = v;
            }
            ("flightdeck_label_coverage_ratio", Some(v)) => {
                snap.live.entry(key()).or_default().coverage = v;
            }
            ("flightdeck_label_lag_seconds", Some(v)) => {
                snap.live.entry(key()).or_default().lag_seconds = Some(v);
            }
            ("flightdeck_request_duration_seconds", None) => {
                if let Value::Histogram(buckets) = &sample.value {
                    let mut b: Vec<(f64, f64)> =
                        buckets.iter().map(|h| (h.less_than, h.count)).collect();
                    b.sort_by(|x, y| x.0.total_cmp(&y.0));
                    snap.versions.entry(key()).or_default().latency = b;
                }
            }
            _ => {}
        }
    }
    snap
}

/// Rates and quantiles of one version between two scrapes. A ratio or quantile that nothing
/// was measured for is `None`, never 0: no request in the interval means no error ratio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ServingStats {
    pub requests_per_second: f64,
    /// Requests answered in the interval (what the ratios rest on).
    pub requests: f64,
    /// Answers that were not a success (4xx and 5xx) over requests.
    pub error_ratio: Option<f64>,
    /// Server errors (5xx, including 503 overload) over requests.
    pub server_error_ratio: Option<f64>,
    /// Client errors (4xx: requests the version refused) over requests.
    pub client_error_ratio: Option<f64>,
    /// Seconds; `None` when no request finished in the interval.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    /// Seconds; the mean, when the runtime reports time spent but no latency buckets.
    pub mean: Option<f64>,
}

impl ServingStats {
    /// Several versions' stats as one (a model's row): rates add up, ratios are weighted by
    /// requests, latency is the worst p99's; `None` when none was measured.
    pub fn combined<'a>(stats: impl IntoIterator<Item = &'a ServingStats>) -> Option<ServingStats> {
        let mut total: Option<ServingStats> = None;
        let (mut errors, mut server, mut client) = (0.0, 0.0, 0.0);
        let mut worst: Option<ServingStats> = None;
        for s in stats {
            let t = total.get_or_insert_with(ServingStats::default);
            t.requests_per_second += s.requests_per_second;
            t.requests += s.requests;
            errors += s.error_ratio.unwrap_or(0.0) * s.requests;
            server += s.server_error_ratio.unwrap_or(0.0) * s.requests;
            client += s.client_error_ratio.unwrap_or(0.0) * s.requests;
            // The worst p99 of the live versions is what an on-call wants to see.
            worst = Some(match worst {
                Some(w) if w.p99 >= s.p99 => w,
                _ => *s,
            });
        }
        let mut total = total?;
        if total.requests > 0.0 {
            total.error_ratio = Some(errors / total.requests);
            total.server_error_ratio = Some(server / total.requests);
            total.client_error_ratio = Some(client / total.requests);
        }
        if let Some(w) = worst {
            total.p50 = w.p50;
            total.p95 = w.p95;
            total.p99 = w.p99;
            total.mean = w.mean;
        }
        Some(total)
    }
}

/// Compares two scrapes `seconds` apart. A counter that went down means the server restarted:
/// the newer values are then taken as the whole interval's.
pub fn between(
    previous: &VersionCounters,
    current: &VersionCounters,
    seconds: f64,
) -> ServingStats {
    let reset = current.requests < previous.requests;
    let delta = |now: f64, before: f64| if reset { now } else { (now - before).max(0.0) };
    let requests = delta(current.requests, previous.requests);
    let server = delta(current.server_errors, previous.server_errors);
    let client = delta(current.client_errors, previous.client_errors);
    let buckets: Vec<(f64, f64)> = current
        .latency
        .iter()
        .map(|(le, count)| {
            let before = previous
                .latency
                .iter()
                .find(|(p, _)| p == le)
                .map(|(_, c)| *c)
                .unwrap_or(0.0);
            (*le, delta(*count, before))
        })
        .collect();
    let ratio = |errors: f64| (requests > 0.0).then(|| errors / requests);
    ServingStats {
        requests_per_second: if seconds > 0.0 {
            requests / seconds
        } else {
            0.0
        },
        requests,
        error_ratio: ratio(server + client),
        server_error_ratio: ratio(server),
        client_error_ratio: ratio(client),
        p50: histogram_quantile(0.50, &buckets),
        p95: histogram_quantile(0.95, &buckets),
        p99: histogram_quantile(0.99, &buckets),
        mean: {
            let spent = delta(current.duration_seconds, previous.duration_seconds);
            (spent > 0.0 && requests > 0.0).then(|| spent / requests)
        },
    }
}

/// One point of a version's past serving, from a source that keeps history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePoint {
    /// Unix seconds.
    pub at: f64,
    pub requests_per_second: f64,
    /// Answers that were not a success over requests; `None` with no requests around then.
    pub error_ratio: Option<f64>,
    /// Seconds; `None` when no request finished around then.
    pub p99: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = r#"# HELP flightdeck_requests_total Inference requests by model, version and HTTP status code.
# TYPE flightdeck_requests_total counter
flightdeck_requests_total{model="fraud",version="1",code="200"} 90
flightdeck_requests_total{model="fraud",version="1",code="400"} 3
flightdeck_requests_total{model="fraud",version="1",code="503"} 7
flightdeck_requests_total{model="fraud",version="2",code="200"} 10
# HELP flightdeck_request_duration_seconds Time from request received to response ready.
# TYPE flightdeck_request_duration_seconds histogram
flightdeck_request_duration_seconds_bucket{model="fraud",version="1",le="0.001"} 50
flightdeck_request_duration_seconds_bucket{model="fraud",version="1",le="0.01"} 90
flightdeck_request_duration_seconds_bucket{model="fraud",version="1",le="0.1"} 100
flightdeck_request_duration_seconds_bucket{model="fraud",version="1",le="+Inf"} 100
flightdeck_request_duration_seconds_sum{model="fraud",version="1"} 0.5
flightdeck_request_duration_seconds_count{model="fraud",version="1"} 100
# HELP flightdeck_model_info Loaded model versions (always 1).
# TYPE flightdeck_model_info gauge
flightdeck_model_info{model="fraud",version="1",sha256="ab",role="stable"} 1
flightdeck_model_info{model="fraud",version="2",sha256="cd",role="canary"} 1
# TYPE flightdeck_drift_share gauge
flightdeck_drift_share{model="fraud",version="1"} 0.25
# TYPE flightdeck_prediction_drift gauge
flightdeck_prediction_drift{model="fraud",version="1",output="label",method="psi"} 0.4
flightdeck_prediction_drift{model="fraud",version="1",output="probabilities",method="psi"} 1.7
flightdeck_prediction_drift{model="fraud",version="1",output="label",method="ks_statistic"} 9
"#;

    #[test]
    fn parses_counters_roles_and_histograms() {
        let s = parse(EXPOSITION);
        let v1 = &s.versions[&("fraud".to_string(), "1".to_string())];
        assert_eq!(v1.requests, 100.0);
        assert_eq!(v1.server_errors, 7.0);
        assert_eq!(v1.client_errors, 3.0);
        assert_eq!(v1.latency.len(), 4);
        assert_eq!(v1.latency[0], (0.001, 50.0));
        assert_eq!(s.roles[&("fraud".to_string(), "2".to_string())], "canary");
        assert_eq!(s.drift_share[&("fraud".to_string(), "1".to_string())], 0.25);
        // The answers' drift: the largest PSI over the outputs, other methods aside.
        assert_eq!(
            s.prediction_psi[&("fraud".to_string(), "1".to_string())],
            1.7
        );
    }

    #[test]
    fn rates_come_from_deltas_and_survive_a_restart() {
        let before = VersionCounters {
            requests: 100.0,
            server_errors: 1.0,
            client_errors: 0.0,
            latency: vec![(0.01, 100.0), (f64::INFINITY, 100.0)],
            duration_seconds: 0.0,
        };
        let after = VersionCounters {
            requests: 300.0,
            server_errors: 11.0,
            client_errors: 0.0,
            latency: vec![(0.01, 290.0), (f64::INFINITY, 300.0)],
            duration_seconds: 0.0,
        };
        let s = between(&before, &after, 2.0);
        assert_eq!(s.requests_per_second, 100.0);
        assert!((s.server_error_ratio.unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(s.client_error_ratio, Some(0.0));
        assert!((s.error_ratio.unwrap() - 0.05).abs() < 1e-12);
        // 190 of the 200 new requests are in (0, 0.01]: rank 100 -> 0.01 * 100 / 190.
        assert!((s.p50.unwrap() - 0.01 * 100.0 / 190.0).abs() < 1e-12);
        assert_eq!(
            s.p99,
            Some(0.01),
            "rank in +Inf answers the highest finite bound"
        );
        let restarted = VersionCounters {
            requests: 40.0,
            ..after.clone()
        };
        assert_eq!(between(&after, &restarted, 2.0).requests_per_second, 20.0);
        // No request in the interval: no error ratio and no latency, not zeros.
        let idle = between(&after, &after, 2.0);
        assert_eq!(idle.requests_per_second, 0.0);
        assert_eq!((idle.error_ratio, idle.p99), (None, None));
    }

    #[test]
    fn a_version_that_answers_only_4xx_has_an_error_ratio_of_one() {
        let before = VersionCounters::default();
        let after = VersionCounters {
            requests: 90.0,
            client_errors: 90.0,
            ..VersionCounters::default()
        };
        let s = between(&before, &after, 1.0);
        assert_eq!(s.error_ratio, Some(1.0));
        assert_eq!(s.client_error_ratio, Some(1.0));
        assert_eq!(s.server_error_ratio, Some(0.0));
        let rows = ServingStats::combined([&s, &between(&before, &before, 1.0)]).unwrap();
        assert_eq!(rows.error_ratio, Some(1.0), "weighted by requests");
        assert_eq!(
            ServingStats::combined([]),
            None,
            "nothing measured is not zero"
        );
    }

    #[test]
    fn replicas_live_numbers_combine_where_means_do_and_not_where_they_cannot() {
        // Two pods of one version: 300 rows at accuracy 0.9 and 100 at 0.5 are 400 rows at 0.8.
        let pod = |accuracy: f64, rmse: f64, rows: f64, kept: f64| LiveNumbers {
            metrics: [
                ("accuracy".to_string(), accuracy),
                ("auc".to_string(), 0.7),
                ("rmse".to_string(), rmse),
            ]
            .into(),
            labelled: rows,
            rows,
            coverage: rows / kept,
            kept,
            kept_labelled: rows,
            lag_seconds: Some(5.0),
        };
        let both =
            LiveNumbers::combined(&[pod(0.9, 1.0, 300.0, 600.0), pod(0.5, 3.0, 100.0, 400.0)]);
        assert!((both.metrics["accuracy"] - 0.8).abs() < 1e-12, "{both:?}");
        // sqrt((300 * 1 + 100 * 9) / 400)
        assert!(
            (both.metrics["rmse"] - 3.0f64.sqrt()).abs() < 1e-12,
            "{both:?}"
        );
        assert!(!both.metrics.contains_key("auc"), "AUCs do not average");
        assert_eq!(both.lag_seconds, None, "medians do not average");
        // 400 labelled of 600 + 400 kept.
        assert!((both.coverage - 0.4).abs() < 1e-12, "{both:?}");
        let one = pod(0.9, 1.0, 300.0, 600.0);
        assert_eq!(LiveNumbers::combined(std::slice::from_ref(&one)), one);
    }
}
