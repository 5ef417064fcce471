//! ONNX-ML `TreeEnsembleClassifier` (random forests, extra trees, gradient boosting), with
//! onnxruntime's rules for binary problems, base values and post-transforms, so probabilities
//! match it. Labels are the class of highest probability.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attrs;
use super::kernel::{Kernel, OutShape, OutSpec, expand_kernel, tensor_from};
use super::tree::{Ensemble, PostTransform, apply, logistic, parse_post_transform};

#[derive(Debug)]
enum Labels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

impl Labels {
    fn len(&self) -> usize {
        match self {
            Labels::Ints(v) => v.len(),
            Labels::Strings(v) => v.len(),
        }
    }
}

#[derive(Debug)]
struct TreeClassifier {
    ensemble: Ensemble,
    labels: Labels,
    base_values: Vec<f32>,
    post: PostTransform,
    /// Two classes, leaves writing a single score (onnxruntime's "binary case").
    binary_case: bool,
    weights_all_positive: bool,
}

pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ints = attrs::ints(node, "classlabels_int64s").filter(|v| !v.is_empty());
    let strings = attrs::strings(node, "classlabels_strings").filter(|v| !v.is_empty());
    let labels = match (ints, strings) {
        (Some(i), None) => Labels::Ints(i),
        (None, Some(s)) => Labels::Strings(s),
        _ => bail!(
            "TreeEnsembleClassifier needs exactly one of classlabels_int64s and classlabels_strings"
        ),
    };
    let n_classes = labels.len();
    let ensemble = Ensemble::parse(node, "class", n_classes)?;
    let base_values = attrs::f32s_or_tensor(node, "base_values")?;
    ensure!(
        base_values.is_empty()
            || base_values.len() == n_classes
            || (n_classes == 2 && base_values.len() == 1),
        "TreeEnsembleClassifier has {} base values for {n_classes} classes",
        base_values.len()
    );
    let binary_case = n_classes == 2 && ensemble.distinct_targets() == 1;
    let weights_all_positive = ensemble.weights_all_positive();
    let post = parse_post_transform(node)?;
    let op = TreeClassifier {
        ensemble,
        labels,
        base_values,
        post,
        binary_case,
        weights_all_positive,
    };
    Ok((expand_kernel(op), vec![]))
}

impl TreeClassifier {
    /// Final probabilities for one row from the summed leaf weights.
    fn finalize(&self, scores: &mut [f32; 2], has: [bool; 2], out: &mut [f32]) {
        let mut len = 2;
        match self.base_values.len() {
            2 if has[1] => {
                // onnxruntime's reading of an under-specified case: base_values[0] is unused.
                scores[1] = self.base_values[1] + scores[0];
                scores[0] = -scores[1];
            }
            2 => {
                scores[0] += self.base_values[0];
                scores[1] += self.base_values[1];
            }
            1 => {
                scores[0] += self.base_values[0];
                if !has[1] {
                    len = 1;
                }
            }
            _ if !has[1] => len = 1,
            _ => {}
        }
        if len == 2 {
            apply(self.post, &mut scores[..]);
            out.copy_from_slice(&scores[..]);
            return;
        }
        let s = scores[0];
        out.copy_from_slice(&match (self.binary_case, self.weights_all_positive) {
            (true, true) => [1.0 - s, s],
            (true, false) if self.post == PostTransform::Logistic => [logistic(-s), logistic(s)],
            (true, false) => [-s, s],
            // Not onnxruntime's binary layout: it writes only the one score.
            (false, _) => [s, 0.0],
        });
    }
}

impl Kernel for TreeClassifier {
    fn name(&self) -> &'static str {
        "TreeEnsembleClassifier"
    }

    fn outputs(&self) -> Vec<OutSpec> {
        let label_type = match self.labels {
            Labels::Ints(_) => DatumType::I64,
            Labels::Strings(_) => DatumType::String,
        };
        vec![
            OutSpec {
                datum_type: label_type,
                shape: OutShape::RowsOnly,
            },
            OutSpec {
                datum_type: DatumType::F32,
                shape: OutShape::Rows(self.labels.len()),
            },
        ]
    }

    fn eval(&self, input: &Tensor) -> TractResult<TVec<Tensor>> {
        let (x, rows, columns) = self.ensemble.rows_of(input)?;
        let classes = self.labels.len();
        let mut probabilities = vec![0.0f32; rows * classes];
        let mut winners = Vec::with_capacity(rows);
        let mut scores = vec![0.0f32; classes];
        let mut has = vec![false; classes];
        for (r, row) in x.chunks(columns.max(1)).take(rows).enumerate() {
            scores.iter_mut().for_each(|s| *s = 0.0);
            has.iter_mut().for_each(|h| *h = false);
            self.ensemble.for_each_leaf(row, |target, weight| {
                scores[target] += weight;
                has[target] = true;
            });
            let out = &mut probabilities[r * classes..(r + 1) * classes];
            if classes == 2 {
                let mut pair = [scores[0], scores[1]];
                self.finalize(&mut pair, [has[0], has[1]], out);
            } else {
                for (s, b) in scores.iter_mut().zip(&self.base_values) {
                    *s += b;
                }
                apply(self.post, &mut scores);
                out.copy_from_slice(&scores);
            }
            let mut best = 0;
            for (i, p) in out.iter().enumerate() {
                if *p > out[best] {
                    best = i;
                }
            }
            winners.push(best);
        }
        let labels = match &self.labels {
            Labels::Ints(l) => {
                tensor_from(&[rows], winners.iter().map(|w| l[*w]).collect::<Vec<i64>>())?
            }
            Labels::Strings(l) => tensor_from(
                &[rows],
                winners
                    .iter()
                    .map(|w| l[*w].clone())
                    .collect::<Vec<String>>(),
            )?,
        };
        Ok(tvec![labels, tensor_from(&[rows, classes], probabilities)?])
    }
}
