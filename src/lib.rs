//! flightdeck: a terminal operations console for machine-learning models in production.
//!
//! The library holds everything; `main.rs` parses the command line, hands `flightdeck serve` to
//! its sibling binary `flightdeck-serve` when it is installed, and calls [`cli::run`].
//!
//! # Module map
//!
//! Floors, lowest first. A module imports only the modules its row names (`tests/suite/layering.rs`
//! reads this table and every `crate::` path in `src/`, and fails naming the file and the line
//! of any other import). Two words keep one meaning each: a **model server** is one
//! `flightdeck serve` process; **serving** is where an environment's versions run (local model
//! servers or KServe).
//!
//! | module | what it is | may import |
//! | --- | --- | --- |
//! | `model` | the data types every floor shares: names, versions, plans, reports, rows | - |
//! | `stats` | statistics checked against numpy, scipy and scikit-learn: PSI, KS, JS, chi-square, quantiles, AUC, accuracy and log loss | - |
//! | `keymap` | key bindings and the config's overrides | - |
//! | `theme` | colour themes | - |
//! | `logging` | the log file | - |
//! | `failpoint` | named pause points for crash tests | - |
//! | `error` | `EngineError`: what failed and what to do, for the CLI and the console | model |
//! | `store` | the data dir: SQLite registry, journal, who acts, the holder lock | model, error |
//! | `runtime` | loading and running ONNX models (tract) | model |
//! | `clients` | HTTP: bounded answers, a model server's endpoints and metrics, Prometheus, MLflow | model, stats |
//! | `settings` | the config file, environments and command-line overrides | model, store, clients, keymap, theme |
//! | `k8s` | the Kubernetes API: client, InferenceService, slim objects | model, settings |
//! | `model_server` | `flightdeck serve`: the local ONNX model server | model, stats, store, runtime |
//! | `serving` | where versions run: local model servers under supervisors, or KServe | model, clients, settings, k8s, failpoint |
//! | `engine` | the write side: register, smoke, evaluate, and the one operations path | model, stats, error, store, clients, runtime, settings, k8s, serving, failpoint |
//! | `sources` | the read side: one seam per signal, and each backend's reader | model, error, store, clients, settings, k8s, serving, engine |
//! | `app` | the console's state machine: messages in, state and effects out (pure: no I/O, no clock) | model, clients, settings, engine, keymap, theme |
//! | `ui` | drawing the state (pure), noting where the selectable list went | model, clients, app, keymap, theme |
//! | `console` | the shells: the terminal, the one loop, the effect executor; the headless run of `status` and `snapshot` | model, store, settings, sources, engine, app, ui, keymap, theme |
//! | `demo` | `flightdeck demo`: models, data, traffic and the guided tour | model, store, clients, settings, serving, engine, app, console |
//! | `cli` | the command line, one file per command | every module |

// Tests may unwrap: a panic there is a failed test, not a user-facing crash.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

/// This build's identifier (see build.rs): the two binaries of one build share it.
pub const BUILD_ID: &str = env!("FLIGHTDECK_BUILD_ID");

pub mod app;
pub mod cli;
pub mod clients;
pub mod console;
pub mod demo;
pub mod engine;
pub mod error;
pub mod failpoint;
pub mod k8s;
pub mod keymap;
pub mod logging;
pub mod model;
pub mod model_server;
pub mod runtime;
pub mod serving;
pub mod settings;
pub mod sources;
pub mod stats;
pub mod store;
pub mod theme;
pub mod ui;
