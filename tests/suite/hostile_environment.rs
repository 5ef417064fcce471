//! Hostile environments never crash flightdeck or lose state silently: a closed stdout, a log
//! file that cannot be opened, a registry truncated to 0 bytes (refused, then restored from a
//! backup), a read-only environment's smoke test and evaluation (run, shown, not stored), the
//! data dir's permissions, and a URL that answers JSON but is not MLflow.

use crate::common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use common::{fails, fixture, flightdeck, ok};
use serde_json::Value;

fn with_reference(h: &Path) {
    let reference = fixture("classifier.reference.csv");
    ok(
        h,
        &[
            "register",
            "fraud",
            fixture("logreg_multiclass.onnx").to_str().unwrap(),
            "--reference",
            reference.to_str().unwrap(),
        ],
    );
}

#[test]
fn a_closed_stdout_ends_quietly_like_ls_into_head() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    with_reference(h);
    // The baseline profile makes this a long JSON document: the reader leaves after 10 bytes.
    let mut child = flightdeck(h)
        .args(["versions", "fraud", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "panicked: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.trim().is_empty(), "quiet: {err}");
}

#[test]
fn a_log_file_that_cannot_be_opened_is_a_warning_not_a_crash() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // Where the log file goes there is a directory: opening it fails, as on a read-only disk.
    std::fs::create_dir_all(h.join("logs/flightdeck.log")).unwrap();
    let out = flightdeck(h).args(["models"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("no log file"), "{err}");
}

fn truncate_registry(h: &Path) {
    std::fs::write(h.join("registry.db"), b"").unwrap();
    for f in ["registry.db-wal", "registry.db-shm"] {
        let _ = std::fs::remove_file(h.join(f));
    }
}

#[test]
fn a_truncated_registry_is_refused_and_restored_from_its_backup() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    common::register(h, "fraud", "mlp_classifier.onnx");
    ok(h, &["alias", "set", "fraud", "production", "2"]);
    let backup = h.join("registry.backup");
    let out = ok(h, &["backup", backup.to_str().unwrap()]);
    assert!(out.contains("backed up"), "{out}");
    let err = fails(h, &["backup", backup.to_str().unwrap()], 1);
    assert!(err.contains("already there"), "{err}");

    truncate_registry(h);
    for args in [
        &["models"][..],
        &["versions", "fraud"],
        &["register", "fraud", "x.onnx"],
    ] {
        let err = fails(h, args, 1);
        assert!(
            err.contains("truncated or deleted") && err.contains("flightdeck restore"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        std::fs::metadata(h.join("registry.db")).unwrap().len(),
        0,
        "nothing was written over it"
    );

    let err = fails(
        h,
        &["restore", h.join("no-such").to_str().unwrap(), "--yes"],
        1,
    );
    assert!(err.contains("not a file"), "{err}");
    let not_a_registry = h.join("not-a-registry");
    std::fs::write(&not_a_registry, b"hello").unwrap();
    let err = fails(
        h,
        &["restore", not_a_registry.to_str().unwrap(), "--yes"],
        1,
    );
    assert!(err.contains("is not a flightdeck registry backup"), "{err}");

    let out = ok(h, &["restore", backup.to_str().unwrap(), "--yes"]);
    assert!(out.contains("1 models, 2 versions"), "{out}");
    let journal = ok(h, &["journal", "--limit", "1"]);
    assert!(
        journal.contains("restore"),
        "the restore is on record: {journal}"
    );
    let aliases: Value =
        serde_json::from_str(&ok(h, &["alias", "list", "fraud", "--json"])).unwrap();
    assert_eq!(aliases[0]["version"], 2, "{aliases}");
    // Version numbers go on where they stopped, never reused.
    let out = common::register(h, "fraud", "scaler_logreg.onnx");
    assert!(out.contains("v3"), "{out}");
    // The backup predates v3: restoring it would give v3's number to another file.
    let err = fails(h, &["restore", backup.to_str().unwrap(), "--yes"], 1);
    assert!(
        err.contains("does not know")
            && err.contains("fraud v3")
            && err.contains("--discard-newer"),
        "{err}"
    );
    // The same when the registry itself is lost: the stored artifacts tell.
    truncate_registry(h);
    let err = fails(h, &["restore", backup.to_str().unwrap(), "--yes"], 1);
    assert!(
        err.contains("stored artifact no version of the backup names"),
        "{err}"
    );
    let out = ok(
        h,
        &[
            "restore",
            backup.to_str().unwrap(),
            "--yes",
            "--discard-newer",
        ],
    );
    assert!(out.contains("DISCARDED"), "{out}");
}

#[test]
fn a_read_only_environment_runs_smoke_tests_and_evaluations_and_stores_nothing() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    let out = flightdeck(h)
        .args(["--readonly", "smoke", "fraud", "1"])
        .output()
        .unwrap();
    let (stdout, stderr) = (common::stdout(&out), common::stderr(&out));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("smoke passed"), "{stdout}");
    assert!(stderr.contains("was not stored"), "{stderr}");
    let versions: Value = serde_json::from_str(&ok(h, &["versions", "fraud", "--json"])).unwrap();
    assert_eq!(versions[0]["smoke_passed"], Value::Null, "nothing stored");
    // The same without --readonly stores it.
    ok(h, &["smoke", "fraud", "1"]);
    let versions: Value = serde_json::from_str(&ok(h, &["versions", "fraud", "--json"])).unwrap();
    assert_eq!(versions[0]["smoke_passed"], true);
}

#[test]
fn a_read_only_environment_evaluates_and_stores_nothing() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let demo = |f: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("demo")
            .join(f)
            .to_str()
            .unwrap()
            .to_string()
    };
    ok(
        h,
        &[
            "register",
            "claims",
            &demo("v1.onnx"),
            "--reference",
            &demo("reference.csv"),
        ],
    );
    let evaluate = [
        "evaluate",
        "claims",
        "1",
        "--data",
        &demo("holdout.csv"),
        "--json",
    ];
    let out = flightdeck(h)
        .arg("--readonly")
        .args(evaluate)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["rows"], 2000, "it ran and showed its result");
    assert!(common::stderr(&out).contains("was not stored"));
    let stored = || {
        let registry = flightdeck::store::Registry::open(h).unwrap();
        let model = flightdeck::model::ModelName::new("claims").unwrap();
        registry.latest_evaluation(&model, 1).unwrap().is_some()
    };
    assert!(!stored(), "nothing kept for the promote gate");
    ok(h, &evaluate);
    assert!(stored(), "a writable environment keeps it");
}

#[test]
fn what_flightdeck_creates_is_private_to_its_user() {
    let home = tempfile::tempdir().unwrap();
    // A data dir flightdeck creates itself.
    let h = home.path().join("fresh");
    let out = flightdeck(home.path())
        .env("FLIGHTDECK_HOME", &h)
        .args([
            "register",
            "fraud",
            fixture("logreg_multiclass.onnx").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&h), 0o700, "the data dir");
    assert_eq!(mode(&h.join("registry.db")), 0o600);
    assert_eq!(mode(&h.join("logs")), 0o700);
    let shard = std::fs::read_dir(h.join("artifacts/sha256"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let artifact = std::fs::read_dir(shard)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(&artifact), 0o600, "{}", artifact.display());
}

#[test]
fn a_url_that_answers_json_but_is_not_mlflow_is_an_error_naming_it() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::Write;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
            );
        }
    });
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(
        h.join("no-config.toml"),
        format!("[environments.ml]\nregistry = \"mlflow\"\nmlflow_url = \"http://127.0.0.1:{port}\"\nread_only = true\n"),
    )
    .unwrap();
    let err = fails(h, &["--env", "ml", "models"], 1);
    assert!(
        err.contains("does not answer like an MLflow tracking server")
            && err.contains(&port.to_string()),
        "{err}"
    );
}

#[test]
fn a_backend_that_streams_without_end_is_cut_at_the_answer_limit() {
    // A "server" for fraud whose every answer is 256 MB of text, sent as fast as it is read.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::Write;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"
                );
                let chunk = vec![b'a'; 64 * 1024];
                for _ in 0..4096 {
                    if stream.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    std::fs::write(h.join("no-config.toml"), "[refresh]\nmax_answer_mb = 2\n").unwrap();
    let mut stand_in = std::process::Command::new("bash")
        .args(["-c", "exec -a flightdeck-supervise sleep 120"])
        .spawn()
        .unwrap();
    let plan = serde_json::json!({ "stable": 1 });
    let record = serde_json::json!({
        "model": "fraud", "supervisor_pid": stand_in.id(), "server_pid": null, "port": port,
        "started_plan": plan, "started_at": "2026-01-01T00:00:00Z", "restarts": 0, "last_exit": null, "state": "running"
    });
    std::fs::create_dir_all(h.join("serve")).unwrap();
    std::fs::write(h.join("serve/fraud.plan.json"), plan.to_string()).unwrap();
    std::fs::write(h.join("serve/fraud.server.json"), record.to_string()).unwrap();
    let out = ok(h, &["status", "fraud", "--json", "--interval", "0.2"]);
    let _ = stand_in.kill();
    let _ = stand_in.wait();
    let rows: Value = serde_json::from_str(&out).unwrap();
    let reason = rows[0]["signal"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("answer larger than 2 MB"), "{out}");
    assert_eq!(rows[0]["stats"], Value::Null, "{out}");
}

#[test]
fn an_empty_mlflow_token_falls_back_to_basic_auth() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen, heard) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::Write;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buffer = [0u8; 8192];
            let n = stream.read(&mut buffer).unwrap_or(0);
            let request = String::from_utf8_lossy(&buffer[..n]).to_string();
            let authorization = request
                .lines()
                .find(|l| l.to_lowercase().starts_with("authorization:"))
                .unwrap_or("authorization: (none)")
                .to_string();
            let _ = seen.send(authorization);
            let body = r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no such model"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(
        h.join("no-config.toml"),
        format!("[environments.ml]\nregistry = \"mlflow\"\nmlflow_url = \"http://127.0.0.1:{port}\"\nread_only = true\n"),
    )
    .unwrap();
    let _ = flightdeck(h)
        .args(["--env", "ml", "models"])
        .env("MLFLOW_TRACKING_TOKEN", "")
        .env("MLFLOW_TRACKING_USERNAME", "u")
        .env("MLFLOW_TRACKING_PASSWORD", "p")
        .output()
        .unwrap();
    let authorization = heard
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    // "u:p" in base64.
    assert_eq!(authorization.to_lowercase(), "authorization: basic dtpw");
}

#[test]
fn every_command_that_writes_is_refused_in_a_read_only_environment() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    let backup = h.join("registry.backup");
    ok(h, &["backup", backup.to_str().unwrap()]);
    let model = fixture("mlp_classifier.onnx");
    let writes: Vec<Vec<&str>> = vec![
        vec!["register", "fraud", model.to_str().unwrap()],
        vec!["alias", "set", "fraud", "production", "1"],
        vec!["alias", "remove", "fraud", "canary"],
        vec!["deploy", "fraud", "1", "--direct", "--yes"],
        vec!["promote", "fraud", "--yes"],
        vec!["rollback", "fraud", "--to", "1", "--yes"],
        vec!["abort", "fraud", "--yes"],
        vec!["recover", "fraud", "--finish", "--yes"],
        vec!["server", "start", "fraud"],
        vec!["server", "stop", "fraud"],
        vec!["restore", backup.to_str().unwrap(), "--yes"],
    ];
    let before = ok(h, &["journal", "--json", "--limit", "1000"]);
    for args in &writes {
        let mut all = vec!["--readonly"];
        all.extend(args);
        let err = fails(h, &all, 4);
        assert!(err.contains("read-only"), "{args:?}: {err}");
    }
    assert_eq!(
        ok(h, &["journal", "--json", "--limit", "1000"]),
        before,
        "nothing was written"
    );
    assert!(!h.join("serve/fraud.plan.json").exists(), "nothing serves");
}
