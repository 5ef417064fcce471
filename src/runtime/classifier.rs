//! Recognises classifiers and derives their labels as the argmax of the probabilities, rather
//! than trusting the runtime's label output (wrong for some tree ensembles).

use tract_onnx::pb;

use super::proto;
use crate::model::{ClassLabels, ClassifierOutputs, DataType, Signature};

/// Finds the class labels and the label/probabilities output pair, if the model is a
/// classifier in the shape skl2onnx exports: one rank-1 integer or string output (labels) and
/// one rank-2 float output (probabilities) whose width equals the number of classes.
pub fn detect(graph: &pb::GraphProto, signature: &Signature) -> Option<ClassifierOutputs> {
    let classes = class_labels(graph)?;
    let label = signature
        .outputs
        .iter()
        .filter(|o| {
            matches!(
                o.datatype,
                DataType::Int64 | DataType::Int32 | DataType::Bytes
            )
        })
        .find(|o| o.shape.len() == 1 || (o.shape.len() == 2 && o.shape[1] == 1))?;
    let probabilities = signature
        .outputs
        .iter()
        .filter(|o| matches!(o.datatype, DataType::Fp32 | DataType::Fp64))
        .find(|o| o.shape.len() == 2 && (o.shape[1] < 0 || o.shape[1] as usize == classes.len()))?;
    let strings_match =
        matches!(classes, ClassLabels::Strings(_)) == (label.datatype == DataType::Bytes);
    strings_match.then(|| ClassifierOutputs {
        label_output: label.name.clone(),
        probabilities_output: probabilities.name.clone(),
        classes,
    })
}

/// Class labels from, in order of preference: a ZipMap node, a classifier node's
/// `classlabels_*` attribute, or the constant table an ArrayFeatureExtractor looks labels up in.
fn class_labels(graph: &pb::GraphProto) -> Option<ClassLabels> {
    let from_attrs = |node: &pb::NodeProto, ints: &str, strings: &str| {
        if let Some(a) = proto::attribute(node, ints).filter(|a| !a.ints.is_empty()) {
            return Some(ClassLabels::Ints(a.ints.clone()));
        }
        proto::attribute(node, strings)
            .filter(|a| !a.strings.is_empty())
            .map(|a| ClassLabels::Strings(proto::strings_of(a)))
    };
    for node in graph.node.iter().filter(|n| n.op_type == "ZipMap") {
        if let Some(labels) = from_attrs(node, "classlabels_int64s", "classlabels_strings") {
            return Some(labels);
        }
    }
    for node in &graph.node {
        if let Some(labels) = from_attrs(node, "classlabels_ints", "classlabels_strings") {
            return Some(labels);
        }
    }
    for node in graph
        .node
        .iter()
        .filter(|n| n.op_type == "ArrayFeatureExtractor")
    {
        let table = node.input.first()?;
        if let Some(init) = graph.initializer.iter().find(|t| &t.name == table) {
            if let Some(ints) = proto::initializer_ints(init) {
                return Some(ClassLabels::Ints(ints));
            }
            if let Some(strings) = proto::initializer_strings(init) {
                return Some(ClassLabels::Strings(strings));
            }
        }
    }
    None
}

/// Index of the largest value in each row; ties go to the first, as numpy's argmax does.
pub fn argmax_rows(values: &[f64], columns: usize) -> Vec<usize> {
    if columns == 0 {
        return Vec::new();
    }
    values
        .chunks(columns)
        .map(|row| {
            let mut best = 0;
            for (i, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_first_of_ties() {
        assert_eq!(
            argmax_rows(&[0.2, 0.8, 0.5, 0.5, 0.1, 0.3, 0.6, 0.0], 2),
            vec![1, 0, 1, 0]
        );
        assert_eq!(argmax_rows(&[0.1, 0.7, 0.2], 3), vec![1]);
        assert!(argmax_rows(&[], 0).is_empty());
    }
}
