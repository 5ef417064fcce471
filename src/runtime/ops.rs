//! The operator set: tract's ONNX operators plus the rewrites and operators flightdeck adds.
//! The ONNX-ML operator pack registers its operators here.

use tract_onnx::Onnx;

/// Operators removed from the graph before tract sees it (see `inspect::rewrite_zipmap`).
pub const REWRITTEN_OPS: &[&str] = &["ZipMap"];

/// The tract ONNX framework with every operator flightdeck supports registered.
pub fn framework() -> Onnx {
    tract_onnx::onnx()
}

/// Whether the framework can build a node of this type.
pub fn supports(framework: &Onnx, op_type: &str) -> bool {
    framework.op_register.0.contains_key(op_type) || REWRITTEN_OPS.contains(&op_type)
}
