//! The MLflow Model Registry as the registry source (`registry = "mlflow"`), read side: registered
//! models with their aliases, versions with their runs' metrics and lineage, read page by page
//! through [`crate::clients::mlflow`]. MLflow's alias names map onto flightdeck's (by default `champion` is production, `challenger` canary).
//! The journal of operations stays flightdeck's own.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;

use super::source::{Fetch, RegistrySource, RegistryView};
use crate::clients::mlflow::{
    MlflowClient, MlflowVersion, ModelsPage, Run, VersionsPage, millis, tag,
};
use crate::model::{
    Alias, AliasName, JournalEntry, ModelName, ModelSummary, ModelVersion, Signature,
};

/// How MLflow's aliases are named for flightdeck's production and canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasMap {
    pub production: String,
    pub canary: String,
}

impl Default for AliasMap {
    fn default() -> Self {
        Self {
            production: "champion".into(),
            canary: "challenger".into(),
        }
    }
}

impl AliasMap {
    /// flightdeck's name for an MLflow alias (others keep theirs when they are valid names).
    fn ours(&self, theirs: &str) -> Option<AliasName> {
        if theirs == self.production {
            Some(AliasName::production())
        } else if theirs == self.canary {
            Some(AliasName::canary())
        } else {
            AliasName::new(theirs).ok()
        }
    }
}

/// The flavours a version was logged with (`None`: no MLmodel file says).
type Flavours = Option<Vec<String>>;

pub struct MlflowRegistry {
    client: MlflowClient,
    timeout: Duration,
    aliases: AliasMap,
    /// Runs never change once finished: their metrics and lineage are asked once.
    runs: Mutex<HashMap<String, Run>>,
    /// A version's flavours never change: its MLmodel file is read once.
    flavours: Mutex<HashMap<(String, u32), Flavours>>,
    /// Where the journal of operations lives (flightdeck's own, whatever the registry).
    journal: Arc<dyn RegistrySource>,
    /// The server's address, for errors that would not say it otherwise (a deadline passed).
    base: String,
}

impl MlflowRegistry {
    /// Waits for `work` within the deadline; one that passes names the server that did not
    /// answer (a connection error names it already).
    async fn within<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        let in_time = tokio::time::timeout(self.timeout, work).await;
        in_time.unwrap_or_else(|_| {
            Err(format!(
                "MLflow at {} gave no answer within {} ms",
                self.base,
                self.timeout.as_millis()
            ))
        })
    }

    pub fn new(
        http: reqwest::Client,
        base: &str,
        timeout: Duration,
        aliases: AliasMap,
        journal: Arc<dyn RegistrySource>,
    ) -> Self {
        Self {
            client: MlflowClient::new(http, base),
            timeout,
            aliases,
            runs: Mutex::default(),
            flavours: Mutex::default(),
            journal,
            base: base.to_string(),
        }
    }

    async fn run(&self, run_id: &str) -> Option<Run> {
        if let Ok(runs) = self.runs.lock()
            && let Some(run) = runs.get(run_id)
        {
            return Some(run.clone());
        }
        let run = self.client.run(run_id).await.ok()?;
        if let Ok(mut runs) = self.runs.lock() {
            runs.insert(run_id.to_string(), run.clone());
        }
        Some(run)
    }

    /// The flavours `version` was logged with (`None`: unknown, or no MLmodel file).
    async fn flavours(&self, model: &str, version: u32) -> Option<Vec<String>> {
        let key = (model.to_string(), version);
        if let Ok(known) = self.flavours.lock()
            && let Some(flavours) = known.get(&key)
        {
            return flavours.clone();
        }
        // An error (MLflow busy) is not remembered: the next refresh asks again.
        let flavours = self.client.flavours(model, version).await.ok()?;
        if let Ok(mut known) = self.flavours.lock() {
            known.insert(key, flavours.clone());
        }
        flavours
    }
}

/// One page of registered models as fleet rows (names flightdeck cannot use are skipped).
pub fn summaries(page: &ModelsPage, aliases: &AliasMap) -> Vec<ModelSummary> {
    page.registered_models
        .iter()
        .filter_map(|m| {
            let name = ModelName::new(&m.name).ok()?;
            let updated = millis(m.last_updated_timestamp);
            let latest = m
                .latest_versions
                .iter()
                .filter_map(|v| v.version.parse::<u32>().ok())
                .max();
            Some(ModelSummary {
                name: name.clone(),
                // MLflow's search says the latest version number, not how many there are.
                versions: latest.unwrap_or(0),
                latest_version: latest,
                aliases: m
                    .aliases
                    .iter()
                    .filter_map(|a| {
                        Some(Alias {
                            model: name.clone(),
                            alias: aliases.ours(&a.alias)?,
                            version: a.version.parse().ok(),
                            revision: 0,
                            updated_at: updated,
                            updated_by: "mlflow".into(),
                        })
                    })
                    .collect(),
                updated_at: updated,
                smoke: BTreeMap::new(),
            })
        })
        .collect()
}

impl RegistrySource for MlflowRegistry {
    fn fleet(&self) -> Fetch<'_, RegistryView> {
        async move {
            self.within(async {
                let mut models = Vec::new();
                let mut token: Option<String> = None;
                loop {
                    let mut params = vec![("max_results", "100")];
                    if let Some(t) = token.as_deref() {
                        params.push(("page_token", t));
                    }
                    let page: ModelsPage =
                        self.client.get("registered-models/search", &params).await?;
                    models.extend(summaries(&page, &self.aliases));
                    match page.next_page_token.filter(|t| !t.is_empty()) {
                        Some(next) => token = Some(next),
                        None => break,
                    }
                }
                if models.is_empty() {
                    // MLflow leaves empty lists out, so `{}` is an empty registry, and so is
                    // any JSON from a server that is not MLflow: ask something only MLflow
                    // answers in its own words before calling the registry empty.
                    self.client.confirm_mlflow().await?;
                }
                models.sort_by(|a, b| a.name.cmp(&b.name));
                // Interrupted operations and rollouts are flightdeck's own record.
                let own = self.journal.fleet().await.unwrap_or_default();
                Ok(RegistryView {
                    models,
                    interrupted: own.interrupted,
                    rollouts: own.rollouts,
                })
            })
            .await
        }
        .boxed()
    }

    fn versions(&self, model: String) -> Fetch<'_, Vec<ModelVersion>> {
        async move {
            self.within(async {
                let name = ModelName::new(&model).map_err(|e| e.to_string())?;
                let filter = format!("name='{model}'");
                let mut found = Vec::new();
                let mut token: Option<String> = None;
                loop {
                    let mut params = vec![("filter", filter.as_str()), ("max_results", "200")];
                    if let Some(t) = token.as_deref() {
                        params.push(("page_token", t));
                    }
                    let page: VersionsPage =
                        self.client.get("model-versions/search", &params).await?;
                    found.extend(page.model_versions);
                    match page.next_page_token.filter(|t| !t.is_empty()) {
                        Some(next) => token = Some(next),
                        None => break,
                    }
                }
                // Aliases come with the registered model (search leaves them out of versions).
                let registered = self.client.registered_model(&model).await.ok();
                // Each version's run (metrics, commit, author), asked a few at a time: one by
                // one, a slow server and many versions outlasted the deadline.
                let runs: Vec<Option<Run>> = {
                    use futures_util::StreamExt;
                    let asks: Vec<_> = found
                        .iter()
                        .map(|v| async move {
                            match v.run_id.as_deref() {
                                Some(id) if !id.is_empty() => self.run(id).await,
                                _ => None,
                            }
                        })
                        .collect();
                    futures_util::stream::iter(asks).buffered(8).collect().await
                };
                // And each version's flavours (is it ONNX?), read once per version.
                let flavours: Vec<Option<Vec<String>>> = {
                    use futures_util::StreamExt;
                    let model = model.as_str();
                    let asks: Vec<_> = found
                        .iter()
                        .map(|v| async move {
                            match v.version.parse::<u32>() {
                                Ok(number) => self.flavours(model, number).await,
                                Err(_) => None,
                            }
                        })
                        .collect();
                    futures_util::stream::iter(asks).buffered(8).collect().await
                };
                let mut out = Vec::new();
                for ((v, run), flavours) in found.into_iter().zip(runs).zip(flavours) {
                    let Ok(number) = v.version.parse::<u32>() else {
                        continue;
                    };
                    let mut aliases: Vec<String> = registered
                        .iter()
                        .flat_map(|r| r.aliases.iter())
                        .filter(|a| a.version == v.version)
                        .map(|a| a.alias.clone())
                        .chain(v.aliases.iter().cloned())
                        .filter_map(|a| self.aliases.ours(&a).map(|n| n.to_string()))
                        .collect();
                    aliases.sort();
                    aliases.dedup();
                    // Production first, as the embedded registry lists them.
                    aliases.sort_by_key(|a| a != AliasName::PRODUCTION);
                    let mut listed = version(&name, number, &v, run.as_ref(), aliases);
                    listed.not_servable = flavours
                        .filter(|f| !f.iter().any(|f| f == "onnx"))
                        .map(|f| format!("not ONNX ({})", f.join(", ")));
                    out.push(listed);
                }
                // Production, then canary, then other aliased versions, then the rest; newest
                // first within each.
                let rank = |v: &ModelVersion| {
                    let has = |a: &str| v.aliases.iter().any(|x| x == a);
                    if has(AliasName::PRODUCTION) {
                        0
                    } else if has(AliasName::CANARY) {
                        1
                    } else if !v.aliases.is_empty() {
                        2
                    } else {
                        3
                    }
                };
                out.sort_by_key(|v| (rank(v), std::cmp::Reverse(v.version)));
                // Versions copied into the local registry to be served there carry what
                // flightdeck learnt of them: their file's sha256, signature and smoke test.
                if let Ok(copies) = self.journal.versions(model.clone()).await {
                    for listed in &mut out {
                        if let Some(copy) = copies.iter().find(|c| is_copy_of(c, listed)) {
                            listed.sha256 = copy.sha256.clone();
                            listed.size_bytes = copy.size_bytes;
                            listed.signature = copy.signature.clone();
                            listed.sentinels = copy.sentinels.clone();
                            listed.profile = copy.profile.clone();
                            listed.smoke_passed = copy.smoke_passed;
                            listed.evaluation = copy.evaluation.clone();
                        }
                    }
                }
                Ok(out)
            })
            .await
        }
        .boxed()
    }

    fn journal(&self, model: String, limit: usize) -> Fetch<'_, Vec<JournalEntry>> {
        self.journal.journal(model, limit)
    }
}

/// Whether the local registry's `copy` is MLflow's version `listed` copied for local serving:
/// the same number, made at the same millisecond (a copy keeps MLflow's creation time), and the
/// same file when MLflow's `onnx.sha256` tag names one. A local model that only shares the name
/// is not taken for it.
fn is_copy_of(copy: &ModelVersion, listed: &ModelVersion) -> bool {
    copy.version == listed.version
        && copy.lineage.created_at.timestamp_millis()
            == listed.lineage.created_at.timestamp_millis()
        && (listed.sha256.is_empty() || listed.sha256.eq_ignore_ascii_case(&copy.sha256))
}

/// An MLflow model version as flightdeck's: its run's metrics, commit and user; its ONNX
/// sha256 when a tag records it. The signature is unknown until the artifact is fetched.
fn version(
    model: &ModelName,
    number: u32,
    v: &MlflowVersion,
    run: Option<&Run>,
    aliases: Vec<String>,
) -> ModelVersion {
    let data = run.map(|r| r.data.clone()).unwrap_or_default();
    ModelVersion {
        model: model.clone(),
        version: number,
        sha256: tag(&v.tags, "onnx.sha256").unwrap_or_default().to_string(),
        size_bytes: 0,
        description: v.description.clone().filter(|d| !d.is_empty()),
        signature: Signature {
            inputs: Vec::new(),
            outputs: Vec::new(),
            classifier: None,
            notes: Vec::new(),
            categories: Default::default(),
        },
        lineage: crate::clients::mlflow::lineage(v, run),
        metrics: data
            .metrics
            .iter()
            .map(|m| (m.key.clone(), m.value))
            .collect(),
        profile: None,
        sentinels: None,
        aliases,
        smoke_passed: None,
        not_servable: None,
        evaluation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> &'static str {
        match name {
            "search" => {
                include_str!("../../tests/fixtures/mlflow/mlflow-registered-models-search.json")
            }
            "runs-get" => include_str!("../../tests/fixtures/mlflow/mlflow-runs-get.json"),
            "version" => include_str!("../../tests/fixtures/mlflow/mlflow-model-versions-get.json"),
            _ => "",
        }
    }

    #[test]
    fn registered_models_become_fleet_rows_with_mapped_aliases() {
        let page: ModelsPage = serde_json::from_str(fixture("search")).unwrap();
        let rows = summaries(&page, &AliasMap::default());
        let fraud = rows
            .iter()
            .find(|r| r.name.as_str() == "fraud-detector")
            .unwrap();
        let alias = |name: &str| {
            fraud
                .aliases
                .iter()
                .find(|a| a.alias.as_str() == name)
                .and_then(|a| a.version)
        };
        // Recorded from a real MLflow: champion -> v1, challenger -> v2.
        assert_eq!(alias(AliasName::PRODUCTION), Some(1));
        assert_eq!(alias(AliasName::CANARY), Some(2));
        assert_eq!(fraud.latest_version, Some(3));
    }

    #[test]
    fn a_version_carries_its_runs_metrics_and_lineage() {
        let v: crate::clients::mlflow::VersionAnswer =
            serde_json::from_str(fixture("version")).unwrap();
        let run: crate::clients::mlflow::RunAnswer =
            serde_json::from_str(fixture("runs-get")).unwrap();
        let name = ModelName::new("fraud-detector").unwrap();
        let out = version(
            &name,
            1,
            &v.model_version,
            Some(&run.run),
            vec!["production".into()],
        );
        assert_eq!(
            out.sha256,
            "3b353d31365d9a7886499cfb2fdc3db121c4d05f22f250c56e608347d306b5e1"
        );
        assert!(out.metrics["auc"] > 0.79 && out.metrics["auc"] < 0.8);
        assert_eq!(out.lineage.author, "root");
    }
}
