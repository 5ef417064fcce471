//! Operations on a deployment: deploy, promote, rollback, abort. Each runs the same pipeline:
//! plan (the effect, as data and as a sentence) -> preflight (preconditions, read-only) ->
//! apply (serving first, then the aliases, compare-and-swap) -> verify (re-read what the server
//! serves and where the aliases point) -> journal. The CLI and the console call the same code.

mod gates;
mod lock;
mod plan;
mod preview;
mod recover;
mod run;

pub use gates::{GateResult, promote_gates, smoke_gate};
pub use plan::{DeploymentState, OpPlan, OpRequest, describe, plan};
pub use preview::preview;
pub use recover::{Interrupted, Recovery, interrupted, recover, recovery_plan};
pub use run::{OpOutcome, RunOptions, execute};
