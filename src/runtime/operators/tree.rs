//! A tree ensemble flattened for speed: every node of every tree in one array of 16-byte
//! records, children by index, leaf contributions in one side array, so each visit is one
//! comparison and one jump (no per-visit searches).

use std::collections::HashMap;

use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::{TractResult, bail, ensure, format_err};

use super::attrs;

const LEAF: u32 = u32::MAX;

/// How a branch compares the feature value with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
}

fn parse_mode(text: &str) -> TractResult<Option<Mode>> {
    Ok(Some(match text {
        "BRANCH_LEQ" => Mode::Leq,
        "BRANCH_LT" => Mode::Lt,
        "BRANCH_GTE" => Mode::Gte,
        "BRANCH_GT" => Mode::Gt,
        "BRANCH_EQ" => Mode::Eq,
        "BRANCH_NEQ" => Mode::Neq,
        "LEAF" => return Ok(None),
        other => bail!("unknown tree node mode {other:?}"),
    }))
}

/// One node. For a leaf, `feature` is `LEAF` and the children fields delimit its entries in
/// the leaf arrays.
#[derive(Debug, Clone, Copy)]
struct Node {
    feature: u32,
    threshold: f32,
    true_child: u32,
    false_child: u32,
}

#[derive(Debug)]
pub struct Ensemble {
    nodes: Vec<Node>,
    /// Per-node modes, only when some branch is not `BRANCH_LEQ` (the common case is faster).
    modes: Option<Vec<Mode>>,
    /// Per-node "NaN goes to the true branch", only when some node says so.
    missing_true: Option<Vec<bool>>,
    roots: Vec<u32>,
    leaf_targets: Vec<u32>,
    leaf_weights: Vec<f32>,
    /// Highest feature index read, plus one: the input must have at least this many columns.
    pub n_features: usize,
    /// Number of outputs (classes or regression targets) the leaves write to.
    pub n_targets: usize,
}

impl Ensemble {
    /// Parses the `nodes_*` attributes and the leaf attributes with the given prefix
    /// (`class` for classifiers, `target` for regressors).
    pub fn parse(node: &NodeProto, leaf_prefix: &str, n_targets: usize) -> TractResult<Self> {
        let tree_ids = attrs::ints(node, "nodes_treeids").unwrap_or_default();
        let n = tree_ids.len();
        ensure!(n > 0, "the tree ensemble has no nodes");
        let node_ids =
            attrs::require_len(attrs::ints(node, "nodes_nodeids"), node, "nodes_nodeids", n)?;
        let features = attrs::require_len(
            attrs::ints(node, "nodes_featureids"),
            node,
            "nodes_featureids",
            n,
        )?;
        let modes =
            attrs::require_len(attrs::strings(node, "nodes_modes"), node, "nodes_modes", n)?;
        let values = attrs::require_len(
            attrs::floats_or_tensor(node, "nodes_values")?,
            node,
            "nodes_values",
            n,
        )?;
        let trues = attrs::require_len(
            attrs::ints(node, "nodes_truenodeids"),
            node,
            "nodes_truenodeids",
            n,
        )?;
        let falses = attrs::require_len(
            attrs::ints(node, "nodes_falsenodeids"),
            node,
            "nodes_falsenodeids",
            n,
        )?;
        let missing =
            match attrs::ints(node, "nodes_missing_value_tracks_true").filter(|v| !v.is_empty()) {
                Some(v) => attrs::require_len(Some(v), node, "nodes_missing_value_tracks_true", n)?,
                None => vec![0; n],
            };

        let mut index: HashMap<(i64, i64), u32> = HashMap::with_capacity(n);
        for (i, key) in tree_ids.iter().zip(&node_ids).enumerate() {
            if index.insert((*key.0, *key.1), i as u32).is_some() {
                bail!("tree {} has node {} twice", key.0, key.1);
            }
        }
        let child = |tree: i64, id: i64| {
            index
                .get(&(tree, id))
                .copied()
                .ok_or_else(|| format_err!("tree {tree} has no node {id}"))
        };

        let mut parsed_modes = Vec::with_capacity(n);
        let mut nodes = Vec::with_capacity(n);
        let mut n_features = 0usize;
        for i in 0..n {
            let mode = parse_mode(&modes[i])?;
            parsed_modes.push(mode.unwrap_or(Mode::Leq));
            nodes.push(match mode {
                None => Node {
                    feature: LEAF,
                    threshold: 0.0,
                    true_child: 0,
                    false_child: 0,
                },
                Some(_) => {
                    let feature = u32::try_from(features[i])
                        .ok()
                        .filter(|f| *f < LEAF)
                        .ok_or_else(|| {
                            format_err!(
                                "node {} of tree {} reads feature {}",
                                node_ids[i],
                                tree_ids[i],
                                features[i]
                            )
                        })?;
                    n_features = n_features.max(feature as usize + 1);
                    Node {
                        feature,
                        // Compared in f32, as onnxruntime does for float inputs.
                        threshold: values[i] as f32,
                        true_child: child(tree_ids[i], trues[i])?,
                        false_child: child(tree_ids[i], falses[i])?,
                    }
                }
            });
        }

        let (targets, weights) = attach_leaves(node, leaf_prefix, n_targets, &mut nodes, &child)?;

        let roots = find_roots(&nodes, &tree_ids)?;
        check_acyclic(&nodes, &roots)?;
        let modes = parsed_modes
            .iter()
            .any(|m| *m != Mode::Leq)
            .then_some(parsed_modes);
        let missing_true = missing
            .iter()
            .any(|v| *v != 0)
            .then(|| missing.iter().map(|v| *v != 0).collect());
        Ok(Ensemble {
            nodes,
            modes,
            missing_true,
            roots,
            leaf_targets: targets,
            leaf_weights: weights,
            n_features,
            n_targets,
        })
    }

    /// The input as f32 rows with their count and width, refused when rows are narrower than
    /// the features the trees read.
    pub fn rows_of<'t>(
        &self,
        input: &'t tract_onnx::prelude::Tensor,
    ) -> TractResult<(std::borrow::Cow<'t, [f32]>, usize, usize)> {
        let (shape, x) = super::kernel::input_f32(input)?;
        let (rows, columns) = super::kernel::rows_and_columns(&shape);
        ensure!(
            columns >= self.n_features,
            "the trees read feature {} but rows have {columns} columns",
            self.n_features - 1
        );
        Ok((x, rows, columns))
    }

    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Whether every leaf weight is >= 0 (onnxruntime's binary classifier logic depends on it).
    pub fn weights_all_positive(&self) -> bool {
        self.leaf_weights.iter().all(|w| *w >= 0.0)
    }

    /// The distinct outputs the leaves write to.
    pub fn distinct_targets(&self) -> usize {
        let mut seen = vec![false; self.n_targets];
        for t in &self.leaf_targets {
            seen[*t as usize] = true;
        }
        seen.iter().filter(|s| **s).count()
    }

    /// Index of the leaf that row `x` reaches in the tree starting at `root`.
    #[inline]
    fn leaf(&self, root: u32, x: &[f32]) -> usize {
        let mut i = root as usize;
        match (&self.modes, &self.missing_true) {
            (None, None) => loop {
                let n = &self.nodes[i];
                if n.feature == LEAF {
                    return i;
                }
                i = if x[n.feature as usize] <= n.threshold {
                    n.true_child
                } else {
                    n.false_child
                } as usize;
            },
            _ => loop {
                let n = &self.nodes[i];
                if n.feature == LEAF {
                    return i;
                }
                let v = x[n.feature as usize];
                let mode = self.modes.as_ref().map(|m| m[i]).unwrap_or(Mode::Leq);
                let taken = match mode {
                    Mode::Leq => v <= n.threshold,
                    Mode::Lt => v < n.threshold,
                    Mode::Gte => v >= n.threshold,
                    Mode::Gt => v > n.threshold,
                    Mode::Eq => v == n.threshold,
                    Mode::Neq => v != n.threshold,
                };
                let nan_true = v.is_nan() && self.missing_true.as_ref().is_some_and(|m| m[i]);
                i = if taken || nan_true {
                    n.true_child
                } else {
                    n.false_child
                } as usize;
            },
        }
    }

    /// Calls `visit(target, weight)` for every leaf entry row `x` reaches, tree by tree.
    #[inline]
    pub fn for_each_leaf(&self, x: &[f32], mut visit: impl FnMut(usize, f32)) {
        for root in &self.roots {
            let leaf = &self.nodes[self.leaf(*root, x)];
            for k in leaf.true_child as usize..leaf.false_child as usize {
                visit(self.leaf_targets[k] as usize, self.leaf_weights[k]);
            }
        }
    }
}

/// Reads the leaf attributes with `leaf_prefix` and points each leaf node at its run of
/// (target, weight) entries, grouped by node in attribute order: `true_child..false_child`.
fn attach_leaves(
    node: &NodeProto,
    leaf_prefix: &str,
    n_targets: usize,
    nodes: &mut [Node],
    child: &dyn Fn(i64, i64) -> TractResult<u32>,
) -> TractResult<(Vec<u32>, Vec<f32>)> {
    let leaf_trees = attrs::ints(node, &format!("{leaf_prefix}_treeids")).unwrap_or_default();
    let m = leaf_trees.len();
    ensure!(m > 0, "the tree ensemble has no leaf weights");
    let leaf_nodes = attrs::require_len(
        attrs::ints(node, &format!("{leaf_prefix}_nodeids")),
        node,
        "leaf node ids",
        m,
    )?;
    let leaf_ids = attrs::require_len(
        attrs::ints(node, &format!("{leaf_prefix}_ids")),
        node,
        "leaf target ids",
        m,
    )?;
    let leaf_weights = attrs::require_len(
        attrs::floats_or_tensor(node, &format!("{leaf_prefix}_weights"))?,
        node,
        "leaf weights",
        m,
    )?;

    // Leaf entries grouped by node, in attribute order within a node.
    let mut order: Vec<usize> = (0..m).collect();
    let mut leaf_node_of = Vec::with_capacity(m);
    for j in 0..m {
        let at = child(leaf_trees[j], leaf_nodes[j])?;
        ensure!(
            nodes[at as usize].feature == LEAF,
            "leaf weight on branch node {} of tree {}",
            leaf_nodes[j],
            leaf_trees[j]
        );
        let target = usize::try_from(leaf_ids[j])
            .ok()
            .filter(|t| *t < n_targets)
            .ok_or_else(|| {
                format_err!(
                    "leaf weight for output {} but the ensemble has {n_targets}",
                    leaf_ids[j]
                )
            })?;
        leaf_node_of.push((at, target));
    }
    order.sort_by_key(|j| leaf_node_of[*j].0);
    let mut targets = Vec::with_capacity(m);
    let mut weights = Vec::with_capacity(m);
    let mut k = 0;
    while k < m {
        let at = leaf_node_of[order[k]].0;
        let start = targets.len() as u32;
        while k < m && leaf_node_of[order[k]].0 == at {
            targets.push(leaf_node_of[order[k]].1 as u32);
            weights.push(leaf_weights[order[k]] as f32);
            k += 1;
        }
        nodes[at as usize].true_child = start;
        nodes[at as usize].false_child = targets.len() as u32;
    }
    Ok((targets, weights))
}

/// One root per tree: the node no other node points to.
fn find_roots(nodes: &[Node], tree_ids: &[i64]) -> TractResult<Vec<u32>> {
    let mut is_child = vec![false; nodes.len()];
    for n in nodes.iter().filter(|n| n.feature != LEAF) {
        is_child[n.true_child as usize] = true;
        is_child[n.false_child as usize] = true;
    }
    let mut roots: Vec<(i64, u32)> = Vec::new();
    for (i, child) in is_child.iter().enumerate() {
        if !child {
            if roots.iter().any(|(t, _)| *t == tree_ids[i]) {
                bail!("tree {} has more than one root", tree_ids[i]);
            }
            roots.push((tree_ids[i], i as u32));
        }
    }
    roots.sort_by_key(|(tree, _)| *tree);
    Ok(roots.into_iter().map(|(_, r)| r).collect())
}

/// Refuses trees where a walk could loop forever or meet a node twice.
fn check_acyclic(nodes: &[Node], roots: &[u32]) -> TractResult<()> {
    let mut seen = vec![false; nodes.len()];
    let mut stack = Vec::new();
    for root in roots {
        stack.push(*root as usize);
        while let Some(i) = stack.pop() {
            ensure!(
                !seen[i],
                "a tree reaches node {i} twice (a cycle or a shared node)"
            );
            seen[i] = true;
            let n = &nodes[i];
            if n.feature != LEAF {
                stack.push(n.true_child as usize);
                stack.push(n.false_child as usize);
            }
        }
    }
    Ok(())
}

/// The post-transform applied to the aggregated scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
}

pub fn parse_post_transform(node: &NodeProto) -> TractResult<PostTransform> {
    Ok(
        match attrs::string(node, "post_transform")
            .as_deref()
            .unwrap_or("NONE")
        {
            "NONE" => PostTransform::None,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX" => PostTransform::Softmax,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            other => bail!("post_transform {other} is not supported"),
        },
    )
}

/// onnxruntime's logistic, symmetric for accuracy with large magnitudes.
pub fn logistic(v: f32) -> f32 {
    let e = 1.0 / (1.0 + (-v.abs()).exp());
    if v < 0.0 { 1.0 - e } else { e }
}

pub fn apply(post: PostTransform, scores: &mut [f32]) {
    match post {
        PostTransform::None => {}
        PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
        PostTransform::Softmax => softmax(scores, false),
        PostTransform::SoftmaxZero => softmax(scores, true),
    }
}

/// Softmax in f32 as onnxruntime computes it; with `keep_zero`, zero scores stay zero.
fn softmax(scores: &mut [f32], keep_zero: bool) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        if keep_zero && *s == 0.0 {
            continue;
        }
        *s = (*s - max).exp();
        sum += *s;
    }
    if sum > 0.0 {
        for s in scores.iter_mut() {
            if !(keep_zero && *s == 0.0) {
                *s /= sum;
            }
        }
    }
}
