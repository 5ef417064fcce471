//! Shadow traffic, started and stopped through the one place that journals it: a candidate
//! answering a copy of production's requests in the local model server, compared and thrown
//! away. KServe has no mirror (kserve#2978): there, `flightdeck replay` tests a candidate on
//! logged requests instead.

use crate::error::EngineError;
use crate::model::{ModelName, NewJournalEntry, Outcome, ShadowReport};
use crate::serving::LocalServing;
use crate::serving::shadow::ShadowAction;
use crate::store::{Actor, Registry};

/// A shadow started, and the one it replaced (stopped first, its report journaled).
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub report: ShadowReport,
    pub replaced: Option<ShadowReport>,
}

/// Starts (or replaces) the shadow of `model`: `version` on `percent` of production's requests.
pub async fn start(
    serving: &LocalServing,
    registry: &mut Registry,
    actor: &Actor,
    model: &ModelName,
    version: u32,
    percent: u8,
) -> Result<Started, EngineError> {
    actor.ensure_writable(&format!("shadow {model} v{version}"))?;
    registry.version(model, version)?;
    // Refused before anything is stopped: a typo must not end the shadow that runs.
    let production = serving
        .status(model.as_str())
        .await
        .serving
        .map(|plan| plan.stable);
    if production == Some(version) {
        return Err(EngineError::Refused {
            model: model.to_string(),
            reason: format!(
                "v{version} is production: a shadow compares another version with it (the running shadow, if any, goes on)"
            ),
        });
    }
    // One shadow a model: a running one ends here, its final report journaled, not lost.
    let replaced = serving
        .shadow(model.as_str(), ShadowAction::Stop)
        .await
        .ok();
    if let Some(running) = &replaced {
        journal(registry, actor, "shadow stopped", running)?;
    }
    let report = serving
        .shadow(model.as_str(), ShadowAction::Start { version, percent })
        .await
        .map_err(|e| EngineError::Serving(e.to_string()))?;
    journal(registry, actor, "shadow started", &report)?;
    Ok(Started { report, replaced })
}

/// Stops the shadow of `model`; its last report, journaled.
pub async fn stop(
    serving: &LocalServing,
    registry: &mut Registry,
    actor: &Actor,
    model: &ModelName,
) -> Result<ShadowReport, EngineError> {
    actor.ensure_writable(&format!("stop the shadow of {model}"))?;
    let report = serving
        .shadow(model.as_str(), ShadowAction::Stop)
        .await
        .map_err(|e| EngineError::Serving(e.to_string()))?;
    journal(registry, actor, "shadow stopped", &report)?;
    Ok(report)
}

/// Starts a shadow in the local server of `model` under `data_dir` (the console's way in: it
/// holds no serving of its own).
pub async fn start_local(
    data_dir: &std::path::Path,
    program: std::path::PathBuf,
    actor: &Actor,
    model: &ModelName,
    version: u32,
    percent: u8,
) -> Result<Started, EngineError> {
    let serving = LocalServing::new(data_dir, program);
    let mut registry = Registry::open(data_dir)?;
    start(&serving, &mut registry, actor, model, version, percent).await
}

/// Stops the shadow in the local server of `model` under `data_dir`.
pub async fn stop_local(
    data_dir: &std::path::Path,
    program: std::path::PathBuf,
    actor: &Actor,
    model: &ModelName,
) -> Result<ShadowReport, EngineError> {
    let serving = LocalServing::new(data_dir, program);
    let mut registry = Registry::open(data_dir)?;
    stop(&serving, &mut registry, actor, model).await
}

/// What the shadow of `model` found so far.
pub async fn read(serving: &LocalServing, model: &ModelName) -> Result<ShadowReport, EngineError> {
    serving
        .shadow(model.as_str(), ShadowAction::Read)
        .await
        .map_err(|e| match e {
            crate::serving::ServingError::Refused { reason, .. } if reason.starts_with("no shadow") => {
                EngineError::Refused {
                    model: model.to_string(),
                    reason: format!(
                        "{reason}; `flightdeck shadow {model} VERSION` starts one, and the journal has the reports of those that stopped"
                    ),
                }
            }
            other => EngineError::Serving(other.to_string()),
        })
}

fn journal(
    registry: &mut Registry,
    actor: &Actor,
    operation: &str,
    report: &ShadowReport,
) -> Result<(), EngineError> {
    registry.append_journal(&NewJournalEntry {
        user: actor.user.clone(),
        environment: actor.environment.clone(),
        operation: operation.into(),
        model: Some(report.model.clone()),
        from: Some(format!("v{}", report.versus)),
        to: Some(format!("v{} {}%", report.version, report.percent)),
        outcome: Outcome::Succeeded,
        details: serde_json::json!({ "shadow": report }),
    })?;
    Ok(())
}

/// "v2 agrees with v1 on 87.3% of 300 rows (output_label); 0 of 300 copies failed, 0 dropped
/// for falling behind".
/// Milliseconds with the digits a sub-millisecond call needs ("0.0029", "1.42").
fn ms(value: f64) -> String {
    if value < 0.01 {
        format!("{value:.4}")
    } else {
        format!("{value:.2}")
    }
}

pub fn sentence(r: &ShadowReport) -> String {
    let agreement = match (r.agreement, &r.output) {
        (Some(a), Some(output)) => format!(
            "v{} agrees with v{} on {:.1}% of {} rows ({output})",
            r.version,
            r.versus,
            a * 100.0,
            r.rows
        ),
        _ => format!("v{}: no class output compared yet", r.version),
    };
    // The silently constant model, said as replay says it.
    let (theirs, ours) = crate::model::comparison::classes(&r.confusion);
    let agreement = if ours == 1 && theirs > 1 {
        format!(
            "v{} answers one class to everything, where production answered {theirs}: {agreement}",
            r.version
        )
    } else {
        agreement
    };
    let scores = r
        .score_difference
        .map(|[p50, p95, max]| {
            format!(
                "; score differences median {p50:.3}, 95th percentile {p95:.3}, largest {max:.3}"
            )
        })
        .unwrap_or_default();
    let latency = r
        .latency_ms
        .map(|[p50, p99]| format!("; its calls p50 {} ms, p99 {} ms", ms(p50), ms(p99)))
        .unwrap_or_default();
    let resumed = r
        .resumed_at
        .map(|t| {
            format!(
                "; counted since its server restarted at {} UTC (what it saw before was lost with the old process)",
                t.format("%H:%M:%S")
            )
        })
        .unwrap_or_default();
    format!(
        "{agreement}{scores}; {} of {} copies failed{}, {} dropped for falling behind{latency}{resumed}",
        r.errors,
        r.requests,
        r.first_error
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default(),
        r.dropped
    )
}
