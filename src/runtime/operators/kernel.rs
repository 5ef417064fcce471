//! The glue between a plain Rust kernel (tensors in, tensors out) and tract: one inference-level
//! expansion and one typed operator serve every operator in the pack.

use std::fmt::Debug;
use std::sync::Arc;

use tract_onnx::tract_hir::internal::*;

/// The shape of an output, relative to the first input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutShape {
    /// Same shape as the input.
    SameAsInput,
    /// `[N, k]`, N the input's first dimension.
    Rows(usize),
    /// `[N]`.
    RowsOnly,
    /// The input's shape with a trailing dimension of `k`.
    Append(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutSpec {
    pub datum_type: DatumType,
    pub shape: OutShape,
}

impl OutSpec {
    /// One f32 output shaped as the input (element-wise operators).
    pub fn f32_like_input() -> Vec<OutSpec> {
        vec![OutSpec {
            datum_type: DatumType::F32,
            shape: OutShape::SameAsInput,
        }]
    }
}

/// A flightdeck operator: its outputs' types and shapes, and how to compute them.
pub trait Kernel: Debug + Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn outputs(&self) -> Vec<OutSpec>;
    fn eval(&self, input: &Tensor) -> TractResult<TVec<Tensor>>;
}

/// Wraps a kernel for the ONNX parser.
pub fn expand_kernel(kernel: impl Kernel) -> Box<dyn InferenceOp> {
    expand(KernelExpansion(Arc::new(kernel)))
}

#[derive(Debug, Clone)]
struct KernelExpansion(Arc<dyn Kernel>);

impl Expansion for KernelExpansion {
    fn name(&self) -> StaticName {
        self.0.name().into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.0.outputs().len())
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        let specs = self.0.outputs();
        check_output_arity(outputs, specs.len())?;
        for (output, spec) in outputs.iter().zip(specs) {
            s.equals(&output.datum_type, spec.datum_type)?;
            s.given(&inputs[0].shape, move |s, shape| {
                s.equals(&output.shape, out_shape(spec.shape, &shape))
            })?;
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, KernelOp(self.0.clone()), inputs)
    }
}

fn out_shape(spec: OutShape, input: &[TDim]) -> TVec<TDim> {
    let rows = input.first().cloned().unwrap_or_else(|| 1.to_dim());
    match spec {
        OutShape::SameAsInput => input.iter().cloned().collect(),
        OutShape::Rows(k) => tvec![rows, k.to_dim()],
        OutShape::RowsOnly => tvec![rows],
        OutShape::Append(k) => input
            .iter()
            .cloned()
            .chain(std::iter::once(k.to_dim()))
            .collect(),
    }
}

#[derive(Debug, Clone)]
struct KernelOp(Arc<dyn Kernel>);

impl PartialEq for KernelOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for KernelOp {}

impl Op for KernelOp {
    fn name(&self) -> StaticName {
        self.0.name().into()
    }

    op_as_typed_op!();
}

impl EvalOp for KernelOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs
            .first()
            .ok_or_else(|| format_err!("{} takes one input", self.0.name()))?;
        Ok(self
            .0
            .eval(input)?
            .into_iter()
            .map(|t| t.into_tvalue())
            .collect())
    }
}

impl TypedOp for KernelOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs
            .first()
            .ok_or_else(|| format_err!("{} takes one input", self.0.name()))?;
        let shape: TVec<TDim> = input.shape.iter().cloned().collect();
        Ok(self
            .0
            .outputs()
            .into_iter()
            .map(|spec| spec.datum_type.fact(out_shape(spec.shape, &shape)))
            .collect())
    }

    as_op!();
}

/// The input as f32 values (ints and doubles converted), with its shape.
pub fn input_f32(input: &Tensor) -> TractResult<(Vec<usize>, std::borrow::Cow<'_, [f32]>)> {
    let shape = input.shape().to_vec();
    if input.datum_type() == DatumType::F32 {
        let view = input.to_plain_array_view::<f32>()?;
        if let Some(slice) = view.as_slice() {
            return Ok((shape, std::borrow::Cow::Owned(slice.to_vec())));
        }
    }
    let cast = input.cast_to::<f32>()?;
    let values: Vec<f32> = cast.to_plain_array_view::<f32>()?.iter().copied().collect();
    Ok((shape, std::borrow::Cow::Owned(values)))
}

/// Builds an output tensor from values and a shape.
pub fn tensor_from<T: Datum + Clone>(shape: &[usize], values: Vec<T>) -> TractResult<Tensor> {
    Ok(tract_ndarray::ArrayD::from_shape_vec(tract_ndarray::IxDyn(shape), values)?.into_tensor())
}

/// Rows and columns of a `[N]` or `[N, F]` (or higher, flattened) input.
pub fn rows_and_columns(shape: &[usize]) -> (usize, usize) {
    let rows = shape.first().copied().unwrap_or(1);
    let columns = shape
        .iter()
        .skip(1)
        .product::<usize>()
        .max(if shape.len() <= 1 { 1 } else { 0 });
    (rows, columns)
}
