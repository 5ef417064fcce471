//! Planning an operation: what it will change, in data and in a sentence, and the refusals
//! that stop it before anything moves.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::{EngineError, Registry};
use crate::model::{AliasName, ModelName, ServingPlan};

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
    /// Production goes back to `to`, or to the previous production version.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// Gates evaluated for this operation, and whether the user overrode failing ones.
    pub gates: Vec<super::GateResult>,
    pub gates_overridden: bool,
}

fn refuse(model: &ModelName, reason: impl Into<String>) -> EngineError {
    EngineError::Refused {
        model: model.to_string(),
        reason: reason.into(),
    }
}

/// Plans `request` against the registry's aliases and what the server serves now.
pub fn plan(
    registry: &Registry,
    model: &ModelName,
    request: OpRequest,
    serving_now: Option<ServingPlan>,
    environment: &str,
    read_only: bool,
) -> Result<OpPlan, EngineError> {
    if !registry.model_exists(model)? {
        return Err(EngineError::UnknownModel(model.to_string()));
    }
    let aliases = registry.aliases(model)?;
    let version_of = |name: &str| crate::model::version_of(&aliases, name);
    let revisions: BTreeMap<String, u64> = aliases
        .iter()
        .map(|a| (a.alias.to_string(), a.revision))
        .collect();
    let production = version_of(AliasName::PRODUCTION);
    let canary = version_of(AliasName::CANARY);
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
        } => {
            registry.version(model, version)?;
            match canary_percent.filter(|p| *p < 100) {
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
            }
        }
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
                Some(v) => {
                    registry.version(model, v)?;
                    v
                }
                None => registry
                    .previous_version(model, &AliasName::production())?
                    .ok_or_else(|| {
                        refuse(
                            model,
                            "no previous production version to roll back to (name one with --to)",
                        )
                    })?,
            };
            if production == Some(target) {
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
    let pipeline_change = match (before.production, after.production) {
        (Some(from), Some(to)) if from != to => {
            let p = |v: u32| {
                registry.version(model, v).map(|r| {
                    r.lineage
                        .pipeline_version
                        .unwrap_or_else(|| "(none)".into())
                })
            };
            let (a, b) = (p(from)?, p(to)?);
            (a != b).then_some((a, b))
        }
        _ => None,
    };
    let mut warnings = Vec::new();
    if let Some((a, b)) = &pipeline_change {
        warnings.push(format!(
            "the feature pipeline changes from {a} to {b}: the upstream features must match the new production version"
        ));
    }
    let sentence = describe(
        &before,
        &after,
        request == OpRequest::Promote,
        environment,
        read_only,
    );
    Ok(OpPlan {
        model: model.clone(),
        request,
        before,
        after,
        revisions,
        sentence,
        warnings,
        pipeline_change,
        environment: environment.to_string(),
        read_only,
        gates: Vec::new(),
        gates_overridden: false,
    })
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
