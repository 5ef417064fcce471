//! Labels over HTTP: the request id every answer carries (the body's `id`, else the
//! `x-request-id` header, else a new one; echoed in both), `POST /flightdeck/feedback/{model}`
//! to send labels, `GET` for each version's quality, and their series in `/metrics`.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::metrics::GaugeSample;
use super::routes::{ApiError, ApiResult, Shared, body, find};
use super::state::{Deployment, LoadedVersion, ServerState};
use crate::model::{FeedbackReceipt, FeedbackReport};
use crate::runtime::NamedTensor;

/// The header a request id travels in, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// Longest request id kept: ids are keys held in memory until their label comes.
const MAX_ID_BYTES: usize = 128;

/// The request id a client sent in the header, if any.
pub fn header_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// `response` with the request id in its header.
pub fn with_id_header(mut response: Response, id: Option<&str>) -> Response {
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(id).ok()) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Keeps an answer for its label under the request's id (`asked`, or a new one), and returns
/// the id. An id longer than [`MAX_ID_BYTES`] is answered but not kept.
pub fn remember(
    deployment: &Deployment,
    version: &LoadedVersion,
    asked: Option<String>,
    outputs: &[NamedTensor],
    rows: usize,
) -> String {
    let kept = asked.as_ref().is_none_or(|id| id.len() <= MAX_ID_BYTES);
    let reading = version.reading.as_ref().filter(|_| kept);
    let now = Instant::now();
    let id = deployment
        .feedback
        .answer(asked, version.version, reading, outputs, rows, now);
    if reading.is_some() {
        version.metrics.feedback_recorded(now.elapsed());
    }
    id
}

/// `POST /flightdeck/feedback/{model}`: one `{"id", "label"}`, a list of them, or
/// `{"labels": [...]}`; a label is one value, or a list with one per row of its request.
pub async fn post(
    State(state): State<Shared>,
    Path(name): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<FeedbackReceipt>> {
    let deployment = find(&state, &name)?;
    let bytes = body(raw)?;
    let items = parse(&bytes).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let mut labels = Vec::with_capacity(items.len());
    let mut malformed = Vec::new();
    for item in items {
        match item {
            Labelled::Label(id, label) => labels.push((id, label)),
            Labelled::Invalid(why) => malformed.push(why),
        }
    }
    let store = deployment.feedback.clone();
    // Joining a large batch takes milliseconds: off the thread that serves requests.
    let mut receipt = tokio::task::spawn_blocking(move || store.label(&labels, Instant::now()))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    deployment.feedback.count_invalid(malformed.len() as u64);
    receipt.absorb(FeedbackReceipt {
        invalid: malformed.len() as u64,
        problems: malformed,
        ..FeedbackReceipt::default()
    });
    Ok(Json(receipt))
}

/// The labels of a feedback body, as (id, label).
fn parse(bytes: &[u8]) -> Result<Vec<Labelled>, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("malformed feedback: {e}"))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut o) if o.contains_key("labels") => match o.remove("labels") {
            Some(Value::Array(items)) => items,
            _ => return Err("\"labels\" must be a list of {\"id\", \"label\"}".into()),
        },
        one @ Value::Object(_) => vec![one],
        _ => return Err("send {\"id\", \"label\"}, a list of them, or {\"labels\": [...]}".into()),
    };
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, mut item)| {
            let id = match item.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Labelled::Invalid(format!("label {i}: no \"id\" (a string)")),
            };
            match item
                .get_mut("label")
                .map(Value::take)
                .filter(|l| !l.is_null())
            {
                Some(label) => Labelled::Label(id, label),
                None => Labelled::Invalid(format!("label {i} (id {id:?}): no \"label\"")),
            }
        })
        .collect())
}

/// One item of a feedback body: a label for an id, or why it is not one (counted as invalid,
/// like a label that is not a class, so one bad item does not refuse the rest).
enum Labelled {
    Label(String, Value),
    Invalid(String),
}

/// `GET /flightdeck/feedback/{model}`: each version's quality on its labelled answers.
pub async fn report(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<FeedbackReport>> {
    let deployment = find(&state, &name)?;
    let store = deployment.feedback.clone();
    let report = tokio::task::spawn_blocking(move || store.report())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(report))
}

/// The feedback series of every model: quality per version and metric, labelled answers,
/// coverage and lag, and labels that could not be joined by why.
pub fn gauges(state: &ServerState) -> Vec<GaugeSample> {
    let mut out = Vec::new();
    for deployment in state.deployments() {
        let model = deployment.name.clone();
        let report = deployment.feedback.report();
        for q in &report.versions {
            let labels = || vec![("model", model.clone()), ("version", q.version.to_string())];
            for (metric, value) in &q.metrics {
                let mut l = labels();
                l.push(("metric", metric.clone()));
                out.push(GaugeSample {
                    name: "flightdeck_live_quality",
                    help: "A version's quality on its labelled answers (accuracy, log_loss, auc; mae, rmse).",
                    labels: l,
                    value: *value,
                });
            }
            let per_version: [(&'static str, &'static str, f64); 5] = [
                (
                    "flightdeck_live_quality_rows",
                    "Labelled rows a version's live quality is computed over (its latest).",
                    q.rows as f64,
                ),
                (
                    "flightdeck_labelled_answers",
                    "Answers of a version whose label arrived since the server loaded it.",
                    q.labelled as f64,
                ),
                (
                    "flightdeck_label_coverage_ratio",
                    "Of the answers kept for their labels (the latest), the share labelled (0-1).",
                    q.coverage,
                ),
                (
                    "flightdeck_label_kept_answers",
                    "Answers of a version kept for their labels now (the latest, within the server's count and age).",
                    q.kept as f64,
                ),
                (
                    "flightdeck_label_kept_labelled",
                    "Of those, answers whose label arrived.",
                    q.kept_labelled as f64,
                ),
            ];
            for (name, help, value) in per_version {
                out.push(GaugeSample {
                    name,
                    help,
                    labels: labels(),
                    value,
                });
            }
            if let Some(lag) = q.lag_median_seconds {
                out.push(GaugeSample {
                    name: "flightdeck_label_lag_seconds",
                    help: "Median time from an answer to its label.",
                    labels: labels(),
                    value: lag,
                });
            }
        }
        let l = &report.labels;
        for (reason, count) in [
            ("late", l.late),
            ("unknown", l.unknown),
            ("duplicate", l.duplicate),
            ("invalid", l.invalid),
        ] {
            out.push(GaugeSample {
                name: "flightdeck_labels_unjoined",
                help: "Labels that could not be joined with an answer, by why.",
                labels: vec![("model", model.clone()), ("reason", reason.to_string())],
                value: count as f64,
            });
        }
    }
    out
}
