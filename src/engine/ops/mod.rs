//! Operations on a deployment: deploy, promote, rollback, abort, and the recovery of an
//! interrupted one. One [`Operator`] plans each (the effect as data and as a sentence, every
//! gate with its evidence) and runs it with the user's consent: preflight -> journal `started`
//! -> apply (serving first, then the aliases, compare-and-swap) -> verify (re-read what serves
//! and where the aliases point) -> journal the outcome. The CLI, the console and the demo call the same operator.

mod gates;
mod history;
mod lock;
pub mod mlflow;
mod operator;
mod plan;
mod recover;
mod registry;
mod run;

pub use gates::{
    ARTIFACT, CLIENT_ERRORS, DRIFT, EVALUATION, GateResult, GateStatus, LATENCY, METRICS,
    SERVER_ERRORS, SIGNATURE, SINCE_LOADED, SMOKE, SmokeEvidence, TRAFFIC, evaluation_gate,
    promote_gates, shadow_gate, signature_gate, smoke_gate,
};
pub use history::{ProductionMove, last_healthy, production_moves, production_of};
pub use operator::{Operator, PlanOptions, Progress, WindowGates};
pub use plan::{DeploymentState, OpPlan, OpRequest, RecoveryOf, change, describe};
pub use recover::{Interrupted, Recovery, UnderWay, Unended, unended};
pub use registry::{
    EmbeddedOpRegistry, Held, Move, OpRegistry, Pending, Role, VersionFacts, smoke_evidence,
};
pub use run::{Consent, OpOutcome};
