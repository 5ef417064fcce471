//! Checks an ONNX graph before tract sees it: every operator supported, every name wired, and
//! ZipMap outputs replaced by the probabilities tensor they wrap.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use tract_onnx::Onnx;
use tract_onnx::pb;

use super::error::RuntimeError;
use super::{operators, proto};
use crate::model::{DataType, Signature};

/// An operator the runtime cannot run, as ONNX names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnsupportedOperator {
    pub op_type: String,
    /// `ai.onnx` for the default domain.
    pub domain: String,
}

impl fmt::Display for UnsupportedOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (domain {})", self.op_type, self.domain)
    }
}

/// Operators in the graph (and its subgraphs) that the framework cannot build, in graph order.
pub fn unsupported_operators(framework: &Onnx, graph: &pb::GraphProto) -> Vec<UnsupportedOperator> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    visit_nodes(graph, &mut |node| {
        if !operators::supports(framework, &node.op_type) {
            let domain = if node.domain.is_empty() {
                "ai.onnx".to_string()
            } else {
                node.domain.clone()
            };
            let op = UnsupportedOperator {
                op_type: node.op_type.clone(),
                domain,
            };
            if seen.insert(op.clone()) {
                out.push(op);
            }
        }
    });
    out
}

fn visit_nodes(graph: &pb::GraphProto, f: &mut dyn FnMut(&pb::NodeProto)) {
    for node in &graph.node {
        f(node);
        for attr in &node.attribute {
            if let Some(g) = &attr.g {
                visit_nodes(g, f);
            }
            for g in &attr.graphs {
                visit_nodes(g, f);
            }
        }
    }
}

/// Refuses graphs whose names do not connect: tract assumes they do.
pub fn check_wiring(graph: &pb::GraphProto) -> Result<(), RuntimeError> {
    let mut known: HashSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    known.extend(graph.initializer.iter().map(|t| t.name.as_str()));
    for node in &graph.node {
        known.extend(node.output.iter().map(String::as_str));
    }
    for node in &graph.node {
        for input in node.input.iter().filter(|i| !i.is_empty()) {
            if !known.contains(input.as_str()) {
                return Err(RuntimeError::Malformed(format!(
                    "node {:?} ({}) reads {input:?}, which nothing produces",
                    node.name, node.op_type
                )));
            }
        }
    }
    for output in &graph.output {
        if !known.contains(output.name.as_str()) {
            return Err(RuntimeError::Malformed(format!(
                "graph output {:?} is produced by no node",
                output.name
            )));
        }
    }
    if graph.output.is_empty() {
        return Err(RuntimeError::Malformed("the graph has no outputs".into()));
    }
    Ok(())
}

/// Replaces each ZipMap node (a list of {class: probability} maps, which tract cannot
/// represent) with an Identity, so the graph output carries the probabilities tensor itself.
/// Returns a note for each output so rewritten.
pub fn rewrite_zipmap(graph: &mut pb::GraphProto) -> Vec<String> {
    let mut notes = Vec::new();
    for node in graph.node.iter_mut().filter(|n| n.op_type == "ZipMap") {
        node.op_type = "Identity".into();
        node.domain.clear();
        node.attribute.clear();
        for name in &node.output {
            if let Some(output) = graph.output.iter_mut().find(|o| &o.name == name) {
                // The declared type is a sequence of maps; let tract infer the tensor type.
                output.r#type = None;
                notes.push(format!(
                    "output {name:?} is served as a probabilities tensor [N, classes] instead of ZipMap's list of maps"
                ));
            }
        }
    }
    notes
}

/// The model's signature from the graph's declared inputs and outputs.
pub fn signature(graph: &pb::GraphProto, notes: Vec<String>) -> Result<Signature, RuntimeError> {
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .map(proto::spec_of)
        .collect::<Result<Vec<_>, _>>()
        .map_err(RuntimeError::Malformed)?;
    if inputs.is_empty() {
        return Err(RuntimeError::Malformed("the graph has no inputs".into()));
    }
    let mut outputs = Vec::new();
    for output in &graph.output {
        match proto::spec_of(output) {
            Ok(spec) => outputs.push(spec),
            // Rewritten ZipMap outputs have no declared type: they carry probabilities.
            Err(_) if proto::tensor_type(output).is_none() => {
                outputs.push(crate::model::TensorSpec {
                    name: output.name.clone(),
                    datatype: DataType::Fp32,
                    shape: vec![-1, -1],
                })
            }
            Err(e) => return Err(RuntimeError::Malformed(e)),
        }
    }
    let categories = input_categories(graph, &inputs);
    Ok(Signature {
        inputs,
        outputs,
        classifier: None,
        notes,
        categories,
    })
}

/// The categories each text input's encoder knows, in the order it encodes them: the input read
/// (through reshapes, a one-input Concat or a Gather, as skl2onnx wires a ColumnTransformer) by a
/// OneHotEncoder (`cats_strings`), LabelEncoder (`keys_strings`) or
/// CategoryMapper (`cats_strings`), as skl2onnx exports scikit-learn's encoders.
fn input_categories(
    graph: &pb::GraphProto,
    inputs: &[crate::model::TensorSpec],
) -> std::collections::BTreeMap<String, Vec<String>> {
    const PASS_THROUGH: [&str; 5] = ["Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"];
    let mut found = std::collections::BTreeMap::new();
    for input in inputs.iter().filter(|i| i.datatype == DataType::Bytes) {
        // Follow the input's value through shape-only nodes to the node that reads it.
        let mut names = vec![input.name.as_str()];
        let mut seen = 0;
        while seen < names.len() && names.len() < 64 {
            let name = names[seen];
            seen += 1;
            for node in graph
                .node
                .iter()
                .filter(|n| n.input.first().map(String::as_str) == Some(name))
            {
                let categories = match node.op_type.as_str() {
                    "OneHotEncoder" | "CategoryMapper" => {
                        operators::attrs::strings(node, "cats_strings")
                    }
                    "LabelEncoder" => operators::attrs::strings(node, "keys_strings"),
                    // A one-input Concat and a column Gather select, they do not mix columns.
                    op if PASS_THROUGH.contains(&op)
                        || (op == "Concat" && node.input.len() == 1)
                        || op == "Gather" =>
                    {
                        names.extend(node.output.iter().map(String::as_str));
                        None
                    }
                    _ => None,
                };
                if let Some(categories) = categories.filter(|c| !c.is_empty()) {
                    found.entry(input.name.clone()).or_insert(categories);
                }
            }
        }
    }
    found
}
