//! ONNX-ML `OneHotEncoder`: one column per category, for string or integer inputs.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attrs;
use super::kernel::{Kernel, OutShape, OutSpec, expand_kernel, tensor_from};

#[derive(Debug)]
enum Categories {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

#[derive(Debug)]
struct OneHotEncoder {
    categories: Categories,
    /// When false, an unknown category is an error instead of an all-zero row.
    zeros: bool,
}

pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ints = attrs::ints(node, "cats_int64s").filter(|v| !v.is_empty());
    let strings = attrs::strings(node, "cats_strings").filter(|v| !v.is_empty());
    let categories = match (ints, strings) {
        (Some(i), None) => Categories::Ints(i),
        (None, Some(s)) => Categories::Strings(s),
        _ => bail!("OneHotEncoder needs exactly one of cats_int64s and cats_strings"),
    };
    let zeros = attrs::int(node, "zeros").unwrap_or(1) != 0;
    Ok((expand_kernel(OneHotEncoder { categories, zeros }), vec![]))
}

impl OneHotEncoder {
    fn width(&self) -> usize {
        match &self.categories {
            Categories::Ints(v) => v.len(),
            Categories::Strings(v) => v.len(),
        }
    }

    fn encode(
        &self,
        positions: impl Iterator<Item = Option<usize>>,
        len: usize,
    ) -> TractResult<Vec<f32>> {
        let width = self.width();
        let mut out = vec![0.0f32; len * width];
        for (i, position) in positions.enumerate() {
            match position {
                Some(p) => out[i * width + p] = 1.0,
                None if self.zeros => {}
                None => bail!("OneHotEncoder: value {i} is not a known category"),
            }
        }
        Ok(out)
    }
}

impl Kernel for OneHotEncoder {
    fn name(&self) -> &'static str {
        "OneHotEncoder"
    }

    fn outputs(&self) -> Vec<OutSpec> {
        vec![OutSpec {
            datum_type: DatumType::F32,
            shape: OutShape::Append(self.width()),
        }]
    }

    fn eval(&self, input: &Tensor) -> TractResult<TVec<Tensor>> {
        let mut shape = input.shape().to_vec();
        let len = input.len();
        let values = match &self.categories {
            Categories::Strings(cats) => {
                ensure!(
                    input.datum_type() == DatumType::String,
                    "OneHotEncoder with string categories needs a string input"
                );
                let x = input.to_plain_array_view::<String>()?;
                self.encode(x.iter().map(|v| cats.iter().position(|c| c == v)), len)?
            }
            Categories::Ints(cats) => {
                let cast = input.cast_to::<i64>()?;
                let x = cast.to_plain_array_view::<i64>()?;
                self.encode(x.iter().map(|v| cats.iter().position(|c| c == v)), len)?
            }
        };
        shape.push(self.width());
        Ok(tvec![tensor_from(&shape, values)?])
    }
}
