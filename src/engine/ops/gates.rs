//! Gates: evidence an operation must have before it runs. Smoke before deploy: the version's
//! latest smoke test must have passed; a version never smoke-tested is tested now.

use std::path::Path;

use crate::engine::smoke::{SmokeOptions, smoke};
use crate::engine::{EngineError, Registry};
use crate::model::{ModelName, SmokeReport};

/// Passes when the version's smoke test passed (running one if there is none). `skip` is the
/// user's explicit override, for the journal.
pub async fn smoke_gate(
    registry: &mut Registry,
    program: &Path,
    model: &ModelName,
    version: u32,
    skip: bool,
    actor: &crate::engine::Actor,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Option<SmokeReport>, EngineError> {
    if skip {
        return Ok(None);
    }
    let report = match registry.latest_smoke(model, version)? {
        Some(report) => report,
        None => {
            smoke(
                registry,
                program,
                model,
                version,
                &SmokeOptions::default(),
                progress,
            )
            .await?
        }
    };
    match report.first_failure() {
        None => Ok(Some(report)),
        Some(failed) => {
            // A blocked deploy is evidence too: who tried what, and which gate stopped it.
            let entry = crate::model::NewJournalEntry {
                user: actor.user.clone(),
                environment: actor.environment.clone(),
                operation: "deploy".into(),
                model: Some(model.to_string()),
                from: None,
                to: Some(format!("v{version}")),
                outcome: crate::model::Outcome::Failed,
                details: serde_json::json!({ "gate": "smoke", "failed_check": failed, "smoke": report }),
            };
            let _ = registry.append_journal(&entry);
            Err(EngineError::GateFailed {
                model: model.to_string(),
                gate: "smoke".into(),
                detail: format!("v{version} failed {}: {}", failed.name, failed.detail),
                flag: "--skip-smoke".into(),
            })
        }
    }
}

/// Rows a canary's drift window needs before its verdict can block a promote.
const DRIFT_GATE_MIN_SAMPLES: u64 = 1000;

/// One gate's verdict, with the evidence the preview shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GateResult {
    pub name: String,
    pub passed: bool,
    pub evidence: String,
}

fn gate(name: &str, passed: bool, evidence: impl Into<String>) -> GateResult {
    GateResult {
        name: name.into(),
        passed,
        evidence: evidence.into(),
    }
}

pub use crate::engine::serving::Evidence;

/// Before promote: the canary's traffic, error rate, p99 and drift against production's.
pub fn promote_gates(
    evidence: Evidence,
    model: &ModelName,
    production: u32,
    canary: u32,
    limits: &crate::settings::Gates,
) -> Vec<GateResult> {
    use crate::sources::metrics::histogram_quantile;
    let snapshot = match evidence.counters {
        Ok(snapshot) => snapshot,
        Err(e) => {
            return vec![gate(
                "metrics",
                false,
                format!("cannot read the serving metrics: {e}"),
            )];
        }
    };
    let counters = |v: u32| {
        snapshot
            .versions
            .get(&(model.to_string(), v.to_string()))
            .cloned()
            .unwrap_or_default()
    };
    let (prod, can) = (counters(production), counters(canary));
    let ratio = |c: &crate::sources::metrics::VersionCounters| {
        if c.requests > 0.0 {
            c.server_errors / c.requests
        } else {
            0.0
        }
    };
    let p99 = |c: &crate::sources::metrics::VersionCounters| histogram_quantile(0.99, &c.latency);
    let mut results = Vec::new();
    let enough = can.requests >= limits.min_canary_requests as f64;
    results.push(gate(
        "canary traffic",
        enough,
        format!(
            "v{canary} served {:.0} requests (minimum {})",
            can.requests, limits.min_canary_requests
        ),
    ));
    let (ce, pe) = (ratio(&can), ratio(&prod));
    results.push(gate(
        "error rate",
        enough && ce <= pe + limits.max_error_ratio_increase,
        format!(
            "canary {:.2}% vs production {:.2}% (allowed +{:.2}%)",
            ce * 100.0,
            pe * 100.0,
            limits.max_error_ratio_increase * 100.0
        ),
    ));
    let ms = |s: Option<f64>| {
        s.map(|v| format!("{:.2} ms", v * 1e3))
            .unwrap_or_else(|| "-".into())
    };
    let (cp, pp) = (p99(&can), p99(&prod));
    let latency_ok = match (cp, pp) {
        (Some(c), Some(p)) => c <= p * limits.max_p99_ratio,
        (Some(_), None) => true,
        (None, _) => false,
    };
    results.push(gate(
        "p99 latency",
        enough && latency_ok,
        format!(
            "canary {} vs production {} (allowed {}x)",
            ms(cp),
            ms(pp),
            limits.max_p99_ratio
        ),
    ));
    let reports = match evidence.drift {
        Ok(reports) => reports,
        Err(e) => {
            // No evidence is not evidence of no drift.
            results.push(gate(
                "drift",
                false,
                format!("cannot read the drift reports: {e}"),
            ));
            return results;
        }
    };
    if reports.is_empty() {
        // Measured nowhere is like no baseline locally: nothing to compare, said plainly, not
        // a failure that every promote would have to override.
        results.push(gate(
            "drift",
            true,
            "not measured: no drift verdict for either version (no baseline profile, or a serving runtime that exports none); check input drift elsewhere",
        ));
        return results;
    }
    let report = |v: u32| reports.iter().find(|r| r.0 == v);
    let verdict = |r: Option<&(u32, String, Option<u64>)>| {
        r.map(|r| r.1.clone())
            .unwrap_or_else(|| "no baseline".into())
    };
    let (canary_report, production_report) = (report(canary), report(production));
    let (cv, pv) = (verdict(canary_report), verdict(production_report));
    // A backend that does not say how many rows a verdict rests on is taken at its word.
    let samples = canary_report.map(|r| r.2.unwrap_or(u64::MAX)).unwrap_or(0);
    // Canary and production see the same traffic; a small canary window disagrees with
    // production by chance alone, so the comparison waits for enough rows.
    let (passed, evidence) = if samples < DRIFT_GATE_MIN_SAMPLES && cv == "drift" {
        (
            true,
            format!(
                "canary {cv} on {samples} rows (too few to compare; needs {DRIFT_GATE_MIN_SAMPLES}), production {pv}"
            ),
        )
    } else {
        (
            cv != "drift" || pv == "drift",
            if samples == u64::MAX {
                format!("canary {cv}, production {pv}")
            } else {
                format!("canary {cv} on {samples} rows, production {pv}")
            },
        )
    };
    results.push(gate("drift", passed, evidence));
    results
}

/// Before promote, when the canary was evaluated against this production version: it may not
/// be worse by more than `max_drop` (AUC, else accuracy; RMSE relatively for regressors).
pub fn evaluation_gate(
    registry: &Registry,
    model: &ModelName,
    production: u32,
    canary: u32,
    max_drop: f64,
) -> Result<Option<GateResult>, EngineError> {
    let Some(e) = registry.latest_evaluation(model, canary)? else {
        return Ok(None);
    };
    if e.baseline != Some(production) {
        return Ok(None);
    }
    let Some(base) = &e.baseline_metrics else {
        return Ok(None);
    };
    let cand = &e.candidate_metrics;
    let result = if let (Some(c), Some(b)) = (
        cand.get("auc").or(cand.get("accuracy")),
        base.get("auc").or(base.get("accuracy")),
    ) {
        let metric = if cand.contains_key("auc") {
            "AUC"
        } else {
            "accuracy"
        };
        gate(
            "evaluation",
            *c >= b - max_drop,
            format!("{metric} {c:.4} vs production {b:.4} (allowed drop {max_drop})"),
        )
    } else if let (Some(c), Some(b)) = (cand.get("rmse"), base.get("rmse")) {
        gate(
            "evaluation",
            *c <= b * (1.0 + max_drop),
            format!(
                "RMSE {c:.4} vs production {b:.4} (allowed +{:.1}%)",
                max_drop * 100.0
            ),
        )
    } else {
        return Ok(None);
    };
    Ok(Some(result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::metrics::ScrapeSnapshot;

    type Verdicts = Vec<(u32, String, Option<u64>)>;

    fn drift_gate(drift: Result<Verdicts, String>) -> GateResult {
        let limits = crate::settings::Gates {
            min_canary_requests: 0,
            max_error_ratio_increase: 0.01,
            max_p99_ratio: 2.0,
            max_metric_drop: 0.02,
        };
        let evidence = Evidence {
            counters: Ok(ScrapeSnapshot::default()),
            drift,
        };
        let model = ModelName::new("fraud").unwrap_or_else(|e| unreachable!("{e}"));
        let gates = promote_gates(evidence, &model, 1, 2, &limits);
        let drift = gates.into_iter().find(|g| g.name == "drift");
        drift.unwrap_or_else(|| unreachable!("no drift gate"))
    }

    #[test]
    fn drift_measured_nowhere_passes_and_says_so() {
        let gate = drift_gate(Ok(Vec::new()));
        assert!(gate.passed);
        assert!(
            gate.evidence.starts_with("not measured"),
            "{}",
            gate.evidence
        );
    }

    #[test]
    fn unreadable_drift_fails() {
        let gate = drift_gate(Err("Prometheus at http://127.0.0.1:9 is unreachable".into()));
        assert!(!gate.passed);
        assert!(gate.evidence.contains("unreachable"), "{}", gate.evidence);
    }

    #[test]
    fn a_drifting_canary_fails_only_on_enough_rows_and_when_production_does_not_drift() {
        let verdicts = |canary: &str, rows: u64, production: &str| {
            Ok(vec![
                (1, production.to_string(), Some(5000)),
                (2, canary.to_string(), Some(rows)),
            ])
        };
        assert!(!drift_gate(verdicts("drift", 2000, "ok")).passed);
        assert!(drift_gate(verdicts("drift", 200, "ok")).passed);
        assert!(drift_gate(verdicts("drift", 2000, "drift")).passed);
        assert!(drift_gate(verdicts("ok", 2000, "ok")).passed);
    }
}
