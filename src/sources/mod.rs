//! The read side: one collector per kind of signal. Parsing is pure (bytes in, view models
//! out) and tested on real payloads; fetching runs in the background with timeouts.

pub mod embedded;
pub mod factory;
pub mod kubernetes;
pub mod kubernetes_store;
pub mod mlflow;
pub mod prometheus;
pub mod source;

pub use source::{RegistryView, Sources};
