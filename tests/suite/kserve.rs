//! KServe as it really behaves: every test runs a real kube-apiserver (v1.36, etcd, the real
//! KServe 0.20 InferenceService CRD, RBAC users) and `controller.py`, which writes status the
//! way KServe 0.20's controller does (or 0.15's, `--legacy-mode-names`). Deploy, canary,
//! promote, rollback, abort, a conflict with another field manager, a viewer's refusal,
//! Standard (RawDeployment) mode, a revision that never starts, and an API server restart.
//!
//! Where the rig is missing (see tests/common/kube_rig.rs) each test says it was skipped.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::kube_rig::{KubeRig, NAMESPACE, traffic};
use common::{fails, fixture, ok};
use serde_json::{Value, json};

/// A data dir with fraud v1..v3 registered and an environment `k8s` on the rig as `user`.
fn home_on(rig: &KubeRig, user: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    write_config(rig, h, user);
    for file in [
        "logreg_multiclass.onnx",
        "mlp_classifier.onnx",
        "scaler_logreg.onnx",
    ] {
        ok(h, &["register", "fraud", fixture(file).to_str().unwrap()]);
    }
    home
}

fn write_config(rig: &KubeRig, h: &Path, user: &str) {
    std::fs::write(
        h.join("no-config.toml"),
        format!(
            "[gates]\nmin_canary_requests = 1\n\n[environments.k8s]\nserving = \"kubernetes\"\nmetrics = \"prometheus\"\nprometheus_url = \"http://127.0.0.1:9\"\nkubeconfig = {:?}\nnamespaces = [\"{NAMESPACE}\"]\nstorage_uri = \"s3://models/{{model}}/{{version}}\"\nrollout_timeout_s = 60\n",
            rig.kubeconfig(user).display().to_string()
        ),
    )
    .unwrap();
}

const K8S: [&str; 2] = ["--env", "k8s"];

/// A cluster whose controller runs with `args`, and an admin's data dir on it; None (said) where
/// this machine has no rig.
fn cluster(test: &str, args: &[&str]) -> Option<(KubeRig, tempfile::TempDir)> {
    let mut rig = KubeRig::start(test)?;
    rig.start_controller(args);
    let home = home_on(&rig, "admin");
    Some((rig, home))
}

/// What the controller stand-in writes: KServe 0.20's status, or 0.15's mode names.
struct Release {
    args: &'static [&'static str],
    knative: &'static str,
    standard: &'static str,
}

const KSERVE_0_20: Release = Release {
    args: &[],
    knative: "Knative",
    standard: "Standard",
};

const KSERVE_0_15: Release = Release {
    args: &["--legacy-mode-names"],
    knative: "Serverless",
    standard: "RawDeployment",
};

/// A scenario as two tests, one per KServe release's status.
macro_rules! on_both_releases {
    ($scenario:ident) => {
        mod $scenario {
            #[test]
            fn kserve_0_20() {
                super::$scenario(&super::KSERVE_0_20);
            }

            #[test]
            fn kserve_0_15_mode_names() {
                super::$scenario(&super::KSERVE_0_15);
            }
        }
    };
}

fn k8s<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [&K8S[..], args].concat()
}

fn aliases(h: &Path) -> (Option<u64>, Option<u64>) {
    common::production_and_canary(h, "fraud")
}

fn isvc(rig: &KubeRig) -> Value {
    rig.get("inferenceservices", "fraud").unwrap()
}

/// The storage URI each serving revision's pods load, by revision: what really serves.
fn live(rig: &KubeRig) -> Vec<(i64, String)> {
    let pods = rig.list("pods", "serving.kserve.io/inferenceservice=fraud");
    traffic(&isvc(rig))
        .into_iter()
        .filter(|(_, percent, _, _)| *percent > 0)
        .map(|(revision, percent, _, _)| {
            let uri = pods
                .iter()
                .find(|p| p["metadata"]["labels"]["serving.knative.dev/revision"] == revision)
                .map(|p| {
                    p["spec"]["initContainers"][0]["args"][0]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .unwrap_or_else(|| format!("no pod of {revision}"));
            (percent, uri)
        })
        .collect()
}

fn uri(version: u32) -> String {
    format!("s3://models/fraud/{version}")
}

/// The newest journal row of an operation (alias rows aside).
fn journal_last(h: &Path) -> Value {
    let rows: Value =
        serde_json::from_str(&ok(h, &["journal", "--model", "fraud", "--json"])).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| !r["operation"].as_str().unwrap().starts_with("alias"))
        .cloned()
        .unwrap()
}

/// Deploy, canary, promote (after another manager changed an annotation), rollback, a second
/// canary aborted, and a direct deploy after the abort, with `controller_args`.
fn the_lifecycle(release: &Release) {
    let Some((rig, home)) = cluster("lifecycle", release.args) else {
        return;
    };
    let h = home.path();

    let out = ok(h, &k8s(&["deploy", "fraud", "1", "--direct", "--yes"]));
    assert!(out.contains("production none -> v1"), "{out}");
    assert_eq!(live(&rig), vec![(100, uri(1))]);
    assert_eq!(isvc(&rig)["status"]["deploymentMode"], release.knative);
    assert_eq!(aliases(h), (Some(1), None));

    ok(
        h,
        &k8s(&["deploy", "fraud", "2", "--canary", "10", "--yes"]),
    );
    assert_eq!(live(&rig), vec![(10, uri(2)), (90, uri(1))]);
    assert_eq!(aliases(h), (Some(1), Some(2)));
    let status: Value = serde_json::from_str(&ok(h, &k8s(&["status", "fraud", "--json"]))).unwrap();
    assert_eq!(status[0]["serving"]["stable"], 1, "{status}");
    assert_eq!(status[0]["serving"]["canary"], 2, "{status}");

    // Another manager adds an annotation: KServe copies it into the revision template (a new
    // revision of the same files) and the observedGeneration it copies stops matching the
    // InferenceService's generation. Operations still verify.
    let (code, answer) = rig.apply_as(
        "gitops",
        "team-labels",
        &json!({
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "fraud", "namespace": NAMESPACE, "annotations": {"example.com/team": "risk"}},
        }),
    );
    assert_eq!(code, 200, "{answer}");
    rig.wait(30, "the annotation's revision", || {
        let now = isvc(&rig);
        let p = &now["status"]["components"]["predictor"];
        (p["latestReadyRevision"] == "fraud-predictor-00003").then_some(())
    });
    let now = isvc(&rig);
    assert_ne!(
        now["status"]["observedGeneration"], now["metadata"]["generation"],
        "the rig copies the Knative Service's generation: {now}"
    );

    let out = ok(h, &k8s(&["promote", "fraud", "--yes", "--override-gates"]));
    assert!(out.contains("production v1 -> v2"), "{out}");
    assert_eq!(live(&rig), vec![(100, uri(2))]);
    assert!(
        isvc(&rig)["spec"]["predictor"]
            .get("canaryTrafficPercent")
            .is_none()
    );
    assert_eq!(aliases(h), (Some(2), None));

    // Rollback after a promote: v1's files again, a new revision that takes over once ready.
    let out = ok(h, &k8s(&["rollback", "fraud", "--yes"]));
    assert!(out.contains("production v2 -> v1"), "{out}");
    assert_eq!(live(&rig), vec![(100, uri(1))]);
    assert_eq!(aliases(h), (Some(1), None));

    // A canary aborted: KServe's own abort (0 %), everything back on v1 at once, no new revision.
    ok(
        h,
        &k8s(&["deploy", "fraud", "3", "--canary", "20", "--yes"]),
    );
    assert_eq!(live(&rig), vec![(20, uri(3)), (80, uri(1))]);
    let created = isvc(&rig)["status"]["components"]["predictor"]["latestCreatedRevision"].clone();
    let started = Instant::now();
    let out = ok(h, &k8s(&["abort", "fraud", "--yes"]));
    let abort_took = started.elapsed();
    assert!(out.contains("canary v3 (20%) removed"), "{out}");
    assert_eq!(live(&rig), vec![(100, uri(1))]);
    let now = isvc(&rig);
    assert_eq!(now["spec"]["predictor"]["canaryTrafficPercent"], 0);
    assert_eq!(
        now["status"]["components"]["predictor"]["latestCreatedRevision"], created,
        "an abort creates no revision"
    );
    assert_eq!(aliases(h), (Some(1), None));
    let status: Value = serde_json::from_str(&ok(h, &k8s(&["status", "fraud", "--json"]))).unwrap();
    assert_eq!(status[0]["serving"]["stable"], 1, "{status}");
    assert!(status[0]["serving"]["canary"].is_null(), "{status}");
    eprintln!("abort took {abort_took:?}");

    // A direct deploy after the abort: the aborted v3 must never take traffic while v2's
    // revision starts (Knative routes "latest" to the newest *ready* revision).
    let ((), seen) = watch_live(&rig, || {
        ok(h, &k8s(&["deploy", "fraud", "2", "--direct", "--yes"]));
    });
    assert!(
        seen.iter().flatten().all(|(_, u)| *u != uri(3)),
        "the aborted v3 took traffic: {seen:?}"
    );
    assert_eq!(live(&rig), vec![(100, uri(2))]);
    assert_eq!(aliases(h), (Some(2), None));
    let last = journal_last(h);
    assert_eq!(last["outcome"], "succeeded", "{last}");
}

on_both_releases!(the_lifecycle);

on_both_releases!(another_field_manager_is_named_with_exit_3_before_anything_waits);

fn another_field_manager_is_named_with_exit_3_before_anything_waits(release: &Release) {
    let Some((rig, home)) = cluster("conflict", release.args) else {
        return;
    };
    let h = home.path();
    ok(h, &k8s(&["deploy", "fraud", "1", "--direct", "--yes"]));
    ok(
        h,
        &k8s(&["deploy", "fraud", "2", "--canary", "10", "--yes"]),
    );

    // A GitOps controller applies the same canary share: it now co-owns the field, so
    // flightdeck's promote (which drops it) cannot remove it.
    let (code, answer) = rig.apply_as(
        "gitops",
        "argocd-controller",
        &json!({
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "fraud", "namespace": NAMESPACE},
            "spec": {"predictor": {"canaryTrafficPercent": 10, "model": {"modelFormat": {"name": "onnx"}}}},
        }),
    );
    assert_eq!(code, 200, "{answer}");
    let err = fails(
        h,
        &k8s(&["promote", "fraud", "--yes", "--override-gates"]),
        3,
    );
    // Named before any waiting: not a rollout that timed out.
    assert!(
        err.contains("argocd-controller")
            && err.contains("canaryTrafficPercent")
            && !err.contains("did not become ready"),
        "{err}"
    );
    assert_eq!(journal_last(h)["outcome"], "conflict");
    assert_eq!(aliases(h), (Some(1), Some(2)), "nothing moved");
    // Nor did flightdeck's claim on the field: were the other manager to drop it, the canary
    // would not take everything behind the registry's back.
    let owners: Vec<String> = isvc(&rig)["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !m["fieldsV1"]["f:spec"]["f:predictor"]["f:canaryTrafficPercent"].is_null())
        .map(|m| m["manager"].as_str().unwrap().to_string())
        .collect();
    assert!(
        owners.contains(&"flightdeck".to_string())
            && owners.contains(&"argocd-controller".to_string()),
        "{owners:?}"
    );
    assert_eq!(live(&rig), vec![(10, uri(2)), (90, uri(1))]);

    // The same manager owns the storage URI with another value: the API server's 409.
    let (code, answer) = rig.apply_as(
        "gitops",
        "argocd-controller",
        &json!({
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "fraud", "namespace": NAMESPACE},
            "spec": {"predictor": {"canaryTrafficPercent": 10, "model": {"modelFormat": {"name": "onnx"}, "storageUri": uri(2)}}},
        }),
    );
    assert_eq!(code, 200, "{answer}");
    let err = fails(h, &k8s(&["abort", "fraud", "--yes"]), 3);
    assert!(err.contains("argocd-controller"), "{err}");
    let err = fails(h, &k8s(&["deploy", "fraud", "3", "--direct", "--yes"]), 3);
    assert!(
        err.contains("argocd-controller") && err.contains("--force-conflicts"),
        "{err}"
    );
    assert_eq!(journal_last(h)["outcome"], "conflict");
    assert_eq!(aliases(h), (Some(1), Some(2)));
}

on_both_releases!(a_viewer_is_refused_before_the_preview_offers_anything);

fn a_viewer_is_refused_before_the_preview_offers_anything(release: &Release) {
    let Some((rig, admin)) = cluster("viewer", release.args) else {
        return;
    };
    ok(
        admin.path(),
        &k8s(&["deploy", "fraud", "1", "--direct", "--yes"]),
    );
    let viewer = home_on(&rig, "viewer");
    let h = viewer.path();
    // Reading works.
    let status: Value = serde_json::from_str(&ok(h, &k8s(&["status", "fraud", "--json"]))).unwrap();
    assert_eq!(status[0]["serving"]["stable"], 1, "{status}");
    // Writing is refused at the preview, with the reason, and nothing is applied.
    let before = isvc(&rig)["metadata"]["resourceVersion"].clone();
    // Read-only for these credentials: exit 4, as any read-only environment.
    let err = fails(h, &k8s(&["deploy", "fraud", "2", "--direct", "--yes"]), 4);
    assert!(
        err.contains("may not patch inferenceservices") && !err.contains("read-write"),
        "{err}"
    );
    assert_eq!(isvc(&rig)["metadata"]["resourceVersion"], before);
    assert_eq!(aliases(h), (None, None));
    // The console says so up front, and offers no operation keys.
    let config = h.join("no-config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("default_environment = \"k8s\"\n{text}")).unwrap();
    let tmux = common::tmux::Tmux::start(h, 140, 40);
    let screen = tmux.wait_for("the RBAC read-only header", |s| {
        s.contains("READ-ONLY (RBAC)") && s.contains("fraud")
    });
    assert!(!screen.contains("<p> promote"), "{screen}");
}

on_both_releases!(standard_mode_is_verified_from_its_pods_and_refuses_a_canary);

fn standard_mode_is_verified_from_its_pods_and_refuses_a_canary(release: &Release) {
    let Some((rig, home)) = cluster("standard", release.args) else {
        return;
    };
    let h = home.path();
    // The platform team created the service in Standard mode; flightdeck takes over the model.
    let (code, answer) = rig.apply_as(
        "admin",
        "platform",
        &json!({
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "fraud", "namespace": NAMESPACE,
                "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"}},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"}}}},
        }),
    );
    assert_eq!(code, 201, "{answer}");
    ok(h, &k8s(&["deploy", "fraud", "1", "--direct", "--yes"]));
    assert_eq!(isvc(&rig)["status"]["deploymentMode"], release.standard);
    // Status reads the cluster afresh; on a loaded machine its first read can come before the
    // Standard-mode pods are listed (what serves is then unknown, null): read again, a while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        let status: Value =
            serde_json::from_str(&ok(h, &k8s(&["status", "fraud", "--json"]))).unwrap();
        if !status[0]["serving"].is_null() || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(status[0]["serving"]["stable"], 1, "{status}");
    ok(h, &k8s(&["deploy", "fraud", "2", "--direct", "--yes"]));
    let pods = rig.list("pods", "serving.kserve.io/inferenceservice=fraud");
    assert!(
        pods.iter()
            .all(|p| p["spec"]["initContainers"][0]["args"][0] == uri(2).as_str()),
        "{pods:#?}"
    );
    assert_eq!(aliases(h), (Some(2), None));
    let err = fails(
        h,
        &k8s(&["deploy", "fraud", "3", "--canary", "10", "--yes"]),
        1,
    );
    assert!(
        err.contains("Standard") && err.contains("--direct"),
        "{err}"
    );
    let out = ok(h, &k8s(&["rollback", "fraud", "--yes"]));
    assert!(out.contains("production v2 -> v1"), "{out}");
    assert_eq!(aliases(h), (Some(1), None));
}

/// `live` sampled every 100 ms while `during` runs.
fn watch_live<T>(rig: &KubeRig, during: impl FnOnce() -> T) -> (T, Vec<Vec<(i64, String)>>) {
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                seen.push(live(rig));
                std::thread::sleep(Duration::from_millis(100));
            }
            seen
        });
        let result = during();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (result, watcher.join().unwrap())
    })
}

#[test]
fn a_revision_that_never_starts_fails_fast_and_the_old_one_keeps_serving() {
    let Some((rig, home)) = cluster("never-ready", &["--fail-uri", "/fraud/3"]) else {
        return;
    };
    let h = home.path();
    ok(h, &k8s(&["deploy", "fraud", "1", "--direct", "--yes"]));
    ok(
        h,
        &k8s(&["deploy", "fraud", "2", "--canary", "10", "--yes"]),
    );
    ok(h, &k8s(&["abort", "fraud", "--yes"]));

    // v3 never starts. Knative's newest ready revision is the aborted v2's: neither may take
    // traffic while v3 is tried.
    let (err, seen) = watch_live(&rig, || {
        fails(
            h,
            &k8s(&["deploy", "fraud", "3", "--canary", "10", "--yes"]),
            1,
        )
    });
    // Failed on the pod's state, not at the rollout timeout.
    assert!(
        err.contains("CrashLoopBackOff")
            && err.contains("v1 still serves")
            && !err.contains("did not become ready"),
        "{err}"
    );
    assert!(
        seen.iter().flatten().all(|(_, u)| *u == uri(1)),
        "only v1 may take traffic: {seen:?}"
    );
    assert_eq!(live(&rig), vec![(100, uri(1))]);
    assert_eq!(aliases(h), (Some(1), None));
    assert_eq!(isvc(&rig)["spec"]["predictor"]["canaryTrafficPercent"], 0);
    // KServe says Ready=False (its newest revision failed), but v1 answers: serving, not down.
    let status: Value = serde_json::from_str(&ok(h, &k8s(&["status", "fraud", "--json"]))).unwrap();
    assert_eq!(status[0]["serving"]["stable"], 1, "{status}");
    assert_eq!(status[0]["health"]["state"], "serving", "{status}");

    // Trying v3 again makes no new revision; it still fails on the pod's state at once.
    let err = fails(
        h,
        &k8s(&["deploy", "fraud", "3", "--canary", "10", "--yes"]),
        1,
    );
    assert!(
        err.contains("CrashLoopBackOff") && !err.contains("did not become ready"),
        "{err}"
    );
    assert_eq!(live(&rig), vec![(100, uri(1))]);

    // And a version that starts goes ahead from there.
    ok(
        h,
        &k8s(&["deploy", "fraud", "2", "--canary", "10", "--yes"]),
    );
    assert_eq!(live(&rig), vec![(10, uri(2)), (90, uri(1))]);
    assert_eq!(aliases(h), (Some(1), Some(2)));
}

#[test]
fn the_console_shows_what_each_revision_loads_and_aborts_by_keys() {
    let Some((rig, home)) = cluster("console", &[]) else {
        return;
    };
    let h = home.path();
    ok(h, &k8s(&["deploy", "fraud", "1", "--direct", "--yes"]));
    ok(
        h,
        &k8s(&["deploy", "fraud", "2", "--canary", "10", "--yes"]),
    );
    let config = h.join("no-config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("default_environment = \"k8s\"\n{text}")).unwrap();

    let tmux = common::tmux::Tmux::start(h, 140, 45);
    tmux.wait_for("the fleet from the cluster", |s| {
        s.contains("k8s") && s.contains("fraud") && s.contains("10%")
    });
    tmux.keys(&["Enter"]);
    tmux.keys(&["Tab", "Tab", "Tab"]);
    let screen = tmux.wait_for("the cluster pane with its pods", |s| {
        s.contains("from status.traffic") && s.contains("2/2 ready")
    });
    assert!(screen.contains("v1, canary v2 at 10%"), "{screen}");
    assert!(
        screen.contains("Knative (Serverless) mode") && screen.contains("models/fraud"),
        "{screen}"
    );
    // Each traffic entry is named by what its pods load.
    assert!(
        screen.contains(" 10%  v2  fraud-predictor-00002")
            && screen.contains(" 90%  v1  fraud-predictor-00001"),
        "{screen}"
    );

    // Abort from the console: KServe's own abort, v1 takes everything at once.
    tmux.keys(&["a"]);
    tmux.wait_for("the abort preview", |s| s.contains("enter: confirm"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the outcome", |s| s.contains("abort fraud: done"));
    tmux.keys(&["q"]);
    tmux.keys(&["q"]);
    drop(tmux);
    assert_eq!(aliases(h), (Some(1), None));
    assert_eq!(live(&rig), vec![(100, uri(1))]);
    assert_eq!(isvc(&rig)["spec"]["predictor"]["canaryTrafficPercent"], 0);
}

on_both_releases!(
    after_an_api_server_restart_the_watches_relist_at_once_and_kept_rows_carry_their_age
);

fn after_an_api_server_restart_the_watches_relist_at_once_and_kept_rows_carry_their_age(
    release: &Release,
) {
    use flightdeck::sources::kubernetes::KubeCluster;
    use flightdeck::sources::source::ClusterSource;
    let Some((mut rig, home)) = cluster("restart", release.args) else {
        return;
    };
    let h = home.path();
    ok(h, &k8s(&["deploy", "fraud", "1", "--direct", "--yes"]));

    let settings = flightdeck::settings::Settings::resolve(
        Some(&std::fs::read_to_string(h.join("no-config.toml")).unwrap()),
        None,
        Some(h.to_path_buf()),
        &flightdeck::settings::Overrides {
            environment: Some("k8s".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::new(&settings.environment);
    let serving = |want: flightdeck::model::ServingPlan| {
        let servers = runtime.block_on(cluster.servers());
        servers
            .iter()
            .any(|s| s.model == "fraud" && s.serving == Some(want))
            .then_some(())
    };
    let v1 = flightdeck::model::ServingPlan::stable_only(1);
    rig.wait(30, "fraud serving v1 in the cluster source", || serving(v1));
    assert_eq!(cluster.problem(), None);

    // The API server (and etcd) go down: the rows stay, said to be as old as the outage.
    rig.stop_controller();
    rig.stop_api();
    let down = chrono::Utc::now();
    let problem = rig.wait(30, "the outage reported", || cluster.problem());
    assert!(
        problem.contains("cannot reach the Kubernetes API"),
        "{problem}"
    );
    assert!(serving(v1).is_some(), "the last good rows stay");
    // Headless, what serves is unknown (not "not served"), and nothing is planned on it.
    let err = fails(h, &k8s(&["status", "fraud"]), 1);
    assert!(err.contains("cannot tell what serves"), "{err}");
    let err = fails(
        h,
        &k8s(&["deploy", "fraud", "2", "--canary", "10", "--yes"]),
        1,
    );
    assert!(
        err.contains("cannot read what serves fraud") && err.contains("nothing was changed"),
        "{err}"
    );
    let known = cluster.known_at().expect("an age while failing");
    assert!((known - down).num_seconds().abs() < 20, "{known} vs {down}");

    // Twenty seconds down: long enough for kube's default backoff to have grown to ~13-26 s
    // (with which the watches took up to ~48 s to come back); they retry within 5 s now.
    std::thread::sleep(Duration::from_secs(20));
    rig.restart_api();
    rig.start_controller(release.args);
    let back = Instant::now();
    ok(
        h,
        &k8s(&["deploy", "fraud", "2", "--canary", "10", "--yes"]),
    );
    let applied = back.elapsed();
    let canary = flightdeck::model::ServingPlan {
        stable: 1,
        canary: Some(2),
        canary_percent: 10,
    };
    rig.wait(25, "the canary seen after the restart", || serving(canary));
    let seen = back.elapsed();
    rig.wait(20, "the problem cleared", || {
        cluster.problem().is_none().then_some(())
    });
    assert_eq!(cluster.known_at(), None);
    eprintln!(
        "after the restart: the canary was applied in {applied:?} and seen by the watches {seen:?} after the API server was back"
    );
}

/// flightdeck serve's families for fraud v1 (production) and v2 (canary), `seconds` into a
/// test where each answers 20 requests a second, all well, as a KServe predictor running
/// flightdeck serve exports them.
fn healthy_series(seconds: f64) -> String {
    let mut t = String::from("# TYPE flightdeck_requests_total counter\n");
    let counts = [
        (1, 1000 + (20.0 * seconds) as u64),
        (2, (20.0 * seconds) as u64),
    ];
    for (v, n) in counts {
        t += &format!(
            "flightdeck_requests_total{{model=\"fraud\",version=\"{v}\",code=\"200\"}} {n}\n"
        );
    }
    t += "# TYPE flightdeck_request_duration_seconds histogram\n";
    for (v, n) in counts {
        for le in ["0.005", "+Inf"] {
            t += &format!(
                "flightdeck_request_duration_seconds_bucket{{model=\"fraud\",version=\"{v}\",le=\"{le}\"}} {n}\n"
            );
        }
        t += &format!(
            "flightdeck_request_duration_seconds_sum{{model=\"fraud\",version=\"{v}\"}} {}\n",
            n as f64 * 0.002
        );
        t += &format!(
            "flightdeck_request_duration_seconds_count{{model=\"fraud\",version=\"{v}\"}} {n}\n"
        );
    }
    // What tells Prometheus' readers these are flightdeck serve's series.
    t += "# TYPE flightdeck_model_info gauge\n";
    t += "flightdeck_model_info{model=\"fraud\",version=\"1\",sha256=\"a\",role=\"stable\"} 1\n";
    t += "flightdeck_model_info{model=\"fraud\",version=\"2\",sha256=\"b\",role=\"canary\"} 1\n";
    t
}

#[test]
fn a_rollout_steps_canary_traffic_percent_by_itself_on_prometheus_evidence() {
    let Some((rig, home)) = cluster("rollout", KSERVE_0_20.args) else {
        return;
    };
    let h = home.path();
    // The canary's series in a real Prometheus, moving on as traffic would.
    let exporter = common::exporter::Exporter::start();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (text, stopped, started) = (exporter.text.clone(), stop.clone(), Instant::now());
    std::thread::spawn(move || {
        while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
            *text.lock().unwrap() = healthy_series(started.elapsed().as_secs_f64());
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let scratch = tempfile::tempdir().unwrap();
    let prometheus = common::prometheus::start(scratch.path(), &exporter.address);
    let config = h.join("no-config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("http://127.0.0.1:9", &prometheus.url)
            .replace("min_canary_requests = 1", "min_canary_requests = 20"),
    )
    .unwrap();

    ok(h, &k8s(&["deploy", "fraud", "1", "--direct", "--yes"]));
    ok(
        h,
        &k8s(&[
            "rollout",
            "fraud",
            "2",
            "--steps",
            "20,50,100",
            "--interval",
            "2s",
            "--yes",
        ]),
    );
    assert_eq!(isvc(&rig)["spec"]["predictor"]["canaryTrafficPercent"], 20);
    assert_eq!(live(&rig), vec![(20, uri(2)), (80, uri(1))]);

    // watch in short runs (each one a restart) until the rollout is over.
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut said = String::new();
    loop {
        said.push_str(&ok(
            h,
            &k8s(&["watch", "--every", "1s", "--rounds", "3", "--json"]),
        ));
        let r: Value = serde_json::from_str(&ok(h, &k8s(&["rollout", "fraud", "--json"]))).unwrap();
        if r["phase"] == "completed" {
            break;
        }
        assert!(r["phase"] != "aborted", "{r:#}\n{said}");
        assert!(Instant::now() < deadline, "never completed: {r:#}\n{said}");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(live(&rig), vec![(100, uri(2))]);
    assert!(
        isvc(&rig)["spec"]["predictor"]
            .get("canaryTrafficPercent")
            .is_none()
    );
    assert_eq!(aliases(h), (Some(2), None));
    let rows: Value = serde_json::from_str(&ok(
        h,
        &k8s(&["journal", "--model", "fraud", "--json", "--limit", "200"]),
    ))
    .unwrap();
    let stepped = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["operation"] == "rollout stepped")
        .unwrap_or_else(|| panic!("{rows:#}"));
    let sentence = stepped["details"]["sentence"].as_str().unwrap();
    assert!(
        sentence.contains("v2 now takes 50%") && sentence.contains("canary traffic: v2 served"),
        "judged on Prometheus' counters over the step: {sentence}"
    );
}
