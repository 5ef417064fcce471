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
    /// The version the newest revision loads (`flightdeck.io/version`).
    pub latest: Option<u32>,
    /// The version of the revision before it (`flightdeck.io/previous-version`).
    pub previous: Option<u32>,
    /// The share the newest revision has while it is a canary.
    pub canary_percent: Option<u8>,
    pub mode: Option<DeploymentMode>,
}

impl Current {
    pub fn of(service: Option<&KubeService>, versions: (Option<u32>, Option<u32>)) -> Self {
        Current {
            latest: versions.0,
            previous: versions.1,
            canary_percent: service.and_then(|s| s.canary_percent_spec),
            mode: service.map(|s| s.mode),
        }
    }
}

/// Fills the environment's `storage_uri` template.
pub fn storage_uri(template: &str, model: &str, version: u32) -> String {
    template
        .replace("{model}", model)
        .replace("{version}", &version.to_string())
}

/// The object to apply for `plan`, or why KServe cannot serve it from where it is.
///
/// KServe splits traffic between its newest revision and the one rolled out before it, so a
/// canary is always "the new version next to the one serving now"; a rollback applies the
/// previous version's files again (a new revision at 100 %).
pub fn inference_service(
    model: &str,
    namespace: &str,
    template: &str,
    plan: ServingPlan,
    current: Current,
) -> Result<Value, String> {
    let (version, previous, canary) = match plan.canary {
        Some(canary) => {
            if let Some(mode) = current.mode.filter(|m| !m.supports_canary()) {
                return Err(format!(
                    "{model} runs in KServe's {} mode, which ignores canaryTrafficPercent: a canary would take all the traffic at once. Deploy with --direct (no canary), or switch the InferenceService to Serverless",
                    mode.as_str()
                ));
            }
            let serving_stable = match (current.latest, current.canary_percent) {
                // A canary in flight: its stable side is the previous revision.
                (Some(latest), Some(p)) if latest == canary && p < 100 => current.previous,
                (latest, _) => latest,
            };
            if serving_stable != Some(plan.stable) {
                return Err(format!(
                    "KServe can only put a canary next to the version serving now ({}); v{} is not it. Promote or roll back first",
                    serving_stable
                        .map(|v| format!("v{v}"))
                        .unwrap_or_else(|| "none".into()),
                    plan.stable
                ));
            }
            (canary, Some(plan.stable), Some(plan.canary_percent))
        }
        None => {
            let previous = if current.latest == Some(plan.stable) {
                // A promote keeps the revision before as the rollback target.
                current.previous.filter(|p| *p != plan.stable)
            } else {
                current.latest
            };
            (plan.stable, previous, None)
        }
    };
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
    Ok(json!({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": model,
            "namespace": namespace,
            "labels": {MODEL_LABEL: model},
            "annotations": annotations,
        },
        "spec": {"predictor": predictor},
    }))
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

        // A rollback serves the previous files again; the version rolled back from is kept.
        let rollback = ServingPlan::stable_only(1);
        let isvc = inference_service(
            "fraud",
            "ml",
            TEMPLATE,
            rollback,
            serverless(2, Some(1), Some(50)),
        )
        .unwrap();
        assert_eq!(
            isvc["spec"]["predictor"]["model"]["storageUri"],
            "s3://models/fraud/1"
        );
        assert_eq!(
            isvc["metadata"]["annotations"][PREVIOUS_VERSION_ANNOTATION],
            "2"
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
            err.contains("RawDeployment") && err.contains("ignores canaryTrafficPercent"),
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
