//! flightdeck: a terminal operations console for machine-learning models in production.
//!
//! The library holds everything; `main.rs` only parses the command line and calls [`cli::run`].

// Tests may unwrap: a panic there is a failed test, not a user-facing crash.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

/// This build's identifier (see build.rs): the two binaries of one build share it.
pub const BUILD_ID: &str = env!("FLIGHTDECK_BUILD_ID");

pub mod app;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod k8s;
pub mod keymap;
pub mod logging;
pub mod model;
pub mod runtime;
pub mod serve;
pub mod settings;
pub mod sources;
pub mod theme;
pub mod ui;
