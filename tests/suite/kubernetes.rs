//! The cluster source against an in-process API server on loopback, for what a real API server
//! will not do on demand: count every request (lists in pages, then watches, no relist while
//! navigating), drop a watch or compact its resourceVersion (410), forbid one list, die. Every
//! object flightdeck can apply is checked against KServe's CRD schema. Operations against a real
//! kube-apiserver and KServe 0.20's status are in tests/suite/kserve.rs.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::kube_api::{KubeApi, kserve_rollout};

use flightdeck::model::{ServingPlan, ServingStatus};
use flightdeck::settings::{Overrides, Settings};
use flightdeck::sources::kubernetes::KubeCluster;
use flightdeck::sources::source::ClusterSource;
use serde_json::{Value, json};

const NS: &str = "ml";

fn crd_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/kserve-inferenceservice-crd.yaml")
}

/// An InferenceService as its owner applies it, rolled out by the fake controller.
fn seed_isvc(api: &KubeApi, name: &str, version: u32, annotations: Value) {
    let mut isvc = json!({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": NS, "generation": 1, "annotations": annotations},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"}, "storageUri": format!("s3://models/{name}/{version}")}}},
    });
    let (rolled, pods, events) = kserve_rollout(&isvc, 1);
    isvc = rolled;
    for object in pods {
        api.put(common::kube_api::plural(&object), object);
    }
    for event in events {
        api.put("events", event);
    }
    api.put("inferenceservices", isvc);
}

/// Then a canary: version `canary` at `percent`, next to the rolled-out revision.
fn seed_canary(api: &KubeApi, name: &str, canary: u32, percent: i64) {
    let mut isvc = api.get("inferenceservices", NS, name).unwrap();
    isvc["spec"]["predictor"]["model"]["storageUri"] =
        json!(format!("s3://models/{name}/{canary}"));
    isvc["spec"]["predictor"]["canaryTrafficPercent"] = json!(percent);
    let generation = isvc["metadata"]["generation"].as_i64().unwrap() + 1;
    isvc["metadata"]["generation"] = json!(generation);
    let (rolled, pods, _) = kserve_rollout(&isvc, 2);
    for object in pods {
        api.put(common::kube_api::plural(&object), object);
    }
    api.put("inferenceservices", rolled);
}

fn pod(isvc: &str, i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{isvc}-predictor-00001-deployment-{i:05}"), "namespace": NS,
            "labels": {"serving.kserve.io/inferenceservice": isvc, "serving.knative.dev/revision": format!("{isvc}-predictor-00001")}},
        "spec": {"containers": [{"name": "kserve-container", "image": "kserve/onnxserver:v0.20.0", "args": ["--model_name", isvc]}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if i.is_multiple_of(7) { "False" } else { "True" }}],
            "containerStatuses": [{"name": "kserve-container", "ready": true, "restartCount": i % 3}]},
    })
}

fn environment(kubeconfig: &Path, extra: &str) -> flightdeck::settings::Environment {
    environment_in(kubeconfig, &[NS], extra)
}

/// A Kubernetes environment watching `namespaces`, with `extra` settings appended.
fn environment_in(
    kubeconfig: &Path,
    namespaces: &[&str],
    extra: &str,
) -> flightdeck::settings::Environment {
    let text = format!(
        "[environments.k8s]\nserving = \"kubernetes\"\nmetrics = \"prometheus\"\nprometheus_url = \"http://127.0.0.1:9\"\nkubeconfig = {:?}\nnamespaces = {namespaces:?}\nstorage_uri = \"s3://models/{{model}}/{{version}}\"\n{extra}",
        kubeconfig.display().to_string()
    );
    let settings = Settings::resolve(
        Some(&text),
        None,
        Some(PathBuf::from("/nonexistent")),
        &Overrides {
            environment: Some("k8s".into()),
            ..Overrides::default()
        },
    )
    .unwrap();
    settings.environment
}

fn wait_for(
    runtime: &tokio::runtime::Runtime,
    cluster: &KubeCluster,
    what: &str,
    done: impl Fn(&[ServingStatus]) -> bool,
) -> Vec<ServingStatus> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let servers = runtime.block_on(cluster.servers());
        if done(&servers) {
            return servers;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last: {servers:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn find<'a>(servers: &'a [ServingStatus], model: &str) -> &'a ServingStatus {
    servers.iter().find(|s| s.model == model).unwrap()
}

#[test]
fn the_cluster_source_lists_in_pages_then_follows_watches_without_relisting() {
    let api = KubeApi::start();
    let dir = tempfile::tempdir().unwrap();
    seed_isvc(&api, "fraud", 1, json!({"flightdeck.io/version": "1"}));
    seed_canary(&api, "fraud", 2, 10);
    // Annotated by flightdeck after the canary deploy, as the engine does.
    let mut fraud = api.get("inferenceservices", NS, "fraud").unwrap();
    fraud["metadata"]["annotations"] =
        json!({"flightdeck.io/version": "2", "flightdeck.io/previous-version": "1"});
    api.put("inferenceservices", fraud);
    // No annotations: the version is read from the storage URI through the template.
    seed_isvc(&api, "churn", 7, json!({}));
    seed_isvc(
        &api,
        "rawmodel",
        3,
        json!({"serving.kserve.io/deploymentMode": "RawDeployment"}),
    );
    for i in 0..1200 {
        api.put("pods", pod("churn", i));
    }
    // Another namespace's objects are not this environment's.
    let mut elsewhere = api.get("inferenceservices", NS, "churn").unwrap();
    elsewhere["metadata"]["namespace"] = json!("other");
    elsewhere["metadata"]["name"] = json!("intruder");
    api.put("inferenceservices", elsewhere);

    let env = environment(&api.kubeconfig(dir.path(), "default"), "");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::new(&env);
    let servers = wait_for(
        &runtime,
        &cluster,
        "three services and 1201 churn pods",
        |s| {
            s.len() == 3
                && s.iter()
                    .any(|x| x.model == "churn" && x.kube.as_ref().unwrap().pods.len() == 1201)
        },
    );
    assert_eq!(cluster.problem(), None);

    let fraud = find(&servers, "fraud");
    assert_eq!(
        fraud.serving,
        Some(ServingPlan {
            stable: 1,
            canary: Some(2),
            canary_percent: 10
        }),
        "serving comes from status.traffic"
    );
    assert!(fraud.healthy);
    let kube = fraud.kube.as_ref().unwrap();
    assert_eq!(kube.traffic.len(), 2);
    assert_eq!(kube.url.as_deref(), Some("http://fraud.ml.example.com"));
    assert!(
        kube.events
            .iter()
            .any(|e| e.reason == "InferenceServiceReady"),
        "{:?}",
        kube.events
    );
    let churn = find(&servers, "churn");
    assert_eq!(churn.serving, Some(ServingPlan::stable_only(7)));
    let churn_pods = &churn.kube.as_ref().unwrap().pods;
    assert_eq!(churn_pods.iter().filter(|p| !p.ready).count(), 1200 / 7 + 1);
    let raw = find(&servers, "rawmodel");
    assert_eq!(
        raw.kube.as_ref().unwrap().mode,
        flightdeck::model::DeploymentMode::RawDeployment
    );
    assert_eq!(
        raw.serving,
        Some(ServingPlan::stable_only(3)),
        "RawDeployment has no traffic block: the ready spec serves"
    );

    // Paged: 1201 pods in pages of 500.
    let requests = api.requests();
    let pod_lists: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("GET /api/v1/namespaces/ml/pods?") && !r.contains("watch=true"))
        .collect();
    assert_eq!(pod_lists.len(), 3, "{pod_lists:#?}");
    assert!(
        pod_lists.iter().all(|r| r.contains("limit=500")),
        "{pod_lists:#?}"
    );
    assert!(pod_lists[1].contains("continue="), "{pod_lists:#?}");

    // Changes arrive through the watch: a canary raised to 50 %, a service deleted.
    let lists_before = api
        .requests()
        .iter()
        .filter(|r| !r.contains("watch=true") && r.starts_with("GET"))
        .count();
    let mut fraud = api.get("inferenceservices", NS, "fraud").unwrap();
    fraud["spec"]["predictor"]["canaryTrafficPercent"] = json!(50);
    fraud["metadata"]["generation"] = json!(fraud["metadata"]["generation"].as_i64().unwrap() + 1);
    let (rolled, _, _) = kserve_rollout(&fraud, 2);
    api.put("inferenceservices", rolled);
    api.delete("inferenceservices", NS, "rawmodel");
    let servers = wait_for(
        &runtime,
        &cluster,
        "the canary at 50% and rawmodel gone",
        |s| {
            s.len() == 2
                && find(s, "fraud")
                    .serving
                    .is_some_and(|p| p.canary_percent == 50)
        },
    );
    assert_eq!(find(&servers, "fraud").plan.canary_percent, 50);
    let lists_after = api
        .requests()
        .iter()
        .filter(|r| !r.contains("watch=true") && r.starts_with("GET"))
        .count();
    assert_eq!(
        lists_before, lists_after,
        "no relist while following changes"
    );
}

/// GET requests that list (not watch).
fn lists(api: &KubeApi) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.starts_with("GET") && !r.contains("watch=true"))
        .count()
}

#[test]
fn a_dropped_watch_resumes_from_its_resource_version_and_a_compacted_one_relists() {
    let api = KubeApi::start();
    let dir = tempfile::tempdir().unwrap();
    seed_isvc(&api, "fraud", 1, json!({}));
    seed_isvc(&api, "churn", 2, json!({}));
    let env = environment(&api.kubeconfig(dir.path(), "default"), "");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::new(&env);
    wait_for(&runtime, &cluster, "two services", |s| s.len() == 2);
    let listed = lists(&api);

    // The connection drops (an API server restart): the watch resumes where it was.
    api.drop_watches();
    api.delete("inferenceservices", NS, "churn");
    wait_for(&runtime, &cluster, "churn gone", |s| s.len() == 1);
    assert_eq!(lists(&api), listed, "a resumed watch needs no relist");

    // While the watch is down, etcd compacts past its resourceVersion: 410 Gone, then one
    // relist that replaces the rows without losing the ones that stayed.
    api.deny("watch", "inferenceservices");
    api.drop_watches();
    for name in ["a", "b", "c"] {
        seed_isvc(&api, name, 1, json!({}));
    }
    api.keep_history(1);
    std::thread::sleep(Duration::from_millis(300));
    api.allow("watch", "inferenceservices");
    let servers = wait_for(&runtime, &cluster, "fraud, a, b and c", |s| s.len() == 4);
    assert!(servers.iter().any(|s| s.model == "fraud"));
    assert!(lists(&api) > listed, "a compacted watch relists");
    assert_eq!(
        cluster.problem(),
        None,
        "recovered: {:?}",
        cluster.problem()
    );
}

#[test]
fn forbidden_lists_and_a_dead_api_server_are_reported_and_keep_what_is_known() {
    let api = KubeApi::start();
    let dir = tempfile::tempdir().unwrap();
    seed_isvc(&api, "fraud", 1, json!({}));
    api.deny("list", "pods");
    api.deny("patch", "inferenceservices");
    let env = environment(&api.kubeconfig(dir.path(), "default"), "");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::new(&env);
    let servers = wait_for(&runtime, &cluster, "fraud", |s| s.len() == 1);
    assert!(servers[0].kube.as_ref().unwrap().pods.is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    let problem = loop {
        if let Some(p) = cluster.problem() {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "no problem reported for a forbidden pod list"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        problem.contains("Pods") && problem.contains("forbidden") && problem.contains("RBAC"),
        "{problem}"
    );

    // Nothing listens on the port any more.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let config = dir.path().join("dead-kubeconfig");
    std::fs::write(
        &config,
        std::fs::read_to_string(dir.path().join("kubeconfig"))
            .unwrap()
            .replace(&api.url, &format!("http://{dead}")),
    )
    .unwrap();
    let cluster = KubeCluster::new(&environment(&config, ""));
    let servers = runtime.block_on(cluster.servers());
    assert!(servers.is_empty());
    let problem = cluster.problem().expect("a problem for a dead API server");
    assert!(
        problem.contains("cannot reach the Kubernetes API"),
        "{problem}"
    );
    assert!(problem.to_lowercase().contains("refused"), "{problem}");
}

#[test]
fn every_plan_the_engine_can_apply_is_a_valid_inference_service() {
    use flightdeck::k8s::manifest::{Current, inference_service};
    let schema = common::crd::schema(&crd_path(), "v1beta1");
    // The validator itself catches what the API server would prune or reject.
    let mut bad = inference_service(
        "fraud",
        NS,
        "s3://m/{version}",
        ServingPlan::stable_only(1),
        Current::default(),
    )
    .unwrap();
    bad["spec"]["predictor"]["canaryTrafficPercentage"] = json!(10);
    bad["spec"]["predictor"]["model"]["storageUri"] = json!(3);
    let problems = common::crd::violations(&schema, &bad);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    let serverless = |latest, previous, canary| Current {
        latest,
        previous,
        canary_percent: canary,
        mode: Some(flightdeck::model::DeploymentMode::Serverless),
        serving: None,
    };
    let cases = [
        (ServingPlan::stable_only(1), Current::default()),
        (
            ServingPlan {
                stable: 1,
                canary: Some(2),
                canary_percent: 1,
            },
            serverless(Some(1), None, None),
        ),
        (
            ServingPlan {
                stable: 1,
                canary: Some(2),
                canary_percent: 99,
            },
            serverless(Some(2), Some(1), Some(10)),
        ),
        (
            ServingPlan::stable_only(2),
            serverless(Some(2), Some(1), Some(50)),
        ),
        (
            ServingPlan::stable_only(1),
            serverless(Some(2), Some(1), None),
        ),
        // An abort (0 %), and a deploy after one (staged at 0 % first).
        (
            ServingPlan::stable_only(1),
            serverless(Some(2), Some(1), Some(50)),
        ),
        (
            ServingPlan::stable_only(3),
            serverless(Some(2), Some(1), Some(0)),
        ),
    ];
    for (plan, current) in cases {
        let applies = flightdeck::k8s::manifest::applies(
            "fraud-detector",
            NS,
            "gs://bucket/{model}/v{version}",
            plan,
            current,
        )
        .unwrap();
        for object in applies.staged.iter().chain([&applies.last]) {
            let problems = common::crd::violations(&schema, object);
            assert!(problems.is_empty(), "{plan:?}: {object}: {problems:#?}");
        }
    }
}

#[test]
fn several_namespaces_are_watched_apart() {
    let api = KubeApi::start();
    let dir = tempfile::tempdir().unwrap();
    seed_isvc(&api, "fraud", 1, json!({}));
    let mut other = api.get("inferenceservices", NS, "fraud").unwrap();
    other["metadata"]["namespace"] = json!("ml-2");
    other["metadata"]["name"] = json!("churn");
    api.put("inferenceservices", other);
    let kubeconfig = api.kubeconfig(dir.path(), "default");
    let environment = environment_in(&kubeconfig, &[NS, "ml-2"], "rollout_timeout_s = 20\n");
    api.deny("list", "events");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::new(&environment);
    wait_for(&runtime, &cluster, "both namespaces", |s| s.len() == 2);

    // ml's watch is down while ml changes and etcd compacts past it; ml-2's resumes at once.
    // ml then relists (after its failure, or the 410) and its rows are replaced: ml-2's stay.
    let lists_before = lists(&api);
    api.deny_in("watch", "inferenceservices", NS);
    api.drop_watches();
    std::thread::sleep(Duration::from_millis(300));
    api.delete("inferenceservices", NS, "fraud");
    seed_isvc(&api, "risk", 1, json!({}));
    api.keep_history(1);
    std::thread::sleep(Duration::from_millis(300));
    api.allow_in("watch", "inferenceservices", NS);
    wait_for(&runtime, &cluster, "risk in, fraud out", |s| {
        s.iter().any(|x| x.model == "risk") && !s.iter().any(|x| x.model == "fraud")
    });
    assert!(lists(&api) > lists_before, "ml relisted");
    std::thread::sleep(Duration::from_millis(300));
    let servers = runtime.block_on(cluster.servers());
    assert!(
        servers.iter().any(|s| s.model == "churn"),
        "ml-2's rows survive ml's relist: {servers:?}"
    );
    let problem = cluster.problem().unwrap();
    assert!(
        problem.contains("Events in ml:") && problem.contains("Events in ml-2:"),
        "{problem}"
    );
    // Operations act where the model's InferenceService is, not in the first namespace.
    use flightdeck::serving::Serving;
    let serving = flightdeck::serving::kserve::KServeServing::new(&environment);
    let churn = flightdeck::model::ModelName::new("churn").unwrap();
    let served = runtime
        .block_on(serving.apply(&churn, ServingPlan::stable_only(5)))
        .unwrap();
    assert_eq!(served.serving, Some(ServingPlan::stable_only(5)));
    let isvc = api.get("inferenceservices", "ml-2", "churn").unwrap();
    assert_eq!(
        isvc["spec"]["predictor"]["model"]["storageUri"],
        "s3://models/churn/5"
    );
    assert!(api.get("inferenceservices", NS, "churn").is_none());
}
