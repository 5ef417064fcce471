//! The operator set: tract's ONNX operators plus flightdeck's ONNX-ML operator pack (scalers,
//! imputers, encoders and fast tree ensembles), so scikit-learn exports load unmodified.

pub(crate) mod attrs;
mod binarizer;
mod imputer;
mod kernel;
mod label_encoder;
mod one_hot_encoder;
mod scaler;
mod tree;
mod tree_classifier;
mod tree_regressor;

use tract_onnx::Onnx;

/// Operators removed from the graph before tract sees it (see `inspect::rewrite_zipmap`).
pub const REWRITTEN_OPS: &[&str] = &["ZipMap"];

/// The tract ONNX framework with every operator flightdeck supports registered. Ours replace
/// tract's where both exist (its TreeEnsembleClassifier is slow and mislabels binary forests).
pub fn framework() -> Onnx {
    let mut onnx = tract_onnx::onnx();
    let ops = &mut onnx.op_register;
    ops.insert("Scaler", scaler::build);
    ops.insert("Imputer", imputer::build);
    ops.insert("Binarizer", binarizer::build);
    ops.insert("OneHotEncoder", one_hot_encoder::build);
    ops.insert("LabelEncoder", label_encoder::build);
    ops.insert("TreeEnsembleClassifier", tree_classifier::build);
    ops.insert("TreeEnsembleRegressor", tree_regressor::build);
    onnx
}

/// Whether the framework can build a node of this type.
pub fn supports(framework: &Onnx, op_type: &str) -> bool {
    framework.op_register.0.contains_key(op_type) || REWRITTEN_OPS.contains(&op_type)
}
