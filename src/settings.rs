//! Settings: built-in defaults, then the TOML config file, then command-line flags, resolved once
//! into a validated [`Settings`]. Unknown keys and bad values are errors naming key and file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod alerts;
mod retrain;
pub use crate::model::Receiver;
pub use alerts::duration_seconds;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "cannot read config file {path}: {source} (set FLIGHTDECK_CONFIG to another file, or unset it)"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no data directory: set FLIGHTDECK_HOME or data_dir in the config file")]
    NoDataDir,
    #[error("environment {name:?} is not configured; configured: {known}")]
    UnknownEnvironment { name: String, known: String },
}

/// The config file as written. Every field is optional; defaults fill the gaps.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    user: Option<String>,
    default_environment: Option<String>,
    theme: Option<String>,
    ascii: Option<bool>,
    lock_timeout_ms: Option<u64>,
    #[serde(default)]
    refresh: FileRefresh,
    #[serde(default)]
    thresholds: FileThresholds,
    #[serde(default)]
    gates: FileGates,
    #[serde(default)]
    environments: BTreeMap<String, FileEnvironment>,
    mouse: Option<bool>,
    #[serde(default)]
    keys: BTreeMap<String, KeyList>,
    #[serde(default)]
    alerts: Vec<alerts::FileAlert>,
    #[serde(default)]
    receivers: Vec<alerts::FileReceiver>,
    retrain: Option<retrain::FileRetrain>,
    request_log: Option<FileRequestLog>,
}

/// `[request_log]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRequestLog {
    rate: Option<f64>,
    max_mb: Option<u64>,
    max_age: Option<String>,
}

/// What local model servers log of their requests (`[request_log]`; `flightdeck serve`'s flags
/// override it). Off unless a rate is given: inputs can be personal data.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RequestLogSettings {
    /// Share of requests logged with their answers (0: off, 1: all).
    pub rate: f64,
    /// Megabytes kept on disk per model.
    pub max_mb: u64,
    /// Oldest entries kept, in seconds.
    pub max_age_seconds: f64,
}

impl RequestLogSettings {
    fn resolve(file: Option<&FileRequestLog>) -> Result<Self, String> {
        let f = file.map_or(FileRequestLog::default(), |f| FileRequestLog {
            rate: f.rate,
            max_mb: f.max_mb,
            max_age: f.max_age.clone(),
        });
        let rate = f.rate.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!(
                "request_log.rate = {rate}: a share of requests between 0 (off) and 1 (all)"
            ));
        }
        let max_age_seconds = match &f.max_age {
            Some(text) => {
                duration_seconds(text).map_err(|e| format!("request_log.max_age: {e}"))?
            }
            None => 7.0 * 86_400.0,
        };
        Ok(RequestLogSettings {
            rate,
            max_mb: f.max_mb.unwrap_or(256).max(1),
            max_age_seconds,
        })
    }
}

/// One key or several, as `[keys]` accepts them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum KeyList {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRefresh {
    metrics_ms: Option<u64>,
    source_timeout_ms: Option<u64>,
    max_answer_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileThresholds {
    psi_warn: Option<f64>,
    psi_drift: Option<f64>,
    ks_p_value: Option<f64>,
    ks_min_statistic: Option<f64>,
    js_drift: Option<f64>,
    js_base: Option<String>,
    min_drift_samples: Option<u64>,
    ks_reference_values: Option<u64>,
    error_rate_warn: Option<f64>,
    p99_warn_ms: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGates {
    min_canary_requests: Option<u64>,
    max_error_ratio_increase: Option<f64>,
    max_client_error_ratio_increase: Option<f64>,
    max_p99_ratio: Option<f64>,
    p99_floor_ms: Option<f64>,
    max_metric_drop: Option<f64>,
    max_answer_difference: Option<f64>,
    min_answer_rows: Option<u64>,
    min_labelled_answers: Option<u64>,
    min_label_coverage: Option<f64>,
    min_shadow_agreement: Option<f64>,
    min_shadow_rows: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEnvironment {
    registry: Option<RegistryBackend>,
    serving: Option<ServingBackend>,
    metrics: Option<MetricsBackend>,
    read_only: Option<bool>,
    confirm: Option<Confirm>,
    auto_rollback: Option<bool>,
    prometheus_url: Option<String>,
    mlflow_url: Option<String>,
    mlflow_production_alias: Option<String>,
    mlflow_canary_alias: Option<String>,
    kubeconfig: Option<PathBuf>,
    kube_context: Option<String>,
    namespaces: Option<Vec<String>>,
    storage_uri: Option<String>,
    rollout_timeout_s: Option<u64>,
    prometheus_runtime: Option<String>,
}

/// Where versions and aliases are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryBackend {
    /// SQLite and artifact files in the data dir.
    Embedded,
    /// An MLflow tracking server's Model Registry (`mlflow_url`): operations move its aliases;
    /// with local serving, the versions served are copied into the local registry first.
    Mlflow,
}

/// What serves the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServingBackend {
    /// `flightdeck serve` processes on this machine.
    Local,
    /// KServe InferenceServices on a Kubernetes cluster (`kube_context`, `namespaces`).
    Kubernetes,
}

/// Where serving metrics come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsBackend {
    /// Scrape each server's `/metrics`.
    Scrape,
    /// Query a Prometheus server (`prometheus_url`) for the series it scraped.
    Prometheus,
}

/// How destructive operations are confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirm {
    /// Enter on the preview.
    Enter,
    /// Type the model's name.
    Typed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub name: String,
    pub registry: RegistryBackend,
    pub serving: ServingBackend,
    pub metrics: MetricsBackend,
    pub read_only: bool,
    pub confirm: Confirm,
    /// When an operation's verify finds the world not as planned, put serving and aliases back
    /// where they were before it (and journal that) instead of leaving them for a human.
    pub auto_rollback: bool,
    /// The Prometheus HTTP API's base URL, for `metrics = "prometheus"`.
    pub prometheus_url: Option<String>,
    /// Whose series to read from Prometheus (`None`: detect per model).
    pub prometheus_runtime: Option<crate::clients::promql::Runtime>,
    /// The MLflow tracking server's URL, for `registry = "mlflow"`.
    pub mlflow_url: Option<String>,
    /// MLflow's alias names for production and canary (default `champion`, `challenger`).
    pub mlflow_production_alias: String,
    pub mlflow_canary_alias: String,
    /// The kubeconfig file (default: `KUBECONFIG`, then `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    pub kube_context: Option<String>,
    /// Namespaces whose InferenceServices are this environment's models (default: the
    /// context's namespace).
    pub namespaces: Vec<String>,
    /// Where a registry version's model files are for the cluster to load, with `{model}` and
    /// `{version}` filled in, e.g. "s3://models/{model}/{version}".
    pub storage_uri: Option<String>,
    /// How long a KServe rollout may take before the operation reports it stuck.
    pub rollout_timeout_s: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Refresh {
    pub metrics_ms: u64,
    pub source_timeout_ms: u64,
    /// The largest answer read from any backend, in MB: past it the read fails.
    pub max_answer_mb: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub psi_warn: f64,
    pub psi_drift: f64,
    pub ks_p_value: f64,
    pub ks_min_statistic: f64,
    pub js_drift: f64,
    /// The logarithm base of the JS distance: `e` (scipy's and Evidently's default) or `2`.
    pub js_base: crate::model::JsBase,
    pub min_drift_samples: u64,
    /// Reference values kept per numeric feature at registration for the KS test (a sketch of
    /// evenly spaced order statistics beyond).
    pub ks_reference_values: usize,
    pub error_rate_warn: f64,
    pub p99_warn_ms: f64,
}

impl Thresholds {
    /// The drift part, as servers score with it and readers judge features by it.
    pub fn drift(&self) -> crate::model::DriftThresholds {
        crate::model::DriftThresholds {
            psi_warn: self.psi_warn,
            psi_drift: self.psi_drift,
            ks_p_value: self.ks_p_value,
            ks_min_statistic: self.ks_min_statistic,
            js_drift: self.js_drift,
            js_base: self.js_base,
            min_samples: self.min_drift_samples,
        }
    }
}

/// What a canary must show before it may be promoted.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Gates {
    /// Requests the canary must have served for its numbers to count.
    pub min_canary_requests: u64,
    /// The canary's 5xx ratio may exceed production's by at most this (0..1).
    pub max_error_ratio_increase: f64,
    /// The canary's 4xx ratio may exceed production's by at most this (0..1).
    pub max_client_error_ratio_increase: f64,
    /// The canary's p99 may be at most this multiple of production's...
    pub max_p99_ratio: f64,
    /// ...or at most this many milliseconds above it: a regression below the floor is noise.
    pub p99_floor_ms: f64,
    /// An evaluated canary may score at most this much below production (AUC or accuracy; RMSE
    /// relatively).
    pub max_metric_drop: f64,
    /// The canary's predicted classes may differ from production's on at most this share of
    /// rows (total variation; for a regressor, the KS statistic of its outputs), 0..1.
    pub max_answer_difference: f64,
    /// Rows each version must have answered in the same period before their answers are judged.
    pub min_answer_rows: u64,
    /// Labelled answers each version needs before its quality on them is judged...
    pub min_labelled_answers: u64,
    /// ...and the share of its answers they must cover (0..1): a few labels of a biased few
    /// answers say little.
    pub min_label_coverage: f64,
    /// When set, a version about to take traffic must first have run in shadow beside
    /// production and agreed with it on at least this share of rows (0..1)...
    pub min_shadow_agreement: Option<f64>,
    /// ...over at least this many rows.
    pub min_shadow_rows: u64,
}

/// Validated settings, resolved once at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub config_path: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub user: String,
    pub environment: Environment,
    pub environments: BTreeMap<String, Environment>,
    pub theme: String,
    pub ascii: bool,
    /// Mouse support in the console (off by default: it breaks terminal text selection).
    pub mouse: bool,
    pub keymap: crate::keymap::Keymap,
    /// How long a registry writer waits for another before naming it and giving up.
    pub lock_timeout_ms: u64,
    pub refresh: Refresh,
    pub thresholds: Thresholds,
    pub gates: Gates,
    /// The alert rules: the config's `[[alerts]]`, or the defaults built from the thresholds.
    pub alerts: Vec<crate::model::AlertRule>,
    /// Where `flightdeck watch` sends alerts (`[[receivers]]`).
    pub receivers: Vec<Receiver>,
    /// When `watch` calls the pipeline that retrains (`[retrain]`).
    pub retrain: Option<crate::model::RetrainTrigger>,
    /// What local model servers log of their requests (`[request_log]`).
    pub request_log: RequestLogSettings,
}

/// What the command line (and the environment variables clap reads) contributes.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub environment: Option<String>,
    pub read_only: bool,
    pub theme: Option<String>,
    pub ascii: bool,
}

impl Settings {
    /// Finds the config file (`--config`/`FLIGHTDECK_CONFIG`, else the XDG location if it
    /// exists), reads it, and applies the overrides.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        let dirs = directories::ProjectDirs::from("", "", "flightdeck");
        let (path, required) = match &overrides.config {
            Some(p) => (Some(p.clone()), true),
            None => (
                dirs.as_ref().map(|d| d.config_dir().join("config.toml")),
                false,
            ),
        };
        let text = match &path {
            Some(p) if required || p.exists() => Some(std::fs::read_to_string(p).map_err(
                |source| ConfigError::Read {
                    path: p.clone(),
                    source,
                },
            )?),
            _ => None,
        };
        let default_data = dirs.map(|d| d.data_dir().to_path_buf());
        let config_path = text.as_ref().and(path);
        Self::resolve(text.as_deref(), config_path, default_data, overrides)
    }

    /// Pure resolution, for tests: file text (if any), then overrides.
    pub fn resolve(
        text: Option<&str>,
        config_path: Option<PathBuf>,
        default_data_dir: Option<PathBuf>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let shown_path = config_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("(built-in defaults)"));
        let invalid = |message: String| ConfigError::Invalid {
            path: shown_path.clone(),
            message,
        };
        let file: FileConfig = match text {
            Some(t) => {
                toml::from_str(t).map_err(|e| invalid(e.to_string().trim_end().to_string()))?
            }
            None => FileConfig::default(),
        };
        let relative_to = config_path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let data_dir = overrides
            .data_dir
            .clone()
            .or_else(|| {
                file.data_dir
                    .map(|d| relative_to.as_ref().map(|base| base.join(&d)).unwrap_or(d))
            })
            .or(default_data_dir)
            .ok_or(ConfigError::NoDataDir)?;

        let theme = overrides
            .theme
            .clone()
            .or(file.theme)
            .unwrap_or_else(|| "dark".into());
        let themes = crate::theme::Theme::names();
        if !themes.contains(&theme.as_str()) {
            return Err(invalid(format!(
                "theme = {theme:?} is not a built-in theme; choose one of {}",
                themes.join(", ")
            )));
        }
        let user = file
            .user
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(crate::store::actor::login_name);

        let refresh = file.refresh.resolve().map_err(invalid)?;
        let thresholds = file.thresholds.resolve().map_err(invalid)?;
        let gates = file.gates.resolve().map_err(invalid)?;
        let alerts = alerts::resolve(&file.alerts, &thresholds).map_err(invalid)?;
        let receivers = alerts::receivers(&file.receivers).map_err(invalid)?;
        let retrain = retrain::resolve(file.retrain.as_ref(), &alerts).map_err(invalid)?;
        let request_log =
            RequestLogSettings::resolve(file.request_log.as_ref()).map_err(invalid)?;
        let key_overrides: BTreeMap<String, Vec<String>> = file
            .keys
            .into_iter()
            .map(|(action, keys)| match keys {
                KeyList::One(k) => (action, vec![k]),
                KeyList::Many(ks) => (action, ks),
            })
            .collect();
        let keymap = crate::keymap::Keymap::with_overrides(&key_overrides).map_err(invalid)?;

        let environments =
            environments(file.environments, relative_to.as_deref()).map_err(&invalid)?;
        let selected = overrides
            .environment
            .clone()
            .or(file.default_environment)
            .unwrap_or_else(|| "local".into());
        let mut environments = environments;
        let mut environment = environments.get(&selected).cloned().ok_or_else(|| {
            ConfigError::UnknownEnvironment {
                name: selected.clone(),
                known: environments.keys().cloned().collect::<Vec<_>>().join(", "),
            }
        })?;
        environment.read_only |= overrides.read_only;
        // `--readonly` holds in every environment the console may switch to.
        for e in environments.values_mut() {
            e.read_only |= overrides.read_only;
        }

        Ok(Settings {
            config_path,
            data_dir,
            user,
            environment,
            environments,
            theme,
            ascii: overrides.ascii || file.ascii.unwrap_or(false),
            mouse: file.mouse.unwrap_or(false),
            keymap,
            lock_timeout_ms: positive(file.lock_timeout_ms, 5000, "lock_timeout_ms")
                .map_err(invalid)?,
            refresh,
            thresholds,
            gates,
            alerts,
            receivers,
            retrain,
            request_log,
        })
    }
}

impl Environment {
    fn local() -> Self {
        Environment {
            name: "local".into(),
            registry: RegistryBackend::Embedded,
            serving: ServingBackend::Local,
            metrics: MetricsBackend::Scrape,
            read_only: false,
            confirm: Confirm::Enter,
            auto_rollback: false,
            prometheus_url: None,
            prometheus_runtime: None,
            mlflow_url: None,
            mlflow_production_alias: "champion".into(),
            mlflow_canary_alias: "challenger".into(),
            kubeconfig: None,
            kube_context: None,
            namespaces: Vec::new(),
            storage_uri: None,
            rollout_timeout_s: 300,
        }
    }
}

impl FileRefresh {
    fn resolve(&self) -> Result<Refresh, String> {
        Ok(Refresh {
            metrics_ms: positive(self.metrics_ms, 1000, "refresh.metrics_ms")?,
            source_timeout_ms: positive(self.source_timeout_ms, 3000, "refresh.source_timeout_ms")?,
            max_answer_mb: positive(self.max_answer_mb, 16, "refresh.max_answer_mb")?,
        })
    }
}

impl FileThresholds {
    fn resolve(&self) -> Result<Thresholds, String> {
        let t = self;
        let thresholds = Thresholds {
            psi_warn: non_negative(t.psi_warn, 0.1, "thresholds.psi_warn")?,
            psi_drift: non_negative(t.psi_drift, 0.25, "thresholds.psi_drift")?,
            ks_p_value: probability(t.ks_p_value, 0.05, "thresholds.ks_p_value")?,
            ks_min_statistic: probability(t.ks_min_statistic, 0.1, "thresholds.ks_min_statistic")?,
            js_drift: probability(t.js_drift, 0.1, "thresholds.js_drift")?,
            js_base: match t.js_base.as_deref() {
                None => crate::model::JsBase::E,
                Some(text) => crate::model::JsBase::parse(text).ok_or_else(|| {
                    format!("thresholds.js_base = {text:?}: choose \"e\" (as scipy and Evidently) or \"2\"")
                })?,
            },
            min_drift_samples: t.min_drift_samples.unwrap_or(100),
            ks_reference_values: match t.ks_reference_values {
                None => crate::model::DEFAULT_REFERENCE_VALUES,
                Some(n) if (1_000..=10_000_000).contains(&n) => n as usize,
                Some(n) => {
                    return Err(format!(
                        "thresholds.ks_reference_values = {n}: keep between 1000 and 10000000 \
                         values per feature (the default is {})",
                        crate::model::DEFAULT_REFERENCE_VALUES
                    ));
                }
            },
            error_rate_warn: probability(t.error_rate_warn, 0.01, "thresholds.error_rate_warn")?,
            p99_warn_ms: non_negative(t.p99_warn_ms, 250.0, "thresholds.p99_warn_ms")?,
        };
        if thresholds.psi_warn > thresholds.psi_drift {
            return Err(format!(
                "thresholds.psi_warn ({}) is above thresholds.psi_drift ({}); warn must come first",
                thresholds.psi_warn, thresholds.psi_drift
            ));
        }

        Ok(thresholds)
    }
}

impl FileGates {
    fn resolve(&self) -> Result<Gates, String> {
        let g = self;
        Ok(Gates {
            min_canary_requests: g.min_canary_requests.unwrap_or(100),
            max_error_ratio_increase: probability(
                g.max_error_ratio_increase,
                0.01,
                "gates.max_error_ratio_increase",
            )?,
            max_client_error_ratio_increase: probability(
                g.max_client_error_ratio_increase,
                0.01,
                "gates.max_client_error_ratio_increase",
            )?,
            max_p99_ratio: non_negative(g.max_p99_ratio, 1.5, "gates.max_p99_ratio")?,
            p99_floor_ms: non_negative(g.p99_floor_ms, 5.0, "gates.p99_floor_ms")?,
            max_metric_drop: probability(g.max_metric_drop, 0.01, "gates.max_metric_drop")?,
            max_answer_difference: probability(
                g.max_answer_difference,
                0.1,
                "gates.max_answer_difference",
            )?,
            min_answer_rows: g.min_answer_rows.unwrap_or(200),
            min_labelled_answers: g.min_labelled_answers.unwrap_or(200),
            min_label_coverage: probability(
                g.min_label_coverage,
                0.05,
                "gates.min_label_coverage",
            )?,
            min_shadow_agreement: g
                .min_shadow_agreement
                .map(|v| probability(Some(v), v, "gates.min_shadow_agreement"))
                .transpose()?,
            min_shadow_rows: g.min_shadow_rows.unwrap_or(200),
        })
    }
}

/// The config's environments over the built-in `local`, each checked.
fn environments(
    file: BTreeMap<String, FileEnvironment>,
    relative_to: Option<&Path>,
) -> Result<BTreeMap<String, Environment>, String> {
    let mut environments = BTreeMap::new();
    environments.insert("local".to_string(), Environment::local());
    for (name, env) in file {
        if crate::model::ModelName::new(&name).is_err() {
            return Err(format!(
                "[environments.{name}]: use letters, digits, '-', '_' and '.' in names"
            ));
        }
        let base = environments
            .remove(&name)
            .unwrap_or_else(Environment::local);
        let mut environment = environment(&name, env, base, relative_to)?;
        check_environment(&mut environment)?;
        environments.insert(name, environment);
    }
    Ok(environments)
}

/// One `[environments.NAME]` table over `base` (what `local` or an earlier table set).
fn environment(
    name: &str,
    env: FileEnvironment,
    base: Environment,
    relative_to: Option<&Path>,
) -> Result<Environment, String> {
    Ok(Environment {
    name: name.to_string(),
    registry: env.registry.unwrap_or(base.registry),
    serving: env.serving.unwrap_or(base.serving),
    metrics: env.metrics.unwrap_or(base.metrics),
    read_only: env.read_only.unwrap_or(base.read_only),
    confirm: env.confirm.unwrap_or(base.confirm),
    auto_rollback: env.auto_rollback.unwrap_or(base.auto_rollback),
    prometheus_url: env.prometheus_url.or(base.prometheus_url),
    prometheus_runtime: match env.prometheus_runtime.as_deref() {
        None | Some("auto") => base.prometheus_runtime,
        Some(runtime) => Some(
            crate::clients::promql::Runtime::from_name(runtime).ok_or_else(|| {
                format!(
                    "[environments.{name}].prometheus_runtime = {runtime:?}: choose auto, flightdeck, kserve, knative, triton or bentoml"
                )
            })?,
        ),
    },
    mlflow_url: env.mlflow_url.or(base.mlflow_url),
    mlflow_production_alias: env
        .mlflow_production_alias
        .unwrap_or(base.mlflow_production_alias),
    mlflow_canary_alias: env
        .mlflow_canary_alias
        .unwrap_or(base.mlflow_canary_alias),
    kubeconfig: env
        .kubeconfig
        .map(|p| match (relative_to, p.is_relative()) {
            (Some(base), true) => base.join(p),
            _ => p,
        })
        .or(base.kubeconfig),
    kube_context: env.kube_context.or(base.kube_context),
    namespaces: env.namespaces.unwrap_or(base.namespaces),
    storage_uri: env.storage_uri.or(base.storage_uri),
    rollout_timeout_s: positive(
        env.rollout_timeout_s,
        base.rollout_timeout_s,
        &format!("[environments.{name}].rollout_timeout_s"),
    )
    ?,
    })
}

/// Refuses an environment whose backends cannot work as configured.
fn check_environment(e: &mut Environment) -> Result<(), String> {
    let name = e.name.clone();
    if e.registry == RegistryBackend::Mlflow
        && !e
            .mlflow_url
            .as_deref()
            .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
    {
        return Err(format!(
            "[environments.{name}]: registry = \"mlflow\" needs mlflow_url, an http:// or https:// URL such as \"http://mlflow:5000\""
        ));
    }
    check_kubernetes(e)?;
    if e.metrics == MetricsBackend::Prometheus {
        match e.prometheus_url.as_deref() {
            None => {
                return Err(format!(
                    "[environments.{name}]: metrics = \"prometheus\" needs prometheus_url, e.g. \"http://prometheus:9090\""
                ));
            }
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                return Err(format!(
                    "[environments.{name}].prometheus_url = {url:?}: use an http:// or https:// URL"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The Kubernetes settings of one environment make sense together.
fn check_kubernetes(e: &Environment) -> Result<(), String> {
    let name = &e.name;
    if e.serving != ServingBackend::Kubernetes {
        let set: Vec<&str> = [
            ("kubeconfig", e.kubeconfig.is_some()),
            ("kube_context", e.kube_context.is_some()),
            ("namespaces", !e.namespaces.is_empty()),
            ("storage_uri", e.storage_uri.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect();
        if !set.is_empty() {
            return Err(format!(
                "[environments.{name}]: {} only apply with serving = \"kubernetes\"",
                set.join(", ")
            ));
        }
        return Ok(());
    }
    if e.metrics == MetricsBackend::Scrape {
        return Err(format!(
            "[environments.{name}]: serving = \"kubernetes\" reads serving metrics from Prometheus: set metrics = \"prometheus\" and prometheus_url"
        ));
    }
    for ns in &e.namespaces {
        let valid = !ns.is_empty()
            && ns.len() <= 63
            && ns
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !ns.starts_with('-')
            && !ns.ends_with('-');
        if !valid {
            return Err(format!(
                "[environments.{name}].namespaces: {ns:?} is not a Kubernetes namespace name (lowercase letters, digits and '-')"
            ));
        }
    }
    if let Some(template) = &e.storage_uri
        && !template.contains("{version}")
    {
        return Err(format!(
            "[environments.{name}].storage_uri = {template:?}: it must contain {{version}} (and usually {{model}}), e.g. \"s3://models/{{model}}/{{version}}\""
        ));
    }
    Ok(())
}

fn positive(value: Option<u64>, default: u64, key: &str) -> Result<u64, String> {
    match value {
        Some(0) => Err(format!("{key} = 0: it must be at least 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

fn non_negative(value: Option<f64>, default: f64, key: &str) -> Result<f64, String> {
    match value {
        Some(v) if !(v.is_finite() && v >= 0.0) => {
            Err(format!("{key} = {v}: it must be a number >= 0"))
        }
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

fn probability(value: Option<f64>, default: f64, key: &str) -> Result<f64, String> {
    match value {
        Some(v) if !(0.0..=1.0).contains(&v) => {
            Err(format!("{key} = {v}: it must be between 0 and 1"))
        }
        Some(v) => Ok(v),
        None => Ok(default),
    }
}
