//! Where operations read and move a model's aliases, and what gates learn of a version: one
//! trait with the embedded registry (SQLite, compare-and-swap on revisions) and MLflow's
//! registry (`mlflow_ops.rs`) behind it, so the lock, verify, auto-rollback, failpoints and the
//! journal are the same code for both.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::gates::SmokeEvidence;
use crate::error::EngineError;
use crate::model::Evaluation;
use crate::model::{AliasName, ModelName, TensorSpec};
use crate::store::Actor;
use crate::store::Registry;
use crate::store::registry::aliases::{AliasChange, Expectation};

/// The two aliases operations move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Production,
    Canary,
}

impl Role {
    pub const BOTH: [Role; 2] = [Role::Production, Role::Canary];

    /// The key of this alias in a plan's revisions.
    pub fn key(self) -> &'static str {
        match self {
            Role::Production => AliasName::PRODUCTION,
            Role::Canary => AliasName::CANARY,
        }
    }

    pub fn of(self, state: &super::DeploymentState) -> Option<u32> {
        match self {
            Role::Production => state.production,
            Role::Canary => state.canary,
        }
    }
}

/// A model's production and canary as the registry holds them now, with the tokens a later
/// move is checked against (revisions in the embedded registry; versions in MLflow, which has
/// no compare-and-swap and is re-read right before each write).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    pub production: Option<u32>,
    pub canary: Option<u32>,
    pub revisions: BTreeMap<String, u64>,
}

impl Held {
    pub fn of(&self, role: Role) -> Option<u32> {
        match role {
            Role::Production => self.production,
            Role::Canary => self.canary,
        }
    }

    pub fn revision(&self, role: Role) -> u64 {
        self.revisions.get(role.key()).copied().unwrap_or(0)
    }
}

/// What gates judge a version on, beyond its smoke test.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionFacts {
    /// Its inputs, or why they are not known (an MLflow artifact that does not load).
    pub inputs: Result<Vec<TensorSpec>, String>,
    pub pipeline_version: Option<String>,
}

/// One alias an operation moves: which role, to which version (`None`: removed), and the token
/// it must still have (the one read when planning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub role: Role,
    pub to: Option<u32>,
    pub expected: u64,
}

/// An answer from a registry, not there yet.
pub type Pending<'a, T> = BoxFuture<'a, Result<T, EngineError>>;

/// Reads and moves aliases, and answers what gates ask of a version. Every call has its own
/// deadline inside (a backend that hangs answers with an error).
pub trait OpRegistry: Send + Sync {
    /// Said after a plan's sentence, when the aliases are not flightdeck's own (e.g. "MLflow
    /// aliases champion / challenger").
    fn aliases_note(&self) -> Option<String> {
        None
    }
    /// Production and canary now; `UnknownModel` when the model is not registered.
    fn held<'a>(&'a self, model: &'a ModelName) -> Pending<'a, Held>;
    /// Makes `change`: points its role at its version (or removes it) if the role's token is
    /// still the expected one; an `AliasConflict` otherwise. Returns the new token.
    fn set<'a>(&'a self, model: &'a ModelName, change: Move, actor: &'a Actor) -> Pending<'a, u64>;
    /// The version's inputs and pipeline; `UnknownVersion` when it does not exist.
    fn facts<'a>(&'a self, model: &'a ModelName, version: u32) -> Pending<'a, VersionFacts>;
    /// The version's latest smoke test, running one when there is none and `run_if_missing`;
    /// `None` when there is none and none was run.
    fn smoke<'a>(
        &'a self,
        model: &'a ModelName,
        version: u32,
        run_if_missing: bool,
        progress: crate::model::Progress<'a>,
    ) -> Pending<'a, Option<SmokeEvidence>>;
    /// The latest evaluation of `version` (registries that keep none answer `None`).
    fn evaluation<'a>(
        &'a self,
        _model: &'a ModelName,
        _version: u32,
    ) -> Pending<'a, Option<Evaluation>> {
        async { Ok(None) }.boxed()
    }
    /// Whether the version's stored file is whole (its content matches its sha256): a damaged
    /// file must not be promoted or deployed. Registries whose artifact check is the smoke test
    /// (MLflow) answer `None`: nothing more to check.
    fn artifact<'a>(
        &'a self,
        _model: &'a ModelName,
        _version: u32,
    ) -> Pending<'a, Option<Result<String, String>>> {
        async { Ok(None) }.boxed()
    }
    /// Earlier production versions the registry itself remembers, newest first: where a
    /// rollback goes when the journal has no production history.
    fn earlier_production<'a>(&'a self, model: &'a ModelName) -> Pending<'a, Vec<u32>>;
}

/// The embedded registry: SQLite in the data dir, opened for each call (a connection may be
/// sent between threads, not shared).
pub struct EmbeddedOpRegistry {
    data_dir: PathBuf,
    lock_timeout: Duration,
    /// The flightdeck executable a missing smoke test runs its throwaway server with.
    program: PathBuf,
}

impl EmbeddedOpRegistry {
    pub fn new(data_dir: PathBuf, lock_timeout: Duration, program: PathBuf) -> Self {
        Self {
            data_dir,
            lock_timeout,
            program,
        }
    }

    fn open(&self) -> Result<Registry, EngineError> {
        Registry::open_with_timeout(&self.data_dir, self.lock_timeout)
    }
}

/// A smoke report as a gate reads it.
pub fn smoke_evidence(report: &crate::model::SmokeReport) -> SmokeEvidence {
    match report.first_failure() {
        None => SmokeEvidence {
            passed: true,
            detail: format!(
                "passed its smoke test ({})",
                report.at.format("%Y-%m-%d %H:%M UTC")
            ),
        },
        Some(failed) => SmokeEvidence {
            passed: false,
            detail: format!(
                "{}: {} ({})",
                failed.name,
                failed.detail,
                report.at.format("%Y-%m-%d %H:%M UTC")
            ),
        },
    }
}

impl OpRegistry for EmbeddedOpRegistry {
    fn held<'a>(&'a self, model: &'a ModelName) -> Pending<'a, Held> {
        async move {
            let registry = self.open()?;
            if !registry.model_exists(model)? {
                return Err(EngineError::UnknownModel(model.to_string()));
            }
            let aliases = registry.aliases(model)?;
            Ok(Held {
                production: crate::model::version_of(&aliases, AliasName::PRODUCTION),
                canary: crate::model::version_of(&aliases, AliasName::CANARY),
                revisions: aliases
                    .iter()
                    .map(|a| (a.alias.to_string(), a.revision))
                    .collect(),
            })
        }
        .boxed()
    }

    fn set<'a>(&'a self, model: &'a ModelName, change: Move, actor: &'a Actor) -> Pending<'a, u64> {
        async move {
            let Move { role, to, expected } = change;
            let alias = match role {
                Role::Production => AliasName::production(),
                Role::Canary => AliasName::canary(),
            };
            let change = AliasChange {
                model: model.clone(),
                alias,
                to_version: to,
                expect: Expectation::Revision(expected),
            };
            Ok(self.open()?.move_alias(&change, actor)?.revision)
        }
        .boxed()
    }

    fn facts<'a>(&'a self, model: &'a ModelName, version: u32) -> Pending<'a, VersionFacts> {
        async move {
            let record = self.open()?.version(model, version)?;
            Ok(VersionFacts {
                inputs: Ok(record.signature.inputs),
                pipeline_version: record.lineage.pipeline_version,
            })
        }
        .boxed()
    }

    fn smoke<'a>(
        &'a self,
        model: &'a ModelName,
        version: u32,
        run_if_missing: bool,
        progress: crate::model::Progress<'a>,
    ) -> Pending<'a, Option<SmokeEvidence>> {
        async move {
            let mut registry = self.open()?;
            let report = match registry.latest_smoke(model, version)? {
                Some(report) => report,
                None if run_if_missing => {
                    crate::engine::smoke::smoke(
                        &mut registry,
                        &self.program,
                        model,
                        version,
                        &crate::engine::smoke::SmokeOptions::default(),
                        progress,
                    )
                    .await?
                }
                None => return Ok(None),
            };
            Ok(Some(smoke_evidence(&report)))
        }
        .boxed()
    }

    fn evaluation<'a>(
        &'a self,
        model: &'a ModelName,
        version: u32,
    ) -> Pending<'a, Option<Evaluation>> {
        async move { self.open()?.latest_evaluation(model, version) }.boxed()
    }

    fn artifact<'a>(
        &'a self,
        model: &'a ModelName,
        version: u32,
    ) -> Pending<'a, Option<Result<String, String>>> {
        async move {
            let registry = self.open()?;
            let record = registry.version(model, version)?;
            let root = registry.artifacts_root().to_path_buf();
            let sha = record.sha256.clone();
            // Hashing a large file is CPU and disk work: off the async workers.
            let checked = tokio::task::spawn_blocking(move || {
                crate::store::registry::artifacts::load(&root, &sha).map(|b| b.len())
            })
            .await
            .map_err(|e| EngineError::Serving(e.to_string()))?;
            Ok(Some(match checked {
                Ok(size) => Ok(format!(
                    "v{version}'s stored file ({size} bytes) matches its sha256 {}",
                    &record.sha256[..12]
                )),
                Err(e) => Err(format!(
                    "v{version}'s stored file is damaged ({e}); register the original file again to repair it (`flightdeck register {model} FILE`)"
                )),
            }))
        }
        .boxed()
    }

    fn earlier_production<'a>(&'a self, model: &'a ModelName) -> Pending<'a, Vec<u32>> {
        async move {
            let history = self
                .open()?
                .alias_history(model, &AliasName::production())?;
            let mut versions: Vec<u32> = Vec::new();
            for v in history.iter().rev().filter_map(|m| m.to_version) {
                if !versions.contains(&v) {
                    versions.push(v);
                }
            }
            Ok(versions)
        }
        .boxed()
    }
}
