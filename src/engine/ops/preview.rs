//! The preview of an operation: its plan with every gate's evidence, as the CLI, the console
//! and the demo show it before anyone confirms.

use super::gates::{evaluation_gate, promote_gates};
use super::plan::{OpPlan, OpRequest, plan};
use crate::engine::serving::Serving;
use crate::engine::{Actor, EngineError, Registry};
use crate::model::ModelName;
use crate::settings::Gates;

/// Plans `request` on `model` against what its server serves now and, for a promote, gathers
/// the gates: the canary's live counters and drift from the server, and its offline evaluation
/// against production. Nothing is written; the registry is borrowed `&mut` only so the future
/// can move between threads (an SQLite connection may be sent, not shared).
pub async fn preview(
    registry: &mut Registry,
    serving: &dyn Serving,
    model: &ModelName,
    request: OpRequest,
    actor: &Actor,
    limits: &Gates,
) -> Result<OpPlan, EngineError> {
    let status = serving.status(model.as_str()).await;
    let mut planned = plan(
        registry,
        model,
        request,
        status.serving,
        &actor.environment,
        actor.read_only,
    )?;
    // Said before anyone confirms: KServe would send a "canary" all the traffic in this mode.
    if let Some(kube) = &status.kube
        && !kube.mode.supports_canary()
        && planned.after.canary.is_some()
    {
        return Err(EngineError::Refused {
            model: model.to_string(),
            reason: format!(
                "{model} runs in KServe's {} mode, which ignores canaryTrafficPercent; deploy with --direct (no canary) or switch the InferenceService to Serverless",
                kube.mode.as_str()
            ),
        });
    }
    if let (OpRequest::Promote, Some(production), Some(canary)) =
        (request, planned.before.production, planned.before.canary)
    {
        let evaluation =
            evaluation_gate(registry, model, production, canary, limits.max_metric_drop)?;
        let evidence = serving.evidence(model.as_str()).await;
        planned.gates = promote_gates(evidence, model, production, canary, limits);
        planned.gates.extend(evaluation);
    }
    Ok(planned)
}
