//! Reads a sentinel file, checks it against a model's signature, and turns its cases into
//! input tensors. The file format is documented in the README.

use std::path::Path;

use serde_json::Value;

use crate::model::{DataType, SentinelCase, SentinelSet, Signature, TensorSpec};
use crate::runtime::{NamedTensor, TensorData};

/// Parses and validates; the error says which case and which tensor is wrong.
pub fn load(path: &Path, signature: &Signature) -> Result<SentinelSet, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let set: SentinelSet =
        serde_json::from_str(&text).map_err(|e| format!("not a valid sentinel file: {e}"))?;
    validate(&set, signature)?;
    Ok(set)
}

pub fn validate(set: &SentinelSet, signature: &Signature) -> Result<(), String> {
    if set.cases.is_empty() {
        return Err("it has no cases".into());
    }
    check_tolerance(set.tolerance, "the file's")?;
    for case in &set.cases {
        let fail = |problem: String| format!("case {:?}: {problem}", case.name);
        if let Some(t) = case.tolerance {
            check_tolerance(t, "its").map_err(fail)?;
        }
        let mut rows = None;
        for spec in &signature.inputs {
            let values = case.inputs.get(&spec.name).ok_or_else(|| {
                fail(format!(
                    "input {:?} is missing (the model expects {} {})",
                    spec.name,
                    spec.datatype,
                    spec.shape_text()
                ))
            })?;
            let n = check_values(values, spec).map_err(fail)?;
            if *rows.get_or_insert(n) != n {
                return Err(fail(format!(
                    "input {:?} has {n} rows but another input has {}",
                    spec.name,
                    rows.unwrap_or(0)
                )));
            }
        }
        if let Some(extra) = case
            .inputs
            .keys()
            .find(|k| !signature.inputs.iter().any(|i| &i.name == *k))
        {
            let known: Vec<_> = signature.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(fail(format!(
                "{extra:?} is not an input of the model (inputs: {})",
                known.join(", ")
            )));
        }
        if case.expected.is_empty() {
            return Err(fail("it expects nothing; name at least one output".into()));
        }
        for (name, values) in &case.expected {
            let spec = signature
                .outputs
                .iter()
                .find(|o| &o.name == name)
                .ok_or_else(|| {
                    let known: Vec<_> = signature.outputs.iter().map(|o| o.name.as_str()).collect();
                    fail(format!(
                        "{name:?} is not an output of the model (outputs: {})",
                        known.join(", ")
                    ))
                })?;
            let n = check_values(values, spec).map_err(fail)?;
            if Some(n) != rows {
                return Err(fail(format!(
                    "output {name:?} has {n} rows but the inputs have {}",
                    rows.unwrap_or(0)
                )));
            }
        }
    }
    Ok(())
}

fn check_tolerance(t: f64, whose: &str) -> Result<(), String> {
    if t.is_finite() && t >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "{whose} tolerance {t} must be a finite number >= 0"
        ))
    }
}

/// Shape of a nested JSON array, with its leaves; `Err` when it is ragged.
fn shape_and_leaves(value: &Value) -> Result<(Vec<usize>, Vec<&Value>), String> {
    match value {
        Value::Array(items) => {
            let mut inner_shape: Option<Vec<usize>> = None;
            let mut leaves = Vec::new();
            for item in items {
                let (shape, mut l) = shape_and_leaves(item)?;
                if inner_shape.get_or_insert_with(|| shape.clone()) != &shape {
                    return Err("rows of different lengths".into());
                }
                leaves.append(&mut l);
            }
            let mut shape = vec![items.len()];
            shape.extend(inner_shape.unwrap_or_default());
            Ok((shape, leaves))
        }
        leaf => Ok((Vec::new(), vec![leaf])),
    }
}

/// Checks values against a tensor spec; returns the number of rows.
fn check_values(value: &Value, spec: &TensorSpec) -> Result<usize, String> {
    let (shape, leaves) =
        shape_and_leaves(value).map_err(|e| format!("{:?} has {e}", spec.name))?;
    if !spec.accepts_shape(&shape) {
        return Err(format!(
            "{:?} has shape {:?} but the model's tensor is {} {}",
            spec.name,
            shape,
            spec.datatype,
            spec.shape_text()
        ));
    }
    let want_text = spec.datatype == DataType::Bytes;
    if let Some(bad) = leaves.iter().find(|l| {
        if want_text {
            !l.is_string()
        } else {
            !(l.is_number() || l.is_boolean())
        }
    }) {
        let kind = if want_text { "strings" } else { "numbers" };
        return Err(format!(
            "{:?} holds {bad} but the model's tensor takes {kind}",
            spec.name
        ));
    }
    Ok(shape.first().copied().unwrap_or(1))
}

/// The case's inputs as tensors, in the signature's order. Call after `validate`.
pub fn input_tensors(case: &SentinelCase, signature: &Signature) -> Vec<NamedTensor> {
    signature
        .inputs
        .iter()
        .filter_map(|spec| {
            let value = case.inputs.get(&spec.name)?;
            let (shape, leaves) = shape_and_leaves(value).ok()?;
            let data = if spec.datatype == DataType::Bytes {
                TensorData::String(
                    leaves
                        .iter()
                        .map(|l| l.as_str().unwrap_or_default().to_string())
                        .collect(),
                )
            } else {
                TensorData::F64(leaves.iter().map(|l| leaf_number(l)).collect())
            };
            Some(NamedTensor {
                name: spec.name.clone(),
                shape,
                data,
            })
        })
        .collect()
}

fn leaf_number(value: &Value) -> f64 {
    match value {
        Value::Bool(b) => f64::from(u8::from(*b)),
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

/// The largest difference between expected and actual values of one output, or why they
/// cannot be compared (shape or label mismatch).
pub fn max_deviation(expected: &Value, actual: &NamedTensor) -> Result<f64, String> {
    let (shape, leaves) = shape_and_leaves(expected)?;
    if shape.iter().product::<usize>() != actual.data.len() {
        return Err(format!(
            "expected {} values, got {}",
            shape.iter().product::<usize>(),
            actual.data.len()
        ));
    }
    match &actual.data {
        TensorData::String(got) => {
            for (want, got) in leaves.iter().zip(got) {
                if want.as_str() != Some(got.as_str()) {
                    return Err(format!("expected {want}, got {got:?}"));
                }
            }
            Ok(0.0)
        }
        data => {
            let got = data.to_f64().unwrap_or_default();
            Ok(leaves
                .iter()
                .zip(got)
                .map(|(w, g)| deviation(leaf_number(w), g))
                .fold(0.0, f64::max))
        }
    }
}

/// Absolute difference, with NaN on either side counting as infinitely far.
fn deviation(want: f64, got: f64) -> f64 {
    let d = (want - got).abs();
    if d.is_nan() { f64::INFINITY } else { d }
}

/// Runs each sentinel case on the loaded artifact; describes those outside tolerance.
pub fn failing_cases(
    model: &crate::runtime::LoadedModel,
    set: &crate::model::SentinelSet,
) -> Vec<String> {
    let signature = model.signature();
    let mut failures = Vec::new();
    for case in &set.cases {
        let tolerance = case.tolerance.unwrap_or(set.tolerance);
        let outputs = match model.run(&input_tensors(case, signature)) {
            Ok(outputs) => outputs,
            Err(e) => {
                failures.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        for (name, expected) in &case.expected {
            let Some(actual) = outputs.iter().find(|o| &o.name == name) else {
                continue;
            };
            match max_deviation(expected, actual) {
                Ok(d) if d <= tolerance => {}
                Ok(d) => failures.push(format!(
                    "{}: {name} off by {d:.3e} (tolerance {tolerance:.1e})",
                    case.name
                )),
                Err(e) => failures.push(format!("{}: {name}: {e}", case.name)),
            }
        }
    }
    failures
}
