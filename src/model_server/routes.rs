//! HTTP routes: Open Inference Protocol V2, KServe V1, Prometheus metrics, the drift report and
//! the admin API the engine uses to change what is served. Every error is JSON
//! `{"error": "..."}` with the status a client expects.

use std::sync::Arc;
use std::time::Instant;

use crate::model::Verdict;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::batch::run_and_record;
use super::labels;
use super::metrics::{GaugeSample, VersionMetrics, in_flight};
use super::pool::PoolError;
use super::protocol::{self, InferRequest, InferResponse, ModelMetadata, V1Request};
use super::state::{Deployment, LoadedVersion, Plan, ServerState};
use crate::model::ModelName;

pub(super) type Shared = Arc<ServerState>;

/// An error answer.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

pub(super) type ApiResult<T> = Result<T, ApiError>;

pub fn router(state: Shared) -> Router {
    let limit = state.options.max_body_bytes;
    Router::new()
        .route(
            "/v2/health/live",
            get(|| async { Json(json!({ "live": true })) }),
        )
        .route("/v2/health/ready", get(ready))
        .route("/v2", get(server_metadata))
        .route("/v2/models/{name}", get(model_metadata))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(version_metadata),
        )
        .route("/v2/models/{name}/ready", get(model_ready))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(version_ready),
        )
        .route("/v2/models/{name}/infer", axum::routing::post(infer))
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            axum::routing::post(infer_version),
        )
        .route("/v1/models/{name}", get(v1_status).post(v1_predict))
        .route("/metrics", get(metrics))
        .route("/flightdeck/drift/{name}", get(drift))
        .route(
            "/flightdeck/feedback/{name}",
            get(labels::report).post(labels::post),
        )
        .route("/flightdeck/shadow/{name}", get(shadow_report))
        .route(
            "/flightdeck/admin/shadow/{name}",
            axum::routing::put(shadow_start).delete(shadow_stop),
        )
        .route(
            "/flightdeck/admin/deployments/{name}",
            get(admin_get).put(admin_put),
        )
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such route; see the Open Inference Protocol V2 paths under /v2",
            )
        })
        .method_not_allowed_fallback(
            |method: axum::http::Method, uri: axum::http::Uri| async move {
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("{method} is not allowed on {}", uri.path()),
                )
            },
        )
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn ready(State(state): State<Shared>) -> ApiResult<Json<Value>> {
    if state.ready.load(std::sync::atomic::Ordering::Relaxed) {
        Ok(Json(json!({ "ready": true })))
    } else {
        Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not ready"))
    }
}

async fn server_metadata() -> Json<Value> {
    Json(json!({ "name": "flightdeck", "version": env!("CARGO_PKG_VERSION"), "extensions": [] }))
}

pub(super) fn find(state: &ServerState, name: &str) -> ApiResult<Arc<Deployment>> {
    state.deployment(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("model {name:?} is not served here"),
        )
    })
}

fn parse_version(name: &str, text: &str, deployment: &Deployment) -> ApiResult<Arc<LoadedVersion>> {
    let number = text.strip_prefix('v').unwrap_or(text).parse::<u32>().ok();
    number
        .and_then(|v| deployment.version(v).cloned())
        .ok_or_else(|| {
            let loaded: Vec<String> = deployment
                .loaded()
                .map(|(_, v)| v.version.to_string())
                .collect();
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "model {name:?} has no version {text:?} loaded (loaded: {})",
                    loaded.join(", ")
                ),
            )
        })
}

fn metadata(name: &str, deployment: &Deployment, version: &LoadedVersion) -> ModelMetadata {
    let signature = version.model.signature();
    ModelMetadata {
        name: name.to_string(),
        versions: deployment
            .loaded()
            .map(|(_, v)| v.version.to_string())
            .collect(),
        platform: "onnx".into(),
        inputs: signature.inputs.iter().map(Into::into).collect(),
        outputs: signature.outputs.iter().map(Into::into).collect(),
    }
}

async fn model_metadata(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<ModelMetadata>> {
    let deployment = find(&state, &name)?;
    Ok(Json(metadata(&name, &deployment, &deployment.stable)))
}

async fn version_metadata(
    State(state): State<Shared>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<ModelMetadata>> {
    let deployment = find(&state, &name)?;
    let loaded = parse_version(&name, &version, &deployment)?;
    Ok(Json(metadata(&name, &deployment, &loaded)))
}

async fn model_ready(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    find(&state, &name)?;
    Ok(Json(json!({ "name": name, "ready": true })))
}

async fn version_ready(
    State(state): State<Shared>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let deployment = find(&state, &name)?;
    let loaded = parse_version(&name, &version, &deployment)?;
    Ok(Json(
        json!({ "name": name, "version": loaded.version.to_string(), "ready": true }),
    ))
}

/// The body as bytes; JSON is parsed by hand so a missing Content-Type (tritonclient) works.
pub(super) fn body(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|e| {
        let status = e.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body is over the server's limit (--max-body-bytes)".to_string()
        } else {
            e.body_text()
        };
        ApiError::new(status, message)
    })
}

async fn infer(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    handle_infer(state, name, None, &headers, raw).await
}

async fn infer_version(
    State(state): State<Shared>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    handle_infer(state, name, Some(version), &headers, raw).await
}

/// Times and counts a request whatever its outcome.
async fn handle_infer(
    state: Shared,
    name: String,
    pinned: Option<String>,
    headers: &HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let at = chrono::Utc::now();
    let mut counted: Option<Arc<VersionMetrics>> = None;
    let asked_id = labels::header_id(headers);
    // A sampled request keeps its bytes (a reference, not a copy) for the request log.
    let logged = state
        .request_log
        .as_ref()
        .filter(|log| log.sampled())
        .and_then(|log| Some((log.clone(), raw.as_ref().ok()?.clone())));
    let result = infer_inner(
        &state,
        &name,
        pinned.as_deref(),
        asked_id.clone(),
        raw,
        &mut counted,
    )
    .await;
    // The answer is serialised once: the client and the log get the same bytes.
    let (response, answer) = match result {
        Ok(ok) => match serde_json::to_vec(&ok) {
            Ok(bytes) => {
                let bytes = Bytes::from(bytes);
                let logged_answer = logged.as_ref().map(|_| {
                    (
                        Ok(bytes.clone()),
                        ok.id.clone(),
                        Some(ok.model_version.clone()),
                    )
                });
                let response =
                    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response();
                (
                    labels::with_id_header(response, ok.id.as_deref()),
                    logged_answer,
                )
            }
            Err(e) => {
                let message = format!("cannot encode the response: {e}");
                let logged_answer = logged
                    .as_ref()
                    .map(|_| (Err(message.clone()), ok.id.clone(), None));
                let error = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message);
                (error.into_response(), logged_answer)
            }
        },
        Err(e) => {
            // The version that refused it, when it reached one: a canary refusing its
            // clients must show as that version's in the log.
            let version = counted
                .as_ref()
                .map(|m| m.version.clone())
                .filter(|v| !v.is_empty());
            let logged_answer = logged
                .as_ref()
                .map(|_| (Err(e.message.clone()), asked_id.clone(), version));
            // A refusal carries the id the client gave, like an answer.
            let response = labels::with_id_header(e.into_response(), asked_id.as_deref());
            (response, logged_answer)
        }
    };
    let status = response.status().as_u16();
    finish(&state, &name, counted, status, started);
    if let (Some((log, request)), Some((answer, id, version))) = (logged, answer) {
        log.record(super::request_log::Entry {
            at,
            model: name,
            version,
            id,
            status,
            latency: started.elapsed(),
            request,
            answer,
        });
    }
    response
}

/// Counts a finished request against its version, or against the model (or "(unknown)")
/// when it never reached one.
fn finish(
    state: &ServerState,
    name: &str,
    counted: Option<Arc<VersionMetrics>>,
    code: u16,
    started: Instant,
) {
    let metrics = counted.unwrap_or_else(|| {
        let label = if state.deployment(name).is_some() {
            name
        } else {
            "(unknown)"
        };
        state.metrics.version(label, "")
    });
    metrics.finished(code, started.elapsed().as_secs_f64());
}

async fn infer_inner(
    state: &Shared,
    name: &str,
    pinned: Option<&str>,
    asked_id: Option<String>,
    raw: Result<Bytes, BytesRejection>,
    counted: &mut Option<Arc<VersionMetrics>>,
) -> ApiResult<InferResponse> {
    let deployment = find(state, name)?;
    let version = match pinned {
        Some(v) => parse_version(name, v, &deployment)?,
        None => deployment.route().clone(),
    };
    *counted = Some(version.metrics.clone());
    let _in_flight = in_flight(&deployment.in_flight);
    let bytes = body(raw)?;
    let request: InferRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed inference request: {e}"),
        )
    })?;
    let signature = version.model.signature();
    let inputs = protocol::request_tensors(&request, signature)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    if let Some(wanted) = &request.outputs
        && let Some(unknown) = wanted
            .iter()
            .find(|o| !signature.outputs.iter().any(|s| s.name == o.name))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown output {:?}", unknown.name),
        ));
    }
    let rows = inputs
        .first()
        .and_then(|t| t.shape.first().copied())
        .unwrap_or(0);
    version.metrics.batch.observe(rows as f64);
    // A copy for the shadow, when this request is one of its share of production's.
    let shadow = state
        .shadow(name)
        .filter(|s| s.versus == version.version && s.sampled());
    let copied = shadow.as_ref().map(|_| inputs.clone());
    let outputs = run_model(state, version.clone(), inputs).await?;
    if let (Some(shadow), Some(inputs)) = (shadow, copied) {
        shadow.mirror(inputs, outputs.clone());
    }
    // The request's id (the body's, else the header's, else a new one) keys its answer for
    // the label that may come later.
    let id = labels::remember(
        &deployment,
        &version,
        request.id.or(asked_id),
        &outputs,
        rows,
    );
    let selected = outputs
        .into_iter()
        .filter(|o| {
            request
                .outputs
                .as_ref()
                .is_none_or(|w| w.iter().any(|r| r.name == o.name))
        })
        .map(|o| {
            let declared = signature.outputs.iter().find(|s| s.name == o.name);
            protocol::response_output(o, declared)
        })
        .collect();
    Ok(InferResponse {
        model_name: name.to_string(),
        model_version: version.version.to_string(),
        id: Some(id),
        outputs: selected,
    })
}

/// Runs the model (inline, in a shared call, or on a worker), then records the inputs in the
/// drift window.
async fn run_model(
    state: &Shared,
    version: Arc<LoadedVersion>,
    inputs: Vec<crate::runtime::NamedTensor>,
) -> ApiResult<Vec<crate::runtime::NamedTensor>> {
    let rows = inputs
        .first()
        .and_then(|t| t.shape.first().copied())
        .unwrap_or(1);
    let max_batch_rows = state.options.max_batch_rows;
    // A call known to be quick runs right here: handing it to a worker thread would cost more
    // than the inference. Anything slower, or not yet measured, goes to the pool.
    let result = if version.cost.runs_inline(rows) {
        if version.batcher.accepts(rows, max_batch_rows) {
            Ok(version
                .batcher
                .run(&version, inputs, rows, max_batch_rows)
                .await)
        } else {
            Ok(run_and_record(&version, &inputs))
        }
    } else {
        state
            .pool
            .run(move || run_and_record(&version, &inputs))
            .await
    };
    match result {
        Ok(Ok(outputs)) => Ok(outputs),
        // The caller's fault is a 400; a model failing on well-formed inputs is the server's.
        Ok(Err(e @ crate::runtime::RuntimeError::BadInput { .. })) => {
            Err(ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
        }
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        )),
        Err(PoolError::Busy) => {
            state.metrics.rejected_busy();
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                PoolError::Busy.to_string(),
            ))
        }
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            e.to_string(),
        )),
    }
}

async fn v1_status(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    find(&state, &name)?;
    Ok(Json(json!({ "name": name, "ready": true })))
}

async fn v1_predict(
    State(state): State<Shared>,
    Path(target): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let Some(name) = target.strip_suffix(":predict").map(str::to_string) else {
        return ApiError::new(StatusCode::NOT_FOUND, "use POST /v1/models/NAME:predict")
            .into_response();
    };
    let mut counted = None;
    let asked_id = labels::header_id(&headers);
    let result = v1_inner(&state, &name, asked_id, raw, &mut counted).await;
    let response = match result {
        Ok((v, id)) => labels::with_id_header(Json(v).into_response(), Some(&id)),
        Err(e) => e.into_response(),
    };
    finish(&state, &name, counted, response.status().as_u16(), started);
    response
}

async fn v1_inner(
    state: &Shared,
    name: &str,
    asked_id: Option<String>,
    raw: Result<Bytes, BytesRejection>,
    counted: &mut Option<Arc<VersionMetrics>>,
) -> ApiResult<(Value, String)> {
    let deployment = find(state, name)?;
    let version = deployment.route().clone();
    *counted = Some(version.metrics.clone());
    let _in_flight = in_flight(&deployment.in_flight);
    let bytes = body(raw)?;
    let request: V1Request = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed predict request: {e}"),
        )
    })?;
    let signature = version.model.signature().clone();
    let input = protocol::v1_tensor(&request, &signature)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let rows = input.shape.first().copied().unwrap_or(0);
    version.metrics.batch.observe(rows as f64);
    let outputs = run_model(state, version.clone(), vec![input]).await?;
    let id = labels::remember(&deployment, &version, asked_id, &outputs, rows);
    // Classifiers predict labels; regressors their first output, one value per row if flat.
    let wanted = signature
        .classifier
        .as_ref()
        .map(|c| c.label_output.clone());
    let output = outputs
        .into_iter()
        .find(|o| wanted.as_ref().is_none_or(|w| &o.name == w))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the model returned no output",
            )
        })?;
    let per_row = output.shape.iter().skip(1).product::<usize>().max(1);
    let flat =
        serde_json::to_value(protocol::response_output(output, None).data).unwrap_or_default();
    let predictions = match flat {
        Value::Array(values) if per_row > 1 => Value::Array(
            values
                .chunks(per_row)
                .map(|c| Value::Array(c.to_vec()))
                .collect(),
        ),
        other => other,
    };
    Ok((
        json!({ "predictions": predictions, "model_version": version.version.to_string() }),
        id,
    ))
}

async fn metrics(State(state): State<Shared>) -> Response {
    // Drift is scored at scrape time, which can take milliseconds per feature: off the thread
    // that serves every request.
    let scorer = state.clone();
    let gauges = match tokio::task::spawn_blocking(move || {
        let mut gauges = scrape_gauges(&scorer);
        gauges.extend(super::shadow::gauges(&scorer));
        gauges
    })
    .await
    {
        Ok(gauges) => gauges,
        Err(e) => {
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
        }
    };
    let text = state.metrics.encode(&gauges);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Model info, traffic share and drift, computed at scrape time.
fn scrape_gauges(state: &ServerState) -> Vec<GaugeSample> {
    let mut info = Vec::new();
    let mut share = Vec::new();
    let mut feature = Vec::new();
    let mut prediction = Vec::new();
    let mut dataset = Vec::new();
    let mut samples = Vec::new();
    for deployment in state.deployments() {
        let model = deployment.name.clone();
        for (role, v) in deployment.loaded() {
            let labels = vec![
                ("model", model.clone()),
                ("version", v.version.to_string()),
                ("sha256", v.sha256.clone()),
                ("role", role.to_string()),
            ];
            info.push(GaugeSample {
                name: "flightdeck_model_info",
                help: "Loaded model versions (always 1).",
                labels,
                value: 1.0,
            });
            let pct = if role == "canary" {
                deployment.canary_percent
            } else {
                100 - deployment
                    .canary
                    .as_ref()
                    .map(|_| deployment.canary_percent)
                    .unwrap_or(0)
            };
            share.push(GaugeSample {
                name: "flightdeck_traffic_share_ratio",
                help: "Share of the model's traffic routed to this version (0-1).",
                labels: vec![
                    ("model", model.clone()),
                    ("version", v.version.to_string()),
                    ("role", role.to_string()),
                ],
                value: f64::from(pct) / 100.0,
            });
        }
        for report in state.drift(&model).unwrap_or_default() {
            let version = report.version.to_string();
            for f in &report.predictions {
                for (method, value) in drift_methods(f) {
                    let Some(value) = value else { continue };
                    prediction.push(GaugeSample {
                        name: "flightdeck_prediction_drift",
                        help: "Per-output drift of a version's answers against its answers on its reference rows, by method.",
                        labels: vec![
                            ("model", model.clone()),
                            ("version", version.clone()),
                            ("output", f.name.clone()),
                            ("method", method.to_string()),
                        ],
                        value,
                    });
                }
            }
            for f in &report.features {
                for (method, value) in drift_methods(f) {
                    let Some(value) = value else { continue };
                    feature.push(GaugeSample {
                        name: "flightdeck_feature_drift",
                        help: "Per-feature drift of live inputs against the baseline, by method.",
                        labels: vec![
                            ("model", model.clone()),
                            ("version", version.clone()),
                            ("feature", f.name.clone()),
                            ("method", method.to_string()),
                        ],
                        value,
                    });
                }
            }
            // The verdict as a state set (one sample per state, 1 for the current one), so a
            // window with too few rows reads as "insufficient data", never as a share of 0.
            for verdict in [
                Verdict::Ok,
                Verdict::Warn,
                Verdict::Drift,
                Verdict::InsufficientData,
            ] {
                dataset.push(GaugeSample {
                    name: "flightdeck_drift_verdict",
                    help: "The drift verdict of a version's live window (1 for the current state).",
                    labels: vec![
                        ("model", model.clone()),
                        ("version", version.clone()),
                        ("verdict", verdict.label().to_string()),
                    ],
                    value: if report.verdict == verdict { 1.0 } else { 0.0 },
                });
            }
            dataset.push(GaugeSample {
                name: "flightdeck_drift_share",
                help: "Share of features whose verdict is drift (0-1).",
                labels: vec![("model", model.clone()), ("version", version.clone())],
                value: report.drift_share,
            });
            samples.push(GaugeSample {
                name: "flightdeck_drift_window_samples",
                help: "Live rows in the drift window.",
                labels: vec![("model", model.clone()), ("version", version.clone())],
                value: report.window_samples as f64,
            });
        }
    }
    info.into_iter()
        .chain(share)
        .chain(feature)
        .chain(prediction)
        .chain(dataset)
        .chain(samples)
        .chain(labels::gauges(state))
        .collect()
}

/// A feature's or an output's drift numbers, by the method label they are exported under.
fn drift_methods(f: &crate::model::FeatureDrift) -> [(&'static str, Option<f64>); 9] {
    [
        ("psi", f.psi),
        ("psi_p_value", f.psi_p_value),
        ("js_p_value", f.js_p_value),
        ("ks_statistic", f.ks_statistic),
        ("ks_p_value", f.ks_p_value),
        ("js_distance", f.js_distance),
        ("chi2_p_value", f.chi2_p_value),
        ("missing_rate", Some(f.missing_rate)),
        ("out_of_range_rate", Some(f.out_of_range_rate)),
    ]
}

async fn drift(State(state): State<Shared>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    // Scoring can take milliseconds per feature: off the thread that serves every request.
    let scorer = state.clone();
    let model = name.clone();
    let reports = tokio::task::spawn_blocking(move || scorer.drift(&model))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let reports = reports.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("model {name:?} is not served here"),
        )
    })?;
    Ok(Json(json!({ "model": name, "versions": reports })))
}

fn authorize(state: &ServerState, headers: &HeaderMap) -> ApiResult<()> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compare without an early exit, so timing does not reveal the token.
    let expected = state.options.admin_token.as_bytes();
    let ok = given.is_some_and(|g| {
        let g = g.as_bytes();
        g.len() == expected.len()
            && g.iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "admin API: missing or wrong bearer token",
        ))
    }
}

/// `GET /flightdeck/shadow/{name}`: what the shadow found so far.
async fn shadow_report(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<crate::model::ShadowReport>> {
    find(&state, &name)?;
    let shadow = state.shadow(&name).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("no shadow runs for {name}"))
    })?;
    Ok(Json(shadow.report(&name)))
}

/// What a shadow is started with.
#[derive(serde::Deserialize)]
struct ShadowAsked {
    version: u32,
    percent: u8,
}

/// `PUT /flightdeck/admin/shadow/{name}` `{"version": V, "percent": P}`.
async fn shadow_start(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<crate::model::ShadowReport>> {
    authorize(&state, &headers)?;
    let model =
        ModelName::new(&name).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let asked: ShadowAsked = serde_json::from_slice(&body(raw)?)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed shadow: {e}")))?;
    let worker_state = state.clone();
    let started = tokio::task::spawn_blocking(move || {
        worker_state.start_shadow(&model, asked.version, asked.percent, false)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    Ok(Json(started))
}

/// `DELETE /flightdeck/admin/shadow/{name}`: stops it; its last report.
async fn shadow_stop(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<crate::model::ShadowReport>> {
    authorize(&state, &headers)?;
    state
        .stop_shadow(&name)
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no shadow runs for {name}")))
}

async fn admin_get(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Plan>> {
    authorize(&state, &headers)?;
    Ok(Json(find(&state, &name)?.plan()))
}

async fn admin_put(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Plan>> {
    authorize(&state, &headers)?;
    let model =
        ModelName::new(&name).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let bytes = body(raw)?;
    let plan: Plan = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed plan: {e}")))?;
    // Loading parses and optimises models: off the reactor.
    let worker_state = state.clone();
    let applied = tokio::task::spawn_blocking(move || worker_state.apply_plan(&model, plan))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    Ok(Json(applied))
}
