//! Gates: the evidence an operation must have before it runs. Each gate says pass, fail or not
//! enough data yet, with the measured value, the threshold and the window, so a preview never
//! shows a bare ✖. Deploy and rollback: the target's smoke test and its signature against what
//! production's clients send. Promote: the canary's traffic, 5xx and 4xx ratios, p99 (a ratio
//! with an absolute floor) and drift against production's, and its evaluation.

use crate::clients::metrics::{LiveNumbers, VersionCounters};
pub use crate::model::{GateResult, GateStatus};
use crate::model::{ModelName, TensorSpec};
use crate::stats::histogram_quantile;

pub use crate::serving::Evidence;

/// Gate names, as previews, the journal and `--json` say them.
pub const SMOKE: &str = "smoke";
pub const ARTIFACT: &str = "artifact";
pub const SIGNATURE: &str = "signature";
pub const TRAFFIC: &str = "canary traffic";
pub const SERVER_ERRORS: &str = "5xx errors";
pub const CLIENT_ERRORS: &str = "4xx errors";
pub const LATENCY: &str = "p99 latency";
pub const DRIFT: &str = "drift";
pub const ANSWERS: &str = "answers";
pub const LABELS: &str = "labelled quality";
pub const EVALUATION: &str = "evaluation";
pub const METRICS: &str = "metrics";
pub const SHADOW: &str = "shadow";

/// Below this p-value a canary's lower accuracy on its labelled answers is not chance.
const LABELS_SIGNIFICANCE: f64 = 0.01;

/// Below this p-value a difference between the canary's and production's answers is not
/// chance; above it, however large it looks on few rows, it does not block.
const ANSWERS_SIGNIFICANCE: f64 = 0.01;

/// Rows of each version, and the p-value below which, a difference in answers fails before
/// `gates.min_answer_rows`: a canary that answers unlike production on nearly every row is not
/// left to answer a couple of hundred more.
const ANSWERS_EARLY_ROWS: u64 = 30;
const ANSWERS_EARLY_P: f64 = 1e-6;

/// Rows a canary's drift window needs before its verdict can block a promote.
const DRIFT_GATE_MIN_SAMPLES: u64 = 1000;

fn gate(name: &str, status: GateStatus, evidence: impl Into<String>) -> GateResult {
    GateResult {
        name: name.into(),
        status,
        evidence: evidence.into(),
    }
}

fn judged(name: &str, passed: bool, evidence: impl Into<String>) -> GateResult {
    let status = if passed {
        GateStatus::Pass
    } else {
        GateStatus::Fail
    };
    gate(name, status, evidence)
}

/// What the registry knows of a version's smoke test: its latest result, or the artifact
/// check an MLflow version gets instead.
#[derive(Debug, Clone, PartialEq)]
pub struct SmokeEvidence {
    pub passed: bool,
    /// "passed 12:04 UTC" or the first failed check, in words.
    pub detail: String,
}

/// The target's latest smoke test must have passed. `None`: never smoke-tested and not run now
/// (the user skipped it).
pub fn smoke_gate(version: u32, evidence: Option<&SmokeEvidence>) -> GateResult {
    match evidence {
        Some(e) if e.passed => judged(SMOKE, true, format!("v{version} {}", e.detail)),
        Some(e) => judged(
            SMOKE,
            false,
            format!("v{version} failed its smoke test: {}", e.detail),
        ),
        None => judged(
            SMOKE,
            false,
            format!("v{version} has no smoke test ({SMOKE_NOT_RUN})"),
        ),
    }
}

/// How a smoke gate says its test was never run (skipped).
const SMOKE_NOT_RUN: &str = "not run: skipped";

/// Whether a smoke gate's test ran (it passed or failed) rather than being skipped.
pub fn smoke_was_run(gate: &GateResult) -> bool {
    !gate.evidence.contains(SMOKE_NOT_RUN)
}

/// The version's stored file must be whole: what the artifact check found.
pub fn artifact_gate(checked: Result<String, String>) -> GateResult {
    match checked {
        Ok(said) => judged(ARTIFACT, true, said),
        Err(said) => judged(ARTIFACT, false, said),
    }
}

/// Inputs in words: "X FP32 [N, 4]".
fn inputs_text(inputs: &[TensorSpec]) -> String {
    inputs
        .iter()
        .map(|i| format!("{} {} {}", i.name, i.datatype, i.shape_text()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The target must accept what production's clients send: the same inputs (names, types,
/// shapes; the batch dimension free). `clients` names them and gives the inputs they send
/// ("production v1's clients"); `None`: nothing serves, no client breaks.
pub fn signature_gate(
    version: u32,
    inputs: &[TensorSpec],
    clients: Option<(&str, &[TensorSpec])>,
) -> GateResult {
    let Some((who, sent)) = clients else {
        return judged(
            SIGNATURE,
            true,
            format!(
                "nothing serves production: no clients to break (v{version} takes {})",
                inputs_text(inputs)
            ),
        );
    };
    let fits = |want: &TensorSpec, got: &TensorSpec| {
        want.name == got.name
            && want.datatype == got.datatype
            && want.shape.len() == got.shape.len()
            && want
                .shape
                .iter()
                .zip(&got.shape)
                .enumerate()
                .all(|(axis, (w, g))| axis == 0 || w == g || *w < 0 || *g < 0)
    };
    let accepts =
        sent.len() == inputs.len() && sent.iter().all(|s| inputs.iter().any(|i| fits(i, s)));
    if accepts {
        judged(
            SIGNATURE,
            true,
            format!("v{version} takes what {who} send: {}", inputs_text(sent)),
        )
    } else {
        judged(
            SIGNATURE,
            false,
            format!(
                "v{version} takes {}, but {who} send {}: their requests would fail",
                inputs_text(inputs),
                inputs_text(sent)
            ),
        )
    }
}

/// Limits the promote gates judge by.
pub use crate::settings::Gates as Limits;

fn percent(ratio: f64) -> String {
    format!("{:.2}%", ratio * 100.0)
}

fn ms(seconds: f64) -> String {
    format!("{:.2} ms", seconds * 1e3)
}

/// Errors of one kind over requests (0 when there were none).
fn ratio(errors: f64, requests: f64) -> f64 {
    if requests > 0.0 {
        errors / requests
    } else {
        0.0
    }
}

/// The counters' window, in words, when a promote is judged on everything since each version
/// was loaded (a rollout's step says its own).
pub const SINCE_LOADED: &str = "since each version was loaded";

/// When `gates.min_shadow_agreement` is set: the version must have run in shadow beside
/// production `production` (the newest shadow report of it, running or journaled when it
/// stopped) and agreed with it on at least that share of at least `gates.min_shadow_rows` rows.
pub fn shadow_gate(
    version: u32,
    production: u32,
    report: Option<&crate::model::ShadowReport>,
    limits: &Limits,
) -> Option<GateResult> {
    let required = limits.min_shadow_agreement?;
    let Some(r) = report.filter(|r| r.version == version && r.versus == production) else {
        return Some(judged(
            SHADOW,
            false,
            format!(
                "v{version} has not run in shadow beside production v{production}: `flightdeck shadow MODEL {version}` first (gates.min_shadow_agreement = {required})"
            ),
        ));
    };
    let agreement = r.agreement.unwrap_or(0.0);
    let said = format!(
        "v{version} agreed with v{production} on {} of {} rows in shadow (required {} of at least {})",
        percent(agreement),
        r.rows,
        percent(required),
        limits.min_shadow_rows
    );
    if r.rows < limits.min_shadow_rows {
        // Even if every row still to come agreed, it could not reach the requirement: failed.
        let agreed = agreement * r.rows as f64;
        let best =
            (agreed + (limits.min_shadow_rows - r.rows) as f64) / limits.min_shadow_rows as f64;
        if best < required {
            return Some(judged(SHADOW, false, said));
        }
        return Some(gate(
            SHADOW,
            GateStatus::NotEnoughData,
            format!(
                "{said}: a shadow phase of {} more rows is needed (`flightdeck shadow MODEL {version}`, then --stop once it has them)",
                limits.min_shadow_rows - r.rows
            ),
        ));
    }
    Some(judged(SHADOW, agreement >= required && r.errors == 0, said))
}

/// Before promote: the canary's traffic, 5xx and 4xx ratios, p99 and drift against production's.
pub fn promote_gates(
    evidence: Evidence,
    model: &ModelName,
    production: u32,
    canary: u32,
    limits: &Limits,
    window: &str,
) -> Vec<GateResult> {
    let mut results = match &evidence.counters {
        Ok(snapshot) => {
            let counters = |v: u32| {
                snapshot
                    .versions
                    .get(&(model.to_string(), v.to_string()))
                    .cloned()
                    .unwrap_or_default()
            };
            let mut gates = serving_gates(
                &counters(production),
                &counters(canary),
                canary,
                limits,
                window,
            );
            let live = |v: u32| snapshot.live.get(&(model.to_string(), v.to_string()));
            gates.push(labels_gate(
                live(production),
                live(canary),
                production,
                canary,
                limits,
            ));
            gates
        }
        Err(e) => vec![judged(
            METRICS,
            false,
            format!("cannot read the serving metrics: {e}"),
        )],
    };
    results.push(drift_gate(evidence.drift, production, canary));
    results.push(answers_gate(&evidence.answers, production, canary, limits));
    results
}

/// When labels arrive for the canary's answers: its accuracy on them may be at most
/// `gates.max_metric_drop` below production's unless the drop is within chance (RMSE
/// relatively), judged once each has `gates.min_labelled_answers` labelled answers covering at
/// least `gates.min_label_coverage` of what it answered.
fn labels_gate(
    production: Option<&LiveNumbers>,
    canary: Option<&LiveNumbers>,
    production_version: u32,
    canary_version: u32,
    limits: &Limits,
) -> GateResult {
    let labelled = |l: Option<&LiveNumbers>| l.map_or(0.0, |l| l.labelled);
    if labelled(canary) == 0.0 {
        return judged(
            LABELS,
            true,
            "not measured: no label arrived for the canary's answers (flightdeck feedback sends them)",
        );
    }
    let said = |v: u32, l: Option<&LiveNumbers>| match l {
        Some(l) => format!(
            "v{v} {} labelled ({} of its answers)",
            l.labelled,
            percent(l.coverage)
        ),
        None => format!("v{v} none labelled"),
    };
    let counts = format!(
        "{}, {}",
        said(canary_version, canary),
        said(production_version, production)
    );
    let enough = |l: Option<&LiveNumbers>| {
        l.is_some_and(|l| {
            l.labelled >= limits.min_labelled_answers as f64
                && l.coverage >= limits.min_label_coverage
        })
    };
    let (Some(c), Some(p)) = (canary, production) else {
        return gate(LABELS, GateStatus::NotEnoughData, counts);
    };
    if !enough(canary) || !enough(production) {
        return gate(
            LABELS,
            GateStatus::NotEnoughData,
            format!(
                "{counts}; each needs {} labelled answers covering {} of its answers",
                limits.min_labelled_answers,
                percent(limits.min_label_coverage)
            ),
        );
    }
    let drop = limits.max_metric_drop;
    // Live labels trickle in: a few hundred labelled answers with few positives move an AUC by
    // several points by chance. Accuracy is judged, and only a drop beyond chance fails; the
    // AUC is shown beside it.
    let auc = match (c.metrics.get("auc"), p.metrics.get("auc")) {
        (Some(ca), Some(pa)) => format!(" (AUC {ca:.4} vs {pa:.4})"),
        _ => String::new(),
    };
    if let (Some(ca), Some(pa)) = (c.metrics.get("accuracy"), p.metrics.get("accuracy")) {
        if ca >= pa {
            return judged(
                LABELS,
                true,
                format!(
                    "accuracy {ca:.4} vs production {pa:.4} on labelled answers{auc}: no drop; {counts}"
                ),
            );
        }
        let chance = crate::stats::quality::proportion_drop_p_value(*pa, p.rows, *ca, c.rows);
        let fails = *ca < pa - drop && chance < LABELS_SIGNIFICANCE;
        return judged(
            LABELS,
            !fails,
            format!(
                "accuracy {ca:.4} vs production {pa:.4} on labelled answers{auc}, a drop this large by chance p {} (allowed drop {drop}, unless p >= {LABELS_SIGNIFICANCE}); {counts}",
                crate::model::drift::p_value_text(chance)
            ),
        );
    }
    match (c.metrics.get("rmse"), p.metrics.get("rmse")) {
        (Some(cm), Some(pm)) => judged(
            LABELS,
            *cm <= pm * (1.0 + drop),
            format!(
                "RMSE {cm:.4} vs production {pm:.4} on labelled answers (allowed +{:.1}%); {counts}",
                drop * 100.0
            ),
        ),
        _ => judged(
            LABELS,
            true,
            format!("not measured: the two versions share no quality metric; {counts}"),
        ),
    }
}

/// The canary must answer like production on the same traffic: its predicted classes (or its
/// numbers, for a regressor) may differ from production's by at most
/// `gates.max_answer_difference` (total variation, or KS D), unless the difference is within
/// chance (p >= 0.01). No labels needed.
fn answers_gate(
    answers: &Result<crate::model::AnswerComparison, String>,
    production: u32,
    canary: u32,
    limits: &Limits,
) -> GateResult {
    let compared = match answers {
        Ok(c) if c.versus == production => c,
        Ok(c) => {
            return judged(
                ANSWERS,
                true,
                format!(
                    "not measured: the server compares v{canary} with v{}, not production v{production}",
                    c.versus
                ),
            );
        }
        // Like drift with no baseline: nothing to compare is said plainly, not failed.
        Err(why) => return judged(ANSWERS, true, format!("not measured: {why}")),
    };
    let Some(headline) = compared.headline() else {
        return judged(
            ANSWERS,
            true,
            "not measured: no answer signal both versions share",
        );
    };
    let said = compared.describe(canary);
    let allowed = limits.max_answer_difference;
    let fewest = compared.rows.min(compared.versus_rows);
    // Overwhelming evidence needs no 200 rows: every answer waited for is a wrong answer
    // served. Only a failure is judged early, never a pass.
    if fewest < limits.min_answer_rows
        && fewest >= ANSWERS_EARLY_ROWS
        && headline.distance > allowed
        && headline.p_value < ANSWERS_EARLY_P
    {
        return judged(
            ANSWERS,
            false,
            format!(
                "{said}; judged before {} rows each since p < {ANSWERS_EARLY_P:e} on {fewest}",
                limits.min_answer_rows
            ),
        );
    }
    if fewest < limits.min_answer_rows {
        return gate(
            ANSWERS,
            GateStatus::NotEnoughData,
            format!(
                "{said}; needs {} rows of each ({} more) to judge",
                limits.min_answer_rows,
                limits.min_answer_rows - fewest
            ),
        );
    }
    let differs = headline.distance > allowed && headline.p_value < ANSWERS_SIGNIFICANCE;
    let limit = if headline.is_classes() {
        format!("allowed {:.1}%", allowed * 100.0)
    } else {
        format!("allowed D {allowed}")
    };
    judged(ANSWERS, !differs, format!("{said} ({limit})"))
}

/// Traffic, errors and latency of the canary against production's.
fn serving_gates(
    prod: &VersionCounters,
    can: &VersionCounters,
    canary: u32,
    limits: &Limits,
    window: &str,
) -> Vec<GateResult> {
    let needed = limits.min_canary_requests as f64;
    let missing = (needed - can.requests).max(0.0);
    let enough = missing <= 0.0;
    let mut results = vec![if enough {
        gate(
            TRAFFIC,
            GateStatus::Pass,
            format!(
                "v{canary} served {:.0} requests {window} (minimum {})",
                can.requests, limits.min_canary_requests
            ),
        )
    } else {
        gate(
            TRAFFIC,
            GateStatus::NotEnoughData,
            format!(
                "v{canary} served {:.0} of the {} requests needed: {missing:.0} more",
                can.requests, limits.min_canary_requests
            ),
        )
    }];
    // With too few canary requests the comparison is shown but cannot pass or fail yet.
    let verdict = |passed: bool| match (enough, passed) {
        (false, _) => GateStatus::NotEnoughData,
        (true, true) => GateStatus::Pass,
        (true, false) => GateStatus::Fail,
    };
    let wait = if enough {
        String::new()
    } else {
        format!(" (needs {missing:.0} more canary requests to judge)")
    };
    for (name, can_errors, prod_errors, allowed) in [
        (
            SERVER_ERRORS,
            can.server_errors,
            prod.server_errors,
            limits.max_error_ratio_increase,
        ),
        (
            CLIENT_ERRORS,
            can.client_errors,
            prod.client_errors,
            limits.max_client_error_ratio_increase,
        ),
    ] {
        let (c, p) = (
            ratio(can_errors, can.requests),
            ratio(prod_errors, prod.requests),
        );
        // No requests, no ratio: "-", never "0.00%".
        let shown = |r: f64, requests: f64| {
            if requests > 0.0 {
                format!("{} of {requests:.0}", percent(r))
            } else {
                "- (no requests)".to_string()
            }
        };
        results.push(gate(
            name,
            verdict(c <= p + allowed),
            format!(
                "canary {} vs production {} {window} (allowed +{}){wait}",
                shown(c, can.requests),
                shown(p, prod.requests),
                percent(allowed)
            ),
        ));
    }
    let floor = limits.p99_floor_ms / 1000.0;
    let (cp, pp) = (
        histogram_quantile(0.99, &can.latency),
        histogram_quantile(0.99, &prod.latency),
    );
    let allowed = format!(
        "allowed {}x production, or up to +{} ms",
        limits.max_p99_ratio, limits.p99_floor_ms
    );
    results.push(match (cp, pp) {
        (Some(c), Some(p)) => gate(
            LATENCY,
            // A regression below the floor is noise, not a failure: a model at 0.23 ms is not
            // blocked against one at 0.10 ms.
            verdict(c <= p * limits.max_p99_ratio || c <= p + floor),
            format!(
                "canary {} vs production {} {window} ({allowed}){wait}",
                ms(c),
                ms(p)
            ),
        ),
        (Some(c), None) => gate(
            LATENCY,
            verdict(true),
            format!("canary {}; production has no latency yet{wait}", ms(c)),
        ),
        (None, _) if !enough => gate(
            LATENCY,
            GateStatus::NotEnoughData,
            format!("no canary latency yet{wait}"),
        ),
        (None, _) => judged(
            LATENCY,
            false,
            "the canary's runtime reports no latency histogram: its p99 cannot be judged",
        ),
    });
    results
}

/// The canary's inputs must not drift where production's do not.
fn drift_gate(
    drift: Result<Vec<(u32, String, Option<u64>)>, String>,
    production: u32,
    canary: u32,
) -> GateResult {
    let reports = match drift {
        Ok(reports) => reports,
        // No evidence is not evidence of no drift.
        Err(e) => return judged(DRIFT, false, format!("cannot read the drift reports: {e}")),
    };
    if reports.is_empty() {
        // Measured nowhere is like no baseline locally: nothing to compare, said plainly, not
        // a failure that every promote would have to override.
        return judged(
            DRIFT,
            true,
            "not measured: no drift verdict for either version (no baseline profile, or a serving runtime that exports none); check input drift elsewhere",
        );
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
    // Too few rows for the canary's window to say anything yet.
    if canary_report.is_some() && cv == crate::model::Verdict::InsufficientData.as_str() {
        return gate(
            DRIFT,
            GateStatus::NotEnoughData,
            format!(
                "canary window holds {samples} rows, too few for a verdict (the server needs thresholds.min_drift_samples, 100 by default; requests answered with errors add none); production verdict: {pv}"
            ),
        );
    }
    if samples < DRIFT_GATE_MIN_SAMPLES && cv == "drift" {
        // Canary and production see the same traffic; a small canary window disagrees with
        // production by chance alone, so the comparison waits for enough rows.
        return gate(
            DRIFT,
            GateStatus::NotEnoughData,
            format!(
                "canary verdict: drift on {samples} rows, too few to tell ({} more needed of {DRIFT_GATE_MIN_SAMPLES}); production verdict: {pv}",
                DRIFT_GATE_MIN_SAMPLES - samples
            ),
        );
    }
    let evidence = if samples == u64::MAX {
        format!("canary verdict: {cv}, production verdict: {pv}")
    } else {
        format!("canary verdict: {cv} on {samples} rows, production verdict: {pv}")
    };
    judged(DRIFT, cv != "drift" || pv == "drift", evidence)
}

/// Before promote, when the canary was evaluated against this production version: it may not
/// be worse by more than `max_drop` (AUC, else accuracy; RMSE relatively for regressors).
pub fn evaluation_gate(
    evaluation: &crate::model::Evaluation,
    production: u32,
    max_drop: f64,
) -> Option<GateResult> {
    if evaluation.baseline != Some(production) {
        return None;
    }
    let base = evaluation.baseline_metrics.as_ref()?;
    let cand = &evaluation.candidate_metrics;
    let rows = evaluation.rows;
    if let (Some(c), Some(b)) = (
        cand.get("auc").or(cand.get("accuracy")),
        base.get("auc").or(base.get("accuracy")),
    ) {
        let metric = if cand.contains_key("auc") {
            "AUC"
        } else {
            "accuracy"
        };
        return Some(judged(
            EVALUATION,
            *c >= b - max_drop,
            format!(
                "{metric} {c:.4} vs production {b:.4} on {rows} labelled rows (allowed drop {max_drop})"
            ),
        ));
    }
    let (c, b) = (cand.get("rmse")?, base.get("rmse")?);
    Some(judged(
        EVALUATION,
        *c <= b * (1.0 + max_drop),
        format!(
            "RMSE {c:.4} vs production {b:.4} on {rows} labelled rows (allowed +{:.1}%)",
            max_drop * 100.0
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::metrics::ScrapeSnapshot;
    use crate::model::DataType;

    type Verdicts = Vec<(u32, String, Option<u64>)>;

    fn limits() -> Limits {
        Limits {
            min_canary_requests: 100,
            max_error_ratio_increase: 0.01,
            max_client_error_ratio_increase: 0.01,
            max_p99_ratio: 1.5,
            p99_floor_ms: 5.0,
            max_metric_drop: 0.02,
            max_answer_difference: 0.1,
            min_answer_rows: 200,
            min_labelled_answers: 200,
            min_label_coverage: 0.05,
            min_shadow_agreement: None,
            min_shadow_rows: 200,
        }
    }

    fn model() -> ModelName {
        ModelName::new("fraud").unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn drift_gate_of(drift: Result<Verdicts, String>) -> GateResult {
        let evidence = Evidence {
            counters: Ok(ScrapeSnapshot::default()),
            drift,
            answers: Err("no canary".into()),
        };
        let gates = promote_gates(evidence, &model(), 1, 2, &limits(), SINCE_LOADED);
        let drift = gates.into_iter().find(|g| g.name == DRIFT);
        drift.unwrap_or_else(|| unreachable!("no drift gate"))
    }

    /// Counters of `requests` with `server` 5xx, `client` 4xx, all of them within `latency` s.
    fn counters(requests: f64, server: f64, client: f64, latency: f64) -> VersionCounters {
        VersionCounters {
            requests,
            server_errors: server,
            client_errors: client,
            latency: vec![(latency, requests), (f64::INFINITY, requests)],
            duration_seconds: 0.0,
        }
    }

    fn serving(prod: VersionCounters, can: VersionCounters) -> Vec<GateResult> {
        let mut snapshot = ScrapeSnapshot::default();
        snapshot.versions.insert(("fraud".into(), "1".into()), prod);
        snapshot.versions.insert(("fraud".into(), "2".into()), can);
        let evidence = Evidence {
            counters: Ok(snapshot),
            drift: Ok(Vec::new()),
            answers: Err("no canary".into()),
        };
        promote_gates(evidence, &model(), 1, 2, &limits(), SINCE_LOADED)
    }

    fn status(gates: &[GateResult], name: &str) -> GateStatus {
        gates
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.status)
            .unwrap_or_else(|| unreachable!("no gate {name}"))
    }

    #[test]
    fn drift_measured_nowhere_passes_and_says_so() {
        let gate = drift_gate_of(Ok(Vec::new()));
        assert!(gate.passed());
        assert!(
            gate.evidence.starts_with("not measured"),
            "{}",
            gate.evidence
        );
    }

    #[test]
    fn unreadable_drift_fails() {
        let gate = drift_gate_of(Err("Prometheus at http://127.0.0.1:9 is unreachable".into()));
        assert_eq!(gate.status, GateStatus::Fail);
        assert!(gate.evidence.contains("unreachable"), "{}", gate.evidence);
    }

    #[test]
    fn a_drifting_canary_waits_for_enough_rows_and_fails_only_when_production_does_not_drift() {
        let verdicts = |canary: &str, rows: u64, production: &str| {
            Ok(vec![
                (1, production.to_string(), Some(5000)),
                (2, canary.to_string(), Some(rows)),
            ])
        };
        assert_eq!(
            drift_gate_of(verdicts("drift", 2000, "ok")).status,
            GateStatus::Fail
        );
        let few = drift_gate_of(verdicts("drift", 200, "ok"));
        assert_eq!(few.status, GateStatus::NotEnoughData);
        assert!(few.evidence.contains("800 more needed"), "{}", few.evidence);
        assert!(drift_gate_of(verdicts("drift", 2000, "drift")).passed());
        assert_eq!(
            drift_gate_of(verdicts("insufficient data", 18, "ok")).status,
            GateStatus::NotEnoughData
        );
        assert!(drift_gate_of(verdicts("ok", 2000, "ok")).passed());
    }

    #[test]
    fn too_few_canary_requests_is_not_enough_data_with_what_is_missing() {
        let gates = serving(
            counters(5000.0, 0.0, 0.0, 0.001),
            counters(40.0, 0.0, 0.0, 0.001),
        );
        for name in [TRAFFIC, SERVER_ERRORS, CLIENT_ERRORS, LATENCY] {
            assert_eq!(status(&gates, name), GateStatus::NotEnoughData, "{name}");
        }
        let traffic = &gates[0];
        assert!(
            traffic.evidence.contains("40 of the 100") && traffic.evidence.contains("60 more"),
            "{}",
            traffic.evidence
        );
    }

    #[test]
    fn client_and_server_errors_are_judged_apart() {
        // The canary answers 400 to everything: a 4xx failure, while 5xx passes.
        let gates = serving(
            counters(5000.0, 0.0, 0.0, 0.001),
            counters(500.0, 0.0, 500.0, 0.001),
        );
        assert_eq!(status(&gates, CLIENT_ERRORS), GateStatus::Fail);
        assert_eq!(status(&gates, SERVER_ERRORS), GateStatus::Pass);
        let client = gates.iter().find(|g| g.name == CLIENT_ERRORS);
        let evidence = client.map(|g| g.evidence.as_str()).unwrap_or_default();
        assert!(evidence.contains("canary 100.00% of 500"), "{evidence}");
        let gates = serving(
            counters(5000.0, 0.0, 0.0, 0.001),
            counters(500.0, 100.0, 0.0, 0.001),
        );
        assert_eq!(status(&gates, SERVER_ERRORS), GateStatus::Fail);
        assert_eq!(status(&gates, CLIENT_ERRORS), GateStatus::Pass);
    }

    #[test]
    fn a_p99_regression_below_the_floor_passes_and_above_it_fails() {
        // 0.23 ms against 0.10 ms: over the ratio, under the 5 ms floor.
        let gates = serving(
            counters(5000.0, 0.0, 0.0, 0.0001),
            counters(500.0, 0.0, 0.0, 0.00023),
        );
        assert_eq!(status(&gates, LATENCY), GateStatus::Pass);
        // 40 ms against 10 ms: over both.
        let gates = serving(
            counters(5000.0, 0.0, 0.0, 0.010),
            counters(500.0, 0.0, 0.0, 0.040),
        );
        assert_eq!(status(&gates, LATENCY), GateStatus::Fail);
    }

    #[test]
    fn a_signature_that_production_clients_cannot_call_fails() {
        let six = [TensorSpec::new("X", DataType::Fp32, &[-1, 6])];
        let seven = [TensorSpec::new("X", DataType::Fp32, &[-1, 7])];
        let clients = "production v1's clients";
        let gate = signature_gate(3, &six, Some((clients, &seven)));
        assert_eq!(gate.status, GateStatus::Fail);
        assert!(
            gate.evidence.contains("[N, 6]") && gate.evidence.contains("[N, 7]"),
            "{}",
            gate.evidence
        );
        assert!(signature_gate(2, &seven, Some((clients, &seven))).passed());
        // A fixed batch of 1 still takes one-row requests.
        let fixed = [TensorSpec::new("X", DataType::Fp32, &[1, 7])];
        assert!(signature_gate(2, &fixed, Some((clients, &seven))).passed());
        let other_type = [TensorSpec::new("X", DataType::Fp64, &[-1, 7])];
        assert!(!signature_gate(2, &other_type, Some((clients, &seven))).passed());
        assert!(signature_gate(2, &six, None).passed());
    }

    #[test]
    fn smoke_gate_fails_a_failed_or_skipped_smoke_test() {
        let failed = SmokeEvidence {
            passed: false,
            detail: "signature: inputs differ".into(),
        };
        assert_eq!(smoke_gate(3, Some(&failed)).status, GateStatus::Fail);
        assert_eq!(smoke_gate(3, None).status, GateStatus::Fail);
        let passed = SmokeEvidence {
            passed: true,
            detail: "passed its smoke test at 12:00 UTC".into(),
        };
        assert!(smoke_gate(3, Some(&passed)).passed());
    }

    /// A comparison of predicted classes: the canary says class 1 for `canary_share` of its
    /// `rows`, production for 10 % of its 1,000.
    fn classes_compared(
        canary_share: f64,
        rows: u64,
        p_value: f64,
    ) -> crate::model::AnswerComparison {
        crate::model::AnswerComparison {
            versus: 1,
            rows,
            versus_rows: 1000,
            seconds: 60.0,
            outputs: vec![crate::model::OutputComparison {
                name: "label".into(),
                method: "classes".into(),
                distance: (canary_share - 0.1_f64).abs(),
                p_value,
                js_distance: Some(0.1),
                shares: vec![
                    ("0".into(), 1.0 - canary_share, 0.9),
                    ("1".into(), canary_share, 0.1),
                ],
            }],
        }
    }

    fn answers_of(answers: Result<crate::model::AnswerComparison, String>) -> GateResult {
        answers_gate(&answers, 1, 2, &limits())
    }

    #[test]
    fn answers_that_differ_beyond_chance_and_the_limit_block_a_promote() {
        let differs = answers_of(Ok(classes_compared(0.35, 500, 1e-9)));
        assert_eq!(differs.status, GateStatus::Fail, "{differs:?}");
        assert!(
            differs.evidence.contains("at least 25.0% of rows")
                && differs.evidence.contains("500 vs 1000 rows")
                && differs.evidence.contains("allowed 10.0%"),
            "{}",
            differs.evidence
        );
        // Within the limit, or beyond it by chance alone: passes.
        assert_eq!(
            answers_of(Ok(classes_compared(0.15, 500, 1e-9))).status,
            GateStatus::Pass
        );
        assert_eq!(
            answers_of(Ok(classes_compared(0.35, 500, 0.2))).status,
            GateStatus::Pass
        );
        // Too few rows on either side: waits, saying how many more.
        let early = answers_of(Ok(classes_compared(0.35, 150, 1e-5)));
        assert_eq!(early.status, GateStatus::NotEnoughData);
        assert!(early.evidence.contains("(50 more)"), "{}", early.evidence);
        // Unless the evidence is overwhelming: a failure judged early, never a pass.
        let overwhelming = answers_of(Ok(classes_compared(0.9, 47, 1e-50)));
        assert_eq!(overwhelming.status, GateStatus::Fail, "{overwhelming:?}");
        assert!(
            overwhelming
                .evidence
                .contains("judged before 200 rows each since p < 1e-6 on 47"),
            "{}",
            overwhelming.evidence
        );
        assert_eq!(
            answers_of(Ok(classes_compared(0.1, 47, 1e-50))).status,
            GateStatus::NotEnoughData,
            "a pass still waits for its rows"
        );
    }

    #[test]
    fn a_short_shadow_phase_says_what_it_needs_or_fails_when_it_cannot_reach_the_bar() {
        let required = Limits {
            min_shadow_agreement: Some(0.8),
            ..limits()
        };
        let phase = |rows: u64, agreement: f64| crate::model::ShadowReport {
            version: 2,
            versus: 1,
            rows,
            agreement: Some(agreement),
            ..Default::default()
        };
        let short = shadow_gate(2, 1, Some(&phase(108, 0.96)), &required).unwrap();
        assert_eq!(short.status, GateStatus::NotEnoughData, "{short:?}");
        assert!(
            short
                .evidence
                .contains("a shadow phase of 92 more rows is needed"),
            "{}",
            short.evidence
        );
        // 2 of 111 agreed: even 89 more agreeing rows could not make 80% of 200.
        let hopeless = shadow_gate(2, 1, Some(&phase(111, 0.018)), &required).unwrap();
        assert_eq!(hopeless.status, GateStatus::Fail, "{hopeless:?}");
        assert_eq!(
            shadow_gate(2, 1, Some(&phase(300, 0.9)), &required)
                .unwrap()
                .status,
            GateStatus::Pass
        );
        assert_eq!(
            shadow_gate(2, 1, None, &required).unwrap().status,
            GateStatus::Fail
        );
        assert!(
            shadow_gate(2, 1, None, &limits()).is_none(),
            "off unless asked for"
        );
    }

    #[test]
    fn answers_not_compared_say_why_and_do_not_block() {
        let unmeasured = answers_of(Err("no reference predictions".into()));
        assert_eq!(unmeasured.status, GateStatus::Pass);
        assert_eq!(
            unmeasured.evidence,
            "not measured: no reference predictions"
        );
        let mut other = classes_compared(0.35, 500, 1e-9);
        other.versus = 3;
        let elsewhere = answers_of(Ok(other));
        assert_eq!(elsewhere.status, GateStatus::Pass);
        assert!(
            elsewhere.evidence.contains("not production v1"),
            "{}",
            elsewhere.evidence
        );
    }

    fn labelled(accuracy: f64, labelled: f64, coverage: f64) -> LiveNumbers {
        LiveNumbers {
            metrics: [("accuracy".to_string(), accuracy)].into(),
            labelled,
            rows: labelled,
            coverage,
            kept: labelled / coverage,
            kept_labelled: labelled,
            lag_seconds: Some(30.0),
        }
    }

    #[test]
    fn labelled_quality_is_judged_once_enough_answers_are_labelled() {
        let prod = labelled(0.90, 900.0, 0.5);
        let worse = labelled(0.80, 300.0, 0.5);
        let gate = labels_gate(Some(&prod), Some(&worse), 1, 2, &limits());
        assert_eq!(gate.status, GateStatus::Fail, "{gate:?}");
        assert!(
            gate.evidence
                .starts_with("accuracy 0.8000 vs production 0.9000 on labelled answers, a drop"),
            "{}",
            gate.evidence
        );
        // Three points lower on 200 labelled answers: within chance (p 0.2), not a failure.
        let noisy = labelled(0.80, 200.0, 0.5);
        let near = labelled(0.83, 300.0, 0.5);
        let gate = labels_gate(Some(&near), Some(&noisy), 1, 2, &limits());
        assert_eq!(gate.status, GateStatus::Pass, "{gate:?}");
        // A better canary: said as such, no p-value for a drop that is not there.
        let better = labelled(0.95, 300.0, 0.5);
        let gate = labels_gate(Some(&prod), Some(&better), 1, 2, &limits());
        assert_eq!(gate.status, GateStatus::Pass);
        assert!(gate.evidence.contains(": no drop;"), "{}", gate.evidence);
        let as_good = labelled(0.89, 300.0, 0.5);
        let gate = labels_gate(Some(&prod), Some(&as_good), 1, 2, &limits());
        assert_eq!(gate.status, GateStatus::Pass, "{gate:?}");
        // Too few labels, or labels covering too little of the traffic: not judged yet.
        let few = labelled(0.5, 20.0, 0.5);
        let gate = labels_gate(Some(&prod), Some(&few), 1, 2, &limits());
        assert_eq!(gate.status, GateStatus::NotEnoughData);
        assert!(
            gate.evidence.contains("needs 200 labelled answers"),
            "{}",
            gate.evidence
        );
        let sparse = labelled(0.5, 300.0, 0.01);
        let gate = labels_gate(Some(&prod), Some(&sparse), 1, 2, &limits());
        assert_eq!(gate.status, GateStatus::NotEnoughData);
        // No label at all: said, not failed.
        let gate = labels_gate(Some(&prod), None, 1, 2, &limits());
        assert_eq!(gate.status, GateStatus::Pass);
        assert!(
            gate.evidence.starts_with("not measured"),
            "{}",
            gate.evidence
        );
    }
}
