//! Which of a version's answers its drift window keeps, one value per row for each signal its
//! reference predictions profiled: a class probability (`P(1)`), the predicted class (as its
//! index among the classes), or a regression output.

use crate::model::{ClassLabels, FeatureKind, PredictionProfile, Signature};
use crate::runtime::{NamedTensor, TensorData};

/// Where one profiled signal is found in a version's outputs.
#[derive(Debug, Clone)]
pub enum OutputColumn {
    /// A number at `index` of each `width`-wide row of `tensor`.
    Value {
        tensor: String,
        index: usize,
        width: usize,
    },
    /// The predicted class's index among `classes`, from the label output's value.
    ClassOf { tensor: String, classes: Vec<f64> },
    /// The predicted class's index as the most probable column of `tensor`.
    Argmax { tensor: String, width: usize },
}

/// The columns for `predictions`, in its order; `None` when a signal cannot be found in the
/// signature (then no prediction drift is kept for the version).
pub fn columns(
    signature: &Signature,
    predictions: &PredictionProfile,
) -> Option<Vec<OutputColumn>> {
    let width_of = |tensor: &str| {
        signature
            .outputs
            .iter()
            .find(|o| o.name == tensor)
            .and_then(|o| o.row_width())
            .unwrap_or(1)
    };
    predictions
        .outputs
        .iter()
        .map(|output| match &signature.classifier {
            Some(c) => {
                let names: Vec<String> = match &c.classes {
                    ClassLabels::Ints(v) => v.iter().map(i64::to_string).collect(),
                    ClassLabels::Strings(v) => v.clone(),
                };
                if let Some(index) = names.iter().position(|n| output.name == format!("P({n})")) {
                    return Some(OutputColumn::Value {
                        tensor: c.probabilities_output.clone(),
                        index,
                        width: width_of(&c.probabilities_output),
                    });
                }
                if output.name == c.label_output
                    && matches!(output.kind, FeatureKind::Categorical { .. })
                {
                    return Some(match &c.classes {
                        ClassLabels::Ints(v) => OutputColumn::ClassOf {
                            tensor: c.label_output.clone(),
                            classes: v.iter().map(|x| *x as f64).collect(),
                        },
                        ClassLabels::Strings(_) => OutputColumn::Argmax {
                            tensor: c.probabilities_output.clone(),
                            width: width_of(&c.probabilities_output),
                        },
                    });
                }
                None
            }
            None => signature
                .outputs
                .iter()
                .any(|o| o.name == output.name)
                .then(|| OutputColumn::Value {
                    tensor: output.name.clone(),
                    index: 0,
                    width: width_of(&output.name),
                }),
        })
        .collect()
}

impl OutputColumn {
    /// Row `row`'s value in `outputs` (NaN when missing).
    pub fn value(&self, outputs: &[NamedTensor], row: usize) -> f64 {
        let tensor = |name: &str| outputs.iter().find(|t| t.name == name);
        match self {
            OutputColumn::Value {
                tensor: name,
                index,
                width,
            } => tensor(name)
                .map(|t| number_at(&t.data, row * width + index))
                .unwrap_or(f64::NAN),
            OutputColumn::ClassOf {
                tensor: name,
                classes,
            } => tensor(name)
                .map(|t| number_at(&t.data, row))
                .and_then(|v| classes.iter().position(|c| *c == v))
                .map(|i| i as f64)
                .unwrap_or(-1.0),
            OutputColumn::Argmax {
                tensor: name,
                width,
            } => tensor(name)
                .and_then(|t| {
                    (0..*width)
                        .map(|i| (i, number_at(&t.data, row * width + i)))
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                })
                .map(|(i, _)| i as f64)
                .unwrap_or(f64::NAN),
        }
    }
}

pub fn number_at(data: &TensorData, index: usize) -> f64 {
    match data {
        TensorData::F32(v) => v.get(index).map(|x| f64::from(*x)),
        TensorData::F64(v) => v.get(index).copied(),
        TensorData::I32(v) => v.get(index).map(|x| f64::from(*x)),
        TensorData::I64(v) => v.get(index).map(|x| *x as f64),
        TensorData::Bool(v) => v.get(index).map(|x| f64::from(u8::from(*x))),
        TensorData::String(v) => v.get(index).and_then(|s| s.parse().ok()),
    }
    .unwrap_or(f64::NAN)
}
