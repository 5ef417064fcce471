//! The InferenceService flightdeck applies for a serving plan: pure, so every object it can
//! send is tested against KServe's CRD schema. Server-side apply makes the object the whole
//! truth of flightdeck's fields: a field left out (`canaryTrafficPercent` after a promote) is
//! removed by the API server.

use serde_json::{Value, json};

use super::slim::{MODEL_LABEL, PREVIOUS_VERSION_ANNOTATION, VERSION_ANNOTATION};
use crate::model::{DeploymentMode, KubeService, ServingPlan};

/// What the cluster serves now, as far as the plan needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Current {
    /// The version the spec's newest revision loads (`flightdeck.io/version`).
    pub latest: Option<u32>,
    /// The version of the revision before it (`flightdeck.io/previous-version`).
    pub previous: Option<u32>,
    /// `canaryTrafficPercent` in the spec; `Some(0)` is an aborted canary.
    pub canary_percent: Option<u8>,
    pub mode: Option<DeploymentMode>,
    /// What the traffic block (or the ready pods) say serves, when known.
    pub serving: Option<ServingPlan>,
}

impl Current {
    pub fn of(
        service: Option<&KubeService>,
        versions: (Option<u32>, Option<u32>),
        serving: Option<ServingPlan>,
    ) -> Self {
        Current {
            latest: versions.0,
            previous: versions.1,
            canary_percent: service.and_then(|s| s.canary_percent_spec),
            mode: service.map(|s| s.mode),
            serving,
        }
    }

    /// The version taking the stable share now: from the traffic when known, else from the
    /// spec (an in-flight or aborted canary's stable side is its previous revision).
    fn serving_stable(&self) -> Option<u32> {
        if let Some(serving) = self.serving {
            return Some(serving.stable);
        }
        match (self.latest, self.canary_percent) {
            (Some(_), Some(p)) if p < 100 => self.previous,
            (latest, _) => latest,
        }
    }

    /// A canary is in the spec (in flight, or aborted at 0 %).
    fn canary_in_spec(&self) -> bool {
        self.mode.is_none_or(DeploymentMode::supports_canary)
            && self.canary_percent.is_some_and(|p| p < 100)
            && self.latest.is_some()
            && self.previous.is_some()
    }
}

/// Fills the environment's `storage_uri` template.
pub fn storage_uri(template: &str, model: &str, version: u32) -> String {
    template
        .replace("{model}", model)
        .replace("{version}", &version.to_string())
}

/// How an object reaches the plan: at once, or (after an aborted canary) first as a new
/// revision held at 0 % until it is ready, so the aborted version never takes traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct Applies {
    /// Applied first, when staging; the rollout waits until its newest revision is ready.
    pub staged: Option<Value>,
    pub last: Value,
}

/// The object to apply for `plan`, or why KServe cannot serve it from where it is.
///
/// KServe splits traffic between its newest revision and the one rolled out before it, so a
/// canary is always "the new version next to the one serving now". Dropping a canary back to
/// its stable version is KServe's own abort, `canaryTrafficPercent: 0` (the previous revision
/// takes everything at once, no new revision); a rollback after a promote applies the previous
/// version's files again (a new revision, which takes traffic once ready).
pub fn inference_service(
    model: &str,
    namespace: &str,
    template: &str,
    plan: ServingPlan,
    current: Current,
) -> Result<Value, String> {
    applies(model, namespace, template, plan, current).map(|a| a.last)
}

/// [`inference_service`] with the staging step when one is needed.
pub fn applies(
    model: &str,
    namespace: &str,
    template: &str,
    plan: ServingPlan,
    current: Current,
) -> Result<Applies, String> {
    let object = |version: u32, previous: Option<u32>, canary: Option<u8>| {
        object(model, namespace, template, version, previous, canary)
    };
    match plan.canary {
        Some(canary) => {
            if let Some(mode) = current.mode.filter(|m| !m.supports_canary()) {
                return Err(format!(
                    "{model} runs in KServe's {} mode, which ignores canaryTrafficPercent: a canary would take all the traffic at once. Deploy with --direct (no canary), or switch the InferenceService to Knative (Serverless) mode",
                    mode.as_str()
                ));
            }
            let serving_stable = current.serving_stable();
            if serving_stable != Some(plan.stable) {
                return Err(format!(
                    "KServe can only put a canary next to the version serving now ({}); v{} is not it. Promote or roll back first",
                    serving_stable
                        .map(|v| format!("v{v}"))
                        .unwrap_or_else(|| "none".into()),
                    plan.stable
                ));
            }
            // After an abort (or a rollout set back), Knative's newest ready revision is one
            // that must not take traffic: the new one comes up at 0 % first.
            let staged = (current.canary_percent == Some(0))
                .then(|| object(canary, Some(plan.stable), Some(0)));
            Ok(Applies {
                staged,
                last: object(canary, Some(plan.stable), Some(plan.canary_percent)),
            })
        }
        None if current.canary_in_spec() && current.previous == Some(plan.stable) => {
            // Abort: keep the canary's revision, give it 0 %.
            Ok(Applies {
                staged: None,
                last: object(
                    current.latest.unwrap_or(plan.stable),
                    current.previous,
                    Some(0),
                ),
            })
        }
        None if current.canary_in_spec() && current.latest == Some(plan.stable) => {
            // Promote: the canary's revision takes everything; the one before stays the
            // rollback target.
            Ok(Applies {
                staged: None,
                last: object(plan.stable, current.previous, None),
            })
        }
        None => {
            let previous = if current.latest == Some(plan.stable) {
                current.previous.filter(|p| *p != plan.stable)
            } else {
                current.serving_stable().or(current.latest)
            }
            .filter(|p| *p != plan.stable);
            let last = object(plan.stable, previous, None);
            // After an abort, the newest ready revision is the aborted canary: with no
            // percent, Knative would route everything to it until the new one is ready.
            let staged =
                (current.canary_percent == Some(0)).then(|| object(plan.stable, previous, Some(0)));
            Ok(Applies { staged, last })
        }
    }
}

/// Knative mode's way back after a failed rollout: the spec's newest files kept at 0 % next to
/// `serving`, which takes everything (what KServe's abort does; no new revision is made).
pub fn pinned(
    model: &str,
    namespace: &str,
    template: &str,
    latest: Option<u32>,
    serving: u32,
) -> Option<Value> {
    let latest = latest.filter(|v| *v != serving)?;
    Some(object(
        model,
        namespace,
        template,
        latest,
        Some(serving),
        Some(0),
    ))
}

/// The fields flightdeck applies, as `isvc` has them now: applied again, they give flightdeck
/// back the claims an apply took away.
pub fn as_applied(isvc: &super::slim::FullIsvc) -> Value {
    let meta = &isvc.metadata;
    let name = meta.name.clone().unwrap_or_default();
    let annotations: serde_json::Map<String, Value> = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("flightdeck.io/"))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut predictor = json!({"model": {"modelFormat": {"name": "onnx"}}});
    if let Some(uri) = isvc
        .spec
        .predictor
        .model
        .as_ref()
        .and_then(|m| m.storage_uri.clone())
    {
        predictor["model"]["storageUri"] = json!(uri);
    }
    if let Some(percent) = isvc.spec.predictor.canary_traffic_percent {
        predictor["canaryTrafficPercent"] = json!(percent);
    }
    let model = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(MODEL_LABEL).cloned())
        .unwrap_or_else(|| name.clone());
    json!({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": meta.namespace,
            "labels": {MODEL_LABEL: model},
            "annotations": annotations,
        },
        "spec": {"predictor": predictor},
    })
}

fn object(
    model: &str,
    namespace: &str,
    template: &str,
    version: u32,
    previous: Option<u32>,
    canary: Option<u8>,
) -> Value {
    let mut annotations = serde_json::Map::new();
    annotations.insert(VERSION_ANNOTATION.into(), json!(version.to_string()));
    if let Some(previous) = previous {
        annotations.insert(
            PREVIOUS_VERSION_ANNOTATION.into(),
            json!(previous.to_string()),
        );
    }
    let mut predictor = json!({
        "model": {
            "modelFormat": {"name": "onnx"},
            "storageUri": storage_uri(template, model, version),
        }
    });
    if let Some(percent) = canary {
        predictor["canaryTrafficPercent"] = json!(percent);
    }
    json!({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": model,
            "namespace": namespace,
            "labels": {MODEL_LABEL: model},
            "annotations": annotations,
        },
        "spec": {"predictor": predictor},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "s3://models/{model}/{version}";

    fn serverless(latest: u32, previous: Option<u32>, canary: Option<u8>) -> Current {
        Current {
            latest: Some(latest),
            previous,
            canary_percent: canary,
            mode: Some(DeploymentMode::Serverless),
            serving: None,
        }
    }

    #[test]
    fn a_canary_goes_next_to_the_serving_version_and_a_promote_drops_the_percent() {
        let canary = ServingPlan {
            stable: 1,
            canary: Some(2),
            canary_percent: 10,
        };
        let isvc =
            inference_service("fraud", "ml", TEMPLATE, canary, serverless(1, None, None)).unwrap();
        assert_eq!(
            isvc["spec"]["predictor"]["model"]["storageUri"],
            "s3://models/fraud/2"
        );
        assert_eq!(isvc["spec"]["predictor"]["canaryTrafficPercent"], 10);
        assert_eq!(isvc["metadata"]["annotations"][VERSION_ANNOTATION], "2");
        assert_eq!(
            isvc["metadata"]["annotations"][PREVIOUS_VERSION_ANNOTATION],
            "1"
        );

        // Raising the share keeps the same files.
        let more = ServingPlan {
            canary_percent: 50,
            ..canary
        };
        let isvc = inference_service(
            "fraud",
            "ml",
            TEMPLATE,
            more,
            serverless(2, Some(1), Some(10)),
        )
        .unwrap();
        assert_eq!(isvc["spec"]["predictor"]["canaryTrafficPercent"], 50);
        assert_eq!(
            isvc["spec"]["predictor"]["model"]["storageUri"],
            "s3://models/fraud/2"
        );

        let promote = ServingPlan::stable_only(2);
        let isvc = inference_service(
            "fraud",
            "ml",
            TEMPLATE,
            promote,
            serverless(2, Some(1), Some(50)),
        )
        .unwrap();
        assert!(
            isvc["spec"]["predictor"]
                .get("canaryTrafficPercent")
                .is_none()
        );
        assert_eq!(
            isvc["metadata"]["annotations"][PREVIOUS_VERSION_ANNOTATION],
            "1"
        );

        // Back to the stable side while a canary is in the spec: KServe's abort, the canary's
        // revision kept at 0 % (no new revision).
        let abort = ServingPlan::stable_only(1);
        let isvc = inference_service(
            "fraud",
            "ml",
            TEMPLATE,
            abort,
            serverless(2, Some(1), Some(50)),
        )
        .unwrap();
        assert_eq!(
            isvc["spec"]["predictor"]["model"]["storageUri"],
            "s3://models/fraud/2"
        );
        assert_eq!(isvc["spec"]["predictor"]["canaryTrafficPercent"], 0);

        // A rollback after a promote serves the previous files again; the version rolled back
        // from is kept as the previous one.
        let isvc = inference_service("fraud", "ml", TEMPLATE, abort, serverless(2, Some(1), None))
            .unwrap();
        assert_eq!(
            isvc["spec"]["predictor"]["model"]["storageUri"],
            "s3://models/fraud/1"
        );
        assert!(
            isvc["spec"]["predictor"]
                .get("canaryTrafficPercent")
                .is_none()
        );
        assert_eq!(
            isvc["metadata"]["annotations"][PREVIOUS_VERSION_ANNOTATION],
            "2"
        );

        // After an abort, a new version is staged at 0 % so the aborted one never takes over.
        let applies = applies(
            "fraud",
            "ml",
            TEMPLATE,
            ServingPlan::stable_only(3),
            serverless(2, Some(1), Some(0)),
        )
        .unwrap();
        let staged = applies.staged.unwrap();
        assert_eq!(staged["spec"]["predictor"]["canaryTrafficPercent"], 0);
        assert_eq!(
            staged["spec"]["predictor"]["model"]["storageUri"],
            "s3://models/fraud/3"
        );
        assert!(
            applies.last["spec"]["predictor"]
                .get("canaryTrafficPercent")
                .is_none()
        );
    }

    #[test]
    fn raw_deployment_refuses_a_canary_and_a_canary_needs_its_stable_serving() {
        let canary = ServingPlan {
            stable: 1,
            canary: Some(2),
            canary_percent: 10,
        };
        let raw = Current {
            mode: Some(DeploymentMode::RawDeployment),
            ..serverless(1, None, None)
        };
        let err = inference_service("fraud", "ml", TEMPLATE, canary, raw).unwrap_err();
        assert!(
            err.contains("Standard (RawDeployment)")
                && err.contains("ignores canaryTrafficPercent"),
            "{err}"
        );
        let err = inference_service("fraud", "ml", TEMPLATE, canary, serverless(3, None, None))
            .unwrap_err();
        assert!(
            err.contains("(v3)") && err.contains("v1 is not it"),
            "{err}"
        );
        // A plain deploy works in any mode.
        assert!(
            inference_service("fraud", "ml", TEMPLATE, ServingPlan::stable_only(2), raw).is_ok()
        );
    }
}
