//! ONNX-ML `LabelEncoder` (opsets 1 and 2): maps strings, integers or floats to strings,
//! integers or floats, with a default for unknown keys.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attrs;
use super::kernel::{Kernel, OutShape, OutSpec, expand_kernel, input_f32, tensor_from};

#[derive(Debug, Clone)]
enum Column {
    Strings(Vec<String>),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Strings(v) => v.len(),
            Column::Ints(v) => v.len(),
            Column::Floats(v) => v.len(),
        }
    }
}

#[derive(Debug, Clone)]
enum Default {
    String(String),
    Int(i64),
    Float(f32),
}

#[derive(Debug)]
struct LabelEncoder {
    keys: Column,
    values: Column,
    default: Default,
}

fn column(node: &NodeProto, prefix: &str) -> Option<Column> {
    attrs::strings(node, &format!("{prefix}_strings"))
        .filter(|v| !v.is_empty())
        .map(Column::Strings)
        .or_else(|| {
            attrs::ints(node, &format!("{prefix}_int64s"))
                .filter(|v| !v.is_empty())
                .map(Column::Ints)
        })
        .or_else(|| {
            attrs::floats(node, &format!("{prefix}_floats"))
                .filter(|v| !v.is_empty())
                .map(Column::Floats)
        })
}

pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let op =
        if let Some(classes) = attrs::strings(node, "classes_strings").filter(|v| !v.is_empty()) {
            // Opset 1: strings <-> their index; the direction follows the input type, taken here
            // from which default the exporter set (skl2onnx sets default_int64 for string input).
            let indices: Vec<i64> = (0..classes.len() as i64).collect();
            if attrs::string(node, "default_string").is_some()
                && attrs::int(node, "default_int64").is_none()
            {
                LabelEncoder {
                    keys: Column::Ints(indices),
                    values: Column::Strings(classes),
                    default: Default::String(
                        attrs::string(node, "default_string").unwrap_or_else(|| "_Unused".into()),
                    ),
                }
            } else {
                LabelEncoder {
                    keys: Column::Strings(classes),
                    values: Column::Ints(indices),
                    default: Default::Int(attrs::int(node, "default_int64").unwrap_or(-1)),
                }
            }
        } else {
            let keys = column(node, "keys")
                .ok_or_else(|| format_err!("LabelEncoder has no keys_* attribute"))?;
            let values = column(node, "values")
                .ok_or_else(|| format_err!("LabelEncoder has no values_* attribute"))?;
            ensure!(
                keys.len() == values.len(),
                "LabelEncoder has {} keys but {} values",
                keys.len(),
                values.len()
            );
            let default = match &values {
                Column::Strings(_) => Default::String(
                    attrs::string(node, "default_string").unwrap_or_else(|| "_Unused".into()),
                ),
                Column::Ints(_) => Default::Int(attrs::int(node, "default_int64").unwrap_or(-1)),
                Column::Floats(_) => {
                    Default::Float(attrs::float(node, "default_float").unwrap_or(-0.0))
                }
            };
            LabelEncoder {
                keys,
                values,
                default,
            }
        };
    Ok((expand_kernel(op), vec![]))
}

impl Kernel for LabelEncoder {
    fn name(&self) -> &'static str {
        "LabelEncoder"
    }

    fn outputs(&self) -> Vec<OutSpec> {
        let datum_type = match self.values {
            Column::Strings(_) => DatumType::String,
            Column::Ints(_) => DatumType::I64,
            Column::Floats(_) => DatumType::F32,
        };
        vec![OutSpec {
            datum_type,
            shape: OutShape::SameAsInput,
        }]
    }

    fn eval(&self, input: &Tensor) -> TractResult<TVec<Tensor>> {
        let shape = input.shape().to_vec();
        let positions: Vec<Option<usize>> = match &self.keys {
            Column::Strings(keys) => {
                let x = input.to_plain_array_view::<String>()?;
                x.iter().map(|v| keys.iter().position(|k| k == v)).collect()
            }
            Column::Ints(keys) => {
                let cast = input.cast_to::<i64>()?;
                let x = cast.to_plain_array_view::<i64>()?;
                x.iter().map(|v| keys.iter().position(|k| k == v)).collect()
            }
            Column::Floats(keys) => {
                let (_, x) = input_f32(input)?;
                x.iter().map(|v| keys.iter().position(|k| k == v)).collect()
            }
        };
        let out = match (&self.values, &self.default) {
            (Column::Strings(values), Default::String(d)) => {
                tensor_from(&shape, mapped(&positions, values, d))?
            }
            (Column::Ints(values), Default::Int(d)) => {
                tensor_from(&shape, mapped(&positions, values, d))?
            }
            (Column::Floats(values), Default::Float(d)) => {
                tensor_from(&shape, mapped(&positions, values, d))?
            }
            _ => bail!("LabelEncoder default does not match its values' type"),
        };
        Ok(tvec![out])
    }
}
/// Each position's value, or the default where a key was not found.
fn mapped<T: Clone>(positions: &[Option<usize>], values: &[T], default: &T) -> Vec<T> {
    positions
        .iter()
        .map(|p| p.map_or_else(|| default.clone(), |i| values[i].clone()))
        .collect()
}
