//! MLflow's registry as operations move it: the operator (`ops`) moves MLflow's aliases (by
//! default `champion` = production, `challenger` = canary) through [`MlflowOpRegistry`], the
//! previous champion kept in the registered model's tag `flightdeck.previous_champion`. A
//! version's smoke test is its artifact check: the ONNX file fetched (`get-download-uri`,
//! proxied `mlflow-artifacts:`), checked against the version's `onnx.sha256` tag, loaded and run
//! on neutral rows, so a broken or tampered file never takes traffic unless overridden. The
//! journal stays flightdeck's own.

use sha2::Digest;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::FutureExt;

use super::Pending;
use super::{
    EmbeddedOpRegistry, Held as HeldAliases, Move, OpRegistry, Role, SmokeEvidence, VersionFacts,
};
use crate::clients::mlflow::{MlModel, MlflowClient, proxied_path, tag};
use crate::error::EngineError;
use crate::model::ModelName;
use crate::settings::Environment;
use crate::store::Actor;

/// The registered model's tag holding the champion before the last change.
pub const PREVIOUS_TAG: &str = "flightdeck.previous_champion";
/// The version tag holding the sha256 of its ONNX file.
pub const SHA_TAG: &str = "onnx.sha256";

/// MLflow's registry, for writing.
pub struct MlflowWriter {
    client: MlflowClient,
    production: String,
    canary: String,
}

/// The aliases and the rollback target of one model, as MLflow holds them now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    pub production: Option<u32>,
    pub canary: Option<u32>,
    pub previous: Option<u32>,
}

impl MlflowWriter {
    pub fn new(environment: &Environment) -> Result<Self, String> {
        let base = environment
            .mlflow_url
            .clone()
            .ok_or("the environment has no mlflow_url")?;
        Ok(MlflowWriter {
            client: MlflowClient::new(crate::clients::http::client()?, &base),
            production: environment.mlflow_production_alias.clone(),
            canary: environment.mlflow_canary_alias.clone(),
        })
    }

    /// The model's production, canary and previous champion.
    pub async fn held(&self, model: &str) -> Result<Held, String> {
        let model = self.client.registered_model(model).await?;
        let alias = |name: &str| {
            model
                .aliases
                .iter()
                .find(|a| a.alias == name)
                .and_then(|a| a.version.parse().ok())
        };
        Ok(Held {
            production: alias(&self.production),
            canary: alias(&self.canary),
            previous: tag(&model.tags, PREVIOUS_TAG).and_then(|v| v.parse().ok()),
        })
    }

    async fn set_previous(&self, model: &str, version: u32) -> Result<(), String> {
        self.client
            .set_model_tag(model, PREVIOUS_TAG, &version.to_string())
            .await
    }

    /// Whether `version` of `model` exists in MLflow: `Ok(false)` for MLflow's 404.
    pub async fn version_exists(&self, model: &str, version: u32) -> Result<bool, String> {
        match self.client.model_version(model, version).await {
            Ok(_) => Ok(true),
            Err(e) if e.contains("RESOURCE_DOES_NOT_EXIST") || e.contains("HTTP 404") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The version's ONNX file, fetched, checked against its `onnx.sha256` tag, loaded and run
    /// on neutral rows: its inputs once it loads, and what it says in words or why it may not
    /// take traffic.
    pub async fn check_artifact(&self, model: &str, version: u32) -> ArtifactCheck {
        match self.fetch_artifact(model, version).await {
            Ok((bytes, checksum)) => {
                // Optimising a plan and running it is CPU work (seconds for a large tree
                // ensemble): off the async workers, which also carry the console's messages.
                let size = bytes.len();
                let tried = tokio::task::spawn_blocking(move || load_and_try(&bytes)).await;
                match tried {
                    Ok(mut check) => {
                        check.verdict = check
                            .verdict
                            .map(|answered| {
                                format!("model.onnx {size} bytes, {checksum}, loads, {answered}")
                            })
                            .map_err(|e| format!("v{version}'s model.onnx {e}"));
                        check
                    }
                    Err(e) => ArtifactCheck::failed(format!("the artifact check stopped: {e}")),
                }
            }
            Err(e) => ArtifactCheck::failed(e),
        }
    }

    /// The version's ONNX file and what its checksum showed, or why it cannot be used.
    async fn fetch_artifact(&self, model: &str, version: u32) -> Result<(Vec<u8>, String), String> {
        let fetched = self.fetch(model, version, false).await?;
        Ok((fetched.bytes, fetched.checksum))
    }

    /// The version's ONNX file (the ONNX flavour's file under its download URI: a run's
    /// artifacts or an MLflow 3 logged model's), checked against its `onnx.sha256` tag; with
    /// `whole`, also its run (lineage) and a `sentinels.json` beside the model or in the run.
    pub async fn fetch(&self, model: &str, version: u32, whole: bool) -> Result<Fetched, String> {
        let entry = self.client.model_version(model, version).await?;
        let expected = tag(&entry.tags, SHA_TAG).map(str::to_lowercase);
        let uri = self.client.download_uri(model, version).await?;
        let root = proxied_path(&uri).ok_or_else(|| {
            format!(
                "v{version}'s files are at {uri}, which flightdeck cannot fetch (only MLflow's proxied mlflow-artifacts: store; start MLflow with --serve-artifacts)"
            )
        })?;
        let status_text = |status: u16| {
            reqwest::StatusCode::from_u16(status)
                .map(|s| s.to_string())
                .unwrap_or_else(|_| status.to_string())
        };
        // The MLmodel file says the flavour; a version registered from a bare directory has
        // none, and its model.onnx is taken as it is.
        let file = match self.client.artifact(&format!("{root}/MLmodel")).await? {
            Ok(bytes) => {
                let mlmodel = MlModel::parse(&String::from_utf8_lossy(&bytes))
                    .map_err(|e| format!("v{version}: {e}"))?;
                match mlmodel.onnx_file() {
                    Some(file) => file.to_string(),
                    None => return Err(not_onnx(model, version, &mlmodel.flavor_names())),
                }
            }
            Err(_) => "model.onnx".to_string(),
        };
        let bytes = self
            .client
            .artifact(&format!("{root}/{file}"))
            .await?
            .map_err(|status| {
                format!(
                    "v{version} has no {file} under {uri} (HTTP {})",
                    status_text(status)
                )
            })?;
        let actual = format!("{:x}", sha2::Sha256::digest(&bytes));
        let checksum = match expected {
            Some(e) if e == actual => format!("sha256 matches {SHA_TAG}"),
            Some(e) => {
                return Err(format!(
                    "v{version}'s {file} has sha256 {actual}, but its {SHA_TAG} tag says {e}: the file changed after registration"
                ));
            }
            None => format!("sha256 {actual} (no {SHA_TAG} tag to check it against)"),
        };
        let mut fetched = Fetched {
            bytes,
            sha256: actual,
            checksum,
            source: format!("{}/#/models/{model}/versions/{version}", self.client.base()),
            entry,
            run: None,
            sentinels: None,
        };
        if !whole {
            return Ok(fetched);
        }
        if let Some(run_id) = fetched.entry.run_id.clone().filter(|r| !r.is_empty()) {
            fetched.run = Some(self.client.run(&run_id).await?);
        }
        let run_root = fetched
            .run
            .as_ref()
            .and_then(|r| r.info.artifact_uri.as_deref())
            .and_then(proxied_path);
        for place in std::iter::once(root).chain(run_root) {
            if let Ok(bytes) = self
                .client
                .artifact(&format!("{place}/sentinels.json"))
                .await?
            {
                fetched.sentinels = Some(bytes);
                break;
            }
        }
        Ok(fetched)
    }
}

/// A version's files as fetched from MLflow.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub sha256: String,
    /// What the checksum showed, in words.
    pub checksum: String,
    /// Where the version is in MLflow's UI.
    pub source: String,
    pub entry: crate::clients::mlflow::MlflowVersion,
    pub run: Option<crate::clients::mlflow::Run>,
    /// A `sentinels.json` beside the model or in its run's artifacts.
    pub sentinels: Option<Vec<u8>>,
}

/// Why a version of another flavour cannot be served, and how to make it servable.
fn not_onnx(model: &str, version: u32, flavours: &[&str]) -> String {
    format!(
        "v{version} of {model} is not ONNX (logged as {}): flightdeck serves ONNX. Export it (for scikit-learn: skl2onnx's to_onnx(model, X[:1])) and log that with mlflow.onnx.log_model(onnx_model, name=\"model\", registered_model_name=\"{model}\")",
        if flavours.is_empty() {
            "no flavour".to_string()
        } else {
            flavours.join(", ")
        }
    )
}

/// What fetching, checking, loading and trying a version's artifact showed.
#[derive(Debug, Clone)]
pub struct ArtifactCheck {
    /// Its inputs, once it loads.
    pub inputs: Result<Vec<crate::model::TensorSpec>, String>,
    /// What it showed in words, or why it may not take traffic.
    pub verdict: Result<String, String>,
}

impl ArtifactCheck {
    fn failed(why: String) -> Self {
        ArtifactCheck {
            inputs: Err(why.clone()),
            verdict: Err(why),
        }
    }
}

/// Loads the file and runs it on neutral rows (the verdict completes "v3's model.onnx ...").
fn load_and_try(bytes: &[u8]) -> ArtifactCheck {
    let loaded = match crate::runtime::LoadedModel::from_bytes(bytes) {
        Ok(loaded) => loaded,
        Err(e) => return ArtifactCheck::failed(format!("does not load: {e}")),
    };
    ArtifactCheck {
        inputs: Ok(loaded.signature().inputs.clone()),
        verdict: answers_sanely(&loaded).map_err(|e| format!("loads, but {e}")),
    }
}

/// Runs the model on a few neutral rows, in this process, and applies the smoke test's checks
/// that hold for any input (finite outputs; probabilities summing to 1): MLflow versions carry no
/// sentinel cases, so this is what catches a version that loads but answers nonsense.
fn answers_sanely(model: &crate::runtime::LoadedModel) -> Result<String, String> {
    let inputs = model.neutral_inputs(NEUTRAL_ROWS);
    let started = std::time::Instant::now();
    let outputs = model
        .run(&inputs)
        .map_err(|e| format!("fails on {NEUTRAL_ROWS} neutral rows: {e}"))?;
    let took = started.elapsed();
    let checks =
        crate::engine::smoke::output_checks(&[outputs], model.signature().classifier.as_ref());
    match checks.iter().find(|c| !c.passed) {
        Some(failed) => Err(format!(
            "on {NEUTRAL_ROWS} neutral rows {} ({})",
            failed.detail, failed.name
        )),
        None => Ok(format!(
            "answers {NEUTRAL_ROWS} neutral rows sanely in {} µs",
            took.as_micros()
        )),
    }
}

/// Rows of zeros the artifact check runs through a fetched model.
const NEUTRAL_ROWS: usize = 4;

/// How long an artifact check is reused within one operator (a plan asks for a version's
/// inputs and its check; a later plan checks the file again).
const CHECK_REUSED_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// A checked artifact and when it was checked, by (model, version).
type CheckCache = HashMap<(String, u32), (std::time::Instant, ArtifactCheck)>;

/// MLflow's registry as operations move it: `champion`/`challenger` aliases (configurable),
/// the previous champion in a tag, versions judged by their fetched artifact, or, with local
/// serving, copied into the local registry and smoke-tested there like a local version.
pub struct MlflowOpRegistry {
    writer: MlflowWriter,
    checks: Mutex<CheckCache>,
    local: Option<LocalCopies>,
}

/// The local registry MLflow's versions are copied into for local servers to serve them.
struct LocalCopies {
    embedded: EmbeddedOpRegistry,
    data_dir: PathBuf,
    lock_timeout: Duration,
    /// Who the copies are journaled as.
    actor: Actor,
    /// Versions copied (or found already there) by this registry, not fetched again.
    done: Mutex<HashSet<(String, u32)>>,
}

impl MlflowOpRegistry {
    pub fn new(environment: &Environment) -> Result<Self, String> {
        Ok(MlflowOpRegistry {
            writer: MlflowWriter::new(environment)?,
            checks: Mutex::default(),
            local: None,
        })
    }

    /// With local serving: versions about to be served are copied into the local registry in
    /// `data_dir` first, and their smoke test is the local one (sentinels included).
    pub fn serving_locally(
        mut self,
        data_dir: PathBuf,
        lock_timeout: Duration,
        program: PathBuf,
        actor: Actor,
    ) -> Self {
        self.local = Some(LocalCopies {
            embedded: EmbeddedOpRegistry::new(data_dir.clone(), lock_timeout, program),
            data_dir,
            lock_timeout,
            actor,
            done: Mutex::default(),
        });
        self
    }

    /// Makes sure the local registry holds `version` as MLflow has it: fetched, checked and
    /// copied once per registry; or why it cannot be served.
    async fn copied(
        &self,
        local: &LocalCopies,
        model: &ModelName,
        version: u32,
    ) -> Result<(), String> {
        let key = (model.to_string(), version);
        if local.done.lock().is_ok_and(|done| done.contains(&key)) {
            return Ok(());
        }
        let fetched = self.writer.fetch(model.as_str(), version, true).await?;
        let (data_dir, lock_timeout) = (local.data_dir.clone(), local.lock_timeout);
        let (model_name, actor) = (model.clone(), local.actor.clone());
        // Loading the graph and writing SQLite and the file are blocking work.
        tokio::task::spawn_blocking(move || {
            let mut registry = crate::store::Registry::open_with_timeout(&data_dir, lock_timeout)?;
            crate::engine::mirror::mirror(&mut registry, &model_name, version, &fetched, &actor)
        })
        .await
        .map_err(|e| format!("copying v{version} stopped: {e}"))?
        .map_err(|e| e.to_string())?;
        if let Ok(mut done) = local.done.lock() {
            done.insert(key);
        }
        Ok(())
    }

    fn refused(model: &ModelName, reason: String) -> EngineError {
        EngineError::Refused {
            model: model.to_string(),
            reason,
        }
    }

    /// The version's artifact check, fetched once per [`CHECK_REUSED_FOR`].
    async fn checked(&self, model: &ModelName, version: u32) -> ArtifactCheck {
        let key = (model.to_string(), version);
        if let Ok(cache) = self.checks.lock()
            && let Some((at, check)) = cache.get(&key)
            && at.elapsed() < CHECK_REUSED_FOR
        {
            return check.clone();
        }
        let check = self.writer.check_artifact(model.as_str(), version).await;
        if let Ok(mut cache) = self.checks.lock() {
            cache.retain(|_, (at, _)| at.elapsed() < CHECK_REUSED_FOR);
            cache.insert(key, (std::time::Instant::now(), check.clone()));
        }
        check
    }

    /// The model's aliases and previous champion as MLflow holds them now.
    async fn read(&self, model: &ModelName) -> Result<Held, EngineError> {
        self.writer
            .held(model.as_str())
            .await
            .map_err(|e| Self::refused(model, e))
    }

    fn alias_name(&self, role: Role) -> &str {
        match role {
            Role::Production => &self.writer.production,
            Role::Canary => &self.writer.canary,
        }
    }
}

impl OpRegistry for MlflowOpRegistry {
    fn aliases_note(&self) -> Option<String> {
        Some(format!(
            "MLflow aliases {} / {}",
            self.writer.production, self.writer.canary
        ))
    }

    fn held<'a>(&'a self, model: &'a ModelName) -> Pending<'a, HeldAliases> {
        async move {
            let held = self.read(model).await?;
            Ok(HeldAliases {
                production: held.production,
                canary: held.canary,
                // No compare-and-swap in MLflow: the versions themselves are the tokens, read
                // again right before every write.
                revisions: [
                    (
                        Role::Production.key().to_string(),
                        u64::from(held.production.unwrap_or(0)),
                    ),
                    (
                        Role::Canary.key().to_string(),
                        u64::from(held.canary.unwrap_or(0)),
                    ),
                ]
                .into_iter()
                .collect(),
            })
        }
        .boxed()
    }

    fn set<'a>(
        &'a self,
        model: &'a ModelName,
        change: Move,
        _actor: &'a Actor,
    ) -> Pending<'a, u64> {
        async move {
            let Move { role, to, expected } = change;
            let name = model.as_str();
            let refused = |e: String| Self::refused(model, e);
            let held = self.read(model).await?;
            let now = match role {
                Role::Production => held.production,
                Role::Canary => held.canary,
            };
            let actual = u64::from(now.unwrap_or(0));
            if actual != expected {
                return Err(EngineError::AliasConflict {
                    model: name.to_string(),
                    alias: self.alias_name(role).to_string(),
                    expected,
                    actual,
                    moved: format!(
                        " (MLflow's {} alias points at {} now; it was read again right before writing)",
                        self.alias_name(role),
                        now.map(|v| format!("v{v}")).unwrap_or_else(|| "nothing".into())
                    ),
                });
            }
            if role == Role::Production
                && let Some(old) = held.production
                && to != Some(old)
            {
                // Kept for the registry's own record of the previous champion.
                self.writer.set_previous(name, old).await.map_err(refused)?;
            }
            match to {
                Some(v) => {
                    self.writer
                        .client
                        .set_alias(name, self.alias_name(role), v)
                        .await
                }
                None => {
                    self.writer
                        .client
                        .delete_alias(name, self.alias_name(role))
                        .await
                }
            }
            .map_err(refused)?;
            Ok(u64::from(to.unwrap_or(0)))
        }
        .boxed()
    }

    fn facts<'a>(&'a self, model: &'a ModelName, version: u32) -> Pending<'a, VersionFacts> {
        async move {
            let exists = self
                .writer
                .version_exists(model.as_str(), version)
                .await
                .map_err(|e| Self::refused(model, e))?;
            if !exists {
                return Err(EngineError::UnknownVersion {
                    model: model.to_string(),
                    version,
                });
            }
            // Another flavour can never be served: refused outright, with how to export it,
            // rather than as failed gates an override could seem to answer. (A version already
            // copied is ONNX: its MLmodel is not read again.)
            let copied = self.local.as_ref().is_some_and(|local| {
                local
                    .done
                    .lock()
                    .is_ok_and(|done| done.contains(&(model.to_string(), version)))
            });
            if !copied
                && let Ok(Some(flavours)) =
                    self.writer.client.flavours(model.as_str(), version).await
                && !flavours.iter().any(|f| f == "onnx")
            {
                let flavours: Vec<&str> = flavours.iter().map(String::as_str).collect();
                return Err(Self::refused(
                    model,
                    not_onnx(model.as_str(), version, &flavours),
                ));
            }
            if let Some(local) = &self.local {
                // A version about to be served locally is copied first: local servers read
                // the local registry.
                return match self.copied(local, model, version).await {
                    Ok(()) => local.embedded.facts(model, version).await,
                    Err(why) => Ok(VersionFacts {
                        inputs: Err(why),
                        pipeline_version: None,
                    }),
                };
            }
            Ok(VersionFacts {
                inputs: self.checked(model, version).await.inputs,
                // MLflow versions carry no feature-pipeline version flightdeck knows of.
                pipeline_version: None,
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
            if let Some(local) = &self.local {
                if run_if_missing && let Err(why) = self.copied(local, model, version).await {
                    return Ok(Some(SmokeEvidence {
                        passed: false,
                        detail: why,
                    }));
                }
                return local
                    .embedded
                    .smoke(model, version, run_if_missing, progress)
                    .await;
            }
            // MLflow versions carry no sentinel cases and no stored smoke test: the artifact
            // check (checksum, loads, sane answers on neutral rows) is their smoke test.
            if !run_if_missing {
                return Ok(None);
            }
            Ok(Some(match self.checked(model, version).await.verdict {
                Ok(summary) => SmokeEvidence {
                    passed: true,
                    detail: format!("passed the artifact check: {summary}"),
                },
                Err(why) => SmokeEvidence {
                    passed: false,
                    detail: format!("artifact check: {why}"),
                },
            }))
        }
        .boxed()
    }

    fn evaluation<'a>(
        &'a self,
        model: &'a ModelName,
        version: u32,
    ) -> Pending<'a, Option<crate::model::Evaluation>> {
        async move {
            match &self.local {
                Some(local) => local.embedded.evaluation(model, version).await,
                None => Ok(None),
            }
        }
        .boxed()
    }

    fn artifact<'a>(
        &'a self,
        model: &'a ModelName,
        version: u32,
    ) -> Pending<'a, Option<Result<String, String>>> {
        async move {
            let Some(local) = &self.local else {
                return Ok(None);
            };
            match self.copied(local, model, version).await {
                Ok(()) => local.embedded.artifact(model, version).await,
                Err(why) => Ok(Some(Err(why))),
            }
        }
        .boxed()
    }

    fn earlier_production<'a>(&'a self, model: &'a ModelName) -> Pending<'a, Vec<u32>> {
        async move { Ok(self.read(model).await?.previous.into_iter().collect()) }.boxed()
    }
}
