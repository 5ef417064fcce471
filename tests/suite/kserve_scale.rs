//! The console on a large real cluster, as a benchmark (ignored by default; the numbers go in the
//! notes and the README, never in assertions): a real kube-apiserver (../shared/kube) seeded
//! with 1,000 InferenceServices with KServe 0.20 status, 5,000 predictor pods of ~10 KB
//! (managed fields, env, probes, mounts), 200 Deployments and 2,000 Events in one namespace, and
//! a registry of the same 1,000 models. Three launches of the console in tmux, each measured:
//! time to the first rows with health from the cluster, time from Enter to a model's pod names,
//! resident memory, idle CPU over 20 s, and the list and watch requests the API server counted.
//!
//!   cargo test --release --test suite kserve_scale:: -- --ignored --nocapture

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::kube_rig::{KubeRig, NAMESPACE as NS};
use serde_json::{Value, json};

const MODELS: usize = 1000;
const PODS: usize = 5000;
const SEEDED: &str = "rig.kube/seeded";

/// A predictor pod about as large as a real KServe one (managed fields, env, probes, mounts).
fn pod(isvc: &str, i: usize) -> (Value, Value) {
    let env: Vec<Value> = (0..40)
        .map(|e| json!({"name": format!("SETTING_NUMBER_{e:02}"), "value": format!("value-of-setting-{e:02}-for-{isvc}")}))
        .collect();
    let mounts: Vec<Value> = (0..6)
        .map(|m| json!({"name": format!("volume-{m}"), "mountPath": format!("/mnt/models/part-{m}"), "readOnly": true}))
        .collect();
    let volumes: Vec<Value> = (0..6)
        .map(|m| json!({"name": format!("volume-{m}"), "emptyDir": {}}))
        .collect();
    let managed: Vec<Value> = (0..4)
        .map(|m| json!({"manager": format!("controller-{m}"), "operation": "Update", "apiVersion": "v1", "time": "2026-11-22T06:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:component": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"kserve-container\"}": {".": {}, "f:env": {}, "f:image": {}, "f:ports": {}}}}}}))
        .collect();
    let revision = format!("{isvc}-predictor-00001");
    let object = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{revision}-deployment-6c9f8d7b5-{i:05}"), "namespace": NS,
            "labels": {"serving.kserve.io/inferenceservice": isvc, "serving.knative.dev/revision": revision, "component": "predictor", "app": revision, "pod-template-hash": "6c9f8d7b5", SEEDED: "true"},
            "annotations": {"autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev", "serving.knative.dev/creator": "system:serviceaccount:kserve:kserve-controller-manager", "prometheus.io/scrape": "true", "prometheus.io/port": "8082",
                "internal.serving.kserve.io/storage-initializer-sourceuri": format!("s3://models/{isvc}/1")},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{revision}-deployment-6c9f8d7b5"), "uid": "1a2b3c4d-0000-0000-0000-000000000000", "controller": true}],
            "managedFields": managed,
        },
        "spec": {
            "containers": [
                {"name": "kserve-container", "image": "kserve/onnxserver:v0.20.0", "args": ["--model_name", isvc, "--model_dir", "/mnt/models", "--http_port", "8080"], "env": env, "ports": [{"containerPort": 8080, "name": "user-port", "protocol": "TCP"}], "resources": {"limits": {"cpu": "1", "memory": "2Gi"}, "requests": {"cpu": "100m", "memory": "256Mi"}}, "volumeMounts": mounts, "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8080}, "periodSeconds": 10}},
                {"name": "queue-proxy", "image": "gcr.io/knative-releases/knative.dev/serving/cmd/queue:v1.15.0", "ports": [{"containerPort": 9091, "name": "http-autometric"}], "resources": {"requests": {"cpu": "25m"}}},
            ],
            "initContainers": [{"name": "storage-initializer", "image": "kserve/storage-initializer:v0.20.0", "args": [format!("s3://models/{isvc}/1"), "/mnt/models"]}],
            "volumes": volumes,
            "nodeName": format!("node-{:03}", i % 50), "restartPolicy": "Always",
        },
    });
    let status = json!({
        "phase": "Running", "podIP": format!("10.1.{}.{}", i / 250, i % 250), "startTime": "2026-11-22T06:00:00Z",
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [{"name": "kserve-container", "ready": true, "restartCount": 0, "image": "kserve/onnxserver:v0.20.0", "imageID": "", "state": {"running": {"startedAt": "2026-11-22T06:00:10Z"}}},
            {"name": "queue-proxy", "ready": true, "restartCount": 0, "image": "queue", "imageID": "", "state": {"running": {"startedAt": "2026-11-22T06:00:10Z"}}}],
    });
    (object, status)
}

/// An InferenceService with the status KServe 0.20 writes in Knative mode.
fn isvc(name: &str) -> (Value, Value) {
    let revision = format!("{name}-predictor-00001");
    let object = json!({
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "namespace": NS, "labels": {SEEDED: "true"}, "annotations": {"flightdeck.io/version": "1"}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"}, "storageUri": format!("s3://models/{name}/1")}}},
    });
    let conditions: Vec<Value> = [
        "IngressReady",
        "LatestDeploymentReady",
        "PredictorConfigurationReady",
        "PredictorReady",
        "PredictorRouteReady",
        "Ready",
        "RoutesReady",
    ]
    .iter()
    .map(|kind| json!({"type": kind, "status": "True", "lastTransitionTime": "2026-11-22T06:00:10Z"}))
    .collect();
    let status = json!({
        "url": format!("http://{name}.{NS}.example.com"), "observedGeneration": 1, "deploymentMode": "Knative",
        "address": {"url": format!("http://{name}.{NS}.svc.cluster.local")},
        "conditions": conditions,
        "modelStatus": {"copies": {"failedCopies": 0, "totalCopies": 1}, "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"}, "transitionStatus": "UpToDate"},
        "components": {"predictor": {"latestCreatedRevision": revision, "latestReadyRevision": revision, "latestRolledoutRevision": revision,
            "url": format!("http://{name}-predictor.{NS}.example.com"),
            "traffic": [{"revisionName": revision, "percent": 100, "latestRevision": true}]}},
    });
    (object, status)
}

fn deployment(name: &str) -> (Value, Value) {
    let labels = json!({"serving.kserve.io/inferenceservice": name, "app": format!("{name}-predictor-00001"), SEEDED: "true"});
    let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("{name}-predictor-00001-deployment"), "namespace": NS, "labels": labels},
        "spec": {"replicas": 5, "selector": {"matchLabels": {"app": format!("{name}-predictor-00001")}},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "kserve-container", "image": "kserve/onnxserver:v0.20.0"}]}}}});
    (
        object,
        json!({"replicas": 5, "readyReplicas": 5, "availableReplicas": 5, "updatedReplicas": 5, "observedGeneration": 1}),
    )
}

fn event(name: &str, i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{i}"), "namespace": NS, "labels": {SEEDED: "true"}},
        "involvedObject": {"kind": "Pod", "name": format!("{name}-predictor-00001-deployment-6c9f8d7b5-{i:05}"), "namespace": NS},
        "source": {"component": "kubelet"},
        "reason": "Pulled", "message": "Container image \"kserve/onnxserver:v0.20.0\" already present on machine", "type": "Normal", "count": 1,
        "firstTimestamp": "2026-11-22T06:00:00Z", "lastTimestamp": "2026-11-22T06:00:00Z"})
}

/// Creates every object, four requests at a time.
fn seed(rig: &KubeRig, plural: &str, objects: Vec<(Value, Option<Value>)>) {
    let chunk = objects.len().div_ceil(4);
    std::thread::scope(|scope| {
        for part in objects.chunks(chunk) {
            scope.spawn(move || {
                for (object, status) in part {
                    rig.create(plural, object, status.as_ref());
                }
            });
        }
    });
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0)
}

/// Waits (polling the screen every 5 ms) until it shows `what`; the time it took.
fn wait_screen(tmux: &common::tmux::Tmux, what: impl Fn(&str) -> bool) -> Duration {
    let start = Instant::now();
    while !what(&tmux.screen()) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the screen never showed it:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

struct Run {
    first_rows: Duration,
    pods_from_launch: Duration,
    pods_from_enter: Duration,
    rss_mib: f64,
    idle_cpu: f64,
    lists: u64,
    watches: u64,
    idle_requests: u64,
}

fn spread(label: &str, values: &mut [f64], unit: &str) {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{label}: min {:.2}{unit}, median {:.2}{unit}, max {:.2}{unit}",
        values[0],
        values[values.len() / 2],
        values[values.len() - 1]
    );
}

#[test]
#[ignore = "benchmark: cargo test --release --test suite kserve_scale:: -- --ignored --nocapture"]
fn console_on_a_large_real_cluster() {
    let rig = KubeRig::start("kserve_scale").expect("the benchmark needs ../shared/kube");
    let names: Vec<String> = (0..MODELS).map(|i| format!("model-{i:04}")).collect();
    let seeding = Instant::now();
    seed(
        &rig,
        "inferenceservices",
        names
            .iter()
            .map(|n| {
                let (o, s) = isvc(n);
                (o, Some(s))
            })
            .collect(),
    );
    seed(
        &rig,
        "pods",
        (0..PODS)
            .map(|i| {
                let (o, s) = pod(&names[i % MODELS], i);
                (o, Some(s))
            })
            .collect(),
    );
    seed(
        &rig,
        "deployments",
        (0..200)
            .map(|i| {
                let (o, s) = deployment(&names[i * 5]);
                (o, Some(s))
            })
            .collect(),
    );
    seed(
        &rig,
        "events",
        (0..2000)
            .map(|i| (event(&names[i % MODELS], i), None))
            .collect(),
    );
    let pods = rig.list("pods", SEEDED);
    let bytes: usize = pods.iter().map(|p| p.to_string().len()).sum();
    println!(
        "cluster: {MODELS} InferenceServices, {} pods of {:.1} KB on average as the API server returns them, 200 Deployments, 2,000 Events (seeded in {:.0} s)",
        pods.len(),
        bytes as f64 / pods.len() as f64 / 1e3,
        seeding.elapsed().as_secs_f64()
    );

    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // A real, empty Prometheus (Debian's), so metrics reads answer as they would in a cluster
    // whose models took no traffic yet, instead of failing connections.
    let port = common::prometheus::free_port();
    std::fs::write(
        h.join("prometheus.yml"),
        "global:\n  scrape_interval: 15s\nscrape_configs: []\n",
    )
    .unwrap();
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prometheus = Child(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                h.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", h.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Debian's prometheus package"),
    );
    let generated = Command::new(env!("CARGO_BIN_EXE_flightdeck"))
        .args([
            "bench-console",
            "--models",
            &MODELS.to_string(),
            "--versions",
            "2",
            "--features",
            "4",
            "--frames",
            "1",
            "--rounds",
            "1",
            "--keep",
        ])
        .arg(h)
        .env("FLIGHTDECK_CONFIG", h.join("none.toml"))
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let config = h.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "default_environment = \"k8s\"\n[environments.k8s]\nserving = \"kubernetes\"\nmetrics = \"prometheus\"\nprometheus_url = \"http://127.0.0.1:{port}\"\nkubeconfig = {:?}\nstorage_uri = \"s3://models/{{model}}/{{version}}\"\n",
            rig.kubeconfig("admin").display().to_string()
        ),
    )
    .unwrap();

    let kinds = ["inferenceservices", "pods", "deployments", "events"];
    let mut runs = Vec::new();
    for run in 0..3 {
        let lists_before = rig.requests("LIST", &kinds);
        let watches_before = rig.requests("WATCH", &kinds);
        let start = Instant::now();
        // A tmux server of its own per run: the last run's may still be shutting down.
        let tmux = common::tmux::Tmux::start_command(
            format!("fd-scale-{}-{run}", std::process::id()),
            200,
            60,
            &format!(
                "FLIGHTDECK_HOME={} FLIGHTDECK_CONFIG={} FLIGHTDECK_USER=tester {}",
                h.display(),
                config.display(),
                env!("CARGO_BIN_EXE_flightdeck")
            ),
        );
        let first_rows = wait_screen(&tmux, |s| {
            s.lines()
                .any(|l| l.contains("model-0001") && l.contains("up"))
        });
        let program = env!("CARGO_BIN_EXE_flightdeck");
        let pid: u32 = String::from_utf8_lossy(
            &Command::new("pgrep")
                .args(["-n", "-f", &format!("^{program}$")])
                .output()
                .unwrap()
                .stdout,
        )
        .trim()
        .parse()
        .unwrap();
        // A model's pod names on its cluster pane, from the Enter that opens it.
        let model = format!("model-{:04}", 7 + run * 100);
        tmux.keys(&["/"]);
        tmux.keys(&["-l", &model]);
        tmux.keys(&["Enter"]);
        let entered = Instant::now();
        tmux.keys(&["Enter"]);
        tmux.keys(&["Tab", "Tab", "Tab"]);
        let pod_prefix = format!("{model}-predictor-00001-deployment-6c9f8d7b5-");
        wait_screen(&tmux, |s| s.contains(&pod_prefix));
        let pods_from_enter = entered.elapsed();
        let pods_from_launch = start.elapsed();
        tmux.keys(&["Escape"]);
        std::thread::sleep(Duration::from_secs(5));
        let settled = rig.requests("LIST", &kinds) + rig.requests("WATCH", &kinds);
        let ticks = cpu_ticks(pid);
        std::thread::sleep(Duration::from_secs(20));
        let idle_cpu = (cpu_ticks(pid) - ticks) as f64 / 100.0 / 20.0 * 100.0;
        let rss_mib = rss_kib(pid) as f64 / 1024.0;
        let lists = rig.requests("LIST", &kinds) - lists_before;
        // Watches are counted when they end: the ones open now are the gauge's.
        let watches = rig.open_watches(&kinds);
        let idle_requests = rig.requests("LIST", &kinds) + rig.requests("WATCH", &kinds) - settled;
        let _ = watches_before;
        tmux.keys(&["q"]);
        drop(tmux);
        println!(
            "run {}: first rows with health {:.2} s; {model}'s pod names {:.2} s after launch, {:.2} s after Enter; {rss_mib:.1} MiB resident; idle CPU {idle_cpu:.2} % of a core; {lists} lists and {watches} watches open, {idle_requests} requests while idle",
            run + 1,
            first_rows.as_secs_f64(),
            pods_from_launch.as_secs_f64(),
            pods_from_enter.as_secs_f64(),
        );
        runs.push(Run {
            first_rows,
            pods_from_launch,
            pods_from_enter,
            rss_mib,
            idle_cpu,
            lists,
            watches,
            idle_requests,
        });
    }
    // FLIGHTDECK_BENCH_HOLD=SECONDS keeps the cluster up afterwards, to profile by hand.
    if let Some(hold) = std::env::var("FLIGHTDECK_BENCH_HOLD")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        println!(
            "holding for {hold} s: FLIGHTDECK_HOME={} FLIGHTDECK_CONFIG={} {}",
            h.display(),
            config.display(),
            env!("CARGO_BIN_EXE_flightdeck")
        );
        std::thread::sleep(Duration::from_secs(hold));
    }
    let pick = |f: &dyn Fn(&Run) -> f64| runs.iter().map(f).collect::<Vec<_>>();
    spread(
        "first rows with health",
        &mut pick(&|r| r.first_rows.as_secs_f64()),
        " s",
    );
    spread(
        "pod names after launch",
        &mut pick(&|r| r.pods_from_launch.as_secs_f64()),
        " s",
    );
    spread(
        "pod names after Enter",
        &mut pick(&|r| r.pods_from_enter.as_secs_f64()),
        " s",
    );
    spread("resident memory", &mut pick(&|r| r.rss_mib), " MiB");
    spread("idle CPU", &mut pick(&|r| r.idle_cpu), " %");
    spread("list requests", &mut pick(&|r| r.lists as f64), "");
    spread("watches open", &mut pick(&|r| r.watches as f64), "");
    spread(
        "requests while idle",
        &mut pick(&|r| r.idle_requests as f64),
        "",
    );
}
