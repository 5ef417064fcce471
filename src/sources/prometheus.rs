//! Serving metrics from a Prometheus server (`metrics = "prometheus"`): the same counters the
//! scrape source reads from each server, read back from Prometheus' HTTP API in one instant
//! query per model, so rates and quantiles come out of the same arithmetic either way.
//! Replicas of a version (several scraped instances) are summed.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::FutureExt;
use serde::Deserialize;

use super::metrics::{ScrapeSnapshot, VersionCounters};
use super::source::{Fetch, MetricsSource};
use super::within;
use crate::model::Verdict;

pub struct PrometheusMetrics {
    http: reqwest::Client,
    /// e.g. `http://127.0.0.1:9090` (no trailing slash).
    base: String,
    timeout: Duration,
}

impl PrometheusMetrics {
    pub fn new(http: reqwest::Client, base: &str, timeout: Duration) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            timeout,
        }
    }

    /// The one query: every flightdeck serve series the console reads, for one model.
    fn query(model: &str) -> String {
        // Model names are letters, digits, '-', '_' and '.': only the dot needs escaping in a
        // regex match, and an exact match needs none.
        format!(
            "{{__name__=~\"flightdeck_(requests_total|request_duration_seconds_bucket|model_info|traffic_share_ratio|drift_share|drift_verdict)\",model=\"{model}\"}}"
        )
    }
}

impl PrometheusMetrics {
    /// A range query's series, by (model, version), as (unix seconds, value) pairs.
    async fn range(&self, query: &str, seconds: u32) -> Result<Matrix, String> {
        let end = chrono::Utc::now().timestamp() as f64;
        let start = end - f64::from(seconds);
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query_range", self.base),
            &[
                ("query", query.to_string()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("step", "1".to_string()),
            ],
        )
        .map_err(|e| format!("Prometheus URL {}: {e}", self.base))?;
        let body = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "Prometheus at {}: {}",
                    self.base,
                    super::server::describe(&e)
                )
            })?
            .text()
            .await
            .map_err(|e| {
                format!(
                    "Prometheus at {}: {}",
                    self.base,
                    super::server::describe(&e)
                )
            })?;
        matrix_from_response(&body).map_err(|e| format!("Prometheus: {e}"))
    }
}

/// Series of (unix seconds, value) by (model, version).
pub type Matrix = BTreeMap<(String, String), Vec<(f64, f64)>>;

#[derive(Deserialize)]
struct MatrixSeries {
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

/// A range-query answer's series by (model, version).
pub fn matrix_from_response(body: &str) -> Result<Matrix, String> {
    let response: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| format!("the answer is not a Prometheus API response ({e})"))?;
    if response["status"] != "success" {
        return Err(format!(
            "{}: {}",
            response["errorType"].as_str().unwrap_or("error"),
            response["error"].as_str().unwrap_or("no reason given")
        ));
    }
    let series: Vec<MatrixSeries> = serde_json::from_value(response["data"]["result"].clone())
        .map_err(|e| format!("expected a matrix ({e})"))?;
    Ok(series
        .into_iter()
        .map(|s| {
            let label = |n: &str| s.metric.get(n).cloned().unwrap_or_default();
            let points = s
                .values
                .iter()
                .filter_map(|(at, v)| Some((*at, parse_value(v).ok()?)))
                .collect();
            ((label("model"), label("version")), points)
        })
        .collect())
}

impl MetricsSource for PrometheusMetrics {
    fn history(
        &self,
        model: String,
        seconds: u32,
    ) -> Fetch<'_, BTreeMap<(String, String), Vec<super::source::RatePoint>>> {
        async move {
            within(self.timeout, async {
                let sel = format!("model=\"{model}\"");
                let rate = self
                    .range(
                        &format!("sum by (model, version) (rate(flightdeck_requests_total{{{sel}}}[30s]))"),
                        seconds,
                    )
                    .await?;
                let errors = self
                    .range(
                        &format!("sum by (model, version) (rate(flightdeck_requests_total{{{sel},code=~\"5..\"}}[30s]))"),
                        seconds,
                    )
                    .await?;
                let p99 = self
                    .range(
                        &format!("histogram_quantile(0.99, sum by (model, version, le) (rate(flightdeck_request_duration_seconds_bucket{{{sel}}}[30s])))"),
                        seconds,
                    )
                    .await?;
                let at = |series: Option<&Vec<(f64, f64)>>, t: f64| {
                    series.and_then(|s| s.iter().find(|(x, _)| *x == t).map(|(_, v)| *v))
                };
                Ok(rate
                    .into_iter()
                    .map(|(key, points)| {
                        let history = points
                            .iter()
                            .map(|(t, rps)| super::source::RatePoint {
                                at: *t,
                                requests_per_second: *rps,
                                error_ratio: if *rps > 0.0 {
                                    at(errors.get(&key), *t).unwrap_or(0.0) / rps
                                } else {
                                    0.0
                                },
                                p99: at(p99.get(&key), *t).filter(|v| v.is_finite()),
                            })
                            .collect();
                        (key, history)
                    })
                    .collect())
            })
            .await
        }
        .boxed()
    }

    fn scrape(&self, model: String, _endpoint: String) -> Fetch<'_, ScrapeSnapshot> {
        async move {
            within(self.timeout, async {
                let url = reqwest::Url::parse_with_params(
                    &format!("{}/api/v1/query", self.base),
                    &[("query", Self::query(&model))],
                )
                .map_err(|e| format!("Prometheus URL {}: {e}", self.base))?;
                let response = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| format!("Prometheus at {}: {}", self.base, super::server::describe(&e)))?;
                let status = response.status();
                let body = response
                    .text()
                    .await
                    .map_err(|e| format!("Prometheus at {}: {}", self.base, super::server::describe(&e)))?;
                let snapshot = snapshot_from_response(&body).map_err(|e| {
                    if status.is_success() {
                        format!("Prometheus: {e}")
                    } else {
                        format!("Prometheus: HTTP {status}: {e}")
                    }
                })?;
                if snapshot.versions.is_empty() && snapshot.roles.is_empty() {
                    return Err(format!(
                        "Prometheus has no flightdeck series for {model}: is it scraping the model's servers?"
                    ));
                }
                Ok(snapshot)
            })
            .await
        }
        .boxed()
    }
}

#[derive(Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    metric: BTreeMap<String, String>,
    /// `[unix seconds, "value"]`.
    value: (f64, String),
}

/// An instant-query answer as the snapshot the scrape source would have produced.
pub fn snapshot_from_response(body: &str) -> Result<ScrapeSnapshot, String> {
    let response: Response = serde_json::from_str(body)
        .map_err(|e| format!("the answer is not a Prometheus API response ({e})"))?;
    if response.status != "success" {
        return Err(format!(
            "{}: {}",
            response.error_type.as_deref().unwrap_or("error"),
            response.error.as_deref().unwrap_or("no reason given")
        ));
    }
    let data = response
        .data
        .ok_or("a successful answer without data".to_string())?;
    if data.result_type != "vector" {
        return Err(format!("expected a vector, got a {}", data.result_type));
    }
    let mut snapshot = ScrapeSnapshot::default();
    let mut buckets: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
    for series in data.result {
        let label = |name: &str| series.metric.get(name).cloned().unwrap_or_default();
        let key = (label("model"), label("version"));
        let Ok(value) = parse_value(&series.value.1) else {
            continue;
        };
        match label("__name__").as_str() {
            "flightdeck_requests_total" => {
                let counters: &mut VersionCounters = snapshot.versions.entry(key).or_default();
                counters.requests += value;
                match label("code").chars().next() {
                    Some('5') => counters.server_errors += value,
                    Some('4') => counters.client_errors += value,
                    _ => {}
                }
            }
            "flightdeck_request_duration_seconds_bucket" => {
                *buckets
                    .entry(key)
                    .or_default()
                    .entry(label("le"))
                    .or_default() += value;
            }
            "flightdeck_model_info" => {
                snapshot.roles.insert(key, label("role"));
            }
            "flightdeck_traffic_share_ratio" => {
                snapshot.traffic.insert(key, value);
            }
            "flightdeck_drift_share" => {
                snapshot.drift_share.insert(key, value);
            }
            "flightdeck_drift_verdict" if value == 1.0 => {
                if let Some(verdict) = Verdict::from_label(&label("verdict")) {
                    snapshot.drift_verdict.insert(key, verdict);
                }
            }
            _ => {}
        }
    }
    for (key, by_le) in buckets {
        let mut latency: Vec<(f64, f64)> = by_le
            .into_iter()
            .filter_map(|(le, count)| Some((parse_value(&le).ok()?, count)))
            .collect();
        latency.sort_by(|a, b| a.0.total_cmp(&b.0));
        snapshot.versions.entry(key).or_default().latency = latency;
    }
    Ok(snapshot)
}

/// Prometheus' number strings, `+Inf`, `-Inf` and `NaN` included.
fn parse_value(text: &str) -> Result<f64, std::num::ParseFloatError> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        other => other.parse(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_error_is_said_in_prometheus_words() {
        // Recorded from a real Prometheus 2.x answering a query with an unclosed parenthesis.
        let body = include_str!("../../tests/fixtures/prometheus/api-error-bad-query.json");
        let error = snapshot_from_response(body).unwrap_err();
        assert!(
            error.starts_with("bad_data: invalid parameter \"query\""),
            "{error}"
        );
    }

    #[test]
    fn series_become_the_scrape_sources_snapshot() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"flightdeck_requests_total","model":"fraud","version":"1","code":"200","instance":"a"},"value":[1,"90"]},
            {"metric":{"__name__":"flightdeck_requests_total","model":"fraud","version":"1","code":"200","instance":"b"},"value":[1,"10"]},
            {"metric":{"__name__":"flightdeck_requests_total","model":"fraud","version":"1","code":"503","instance":"a"},"value":[1,"5"]},
            {"metric":{"__name__":"flightdeck_request_duration_seconds_bucket","model":"fraud","version":"1","le":"+Inf"},"value":[1,"105"]},
            {"metric":{"__name__":"flightdeck_request_duration_seconds_bucket","model":"fraud","version":"1","le":"0.001"},"value":[1,"100"]},
            {"metric":{"__name__":"flightdeck_model_info","model":"fraud","version":"1","role":"stable"},"value":[1,"1"]},
            {"metric":{"__name__":"flightdeck_drift_verdict","model":"fraud","version":"1","verdict":"warn"},"value":[1,"1"]},
            {"metric":{"__name__":"flightdeck_drift_verdict","model":"fraud","version":"1","verdict":"ok"},"value":[1,"0"]}
        ]}}"#;
        let s = snapshot_from_response(body).unwrap();
        let key = ("fraud".to_string(), "1".to_string());
        let counters = &s.versions[&key];
        assert_eq!(
            (counters.requests, counters.server_errors),
            (105.0, 5.0),
            "replicas are summed"
        );
        assert_eq!(
            counters.latency,
            vec![(0.001, 100.0), (f64::INFINITY, 105.0)]
        );
        assert_eq!(s.roles[&key], "stable");
        assert_eq!(s.drift_verdict[&key], Verdict::Warn);
    }

    #[test]
    fn garbage_is_an_error_not_an_empty_fleet() {
        assert!(snapshot_from_response("<html>").is_err());
        assert!(
            snapshot_from_response(
                r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#
            )
            .unwrap_err()
            .contains("expected a vector")
        );
    }
}
#[cfg(test)]
mod range_tests {
    #[test]
    fn a_matrix_answer_becomes_series_by_version() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"model":"fraud","version":"1"},"values":[[1795325668,"13.408333333333333"],[1795325669,"14"]]}]}}"#;
        let m = super::matrix_from_response(body).unwrap();
        assert_eq!(
            m[&("fraud".to_string(), "1".to_string())],
            vec![(1795325668.0, 13.408333333333333), (1795325669.0, 14.0)]
        );
    }
}
