//! The one place where ONNX models are loaded and run (tract, pure Rust). The registry, the
//! local server and the smoke tests all go through here, so operator support is extended once.

mod classifier;
mod error;
mod inspect;
mod loaded;
mod operators;
mod proto;
mod tensor;

pub use error::RuntimeError;
pub use inspect::UnsupportedOperator;
pub use loaded::LoadedModel;
pub use tensor::{NamedTensor, TensorData};
