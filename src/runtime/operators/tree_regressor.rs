//! ONNX-ML `TreeEnsembleRegressor` (random forest, extra trees and gradient boosting
//! regressors): sum, average, min or max of the leaf values per target, plus base values.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attrs;
use super::kernel::{Kernel, OutShape, OutSpec, expand_kernel, tensor_from};
use super::tree::{Ensemble, PostTransform, apply, parse_post_transform};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

#[derive(Debug)]
struct TreeRegressor {
    ensemble: Ensemble,
    aggregate: Aggregate,
    base_values: Vec<f32>,
    post: PostTransform,
}

pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let n_targets = attrs::int(node, "n_targets").unwrap_or(1);
    let n_targets = usize::try_from(n_targets)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format_err!("n_targets = {n_targets}"))?;
    let ensemble = Ensemble::parse(node, "target", n_targets)?;
    let aggregate = match attrs::string(node, "aggregate_function")
        .as_deref()
        .unwrap_or("SUM")
    {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        "MIN" => Aggregate::Min,
        "MAX" => Aggregate::Max,
        other => bail!("aggregate_function {other} is not supported"),
    };
    let base_values = attrs::f32s_or_tensor(node, "base_values")?;
    ensure!(
        base_values.is_empty() || base_values.len() == n_targets,
        "TreeEnsembleRegressor has {} base values for {n_targets} targets",
        base_values.len()
    );
    let post = parse_post_transform(node)?;
    Ok((
        expand_kernel(TreeRegressor {
            ensemble,
            aggregate,
            base_values,
            post,
        }),
        vec![],
    ))
}

impl Kernel for TreeRegressor {
    fn name(&self) -> &'static str {
        "TreeEnsembleRegressor"
    }

    fn outputs(&self) -> Vec<OutSpec> {
        vec![OutSpec {
            datum_type: DatumType::F32,
            shape: OutShape::Rows(self.ensemble.n_targets),
        }]
    }

    fn eval(&self, input: &Tensor) -> TractResult<TVec<Tensor>> {
        let (x, rows, columns) = self.ensemble.rows_of(input)?;
        let targets = self.ensemble.n_targets;
        let trees = self.ensemble.n_trees() as f32;
        let mut out = vec![0.0f32; rows * targets];
        let mut has = vec![false; targets];
        for (r, row) in x.chunks(columns.max(1)).take(rows).enumerate() {
            let scores = &mut out[r * targets..(r + 1) * targets];
            has.iter_mut().for_each(|h| *h = false);
            self.ensemble.for_each_leaf(row, |t, w| {
                scores[t] = match (self.aggregate, has[t]) {
                    (Aggregate::Sum | Aggregate::Average, _) => scores[t] + w,
                    (Aggregate::Min, true) => scores[t].min(w),
                    (Aggregate::Max, true) => scores[t].max(w),
                    (Aggregate::Min | Aggregate::Max, false) => w,
                };
                has[t] = true;
            });
            for (t, s) in scores.iter_mut().enumerate() {
                if self.aggregate == Aggregate::Average {
                    *s /= trees;
                }
                *s += self.base_values.get(t).copied().unwrap_or(0.0);
            }
            apply(self.post, scores);
        }
        Ok(tvec![tensor_from(&[rows, targets], out)?])
    }
}
