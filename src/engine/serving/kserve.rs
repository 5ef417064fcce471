//! Serving on Kubernetes with KServe: a plan becomes an InferenceService applied server-side
//! (field manager `flightdeck`), and what serves is read back from
//! `status.components.predictor.traffic`, never from the spec.

use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use tokio::sync::OnceCell;

use super::{Evidence, Serving, ServingError};
use crate::k8s::{FIELD_MANAGER, client, isvc_resource, manifest, slim};
use crate::model::{LocalServer, ModelName, ServingPlan};
use crate::settings::Environment;

/// How often a rollout is read back while waiting for it.
const POLL: Duration = Duration::from_millis(500);

/// An InferenceService's API, namespace, and the object when it exists.
type Located = (Api<slim::Isvc>, String, Option<slim::Isvc>);

pub struct KServeServing {
    environment: Environment,
    connection: OnceCell<(Client, Vec<String>)>,
}

impl KServeServing {
    pub fn new(environment: &Environment) -> Self {
        KServeServing {
            environment: environment.clone(),
            connection: OnceCell::new(),
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

    /// [`Self::locate`] for an operation: an unreachable cluster is the operation's error.
    async fn locate_for(&self, model: &ModelName) -> Result<Located, ServingError> {
        self.locate(model.as_str())
            .await
            .map_err(|e| ServingError::Unreachable {
                model: model.to_string(),
                reason: e,
            })
    }

    async fn status_of(&self, model: &str) -> LocalServer {
        let absent = |problem: String| LocalServer {
            model: model.to_string(),
            plan: ServingPlan::stable_only(0),
            serving: None,
            record: None,
            supervisor_alive: false,
            healthy: false,
            problem: Some(problem),
            kube: None,
        };
        match self.locate(model).await {
            Ok((_, _, Some(isvc))) => {
                let template = self.environment.storage_uri.as_deref();
                match slim::service_of(&isvc, template) {
                    Some((name, service, versions)) => slim::server_row(name, service, versions),
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

    async fn apply_plan(
        &self,
        model: &ModelName,
        plan: ServingPlan,
    ) -> Result<LocalServer, ServingError> {
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
        let (api, namespace, existing) = self.locate_for(model).await?;
        let parsed = existing
            .as_ref()
            .and_then(|i| slim::service_of(i, Some(&template)));
        let current = match &parsed {
            Some((_, service, versions)) => manifest::Current::of(Some(service), *versions),
            None => manifest::Current::default(),
        };
        let object =
            manifest::inference_service(model.as_str(), &namespace, &template, plan, current)
                .map_err(&refused)?;
        let params = PatchParams::apply(FIELD_MANAGER);
        let applied = api
            .patch(model.as_str(), &params, &Patch::Apply(&object))
            .await
            .map_err(|e| refused(apply_error(&e)))?;
        let generation = applied.metadata.generation.unwrap_or(0);
        self.wait_for_rollout(model, &namespace, plan, generation)
            .await
    }

    /// Reads the InferenceService until the controller has rolled out `generation` and the
    /// traffic block serves `plan`, or the environment's rollout timeout passes.
    async fn wait_for_rollout(
        &self,
        model: &ModelName,
        namespace: &str,
        plan: ServingPlan,
        generation: i64,
    ) -> Result<LocalServer, ServingError> {
        let limit = Duration::from_secs(self.environment.rollout_timeout_s);
        let started = Instant::now();
        loop {
            let now = self.status_of(model.as_str()).await;
            let rolled = now
                .kube
                .as_ref()
                .is_some_and(|k| k.observed_generation >= Some(generation) && k.settled());
            if rolled && now.serving == Some(plan) && now.healthy {
                return Ok(now);
            }
            if rolled
                && now
                    .kube
                    .as_ref()
                    .is_some_and(|k| k.condition("Ready").is_some_and(|c| c.status == "False"))
            {
                return Err(ServingError::Refused {
                    model: model.to_string(),
                    plan: plan.describe(),
                    reason: format!(
                        "KServe rolled it out but it is not ready: {}",
                        now.problem.unwrap_or_default()
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

/// An apply's failure in words; a conflict names the other field manager and what to do.
fn apply_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if status.code == 409 => format!(
            "{} — another field manager owns these fields (a GitOps controller?). Change them there, or take them over with `kubectl apply --server-side --force-conflicts --field-manager={FIELD_MANAGER}`",
            status.message
        ),
        other => client::describe(other),
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
                drift: Err(e),
            };
        };
        let status = self.status_of(model).await;
        let revisions: std::collections::HashMap<String, u32> = status
            .kube
            .iter()
            .flat_map(|k| k.traffic.iter())
            .filter_map(|t| Some((t.revision.clone(), t.version?)))
            .collect();
        let client = match crate::sources::server::client() {
            Ok(c) => c,
            Err(e) => return Evidence::unavailable(e),
        };
        use crate::sources::source::MetricsSource;
        let prometheus = crate::sources::prometheus::PrometheusMetrics::new(
            client,
            &url,
            Duration::from_secs(5),
        )
        .with_runtime(self.environment.prometheus_runtime)
        .with_revisions(std::sync::Arc::new(move |_, revision| {
            revisions.get(revision).copied()
        }));
        let counters = prometheus.scrape(model.to_string(), String::new()).await;
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
        Evidence { counters, drift }
    }
}

impl Serving for KServeServing {
    fn evidence<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Evidence> {
        self.evidence_of(model).boxed()
    }

    fn status<'a>(&'a self, model: &'a str) -> BoxFuture<'a, LocalServer> {
        self.status_of(model).boxed()
    }

    fn apply<'a>(
        &'a self,
        model: &'a ModelName,
        plan: ServingPlan,
    ) -> BoxFuture<'a, Result<LocalServer, ServingError>> {
        self.apply_plan(model, plan).boxed()
    }

    fn start<'a>(
        &'a self,
        model: &'a ModelName,
        plan: ServingPlan,
    ) -> BoxFuture<'a, Result<LocalServer, ServingError>> {
        self.apply_plan(model, plan).boxed()
    }

    fn stop<'a>(&'a self, model: &'a ModelName) -> BoxFuture<'a, Result<(), ServingError>> {
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
