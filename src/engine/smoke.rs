//! Smoke tests: a version is served by a throwaway `flightdeck serve` on a loopback port (or an
//! endpoint given), then checked: it loads; its metadata matches the registered signature (and
//! production's input); every sentinel case is within tolerance; outputs are finite; probabilities
//! sum to 1; a burst of requests has no errors and a p99 within budget.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use super::sentinels;
use crate::error::EngineError;
use crate::model::{
    AliasName, ClassifierOutputs, ModelName, ModelVersion, SentinelCase, SmokeCheck, SmokeReport,
    Step,
};
use crate::runtime::NamedTensor;
use crate::store::Registry;

/// Input name -> V2 datatype.
type Datatypes = std::collections::BTreeMap<String, String>;

#[derive(Debug, Clone)]
pub struct SmokeOptions {
    /// Requests in the latency burst.
    pub requests: usize,
    /// The burst's p99 must stay under this.
    pub p99_budget: Duration,
    /// Test this endpoint instead of starting a throwaway server.
    pub endpoint: Option<String>,
    /// Keep the report with the version (where deploy gates read it). Off in a read-only
    /// environment: the test runs and is shown, and nothing is written.
    pub record: bool,
}

impl Default for SmokeOptions {
    fn default() -> Self {
        Self {
            requests: 200,
            p99_budget: Duration::from_millis(250),
            endpoint: None,
            record: true,
        }
    }
}

fn check(name: &str, passed: bool, detail: impl Into<String>) -> SmokeCheck {
    SmokeCheck {
        name: name.into(),
        passed,
        detail: detail.into(),
        skipped: false,
    }
}

/// A throwaway server, killed when dropped.
pub(crate) struct Throwaway {
    _child: tokio::process::Child,
    pub(crate) endpoint: String,
}

pub(crate) async fn start_server(
    program: &Path,
    data_dir: &Path,
    model: &ModelName,
    version: u32,
) -> Result<Throwaway, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port_file = dir.path().join("port");
    let mut child = tokio::process::Command::new(program)
        .arg("--home")
        .arg(data_dir)
        .args([
            "serve",
            model.as_str(),
            "--version",
            &version.to_string(),
            "--port",
            "0",
            "--log-as",
            &format!("throwaway-{model}-v{version}"),
            "--port-file",
        ])
        .arg(&port_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start a server: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(port) = std::fs::read_to_string(&port_file) {
            return Ok(Throwaway {
                _child: child,
                endpoint: format!("http://127.0.0.1:{}", port.trim()),
            });
        }
        if let Ok(Some(_)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = stderr.read_to_string(&mut err).await;
            }
            return Err(err
                .lines()
                .last()
                .unwrap_or("the server exited")
                .trim()
                .to_string());
        }
        if Instant::now() > deadline {
            return Err("the server did not start within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs every check and records the result with the version.
pub async fn smoke(
    registry: &mut Registry,
    program: &Path,
    model: &ModelName,
    version: u32,
    options: &SmokeOptions,
    progress: crate::model::Progress<'_>,
) -> Result<SmokeReport, EngineError> {
    let record = registry.version(model, version)?;
    let production = crate::model::version_of(&registry.aliases(model)?, AliasName::PRODUCTION)
        .filter(|p| *p != version)
        .map(|p| registry.version(model, p))
        .transpose()?;
    let data_dir = registry.data_dir().to_path_buf();
    let mut checks = Vec::new();
    progress(&Step::new("starting a throwaway server"));
    let (endpoint, _server) = match &options.endpoint {
        Some(e) => (e.trim_end_matches('/').to_string(), None),
        None => match start_server(program, &data_dir, model, version).await {
            Ok(server) => (server.endpoint.clone(), Some(server)),
            Err(e) => {
                checks.push(check("loads", false, e));
                return finish(
                    registry,
                    model,
                    version,
                    checks,
                    "(not started)".into(),
                    options.record,
                );
            }
        },
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| EngineError::Serving(e.to_string()))?;
    let base = format!("{endpoint}/v2/models/{model}/versions/{version}");
    let ready = wait_ready(&client, &format!("{base}/ready")).await;
    checks.push(check(
        "loads",
        ready.is_ok(),
        ready
            .err()
            .unwrap_or_else(|| format!("v{version} is ready")),
    ));
    if checks.iter().any(|c| !c.passed) {
        return finish(registry, model, version, checks, endpoint, options.record);
    }

    progress(&Step::new("comparing the signature"));
    checks.push(signature_check(&client, &base, &record, production.as_ref()).await);

    // Requests are typed as the registered signature says (the signature check compared it
    // with what the server reports), so no request needs to ask the server first.
    let datatypes: Datatypes = record
        .signature
        .inputs
        .iter()
        .map(|i| (i.name.clone(), i.datatype.as_str().to_string()))
        .collect();
    progress(&Step::new("running sentinel cases"));
    let mut responses = Vec::new();
    checks.push(sentinel_check(&client, &base, &record, &datatypes, &mut responses).await);

    // Outputs of a neutral request too, so the checks below run even without sentinels.
    let probe = neutral_inputs(&record);
    if let Ok(outputs) = infer(&client, &base, &probe, &datatypes).await {
        responses.push(outputs);
    }
    checks.extend(output_checks(
        &responses,
        record.signature.classifier.as_ref(),
    ));
    checks.push(burst(&client, &base, &probe, options, &datatypes, progress).await);
    if let Some(production) = &production
        && let Some(check) = replay_check(
            &client,
            &base,
            model,
            version,
            production.version,
            &data_dir,
            progress,
        )
        .await
    {
        checks.push(check);
    }
    finish(registry, model, version, checks, endpoint, options.record)
}

/// Requests production answered, from the request log when there is one.
const REPLAYED: usize = 200;

/// When a request log exists: the newest requests production answered, replayed to the
/// candidate. A candidate answering one class where production answered several (a silently
/// constant model), or agreeing with production on fewer than half the rows, fails, with no
/// sentinel case needed. `None` when there is nothing logged to replay.
async fn replay_check(
    client: &reqwest::Client,
    base: &str,
    model: &ModelName,
    version: u32,
    production: u32,
    data_dir: &Path,
    progress: crate::model::Progress<'_>,
) -> Option<SmokeCheck> {
    let logged = crate::store::request_log::newest(data_dir, model.as_str(), REPLAYED, |e| {
        e.status == 200 && e.version.as_deref() == Some(production.to_string().as_str())
    });
    if logged.entries.is_empty() {
        return None;
    }
    progress(&Step::new(format!(
        "replaying {} logged requests production v{production} answered",
        logged.entries.len()
    )));
    let report = super::replay::replay_at(client, base, model, version, &logged.entries).await;
    let detail = format!(
        "{} logged requests of production v{production}: {}",
        report.requests,
        report.sentence()
    );
    Some(
        match super::replay::verdict(&report, super::replay::DEFAULT_MIN_AGREEMENT) {
            super::replay::Verdict::Failed(why) => {
                check("replay", false, format!("{why}; {detail}"))
            }
            // A log only starting says nothing yet: not a pass.
            super::replay::Verdict::TooFew(why) => SmokeCheck {
                skipped: true,
                ..check("replay", true, format!("skipped: {why}; {detail}"))
            },
            super::replay::Verdict::Passed => check("replay", true, detail),
        },
    )
}

/// Runs the version's sentinel cases and compares each output with its expected values within
/// tolerance; the answers join `responses` for the checks every answer must pass.
async fn sentinel_check(
    client: &reqwest::Client,
    base: &str,
    record: &ModelVersion,
    datatypes: &Datatypes,
    responses: &mut Vec<Vec<NamedTensor>>,
) -> SmokeCheck {
    let cases: Vec<SentinelCase> = record
        .sentinels
        .as_ref()
        .map(|s| s.cases.clone())
        .unwrap_or_default();
    let tolerance = record
        .sentinels
        .as_ref()
        .map(|s| s.tolerance)
        .unwrap_or_default();
    let mut failures = Vec::new();
    for case in &cases {
        match infer(
            client,
            base,
            &sentinels::input_tensors(case, &record.signature),
            datatypes,
        )
        .await
        {
            Ok(outputs) => {
                for (name, expected) in &case.expected {
                    let Some(actual) = outputs.iter().find(|o| &o.name == name) else {
                        failures.push(format!("{}: no output {name}", case.name));
                        continue;
                    };
                    let limit = case.tolerance.unwrap_or(tolerance);
                    match sentinels::max_deviation(expected, actual) {
                        Ok(d) if d <= limit => {}
                        Ok(d) => failures.push(format!(
                            "{}: {name} off by {d:.3e} (tolerance {limit:.1e})",
                            case.name
                        )),
                        Err(e) => failures.push(format!("{}: {name}: {e}", case.name)),
                    }
                }
                responses.push(outputs);
            }
            Err(e) => failures.push(format!("{}: {e}", case.name)),
        }
    }
    match (cases.len(), failures.first()) {
        (0, _) => SmokeCheck {
            skipped: true,
            ..check(
                "sentinels",
                true,
                "skipped: no sentinel case registered (register with --sentinels, or keep a logged request with `flightdeck requests MODEL --id ID --keep-as-sentinel` or t in the console)",
            )
        },
        (n, None) => check(
            "sentinels",
            true,
            format!("{n} of {n} cases within tolerance"),
        ),
        (n, Some(first)) => {
            let failed_cases = cases
                .iter()
                .filter(|c| {
                    failures
                        .iter()
                        .any(|f| f.starts_with(&format!("{}:", c.name)))
                })
                .count();
            check(
                "sentinels",
                false,
                format!("{failed_cases} of {n} cases failed; first: {first}"),
            )
        }
    }
}

/// What every answer must satisfy whatever the inputs: finite outputs and, for a classifier,
/// probabilities that sum to 1 in every row.
pub(crate) fn output_checks(
    responses: &[Vec<NamedTensor>],
    classifier: Option<&ClassifierOutputs>,
) -> Vec<SmokeCheck> {
    let non_finite = responses.iter().flatten().any(|o| {
        o.data
            .to_f64()
            .is_some_and(|v| v.iter().any(|x| !x.is_finite()))
    });
    let mut checks = vec![check(
        "finite outputs",
        !non_finite && !responses.is_empty(),
        if non_finite {
            "an output is NaN or infinite"
        } else {
            "all outputs are finite"
        },
    )];
    if let Some(classifier) = classifier {
        let bad = responses
            .iter()
            .flatten()
            .filter(|o| o.name == classifier.probabilities_output)
            .find_map(|o| {
                let cols = o.shape.get(1).copied().unwrap_or(1).max(1);
                let values = o.data.to_f64()?;
                values
                    .chunks(cols)
                    .map(|row| row.iter().sum::<f64>())
                    .find(|s| s.is_nan() || (s - 1.0).abs() > 1e-3)
            });
        checks.push(match bad {
            Some(sum) => check(
                "probabilities",
                false,
                format!("a row's probabilities sum to {sum:.4}, not 1"),
            ),
            None => check("probabilities", true, "every row sums to 1"),
        });
    }
    checks
}

fn finish(
    registry: &mut Registry,
    model: &ModelName,
    version: u32,
    checks: Vec<SmokeCheck>,
    endpoint: String,
    record: bool,
) -> Result<SmokeReport, EngineError> {
    let report = SmokeReport {
        model: model.to_string(),
        version,
        at: Utc::now(),
        passed: checks.iter().all(|c| c.passed),
        checks,
        endpoint,
    };
    if record {
        registry.record_smoke(&report)?;
    }
    Ok(report)
}

pub(crate) async fn wait_ready(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.get(url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) if Instant::now() > deadline => {
                return Err(format!("not ready: HTTP {}", r.status()));
            }
            Err(e) if Instant::now() > deadline => return Err(format!("not ready: {e}")),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A version's inputs as (name, datatype, shape), the form the V2 metadata reports.
fn inputs_of(version: &ModelVersion) -> Vec<(String, String, Vec<i64>)> {
    version
        .signature
        .inputs
        .iter()
        .map(|i| {
            (
                i.name.clone(),
                i.datatype.as_str().to_string(),
                i.shape.clone(),
            )
        })
        .collect()
}

async fn signature_check(
    client: &reqwest::Client,
    base: &str,
    record: &ModelVersion,
    production: Option<&ModelVersion>,
) -> SmokeCheck {
    let metadata: Value = match client.get(base).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => return check("signature", false, format!("no metadata: {e}")),
    };
    let served: Vec<(String, String, Vec<i64>)> = metadata["inputs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    let shape = i["shape"]
                        .as_array()
                        .map(|s| s.iter().filter_map(Value::as_i64).collect())
                        .unwrap_or_default();
                    (
                        i["name"].as_str().unwrap_or_default().to_string(),
                        i["datatype"].as_str().unwrap_or_default().to_string(),
                        shape,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let registered = inputs_of(record);
    if served != registered {
        return check(
            "signature",
            false,
            format!("the server reports inputs {served:?}, the registry {registered:?}"),
        );
    }
    if let Some(prod) = production {
        let prod_inputs = inputs_of(prod);
        if prod_inputs != registered {
            let show = |v: &ModelVersion| {
                v.signature
                    .inputs
                    .iter()
                    .map(|i| format!("{} {} {}", i.name, i.datatype, i.shape_text()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return check(
                "signature",
                false,
                format!(
                    "inputs differ from production v{}: {} vs {}; clients of production would break",
                    prod.version,
                    show(prod),
                    show(record)
                ),
            );
        }
    }
    check(
        "signature",
        true,
        "matches the registry and production's inputs",
    )
}

/// One row of neutral values: the baseline's means (or zeros, or the first category).
fn neutral_inputs(record: &ModelVersion) -> Vec<NamedTensor> {
    use crate::model::{DataType, FeatureKind};
    use crate::runtime::TensorData;
    let columns = record.signature.feature_columns();
    record
        .signature
        .inputs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let shape = spec.shape_for_rows(1);
            let features: Vec<_> = columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.input_index == index)
                .map(|(i, _)| i)
                .collect();
            let profile = |i: usize| record.profile.as_ref().and_then(|p| p.features.get(i));
            let data = if spec.datatype == DataType::Bytes {
                TensorData::String(
                    features
                        .iter()
                        .map(|i| match profile(*i).map(|f| &f.kind) {
                            Some(FeatureKind::Categorical { categories }) => categories
                                .first()
                                .map(|c| c.value.clone())
                                .unwrap_or_default(),
                            _ => String::new(),
                        })
                        .collect(),
                )
            } else {
                TensorData::F64(
                    features
                        .iter()
                        .map(|i| match profile(*i).map(|f| &f.kind) {
                            Some(FeatureKind::Numeric(n)) => n.mean,
                            Some(FeatureKind::Categorical { categories }) => {
                                categories.first().and_then(|c| c.code).unwrap_or(0.0)
                            }
                            None => 0.0,
                        })
                        .collect(),
                )
            };
            NamedTensor {
                name: spec.name.clone(),
                shape,
                data,
            }
        })
        .collect()
}

pub(crate) fn v2_body(
    inputs: &[crate::runtime::NamedTensor],
    datatypes: impl Fn(&str) -> String,
) -> Value {
    use crate::runtime::TensorData;
    let tensors: Vec<Value> = inputs
        .iter()
        .map(|t| {
            let data = match &t.data {
                TensorData::F32(v) => json!(v),
                TensorData::F64(v) => json!(v.iter().map(|x| if x.is_finite() { json!(x) } else { Value::Null }).collect::<Vec<_>>()),
                TensorData::I32(v) => json!(v),
                TensorData::I64(v) => json!(v),
                TensorData::Bool(v) => json!(v),
                TensorData::String(v) => json!(v),
            };
            json!({ "name": t.name, "shape": t.shape, "datatype": datatypes(&t.name), "data": data })
        })
        .collect();
    json!({ "inputs": tensors })
}

async fn infer(
    client: &reqwest::Client,
    base: &str,
    inputs: &[crate::runtime::NamedTensor],
    datatypes: &Datatypes,
) -> Result<Vec<crate::runtime::NamedTensor>, String> {
    let datatype = |name: &str| {
        datatypes
            .get(name)
            .cloned()
            .unwrap_or_else(|| "FP32".into())
    };
    let response = client
        .post(format!("{base}/infer"))
        .json(&v2_body(inputs, datatype))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            body["error"].as_str().unwrap_or("")
        ));
    }
    Ok(parse_outputs(&body))
}

pub(crate) fn parse_outputs(body: &Value) -> Vec<crate::runtime::NamedTensor> {
    use crate::runtime::{NamedTensor, TensorData};
    body["outputs"]
        .as_array()
        .map(|outputs| {
            outputs
                .iter()
                .map(|o| {
                    let shape = o["shape"]
                        .as_array()
                        .map(|s| {
                            s.iter()
                                .filter_map(|d| d.as_u64().map(|d| d as usize))
                                .collect()
                        })
                        .unwrap_or_default();
                    let values = o["data"].as_array().cloned().unwrap_or_default();
                    let data = if values.iter().all(Value::is_string) && !values.is_empty() {
                        TensorData::String(
                            values
                                .iter()
                                .map(|v| v.as_str().unwrap_or_default().to_string())
                                .collect(),
                        )
                    } else {
                        TensorData::F64(
                            values
                                .iter()
                                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                                .collect(),
                        )
                    };
                    NamedTensor {
                        name: o["name"].as_str().unwrap_or_default().to_string(),
                        shape,
                        data,
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn burst(
    client: &reqwest::Client,
    base: &str,
    probe: &[crate::runtime::NamedTensor],
    options: &SmokeOptions,
    datatypes: &Datatypes,
    progress: crate::model::Progress<'_>,
) -> SmokeCheck {
    let datatype = |name: &str| {
        datatypes
            .get(name)
            .cloned()
            .unwrap_or_else(|| "FP32".into())
    };
    let body = v2_body(probe, datatype);
    let mut times = Vec::with_capacity(options.requests);
    let mut errors = 0usize;
    let total = options.requests.max(1);
    // Every tenth of the burst: a bar headless, a line in the console.
    let step = (total / 10).max(1);
    progress(&Step::counted("latency burst", 0, total));
    for sent in 0..total {
        if sent > 0 && sent % step == 0 {
            progress(&Step::counted("latency burst", sent, total));
        }
        let started = Instant::now();
        match client
            .post(format!("{base}/infer"))
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
            }
            _ => errors += 1,
        }
        times.push(started.elapsed());
    }
    progress(&Step::counted("latency burst", total, total));
    let mut seconds: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    seconds.sort_by(f64::total_cmp);
    // The same quantile as everywhere else (numpy's linear), not a nearest rank of its own.
    let p99 = Duration::from_secs_f64(crate::stats::quantile(&seconds, 0.99));
    let within = p99 <= options.p99_budget;
    let detail = format!(
        "{} requests, {errors} errors, p99 {:.2} ms (budget {} ms)",
        times.len(),
        p99.as_secs_f64() * 1e3,
        options.p99_budget.as_millis()
    );
    check("latency", errors == 0 && within, detail)
}
