//! Planning an operation: what it will change, in data and in a sentence, and the refusals
//! that stop it before anything moves. Pure: the operator reads the registry and the server,
//! this decides.

use std::collections::BTreeMap;

use serde::Serialize;

use super::gates::GateResult;
use super::registry::Held;
use crate::error::EngineError;
use crate::model::{ModelName, ServingPlan};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "operation", rename_all = "snake_case")]
pub enum OpRequest {
    /// Serve `version` as a canary at `canary_percent` (below 100), or straight to production.
    Deploy {
        version: u32,
        canary_percent: Option<u8>,
    },
    /// The canary becomes production at 100 %.
    Promote,
    /// Production goes back to `to`, or to the last production version that ended healthy.
    Rollback { to: Option<u32> },
    /// The canary is removed; production is untouched.
    Abort,
}

impl OpRequest {
    pub fn name(&self) -> &'static str {
        match self {
            OpRequest::Deploy { .. } => "deploy",
            OpRequest::Promote => "promote",
            OpRequest::Rollback { .. } => "rollback",
            OpRequest::Abort => "abort",
        }
    }
}

/// Production and canary, as the aliases and the traffic share say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DeploymentState {
    pub production: Option<u32>,
    pub canary: Option<u32>,
    pub canary_percent: u8,
}

impl DeploymentState {
    /// As the journal's from/to columns and sentences show it, e.g. "v2 + canary v3 10%";
    /// `None` when nothing is in production.
    pub fn label(&self) -> Option<String> {
        match (self.production, self.canary) {
            (Some(p), Some(c)) => Some(format!("v{p} + canary v{c} {}%", self.canary_percent)),
            (Some(p), None) => Some(format!("v{p}")),
            _ => None,
        }
    }

    pub fn serving_plan(&self) -> Option<ServingPlan> {
        Some(ServingPlan {
            stable: self.production?,
            canary: self.canary,
            canary_percent: if self.canary.is_some() {
                self.canary_percent
            } else {
                0
            },
        })
    }

    /// Whether `version` takes traffic in this state.
    pub fn serves(&self, version: u32) -> bool {
        self.production == Some(version) || self.canary == Some(version)
    }
}

/// An interrupted operation this plan finishes or reverts.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RecoveryOf {
    /// `finish` or `revert`.
    pub how: String,
    /// The journal row that started the interrupted operation.
    pub journal_id: i64,
}

/// An operation ready to run, and everything its preview shows.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct OpPlan {
    pub model: ModelName,
    pub request: OpRequest,
    pub before: DeploymentState,
    pub after: DeploymentState,
    /// Alias revisions as read when planning: every move is a compare-and-swap against them.
    pub revisions: BTreeMap<String, u64>,
    /// The effect in one sentence, e.g. "production v2 -> v1; canary v3 (10%) removed".
    pub sentence: String,
    pub warnings: Vec<String>,
    /// The feature-pipeline version changes with production: the user must confirm explicitly.
    pub pipeline_change: Option<(String, String)>,
    pub environment: String,
    pub read_only: bool,
    /// Every gate this operation has, judged when planning; a failing one blocks unless the
    /// user consents to it.
    #[serde(default)]
    pub gates: Vec<GateResult>,
    /// Set when this plan finishes or reverts an interrupted operation.
    #[serde(default)]
    pub recovery: Option<RecoveryOf>,
}

impl OpPlan {
    /// The gates that did not pass (failed, or have too little evidence yet).
    pub fn blocking_gates(&self) -> impl Iterator<Item = &GateResult> {
        self.gates.iter().filter(|g| !g.passed())
    }

    /// What the journal calls this operation: a recovery under its own name.
    pub fn journal_name(&self) -> &'static str {
        match self.recovery {
            Some(_) => super::recover::RECOVER,
            None => self.request.name(),
        }
    }
}

fn refuse(model: &ModelName, reason: impl Into<String>) -> EngineError {
    EngineError::Refused {
        model: model.to_string(),
        reason: reason.into(),
    }
}

/// The state a request leads to from `held` (the aliases now) and what the server serves,
/// or why it cannot run. A rollback without a target goes to `rollback_to`, the last
/// production version that ended healthy, which the operator found in the journal.
pub fn change(
    model: &ModelName,
    request: OpRequest,
    held: &Held,
    serving_now: Option<ServingPlan>,
    rollback_to: Result<u32, String>,
) -> Result<(DeploymentState, DeploymentState), EngineError> {
    let (production, canary) = (held.production, held.canary);
    let canary_percent = match (canary, serving_now) {
        (Some(c), Some(s)) if s.canary == Some(c) => s.canary_percent,
        _ => 0,
    };
    let before = DeploymentState {
        production,
        canary,
        canary_percent,
    };
    let after = match request {
        OpRequest::Deploy {
            version,
            canary_percent,
        } => match canary_percent.filter(|p| *p < 100) {
            Some(p) => {
                let Some(prod) = production else {
                    return Err(refuse(
                        model,
                        format!(
                            "there is no production version to run v{version} as a canary against; deploy it with --direct first"
                        ),
                    ));
                };
                if prod == version {
                    return Err(refuse(model, format!("v{version} is already production")));
                }
                if canary == Some(version) && before.canary_percent == p {
                    return Err(refuse(
                        model,
                        format!("v{version} is already the canary at {p}%"),
                    ));
                }
                DeploymentState {
                    production,
                    canary: Some(version),
                    canary_percent: p,
                }
            }
            None => {
                if production == Some(version) && canary.is_none() {
                    return Err(refuse(model, format!("v{version} is already production")));
                }
                DeploymentState {
                    production: Some(version),
                    canary: None,
                    canary_percent: 0,
                }
            }
        },
        OpRequest::Promote => {
            let Some(c) = canary else {
                return Err(refuse(model, "nothing to promote: there is no canary"));
            };
            DeploymentState {
                production: Some(c),
                canary: None,
                canary_percent: 0,
            }
        }
        OpRequest::Rollback { to } => {
            let target = match to {
                Some(v) => v,
                None => rollback_to.map_err(|why| refuse(model, why))?,
            };
            if production == Some(target) && canary.is_none() {
                return Err(refuse(model, format!("v{target} is already production")));
            }
            DeploymentState {
                production: Some(target),
                canary: None,
                canary_percent: 0,
            }
        }
        OpRequest::Abort => {
            if canary.is_none() {
                return Err(refuse(model, "no canary to abort; production is untouched"));
            }
            DeploymentState {
                production,
                canary: None,
                canary_percent: 0,
            }
        }
    };
    Ok((before, after))
}

/// "production v2 -> v1; canary v3 (10%) removed; environment local, read-write". For a
/// `promote`, the canary is said to take all the traffic rather than to be removed.
pub fn describe(
    before: &DeploymentState,
    after: &DeploymentState,
    promote: bool,
    environment: &str,
    read_only: bool,
) -> String {
    let v = |x: Option<u32>| x.map(|v| format!("v{v}")).unwrap_or_else(|| "none".into());
    let mut parts = Vec::new();
    if before.production != after.production {
        parts.push(format!(
            "production {} -> {}",
            v(before.production),
            v(after.production)
        ));
    } else {
        parts.push(format!("production {} unchanged", v(after.production)));
    }
    match (before.canary, after.canary) {
        // A promote: the canary is not removed, it takes all the traffic.
        (Some(c), None) if promote && after.production == Some(c) => parts.push(format!(
            "canary v{c} ({}%) now takes 100% of traffic",
            before.canary_percent
        )),
        (Some(c), None) => parts.push(format!("canary v{c} ({}%) removed", before.canary_percent)),
        (None, Some(c)) => parts.push(format!("canary v{c} at {}%", after.canary_percent)),
        (Some(a), Some(b)) if a != b || before.canary_percent != after.canary_percent => parts
            .push(format!(
                "canary v{a} ({}%) -> v{b} ({}%)",
                before.canary_percent, after.canary_percent
            )),
        _ => {}
    }
    parts.push(format!(
        "environment {environment}, {}",
        if read_only { "READ-ONLY" } else { "read-write" }
    ));
    parts.join("; ")
}
