//! Errors from loading or running a model, worded for the person who supplied it.

use super::inspect::UnsupportedOperator;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "the file is not a valid ONNX model ({0}); export it again with skl2onnx/torch.onnx and check it with onnx.checker"
    )]
    NotOnnx(String),
    #[error("the model uses operators this runtime does not support: {}; see the README for the supported list", list(.0))]
    Unsupported(Vec<UnsupportedOperator>),
    #[error("the model is malformed: {0}")]
    Malformed(String),
    #[error("the model could not be prepared for inference: {0}")]
    Prepare(String),
    #[error("input {name:?}: {problem}")]
    BadInput { name: String, problem: String },
    #[error("inference failed: {0}")]
    Inference(String),
}

fn list(ops: &[UnsupportedOperator]) -> String {
    ops.iter()
        .map(|o| o.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
