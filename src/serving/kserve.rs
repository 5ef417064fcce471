//! Serving on Kubernetes with KServe: a plan becomes an InferenceService applied server-side
//! (field manager `flightdeck`), and what serves is read back from
//! `status.components.predictor.traffic`, never from the spec.

use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, ListParams, Patch, PatchParams};
use tokio::sync::OnceCell;

use super::Pending;
use super::{Evidence, Serving, ServingError};
use crate::k8s::{FIELD_MANAGER, client, isvc_resource, manifest, slim};
use crate::model::{KubeService, ModelName, ServingPlan, ServingStatus};
use crate::settings::Environment;

/// How often a rollout is read back while waiting for it.
const POLL: Duration = Duration::from_millis(500);

/// How long one list of a service's pods or Deployments may take.
const LIST_WAIT: Duration = Duration::from_secs(10);

/// An InferenceService's API, namespace, and the object when it exists.
type Located = (Api<slim::Isvc>, String, Option<slim::Isvc>);

pub struct KServeServing {
    environment: Environment,
    connection: OnceCell<(Client, Vec<String>)>,
    /// Per namespace, what the credentials may not do (asked once per process).
    denied: tokio::sync::Mutex<std::collections::HashMap<String, Vec<String>>>,
}

impl KServeServing {
    pub fn new(environment: &Environment) -> Self {
        KServeServing {
            environment: environment.clone(),
            connection: OnceCell::new(),
            denied: Default::default(),
        }
    }

    /// The client and the namespaces this environment watches.
    async fn connection(&self) -> Result<&(Client, Vec<String>), String> {
        self.connection
            .get_or_try_init(|| async {
                let (client, mut namespaces) = client::connect(&self.environment).await?;
                if namespaces.is_empty() {
                    namespaces.push("default".into());
                }
                Ok::<_, String>((client, namespaces))
            })
            .await
    }

    /// Where `model`'s InferenceService is: the namespace that has it (the first configured
    /// one when none does, for a first deploy), its API, and the object if it exists.
    async fn locate(&self, model: &str) -> Result<Located, String> {
        let (client, namespaces) = self.connection().await?;
        for namespace in namespaces {
            let api: Api<slim::Isvc> =
                Api::namespaced_with(client.clone(), namespace, &isvc_resource());
            match tokio::time::timeout(Duration::from_secs(10), api.get_opt(model)).await {
                Ok(Ok(Some(found))) => return Ok((api, namespace.clone(), Some(found))),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => return Err(client::describe(&e)),
                Err(_) => return Err("the Kubernetes API did not answer within 10 s".into()),
            }
        }
        let first = namespaces[0].clone();
        let api = Api::namespaced_with(client.clone(), &first, &isvc_resource());
        Ok((api, first, None))
    }

    /// [`Self::locate`] for an operation: an unreachable cluster is the operation's error
    /// (said as the cluster's, not as a local server's).
    async fn locate_for(&self, model: &ModelName) -> Result<Located, ServingError> {
        self.locate(model.as_str()).await.map_err(|e| {
            ServingError::Io(format!("{model}'s InferenceService cannot be read: {e}"))
        })
    }

    async fn status_of(&self, model: &str) -> ServingStatus {
        let located = self.locate(model).await;
        self.row_of(model, located).await
    }

    /// The server row for what [`Self::locate`] found (the InferenceService read once).
    async fn row_of(&self, model: &str, located: Result<Located, String>) -> ServingStatus {
        let absent = |problem: String| ServingStatus {
            model: model.to_string(),
            plan: ServingPlan::stable_only(0),
            serving: None,
            record: None,
            supervisor_alive: false,
            healthy: false,
            problem: Some(problem),
            kube: None,
        };
        match located {
            Ok((_, namespace, Some(isvc))) => {
                let template = self.environment.storage_uri.as_deref();
                match slim::service_of(&isvc, template) {
                    Some((name, mut service, versions)) => {
                        let isvc_name = service.name.clone();
                        self.join_workloads(&namespace, &isvc_name, &mut service)
                            .await;
                        service.may_not = self.may_not(&namespace).await;
                        slim::server_row(name, service, versions)
                    }
                    None => absent("the InferenceService has no name".into()),
                }
            }
            Ok((_, _, None)) => absent(format!(
                "no InferenceService {model} in namespace {}",
                self.connection
                    .get()
                    .map(|(_, namespaces)| namespaces.join(", "))
                    .unwrap_or_default()
            )),
            Err(e) => {
                let mut server = absent(e);
                // Unknown is not absent: operations must not treat it as "nothing serves".
                server.supervisor_alive = true;
                server
            }
        }
    }

    /// What these credentials may not do in `namespace`.
    async fn may_not(&self, namespace: &str) -> Vec<String> {
        let Ok((client, _)) = self.connection().await else {
            return Vec::new();
        };
        let mut denied = self.denied.lock().await;
        if let Some(known) = denied.get(namespace) {
            return known.clone();
        }
        let answer = crate::k8s::access::may_not(client.clone(), namespace).await;
        denied.insert(namespace.to_string(), answer.clone());
        answer
    }

    /// The predictor's pods and Deployments, which say what each revision really loads. A
    /// failed list leaves them out: the row then says less, never something untrue.
    async fn join_workloads(&self, namespace: &str, isvc: &str, service: &mut KubeService) {
        let Ok((client, _)) = self.connection().await else {
            return;
        };
        let selector = format!("{}={isvc}", slim::ISVC_POD_LABEL);
        let params = ListParams::default().labels(&selector);
        let pods: Api<slim::SlimPod> = Api::namespaced_with(
            client.clone(),
            namespace,
            &ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&()),
        );
        let template = self.environment.storage_uri.as_deref();
        if let Ok(Ok(list)) = tokio::time::timeout(LIST_WAIT, pods.list(&params)).await {
            service.pods = list
                .items
                .iter()
                .filter_map(|p| slim::pod_of(p, template))
                .map(|(_, _, row)| row)
                .collect();
            service.pods.sort_by(|a, b| a.name.cmp(&b.name));
        }
        let deployments: Api<slim::SlimDeployment> = Api::namespaced_with(
            client.clone(),
            namespace,
            &ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&()),
        );
        if let Ok(Ok(list)) = tokio::time::timeout(LIST_WAIT, deployments.list(&params)).await {
            service.deployments = list
                .items
                .iter()
                .filter_map(slim::deployment_of)
                .map(|(_, _, row)| row)
                .collect();
        }
    }

    async fn apply_plan(
        &self,
        model: &ModelName,
        plan: ServingPlan,
    ) -> Result<ServingStatus, ServingError> {
        let refused = |reason: String| ServingError::Refused {
            model: model.to_string(),
            plan: plan.describe(),
            reason,
        };
        let template = self.environment.storage_uri.clone().ok_or_else(|| {
            refused(format!(
                "environment {:?} has no storage_uri: set it to where the cluster finds a version's files, e.g. \"s3://models/{{model}}/{{version}}\"",
                self.environment.name
            ))
        })?;
        let located = self.locate_for(model).await?;
        let before = self.row_of(model.as_str(), Ok(located.clone())).await;
        let (api, namespace, existing) = located;
        let parsed = existing
            .as_ref()
            .and_then(|i| slim::service_of(i, Some(&template)));
        let current = match &parsed {
            Some((_, service, versions)) => {
                manifest::Current::of(Some(service), *versions, before.serving)
            }
            None => manifest::Current::default(),
        };
        let applies = manifest::applies(model.as_str(), &namespace, &template, plan, current)
            .map_err(&refused)?;
        let mut created_before = before.kube.as_ref().and_then(|k| k.latest_created.clone());
        if let Some(staged) = &applies.staged {
            // The new revision comes up at 0 % first; only then does it take the traffic.
            self.apply_object(model, &api, staged, plan).await?;
            let new = plan.canary.unwrap_or(plan.stable);
            self.wait_for_rollout(model, &namespace, plan, created_before.clone(), |now| {
                now.kube.as_ref().is_some_and(|k| {
                    k.settled() && k.traffic.iter().any(|t| t.latest && t.version == Some(new))
                })
            })
            .await?;
            created_before = self
                .status_of(model.as_str())
                .await
                .kube
                .and_then(|k| k.latest_created.clone());
        }
        self.apply_object(model, &api, &applies.last, plan).await?;
        let rolled = self
            // What serves is the plan, from ready revisions. (Not "nothing rolling out": after
            // an abort or a failed rollout the newest revision may stay unready at 0 % for good.)
            .wait_for_rollout(model, &namespace, plan, created_before, |now| {
                now.serving == Some(plan) && now.healthy
            })
            .await;
        match rolled {
            Err(failure) => Err(self
                .pin_back(model, &api, &template, before.serving, failure)
                .await),
            done => done,
        }
    }

    /// After a rollout that failed, the spec goes back to what still serves, so the cluster
    /// stops trying to start the broken version and the next operation starts from the truth:
    /// in Knative mode KServe's own abort (the new revision kept at 0 %), in Standard mode the
    /// old files again (their pods still run: the broken ones never became ready).
    async fn pin_back(
        &self,
        model: &ModelName,
        api: &Api<slim::Isvc>,
        template: &str,
        served: Option<ServingPlan>,
        failure: ServingError,
    ) -> ServingError {
        let Some(served) = served else {
            return failure;
        };
        let after = self.status_of(model.as_str()).await;
        let Some(kube) = after.kube.as_ref() else {
            return failure;
        };
        let latest = slim::spec_version(kube, template, model.as_str());
        let object = if kube.mode.supports_canary() {
            manifest::pinned(
                model.as_str(),
                &kube.namespace,
                template,
                latest,
                served.stable,
            )
        } else {
            manifest::inference_service(
                model.as_str(),
                &kube.namespace,
                template,
                ServingPlan::stable_only(served.stable),
                manifest::Current::default(),
            )
            .ok()
        };
        let Some(object) = object else {
            return failure;
        };
        let params = PatchParams::apply(FIELD_MANAGER);
        let note = match api
            .patch(model.as_str(), &params, &Patch::Apply(&object))
            .await
        {
            Ok(_) => format!(
                "; the InferenceService was set back to serve v{} alone",
                served.stable
            ),
            Err(e) => format!(
                "; setting the InferenceService back to v{} failed too: {}",
                served.stable,
                client::describe(&e)
            ),
        };
        match failure {
            ServingError::Refused {
                model,
                plan,
                reason,
            } => ServingError::Refused {
                model,
                plan,
                reason: reason + &note,
            },
            ServingError::NotReady {
                model,
                seconds,
                detail,
                log,
            } => ServingError::NotReady {
                model,
                seconds,
                detail: detail + &note,
                log,
            },
            other => other,
        }
    }

    /// Applies `object` server-side, then checks that the API server kept every field
    /// flightdeck set or dropped: a field another manager also owns stays as that manager
    /// left it, and waiting for a rollout that can never come would only hide that.
    async fn apply_object(
        &self,
        model: &ModelName,
        api: &Api<slim::Isvc>,
        object: &serde_json::Value,
        plan: ServingPlan,
    ) -> Result<(), ServingError> {
        let params = PatchParams::apply(FIELD_MANAGER);
        // The answer with its managedFields, to name who else owns a field.
        let api: Api<slim::FullIsvc> = Api::namespaced_with(
            api.clone().into_client(),
            api.namespace().unwrap_or_default(),
            &isvc_resource(),
        );
        // What flightdeck had applied before, to give back if this apply must be undone.
        let before = api.get_opt(model.as_str()).await.ok().flatten();
        let applied = match api
            .patch(model.as_str(), &params, &Patch::Apply(object))
            .await
        {
            Ok(applied) => applied,
            Err(kube::Error::Api(status)) if status.code == 409 => {
                return Err(ServingError::Conflict {
                    model: model.to_string(),
                    reason: format!(
                        "{}. Another field manager owns these fields (a GitOps controller?): change them there, or take them over with `kubectl apply --server-side --force-conflicts --field-manager={FIELD_MANAGER}`",
                        status.message
                    ),
                });
            }
            Err(e) => {
                return Err(ServingError::Refused {
                    model: model.to_string(),
                    plan: plan.describe(),
                    reason: client::describe(&e),
                });
            }
        };
        let predictor = &object["spec"]["predictor"];
        let wanted = [(
            "canaryTrafficPercent",
            predictor
                .get("canaryTrafficPercent")
                .and_then(|v| v.as_i64()),
            applied.spec.predictor.canary_traffic_percent,
            vec!["f:spec", "f:predictor", "f:canaryTrafficPercent"],
        )];
        for (field, want, got, path) in wanted {
            if want != got {
                // The apply went through and took flightdeck's claim off the field: claim it
                // again as it was, so "nothing changed" is true and the other manager dropping
                // the field later cannot move traffic by itself.
                if let Some(before) = &before
                    && slim::managers_of(before, &path)
                        .iter()
                        .any(|m| m == FIELD_MANAGER)
                {
                    let restore = manifest::as_applied(before);
                    if let Err(e) = api
                        .patch(model.as_str(), &params, &Patch::Apply(&restore))
                        .await
                    {
                        tracing::error!(model = %model, error = %e, "could not restore flightdeck's fields after a conflict");
                    }
                }
                let owners = slim::managers_of(&applied, &path)
                    .into_iter()
                    .filter(|m| m != FIELD_MANAGER)
                    .collect::<Vec<_>>();
                let shown = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or("unset".into());
                return Err(ServingError::Conflict {
                    model: model.to_string(),
                    reason: format!(
                        "{field} stays {} where flightdeck needs {}: field manager {} owns it too. Change it there (or remove it from that manager's manifest), then run the operation again",
                        shown(got),
                        shown(want),
                        if owners.is_empty() {
                            "(unknown)".to_string()
                        } else {
                            owners
                                .iter()
                                .map(|o| format!("{o:?}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                });
            }
        }
        let uri = predictor["model"]["storageUri"].as_str();
        let applied_uri = applied
            .spec
            .predictor
            .model
            .as_ref()
            .and_then(|m| m.storage_uri.as_deref());
        if uri != applied_uri {
            let owners = slim::managers_of(
                &applied,
                &["f:spec", "f:predictor", "f:model", "f:storageUri"],
            );
            return Err(ServingError::Conflict {
                model: model.to_string(),
                reason: format!(
                    "storageUri stays {} where flightdeck applied {}: owned by {}",
                    applied_uri.unwrap_or("unset"),
                    uri.unwrap_or("nothing"),
                    owners.join(", ")
                ),
            });
        }
        Ok(())
    }

    /// Reads the InferenceService until `done` says the rollout is there, a revision created
    /// for it fails, or the environment's rollout timeout passes. `created_before` is the
    /// newest revision before the apply: a newer one is the apply's own.
    async fn wait_for_rollout(
        &self,
        model: &ModelName,
        namespace: &str,
        plan: ServingPlan,
        created_before: Option<String>,
        done: impl Fn(&ServingStatus) -> bool,
    ) -> Result<ServingStatus, ServingError> {
        let limit = Duration::from_secs(self.environment.rollout_timeout_s);
        let started = Instant::now();
        loop {
            let now = self.status_of(model.as_str()).await;
            if done(&now) {
                return Ok(now);
            }
            if let Some(failure) = now
                .kube
                .as_ref()
                .and_then(|k| new_revision_failure(k, created_before.as_deref(), plan))
            {
                let serving = now
                    .serving
                    .map(|p| format!("{} still serves", p.describe()))
                    .unwrap_or_else(|| "what serves is unknown".into());
                return Err(ServingError::Refused {
                    model: model.to_string(),
                    plan: plan.describe(),
                    reason: format!(
                        "{failure}; {serving} (see `kubectl -n {namespace} describe inferenceservice {model}` and the pod's logs)"
                    ),
                });
            }
            if started.elapsed() >= limit {
                let seen = now
                    .serving
                    .map(|p| p.describe())
                    .unwrap_or_else(|| "nothing settled".into());
                return Err(ServingError::NotReady {
                    model: model.to_string(),
                    seconds: limit.as_secs(),
                    detail: format!(
                        " (the InferenceService's traffic shows {seen}{})",
                        now.problem.map(|p| format!("; {p}")).unwrap_or_default()
                    ),
                    log: format!("`kubectl -n {namespace} describe inferenceservice {model}`"),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Pod states that do not heal by waiting: the rollout has failed.
const FATAL_WAITING: [&str; 6] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "InvalidImageName",
    "RunContainerError",
];

/// Why the revision (or, in Standard mode, the pods) this apply created cannot become ready.
fn new_revision_failure(
    kube: &KubeService,
    created_before: Option<&str>,
    plan: ServingPlan,
) -> Option<String> {
    let new_version = plan.canary.unwrap_or(plan.stable);
    let pods_failing = |own: &dyn Fn(&crate::model::PodRow) -> bool| {
        kube.pods
            .iter()
            .filter(|p| own(p) && !p.ready)
            .find_map(|p| {
                let reason = p.waiting.as_deref()?;
                FATAL_WAITING
                    .contains(&reason)
                    .then(|| format!("pod {} is {reason} (restarts {})", p.name, p.restarts))
            })
    };
    if kube.mode.supports_canary() {
        // The newest revision is the plan's when this apply made it, or when it loads the
        // version the plan brings (a retry of a version whose revision already failed makes no
        // new revision: the same files, the same template).
        let new = kube.latest_created.as_deref().filter(|c| {
            Some(*c) != created_before
                || kube
                    .pods
                    .iter()
                    .any(|p| p.revision.as_deref() == Some(*c) && p.version == Some(new_version))
        })?;
        if kube.latest_ready.as_deref() == Some(new) {
            return None;
        }
        let failing = pods_failing(&|p| p.revision.as_deref() == Some(new));
        let config = kube
            .condition("PredictorConfigurationReady")
            .filter(|c| c.status == "False")
            .map(|c| {
                format!(
                    "revision {new} failed{}",
                    c.message
                        .as_ref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                )
            });
        match (failing, config) {
            (Some(pod), Some(config)) => Some(format!("{config} ({pod})")),
            (Some(pod), None) => Some(format!("revision {new} cannot start: {pod}")),
            (None, config) => config,
        }
    } else {
        pods_failing(&|p| p.version == Some(new_version))
            .map(|pod| format!("v{new_version} cannot start: {pod}"))
    }
}

impl KServeServing {
    /// The promote's evidence from the environment's Prometheus: the runtime's counters, its
    /// revisions named by the versions the traffic block says they serve; drift verdicts when
    /// the runtime exports them (flightdeck serve does).
    async fn evidence_of(&self, model: &str) -> Evidence {
        let Some(url) = self.environment.prometheus_url.clone() else {
            let e = "this environment has no prometheus_url to read the canary's metrics from"
                .to_string();
            return Evidence {
                counters: Err(e.clone()),
                drift: Err(e.clone()),
                answers: Err(e),
            };
        };
        let status = self.status_of(model).await;
        let revisions: std::collections::HashMap<String, u32> = status
            .kube
            .iter()
            .flat_map(|k| k.traffic.iter())
            .filter_map(|t| Some((t.revision.clone(), t.version?)))
            .collect();
        let client = match crate::clients::http::client() {
            Ok(c) => c,
            Err(e) => return Evidence::unavailable(e),
        };
        let prometheus = crate::clients::prometheus::PrometheusMetrics::new(
            client,
            &url,
            Duration::from_secs(5),
        )
        .with_runtime(self.environment.prometheus_runtime)
        .with_revisions(std::sync::Arc::new(move |_, revision| {
            revisions.get(revision).copied()
        }));
        let counters = prometheus.snapshot(model.to_string()).await;
        // Runtimes other than flightdeck serve export no verdicts: an empty list, which the
        // gate reports as not measured.
        let drift = match &counters {
            Ok(snapshot) => Ok(snapshot
                .drift_verdict
                .iter()
                .filter_map(|((_, v), verdict)| {
                    Some((v.parse().ok()?, verdict.as_str().to_string(), None))
                })
                .collect()),
            Err(e) => Err(e.clone()),
        };
        Evidence {
            counters,
            drift,
            // Each revision is its own pod: no one server holds both versions' answers.
            answers: Err("not compared on KServe: canary and production answer in separate pods, and their answers are not exported yet".into()),
        }
    }
}

impl Serving for KServeServing {
    fn status_or_unreadable<'a>(
        &'a self,
        model: &'a str,
    ) -> BoxFuture<'a, Result<ServingStatus, String>> {
        async move {
            let located = self.locate(model).await?;
            Ok(self.row_of(model, Ok(located)).await)
        }
        .boxed()
    }

    fn evidence<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Evidence> {
        self.evidence_of(model).boxed()
    }

    fn status<'a>(&'a self, model: &'a str) -> BoxFuture<'a, ServingStatus> {
        self.status_of(model).boxed()
    }

    fn apply<'a>(&'a self, model: &'a ModelName, plan: ServingPlan) -> Pending<'a, ServingStatus> {
        self.apply_plan(model, plan).boxed()
    }

    fn start<'a>(&'a self, model: &'a ModelName, plan: ServingPlan) -> Pending<'a, ServingStatus> {
        self.apply_plan(model, plan).boxed()
    }

    fn stop<'a>(&'a self, model: &'a ModelName) -> Pending<'a, ()> {
        async move {
            let (api, _, existing) = self.locate_for(model).await?;
            if existing.is_none() {
                return Ok(());
            }
            match api.delete(model.as_str(), &DeleteParams::default()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(ServingError::Io(client::describe(&e))),
            }
        }
        .boxed()
    }
}
