//! What the server holds: per model, the stable and (optionally) canary versions loaded and the
//! canary's share of traffic; swapped atomically as a whole when the engine changes the plan.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use super::batch::Batcher;
use super::drift::{DriftWindow, WindowLimits, WindowSnapshot};
use super::feedback::{FeedbackLimits, FeedbackStore, Reading};
use super::metrics::{Metrics, VersionMetrics};
use super::pool::InferencePool;
use crate::model::{DriftReport, DriftThresholds, ModelName};
use crate::runtime::LoadedModel;
use crate::store::Registry;
use crate::store::registry::artifacts;

/// One loaded version.
#[derive(Debug)]
pub struct LoadedVersion {
    pub version: u32,
    pub sha256: String,
    pub model: LoadedModel,
    pub drift: Option<Mutex<DriftWindow>>,
    pub metrics: Arc<VersionMetrics>,
    pub cost: InferenceCost,
    /// Small requests ready together share one model call.
    pub batcher: Batcher,
    /// How its answers are kept for joining with labels (`None`: no output to judge).
    pub reading: Option<Reading>,
}

/// A running estimate of how long inference takes per row, to decide where a call runs.
#[derive(Debug, Default)]
pub struct InferenceCost {
    /// Exponentially weighted mean, in nanoseconds per row; 0 until first measured.
    ns_per_row: AtomicU64,
}

impl InferenceCost {
    /// Calls predicted to finish within this run inline on the request's own thread.
    const INLINE_BUDGET_NS: u64 = 50_000;

    pub fn observe(&self, rows: usize, took: std::time::Duration) {
        let sample = (took.as_nanos() as u64) / rows.max(1) as u64;
        let old = self.ns_per_row.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * 7 + sample) / 8
        };
        self.ns_per_row.store(new.max(1), Ordering::Relaxed);
    }

    pub fn runs_inline(&self, rows: usize) -> bool {
        let per_row = self.ns_per_row.load(Ordering::Relaxed);
        per_row > 0 && per_row.saturating_mul(rows as u64) <= Self::INLINE_BUDGET_NS
    }
}

/// What serves a model: the plan the engine asked for, with its versions loaded.
#[derive(Debug)]
pub struct Deployment {
    pub name: String,
    pub stable: Arc<LoadedVersion>,
    pub canary: Option<Arc<LoadedVersion>>,
    pub canary_percent: u8,
    /// Requests routed so far, for the exact traffic split.
    routed: AtomicU64,
    /// The model's in-flight gauge (kept across swaps).
    pub in_flight: Arc<std::sync::atomic::AtomicI64>,
    /// The model's answers kept for their labels (kept across swaps).
    pub feedback: Arc<FeedbackStore>,
}

/// The plan for one model: which versions, and the canary's share (0-100).
pub type Plan = crate::model::ServingPlan;

impl Deployment {
    pub fn plan(&self) -> Plan {
        Plan {
            stable: self.stable.version,
            canary: self.canary.as_ref().map(|c| c.version),
            canary_percent: self.canary_percent,
        }
    }

    /// The version for the next request: the canary gets exactly `canary_percent` of every 100
    /// consecutive requests, spread evenly.
    pub fn route(&self) -> &Arc<LoadedVersion> {
        let Some(canary) = &self.canary else {
            return &self.stable;
        };
        let n = self.routed.fetch_add(1, Ordering::Relaxed);
        let p = u64::from(self.canary_percent);
        if (n + 1) * p / 100 > n * p / 100 {
            canary
        } else {
            &self.stable
        }
    }

    pub fn version(&self, version: u32) -> Option<&Arc<LoadedVersion>> {
        std::iter::once(&self.stable)
            .chain(self.canary.as_ref())
            .find(|v| v.version == version)
    }

    pub fn loaded(&self) -> impl Iterator<Item = (&'static str, &Arc<LoadedVersion>)> {
        std::iter::once(("stable", &self.stable)).chain(self.canary.as_ref().map(|c| ("canary", c)))
    }
}

/// Settings of a running server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data_dir: PathBuf,
    pub max_body_bytes: usize,
    pub thresholds: DriftThresholds,
    pub window: WindowLimits,
    pub admin_token: String,
    /// Most rows one shared model call gathers from concurrent small requests; 0 runs every
    /// request on its own.
    pub max_batch_rows: usize,
    /// How many answers each model keeps by request id for its labels, and how long.
    pub feedback: FeedbackLimits,
    /// Which share of requests is logged with its answer, and how much is kept on disk.
    pub request_log: super::request_log::RequestLogLimits,
}

/// Shared by every request handler.
#[derive(Debug)]
pub struct ServerState {
    deployments: RwLock<HashMap<String, Arc<Deployment>>>,
    /// Per model, kept across plan changes: labels may arrive after a promote.
    feedback: RwLock<HashMap<String, Arc<FeedbackStore>>>,
    pub metrics: Metrics,
    pub pool: InferencePool,
    pub options: ServeOptions,
    pub ready: AtomicBool,
    pub started: Instant,
    /// The sampled log of requests and answers, when it is on.
    pub request_log: Option<Arc<super::request_log::RequestLog>>,
    /// Per model, the candidate answering a copy of its requests, if any.
    shadows: RwLock<HashMap<String, Arc<super::shadow::Shadow>>>,
}

impl ServerState {
    pub fn new(pool: InferencePool, options: ServeOptions) -> Self {
        let request_log =
            super::request_log::RequestLog::start(&options.data_dir, options.request_log);
        Self {
            deployments: RwLock::new(HashMap::new()),
            feedback: RwLock::new(HashMap::new()),
            metrics: Metrics::default(),
            pool,
            options,
            ready: AtomicBool::new(false),
            started: Instant::now(),
            request_log,
            shadows: RwLock::new(HashMap::new()),
        }
    }

    /// The model's answers by request id and its versions' labelled quality.
    pub fn feedback(&self, model: &str) -> Option<Arc<FeedbackStore>> {
        self.feedback.read().ok()?.get(model).cloned()
    }

    pub fn deployment(&self, model: &str) -> Option<Arc<Deployment>> {
        self.deployments.read().ok()?.get(model).cloned()
    }

    pub fn deployments(&self) -> Vec<Arc<Deployment>> {
        let mut all: Vec<_> = self
            .deployments
            .read()
            .map(|d| d.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Loads every version the plan names (reusing those already loaded), then switches to it
    /// in one step. On any error nothing changes and the old plan keeps serving.
    pub fn apply_plan(&self, model: &ModelName, plan: Plan) -> Result<Plan, String> {
        if plan.canary_percent > 100 {
            return Err(format!(
                "canary_percent {} is over 100",
                plan.canary_percent
            ));
        }
        if plan.canary == Some(plan.stable) {
            return Err(format!("v{} cannot be both stable and canary", plan.stable));
        }
        if plan.canary.is_none() && plan.canary_percent > 0 {
            return Err("canary_percent is set but no canary version is given".into());
        }
        let current = self.deployment(model.as_str());
        let reuse = |v: u32| current.as_ref().and_then(|d| d.version(v).cloned());
        let mut registry: Option<Registry> = None;
        let mut load = |v: u32| -> Result<Arc<LoadedVersion>, String> {
            if let Some(loaded) = reuse(v) {
                return Ok(loaded);
            }
            if registry.is_none() {
                registry = Some(Registry::open(&self.options.data_dir).map_err(|e| e.to_string())?);
            }
            let registry = registry.as_ref().ok_or("registry unavailable")?;
            load_version(registry, model, v, &self.options, &self.metrics).map(Arc::new)
        };
        let stable = load(plan.stable)?;
        let canary = plan.canary.map(&mut load).transpose()?;
        let feedback = self
            .feedback
            .write()
            .map_err(|_| "server state is poisoned".to_string())?
            .entry(model.to_string())
            .or_insert_with(|| Arc::new(FeedbackStore::new(model.as_str(), self.options.feedback)))
            .clone();
        let deployment = Arc::new(Deployment {
            name: model.to_string(),
            feedback,
            stable,
            canary,
            canary_percent: if plan.canary.is_some() {
                plan.canary_percent
            } else {
                0
            },
            routed: AtomicU64::new(0),
            in_flight: self.metrics.in_flight_gauge(model.as_str()),
        });
        let applied = deployment.plan();
        let mut all = self
            .deployments
            .write()
            .map_err(|_| "server state is poisoned".to_string())?;
        all.insert(model.to_string(), deployment);

        tracing::info!(model = %model, ?applied, "deployment plan applied");
        Ok(applied)
    }

    /// Every running shadow, by model.
    pub fn shadows(&self) -> Vec<(String, Arc<super::shadow::Shadow>)> {
        self.shadows
            .read()
            .map(|s| s.iter().map(|(m, s)| (m.clone(), s.clone())).collect())
            .unwrap_or_default()
    }

    /// The model's shadow, if one runs.
    pub fn shadow(&self, model: &str) -> Option<Arc<super::shadow::Shadow>> {
        self.shadows.read().ok()?.get(model).cloned()
    }

    /// Starts a shadow of `model`: `version` answers a copy of `percent` of the requests its
    /// stable version answers (replacing any shadow it had). Loads the version (slow: call it
    /// off the HTTP thread).
    pub fn start_shadow(
        &self,
        model: &ModelName,
        version: u32,
        percent: u8,
        resumed: bool,
    ) -> Result<crate::model::ShadowReport, String> {
        let deployment = self
            .deployment(model.as_str())
            .ok_or_else(|| format!("{model} is not served here"))?;
        if !(1..=100).contains(&percent) {
            return Err(format!("percent {percent} is not between 1 and 100"));
        }
        let stable = deployment.stable.version;
        if version == stable {
            return Err(format!(
                "v{version} is production: nothing to compare it with"
            ));
        }
        let candidate = match deployment.version(version) {
            Some(loaded) => loaded.clone(),
            None => {
                let registry = Registry::open(&self.options.data_dir).map_err(|e| e.to_string())?;
                Arc::new(load_version(
                    &registry,
                    model,
                    version,
                    &self.options,
                    &self.metrics,
                )?)
            }
        };
        let shadow = super::shadow::Shadow::start(candidate, stable, percent, resumed)?;
        let report = shadow.report(model.as_str());
        let replaced = self
            .shadows
            .write()
            .map_err(|_| "server state is poisoned".to_string())?
            .insert(model.to_string(), shadow);
        if let Some(old) = replaced {
            old.stop();
        }
        tracing::info!(model = %model, version, percent, "shadow started");
        Ok(report)
    }

    /// Stops the model's shadow; its last report.
    pub fn stop_shadow(&self, model: &str) -> Option<crate::model::ShadowReport> {
        let shadow = self.shadows.write().ok()?.remove(model)?;
        shadow.stop();
        Some(shadow.report(model))
    }

    /// Drift of every loaded version of a model. Scoring can take a while (the exact KS
    /// p-value): call it off the HTTP thread. Each window's lock is held only to copy its rows.
    pub fn drift(&self, model: &str) -> Option<Vec<DriftReport>> {
        let deployment = self.deployment(model)?;
        let now = Instant::now();
        let snapshots: Vec<(&str, WindowSnapshot)> = deployment
            .loaded()
            .filter_map(|(role, v)| Some((role, v.drift.as_ref()?.lock().ok()?.snapshot(now))))
            .collect();
        let of = |role: &str| snapshots.iter().find(|(r, _)| *r == role).map(|(_, s)| s);
        // A canary's answers against the stable version's, on the same traffic split.
        let versus = match (of("canary"), of("stable")) {
            (Some(canary), Some(stable)) => {
                let base = self.options.thresholds.js_base.value();
                super::drift::compare(canary, stable, base)
            }
            _ => None,
        };
        Some(
            snapshots
                .iter()
                .map(|(role, s)| {
                    let mut report = s.report(&self.options.thresholds);
                    if *role == "canary" {
                        report.answers_versus = versus.clone();
                    }
                    report
                })
                .collect(),
        )
    }
}

/// Reads a version from the registry, checks its artifact, and prepares it for serving.
pub fn load_version(
    registry: &Registry,
    model: &ModelName,
    version: u32,
    options: &ServeOptions,
    metrics: &Metrics,
) -> Result<LoadedVersion, String> {
    let mut record = registry
        .version(model, version)
        .map_err(|e| e.to_string())?;
    if let Some(profile) = record.profile.as_mut() {
        let values = registry
            .reference_values(model, version)
            .map_err(|e| e.to_string())?;
        profile.restore_reference_values(values);
    }
    let bytes =
        artifacts::load(registry.artifacts_root(), &record.sha256).map_err(|e| e.to_string())?;
    let loaded = LoadedModel::from_bytes(&bytes).map_err(|e| format!("{model} v{version}: {e}"))?;
    let drift = DriftWindow::new(
        model.as_str(),
        version,
        loaded.signature(),
        record.profile.as_ref(),
        options.window,
    )
    .map(Mutex::new);
    Ok(LoadedVersion {
        version,
        sha256: record.sha256,
        batcher: Batcher::for_model(&loaded),
        reading: Reading::of(loaded.signature()),
        model: loaded,
        drift,
        metrics: metrics.fresh_version(model.as_str(), &version.to_string()),
        cost: InferenceCost::default(),
    })
}
