//! The write side: the embedded registry, registration, aliases and the journal. No terminal
//! code lives here; the CLI and the console call the same functions.

mod actor;
mod error;
pub mod evaluate;
pub mod failpoint;
pub mod journal;
pub mod mlflow_ops;
pub mod ops;
pub mod profile;
pub mod register;
pub mod registry;
pub mod sentinels;
pub mod serving;
pub mod smoke;

pub use actor::Actor;
pub use error::EngineError;
pub use registry::Registry;
