//! The write side: the embedded registry, registration, aliases and the journal. No terminal
//! code lives here; the CLI and the console call the same functions.

pub mod evaluate;
pub mod mlflow_ops;
pub mod ops;
pub mod profile;
pub mod register;
pub mod sentinels;
pub mod smoke;
