//! The few fields of InferenceServices, Pods and Events that the cluster pane shows, as serde
//! types that skip everything else while parsing, and their conversion into the model's rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kube::core::Object;
use serde::Deserialize;

use crate::model::{
    Condition, DeploymentMode, DeploymentRow, EventRow, KubeService, LocalServer, PodRow,
    ServingPlan, TrafficTarget,
};

/// Labels and annotations flightdeck reads and writes on InferenceServices.
pub const MODEL_LABEL: &str = "flightdeck.io/model";
pub const VERSION_ANNOTATION: &str = "flightdeck.io/version";
pub const PREVIOUS_VERSION_ANNOTATION: &str = "flightdeck.io/previous-version";
pub const MODE_ANNOTATION: &str = "serving.kserve.io/deploymentMode";
/// KServe labels the predictor's pods with their InferenceService.
pub const ISVC_POD_LABEL: &str = "serving.kserve.io/inferenceservice";
pub const REVISION_POD_LABEL: &str = "serving.knative.dev/revision";

pub type Isvc = Object<IsvcSpec, IsvcStatus>;
pub type SlimPod = Object<Skipped, PodStatus>;
pub type SlimDeployment = Object<Skipped, DeploymentStatus>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    pub replicas: Option<i64>,
    pub ready_replicas: Option<i64>,
}

/// A part of an object that is parsed past without keeping anything.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Skipped {}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IsvcSpec {
    #[serde(default)]
    pub predictor: Predictor,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Predictor {
    pub model: Option<PredictorModel>,
    pub canary_traffic_percent: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictorModel {
    pub storage_uri: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IsvcStatus {
    pub url: Option<String>,
    #[serde(default)]
    pub conditions: Vec<StatusCondition>,
    #[serde(default)]
    pub components: BTreeMap<String, ComponentStatus>,
    pub deployment_mode: Option<String>,
    pub observed_generation: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCondition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    pub url: Option<String>,
    pub latest_created_revision: Option<String>,
    pub latest_ready_revision: Option<String>,
    pub latest_rolledout_revision: Option<String>,
    pub previous_rolledout_revision: Option<String>,
    #[serde(default)]
    pub traffic: Vec<StatusTraffic>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusTraffic {
    pub revision_name: Option<String>,
    pub percent: Option<i64>,
    #[serde(default)]
    pub latest_revision: bool,
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub conditions: Vec<StatusCondition>,
    #[serde(default)]
    pub container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    #[serde(default)]
    pub restart_count: i64,
}

/// The model an InferenceService serves: its `flightdeck.io/model` label, else its name.
pub fn model_of(isvc: &Isvc) -> Option<String> {
    let meta = &isvc.metadata;
    meta.labels
        .as_ref()
        .and_then(|l| l.get(MODEL_LABEL).cloned())
        .or_else(|| meta.name.clone())
}

fn annotation<'a>(isvc: &'a Isvc, key: &str) -> Option<&'a str> {
    isvc.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// The registry version a storage URI holds, by matching it against the environment's
/// `storage_uri` template (`{model}` and `{version}` filled in).
pub fn version_from_uri(template: &str, model: &str, uri: &str) -> Option<u32> {
    let filled = template.replace("{model}", model);
    let (before, after) = filled.split_once("{version}")?;
    let middle = uri
        .trim_end_matches('/')
        .strip_prefix(before)?
        .strip_suffix(after.trim_end_matches('/'))?;
    middle.trim_start_matches('v').parse().ok()
}

/// A model's InferenceService: the model, the pane's row (pods and events are joined later),
/// and the versions of its newest and previous revisions.
pub type Parsed = (String, KubeService, (Option<u32>, Option<u32>));

/// What the pane keeps of an InferenceService.
pub fn service_of(isvc: &Isvc, template: Option<&str>) -> Option<Parsed> {
    let model = model_of(isvc)?;
    let status = isvc.status.clone().unwrap_or_default();
    let predictor = status
        .components
        .get("predictor")
        .cloned()
        .unwrap_or_default();
    let storage_uri = isvc
        .spec
        .predictor
        .model
        .as_ref()
        .and_then(|m| m.storage_uri.clone());
    let latest_version = annotation(isvc, VERSION_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .or_else(|| {
            let (template, uri) = (template?, storage_uri.as_deref()?);
            version_from_uri(template, &model, uri)
        });
    let previous_version =
        annotation(isvc, PREVIOUS_VERSION_ANNOTATION).and_then(|v| v.parse().ok());
    let traffic = predictor
        .traffic
        .iter()
        .map(|t| TrafficTarget {
            revision: t.revision_name.clone().unwrap_or_default(),
            percent: t.percent.unwrap_or(0).clamp(0, 100) as u8,
            latest: t.latest_revision,
            tag: t.tag.clone(),
            version: if t.latest_revision {
                latest_version
            } else {
                previous_version
            },
        })
        .collect();
    let mode = DeploymentMode::parse(
        annotation(isvc, MODE_ANNOTATION).or(status.deployment_mode.as_deref()),
    );
    Some((
        model,
        KubeService {
            namespace: isvc.metadata.namespace.clone().unwrap_or_default(),
            name: isvc.metadata.name.clone().unwrap_or_default(),
            mode,
            url: status.url.clone().or(predictor.url.clone()),
            storage_uri,
            canary_percent_spec: isvc
                .spec
                .predictor
                .canary_traffic_percent
                .map(|p| p.clamp(0, 100) as u8),
            generation: isvc.metadata.generation.unwrap_or(0),
            observed_generation: status.observed_generation,
            conditions: status
                .conditions
                .iter()
                .map(|c| Condition {
                    kind: c.kind.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone().filter(|r| !r.is_empty()),
                    message: c.message.clone().filter(|m| !m.is_empty()),
                })
                .collect(),
            latest_created: predictor.latest_created_revision,
            latest_ready: predictor.latest_ready_revision,
            latest_rolled_out: predictor.latest_rolledout_revision,
            previous_rolled_out: predictor.previous_rolledout_revision,
            traffic,
            pods: Vec::new(),
            deployments: Vec::new(),
            events: Vec::new(),
            may_not: Vec::new(),
        },
        (latest_version, previous_version),
    ))
}

/// A predictor pod: (namespace, InferenceService, row), or None for pods of nothing we show.
pub fn pod_of(pod: &SlimPod) -> Option<(String, String, PodRow)> {
    let labels = pod.metadata.labels.as_ref()?;
    let isvc = labels.get(ISVC_POD_LABEL)?.clone();
    let status = pod.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .any(|c| c.kind == "Ready" && c.status == "True");
    let row = PodRow {
        name: pod.metadata.name.clone().unwrap_or_default(),
        phase: status.phase.unwrap_or_else(|| "Unknown".into()),
        ready,
        restarts: status
            .container_statuses
            .iter()
            .map(|c| c.restart_count.max(0) as u32)
            .sum(),
        revision: labels.get(REVISION_POD_LABEL).cloned(),
        started_at: status.start_time,
    };
    Some((
        pod.metadata.namespace.clone().unwrap_or_default(),
        isvc,
        row,
    ))
}

/// A predictor Deployment: (namespace, InferenceService, row).
pub fn deployment_of(deployment: &SlimDeployment) -> Option<(String, String, DeploymentRow)> {
    let isvc = deployment
        .metadata
        .labels
        .as_ref()?
        .get(ISVC_POD_LABEL)?
        .clone();
    let status = deployment.status.clone().unwrap_or_default();
    let count = |n: Option<i64>| n.unwrap_or(0).clamp(0, u32::MAX as i64) as u32;
    Some((
        deployment.metadata.namespace.clone().unwrap_or_default(),
        isvc,
        DeploymentRow {
            name: deployment.metadata.name.clone().unwrap_or_default(),
            desired: count(status.replicas),
            ready: count(status.ready_replicas),
        },
    ))
}

/// An event row with the object it is about, or None for events of other kinds.
pub fn event_of(
    event: &k8s_openapi::api::core::v1::Event,
) -> Option<(String, String, String, EventRow)> {
    let object = &event.involved_object;
    let kind = object.kind.clone()?;
    if kind != "InferenceService" && kind != "Pod" {
        return None;
    }
    let at = event
        .last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.first_timestamp.as_ref().map(|t| t.0))
        .and_then(|t| {
            DateTime::<Utc>::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
        });
    let name = object.name.clone().unwrap_or_default();
    Some((
        event.metadata.namespace.clone().unwrap_or_default(),
        kind.clone(),
        name.clone(),
        EventRow {
            at,
            kind: event.type_.clone().unwrap_or_else(|| "Normal".into()),
            reason: event.reason.clone().unwrap_or_default(),
            message: event.message.clone().unwrap_or_default(),
            object: format!("{kind}/{name}"),
            count: event.count.unwrap_or(1).max(1) as u32,
        },
    ))
}

/// The console's server row for an InferenceService: the plan is what the spec asks for,
/// what is served is what `status.components.predictor.traffic` says, never the spec.
pub fn server_row(
    model: String,
    service: KubeService,
    (latest, previous): (Option<u32>, Option<u32>),
) -> LocalServer {
    let plan = match (service.canary_percent_spec, latest, previous) {
        (Some(p), Some(new), Some(old)) if p < 100 && service.mode.supports_canary() => {
            ServingPlan {
                stable: old,
                canary: Some(new),
                canary_percent: p,
            }
        }
        (_, Some(new), _) => ServingPlan::stable_only(new),
        _ => ServingPlan::stable_only(0),
    };
    let serving = serving_now(&service, latest);
    let healthy = service.ready();
    let problem = service.problem();
    LocalServer {
        model,
        plan,
        serving,
        record: None,
        supervisor_alive: true,
        healthy,
        problem,
        kube: Some(Box::new(service)),
    }
}

/// What the traffic block says is served, as a plan: one target at 100 % is stable; a latest
/// and a previous revision are a canary and its stable.
fn serving_now(service: &KubeService, latest: Option<u32>) -> Option<ServingPlan> {
    let live: Vec<_> = service.traffic.iter().filter(|t| t.percent > 0).collect();
    if service.traffic.is_empty() {
        // RawDeployment reports no traffic block: the ready spec is what serves.
        return (service.ready() && service.settled())
            .then_some(latest)
            .flatten()
            .map(ServingPlan::stable_only);
    }
    match live.as_slice() {
        [only] => only.version.map(ServingPlan::stable_only),
        [..] => {
            let new = service.traffic.iter().find(|t| t.latest)?;
            let old = service.traffic.iter().find(|t| !t.latest)?;
            if new.percent == 0 {
                return old.version.map(ServingPlan::stable_only);
            }
            Some(ServingPlan {
                stable: old.version?,
                canary: Some(new.version?),
                canary_percent: new.percent,
            })
        }
    }
}
