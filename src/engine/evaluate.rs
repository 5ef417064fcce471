//! Evaluation: a candidate and production run the same frozen labelled set through local
//! servers; classifiers are compared on accuracy, AUC (binary) and log loss, regressors on MAE
//! and RMSE. The result is kept with the candidate and feeds the promote gate.

use std::path::Path;

use chrono::Utc;

use super::reference;
use super::smoke::{parse_outputs, start_server, v2_body};
use crate::error::EngineError;
use crate::model::{Evaluation, FeatureKind, Metrics, ModelName, ModelVersion, Step};
use crate::runtime::{NamedTensor, TensorData};
use crate::store::Registry;

fn fail(e: impl ToString) -> EngineError {
    EngineError::Serving(e.to_string())
}

/// Reads the labelled CSV: feature columns in the model's order (text categories mapped to the
/// codes the model receives, as its baseline profile records them), and the label column
/// (`label`, else the one the version was registered with, else a column named "label", else
/// the last one); `ignore`d columns set aside.
fn read_labelled(
    path: &Path,
    version: &ModelVersion,
    options: &EvaluateOptions<'_>,
) -> Result<(Vec<Vec<f64>>, Vec<f64>), EngineError> {
    let (label, ignore) = (options.label, options.ignore);
    let bad = |problem: String| EngineError::Labelled {
        path: path.to_path_buf(),
        problem,
    };
    let header = reference::header(path).map_err(|e| bad(e.to_string()))?;
    // The version's own label (registered with --label), else the usual names.
    let registered = version
        .profile
        .as_ref()
        .and_then(|p| p.label.as_ref())
        .map(|l| l.name.clone())
        .filter(|name| header.contains(name));
    let label = match label {
        Some(name) => name.to_string(),
        None if registered.is_some() => registered.unwrap_or_default(),
        None if header.iter().any(|h| h == "label") => "label".to_string(),
        None => header
            .last()
            .cloned()
            .ok_or_else(|| bad("no columns".into()))?,
    };
    // The columns registration set aside, unless others are named (those in this table).
    let ignore: Vec<String> = if ignore.is_empty() {
        version
            .profile
            .iter()
            .flat_map(|p| p.ignored.iter())
            .filter(|c| header.contains(c) && **c != label)
            .cloned()
            .collect()
    } else {
        ignore.to_vec()
    };
    let columns = reference::Columns {
        label: Some(label),
        ignore,
    };
    let table =
        reference::read(path, &version.signature, &columns).map_err(|e| bad(e.to_string()))?;
    let profile = version.profile.as_ref();
    let code = |f: usize, name: &str, text: &str, line: u64| -> Result<f64, EngineError> {
        if let Ok(v) = text.parse::<f64>() {
            return Ok(v);
        }
        // A declared order (--categories) first: the code is the category's index.
        if let Some(order) = options.categories.get(name) {
            return order
                .iter()
                .position(|c| c == text)
                .map(|i| i as f64)
                .ok_or_else(|| {
                    bad(format!(
                        "line {line}: {text:?} in {name} is not one of the declared categories ({})",
                        order.join(", ")
                    ))
                });
        }
        match profile.and_then(|p| p.features.get(f)).map(|f| &f.kind) {
            Some(FeatureKind::Categorical { categories }) => categories
                .iter()
                .find(|c| c.value == text)
                .and_then(|c| c.code)
                .ok_or_else(|| {
                    let known: Vec<&str> = categories.iter().map(|c| c.value.as_str()).collect();
                    bad(format!(
                        "line {line}: {text:?} in {name} is not one of v{}'s categories ({}); its codes come from its registration's --reference and --categories",
                        version.version,
                        known.join(", ")
                    ))
                }),
            _ => Err(bad(format!(
                "line {line}: {text:?} in {name} is not a number; if {name} is text the model receives as codes, declare their order with --categories {name}=FIRST,SECOND,..."
            ))),
        }
    };
    let mut xs = Vec::with_capacity(table.lines.len());
    let mut ys = Vec::with_capacity(table.lines.len());
    let label = table
        .label
        .as_ref()
        .ok_or_else(|| bad("no label column".into()))?;
    for (row, line) in table.lines.iter().enumerate() {
        let mut x = Vec::with_capacity(table.features.len());
        for (f, column) in table.features.iter().enumerate() {
            x.push(code(f, &column.name, column.values[row].trim(), *line)?);
        }
        let y = label.values[row].trim();
        ys.push(
            y.parse::<f64>()
                .map_err(|_| bad(format!("line {line}: label {y:?} is not a number")))?,
        );
        xs.push(x);
    }
    if xs.is_empty() {
        return Err(bad("no rows".into()));
    }
    Ok((xs, ys))
}

/// Runs every row through a throwaway server of `version`; returns the outputs per batch.
async fn predict(
    data_dir: &Path,
    program: &Path,
    model: &ModelName,
    version: &ModelVersion,
    xs: &[Vec<f64>],
) -> Result<Vec<NamedTensor>, EngineError> {
    let server = start_server(program, data_dir, model, version.version)
        .await
        .map_err(fail)?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(fail)?;
    let url = format!(
        "{}/v2/models/{model}/versions/{}/infer",
        server.endpoint, version.version
    );
    let input = version
        .signature
        .inputs
        .first()
        .ok_or_else(|| fail("the model has no input"))?;
    let datatype = input.datatype.as_str().to_string();
    let mut outputs: Vec<NamedTensor> = Vec::new();
    // Wait until it answers, then send batches of 256 rows.
    for _ in 0..200 {
        if client
            .get(format!("{}/v2/health/ready", server.endpoint))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for chunk in xs.chunks(256) {
        let tensor = NamedTensor {
            name: input.name.clone(),
            shape: vec![chunk.len(), chunk[0].len()],
            data: TensorData::F64(chunk.iter().flatten().copied().collect()),
        };
        let body = v2_body(&[tensor], |_| datatype.clone());
        let response: serde_json::Value = client
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(fail)?
            .json()
            .await
            .map_err(fail)?;
        if let Some(e) = response["error"].as_str() {
            return Err(fail(format!("v{}: {e}", version.version)));
        }
        concatenate(&mut outputs, parse_outputs(&response));
    }
    Ok(outputs)
}

/// Appends a batch's outputs to those of the batches before it, along the batch dimension, as
/// F64 (outputs that are not numbers are left out).
pub(crate) fn concatenate(all: &mut Vec<NamedTensor>, batch: Vec<NamedTensor>) {
    for out in batch {
        let Some(values) = out.data.to_f64() else {
            continue;
        };
        match all.iter_mut().find(|o| o.name == out.name) {
            Some(acc) => {
                if let TensorData::F64(a) = &mut acc.data {
                    a.extend(values);
                }
                acc.shape[0] += out.shape.first().copied().unwrap_or(0);
            }
            None => all.push(NamedTensor {
                name: out.name,
                shape: out.shape,
                data: TensorData::F64(values),
            }),
        }
    }
}

/// Accuracy, log loss and AUC (binary) of a classifier's outputs, or MAE and RMSE of a
/// regressor's, against the labels `ys`.
pub(crate) fn metrics(
    signature: &crate::model::Signature,
    outputs: &[NamedTensor],
    ys: &[f64],
) -> Metrics {
    let mut m = Metrics::new();
    let values = |name: &str| {
        outputs.iter().find(|o| o.name == name).and_then(|o| {
            o.data
                .to_f64()
                .map(|v| (v, o.shape.get(1).copied().unwrap_or(1)))
        })
    };
    let metrics = if let Some(c) = &signature.classifier {
        let classes: Vec<f64> = match &c.classes {
            crate::model::ClassLabels::Ints(v) => v.iter().map(|x| *x as f64).collect(),
            crate::model::ClassLabels::Strings(_) => Vec::new(),
        };
        let (Some((labels, _)), Some((probs, k))) =
            (values(&c.label_output), values(&c.probabilities_output))
        else {
            return m;
        };
        // Class values as indices among the classes; a value no class has matches nothing.
        let index = |v: &f64, none: usize| classes.iter().position(|c| c == v).unwrap_or(none);
        let predicted: Vec<usize> = labels.iter().map(|v| index(v, usize::MAX - 1)).collect();
        let truth: Vec<usize> = ys.iter().map(|v| index(v, usize::MAX)).collect();
        crate::stats::quality::classification(&predicted, &probs, k.max(1), &truth)
    } else if let Some(output) = signature.outputs.first()
        && let Some((pred, _)) = values(&output.name)
    {
        crate::stats::quality::regression(&pred, ys)
    } else {
        Vec::new()
    };
    m.extend(metrics.into_iter().map(|(k, v)| (k.to_string(), v)));
    m
}

/// How an evaluation reads its data and what it keeps.
#[derive(Debug, Clone, Copy)]
pub struct EvaluateOptions<'a> {
    /// The label column (default: a column named `label`, else the last one).
    pub label: Option<&'a str>,
    /// Columns that are neither features nor the label (ids, timestamps).
    pub ignore: &'a [String],
    /// Keep the result with the version (where the promote gate reads it); off in a read-only
    /// environment.
    pub record: bool,
    /// Which version the candidate is compared with.
    pub baseline: Baseline,
    /// Text categories' orders (`--categories`), for a version whose profile records none.
    pub categories: &'a std::collections::BTreeMap<String, Vec<String>>,
}

/// The version an evaluation compares the candidate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// The local registry's production.
    LocalProduction,
    /// Production as the environment's registry of record holds it (MLflow's champion, copied
    /// into the local registry first); `None`: there is none.
    Production(Option<u32>),
}

/// Evaluates `candidate` (and production, when there is one) on the labelled CSV.
pub async fn evaluate(
    registry: &mut Registry,
    program: &Path,
    model: &ModelName,
    candidate: u32,
    data: &Path,
    options: EvaluateOptions<'_>,
    progress: crate::model::Progress<'_>,
) -> Result<Evaluation, EngineError> {
    let record = options.record;
    let version = registry.version(model, candidate)?;
    let production = match options.baseline {
        Baseline::LocalProduction => crate::model::version_of(
            &registry.aliases(model)?,
            crate::model::AliasName::PRODUCTION,
        ),
        Baseline::Production(version) => version,
    };
    let production = production
        .filter(|p| *p != candidate)
        .map(|p| registry.version(model, p))
        .transpose()?;
    // A path, not the registry, crosses the awaits below: an SQLite connection is not `Sync`.
    let data_dir = registry.data_dir().to_path_buf();
    progress(&Step::new(format!("reading {}", data.display())));
    let (xs, ys) = read_labelled(data, &version, &options)?;
    progress(&Step::new(format!(
        "scoring {} rows with v{candidate} on a throwaway server",
        xs.len()
    )));
    let candidate_metrics = metrics(
        &version.signature,
        &predict(&data_dir, program, model, &version, &xs).await?,
        &ys,
    );
    let baseline_metrics = match &production {
        Some(p) => {
            progress(&Step::new(format!(
                "scoring {} rows with production v{} on a throwaway server",
                xs.len(),
                p.version
            )));
            let predictions = predict(&data_dir, program, model, p, &xs).await?;
            Some(metrics(&p.signature, &predictions, &ys))
        }
        None => None,
    };
    let evaluation = Evaluation {
        model: model.to_string(),
        candidate,
        baseline: production.map(|p| p.version),
        rows: xs.len(),
        data: data.display().to_string(),
        at: Utc::now(),
        candidate_metrics,
        baseline_metrics,
    };
    // Kept with the version for the promote gate; not in a read-only environment.
    if record {
        registry.record_evaluation(model, candidate, &evaluation)?;
    }
    Ok(evaluation)
}
