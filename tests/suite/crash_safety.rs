//! A `register` killed at any step leaves no half-registered version; a writer that holds the
//! registry is named to whoever waits for it; a corrupt database is reported, not overwritten.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use common::{fails, fixture, flightdeck, ok};

/// Starts `register` armed to stop at `point`, and waits until it is there.
fn start_paused(home: &std::path::Path, point: &str) -> Child {
    let model = fixture("logreg_multiclass.onnx");
    let mut child = flightdeck(home)
        .args(["register", "fraud", model.to_str().unwrap(), "--reference"])
        .arg(fixture("classifier.reference.csv"))
        .env("FLIGHTDECK_FAILPOINT", point)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).unwrap();
    assert!(
        line.contains(&format!("failpoint {point} reached")),
        "child said {line:?}"
    );
    child
}

fn kill(mut child: Child) {
    // SIGKILL: no destructors, no rollback code of ours runs.
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn killed_register_leaves_nothing_half_registered() {
    for point in [
        "register:before-artifact",
        "register:after-artifact",
        "register:before-commit",
    ] {
        let home = tempfile::tempdir().unwrap();
        kill(start_paused(home.path(), point));
        let err = fails(home.path(), &["versions", "fraud"], 1);
        assert!(err.contains("not registered"), "{point}: {err}");
        let journal = ok(home.path(), &["journal", "--json"]);
        assert_eq!(journal.trim(), "[]", "{point}: journal must be empty");
        // The registry is fully usable afterwards, and numbering starts at 1.
        let out = ok(
            home.path(),
            &[
                "register",
                "fraud",
                fixture("logreg_multiclass.onnx").to_str().unwrap(),
            ],
        );
        assert!(out.contains("registered fraud v1"), "{point}: {out}");
    }
}

#[test]
fn a_waiting_writer_names_the_holder_and_readers_are_not_blocked() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("fast.toml"), "lock_timeout_ms = 300\n").unwrap();
    let holder = start_paused(home.path(), "register:before-commit");
    let holder_pid = holder.id();

    let out = flightdeck(home.path())
        .env("FLIGHTDECK_CONFIG", home.path().join("fast.toml"))
        .args([
            "register",
            "other",
            fixture("mlp_classifier.onnx").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("busy"), "{err}");
    assert!(
        err.contains(&format!("pid {holder_pid}")),
        "names the holder: {err}"
    );
    assert!(
        err.contains("registering a model version"),
        "says what it is doing: {err}"
    );

    // Readers see the last committed state while the writer holds its transaction.
    let models = ok(home.path(), &["models", "--json"]);
    assert_eq!(models.trim(), "[]");

    kill(holder);
    // The kernel released the lock with the process: the next writer goes straight through.
    ok(
        home.path(),
        &[
            "register",
            "other",
            fixture("mlp_classifier.onnx").to_str().unwrap(),
        ],
    );
}

#[test]
fn a_corrupt_database_is_reported_and_left_untouched() {
    let home = tempfile::tempdir().unwrap();
    let garbage = b"this is not an sqlite database, but it is somebody's file".repeat(100);
    std::fs::write(home.path().join("registry.db"), &garbage).unwrap();
    for args in [
        &["models"][..],
        &[
            "register",
            "fraud",
            fixture("logreg_binary.onnx").to_str().unwrap(),
        ],
    ] {
        let err = fails(home.path(), args, 1);
        assert!(
            err.contains("corrupt") && err.contains("registry.db"),
            "{err}"
        );
        assert!(err.contains("restore a backup"), "says what to do: {err}");
    }
    assert_eq!(
        std::fs::read(home.path().join("registry.db")).unwrap(),
        garbage
    );
}
