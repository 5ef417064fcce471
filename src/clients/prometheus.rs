//! Serving metrics from a Prometheus server (`metrics = "prometheus"`): the same counters the
//! scrape source reads from each server, read back from Prometheus' HTTP API in one instant
//! query per model, so rates and quantiles come out of the same arithmetic either way.
//! Replicas of a version (several scraped instances) are summed. Other serving runtimes (KServe,
//! Knative's queue-proxy, Triton, BentoML) are read through their own series (`promql.rs`),
//! detected per model from what Prometheus holds.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::metrics::{LiveNumbers, ScrapeSnapshot, VersionCounters};
use super::promql::{Class, Runtime};
use super::within;
use crate::model::Verdict;

/// The registry version a revision serves, for runtimes whose series name revisions:
/// (model, revision) to version, from the cluster source.
pub type RevisionVersions = Arc<dyn Fn(&str, &str) -> Option<u32> + Send + Sync>;

/// How long a model's detected runtime is trusted before asking again.
const DETECTED_FOR: Duration = Duration::from_secs(60);
/// How long "no series for this model" is believed: a thousand models without traffic must not
/// cost a detection query each every second (nor the dozens on screen one each every few
/// seconds), and a new model still shows up within half a minute.
const UNDETECTED_FOR: Duration = Duration::from_secs(30);

/// A model's runtime (or why there is none) and when that was found.
type Detected = (Result<Runtime, String>, Instant);

pub struct PrometheusMetrics {
    http: reqwest::Client,
    /// e.g. `http://127.0.0.1:9090` (no trailing slash).
    base: String,
    timeout: Duration,
    /// The environment's `prometheus_runtime`, or `None` to detect per model.
    runtime: Option<Runtime>,
    detected: Mutex<HashMap<String, Detected>>,
    revisions: Option<RevisionVersions>,
}

impl PrometheusMetrics {
    pub fn new(http: reqwest::Client, base: &str, timeout: Duration) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            timeout,
            runtime: None,
            detected: Mutex::default(),
            revisions: None,
        }
    }

    /// Reads `runtime`'s series for every model instead of detecting.
    pub fn with_runtime(mut self, runtime: Option<Runtime>) -> Self {
        self.runtime = runtime;
        self
    }

    /// Names revisions' versions (Kubernetes environments).
    pub fn with_revisions(mut self, revisions: RevisionVersions) -> Self {
        self.revisions = Some(revisions);
        self
    }

    /// An instant query's raw answer.
    async fn instant(&self, query: &str) -> Result<(reqwest::StatusCode, String), String> {
        instant_query(&self.http, &self.base, query).await
    }

    /// The runtime serving `model`: pinned, remembered, or asked of Prometheus.
    async fn runtime_of(&self, model: &str) -> Result<Runtime, String> {
        if let Some(r) = self.runtime {
            return Ok(r);
        }
        if let Ok(cache) = self.detected.lock()
            && let Some((answer, at)) = cache.get(model)
            && at.elapsed()
                < if answer.is_ok() {
                    DETECTED_FOR
                } else {
                    UNDETECTED_FOR
                }
        {
            return answer.clone();
        }
        let (_, body) = self.instant(&Runtime::detect_query(model)).await?;
        let found = vector_from_response(&body).map_err(|e| format!("Prometheus: {e}"))?;
        let names: Vec<String> = found
            .iter()
            .filter_map(|(labels, _)| labels.get("runtime").cloned())
            .collect();
        let runtime = super::promql::ALL
            .into_iter()
            .find(|r| names.iter().any(|n| n == r.name()))
            .ok_or_else(|| {
                format!(
                    "{}Prometheus has no serving series for {model} from any runtime flightdeck knows (flightdeck, BentoML, Triton, Knative queue-proxy, KServe): is it scraping the model's servers?",
                    super::metrics::NO_SERIES_YET
                )
            });
        // Only Prometheus' own answers are remembered; a failed request is asked again.
        if let Ok(mut cache) = self.detected.lock() {
            cache.insert(model.to_string(), (runtime.clone(), Instant::now()));
        }
        runtime
    }
}

impl PrometheusMetrics {
    /// A range query's series, by (model, version), as (unix seconds, value) pairs.
    async fn range(
        &self,
        query: &str,
        seconds: u32,
        step: u32,
        version_label: &str,
    ) -> Result<Matrix, String> {
        let end = chrono::Utc::now().timestamp() as f64;
        let start = end - f64::from(seconds);
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query_range", self.base),
            &[
                ("query", query.to_string()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("step", step.max(1).to_string()),
            ],
        )
        .map_err(|e| format!("Prometheus URL {}: {e}", self.base))?;
        let unreachable = |e: &reqwest::Error| {
            format!("Prometheus at {}: {}", self.base, super::http::describe(e))
        };
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let from = format!("Prometheus at {}", self.base);
        let body = super::answer::text(response, &from, unreachable).await?;
        matrix_from_response(&body, version_label).map_err(|e| format!("Prometheus: {e}"))
    }

    /// Series keyed by (model, version): a revision's name becomes the version it serves.
    fn keyed(&self, matrix: Matrix, model: &str) -> Matrix {
        matrix
            .into_iter()
            .map(|((_, version), points)| {
                ((model.to_string(), self.version(model, &version)), points)
            })
            .collect()
    }

    fn version(&self, model: &str, label: &str) -> String {
        match &self.revisions {
            Some(resolve) if !label.chars().all(|c| c.is_ascii_digit()) => resolve(model, label)
                .map(|v| v.to_string())
                .unwrap_or_else(|| label.to_string()),
            _ => label.to_string(),
        }
    }
}

/// Series of (unix seconds, value) by (model, version).
pub type Matrix = BTreeMap<(String, String), Vec<(f64, f64)>>;

#[derive(Deserialize)]
struct MatrixSeries {
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

/// An instant query's status and raw answer; failures to reach `base` said in words.
pub async fn instant_query(
    http: &reqwest::Client,
    base: &str,
    query: &str,
) -> Result<(reqwest::StatusCode, String), String> {
    let url = reqwest::Url::parse_with_params(&format!("{base}/api/v1/query"), &[("query", query)])
        .map_err(|e| format!("Prometheus URL {base}: {e}"))?;
    let unreachable =
        |e: &reqwest::Error| format!("Prometheus at {base}: {}", super::http::describe(e));
    let response = http.get(url).send().await.map_err(|e| unreachable(&e))?;
    let status = response.status();
    let from = format!("Prometheus at {base}");
    let body = super::answer::text(response, &from, unreachable).await?;
    Ok((status, body))
}

/// A range-query answer's series by (model, the `version_label`'s value).
pub fn matrix_from_response(body: &str, version_label: &str) -> Result<Matrix, String> {
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
            ((label("model"), label(version_label)), points)
        })
        .collect())
}

/// What the console's metrics source reads: a model's counters now and its recent history.
impl PrometheusMetrics {
    /// The last `seconds` of each version's serving, one point per second.
    pub async fn rate_history(
        &self,
        model: String,
        seconds: u32,
        step: u32,
    ) -> Result<BTreeMap<(String, String), Vec<super::metrics::RatePoint>>, String> {
        {
            within(self.timeout, async {
                let runtime = self.runtime_of(&model).await?;
                // Each point covers its step (at least 30 s): a day's points at 10-minute steps
                // are rates over 10 minutes, not 30-second samples of them.
                let window = format!("[{}s]", step.max(30));
                let (rate, errors, p99) = runtime.history_queries(&model, &window);
                let label = runtime.version_label();
                let rate = self.keyed(self.range(&rate, seconds, step, label).await?, &model);
                let errors = self.keyed(self.range(&errors, seconds, step, label).await?, &model);
                let p99 = self.keyed(self.range(&p99, seconds, step, label).await?, &model);
                let at = |series: Option<&Vec<(f64, f64)>>, t: f64| {
                    series.and_then(|s| s.iter().find(|(x, _)| *x == t).map(|(_, v)| *v))
                };
                Ok(rate
                    .into_iter()
                    .map(|(key, points)| {
                        let history = points
                            .iter()
                            .map(|(t, rps)| super::metrics::RatePoint {
                                at: *t,
                                requests_per_second: *rps,
                                error_ratio: (*rps > 0.0)
                                    .then(|| at(errors.get(&key), *t).unwrap_or(0.0) / rps),
                                p99: at(p99.get(&key), *t).filter(|v| v.is_finite()),
                            })
                            .collect();
                        (key, history)
                    })
                    .collect())
            })
            .await
        }
    }

    /// The model's counters by version now, as its runtime's series hold them.
    pub async fn snapshot(&self, model: String) -> Result<ScrapeSnapshot, String> {
        {
            within(self.timeout, async {
                let runtime = self.runtime_of(&model).await?;
                let (status, body) = self.instant(&runtime.snapshot_query(&model)).await?;
                let context = |e: String| {
                    if status.is_success() {
                        format!("Prometheus: {e}")
                    } else {
                        format!("Prometheus: HTTP {status}: {e}")
                    }
                };
                let snapshot = match runtime {
                    Runtime::Flightdeck => snapshot_from_response(&body).map_err(context)?,
                    other => {
                        let series = vector_from_response(&body).map_err(context)?;
                        runtime_snapshot(other, &model, series, &|revision| {
                            self.version(&model, revision)
                        })
                    }
                };
                if snapshot.versions.is_empty() && snapshot.roles.is_empty() {
                    return Err(format!(
                        "{}Prometheus has no {} series for {model}: is it scraping the model's servers?",
                        super::metrics::NO_SERIES_YET,
                        runtime.name()
                    ));
                }
                Ok(ScrapeSnapshot {
                    runtime: Some(runtime.name()),
                    ..snapshot
                })
            })
            .await
        }
    }
}

/// One sample of an instant vector: its labels and value.
pub type Sample = (BTreeMap<String, String>, f64);

/// An instant vector's samples.
pub fn vector_from_response(body: &str) -> Result<Vec<Sample>, String> {
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
    Ok(data
        .result
        .into_iter()
        .filter_map(|s| Some((s.metric, parse_value(&s.value.1).ok()?)))
        .collect())
}

/// Another runtime's raw series as the snapshot flightdeck's own would give: requests and
/// errors per version, latency buckets (or time spent), replicas summed.
pub fn runtime_snapshot(
    runtime: Runtime,
    model: &str,
    series: Vec<self::Sample>,
    version_of: &dyn Fn(&str) -> String,
) -> ScrapeSnapshot {
    let mut snapshot = ScrapeSnapshot::default();
    let mut buckets: BTreeMap<(String, String), BTreeMap<u64, (f64, f64)>> = BTreeMap::new();
    for (labels, value) in series {
        let label = |name: &str| labels.get(name).cloned().unwrap_or_default();
        let name = label("__name__");
        let Some(sample) = runtime.classify(&name, &label) else {
            continue;
        };
        use super::promql::Sample;
        let key = (
            model.to_string(),
            version_of(&label(runtime.version_label())),
        );
        let counters: &mut VersionCounters = snapshot.versions.entry(key.clone()).or_default();
        match sample {
            Sample::Requests(class) => {
                counters.requests += value;
                match class {
                    Class::ServerError => counters.server_errors += value,
                    Class::ClientError => counters.client_errors += value,
                    Class::Ok => {}
                }
            }
            Sample::DurationMicros => counters.duration_seconds += value / 1e6,
            Sample::Bucket(le) => {
                let slot = buckets
                    .entry(key)
                    .or_default()
                    .entry(le.to_bits())
                    .or_insert((le, 0.0));
                slot.1 += value;
            }
        }
    }
    for (key, by_le) in buckets {
        let mut latency: Vec<(f64, f64)> = by_le.into_values().collect();
        latency.sort_by(|a, b| a.0.total_cmp(&b.0));
        snapshot.versions.entry(key).or_default().latency = latency;
    }
    snapshot
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
    let series = vector_from_response(body)?;
    let mut snapshot = ScrapeSnapshot::default();
    let mut buckets: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
    let mut replicas: BTreeMap<(String, String), BTreeMap<String, LiveNumbers>> = BTreeMap::new();
    for (metric, value) in series {
        let label = |name: &str| metric.get(name).cloned().unwrap_or_default();
        let key = (label("model"), label("version"));
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
            "flightdeck_prediction_drift" if label("method") == "psi" => {
                let largest = snapshot.prediction_psi.entry(key).or_insert(value);
                *largest = largest.max(value);
            }
            "flightdeck_drift_verdict" if value == 1.0 => {
                if let Some(verdict) = Verdict::from_label(&label("verdict")) {
                    snapshot.drift_verdict.insert(key, verdict);
                }
            }
            // Each replica (instance) joins the labels of its own answers: kept apart here,
            // combined below.
            name @ ("flightdeck_live_quality"
            | "flightdeck_live_quality_rows"
            | "flightdeck_labelled_answers"
            | "flightdeck_label_coverage_ratio"
            | "flightdeck_label_lag_seconds"
            | "flightdeck_label_kept_answers"
            | "flightdeck_label_kept_labelled") => {
                let live = replicas
                    .entry(key)
                    .or_default()
                    .entry(label("instance"))
                    .or_default();
                match name {
                    "flightdeck_live_quality" => {
                        live.metrics.insert(label("metric"), value);
                    }
                    "flightdeck_live_quality_rows" => live.rows = value,
                    "flightdeck_labelled_answers" => live.labelled = value,
                    "flightdeck_label_coverage_ratio" => live.coverage = value,
                    "flightdeck_label_kept_answers" => live.kept = value,
                    "flightdeck_label_kept_labelled" => live.kept_labelled = value,
                    _ => live.lag_seconds = Some(value),
                }
            }
            _ => {}
        }
    }
    for (key, by_instance) in replicas {
        let parts: Vec<LiveNumbers> = by_instance.into_values().collect();
        snapshot.live.insert(key, LiveNumbers::combined(&parts));
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
        let m = super::matrix_from_response(body, "version").unwrap();
        assert_eq!(
            m[&("fraud".to_string(), "1".to_string())],
            vec![(1795325668.0, 13.408333333333333), (1795325669.0, 14.0)]
        );
    }
}
