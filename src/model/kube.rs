//! What a Kubernetes cluster says about one model's InferenceService: only the fields the
//! cluster pane shows, so thousands of pods cost kilobytes, not the API server's megabytes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// KServe's deployment modes. Only `Serverless` (Knative) honours `canaryTrafficPercent`.
/// KServe 0.16 and later write the modes as "Knative" and "Standard"; 0.15 and earlier as
/// "Serverless" and "RawDeployment". Both spellings mean the same mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentMode {
    Serverless,
    RawDeployment,
    ModelMesh,
    Unknown,
}

impl DeploymentMode {
    /// As KServe's GetDeploymentMode reads it: the mode recorded in `status.deploymentMode`
    /// first (KServe never changes a service's mode once recorded), then the
    /// `serving.kserve.io/deploymentMode` annotation, then KServe's default (Knative).
    pub fn resolve(recorded: Option<&str>, annotation: Option<&str>) -> Self {
        fn given(t: Option<&str>) -> Option<&str> {
            t.map(str::trim).filter(|t| !t.is_empty())
        }
        Self::parse(given(recorded).or(given(annotation)))
    }

    /// One spelling of a mode, old or new.
    pub fn parse(text: Option<&str>) -> Self {
        match text.map(str::trim) {
            Some("Serverless") | Some("Knative") => Self::Serverless,
            Some("RawDeployment") | Some("Standard") => Self::RawDeployment,
            Some("ModelMesh") => Self::ModelMesh,
            // KServe's default when nothing says otherwise.
            None | Some("") => Self::Serverless,
            Some(_) => Self::Unknown,
        }
    }

    pub fn supports_canary(self) -> bool {
        self == Self::Serverless
    }

    /// Both of KServe's names, so users of any release recognise it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Serverless => "Knative (Serverless)",
            Self::RawDeployment => "Standard (RawDeployment)",
            Self::ModelMesh => "ModelMesh",
            Self::Unknown => "unknown",
        }
    }
}

/// One status condition (`Ready`, `PredictorReady`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub kind: String,
    /// "True", "False" or "Unknown".
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// One entry of `status.components.predictor.traffic`: what really receives requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficTarget {
    pub revision: String,
    pub percent: u8,
    pub latest: bool,
    pub tag: Option<String>,
    /// The registry version this revision serves, when flightdeck can tell.
    pub version: Option<u32>,
}

/// A predictor pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRow {
    pub name: String,
    pub phase: String,
    pub ready: bool,
    pub restarts: u32,
    pub revision: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    /// Why a container is not running, as kubectl's STATUS column says it
    /// (`CrashLoopBackOff`, `ImagePullBackOff`, `OOMKilled`).
    pub waiting: Option<String>,
    /// The registry version the pod loads: its `flightdeck.io/version` annotation, else its
    /// storage URI read through the environment's `storage_uri` template.
    pub version: Option<u32>,
}

/// A Deployment of the predictor (RawDeployment mode, or Knative's per-revision ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRow {
    pub name: String,
    pub desired: u32,
    pub ready: u32,
}

/// A recent event about the service or its pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    pub at: Option<DateTime<Utc>>,
    /// "Normal" or "Warning".
    pub kind: String,
    pub reason: String,
    pub message: String,
    /// e.g. "Pod/fraud-predictor-00002-deployment-7d9c".
    pub object: String,
    pub count: u32,
}

/// One model's InferenceService as the cluster pane shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KubeService {
    pub namespace: String,
    pub name: String,
    /// This incarnation of the name: events about an earlier one are not its events.
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    pub mode: DeploymentMode,
    pub url: Option<String>,
    /// `spec.predictor.model.storageUri`: what the newest revision loads.
    pub storage_uri: Option<String>,
    /// `spec.predictor.canaryTrafficPercent`, as asked (the status says what happened).
    pub canary_percent_spec: Option<u8>,
    pub generation: i64,
    pub observed_generation: Option<i64>,
    pub conditions: Vec<Condition>,
    pub latest_created: Option<String>,
    pub latest_ready: Option<String>,
    pub latest_rolled_out: Option<String>,
    pub previous_rolled_out: Option<String>,
    pub traffic: Vec<TrafficTarget>,
    pub pods: Vec<PodRow>,
    pub deployments: Vec<DeploymentRow>,
    pub events: Vec<EventRow>,
    /// What the user's credentials may not do in this namespace (from SelfSubjectAccessReviews),
    /// e.g. "patch inferenceservices".
    pub may_not: Vec<String>,
}

impl KubeService {
    /// The credentials may patch this InferenceService (no access review said no).
    pub fn may_patch(&self) -> bool {
        !self.may_not.iter().any(|m| m == "patch inferenceservices")
    }

    /// The `Ready` condition is "True".
    pub fn ready(&self) -> bool {
        self.condition("Ready").is_some_and(|c| c.status == "True")
    }

    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// Nothing is rolling out: in Knative mode the newest revision is the newest ready one; in
    /// Standard mode every predictor Deployment has all its replicas ready. (KServe copies the
    /// Knative Service's or the Deployment's observedGeneration, which is not comparable with
    /// the InferenceService's own generation, so generations say nothing here.)
    pub fn settled(&self) -> bool {
        if self.mode.supports_canary() {
            self.latest_created.is_some() && self.latest_created == self.latest_ready
        } else {
            !self.deployments.is_empty() && self.deployments.iter().all(|d| d.ready >= d.desired)
        }
    }

    /// Why it is not ready, from the first condition that is not "True".
    pub fn problem(&self) -> Option<String> {
        if self.ready() {
            return None;
        }
        let failing = self
            .conditions
            .iter()
            .find(|c| c.kind != "Ready" && c.status != "True")
            .or_else(|| self.condition("Ready"));
        Some(match failing {
            Some(c) => {
                let mut text = format!("{} is {}", c.kind, c.status);
                if let Some(reason) = &c.reason {
                    text.push_str(&format!(" ({reason})"));
                }
                if let Some(message) = &c.message {
                    text.push_str(&format!(": {message}"));
                }
                text
            }
            None => "no Ready condition yet".into(),
        })
    }
}
