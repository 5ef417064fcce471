//! ONNX-ML `Binarizer`: 1 where the value is above the threshold, else 0.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attrs;
use super::kernel::{Kernel, OutSpec, expand_kernel, input_f32, tensor_from};

#[derive(Debug)]
struct Binarizer {
    threshold: f32,
}

pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let threshold = attrs::float(node, "threshold").unwrap_or(0.0);
    Ok((expand_kernel(Binarizer { threshold }), vec![]))
}

impl Kernel for Binarizer {
    fn name(&self) -> &'static str {
        "Binarizer"
    }

    fn outputs(&self) -> Vec<OutSpec> {
        OutSpec::f32_like_input()
    }

    fn eval(&self, input: &Tensor) -> TractResult<TVec<Tensor>> {
        let (shape, x) = input_f32(input)?;
        let y = x
            .iter()
            .map(|v| if *v > self.threshold { 1.0f32 } else { 0.0 })
            .collect();
        Ok(tvec![tensor_from(&shape, y)?])
    }
}
