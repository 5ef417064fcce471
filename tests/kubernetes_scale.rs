//! The console on a large cluster, as a benchmark (ignored by default; numbers go in the notes,
//! not in assertions): 5,000 pods of realistic size, 1,000 InferenceServices, 200 Deployments
//! and 2,000 Events in one namespace of the in-process API server, and a registry of the same
//! 1,000 models. Measures time to the first useful screen (every model's health from the
//! cluster), time to a model's pod names on its cluster pane, resident memory, idle CPU, and
//! the requests the console made (paged lists, then watches only).
//!
//!   cargo test --release --test kubernetes_scale -- --ignored --nocapture
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::kube_api::KubeApi;
use serde_json::{Value, json};

const NS: &str = "ml";
const MODELS: usize = 1000;
const PODS: usize = 5000;

/// A predictor pod about as large as a real KServe one (managed fields, env, probes, mounts).
fn pod(isvc: &str, i: usize) -> Value {
    let env: Vec<Value> = (0..40)
        .map(|e| json!({"name": format!("SETTING_NUMBER_{e:02}"), "value": format!("value-of-setting-{e:02}-for-{isvc}")}))
        .collect();
    let mounts: Vec<Value> = (0..6)
        .map(|m| json!({"name": format!("volume-{m}"), "mountPath": format!("/mnt/models/part-{m}"), "readOnly": true}))
        .collect();
    let managed: Vec<Value> = (0..4)
        .map(|m| json!({"manager": format!("controller-{m}"), "operation": "Update", "apiVersion": "v1", "time": "2026-11-22T06:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:component": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"kserve-container\"}": {".": {}, "f:env": {}, "f:image": {}, "f:ports": {}}}}, "f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:phase": {}}}}))
        .collect();
    let revision = format!("{isvc}-predictor-00001");
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{revision}-deployment-6c9f8d7b5-{i:05}"), "namespace": NS,
            "uid": format!("0b1c2d3e-4f50-6172-8394-{i:012}"),
            "labels": {"serving.kserve.io/inferenceservice": isvc, "serving.knative.dev/revision": revision, "component": "predictor", "app": revision, "pod-template-hash": "6c9f8d7b5"},
            "annotations": {"autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev", "serving.knative.dev/creator": "system:serviceaccount:kserve:kserve-controller-manager", "prometheus.io/scrape": "true", "prometheus.io/port": "8082"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{revision}-deployment-6c9f8d7b5"), "uid": "1a2b3c", "controller": true}],
            "managedFields": managed,
        },
        "spec": {
            "containers": [
                {"name": "kserve-container", "image": "kserve/onnxserver:v0.20.0", "args": ["--model_name", isvc, "--model_dir", "/mnt/models", "--http_port", "8080"], "env": env, "ports": [{"containerPort": 8080, "name": "user-port", "protocol": "TCP"}], "resources": {"limits": {"cpu": "1", "memory": "2Gi"}, "requests": {"cpu": "100m", "memory": "256Mi"}}, "volumeMounts": mounts, "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8080}, "periodSeconds": 10}},
                {"name": "queue-proxy", "image": "gcr.io/knative-releases/knative.dev/serving/cmd/queue:v1.15.0", "ports": [{"containerPort": 9091, "name": "http-autometric"}], "resources": {"requests": {"cpu": "25m"}}},
            ],
            "initContainers": [{"name": "storage-initializer", "image": "kserve/storage-initializer:v0.20.0", "args": [format!("s3://models/{isvc}/1"), "/mnt/models"]}],
            "nodeName": format!("node-{:03}", i % 50), "serviceAccountName": "default", "restartPolicy": "Always",
        },
        "status": {
            "phase": "Running", "podIP": format!("10.1.{}.{}", i / 250, i % 250), "startTime": "2026-11-22T06:00:00Z",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": "kserve-container", "ready": true, "restartCount": 0, "image": "kserve/onnxserver:v0.20.0", "state": {"running": {"startedAt": "2026-11-22T06:00:10Z"}}},
                {"name": "queue-proxy", "ready": true, "restartCount": 0, "image": "queue", "state": {"running": {"startedAt": "2026-11-22T06:00:10Z"}}}],
        },
    })
}

fn isvc(name: &str) -> Value {
    let revision = format!("{name}-predictor-00001");
    json!({
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "namespace": NS, "generation": 1, "annotations": {"flightdeck.io/version": "1"}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"}, "storageUri": format!("s3://models/{name}/1")}}},
        "status": {"url": format!("http://{name}.{NS}.example.com"), "observedGeneration": 1,
            "conditions": [{"type": "IngressReady", "status": "True"}, {"type": "PredictorReady", "status": "True"}, {"type": "Ready", "status": "True"}],
            "components": {"predictor": {"latestCreatedRevision": revision, "latestReadyRevision": revision, "latestRolledoutRevision": revision,
                "traffic": [{"revisionName": revision, "percent": 100, "latestRevision": true}]}}},
    })
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

fn screen(session: &str) -> String {
    let out = Command::new("tmux")
        .args(["capture-pane", "-p", "-t", session])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_screen(session: &str, what: impl Fn(&str) -> bool) -> Duration {
    let start = Instant::now();
    while !what(&screen(session)) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "screen never showed it:\n{}",
            screen(session)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

#[test]
#[ignore = "benchmark: cargo test --release --test kubernetes_scale -- --ignored --nocapture"]
fn console_on_a_large_cluster() {
    let api = KubeApi::start();
    let names: Vec<String> = (0..MODELS).map(|i| format!("model-{i:04}")).collect();
    for name in &names {
        api.put("inferenceservices", isvc(name));
    }
    for i in 0..PODS {
        api.put("pods", pod(&names[i % MODELS], i));
    }
    for i in 0..200 {
        let name = &names[i * 5];
        api.put("deployments", json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": format!("{name}-predictor-00001-deployment"), "namespace": NS, "labels": {"serving.kserve.io/inferenceservice": name}},
            "spec": {"replicas": 5}, "status": {"replicas": 5, "readyReplicas": 5}}));
    }
    for i in 0..2000 {
        let name = &names[i % MODELS];
        api.put("events", json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{name}.{i}"), "namespace": NS},
            "involvedObject": {"kind": "Pod", "name": format!("{name}-predictor-00001-deployment-6c9f8d7b5-{i:05}"), "namespace": NS},
            "reason": "Pulled", "message": "Container image \"kserve/onnxserver:v0.20.0\" already present on machine", "type": "Normal", "count": 1, "lastTimestamp": "2026-11-22T06:00:00Z"}));
    }
    let pod_list = reqwest::blocking::get(format!("{}/api/v1/namespaces/{NS}/pods", api.url))
        .unwrap()
        .bytes()
        .unwrap()
        .len();
    println!(
        "cluster: {MODELS} InferenceServices, {PODS} pods (one unpaged pod list: {:.1} MB), 200 Deployments, 2,000 Events",
        pod_list as f64 / 1e6
    );

    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // A real, empty Prometheus (Debian's), so metrics reads answer as they would in a cluster
    // whose models took no traffic yet, instead of failing connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
    let kubeconfig = api.kubeconfig(h, NS);
    std::fs::write(
        h.join("config.toml"),
        format!(
            "default_environment = \"k8s\"\n[environments.k8s]\nserving = \"kubernetes\"\nmetrics = \"prometheus\"\nprometheus_url = \"http://127.0.0.1:{port}\"\nkubeconfig = {:?}\nstorage_uri = \"s3://models/{{model}}/{{version}}\"\n",
            kubeconfig.display().to_string()
        ),
    )
    .unwrap();

    let session = format!("fd-kube-bench-{}", std::process::id());
    let requests_before = api.requests().len();
    let start = Instant::now();
    let status = Command::new("tmux")
        .args(["new-session", "-d", "-s", &session, "-x", "200", "-y", "60"])
        .arg(format!(
            "FLIGHTDECK_HOME={} FLIGHTDECK_CONFIG={} {}",
            h.display(),
            h.join("config.toml").display(),
            env!("CARGO_BIN_EXE_flightdeck")
        ))
        .status()
        .unwrap();
    assert!(status.success());
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", &self.0])
                .status();
        }
    }
    let _kill = Kill(session.clone());
    // Useful: the first rows show each model's health from the cluster ("● up").
    wait_screen(&session, |s| {
        s.lines()
            .any(|l| l.contains("model-0001") && l.contains("up"))
    });
    let first_screen = start.elapsed();
    let pid: u32 = String::from_utf8_lossy(
        &Command::new("pgrep")
            .args([
                "-n",
                "-f",
                &format!("^{}$", env!("CARGO_BIN_EXE_flightdeck")),
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .parse()
    .unwrap();

    // A model's pod names on its cluster pane.
    let keys = |k: &[&str]| {
        Command::new("tmux")
            .args(["send-keys", "-t", &session])
            .args(k)
            .status()
            .unwrap();
    };
    keys(&["/", "model-0007"]);
    keys(&["Enter"]);
    let opened = Instant::now();
    keys(&["Enter"]);
    keys(&["Tab", "Tab", "Tab"]);
    let to_pods = {
        wait_screen(&session, |s| {
            s.contains("model-0007-predictor-00001-deployment-6c9f8d7b5-")
        });
        opened.elapsed()
    };
    keys(&["Escape"]);
    std::thread::sleep(Duration::from_secs(5));
    let rss_settled = rss_kib(pid);
    let requests_settled = api.requests().len();
    let ticks = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(20));
    let idle_cpu = (cpu_ticks(pid) - ticks) as f64 / 100.0 / 20.0 * 100.0;
    let rss_idle = rss_kib(pid);
    let requests: Vec<String> = api.requests()[requests_before..].to_vec();
    let lists = requests
        .iter()
        .filter(|r| r.starts_with("GET") && !r.contains("watch=true"))
        .count();
    let watches = requests.iter().filter(|r| r.contains("watch=true")).count();
    println!(
        "first useful screen (1,000 rows' health from the cluster): {} ms",
        first_screen.as_millis()
    );
    println!(
        "a model's pod names on its cluster pane, from Enter: {} ms",
        to_pods.as_millis()
    );
    println!(
        "resident memory: {:.1} MB settled, {:.1} MB after 20 s idle",
        rss_settled as f64 / 1024.0,
        rss_idle as f64 / 1024.0
    );
    println!("idle CPU over 20 s: {idle_cpu:.2} % of a core");
    println!(
        "requests: {lists} list pages and {watches} watches in all; {} more while navigating and idling",
        requests.len() - (requests_settled - requests_before)
    );
    let _ = Command::new("tmux")
        .args(["send-keys", "-t", &session, "q"])
        .status();
}
