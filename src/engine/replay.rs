//! Replay: requests production really answered (from the request log) sent to a candidate
//! version on a throwaway server, and its answers compared with the ones production gave:
//! agreement on the predicted class with a confusion table between the two, the spread of score
//! differences, the candidate's errors and latency. Nothing is sent to what serves clients.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::model::{LoggedRequest, ModelName};

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayReport {
    pub model: String,
    pub version: u32,
    /// Requests sent to the candidate.
    pub requests: usize,
    /// Of them, answered with an error; the first error said.
    pub errors: usize,
    pub first_error: Option<String>,
    /// The output whose classes were compared (a label-like output both answered).
    pub output: Option<String>,
    /// Rows whose class was compared, and the share the candidate answered as production did.
    pub rows: usize,
    pub agreement: Option<f64>,
    /// Production's class -> the candidate's class -> rows.
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
    /// The largest difference between the two's scores per row (float outputs): median, 95th
    /// percentile and largest.
    pub score_difference: Option<[f64; 3]>,
    /// The candidate's latency per request, median and 99th percentile, in milliseconds.
    pub latency_ms: Option<[f64; 2]>,
}

impl ReplayReport {
    /// Distinct classes each side answered: (production's, the candidate's).
    pub fn classes(&self) -> (usize, usize) {
        let candidate: std::collections::BTreeSet<&String> =
            self.confusion.values().flat_map(|c| c.keys()).collect();
        (self.confusion.len(), candidate.len())
    }

    /// "agrees with production's answers on 97.5% of 400 rows (output_label); 0 errors".
    pub fn sentence(&self) -> String {
        let mut parts = Vec::new();
        match (self.agreement, &self.output) {
            (Some(a), Some(output)) => {
                let (theirs, ours) = self.classes();
                parts.push(format!(
                    "agrees with production's answers on {:.1}% of {} rows ({output}; production answered {theirs} classes, v{} {ours})",
                    a * 100.0,
                    self.rows,
                    self.version
                ))
            }
            _ => parts.push("no class output both answered: agreement not measured".into()),
        }
        if let Some([p50, p95, max]) = self.score_difference {
            parts.push(format!(
                "score differences median {p50:.3}, 95th percentile {p95:.3}, largest {max:.3}"
            ));
        }
        parts.push(format!(
            "{} of {} requests failed{}",
            self.errors,
            self.requests,
            self.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        ));
        parts.join("; ")
    }
}

/// The agreement below which a replay fails when nothing else is asked for: a candidate that
/// answers most rows differently from production is not a retrained copy of it.
pub const DEFAULT_MIN_AGREEMENT: f64 = 0.5;

/// Why a replay fails, if it does: the candidate errs, answers one class where production
/// answered several (a silently constant model), or agrees on fewer rows than `min_agreement`.
pub fn failure(report: &ReplayReport, min_agreement: f64) -> Option<String> {
    let (theirs, ours) = report.classes();
    if report.errors > 0 {
        Some(format!(
            "{} of {} requests failed",
            report.errors, report.requests
        ))
    } else if ours == 1 && theirs > 1 {
        Some(format!(
            "answers one class to everything, where production answered {theirs}"
        ))
    } else if report.agreement.is_some_and(|a| a < min_agreement) {
        Some(format!(
            "agrees with production on fewer than {:.0}% of rows",
            min_agreement * 100.0
        ))
    } else {
        None
    }
}

/// Replays `entries` against `version` on a throwaway server started for it.
pub async fn replay(
    program: &Path,
    data_dir: &Path,
    model: &ModelName,
    version: u32,
    entries: &[LoggedRequest],
) -> Result<ReplayReport, String> {
    let server = super::smoke::start_server(program, data_dir, model, version).await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let base = format!("{}/v2/models/{model}/versions/{version}", server.endpoint);
    super::smoke::wait_ready(&client, &format!("{base}/ready")).await?;
    Ok(replay_at(&client, &base, model, version, entries).await)
}

/// Replays `entries` against the version answering at `base` (`.../versions/V`).
pub async fn replay_at(
    client: &reqwest::Client,
    base: &str,
    model: &ModelName,
    version: u32,
    entries: &[LoggedRequest],
) -> ReplayReport {
    let mut report = ReplayReport {
        model: model.to_string(),
        version,
        ..Default::default()
    };
    let mut latencies = Vec::new();
    let mut agreed = 0usize;
    let mut differences = Vec::new();
    for entry in entries {
        report.requests += 1;
        let started = Instant::now();
        let answered = client
            .post(format!("{base}/infer"))
            .json(&entry.request)
            .send()
            .await;
        let answer: Result<Value, String> = match answered {
            Ok(r) if r.status().is_success() => r.json().await.map_err(|e| e.to_string()),
            Ok(r) => Err(format!(
                "HTTP {}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            )),
            Err(e) => Err(e.to_string()),
        };
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                report.errors += 1;
                report.first_error.get_or_insert(e);
                continue;
            }
        };
        for (name, theirs, ours) in paired_outputs(&entry.answer, &answer) {
            if is_class(&theirs) {
                if report.output.as_ref().is_some_and(|o| *o != name) {
                    continue;
                }
                report.output = Some(name);
                for (t, o) in values(&theirs).iter().zip(values(&ours).iter()) {
                    let (t, o) = (class_text(t), class_text(o));
                    report.rows += 1;
                    if t == o {
                        agreed += 1;
                    }
                    *report.confusion.entry(t).or_default().entry(o).or_default() += 1;
                }
            } else {
                differences.extend(row_differences(&theirs, &ours));
            }
        }
    }
    if report.rows > 0 {
        report.agreement = Some(agreed as f64 / report.rows as f64);
    }
    report.score_difference = quantiles(&mut differences);
    report.latency_ms = {
        let mut l = latencies;
        l.sort_by(f64::total_cmp);
        (!l.is_empty()).then(|| [at(&l, 0.5), at(&l, 0.99)])
    };
    report
}

/// (name, production's, the candidate's) for each output both answers carry.
fn paired_outputs(theirs: &Value, ours: &Value) -> Vec<(String, Value, Value)> {
    let outputs = |v: &Value| v["outputs"].as_array().cloned().unwrap_or_default();
    let ours = outputs(ours);
    outputs(theirs)
        .into_iter()
        .filter_map(|t| {
            let name = t["name"].as_str()?.to_string();
            let o = ours.iter().find(|o| o["name"] == t["name"])?.clone();
            Some((name, t, o))
        })
        .collect()
}

/// A class output: integers, strings or booleans, one per row.
fn is_class(output: &Value) -> bool {
    let datatype = output["datatype"].as_str().unwrap_or_default();
    let one_per_row = output["shape"]
        .as_array()
        .is_some_and(|s| s.len() == 1 || (s.len() == 2 && s[1] == 1));
    one_per_row
        && (datatype.starts_with("INT")
            || datatype.starts_with("UINT")
            || datatype == "BYTES"
            || datatype == "BOOL")
}

fn values(output: &Value) -> Vec<Value> {
    fn flatten(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
            other => out.push(other.clone()),
        }
    }
    let mut out = Vec::new();
    flatten(&output["data"], &mut out);
    out
}

fn class_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Per row, the largest absolute difference between the two's scores.
fn row_differences(theirs: &Value, ours: &Value) -> Vec<f64> {
    let rows = theirs["shape"]
        .as_array()
        .and_then(|s| s.first())
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1) as usize;
    let (t, o) = (values(theirs), values(ours));
    if t.len() != o.len() || t.is_empty() {
        return Vec::new();
    }
    let width = t.len() / rows;
    t.chunks(width.max(1))
        .zip(o.chunks(width.max(1)))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .filter_map(|(x, y)| Some((x.as_f64()? - y.as_f64()?).abs()))
                .fold(0.0, f64::max)
        })
        .collect()
}

fn quantiles(values: &mut [f64]) -> Option<[f64; 3]> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some([at(values, 0.5), at(values, 0.95), values[values.len() - 1]])
}

fn at(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
