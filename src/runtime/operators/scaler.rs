//! ONNX-ML `Scaler`: `(x - offset) * scale` per column, as scikit-learn's StandardScaler and
//! MinMaxScaler export.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attrs;
use super::kernel::{Kernel, OutSpec, expand_kernel, input_f32, tensor_from};

#[derive(Debug)]
struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let offset = attrs::floats(node, "offset").unwrap_or_default();
    let scale = attrs::floats(node, "scale").unwrap_or_default();
    Ok((expand_kernel(Scaler { offset, scale }), vec![]))
}

/// The value for column `c`: one value broadcasts, an empty list is the identity.
fn per_column(values: &[f32], c: usize, identity: f32) -> f32 {
    match values.len() {
        0 => identity,
        1 => values[0],
        _ => values.get(c).copied().unwrap_or(identity),
    }
}

impl Kernel for Scaler {
    fn name(&self) -> &'static str {
        "Scaler"
    }

    fn outputs(&self) -> Vec<OutSpec> {
        OutSpec::f32_like_input()
    }

    fn eval(&self, input: &Tensor) -> TractResult<TVec<Tensor>> {
        let (shape, x) = input_f32(input)?;
        let columns = shape.last().copied().unwrap_or(1).max(1);
        for (name, values) in [("offset", &self.offset), ("scale", &self.scale)] {
            ensure!(
                values.len() <= 1 || values.len() == columns,
                "Scaler {name} has {} values for {columns} columns",
                values.len()
            );
        }
        let y = x
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let c = i % columns;
                (v - per_column(&self.offset, c, 0.0)) * per_column(&self.scale, c, 1.0)
            })
            .collect();
        Ok(tvec![tensor_from(&shape, y)?])
    }
}
