//! A model version's signature: its input and output tensors, and how a classifier's outputs map
//! to labels and probabilities.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Element types, named as the Open Inference Protocol names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DataType {
    Bool,
    Uint8,
    Int8,
    Int16,
    Int32,
    Int64,
    Fp16,
    Fp32,
    Fp64,
    Bytes,
}

impl DataType {
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Bool => "BOOL",
            DataType::Uint8 => "UINT8",
            DataType::Int8 => "INT8",
            DataType::Int16 => "INT16",
            DataType::Int32 => "INT32",
            DataType::Int64 => "INT64",
            DataType::Fp16 => "FP16",
            DataType::Fp32 => "FP32",
            DataType::Fp64 => "FP64",
            DataType::Bytes => "BYTES",
        }
    }

    pub fn is_numeric(self) -> bool {
        !matches!(self, DataType::Bytes | DataType::Bool)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One input or output tensor. A dimension of `-1` is variable (usually the batch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<i64>,
}

impl TensorSpec {
    pub fn new(name: impl Into<String>, datatype: DataType, shape: &[i64]) -> Self {
        Self {
            name: name.into(),
            datatype,
            shape: shape.to_vec(),
        }
    }

    /// Number of feature columns one row of this tensor carries: the product of the fixed
    /// dimensions after the batch dimension (1 for a `[N]` or `[N, 1]` tensor).
    pub fn row_width(&self) -> Option<usize> {
        self.shape.iter().skip(1).try_fold(1usize, |acc, &d| {
            usize::try_from(d).ok().filter(|d| *d > 0).map(|d| acc * d)
        })
    }

    /// Whether a tensor of `shape` fits this spec: same rank, and every fixed dimension equal
    /// (a dynamic dimension takes any size).
    pub fn accepts_shape(&self, shape: &[usize]) -> bool {
        shape.len() == self.shape.len()
            && shape
                .iter()
                .zip(&self.shape)
                .all(|(got, want)| *want < 0 || *got as i64 == *want)
    }

    /// A concrete shape for `rows` rows: the batch dimension is `rows`, other dynamic
    /// dimensions are 1.
    pub fn shape_for_rows(&self, rows: usize) -> Vec<usize> {
        let mut shape: Vec<usize> = self
            .shape
            .iter()
            .map(|d| usize::try_from(*d).ok().filter(|d| *d > 0).unwrap_or(1))
            .collect();
        if let Some(first) = shape.first_mut() {
            *first = rows;
        }
        shape
    }

    pub fn shape_text(&self) -> String {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|d| {
                if *d < 0 {
                    "N".to_string()
                } else {
                    d.to_string()
                }
            })
            .collect();
        format!("[{}]", dims.join(", "))
    }
}

/// The class labels of a classifier, in the order of its probability columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClassLabels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

impl ClassLabels {
    pub fn len(&self) -> usize {
        match self {
            ClassLabels::Ints(v) => v.len(),
            ClassLabels::Strings(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a classifier's label output is derived from its probabilities output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierOutputs {
    pub label_output: String,
    pub probabilities_output: String,
    pub classes: ClassLabels,
}

/// Everything a client needs to call a model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    /// Present when the model is a classifier whose labels we compute as argmax of probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<ClassifierOutputs>,
    /// Plain-language notes about rewrites, e.g. "output `probabilities` is served as a tensor
    /// instead of ZipMap's list of maps".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// For text inputs that feed an encoder in the graph (OneHotEncoder, LabelEncoder,
    /// CategoryMapper): the categories it knows, in the order it encodes them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub categories: std::collections::BTreeMap<String, Vec<String>>,
}

impl Signature {
    /// The feature columns a row of input carries, in order: one name per column. A single
    /// `[N, F]` input yields F columns named after the input; several `[N, 1]` inputs yield one
    /// column each, named after the input.
    pub fn feature_columns(&self) -> Vec<FeatureColumn> {
        let mut columns = Vec::new();
        for (input_index, input) in self.inputs.iter().enumerate() {
            let width = input.row_width().unwrap_or(1);
            for offset in 0..width {
                let name = if width == 1 {
                    input.name.clone()
                } else {
                    format!("{}[{offset}]", input.name)
                };
                columns.push(FeatureColumn {
                    name,
                    input_index,
                    offset,
                    datatype: input.datatype,
                });
            }
        }
        columns
    }

    pub fn input_width(&self) -> usize {
        self.inputs.iter().map(|i| i.row_width().unwrap_or(1)).sum()
    }
}

/// Where one feature column lands in the model's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureColumn {
    pub name: String,
    pub input_index: usize,
    pub offset: usize,
    pub datatype: DataType,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_width_multiplies_fixed_dims_after_batch() {
        assert_eq!(
            TensorSpec::new("x", DataType::Fp32, &[-1, 4]).row_width(),
            Some(4)
        );
        assert_eq!(
            TensorSpec::new("x", DataType::Fp32, &[-1]).row_width(),
            Some(1)
        );
        assert_eq!(
            TensorSpec::new("x", DataType::Fp32, &[-1, 2, 3]).row_width(),
            Some(6)
        );
        assert_eq!(
            TensorSpec::new("x", DataType::Fp32, &[-1, -1]).row_width(),
            None
        );
    }

    #[test]
    fn feature_columns_cover_wide_and_split_inputs() {
        let wide = Signature {
            inputs: vec![TensorSpec::new("x", DataType::Fp32, &[-1, 2])],
            outputs: vec![],
            classifier: None,
            notes: vec![],
            categories: Default::default(),
        };
        let names: Vec<_> = wide.feature_columns().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["x[0]", "x[1]"]);
        let split = Signature {
            inputs: vec![
                TensorSpec::new("age", DataType::Fp32, &[-1, 1]),
                TensorSpec::new("city", DataType::Bytes, &[-1, 1]),
            ],
            outputs: vec![],
            classifier: None,
            notes: vec![],
            categories: Default::default(),
        };
        let cols = split.feature_columns();
        assert_eq!(cols.len(), 2);
        assert_eq!(cols[1].name, "city");
        assert_eq!(cols[1].input_index, 1);
        assert_eq!(split.input_width(), 2);
    }

    #[test]
    fn datatype_serializes_as_v2_name() {
        assert_eq!(serde_json::to_string(&DataType::Fp32).unwrap(), "\"FP32\"");
        assert_eq!(
            serde_json::from_str::<DataType>("\"INT64\"").unwrap(),
            DataType::Int64
        );
    }
}
