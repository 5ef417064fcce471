//! The read side: one seam per kind of signal (`source.rs`), implemented for each backend (the
//! embedded registry and local servers, Kubernetes, MLflow, Prometheus through `clients`), and
//! the factory that picks them per environment. Every read has a deadline.

pub mod embedded;
pub mod factory;
pub mod kubernetes;
pub mod kubernetes_cache;
pub mod mlflow;
pub mod prometheus;
pub mod source;

pub use source::{RegistryView, Sources};
