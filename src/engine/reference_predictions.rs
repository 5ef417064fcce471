//! What a version answers on its own reference rows, kept with its baseline: each class
//! probability's distribution (decile bins, as for features), the predicted classes'
//! frequencies, or a regression output's distribution; with the reference's label, its
//! accuracy, AUC and log loss (or MAE and RMSE). Prediction drift starts from these.

use std::collections::BTreeMap;

use super::profile::numeric_profile;
use super::reference::Table;
use crate::model::{
    BaselineProfile, CategoryFrequency, ClassLabels, DataType, FeatureKind, FeatureProfile,
    PredictionProfile,
};
use crate::runtime::{LoadedModel, NamedTensor, TensorData};

/// Rows run through the model at a time: bounded memory for tables of any length.
const CHUNK_ROWS: usize = 4096;

/// Runs `model` over `table`'s rows (coded as `profile` records: text categories to the codes
/// the model receives) and profiles what it answered; `keep` reference values per numeric
/// output, as for features.
pub fn reference_predictions(
    model: &LoadedModel,
    profile: &BaselineProfile,
    table: &Table,
    keep: usize,
) -> Result<PredictionProfile, String> {
    let outputs = run_over(model, profile, table)?;
    let signature = model.signature();
    let column = |name: &str| {
        outputs
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| Some((o.data.to_f64()?, o.shape.get(1).copied().unwrap_or(1))))
    };
    let mut profiles = Vec::new();
    if let Some(classifier) = &signature.classifier {
        let names: Vec<String> = match &classifier.classes {
            ClassLabels::Ints(v) => v.iter().map(i64::to_string).collect(),
            ClassLabels::Strings(v) => v.clone(),
        };
        if let Some((probabilities, width)) = column(&classifier.probabilities_output) {
            for (class, name) in names.iter().enumerate().take(width) {
                let values: Vec<f64> = probabilities
                    .chunks(width.max(1))
                    .filter_map(|row| row.get(class).copied())
                    .collect();
                profiles.extend(numeric(&format!("P({name})"), values, keep));
            }
        }
        // The predicted class's frequencies, from the label output when it is numeric, else
        // the most probable class.
        let predicted: Option<Vec<usize>> =
            match (&classifier.classes, column(&classifier.label_output)) {
                (ClassLabels::Ints(ints), Some((labels, _))) => Some(
                    labels
                        .iter()
                        .filter_map(|l| ints.iter().position(|c| *c as f64 == *l))
                        .collect(),
                ),
                _ => column(&classifier.probabilities_output).map(|(p, width)| {
                    p.chunks(width.max(1))
                        .filter_map(|row| {
                            row.iter()
                                .enumerate()
                                .max_by(|a, b| a.1.total_cmp(b.1))
                                .map(|(i, _)| i)
                        })
                        .collect()
                }),
            };
        if let Some(predicted) = predicted {
            let total = predicted.len().max(1) as f64;
            let categories = names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let count = predicted.iter().filter(|p| **p == i).count() as u64;
                    CategoryFrequency {
                        value: name.clone(),
                        code: Some(i as f64),
                        count,
                        frequency: count as f64 / total,
                    }
                })
                .collect();
            profiles.push(FeatureProfile {
                name: classifier.label_output.clone(),
                missing: 0,
                kind: FeatureKind::Categorical { categories },
            });
        }
    } else {
        for output in &signature.outputs {
            if let Some((values, 1)) = column(&output.name) {
                profiles.extend(numeric(&output.name, values, keep));
            }
        }
    }
    let metrics = match &table.label {
        Some(label) => {
            let ys: Option<Vec<f64>> = label.values.iter().map(|v| v.trim().parse().ok()).collect();
            ys.map(|ys| super::evaluate::metrics(signature, &outputs, &ys))
                .unwrap_or_default()
        }
        None => BTreeMap::new(),
    };
    Ok(PredictionProfile {
        outputs: profiles,
        metrics,
    })
}

/// A numeric output's profile over its finite values (`None` when it has none); values that
/// are not finite count as missing.
fn numeric(name: &str, values: Vec<f64>, keep: usize) -> Option<FeatureProfile> {
    let total = values.len();
    let finite: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    Some(FeatureProfile {
        name: name.to_string(),
        missing: (total - finite.len()) as u64,
        kind: FeatureKind::Numeric(numeric_profile(finite, keep)),
    })
}

/// The model's outputs over every row, run a chunk at a time and concatenated.
fn run_over(
    model: &LoadedModel,
    profile: &BaselineProfile,
    table: &Table,
) -> Result<Vec<NamedTensor>, String> {
    let signature = model.signature();
    let columns = signature.feature_columns();
    if columns.len() != table.features.len() {
        return Err(format!(
            "the table has {} feature columns, the model takes {}",
            table.features.len(),
            columns.len()
        ));
    }
    let rows = table.lines.len();
    let mut outputs: Vec<NamedTensor> = Vec::new();
    for start in (0..rows).step_by(CHUNK_ROWS) {
        let end = (start + CHUNK_ROWS).min(rows);
        let inputs = signature
            .inputs
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                let mine: Vec<(usize, &crate::model::signature::FeatureColumn)> = columns
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.input_index == index)
                    .collect();
                let width = mine.len().max(1);
                let shape = if spec.shape.len() == 1 {
                    vec![end - start]
                } else {
                    vec![end - start, width]
                };
                let data = if spec.datatype == DataType::Bytes {
                    let mut values = vec![String::new(); (end - start) * width];
                    for (feature, column) in &mine {
                        for row in start..end {
                            values[(row - start) * width + column.offset] =
                                table.features[*feature].values[row].trim().to_string();
                        }
                    }
                    TensorData::String(values)
                } else {
                    let mut values = vec![f64::NAN; (end - start) * width];
                    for (feature, column) in &mine {
                        let kind = profile.features.get(*feature).map(|f| &f.kind);
                        for row in start..end {
                            values[(row - start) * width + column.offset] =
                                coded(&table.features[*feature].values[row], kind);
                        }
                    }
                    TensorData::F64(values)
                };
                NamedTensor {
                    name: spec.name.clone(),
                    shape,
                    data,
                }
            })
            .collect::<Vec<_>>();
        let answered = model.run(&inputs).map_err(|e| e.to_string())?;
        super::evaluate::concatenate(&mut outputs, answered);
    }
    Ok(outputs)
}

/// A cell as the model receives it: its number, or its category's code; missing as NaN.
fn coded(text: &str, kind: Option<&FeatureKind>) -> f64 {
    let text = text.trim();
    if let Ok(v) = text.parse::<f64>() {
        return v;
    }
    match kind {
        Some(FeatureKind::Categorical { categories }) => categories
            .iter()
            .find(|c| c.value == text)
            .and_then(|c| c.code)
            .unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}
