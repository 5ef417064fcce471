//! Ready-made PromQL per serving runtime: which series hold a model's requests, errors and
//! latency, and how their labels map onto (model, version). Auto-detected per model from the
//! series that exist; an environment may pin one (`prometheus_runtime`).

use serde::Deserialize;

/// A serving runtime whose metrics flightdeck knows.
#[derive(strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    /// `flightdeck serve`: `flightdeck_requests_total`, `flightdeck_request_duration_seconds`.
    Flightdeck,
    /// KServe's Python runtime (kserve.ModelServer): `request_predict_seconds` (a histogram, no status codes).
    Kserve,
    /// Knative's queue-proxy in front of a Serverless predictor: `revision_app_request_count`
    /// and `revision_app_request_latencies` (milliseconds), by revision.
    Knative,
    /// NVIDIA Triton: `nv_inference_request_success`/`_failure` and cumulative
    /// `nv_inference_request_duration_us` (a mean, no quantiles).
    Triton,
    /// BentoML: `bentoml_service_request_total` and `bentoml_service_request_duration_seconds`.
    Bentoml,
}

/// The order auto-detection prefers when a model has several (a flightdeck or BentoML server
/// knows its versions; queue-proxy and KServe see revisions).
pub const ALL: [Runtime; 5] = [
    Runtime::Flightdeck,
    Runtime::Bentoml,
    Runtime::Triton,
    Runtime::Knative,
    Runtime::Kserve,
];

impl Runtime {
    /// As the config's `prometheus_runtime` names it.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The series that says this runtime serves `model`.
    fn marker(self, model: &str) -> String {
        match self {
            // Present as soon as a version is loaded, before any request.
            Runtime::Flightdeck => format!("flightdeck_model_info{{model=\"{model}\"}}"),
            Runtime::Kserve => format!("request_predict_seconds_count{{model_name=\"{model}\"}}"),
            Runtime::Knative => {
                format!("revision_app_request_count{{service_name=\"{model}-predictor\"}}")
            }
            Runtime::Triton => format!("nv_inference_request_success{{model=\"{model}\"}}"),
            Runtime::Bentoml => {
                format!("bentoml_service_request_total{{service_name=\"{model}\"}}")
            }
        }
    }

    /// One query answering which runtimes have series for `model`: a vector of one sample per
    /// runtime found, labelled `runtime`.
    pub fn detect_query(model: &str) -> String {
        ALL.iter()
            .map(|r| {
                format!(
                    "label_replace(count({}), \"runtime\", \"{}\", \"\", \"\")",
                    r.marker(model),
                    r.name()
                )
            })
            .collect::<Vec<_>>()
            .join(" or ")
    }

    pub fn from_name(name: &str) -> Option<Runtime> {
        name.parse().ok()
    }

    /// The instant query whose raw series the snapshot is built from.
    pub fn snapshot_query(self, model: &str) -> String {
        match self {
            Runtime::Flightdeck => format!(
                "{{__name__=~\"flightdeck_(requests_total|request_duration_seconds_bucket|model_info|traffic_share_ratio|drift_share|drift_verdict|prediction_drift|live_quality|live_quality_rows|labelled_answers|label_coverage_ratio|label_lag_seconds|label_kept_answers|label_kept_labelled)\",model=\"{model}\"}}"
            ),
            Runtime::Kserve => format!(
                "{{__name__=~\"request_predict_seconds_(bucket|count)\",model_name=\"{model}\"}}"
            ),
            Runtime::Knative => format!(
                "{{__name__=~\"revision_app_request_(count|latencies_bucket)\",service_name=\"{model}-predictor\"}}"
            ),
            Runtime::Triton => format!(
                "{{__name__=~\"nv_inference_request_(success|failure|duration_us)\",model=\"{model}\"}}"
            ),
            Runtime::Bentoml => format!(
                "{{__name__=~\"bentoml_service_request_(total|duration_seconds_bucket)\",service_name=\"{model}\"}}"
            ),
        }
    }

    /// The label naming the version (or revision) a series belongs to.
    pub fn version_label(self) -> &'static str {
        match self {
            Runtime::Flightdeck | Runtime::Triton => "version",
            Runtime::Kserve => "revision_name",
            Runtime::Knative => "revision_name",
            Runtime::Bentoml => "service_version",
        }
    }

    /// What a raw series is, for the snapshot.
    pub fn classify(self, name: &str, labels: &dyn Fn(&str) -> String) -> Option<Sample> {
        let code_class = |code: String| match code.chars().next() {
            Some('5') => Class::ServerError,
            Some('4') => Class::ClientError,
            _ => Class::Ok,
        };
        let le = |scale: f64| {
            let text = labels("le");
            if text == "+Inf" {
                Some(f64::INFINITY)
            } else {
                text.parse::<f64>().ok().map(|v| v * scale)
            }
        };
        Some(match (self, name) {
            (Runtime::Flightdeck, "flightdeck_requests_total") => {
                Sample::Requests(code_class(labels("code")))
            }
            (Runtime::Flightdeck, "flightdeck_request_duration_seconds_bucket") => {
                Sample::Bucket(le(1.0)?)
            }
            (Runtime::Kserve, "request_predict_seconds_count") => Sample::Requests(Class::Ok),
            (Runtime::Kserve, "request_predict_seconds_bucket") => Sample::Bucket(le(1.0)?),
            (Runtime::Knative, "revision_app_request_count") => {
                Sample::Requests(code_class(labels("response_code")))
            }
            // Knative reports latencies in milliseconds.
            (Runtime::Knative, "revision_app_request_latencies_bucket") => {
                Sample::Bucket(le(0.001)?)
            }
            (Runtime::Triton, "nv_inference_request_success") => Sample::Requests(Class::Ok),
            (Runtime::Triton, "nv_inference_request_failure") => {
                Sample::Requests(Class::ServerError)
            }
            (Runtime::Triton, "nv_inference_request_duration_us") => Sample::DurationMicros,
            (Runtime::Bentoml, "bentoml_service_request_total") => {
                Sample::Requests(code_class(labels("http_response_code")))
            }
            (Runtime::Bentoml, "bentoml_service_request_duration_seconds_bucket") => {
                Sample::Bucket(le(1.0)?)
            }
            _ => return None,
        })
    }

    /// Range queries for a model's charts: (request rate, error rate (4xx and 5xx where the
    /// runtime tells them), p99 seconds), each
    /// summed by the version label.
    pub fn history_queries(self, model: &str, window: &str) -> (String, String, String) {
        let v = self.version_label();
        match self {
            Runtime::Flightdeck => {
                let sel = format!("model=\"{model}\"");
                (
                    format!(
                        "sum by (model, version) (rate(flightdeck_requests_total{{{sel}}}{window}))"
                    ),
                    format!(
                        "sum by (model, version) (rate(flightdeck_requests_total{{{sel},code=~\"[45]..\"}}{window}))"
                    ),
                    format!(
                        "histogram_quantile(0.99, sum by (model, version, le) (rate(flightdeck_request_duration_seconds_bucket{{{sel}}}{window})))"
                    ),
                )
            }
            Runtime::Kserve => {
                let sel = format!("model_name=\"{model}\"");
                (
                    format!("sum by ({v}) (rate(request_predict_seconds_count{{{sel}}}{window}))"),
                    // KServe's Python runtime counts no failures.
                    format!(
                        "sum by ({v}) (rate(request_predict_seconds_count{{{sel}}}{window})) * 0"
                    ),
                    format!(
                        "histogram_quantile(0.99, sum by ({v}, le) (rate(request_predict_seconds_bucket{{{sel}}}{window})))"
                    ),
                )
            }
            Runtime::Knative => {
                let sel = format!("service_name=\"{model}-predictor\"");
                (
                    format!("sum by ({v}) (rate(revision_app_request_count{{{sel}}}{window}))"),
                    format!(
                        "sum by ({v}) (rate(revision_app_request_count{{{sel},response_code_class=~\"[45]xx\"}}{window}))"
                    ),
                    format!(
                        "histogram_quantile(0.99, sum by ({v}, le) (rate(revision_app_request_latencies_bucket{{{sel}}}{window}))) / 1000"
                    ),
                )
            }
            Runtime::Triton => {
                let sel = format!("model=\"{model}\"");
                (
                    format!(
                        "sum by ({v}) (rate({{__name__=~\"nv_inference_request_(success|failure)\",{sel}}}{window}))"
                    ),
                    format!("sum by ({v}) (rate(nv_inference_request_failure{{{sel}}}{window}))"),
                    // No histogram: the mean, rate of duration over rate of success.
                    format!(
                        "sum by ({v}) (rate(nv_inference_request_duration_us{{{sel}}}{window})) / sum by ({v}) (rate(nv_inference_request_success{{{sel}}}{window})) / 1e6"
                    ),
                )
            }
            Runtime::Bentoml => {
                let sel = format!("service_name=\"{model}\"");
                (
                    format!("sum by ({v}) (rate(bentoml_service_request_total{{{sel}}}{window}))"),
                    format!(
                        "sum by ({v}) (rate(bentoml_service_request_total{{{sel},http_response_code=~\"[45]..\"}}{window}))"
                    ),
                    format!(
                        "histogram_quantile(0.99, sum by ({v}, le) (rate(bentoml_service_request_duration_seconds_bucket{{{sel}}}{window})))"
                    ),
                )
            }
        }
    }
}

/// Which responses a request counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Ok,
    ClientError,
    ServerError,
}

/// What one raw series contributes to a version's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    Requests(Class),
    /// A cumulative latency bucket, its upper bound in seconds.
    Bucket(f64),
    /// Cumulative microseconds spent on requests (Triton).
    DurationMicros,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_asks_for_every_runtime_in_one_query() {
        let q = Runtime::detect_query("fraud");
        for r in ALL {
            assert!(q.contains(&format!("\"runtime\", \"{}\"", r.name())), "{q}");
        }
        assert!(q.contains("revision_app_request_count{service_name=\"fraud-predictor\"}"));
    }

    #[test]
    fn knative_latencies_are_milliseconds() {
        let labels = |name: &str| {
            if name == "le" {
                "250".to_string()
            } else {
                String::new()
            }
        };
        assert_eq!(
            Runtime::Knative.classify("revision_app_request_latencies_bucket", &labels),
            Some(Sample::Bucket(0.25))
        );
        let code = |name: &str| {
            if name == "response_code" {
                "503".to_string()
            } else {
                String::new()
            }
        };
        assert_eq!(
            Runtime::Knative.classify("revision_app_request_count", &code),
            Some(Sample::Requests(Class::ServerError))
        );
    }
}
