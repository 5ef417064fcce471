//! The MLflow registry source against a real MLflow tracking server (PyPI's `mlflow`, pinned;
//! installed into a cached virtualenv by this harness when not given with FLIGHTDECK_TEST_MLFLOW),
//! on a loopback port with a SQLite store: models, aliases mapped onto production and canary,
//! versions with their runs' metrics, MLflow's errors, and the console's status reading it.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ok;
use flightdeck::clients::http;
use flightdeck::sources::mlflow::{AliasMap, MlflowRegistry};
use flightdeck::sources::source::RegistrySource;
use serde_json::{Value, json};

const MLFLOW: &str = "mlflow==3.17.2";
/// What `mlflow.onnx.log_model` needs beside MLflow.
const ONNX: [&str; 2] = ["onnx==1.23.2", "onnxruntime==1.32.0"];

fn python_has(python: &Path, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Python beside the `mlflow` command, with `onnx` and `onnxruntime` (installed into it when
/// missing), to log models as MLflow users do.
fn mlflow_python() -> PathBuf {
    let mlflow = mlflow_command();
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let python = mlflow
        .parent()
        .map(|dir| dir.join("python"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("python3"));
    if !python_has(&python, "onnx") || !python_has(&python, "onnxruntime") {
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "-q", ONNX[0], ONNX[1]])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install {ONNX:?} failed");
    }
    python
}

/// The `mlflow` command: FLIGHTDECK_TEST_MLFLOW, else one on PATH, else a virtualenv this
/// harness installs once (from PyPI) under the system temp dir.
fn mlflow_command() -> PathBuf {
    // Tests run on threads of one process: one installs, the others wait for it.
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = std::env::var_os("FLIGHTDECK_TEST_MLFLOW") {
        return PathBuf::from(path);
    }
    if Command::new("mlflow")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return PathBuf::from("mlflow");
    }
    let venv = std::env::temp_dir().join("flightdeck-test-mlflow-3.17.2");
    let bin = venv.join("bin/mlflow");
    if !venv.join("bin/python").exists() || !python_has(&venv.join("bin/python"), "onnxruntime") {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 (with venv) is needed to install MLflow for this test");
        assert!(made.success());
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", MLFLOW, ONNX[0], ONNX[1]])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install {MLFLOW} failed");
    }
    bin
}

/// An MLflow server on a loopback port, stopped (with its workers) when dropped.
struct Mlflow {
    child: Child,
    url: String,
}

impl Drop for Mlflow {
    fn drop(&mut self) {
        // The server runs workers in its process group: stop them all.
        let _ = Command::new("kill")
            .args(["--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Mlflow {
    use std::os::unix::process::CommandExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(mlflow_command())
        .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--backend-store-uri")
        .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
        .arg("--artifacts-destination")
        .arg(dir.join("artifacts"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Mlflow {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !client
        .get(format!("{}/health", server.url))
        .send()
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "MLflow did not start");
        std::thread::sleep(Duration::from_millis(250));
    }
    server
}

fn post(url: &str, path: &str, body: Value) -> Value {
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}/api/2.0/mlflow/{path}"))
        .json(&body)
        .send()
        .unwrap();
    let status = response.status();
    let text = response.text().unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// A new run: its id and its artifact URI.
fn create_run(url: &str) -> (String, String) {
    let run = post(
        url,
        "runs/create",
        json!({ "experiment_id": "0", "user_id": "alice" }),
    );
    let info = &run["run"]["info"];
    (
        info["run_id"].as_str().unwrap().to_string(),
        info["artifact_uri"].as_str().unwrap().to_string(),
    )
}

/// A run with an AUC and a commit tag, and a model version from it.
fn version(url: &str, model: &str, auc: f64) {
    let (run_id, artifacts) = create_run(url);
    post(
        url,
        "runs/log-metric",
        json!({ "run_id": run_id, "key": "auc", "value": auc, "timestamp": 1, "step": 0 }),
    );
    post(
        url,
        "runs/set-tag",
        json!({ "run_id": run_id, "key": "mlflow.source.git.commit", "value": "4f1c2e9" }),
    );
    post(
        url,
        "model-versions/create",
        json!({ "name": model, "source": format!("{artifacts}/model"), "run_id": run_id }),
    );
}

#[test]
fn the_mlflow_registry_reads_as_flightdecks() {
    let dir = tempfile::tempdir().unwrap();
    let mlflow = start(dir.path());
    let url = mlflow.url.clone();
    post(
        &url,
        "registered-models/create",
        json!({ "name": "fraud-detector" }),
    );
    for auc in [0.81, 0.84, 0.79] {
        version(&url, "fraud-detector", auc);
    }
    for (alias, version) in [("champion", "1"), ("challenger", "2"), ("shadow", "3")] {
        post(
            &url,
            "registered-models/alias",
            json!({ "name": "fraud-detector", "alias": alias, "version": version }),
        );
    }

    let home = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = flightdeck::sources::embedded::sources(
        home.path(),
        PathBuf::from("flightdeck"),
        Duration::from_secs(5),
    )
    .unwrap();
    let registry = MlflowRegistry::new(
        http::client().unwrap(),
        &url,
        Duration::from_secs(10),
        AliasMap::default(),
        Arc::clone(&local.registry),
    );

    let fleet = runtime.block_on(registry.fleet()).unwrap();
    let fraud = &fleet.models[0];
    assert_eq!(fraud.name.as_str(), "fraud-detector");
    let alias = |name: &str| {
        fraud
            .aliases
            .iter()
            .find(|a| a.alias.as_str() == name)
            .and_then(|a| a.version)
    };
    assert_eq!((alias("production"), alias("canary")), (Some(1), Some(2)));
    assert_eq!(alias("shadow"), Some(3), "other aliases keep their names");

    let versions = runtime
        .block_on(registry.versions("fraud-detector".into()))
        .unwrap();
    let numbers: Vec<u32> = versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [1, 2, 3], "aliased first, production first");
    assert_eq!(versions[0].aliases, ["production"]);
    assert_eq!(versions[0].metrics["auc"], 0.81);
    assert_eq!(versions[1].lineage.code_commit.as_deref(), Some("4f1c2e9"));
    assert_eq!(versions[1].lineage.author, "alice");

    // MLflow's own error words, for a model it does not have.
    let error = runtime
        .block_on(registry.versions("no-such-model".into()))
        .map(|v| v.len());
    assert_eq!(error, Ok(0), "a search for a missing model finds nothing");
    let wrong = MlflowRegistry::new(
        http::client().unwrap(),
        &format!("{url}/nothing-here"),
        Duration::from_secs(5),
        AliasMap::default(),
        local.registry,
    );
    let error = runtime.block_on(wrong.fleet()).unwrap_err();
    assert!(error.starts_with("MLflow: HTTP 404"), "{error}");

    // The console's status reads the fleet from MLflow in an environment that says so, and the
    // environment refuses operations (they would move the local registry).
    let h = home.path();
    std::fs::write(
        h.join("no-config.toml"),
        format!("[environments.ml]\nregistry = \"mlflow\"\nmlflow_url = \"{url}\"\n"),
    )
    .unwrap();
    let status: Value = serde_json::from_str(&ok(h, &["--env", "ml", "status", "--json"])).unwrap();
    let row = &status.as_array().unwrap()[0];
    assert_eq!(
        (&row["model"], &row["production"], &row["canary"]),
        (&json!("fraud-detector"), &json!(1), &json!(2)),
        "{status}"
    );
    // The CLI's listings read MLflow too in that environment.
    let models = ok(h, &["--env", "ml", "models"]);
    assert!(
        models
            .lines()
            .any(|l| l.starts_with("fraud-detector") && l.contains("v1") && l.contains("v2")),
        "{models}"
    );
    let versions: Value = serde_json::from_str(&ok(
        h,
        &["--env", "ml", "versions", "fraud-detector", "--json"],
    ))
    .unwrap();
    assert_eq!(versions[0]["metrics"]["auc"], 0.81, "{versions}");
    // With local serving the environment operates: a version without an ONNX file is refused
    // by its gates before anything moves.
    let refused = common::fails(h, &["--env", "ml", "promote", "fraud-detector", "--yes"], 2);
    assert!(
        refused.contains("the artifact gate failed: v2 has no model.onnx under mlflow-artifacts:/"),
        "{refused}"
    );
    let status: Value = serde_json::from_str(&ok(h, &["--env", "ml", "status", "--json"])).unwrap();
    let row = &status.as_array().unwrap()[0];
    assert_eq!((&row["production"], &row["canary"]), (&json!(1), &json!(2)));
}

/// A version whose run holds `file` as model/model.onnx (uploaded through MLflow's artifact
/// proxy), tagged with the sha256 `claimed` (the file's own unless a test lies).
fn onnx_version(url: &str, model: &str, file: &str, claimed: Option<&str>) {
    let bytes = std::fs::read(common::fixture(file)).unwrap();
    let sha = claimed.map(str::to_string).unwrap_or_else(|| {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(&bytes))
    });
    let (run_id, artifacts) = create_run(url);
    let path = artifacts.strip_prefix("mlflow-artifacts:/").unwrap();
    let put = reqwest::blocking::Client::new()
        .put(format!(
            "{url}/api/2.0/mlflow-artifacts/artifacts/{path}/model/model.onnx"
        ))
        .body(bytes)
        .send()
        .unwrap();
    assert!(put.status().is_success(), "upload: {}", put.status());
    post(
        url,
        "model-versions/create",
        json!({ "name": model, "source": format!("{artifacts}/model"), "run_id": run_id,
                "tags": [{"key": "onnx.sha256", "value": sha}] }),
    );
}

fn mlflow_aliases(url: &str, model: &str) -> (Option<String>, Option<String>, Option<String>) {
    let answer: Value = reqwest::blocking::get(format!(
        "{url}/api/2.0/mlflow/registered-models/get?name={model}"
    ))
    .unwrap()
    .json()
    .unwrap();
    let m = &answer["registered_model"];
    let alias = |name: &str| {
        m["aliases"].as_array().and_then(|a| {
            a.iter()
                .find(|x| x["alias"] == name)
                .map(|x| x["version"].as_str().unwrap().to_string())
        })
    };
    let previous = m["tags"].as_array().and_then(|t| {
        t.iter()
            .find(|x| x["key"] == "flightdeck.previous_champion")
            .map(|x| x["value"].as_str().unwrap().to_string())
    });
    (alias("champion"), alias("challenger"), previous)
}

#[test]
fn operations_move_mlflows_aliases_and_the_cluster_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let mlflow = start(dir.path());
    let url = mlflow.url.clone();
    post(&url, "registered-models/create", json!({ "name": "fraud" }));
    onnx_version(&url, "fraud", "logreg_multiclass.onnx", None);
    onnx_version(&url, "fraud", "mlp_classifier.onnx", None);
    onnx_version(
        &url,
        "fraud",
        "logreg_multiclass.onnx",
        Some(&"0".repeat(64)),
    );
    onnx_version(&url, "fraud", "nan_classifier.onnx", None);

    let api = common::kube_api::KubeApi::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let kubeconfig = api.kubeconfig(h, "ml");
    std::fs::write(
        h.join("no-config.toml"),
        format!(
            "[environments.prod]\nregistry = \"mlflow\"\nmlflow_url = \"{url}\"\nserving = \"kubernetes\"\nmetrics = \"prometheus\"\nprometheus_url = \"http://127.0.0.1:9\"\nkubeconfig = {:?}\nstorage_uri = \"s3://models/{{model}}/{{version}}\"\nrollout_timeout_s = 20\n",
            kubeconfig.display().to_string()
        ),
    )
    .unwrap();
    let env = ["--env", "prod"];
    let run = |args: &[&str]| ok(h, &[&env[..], args].concat());

    let out = common::run(
        h,
        &[&env[..], &["deploy", "fraud", "1", "--direct", "--yes"]].concat(),
    );
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("sha256 matches onnx.sha256") && err.contains("loads"),
        "{err}"
    );
    assert_eq!(
        mlflow_aliases(&url, "fraud"),
        (Some("1".into()), None, None)
    );
    let isvc = api.get("inferenceservices", "ml", "fraud").unwrap();
    assert_eq!(
        isvc["spec"]["predictor"]["model"]["storageUri"],
        "s3://models/fraud/1"
    );

    run(&["deploy", "fraud", "2", "--canary", "20", "--yes"]);
    assert_eq!(
        mlflow_aliases(&url, "fraud"),
        (Some("1".into()), Some("2".into()), None)
    );
    let isvc = api.get("inferenceservices", "ml", "fraud").unwrap();
    assert_eq!(isvc["spec"]["predictor"]["canaryTrafficPercent"], 20);

    // No Prometheus runs here: the metrics gate fails, and is overridden on purpose.
    let out = run(&["promote", "fraud", "--yes", "--override-gates"]);
    assert!(
        out.contains("production v1 -> v2; canary v2 (20%) now takes 100% of traffic")
            && out.contains("MLflow aliases champion / challenger"),
        "{out}"
    );
    assert_eq!(
        mlflow_aliases(&url, "fraud"),
        (Some("2".into()), None, Some("1".into())),
        "the previous champion is kept for rollback"
    );

    run(&["rollback", "fraud", "--yes"]);
    assert_eq!(
        mlflow_aliases(&url, "fraud"),
        (Some("1".into()), None, Some("2".into()))
    );
    let isvc = api.get("inferenceservices", "ml", "fraud").unwrap();
    assert_eq!(
        isvc["spec"]["predictor"]["model"]["storageUri"],
        "s3://models/fraud/1"
    );

    // A file that is not what was registered never takes traffic: its smoke gate (the
    // artifact check) fails.
    let applied = api.applied().len();
    let err = common::fails(
        h,
        &[&env[..], &["deploy", "fraud", "3", "--direct", "--yes"]].concat(),
        2,
    );
    assert!(
        err.contains("the smoke gate failed")
            && err.contains("the file changed after registration"),
        "{err}"
    );
    assert_eq!(api.applied().len(), applied);
    // Nor does one that loads but answers NaN (MLflow versions carry no sentinel cases).
    let err = common::fails(
        h,
        &[&env[..], &["deploy", "fraud", "4", "--direct", "--yes"]].concat(),
        2,
    );
    assert!(
        err.contains("v4's model.onnx loads, but on 4 neutral rows an output is NaN or infinite"),
        "{err}"
    );
    assert_eq!(api.applied().len(), applied);
    assert_eq!(
        mlflow_aliases(&url, "fraud"),
        (Some("1".into()), None, Some("2".into()))
    );

    // The console, same keys. `r` on the fleet finds no version to go back to: v2 was rolled
    // back from, so the panic button does not pick it; on the versions pane, `r` on v2 names it.
    let tmux = common::tmux::Tmux::start_with_config(h, &h.join("no-config.toml"), 120, 30);
    // Typed only once the console draws: keys sent before it reads them would be lost.
    tmux.wait_for("the console", |s| s.contains("registry"));
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "env prod"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the MLflow fleet", |s| {
        s.contains("prod") && s.contains("fraud")
    });
    tmux.keys(&["r"]);
    tmux.wait_for("the refusal", |s| {
        // The dialog wraps its text: read it as one line.
        let words: Vec<&str> = s
            .split(['│', ' ', '\n'])
            .filter(|w| !w.is_empty())
            .collect();
        words.join(" ").contains("v2 was rolled back from")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the dialog closed", |s| !s.contains("ended healthy"));
    tmux.keys(&["Enter"]);
    tmux.keys(&["Tab", "Tab"]);
    tmux.wait_for("the versions pane", |s| {
        s.contains("VER") && s.contains("v4")
    });
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "v2"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("only v2 listed", |s| {
        s.contains("filter: v2") && !s.contains("v4")
    });
    tmux.keys(&["r"]);
    tmux.wait_for("the rollback preview", |s| {
        s.contains("production v1 -> v2") && s.contains("MLflow aliases champion")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("the outcome", |s| s.contains("rollback fraud: done"));
    tmux.keys(&["q"]);
    drop(tmux);
    assert_eq!(
        mlflow_aliases(&url, "fraud"),
        (Some("2".into()), None, Some("1".into()))
    );

    let journal = ok(h, &["journal", "--model", "fraud", "--json"]);
    let rows: Value = serde_json::from_str(&journal).unwrap();
    let done = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "succeeded" && r["environment"] == "prod")
        .count();
    assert_eq!(done, 5, "{journal}");
}

/// Logs the demo's models as MLflow users do: `mlflow.onnx.log_model(...,
/// registered_model_name=...)` in a run that logged its training data (`mlflow.log_input`), its
/// metrics, its commit and the sentinel cases; and a scikit-learn (pickle) version. Prints each
/// version's number and its dataset digest.
const LOG_MODELS: &str = r#"
import json, sys
import mlflow, mlflow.onnx, mlflow.sklearn, onnx
import pandas as pd
from sklearn.linear_model import LogisticRegression

url, demo = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(url)
train = pd.read_csv(f"{demo}/reference.csv")
sentinels = json.load(open(f"{demo}/sentinels.json"))
digests = []
for name, auc in [("v1", 0.7128), ("v2", 0.7628)]:
    with mlflow.start_run(run_name=f"train-{name}"):
        dataset = mlflow.data.from_pandas(train, name="claims-train")
        mlflow.log_input(dataset, context="training")
        mlflow.log_params({"algorithm": name, "n_features": 5})
        mlflow.log_metric("auc", auc)
        mlflow.set_tag("mlflow.source.git.commit", "4f1c2e9" + name)
        mlflow.log_dict(sentinels, "sentinels.json")
        mlflow.onnx.log_model(onnx.load(f"{demo}/{name}.onnx"), name="model",
                              registered_model_name="claims")
        digests.append(dataset.digest)
with mlflow.start_run(run_name="train-sklearn"):
    X = train[["amount", "age", "tenure_months", "prev_claims"]].values
    mlflow.sklearn.log_model(LogisticRegression().fit(X, (X[:, 3] > 1).astype(int)),
                             name="model", registered_model_name="claims")
print(json.dumps({"digests": digests}))
"#;

#[test]
fn mlflow_on_one_machine_deploys_promotes_and_rolls_back_with_local_servers() {
    let dir = tempfile::tempdir().unwrap();
    let mlflow = start(dir.path());
    let url = mlflow.url.clone();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    let logged = Command::new(mlflow_python())
        .args(["-c", LOG_MODELS, &url])
        .arg(&demo)
        .env("MLFLOW_TRACKING_URI", &url)
        .output()
        .unwrap();
    assert!(
        logged.status.success(),
        "{}",
        String::from_utf8_lossy(&logged.stderr)
    );
    let logged: Value = serde_json::from_slice(
        logged
            .stdout
            .split(|b| *b == b'\n')
            .rfind(|line| line.starts_with(b"{"))
            .unwrap(),
    )
    .unwrap();
    let digest = logged["digests"][0].as_str().unwrap().to_string();

    struct Servers(tempfile::TempDir);
    impl Drop for Servers {
        fn drop(&mut self) {
            let _ = common::run(self.0.path(), &["server", "stop", "claims"]);
        }
    }
    let home = Servers(tempfile::tempdir().unwrap());
    let h = home.0.path();
    std::fs::write(
        h.join("no-config.toml"),
        format!(
            "[gates]\nmin_canary_requests = 20\nmax_p99_ratio = 1000\n\n[environments.laptop]\nregistry = \"mlflow\"\nmlflow_url = \"{url}\"\nserving = \"local\"\n"
        ),
    )
    .unwrap();
    let env = ["--env", "laptop"];
    let run = |args: &[&str]| ok(h, &[&env[..], args].concat());

    // A first deploy: fetched from MLflow, copied into the local registry under MLflow's
    // number, smoke-tested there with the run's sentinel cases, served by a local server.
    let out = common::run(
        h,
        &[&env[..], &["deploy", "claims", "1", "--direct", "--yes"]].concat(),
    );
    let err = common::stderr(&out);
    assert!(out.status.success(), "{}{err}", common::stdout(&out));
    assert_eq!(
        mlflow_aliases(&url, "claims"),
        (Some("1".into()), None, None)
    );
    let versions: Value = serde_json::from_str(&ok(h, &["versions", "claims", "--json"])).unwrap();
    let v1 = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 1)
        .unwrap_or_else(|| panic!("v1 copied into the local registry: {versions}"));
    assert_eq!(v1["lineage"]["data_hash"], digest.as_str(), "{v1}");
    assert_eq!(v1["lineage"]["code_commit"], "4f1c2e9v1", "{v1}");
    assert_eq!(v1["metrics"]["auc"], 0.7128, "{v1}");
    assert_eq!(v1["smoke_passed"], true, "{v1}");
    // The run's sentinels.json came with it: the smoke test runs its cases.
    let smoke: Value = serde_json::from_str(&ok(h, &["smoke", "claims", "1", "--json"])).unwrap();
    let sentinels = common::check_named(&smoke, "sentinels");
    assert_eq!(
        sentinels["detail"], "4 of 4 cases within tolerance",
        "{smoke}"
    );

    let port = std::fs::read_to_string(h.join("serve/claims.port")).unwrap();
    let infer = format!("http://127.0.0.1:{}/v2/models/claims/infer", port.trim());
    let client = reqwest::blocking::Client::new();
    let body = json!({ "inputs": [{ "name": "X", "shape": [1, 5], "datatype": "FP32", "data": [60.0, 58.0, 240.0, 0, 1] }] });
    let answer: Value = client
        .post(&infer)
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["model_version"], "1", "{answer}");

    // The MLflow environment's own listing shows what the copy taught flightdeck: the file's
    // sha256, its inputs, its smoke test.
    let listed: Value = serde_json::from_str(&run(&["versions", "claims", "--json"])).unwrap();
    let v1 = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 1)
        .unwrap();
    assert_eq!(v1["sha256"].as_str().unwrap().len(), 64, "{v1}");
    assert_eq!(v1["smoke_passed"], true, "{v1}");
    assert_eq!(v1["signature"]["inputs"][0]["name"], "X", "{v1}");
    // MLflow's aliases are moved by operations or in MLflow, never by writing local ones.
    let err = common::fails(
        h,
        &[&env[..], &["alias", "set", "claims", "staging", "1"]].concat(),
        1,
    );
    assert!(err.contains("keeps its aliases in MLflow"), "{err}");
    // A replay of MLflow's v2 (not copied yet) on requests logged elsewhere (KServe's
    // clients, say): copied first, answered by a throwaway local server, compared with what
    // MLflow's production answered.
    let log = h.join("elsewhere.json");
    std::fs::write(
        &log,
        json!([{
            "at": "2026-12-07T00:00:00Z", "model": "claims", "version": "1", "id": "c-1",
            "status": 200, "latency_ms": 1.0, "request": body, "answer": answer, "error": null
        }])
        .to_string(),
    )
    .unwrap();
    let out = common::run(
        h,
        &[
            &env[..],
            &[
                "replay",
                "claims",
                "2",
                "--log",
                log.to_str().unwrap(),
                "--min-agreement",
                "0",
                "--json",
            ],
        ]
        .concat(),
    );
    let replayed: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", common::stderr(&out)));
    assert_eq!(replayed["requests"], 1, "{replayed}");
    assert_eq!(replayed["errors"], 0, "{replayed}");
    assert_eq!(replayed["rows"], 1, "{replayed}");
    // One row compared is no verdict either way.
    assert_eq!(out.status.code(), Some(2), "{replayed}");
    assert!(
        replayed["failure"]
            .as_str()
            .unwrap()
            .contains("too few to judge"),
        "{replayed}"
    );
    // A smoke test of a version not served yet copies it first, as a deploy would.
    let smoke: Value = serde_json::from_str(&run(&["smoke", "claims", "2", "--json"])).unwrap();
    assert_eq!(smoke["passed"], true, "{smoke}");

    // An evaluation of MLflow's v2 against MLflow's champion (v1), on the demo's labelled rows
    // with the channel as text, its order declared as for register.
    let evaluated: Value = serde_json::from_str(&run(&[
        "evaluate",
        "claims",
        "2",
        "--data",
        demo.join("holdout.csv").to_str().unwrap(),
        "--categories",
        "channel=app,branch,web",
        "--json",
    ]))
    .unwrap();
    assert_eq!(evaluated["baseline"], 1, "{evaluated}");
    // onnxruntime 1.32 on the same CSV (versions.json's 0.8315 was scored in memory, before
    // the CSV rounded amounts to cents).
    assert_eq!(
        evaluated["candidate_metrics"]["accuracy"], 0.831,
        "{evaluated}"
    );
    let auc = evaluated["candidate_metrics"]["auc"].as_f64().unwrap();
    assert!((auc - 0.7624638156957805).abs() < 1e-9, "{evaluated}");
    assert_eq!(
        evaluated["baseline_metrics"]["accuracy"], 0.8055,
        "{evaluated}"
    );

    // Drift for MLflow's version: its baseline attached by registering the same ONNX file with
    // the training table (found by its sha256, its profile replaced on record); the server,
    // restarted from MLflow's aliases, scores its inputs against it.
    let registered = ok(
        h,
        &[
            "register",
            "claims",
            demo.join("v1.onnx").to_str().unwrap(),
            "--reference",
            demo.join("reference.csv").to_str().unwrap(),
            "--categories",
            "channel=app,branch,web",
        ],
    );
    assert!(registered.contains("v1"), "{registered}");
    run(&["server", "stop", "claims"]);
    let started = run(&["server", "start", "claims"]);
    assert!(started.contains("v1"), "MLflow's champion: {started}");
    let port = std::fs::read_to_string(h.join("serve/claims.port")).unwrap();
    let infer = format!("http://127.0.0.1:{}/v2/models/claims/infer", port.trim());
    let rows: Vec<f32> = std::fs::read_to_string(demo.join("holdout.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .take(150)
        .flat_map(|line| {
            let c: Vec<&str> = line.split(',').collect();
            let code = match c[4] {
                "app" => 0.0,
                "branch" => 1.0,
                _ => 2.0,
            };
            let mut row: Vec<f32> = c[..4].iter().map(|v| v.parse().unwrap()).collect();
            row.push(code);
            row
        })
        .collect();
    let batch =
        json!({ "inputs": [{ "name": "X", "shape": [150, 5], "datatype": "FP32", "data": rows }] });
    assert!(
        client
            .post(&infer)
            .json(&batch)
            .send()
            .unwrap()
            .status()
            .is_success()
    );
    let drift: Value = serde_json::from_str(&run(&["drift", "claims", "--json"])).unwrap();
    let v1 = drift
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == 1)
        .unwrap_or_else(|| panic!("{drift}"));
    assert_eq!(v1["window_samples"], 150, "{v1}");
    let amount = v1["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "amount")
        .unwrap_or_else(|| panic!("{v1}"));
    assert_eq!(
        amount["verdict"], "ok",
        "holdout rows are like the reference: {amount}"
    );
    // The text table shows the KS statistic beside its p-value.
    let table = run(&["drift", "claims"]);
    let d = format!(" {:.4} ", amount["ks_statistic"].as_f64().unwrap());
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("amount ") && l.contains(&d)),
        "{d}: {table}"
    );

    // A canary, traffic, a promote through the gates, and a rollback: MLflow's aliases move
    // with what the local server serves.
    run(&["deploy", "claims", "2", "--canary", "50", "--yes"]);
    assert_eq!(
        mlflow_aliases(&url, "claims"),
        (Some("1".into()), Some("2".into()), None)
    );
    for _ in 0..60 {
        let r = client.post(&infer).json(&body).send().unwrap();
        assert!(r.status().is_success());
    }
    let out = run(&["promote", "claims", "--yes"]);
    assert!(out.contains("production v1 -> v2"), "{out}");
    assert_eq!(
        mlflow_aliases(&url, "claims"),
        (Some("2".into()), None, Some("1".into()))
    );
    let answer: Value = client
        .post(&infer)
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["model_version"], "2", "{answer}");
    run(&["rollback", "claims", "--yes"]);
    assert_eq!(
        mlflow_aliases(&url, "claims"),
        (Some("1".into()), None, Some("2".into()))
    );
    let answer: Value = client
        .post(&infer)
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["model_version"], "1", "{answer}");

    // A canary aborted.
    run(&["deploy", "claims", "2", "--canary", "10", "--yes"]);
    run(&["abort", "claims", "--yes"]);
    assert_eq!(
        mlflow_aliases(&url, "claims"),
        (Some("1".into()), None, Some("2".into()))
    );

    // A scikit-learn version is not ONNX: listed so, and refused before anything moves, saying
    // how to export it.
    let listed = run(&["versions", "claims"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("v3") && l.contains("not ONNX")),
        "{listed}"
    );
    let json: Value = serde_json::from_str(&run(&["versions", "claims", "--json"])).unwrap();
    let v3 = json
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 3)
        .unwrap();
    assert_eq!(
        v3["not_servable"], "not ONNX (python_function, sklearn)",
        "{v3}"
    );
    let err = common::fails(
        h,
        &[
            &env[..],
            &["deploy", "claims", "3", "--canary", "10", "--yes"],
        ]
        .concat(),
        1,
    );
    assert_eq!(err.matches("not ONNX").count(), 1, "said once: {err}");
    assert!(
        err.contains("v3 of claims is not ONNX (logged as python_function, sklearn)")
            && err.contains("skl2onnx")
            && err.contains("mlflow.onnx.log_model"),
        "{err}"
    );
    assert_eq!(
        mlflow_aliases(&url, "claims"),
        (Some("1".into()), None, Some("2".into()))
    );

    // A local registry that already has MLflow's v2 file as its own v1: serving it would show a
    // version number that lies, so nothing is copied or moved, and the user is told what to do.
    let other = tempfile::tempdir().unwrap();
    let o = other.path();
    std::fs::copy(h.join("no-config.toml"), o.join("no-config.toml")).unwrap();
    ok(
        o,
        &["register", "claims", demo.join("v2.onnx").to_str().unwrap()],
    );
    let err = common::fails(
        o,
        &[&env[..], &["deploy", "claims", "2", "--direct", "--yes"]].concat(),
        2,
    );
    assert!(
        err.contains("MLflow's v2 has the same file as the local registry's v1"),
        "{err}"
    );
    assert!(err.contains("its own data directory"), "{err}");
    assert_eq!(
        mlflow_aliases(&url, "claims"),
        (Some("1".into()), None, Some("2".into()))
    );
}
