//! The few fields of InferenceServices, Pods and Events that the cluster pane shows, as serde
//! types that skip everything else while parsing, and their conversion into the model's rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kube::core::Object;

use super::lean::Lean;
use serde::Deserialize;

use crate::model::{
    Condition, DeploymentMode, DeploymentRow, EventRow, KubeService, PodRow, ServingPlan,
    ServingStatus, TrafficTarget,
};

/// Labels and annotations flightdeck reads and writes on InferenceServices.
pub const MODEL_LABEL: &str = "flightdeck.io/model";
pub const VERSION_ANNOTATION: &str = "flightdeck.io/version";
pub const PREVIOUS_VERSION_ANNOTATION: &str = "flightdeck.io/previous-version";
pub const MODE_ANNOTATION: &str = "serving.kserve.io/deploymentMode";
/// KServe labels the predictor's pods with their InferenceService.
pub const ISVC_POD_LABEL: &str = "serving.kserve.io/inferenceservice";
pub const REVISION_POD_LABEL: &str = "serving.knative.dev/revision";
/// KServe puts the storage URI on the predictor's pod template (for its storage initializer).
pub const STORAGE_URI_POD_ANNOTATION: &str =
    "internal.serving.kserve.io/storage-initializer-sourceuri";

/// An InferenceService as the watches and reads keep it (lean metadata).
pub type Isvc = Lean<IsvcSpec, IsvcStatus>;
/// One with every field of its metadata: an apply's answer, whose managedFields say who owns
/// what.
pub type FullIsvc = Object<IsvcSpec, IsvcStatus>;
pub type SlimPod = Lean<PodSpec, PodStatus>;
pub type SlimDeployment = Lean<Skipped, DeploymentStatus>;
pub use super::lean::LeanEvent;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    pub replicas: Option<i64>,
    pub ready_replicas: Option<i64>,
}

/// Of a pod's spec, only its init containers: KServe's storage initializer is given the storage
/// URI as its first argument.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub init_containers: Vec<InitContainer>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InitContainer {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub args: Vec<String>,
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
    #[serde(default)]
    pub init_container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    #[serde(default)]
    pub restart_count: i64,
    #[serde(default)]
    pub state: ContainerState,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContainerState {
    pub waiting: Option<StateReason>,
    pub terminated: Option<StateReason>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StateReason {
    pub reason: Option<String>,
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
    let mode = DeploymentMode::resolve(
        status.deployment_mode.as_deref(),
        annotation(isvc, MODE_ANNOTATION),
    );
    Some((
        model,
        KubeService {
            namespace: isvc.metadata.namespace.clone().unwrap_or_default(),
            name: isvc.metadata.name.clone().unwrap_or_default(),
            uid: isvc.metadata.uid.clone(),
            created_at: isvc.metadata.creation_timestamp.as_ref().and_then(|t| {
                DateTime::<Utc>::from_timestamp(
                    t.0.as_second(),
                    t.0.subsec_nanosecond().max(0) as u32,
                )
            }),
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
/// `template` is the environment's `storage_uri`, to tell the version from the pod's URI.
pub fn pod_of(pod: &SlimPod, template: Option<&str>) -> Option<(String, String, PodRow)> {
    let labels = pod.metadata.labels.as_ref()?;
    let isvc = labels.get(ISVC_POD_LABEL)?.clone();
    let status = pod.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .any(|c| c.kind == "Ready" && c.status == "True");
    let annotations = pod.metadata.annotations.as_ref();
    let storage_uri = annotations
        .and_then(|a| a.get(STORAGE_URI_POD_ANNOTATION).cloned())
        .or_else(|| {
            pod.spec
                .init_containers
                .iter()
                .find(|c| c.name == "storage-initializer")?
                .args
                .first()
                .cloned()
        });
    // Knative copies the InferenceService's annotations (flightdeck's among them) onto the
    // revision's pods; the storage URI says it wherever they are missing.
    let version = annotations
        .and_then(|a| a.get(VERSION_ANNOTATION))
        .and_then(|v| v.parse().ok())
        .or_else(|| version_from_uri(template?, &isvc, storage_uri.as_deref()?));
    // kubectl's STATUS: a waiting container's reason, else a terminated one's (init first).
    let waiting = status
        .init_container_statuses
        .iter()
        .chain(status.container_statuses.iter())
        .find_map(|c| {
            let state = &c.state;
            state
                .waiting
                .as_ref()
                .and_then(|w| w.reason.clone())
                .filter(|r| r != "PodInitializing" && r != "ContainerCreating")
                .or_else(|| state.terminated.as_ref().and_then(|t| t.reason.clone()))
                .filter(|r| r != "Completed")
        });
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
        waiting,
        version,
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
/// An event: (namespace, kind, object name, the object's uid, row).
pub type Happened = (String, String, String, Option<String>, EventRow);

pub fn event_of(event: &LeanEvent) -> Option<Happened> {
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
        object.uid.clone(),
        EventRow {
            at,
            kind: event.kind.clone().unwrap_or_else(|| "Normal".into()),
            reason: event.reason.clone().unwrap_or_default(),
            message: event.message.clone().unwrap_or_default(),
            object: format!("{kind}/{name}"),
            count: event.count.unwrap_or(1).max(1) as u32,
        },
    ))
}

/// The console's server row for an InferenceService: the plan is what the spec asks for,
/// what is served is what `status.components.predictor.traffic` says (Knative), or what the
/// ready pods load (Standard), never the spec. Pods must be joined in first.
pub fn server_row(
    model: String,
    mut service: KubeService,
    (latest, previous): (Option<u32>, Option<u32>),
) -> ServingStatus {
    let plan = match (service.canary_percent_spec, latest, previous) {
        // KServe's abort: the canary's revision kept at 0 %, all traffic on the previous one.
        (Some(0), Some(_), Some(old)) if service.mode.supports_canary() => {
            ServingPlan::stable_only(old)
        }
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
    label_revisions(&mut service);
    let (serving, rolling) = if service.mode.supports_canary() {
        (serving_now(&service), None)
    } else {
        standard_serving(&service, latest)
    };
    // It answers when what takes the traffic is ready, whatever a newer revision's state: an
    // aborted or failed revision held at 0 % makes KServe's Ready False while the previous
    // one serves everything (said in the problem, not counted as down).
    let healthy = service.ready() || serves_from_ready(&service, serving);
    let problem = service.problem().or(rolling);
    ServingStatus {
        model,
        plan,
        serving,
        record: None,
        supervisor_alive: true,
        healthy,
        problem,
        kube: Some(std::sync::Arc::new(service)),
    }
}

/// Everything that takes traffic has a ready pod (and the route is not failing).
fn serves_from_ready(service: &KubeService, serving: Option<ServingPlan>) -> bool {
    if serving.is_none() {
        return false;
    }
    let route_failing = ["PredictorRouteReady", "RoutesReady", "IngressReady"]
        .iter()
        .any(|kind| service.condition(kind).is_some_and(|c| c.status == "False"));
    if route_failing {
        return false;
    }
    let ready_pod = |revision: Option<&str>| {
        service
            .pods
            .iter()
            .any(|p| p.ready && (revision.is_none() || p.revision.as_deref() == revision))
    };
    if !service.mode.supports_canary() {
        return ready_pod(None);
    }
    service
        .traffic
        .iter()
        .filter(|t| t.percent > 0)
        .all(|t| ready_pod(Some(&t.revision)))
}

/// Names each traffic entry's version by its revision's pods, which load one storage URI for
/// good. The annotations flightdeck writes on the InferenceService describe the spec, which
/// runs ahead of the revisions, so they only stand in when no pod says anything (pods not
/// listed yet, or not visible to these credentials); a revision scaled to zero is unknown.
fn label_revisions(service: &mut KubeService) {
    let by_pods = service.pods.iter().any(|p| p.version.is_some());
    for target in &mut service.traffic {
        let from_pods = service
            .pods
            .iter()
            .filter(|p| p.revision.as_deref() == Some(target.revision.as_str()))
            .find_map(|p| p.version);
        if by_pods {
            target.version = from_pods;
        }
    }
}

/// What the traffic block says is served, as a plan: one target at 100 % is stable; a latest
/// and a previous revision are a canary and its stable.
fn serving_now(service: &KubeService) -> Option<ServingPlan> {
    let live: Vec<_> = service.traffic.iter().filter(|t| t.percent > 0).collect();
    // Knative resolves "latest" to the newest *ready* revision: while a canary's revision is
    // not ready, both entries name the stable one, which then serves everything.
    let first = live.first()?;
    if live.iter().all(|t| t.revision == first.revision) {
        return first.version.map(ServingPlan::stable_only);
    }
    match live.as_slice() {
        [] => None,
        [only] => only.version.map(ServingPlan::stable_only),
        [..] => {
            let new = live.iter().find(|t| t.latest)?;
            let old = live.iter().find(|t| !t.latest)?;
            Some(ServingPlan {
                stable: old.version?,
                canary: Some(new.version?),
                canary_percent: new.percent,
            })
        }
    }
}

/// Standard (RawDeployment) mode has no traffic block: what serves is what the ready predictor
/// pods load. Pods of two versions are a rolling update in progress (said, not guessed).
fn standard_serving(
    service: &KubeService,
    latest: Option<u32>,
) -> (Option<ServingPlan>, Option<String>) {
    let ready: Vec<&crate::model::PodRow> = service.pods.iter().filter(|p| p.ready).collect();
    if service.pods.iter().all(|p| p.version.is_none()) {
        // No pod says what it loads: the ready spec stands in, as it always did.
        let serving = (service.ready() && service.settled())
            .then_some(latest)
            .flatten()
            .map(ServingPlan::stable_only);
        return (serving, None);
    }
    let mut versions: Vec<u32> = ready.iter().filter_map(|p| p.version).collect();
    versions.sort_unstable();
    versions.dedup();
    match versions.as_slice() {
        [] => (None, None),
        [one] => (Some(ServingPlan::stable_only(*one)), None),
        many => (
            None,
            Some(format!(
                "rolling update: ready pods load {}",
                many.iter()
                    .map(|v| format!("v{v}"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )),
        ),
    }
}

/// The field managers that own `path` (e.g. `["f:spec", "f:predictor", "f:canaryTrafficPercent"]`)
/// in an object's managedFields.
pub fn managers_of(isvc: &FullIsvc, path: &[&str]) -> Vec<String> {
    let mut owners: Vec<String> = isvc
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|entry| {
            let mut node = entry.fields_v1.as_ref().map(|f| &f.0);
            for step in path {
                node = node.and_then(|n| n.get(*step));
            }
            node.is_some()
        })
        .filter_map(|entry| entry.manager.clone())
        .collect();
    owners.dedup();
    owners
}

/// The version the spec's storage URI holds (through the `storage_uri` template).
pub fn spec_version(service: &KubeService, template: &str, model: &str) -> Option<u32> {
    version_from_uri(template, model, service.storage_uri.as_deref()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PodRow;

    fn pod(revision: &str, version: u32, ready: bool) -> PodRow {
        PodRow {
            name: format!("{revision}-deployment-abc"),
            phase: "Running".into(),
            ready,
            restarts: 0,
            revision: Some(revision.into()),
            started_at: None,
            waiting: None,
            version: Some(version),
        }
    }

    fn target(revision: &str, percent: u8, latest: bool, version: Option<u32>) -> TrafficTarget {
        TrafficTarget {
            revision: revision.into(),
            percent,
            latest,
            tag: None,
            version,
        }
    }

    fn service(
        mode: DeploymentMode,
        traffic: Vec<TrafficTarget>,
        pods: Vec<PodRow>,
    ) -> KubeService {
        KubeService {
            namespace: "ml".into(),
            name: "fraud".into(),
            uid: None,
            created_at: None,
            mode,
            url: None,
            storage_uri: None,
            canary_percent_spec: None,
            generation: 1,
            observed_generation: None,
            conditions: vec![Condition {
                kind: "Ready".into(),
                status: "True".into(),
                reason: None,
                message: None,
            }],
            latest_created: Some("fraud-predictor-00002".into()),
            latest_ready: Some("fraud-predictor-00002".into()),
            latest_rolled_out: None,
            previous_rolled_out: None,
            traffic,
            pods,
            deployments: vec![],
            events: vec![],
            may_not: vec![],
        }
    }

    #[test]
    fn each_revision_is_named_by_its_pods_not_by_the_spec() {
        // The spec already asks for v3 (its annotations say so), but the revision taking
        // "latest" traffic is still the one whose pods load v2.
        let row = server_row(
            "fraud".into(),
            service(
                DeploymentMode::Serverless,
                vec![target("fraud-predictor-00002", 100, true, Some(3))],
                vec![pod("fraud-predictor-00002", 2, true)],
            ),
            (Some(3), Some(2)),
        );
        assert_eq!(row.serving, Some(ServingPlan::stable_only(2)));
        assert_eq!(row.plan, ServingPlan::stable_only(3));
    }

    #[test]
    fn a_canary_that_is_not_ready_yet_leaves_the_stable_serving_everything() {
        // Knative resolves "latest" to the newest ready revision: both entries name v1's.
        let row = server_row(
            "fraud".into(),
            service(
                DeploymentMode::Serverless,
                vec![
                    target("fraud-predictor-00001", 10, true, None),
                    target("fraud-predictor-00001", 90, false, None),
                ],
                vec![pod("fraud-predictor-00001", 1, true)],
            ),
            (Some(2), Some(1)),
        );
        assert_eq!(row.serving, Some(ServingPlan::stable_only(1)));
    }

    #[test]
    fn standard_mode_serves_what_its_ready_pods_load_and_says_when_two_versions_do() {
        let mut standard = service(
            DeploymentMode::RawDeployment,
            vec![],
            vec![pod("-", 1, true), pod("-", 2, false)],
        );
        standard.deployments = vec![DeploymentRow {
            name: "fraud-predictor".into(),
            desired: 1,
            ready: 1,
        }];
        let row = server_row("fraud".into(), standard.clone(), (Some(2), Some(1)));
        assert_eq!(row.serving, Some(ServingPlan::stable_only(1)));
        standard.pods[1].ready = true;
        let row = server_row("fraud".into(), standard, (Some(2), Some(1)));
        assert_eq!(row.serving, None);
        assert!(
            row.problem
                .as_deref()
                .is_some_and(|p| p.contains("rolling update") && p.contains("v1 and v2")),
            "{:?}",
            row.problem
        );
    }

    #[test]
    fn both_spellings_of_each_mode_are_one_mode_and_the_recorded_one_wins() {
        assert_eq!(
            DeploymentMode::resolve(Some("Knative"), None),
            DeploymentMode::Serverless
        );
        assert_eq!(
            DeploymentMode::resolve(Some("Standard"), Some("Serverless")),
            DeploymentMode::RawDeployment
        );
        assert_eq!(
            DeploymentMode::resolve(None, Some("RawDeployment")),
            DeploymentMode::RawDeployment
        );
        assert_eq!(
            DeploymentMode::resolve(Some(""), None),
            DeploymentMode::Serverless
        );
        assert_eq!(
            DeploymentMode::resolve(Some("Legacy"), None),
            DeploymentMode::Unknown
        );
    }
}
