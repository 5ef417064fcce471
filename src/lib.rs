//! flightdeck: a terminal operations console for machine-learning models in production.
//!
//! The library holds everything; `main.rs` only parses the command line and calls [`cli::run`].

pub mod cli;
pub mod engine;
pub mod logging;
pub mod model;
pub mod runtime;
pub mod settings;
