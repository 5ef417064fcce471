//! Replay: requests production really answered (from the request log) sent to a candidate
//! version on a throwaway server, and its answers compared with the ones production gave:
//! agreement on the predicted class with a confusion table between the two, the spread of score
//! differences, the candidate's errors and latency. Nothing is sent to what serves clients.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::model::comparison::{ComparedOutput, OutputValues, Tally, counted};
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
        crate::model::comparison::classes(&self.confusion)
    }

    /// "agrees with production's answers on 97.5% of 400 rows (output_label); 0 errors".
    pub fn sentence(&self) -> String {
        let mut parts = Vec::new();
        match (self.agreement, &self.output) {
            (Some(a), Some(output)) => {
                let (theirs, ours) = self.classes();
                parts.push(format!(
                    "agrees with production's answers on {:.1}% of {} ({output}; production answered {}, v{} {ours})",
                    a * 100.0,
                    counted(self.rows, "row", "rows"),
                    counted(theirs, "class", "classes"),
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

/// Rows a replay must compare before it judges agreement (as the answers gate fails early
/// from 30 rows each): one row agreeing is not evidence.
pub const MIN_ROWS: usize = 30;

/// What a replay says of the candidate.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Passed,
    Failed(String),
    /// Too few rows compared to judge (errors still fail).
    TooFew(String),
}

/// The candidate fails when it errs, answers one class where production answered several (a
/// silently constant model), or agrees on fewer rows than `min_agreement`; with fewer than
/// [`MIN_ROWS`] rows compared, only errors are judged.
pub fn verdict(report: &ReplayReport, min_agreement: f64) -> Verdict {
    if report.rows < MIN_ROWS && report.errors == 0 {
        return Verdict::TooFew(format!(
            "only {} compared: too few to judge (at least {MIN_ROWS})",
            counted(report.rows, "row", "rows")
        ));
    }
    match failure(report, min_agreement) {
        Some(why) => Verdict::Failed(why),
        None => Verdict::Passed,
    }
}

fn failure(report: &ReplayReport, min_agreement: f64) -> Option<String> {
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
    let mut tally = Tally::default();
    for entry in entries {
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
        let took = started.elapsed().as_secs_f64() * 1e3;
        match answer {
            Ok(answer) => tally.answered(took, &outputs(&entry.answer), &outputs(&answer)),
            Err(e) => tally.failed(took, e),
        }
    }
    report.requests = tally.requests as usize;
    report.errors = tally.errors as usize;
    report.agreement = tally.agreement();
    report.score_difference = tally.score_difference();
    report.latency_ms = tally.latency_ms();
    report.rows = tally.rows as usize;
    report.first_error = tally.first_error;
    report.output = tally.output;
    report.confusion = tally.confusion;
    report
}

/// A V2 answer's outputs, as the comparison takes them.
fn outputs(answer: &Value) -> Vec<ComparedOutput> {
    answer["outputs"]
        .as_array()
        .map(|outputs| {
            outputs
                .iter()
                .filter_map(|o| {
                    Some(ComparedOutput {
                        name: o["name"].as_str()?.to_string(),
                        values: output_values(o),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Classes when the output is integers, strings or booleans, one per row; scores when it is
/// floats.
fn output_values(output: &Value) -> OutputValues {
    let datatype = output["datatype"].as_str().unwrap_or_default();
    let shape: Vec<u64> = output["shape"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let one_per_row = shape.len() == 1 || (shape.len() == 2 && shape[1] == 1);
    let values = leaves(&output["data"]);
    let class = datatype.starts_with("INT")
        || datatype.starts_with("UINT")
        || datatype == "BYTES"
        || datatype == "BOOL";
    if class && one_per_row {
        OutputValues::Classes(
            values
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        )
    } else if datatype.starts_with("FP") {
        OutputValues::Scores {
            rows: shape.first().copied().unwrap_or(1) as usize,
            values: values.iter().filter_map(Value::as_f64).collect(),
        }
    } else {
        OutputValues::Other
    }
}

fn leaves(v: &Value) -> Vec<Value> {
    fn flatten(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
            other => out.push(other.clone()),
        }
    }
    let mut out = Vec::new();
    flatten(v, &mut out);
    out
}
