//! What a local deployment serves (its plan) and how its server is doing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which versions a deployment serves, and the canary's share of traffic (0-100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingPlan {
    pub stable: u32,
    #[serde(default)]
    pub canary: Option<u32>,
    #[serde(default)]
    pub canary_percent: u8,
}

impl ServingPlan {
    pub fn stable_only(stable: u32) -> Self {
        Self {
            stable,
            canary: None,
            canary_percent: 0,
        }
    }

    /// Plain-language summary, e.g. "v2, canary v3 at 10%".
    pub fn describe(&self) -> String {
        match self.canary {
            Some(c) => format!("v{}, canary v{c} at {}%", self.stable, self.canary_percent),
            None => format!("v{}", self.stable),
        }
    }
}

/// The supervisor's record of a local server, as written by the supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerRecord {
    pub model: String,
    pub supervisor_pid: u32,
    pub server_pid: Option<u32>,
    pub port: Option<u16>,
    /// The plan the running server was started with (later changes arrive through its admin API).
    pub started_plan: ServingPlan,
    pub started_at: DateTime<Utc>,
    /// Times the server was restarted after exiting on its own.
    pub restarts: u32,
    /// How the last server process ended, when one did.
    pub last_exit: Option<String>,
    /// `starting`, `running` or `restarting`.
    pub state: String,
}

/// What serves a model, as the CLI and the console show it: the plan asked for, what the
/// server (or the cluster) reports it serves, and its health; a local server's process record
/// or, on Kubernetes, the InferenceService.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingStatus {
    pub model: String,
    /// The plan the engine last asked for.
    pub plan: ServingPlan,
    /// What the server itself reports it serves (None when it cannot be asked).
    pub serving: Option<ServingPlan>,
    pub record: Option<ServerRecord>,
    pub supervisor_alive: bool,
    pub healthy: bool,
    /// Why it is not healthy, when it is not.
    pub problem: Option<String>,
    /// In a Kubernetes environment: the InferenceService, its pods and events. Shared, not
    /// copied: the console receives a thousand of these every refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube: Option<std::sync::Arc<super::KubeService>>,
}

impl ServingStatus {
    pub fn endpoint(&self) -> Option<String> {
        if let Some(kube) = &self.kube {
            return kube.url.clone();
        }
        self.record
            .as_ref()
            .and_then(|r| r.port)
            .map(|p| format!("http://127.0.0.1:{p}"))
    }
}
