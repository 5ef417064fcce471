//! `flightdeck models`, `versions` and `config`: what the registry and settings hold.

use super::say;
use super::table::{or_dash, render};
use super::{Failure, print_json};
use crate::model::ModelName;
use crate::settings::Settings;
use crate::store::Registry;

pub fn models(registry: &Registry, json: bool) -> Result<(), Failure> {
    let where_ = registry.db_path().display().to_string();
    print_models(&registry.models()?, &where_, json)
}

/// The environment's registry when it is not the embedded one (MLflow), read as the console
/// reads it.
pub fn remote_registry(
    settings: &Settings,
) -> Result<std::sync::Arc<dyn crate::sources::source::RegistrySource>, Failure> {
    let sources = crate::sources::factory::for_environment(
        &settings.environment,
        &settings.data_dir,
        super::program()?,
        std::time::Duration::from_millis(settings.refresh.source_timeout_ms.max(10_000)),
        settings.thresholds.drift(),
    )
    .map_err(super::failure)?;
    Ok(sources.registry)
}

pub fn remote_models(settings: &Settings, json: bool) -> Result<(), Failure> {
    let registry = remote_registry(settings)?;
    let view = super::runtime()?
        .block_on(registry.fleet())
        .map_err(super::failure)?;
    let where_ = settings.environment.mlflow_url.clone().unwrap_or_default();
    print_models(&view.models, &where_, json)
}

pub fn remote_versions(settings: &Settings, model: &ModelName, json: bool) -> Result<(), Failure> {
    let registry = remote_registry(settings)?;
    let versions = super::runtime()?
        .block_on(registry.versions(model.to_string()))
        .map_err(super::failure)?;
    print_versions(&versions, json)
}

fn print_models(
    models: &[crate::model::ModelSummary],
    where_: &str,
    json: bool,
) -> Result<(), Failure> {
    if json {
        return print_json(&models);
    }
    if models.is_empty() {
        say!(
            "no models registered in {where_}; add one with `flightdeck register MODEL FILE.onnx`"
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            let alias = |name: &str| crate::model::version_of(&m.aliases, name);
            let others: Vec<String> = m
                .aliases
                .iter()
                .filter(|a| !matches!(a.alias.as_str(), "production" | "canary"))
                .filter_map(|a| a.version.map(|v| format!("{}=v{v}", a.alias)))
                .collect();
            vec![
                m.name.to_string(),
                or_dash(alias("production").map(|v| format!("v{v}"))),
                or_dash(alias("canary").map(|v| format!("v{v}"))),
                m.versions.to_string(),
                or_dash(m.latest_version.map(|v| format!("v{v}"))),
                or_dash(Some(others.join(" "))),
                m.updated_at.format("%Y-%m-%d %H:%M").to_string(),
            ]
        })
        .collect();
    say!(
        "{}",
        render(
            &[
                "MODEL",
                "PRODUCTION",
                "CANARY",
                "VERSIONS",
                "LATEST",
                "OTHER ALIASES",
                "UPDATED"
            ],
            &rows
        )
    );
    Ok(())
}

pub fn versions(registry: &Registry, model: &ModelName, json: bool) -> Result<(), Failure> {
    print_versions(&registry.versions(model)?, json)
}

fn print_versions(versions: &[crate::model::ModelVersion], json: bool) -> Result<(), Failure> {
    if json {
        return print_json(&versions);
    }
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            let metrics: Vec<String> = v.metrics.iter().map(|(k, x)| format!("{k}={x}")).collect();
            vec![
                v.label(),
                or_dash(Some(v.aliases.join(","))),
                match (&v.not_servable, v.smoke_passed) {
                    (Some(_), _) => "not ONNX".into(),
                    (None, Some(true)) => "passed".into(),
                    (None, Some(false)) => "FAILED".into(),
                    (None, None) => "-".into(),
                },
                v.lineage.created_at.format("%Y-%m-%d %H:%M").to_string(),
                v.lineage.author.clone(),
                // MLflow records no sha256 unless a tag does: unknown, not blank.
                or_dash(Some(v.sha256.chars().take(12).collect::<String>())),
                or_dash(v.lineage.pipeline_version.as_ref()),
                or_dash(
                    v.lineage
                        .code_commit
                        .as_ref()
                        .map(|c| c.chars().take(10).collect::<String>()),
                ),
                or_dash(
                    v.lineage
                        .data_hash
                        .as_ref()
                        .map(|c| c.chars().take(12).collect::<String>()),
                ),
                or_dash(Some(metrics.join(" "))),
            ]
        })
        .collect();
    say!(
        "{}",
        render(
            &[
                "VERSION", "ALIASES", "SMOKE", "CREATED", "AUTHOR", "SHA256", "PIPELINE", "COMMIT",
                "DATA", "METRICS"
            ],
            &rows
        )
    );
    Ok(())
}

pub fn print_settings(settings: &Settings, json: bool) -> Result<(), Failure> {
    let env = &settings.environment;
    let value = serde_json::json!({
        "config_file": settings.config_path.as_ref().map(|p| p.display().to_string()),
        "data_dir": settings.data_dir.display().to_string(),
        "user": settings.user,
        "environment": env.name,
        "read_only": env.read_only,
        "environments": settings.environments.keys().collect::<Vec<_>>(),
        "theme": settings.theme,
        "ascii": settings.ascii,
        "drift": {
            "psi_warn": settings.thresholds.psi_warn,
            "psi_drift": settings.thresholds.psi_drift,
            "ks_p_value": settings.thresholds.ks_p_value,
            "ks_min_statistic": settings.thresholds.ks_min_statistic,
            "js_drift": settings.thresholds.js_drift,
            "js_base": settings.thresholds.js_base.as_str(),
            "min_drift_samples": settings.thresholds.min_drift_samples,
            "ks_reference_values": settings.thresholds.ks_reference_values,
        },
        // The config's [gates] table as resolved, under its own names.
        "gates": &settings.gates,
        "alerts": &settings.alerts,
        "receivers": settings.receivers.iter().map(receiver_text).collect::<Vec<_>>(),
        "retrain": &settings.retrain,
        "request_log": &settings.request_log,
    });
    if json {
        return print_json(&value);
    }
    say!(
        "config file   {}",
        or_dash(
            settings
                .config_path
                .as_ref()
                .map(|p| p.display().to_string())
        )
    );
    say!("data dir      {}", settings.data_dir.display());
    say!("user          {}", settings.user);
    say!("environment   {}", env.name);
    // Every configured environment with its backends (the current one marked); URLs only:
    // credentials come from the environment and are never printed.
    for e in settings.environments.values() {
        let mut backends = vec![
            match (&e.registry, e.mlflow_url.as_deref()) {
                (crate::settings::RegistryBackend::Mlflow, Some(url)) => format!(
                    "registry mlflow {url} (aliases {} / {})",
                    e.mlflow_production_alias, e.mlflow_canary_alias
                ),
                _ => "registry embedded".to_string(),
            },
            match e.serving {
                crate::settings::ServingBackend::Local => "serving local".to_string(),
                crate::settings::ServingBackend::Kubernetes => format!(
                    "serving kubernetes (context {}, namespaces {}, storage {})",
                    e.kube_context.as_deref().unwrap_or("current"),
                    if e.namespaces.is_empty() {
                        "of the context".to_string()
                    } else {
                        e.namespaces.join(" ")
                    },
                    e.storage_uri.as_deref().unwrap_or("not set: no deploys")
                ),
            },
            match (&e.metrics, e.prometheus_url.as_deref()) {
                (crate::settings::MetricsBackend::Prometheus, Some(url)) => {
                    format!("metrics prometheus {url}")
                }
                _ => "metrics scrape".to_string(),
            },
        ];
        if let Some(runtime) = e.prometheus_runtime {
            backends.push(format!("runtime {}", runtime.name()));
        }
        if e.read_only {
            backends.push("read-only".into());
        }
        if e.auto_rollback {
            backends.push("auto-rollback".into());
        }
        let mark = if e.name == env.name { "*" } else { " " };
        say!("  {mark} {:<10} {}", e.name, backends.join(", "));
    }
    say!(
        "theme         {}{}",
        settings.theme,
        if settings.ascii { " (ascii)" } else { "" }
    );
    let t = &settings.thresholds;
    say!(
        "drift         PSI warn {} drift {}; KS p < {} with D >= {} (on up to {} reference values); JS >= {} (base {}); verdicts from {} rows",
        t.psi_warn,
        t.psi_drift,
        t.ks_p_value,
        t.ks_min_statistic,
        t.ks_reference_values,
        t.js_drift,
        t.js_base.as_str(),
        t.min_drift_samples
    );
    let g = &settings.gates;
    say!(
        "gates         canary >= {} requests; 5xx +{} and 4xx +{} at most; p99 x{} (floor {} ms); metric drop {}; answers differ from production's by {} at most (judged from {} rows each); labelled quality judged from {} labelled answers covering {} of answers",
        g.min_canary_requests,
        g.max_error_ratio_increase,
        g.max_client_error_ratio_increase,
        g.max_p99_ratio,
        g.p99_floor_ms,
        g.max_metric_drop,
        g.max_answer_difference,
        g.min_answer_rows,
        g.min_labelled_answers,
        g.min_label_coverage
    );
    say!(
        "              {}",
        match g.min_shadow_agreement {
            Some(a) => format!(
                "a shadow phase agreeing with production on >= {:.1}% of >= {} rows before a version takes traffic (canary, direct deploy, rollout)",
                a * 100.0,
                g.min_shadow_rows
            ),
            None => "no shadow phase required before a version takes traffic ([gates] min_shadow_agreement)".into(),
        }
    );
    let log = &settings.request_log;
    say!(
        "request log   {}",
        if log.rate > 0.0 {
            format!(
                "{:.1}% of requests with their answers, at most {} MB and {} per model (inputs can be personal data)",
                log.rate * 100.0,
                log.max_mb,
                crate::engine::rollout::duration_text(log.max_age_seconds)
            )
        } else {
            "off ([request_log] rate turns it on)".into()
        }
    );
    say!(
        "alerts        {} rules (flightdeck alerts list shows them)",
        settings.alerts.len()
    );
    let receivers: Vec<String> = settings.receivers.iter().map(receiver_text).collect();
    say!(
        "receivers     {}",
        if receivers.is_empty() {
            "none: watch only logs and journals".to_string()
        } else {
            receivers.join("; ")
        }
    );
    say!("retrain       {}", retrain_text(settings.retrain.as_ref()));
    Ok(())
}

/// "webhook http://... (signed)", as `config` and `watch` say a receiver.
pub(super) fn receiver_text(receiver: &crate::model::Receiver) -> String {
    use crate::model::Receiver;
    match receiver {
        Receiver::Alertmanager { url } => format!("alertmanager {url}"),
        Receiver::Webhook {
            url, secret_env, ..
        } => match secret_env {
            Some(var) => format!("webhook {url} (signed with ${var})"),
            None => format!("webhook {url}"),
        },
        Receiver::Slack { url, .. } => format!("slack {url}"),
    }
}

/// "on input_drift, prediction_drift held 6h: command /opt/retrain", or "off".
pub(super) fn retrain_text(trigger: Option<&crate::model::RetrainTrigger>) -> String {
    let Some(t) = trigger else {
        return "off".into();
    };
    let signals: Vec<&str> = t.signals.iter().map(|s| s.name()).collect();
    let mut whom = Vec::new();
    if let Some(c) = &t.command {
        whom.push(format!("command {}", c.join(" ")));
    }
    if let Some(url) = &t.url {
        whom.push(format!("POST {url}"));
    }
    format!(
        "on {} held {}s: {}",
        signals.join(", "),
        t.for_seconds,
        whom.join(" and ")
    )
}
