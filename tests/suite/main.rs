//! flightdeck's integration tests, built as one binary. Each module below tested as its own
//! binary once; every one of those linked the whole program (tract, kube, the HTTP stack), and 27
//! of them filled CI's disk. One binary links once: run one file's tests with
//! `cargo nextest run --test suite reference_data::` (or `cargo test --test suite reference_data::`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod alerts;
mod alias_race;
mod console;
mod console_snapshots;
mod console_tmux;
mod console_truth;
mod crash_safety;
mod demo_assets;
mod every_environment;
mod fault_matrix;
mod feedback;
mod hostile_environment;
mod incidents;
mod kserve;
mod kserve_scale;
mod kubernetes;
mod layering;
mod mlflow;
mod operations;
mod previews;
mod prometheus;
mod reference_data;
mod register_cli;
mod registry;
mod request_log;
mod rollouts;
mod runtime_matches_onnxruntime;
mod serve_hygiene;
mod serve_protocol;
mod settings;
mod shadow;
mod shell;
mod sources;
mod supervisor;
