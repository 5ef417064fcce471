//! ONNX-ML `Imputer`: replaces a marker value (NaN by default in scikit-learn's SimpleImputer)
//! with the per-column imputed value.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attrs;
use super::kernel::{Kernel, OutShape, OutSpec, expand_kernel, input_f32, tensor_from};

#[derive(Debug)]
enum Imputer {
    Floats { imputed: Vec<f32>, replaced: f32 },
    Ints { imputed: Vec<i64>, replaced: i64 },
}

pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let floats = attrs::floats(node, "imputed_value_floats").filter(|v| !v.is_empty());
    let ints = attrs::ints(node, "imputed_value_int64s").filter(|v| !v.is_empty());
    let op = match (floats, ints) {
        (Some(imputed), None) => Imputer::Floats {
            imputed,
            replaced: attrs::float(node, "replaced_value_float").unwrap_or(0.0),
        },
        (None, Some(imputed)) => Imputer::Ints {
            imputed,
            replaced: attrs::int(node, "replaced_value_int64").unwrap_or(0),
        },
        _ => bail!("Imputer needs exactly one of imputed_value_floats and imputed_value_int64s"),
    };
    Ok((expand_kernel(op), vec![]))
}

fn pick<T: Copy>(values: &[T], column: usize) -> T {
    if values.len() == 1 {
        values[0]
    } else {
        values[column]
    }
}

impl Kernel for Imputer {
    fn name(&self) -> &'static str {
        "Imputer"
    }

    fn outputs(&self) -> Vec<OutSpec> {
        let datum_type = match self {
            Imputer::Floats { .. } => DatumType::F32,
            Imputer::Ints { .. } => DatumType::I64,
        };
        vec![OutSpec {
            datum_type,
            shape: OutShape::SameAsInput,
        }]
    }

    fn eval(&self, input: &Tensor) -> TractResult<TVec<Tensor>> {
        let shape = input.shape().to_vec();
        let columns = shape.last().copied().unwrap_or(1).max(1);
        let check = |n: usize| {
            ensure!(
                n == 1 || n == columns,
                "Imputer has {n} imputed values for {columns} columns"
            );
            Ok(())
        };
        let out = match self {
            Imputer::Floats { imputed, replaced } => {
                check(imputed.len())?;
                let (_, x) = input_f32(input)?;
                let y = x
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let hit = if replaced.is_nan() {
                            v.is_nan()
                        } else {
                            v == replaced
                        };
                        if hit { pick(imputed, i % columns) } else { *v }
                    })
                    .collect();
                tensor_from(&shape, y)?
            }
            Imputer::Ints { imputed, replaced } => {
                check(imputed.len())?;
                let cast = input.cast_to::<i64>()?;
                let x = cast.to_plain_array_view::<i64>()?;
                let y = x
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        if v == replaced {
                            pick(imputed, i % columns)
                        } else {
                            *v
                        }
                    })
                    .collect();
                tensor_from(&shape, y)?
            }
        };
        Ok(tvec![out])
    }
}
