//! Errors the engine reports to the CLI and the console, each saying what failed and what to do.

use std::path::PathBuf;

use crate::model::NameError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid model name: {0}")]
    BadModelName(NameError),
    #[error("invalid alias name: {0}")]
    BadAliasName(NameError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} was refused: {problem}")]
    Model { path: PathBuf, problem: String },
    #[error("reference data {path}: {problem}")]
    Reference { path: PathBuf, problem: String },
    #[error("labelled data {path}: {problem}")]
    Labelled { path: PathBuf, problem: String },
    #[error("sentinel file {path}: {problem}")]
    Sentinels { path: PathBuf, problem: String },
    #[error("invalid metric {0:?}: write it as NAME=NUMBER, e.g. --metric auc=0.91")]
    BadMetric(String),
    #[error("model {0:?} is not registered; `flightdeck models` lists the registered ones")]
    UnknownModel(String),
    #[error("model {model:?} has no version {version}; `flightdeck versions {model}` lists them")]
    UnknownVersion { model: String, version: u32 },
    #[error(
        "conflict: alias {alias:?} of {model:?} is at revision {actual}, not {expected} as expected{moved}; \
         nothing was changed: look again (`flightdeck versions {model}`) and retry"
    )]
    AliasConflict {
        model: String,
        alias: String,
        expected: u64,
        actual: u64,
        moved: String,
    },
    #[error(
        "the registry at {path} is busy: {holder}; waited {waited_ms} ms. Wait for it to finish or stop it, then retry"
    )]
    Busy {
        path: PathBuf,
        holder: String,
        waited_ms: u64,
    },
    #[error(
        "the registry database {path} is corrupt or not a registry ({detail}). Nothing was changed. \
         Move it aside and restore a backup; artifacts under {artifacts} are kept"
    )]
    Corrupt {
        path: PathBuf,
        artifacts: PathBuf,
        detail: String,
    },
    #[error(
        "the registry database {path} is empty or missing, but the data dir holds {artifacts} stored model artifact(s): it was truncated or deleted, and opening it would start an empty registry that reuses version numbers. Nothing was changed. Restore a backup (`flightdeck restore FILE`), or move the data dir aside to start afresh"
    )]
    RegistryLost { path: PathBuf, artifacts: usize },
    #[error(
        "the registry database {path} was written by a newer flightdeck (schema {found}, this build knows {known}); upgrade flightdeck"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("environment {environment:?} is read-only: refused to {action}. {remedy}")]
    ReadOnly {
        environment: String,
        action: String,
        /// Why it is read-only and what to do instead.
        remedy: String,
    },
    #[error("{model}: {reason}")]
    Refused { model: String, reason: String },
    #[error(
        "{model}: the {gate} gate {verdict}: {detail}; {remedy}, or override with {flag} (the journal records it)",
        remedy = if .verdict == "failed" { "fix the cause" } else { "wait for more traffic" }
    )]
    GateFailed {
        model: String,
        gate: String,
        /// "failed", or "has not enough data yet".
        verdict: String,
        detail: String,
        flag: String,
    },
    #[error("another operation on {model} is under way ({holder}); wait for it to finish")]
    OperationInProgress { model: String, holder: String },
    #[error("{0}")]
    Serving(String),
    /// Serving could not move because another writer owns what it needs (exit 3).
    #[error("{0}")]
    ServingConflict(String),
    #[error("VERIFY FAILED for {model}: {problem}; {then}")]
    VerifyFailed {
        model: String,
        problem: String,
        /// What was done about it: rolled back, or left for a human with the commands to look.
        then: String,
    },
    #[error("registry database {path}: {source}")]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

impl EngineError {
    /// The process exit code scripts can rely on: 3 for a conflict with another operator,
    /// 4 for a refusal in a read-only environment, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::AliasConflict { .. }
            | EngineError::OperationInProgress { .. }
            | EngineError::ServingConflict(_) => 3,
            EngineError::ReadOnly { .. } => 4,
            EngineError::GateFailed { .. } => 2,
            _ => 1,
        }
    }
}
