//! A real Kubernetes control plane for a test: `../shared/kube/start.sh` (kube-apiserver v1.36 +
//! etcd with KServe's InferenceService CRD, users admin/viewer/gitops, namespace `models`) and
//! `controller.py`, the stand-in for KServe 0.20's controller. Stopped on drop, and by the rig
//! itself within a second of this process dying.
//!
//! Where the rig is missing, [`KubeRig::start`] returns None after saying on stderr that the
//! test is skipped and why; with `FLIGHTDECK_REQUIRE_KUBE_RIG=1` (CI) a missing rig fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const NAMESPACE: &str = "models";

pub struct KubeRig {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
    controller: Option<Child>,
    http: reqwest::blocking::Client,
}

/// Where the rig's scripts are: `FLIGHTDECK_KUBE_RIG`, else `../shared/kube` beside the checkout.
fn rig_home() -> PathBuf {
    std::env::var_os("FLIGHTDECK_KUBE_RIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kube"))
}

/// `start.sh DIR`: a new rig, or a stopped one started again on its data. The binaries are
/// unpacked once per target dir, then linked from every rig; the rig stops itself within a
/// second of this process dying.
fn run_start(dir: &Path) {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kube-rig-bin");
    std::fs::create_dir_all(&cache).unwrap();
    let out = Command::new(rig_home().join("start.sh"))
        .arg(dir)
        .env("KUBE_RIG_CACHE", &cache)
        .env("KUBE_RIG_OWNER_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "start.sh failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl KubeRig {
    /// A fresh cluster, or None (said on stderr) where this machine has no rig.
    pub fn start(test: &str) -> Option<KubeRig> {
        let home = rig_home();
        let missing = if !home.join("start.sh").exists() {
            Some(format!("no kube rig at {}", home.display()))
        } else if Command::new("python3").arg("--version").output().is_err() {
            Some("python3 is not installed (controller.py needs it)".into())
        } else {
            None
        };
        if let Some(why) = missing {
            assert!(
                std::env::var_os("FLIGHTDECK_REQUIRE_KUBE_RIG").is_none(),
                "FLIGHTDECK_REQUIRE_KUBE_RIG is set but {why}"
            );
            eprintln!(
                "SKIPPED {test}: {why} (set FLIGHTDECK_KUBE_RIG to the directory with start.sh)"
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("kube-rig")
            .tempdir()
            .unwrap();
        run_start(dir.path());
        let env = std::fs::read_to_string(dir.path().join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>();
        let ca = std::fs::read(&env["KUBE_CA_FILE"]).unwrap();
        let http = reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Some(KubeRig {
            dir,
            env,
            controller: None,
            http,
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `admin`, `viewer` or `gitops`'s kubeconfig (namespace `models`).
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        PathBuf::from(&self.env[&format!("KUBECONFIG_{}", user.to_uppercase())])
    }

    pub fn url(&self) -> &str {
        &self.env["KUBE_API_URL"]
    }

    fn token(&self, user: &str) -> &str {
        &self.env[&format!("{}_TOKEN", user.to_uppercase())]
    }

    /// Starts KServe's stand-in with `args` (`--legacy-mode-names`, `--ready-delay S`,
    /// `--fail-uri X`); a running one is stopped first.
    pub fn start_controller(&mut self, args: &[&str]) {
        self.stop_controller();
        let log = std::fs::File::create(self.dir().join("logs/controller.log")).unwrap();
        let child = Command::new("python3")
            .arg(rig_home().join("controller.py"))
            .args(["--kubeconfig", self.kubeconfig("admin").to_str().unwrap()])
            .args(["--namespace", NAMESPACE])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        // stop.sh (and the owner-PID watchdog) stop it too if this process dies.
        std::fs::write(
            self.dir().join("run/controller.pid"),
            child.id().to_string(),
        )
        .unwrap();
        self.controller = Some(child);
    }

    pub fn stop_controller(&mut self) {
        if let Some(mut child) = self.controller.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
        }
    }

    /// The controller's log so far, for failure messages.
    pub fn controller_log(&self) -> String {
        std::fs::read_to_string(self.dir().join("logs/controller.log")).unwrap_or_default()
    }

    /// Stops the API server and etcd (the data stays), as an outage.
    pub fn stop_api(&self) {
        let out = Command::new(rig_home().join("stop.sh"))
            .arg(self.dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts them again on the same data and (while free) the same ports.
    pub fn restart_api(&self) {
        run_start(self.dir());
        let env = std::fs::read_to_string(self.dir().join("env")).unwrap();
        assert!(
            env.contains(&format!("KUBE_API_URL={}", self.url())),
            "the API server came back on another port: {env}"
        );
    }

    fn path(&self, plural: &str, name: &str) -> String {
        let base = match plural {
            "inferenceservices" => "/apis/serving.kserve.io/v1beta1",
            "deployments" => "/apis/apps/v1",
            _ => "/api/v1",
        };
        format!(
            "{}{base}/namespaces/{NAMESPACE}/{plural}/{name}",
            self.url()
        )
    }

    /// An object as admin reads it, or None when it does not exist.
    pub fn get(&self, plural: &str, name: &str) -> Option<Value> {
        let response = self
            .http
            .get(self.path(plural, name))
            .bearer_auth(self.token("admin"))
            .send()
            .unwrap();
        if response.status() == 404 {
            return None;
        }
        assert!(
            response.status().is_success(),
            "{}",
            response.text().unwrap()
        );
        Some(response.json().unwrap())
    }

    /// Objects of a kind, as admin lists them (`selector` a label selector or "").
    pub fn list(&self, plural: &str, selector: &str) -> Vec<Value> {
        let response = self
            .http
            .get(format!(
                "{}?labelSelector={}",
                self.path(plural, ""),
                selector.replace('=', "%3D").replace(',', "%2C")
            ))
            .bearer_auth(self.token("admin"))
            .send()
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().unwrap()
        );
        let list: Value = response.json().unwrap();
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// Server-side apply of `object` as `user` with field manager `manager`; the status code
    /// and the answer.
    pub fn apply_as(&self, user: &str, manager: &str, object: &Value) -> (u16, Value) {
        let plural = match object["kind"].as_str().unwrap() {
            "InferenceService" => "inferenceservices",
            "Pod" => "pods",
            "Deployment" => "deployments",
            _ => "events",
        };
        let name = object["metadata"]["name"].as_str().unwrap();
        let response = self
            .http
            .patch(format!(
                "{}?fieldManager={manager}",
                self.path(plural, name)
            ))
            .header("Content-Type", "application/apply-patch+yaml")
            .bearer_auth(self.token(user))
            .body(object.to_string())
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// Creates `object` as admin (POST), then merges `status` into its status subresource
    /// (the API server ignores a status sent with the create).
    pub fn create(&self, plural: &str, object: &Value, status: Option<&Value>) {
        let name = object["metadata"]["name"].as_str().unwrap();
        let response = self
            .http
            .post(self.path(plural, ""))
            .bearer_auth(self.token("admin"))
            .json(object)
            .send()
            .unwrap();
        assert!(
            response.status().is_success(),
            "create {plural}/{name}: {}",
            response.text().unwrap()
        );
        if let Some(status) = status {
            let response = self
                .http
                .patch(format!("{}/status", self.path(plural, name)))
                .header("Content-Type", "application/merge-patch+json")
                .bearer_auth(self.token("admin"))
                .body(serde_json::json!({ "status": status }).to_string())
                .send()
                .unwrap();
            assert!(
                response.status().is_success(),
                "status of {plural}/{name}: {}",
                response.text().unwrap()
            );
        }
    }

    /// The API server's request counters for `verb` (LIST, WATCH, ...) over `resources`.
    pub fn requests(&self, verb: &str, resources: &[&str]) -> u64 {
        self.metric_sum("apiserver_request_total", verb, resources)
    }

    /// Watches open now on `resources` (the API server's long-running request gauge).
    pub fn open_watches(&self, resources: &[&str]) -> u64 {
        self.metric_sum("apiserver_longrunning_requests", "WATCH", resources)
    }

    /// The sum of the API server's `family` samples for `verb` over `resources`.
    fn metric_sum(&self, family: &str, verb: &str, resources: &[&str]) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.url()))
            .bearer_auth(self.token("admin"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with(&format!("{family}{{")))
            .filter(|l| l.contains(&format!("verb=\"{verb}\"")))
            .filter(|l| {
                resources
                    .iter()
                    .any(|r| l.contains(&format!("resource=\"{r}\"")))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Deletes an object as admin.
    pub fn delete(&self, plural: &str, name: &str) {
        let response = self
            .http
            .delete(self.path(plural, name))
            .bearer_auth(self.token("admin"))
            .send()
            .unwrap();
        assert!(
            response.status().is_success() || response.status() == 404,
            "{}",
            response.text().unwrap()
        );
    }

    /// Polls `what` until it returns Some, or fails after `seconds` with `describe`.
    pub fn wait<T>(&self, seconds: u64, describe: &str, what: impl Fn() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(found) = what() {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {seconds}s waiting for {describe}; controller log:\n{}",
                self.controller_log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for KubeRig {
    fn drop(&mut self) {
        self.stop_controller();
        let _ = Command::new(rig_home().join("stop.sh"))
            .arg(self.dir())
            .output();
    }
}

/// The traffic block of an InferenceService: (revision, percent, latestRevision, tag).
pub fn traffic(isvc: &Value) -> Vec<(String, i64, bool, Option<String>)> {
    isvc["status"]["components"]["predictor"]["traffic"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|t| {
                    (
                        t["revisionName"].as_str().unwrap_or_default().to_string(),
                        t["percent"].as_i64().unwrap_or(0),
                        t["latestRevision"].as_bool().unwrap_or(false),
                        t["tag"].as_str().map(str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
