//! Deploy, promote, rollback and abort end to end on real `flightdeck serve` processes: what
//! serves and where the aliases point after each step, every refusal, a race, read-only.

use crate::common;

use std::path::Path;
use std::process::Stdio;

use common::{fails, fixture, flightdeck, ok};
use serde_json::Value;

struct Home(tempfile::TempDir);

impl Drop for Home {
    fn drop(&mut self) {
        let _ = common::run(self.0.path(), &["server", "stop", "fraud"]);
    }
}

fn home() -> Home {
    let home = Home(tempfile::tempdir().unwrap());
    let h = home.0.path();
    // A small minimum, so tests need little traffic for the promote gates.
    std::fs::write(
        h.join("no-config.toml"),
        // Latency on a loaded test machine is noise: the p99 gate is made lenient here (the
        // gates' logic is exercised through the traffic gate).
        "[gates]\nmin_canary_requests = 20\nmax_p99_ratio = 1000\n",
    )
    .unwrap();
    for (file, pipeline) in [
        ("logreg_multiclass.onnx", "fp-1"),
        ("mlp_classifier.onnx", "fp-1"),
        ("scaler_logreg.onnx", "fp-2"),
    ] {
        ok(
            h,
            &[
                "register",
                "fraud",
                fixture(file).to_str().unwrap(),
                "--pipeline-version",
                pipeline,
            ],
        );
    }
    home
}

/// Sends `n` one-row requests to the model's local server.
fn traffic(h: &Path, n: usize) {
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let url = format!("http://127.0.0.1:{}/v2/models/fraud/infer", port.trim());
    let client = reqwest::blocking::Client::new();
    let body = serde_json::json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": [50, 40, 0.1, 0.2] }] });
    for _ in 0..n {
        assert!(
            client
                .post(&url)
                .json(&body)
                .send()
                .unwrap()
                .status()
                .is_success()
        );
    }
}

/// (production, canary) from the aliases, and the plan the server reports.
fn state(h: &Path) -> ((Option<u64>, Option<u64>), Value) {
    let (production, canary) = common::production_and_canary(h, "fraud");
    let servers: Value = serde_json::from_str(&ok(h, &["server", "list", "--json"])).unwrap();
    let serving = servers
        .as_array()
        .unwrap()
        .first()
        .map(|s| s["serving"].clone())
        .unwrap_or(Value::Null);
    ((production, canary), serving)
}

#[test]
fn deploy_promote_rollback_abort_move_traffic_and_aliases_together() {
    let home = home();
    let h = home.0.path();
    let out = ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    assert!(out.contains("production none -> v1"), "{out}");
    assert_eq!(
        state(h),
        (
            (Some(1), None),
            serde_json::json!({ "stable": 1, "canary": null, "canary_percent": 0 })
        )
    );

    ok(h, &["deploy", "fraud", "2", "--canary", "25", "--yes"]);
    assert_eq!(
        state(h),
        (
            (Some(1), Some(2)),
            serde_json::json!({ "stable": 1, "canary": 2, "canary_percent": 25 })
        )
    );

    // The canary must have served enough traffic for the promote gates to judge it.
    let err = fails(h, &["promote", "fraud", "--yes"], 2);
    assert!(
        err.contains("canary traffic gate has not enough data yet")
            && err.contains("20 more")
            && err.contains("--override-gates"),
        "{err}"
    );
    traffic(h, 200);
    let out = ok(h, &["promote", "fraud", "--yes", "--json"]);
    let outcome: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["after"]["production"], 2);
    assert_eq!(
        state(h),
        (
            (Some(2), None),
            serde_json::json!({ "stable": 2, "canary": null, "canary_percent": 0 })
        )
    );

    ok(h, &["deploy", "fraud", "1", "--canary", "10", "--yes"]);
    let out = ok(h, &["rollback", "fraud", "--yes"]);
    assert!(
        out.contains("production v2 -> v1") && out.contains("removed"),
        "rollback goes to the previous production and drops the canary: {out}"
    );
    assert_eq!(
        state(h),
        (
            (Some(1), None),
            serde_json::json!({ "stable": 1, "canary": null, "canary_percent": 0 })
        )
    );

    ok(h, &["deploy", "fraud", "2", "--canary", "10", "--yes"]);
    ok(h, &["abort", "fraud", "--yes"]);
    assert_eq!(
        state(h),
        (
            (Some(1), None),
            serde_json::json!({ "stable": 1, "canary": null, "canary_percent": 0 })
        )
    );

    // Every operation is journaled as started, then succeeded.
    let journal: Value =
        serde_json::from_str(&ok(h, &["journal", "--json", "--limit", "500"])).unwrap();
    let ops: Vec<(String, String)> = journal
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            ["deploy", "promote", "rollback", "abort"].contains(&e["operation"].as_str().unwrap())
        })
        .map(|e| {
            (
                e["operation"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(ops.iter().filter(|(_, o)| o == "started").count(), 7);
    assert_eq!(ops.iter().filter(|(_, o)| o == "succeeded").count(), 7);
}

#[test]
fn preconditions_refuse_in_plain_language_and_change_nothing() {
    let home = home();
    let h = home.0.path();
    let err = fails(h, &["deploy", "fraud", "2", "--yes"], 1);
    assert!(
        err.contains("no production version to run v2 as a canary"),
        "{err}"
    );
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    for (args, needle) in [
        (&["promote", "fraud", "--yes"][..], "nothing to promote"),
        (
            &["abort", "fraud", "--yes"][..],
            "no canary to abort; production is untouched",
        ),
        (
            &["rollback", "fraud", "--yes"][..],
            "no previous production version",
        ),
        (
            &["deploy", "fraud", "1", "--direct", "--yes"][..],
            "already production",
        ),
        (&["deploy", "fraud", "9", "--yes"][..], "no version 9"),
        (&["rollback", "ghost", "--yes"][..], "not registered"),
    ] {
        let err = fails(h, args, 1);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // A change of feature pipeline needs explicit confirmation.
    let err = fails(h, &["deploy", "fraud", "3", "--direct", "--yes"], 1);
    assert!(
        err.contains("fp-1 to fp-2") && err.contains("--allow-pipeline-mismatch"),
        "{err}"
    );
    assert_eq!(state(h).0, (Some(1), None), "nothing moved");
    ok(
        h,
        &[
            "deploy",
            "fraud",
            "3",
            "--direct",
            "--yes",
            "--allow-pipeline-mismatch",
        ],
    );
    assert_eq!(state(h).0, (Some(3), None));
    // Without a terminal, confirmation must be given with --yes.
    let out = flightdeck(h)
        .args(["rollback", "fraud", "--allow-pipeline-mismatch"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("add --yes"));
    let err = fails(h, &["--readonly", "rollback", "fraud", "--yes"], 4);
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(state(h).0, (Some(3), None), "still nothing moved");
}

#[test]
fn two_operators_promoting_at_once_never_both_win() {
    let home = home();
    let h = home.0.path();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "2", "--canary", "50", "--yes"]);
    let spawn = || {
        flightdeck(h)
            .args(["promote", "fraud", "--yes", "--override-gates"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    assert!(codes.contains(&Some(0)), "one promotes: {codes:?}");
    let loser = if a.status.success() { &b } else { &a };
    let err = String::from_utf8_lossy(&loser.stderr);
    // The loser either found the operation locked, found its alias moved, or found nothing left to promote.
    assert!(
        err.contains("under way") || err.contains("conflict") || err.contains("nothing to promote"),
        "{codes:?}: {err}"
    );
    assert_eq!(
        state(h),
        (
            (Some(2), None),
            serde_json::json!({ "stable": 2, "canary": null, "canary_percent": 0 })
        )
    );
    // The override of the failing traffic gate is on record, with the evidence.
    let journal: Value =
        serde_json::from_str(&ok(h, &["journal", "--json", "--limit", "500"])).unwrap();
    let started = journal
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["operation"] == "promote" && e["outcome"] == "started")
        .expect("a started promote row");
    let overridden = started["details"]["consent"]["overridden"]
        .as_array()
        .unwrap();
    assert!(
        overridden.contains(&Value::from("canary traffic")),
        "{started}"
    );
    let gates = started["details"]["plan"]["gates"].as_array().unwrap();
    assert!(
        gates
            .iter()
            .any(|g| g["name"] == "canary traffic" && g["status"] == "not_enough_data"),
        "{started}"
    );
}

#[test]
fn an_operation_under_way_is_never_taken_for_an_interrupted_one() {
    let home = home();
    let h = home.0.path();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "2", "--canary", "50", "--yes"]);
    let interrupted = || {
        let rows: Value = serde_json::from_str(&ok(h, &["status", "fraud", "--json"])).unwrap();
        rows[0]["interrupted"].clone()
    };
    // Held right after its `started` row: the journal alone cannot tell it from a killed one.
    let (code, said) = interfere_at(
        h,
        &["promote", "fraud", "--yes", "--override-gates"],
        "op:after-start",
        || {
            let err = fails(h, &["promote", "fraud", "--yes", "--override-gates"], 3);
            assert!(
                err.contains("under way (promote by") && !err.contains("interrupted"),
                "{err}"
            );
            let err = fails(h, &["recover", "fraud", "--finish", "--yes"], 3);
            assert!(err.contains("under way"), "{err}");
            assert_eq!(
                interrupted(),
                Value::Null,
                "a running promote is not interrupted"
            );
        },
    );
    assert_eq!(code, 0, "{said}");
    assert_eq!(state(h).0, (Some(2), None));
    assert_eq!(interrupted(), Value::Null);

    // The same moment with its process killed is interrupted, and said so.
    ok(h, &["deploy", "fraud", "1", "--canary", "20", "--yes"]);
    kill_at(h, &["abort", "fraud", "--yes"], "op:after-start");
    let summary = interrupted();
    assert!(
        summary
            .as_str()
            .is_some_and(|s| s.starts_with("abort fraud")),
        "{summary}"
    );
    let err = fails(h, &["promote", "fraud", "--yes", "--override-gates"], 1);
    assert!(err.contains("interrupted"), "{err}");
}

#[test]
fn smoke_tests_catch_a_silently_broken_model_and_gate_its_deploy() {
    let home = Home(tempfile::tempdir().unwrap());
    let h = home.0.path();
    let sentinels = fixture("logreg_multiclass.sentinels.json");
    ok(
        h,
        &[
            "register",
            "fraud",
            fixture("logreg_multiclass.onnx").to_str().unwrap(),
            "--sentinels",
            sentinels.to_str().unwrap(),
        ],
    );
    // Same shape, different model: plausible outputs, wrong answers on the sentinels.
    ok(
        h,
        &[
            "register",
            "fraud",
            fixture("mlp_classifier.onnx").to_str().unwrap(),
            "--sentinels",
            sentinels.to_str().unwrap(),
        ],
    );
    // A different input width than production's.
    ok(
        h,
        &[
            "register",
            "fraud",
            fixture("column_transformer.onnx").to_str().unwrap(),
        ],
    );

    let out = ok(h, &["smoke", "fraud", "1"]);
    assert!(
        out.contains("3 of 3 cases within tolerance") && out.contains("smoke passed"),
        "{out}"
    );
    assert!(
        out.contains("every row sums to 1") && out.contains("0 errors"),
        "{out}"
    );
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);

    let out = common::run(h, &["smoke", "fraud", "2"]);
    assert_eq!(out.status.code(), Some(2), "a failed smoke test exits 2");
    let text = common::stdout(&out);
    assert!(
        text.contains("FAIL sentinels") && text.contains("3 of 3 cases failed"),
        "{text}"
    );

    let err = fails(h, &["deploy", "fraud", "2", "--canary", "10", "--yes"], 2);
    assert!(
        err.contains("smoke gate failed") && err.contains("--skip-smoke"),
        "{err}"
    );
    assert_eq!(
        state(h).0,
        (Some(1), None),
        "the gate stopped the deploy before anything moved"
    );

    let out = common::run(h, &["smoke", "fraud", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stdout(&out).contains("inputs differ from production v1"),
        "{}",
        common::stdout(&out)
    );

    // The override is explicit, and the deploy then goes through.
    ok(
        h,
        &[
            "deploy",
            "fraud",
            "2",
            "--canary",
            "10",
            "--yes",
            "--skip-smoke",
        ],
    );
    assert_eq!(state(h).0, (Some(1), Some(2)));
    let versions: Value = serde_json::from_str(&ok(h, &["versions", "fraud", "--json"])).unwrap();
    assert_eq!(versions.as_array().unwrap().len(), 3);
}

/// Starts `args` armed to stop at `point`, waits until it is there, and kills it (SIGKILL).
fn kill_at(h: &Path, args: &[&str], point: &str) {
    use std::io::{BufRead, BufReader};
    let mut child = flightdeck(h)
        .args(args)
        .env("FLIGHTDECK_FAILPOINT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let reached = stderr
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains(&format!("failpoint {point} reached")));
    assert!(reached, "{args:?} never reached {point}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn an_operation_killed_mid_way_is_shown_and_can_be_finished_or_reverted() {
    let home = home();
    let h = home.0.path();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "2", "--canary", "50", "--yes"]);
    traffic(h, 60);

    // Killed after the server switched, before the aliases moved: they disagree now.
    kill_at(
        h,
        &["promote", "fraud", "--yes", "--override-gates"],
        "op:after-serving",
    );
    assert_eq!(
        state(h),
        (
            (Some(1), Some(2)),
            serde_json::json!({ "stable": 2, "canary": null, "canary_percent": 0 })
        )
    );
    let journal = ok(h, &["journal", "--model", "fraud"]);
    assert!(
        journal.lines().nth(1).unwrap().contains("promote")
            && journal.lines().nth(1).unwrap().contains("started"),
        "{journal}"
    );
    // No second operation starts on top of it without a word: the lock was released by the kill,
    // and recover finishes what was started.
    let out = ok(h, &["recover", "fraud", "--finish", "--yes"]);
    assert!(out.contains("production v1 -> v2"), "{out}");
    assert_eq!(
        state(h),
        (
            (Some(2), None),
            serde_json::json!({ "stable": 2, "canary": null, "canary_percent": 0 })
        )
    );
    let err = fails(h, &["recover", "fraud", "--finish", "--yes"], 1);
    assert!(err.contains("no interrupted operation"), "{err}");

    // Killed after the aliases moved, before verify: revert puts everything back.
    ok(h, &["deploy", "fraud", "1", "--canary", "20", "--yes"]);
    kill_at(h, &["abort", "fraud", "--yes"], "op:after-aliases");
    assert_eq!(
        state(h).0,
        (Some(2), None),
        "the canary alias was removed before the kill"
    );
    ok(h, &["recover", "fraud", "--revert", "--yes"]);
    assert_eq!(
        state(h),
        (
            (Some(2), Some(1)),
            serde_json::json!({ "stable": 2, "canary": 1, "canary_percent": 20 })
        )
    );

    // Killed right after the journal's `started` row: nothing moved; revert confirms that.
    kill_at(h, &["abort", "fraud", "--yes"], "op:after-start");
    assert_eq!(state(h).0, (Some(2), Some(1)));
    ok(h, &["recover", "fraud", "--revert", "--yes"]);
    assert_eq!(state(h).0, (Some(2), Some(1)));

    // Killed after everything moved and verified, before the ending row: finish records it.
    kill_at(h, &["abort", "fraud", "--yes"], "op:after-verify");
    assert_eq!(
        state(h),
        (
            (Some(2), None),
            serde_json::json!({ "stable": 2, "canary": null, "canary_percent": 0 })
        )
    );
    let out = ok(h, &["recover", "fraud", "--finish", "--yes"]);
    assert!(out.contains("production v2 unchanged"), "{out}");
    let err = fails(h, &["recover", "fraud", "--finish", "--yes"], 1);
    assert!(err.contains("no interrupted operation"), "{err}");
}

#[test]
fn evaluation_compares_with_production_and_gates_the_promote() {
    let home = Home(tempfile::tempdir().unwrap());
    let h = home.0.path();
    std::fs::write(
        h.join("no-config.toml"),
        "[gates]\nmin_canary_requests = 20\nmax_p99_ratio = 1000\n",
    )
    .unwrap();
    let demo = |f: &str| {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("demo")
            .join(f)
            .to_str()
            .unwrap()
            .to_string()
    };
    for v in ["v1", "v2", "v3"] {
        ok(
            h,
            &[
                "register",
                "claims",
                &demo(&format!("{v}.onnx")),
                "--reference",
                &demo("reference.csv"),
            ],
        );
    }
    ok(h, &["deploy", "claims", "1", "--direct", "--yes"]);
    let out = ok(
        h,
        &[
            "evaluate",
            "claims",
            "2",
            "--data",
            &demo("holdout.csv"),
            "--json",
        ],
    );
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["rows"], 2000);
    assert_eq!(e["baseline"], 1);
    // v1's AUC as scikit-learn computed it when the demo was generated.
    assert!(
        (e["baseline_metrics"]["auc"].as_f64().unwrap() - 0.7128).abs() < 1e-3,
        "{e}"
    );
    assert!(
        e["candidate_metrics"]["auc"].as_f64() > e["baseline_metrics"]["auc"].as_f64(),
        "v2 is better: {e}"
    );
    // v3, served as it really is, is no better than chance.
    let out = ok(
        h,
        &["evaluate", "claims", "3", "--data", &demo("holdout.csv")],
    );
    assert!(out.contains("auc       0.50"), "{out}");
    ok(
        h,
        &[
            "deploy",
            "claims",
            "3",
            "--canary",
            "50",
            "--yes",
            "--skip-smoke",
        ],
    );
    let port = std::fs::read_to_string(h.join("serve/claims.port")).unwrap();
    let client = reqwest::blocking::Client::new();
    let body = serde_json::json!({ "inputs": [{ "name": "X", "shape": [1, 5], "datatype": "FP32", "data": [120, 40, 30, 0, 2] }] });
    for _ in 0..80 {
        client
            .post(format!(
                "http://127.0.0.1:{}/v2/models/claims/infer",
                port.trim()
            ))
            .json(&body)
            .send()
            .unwrap();
    }
    let err = fails(h, &["promote", "claims", "--yes"], 2);
    assert!(
        err.contains("gate evaluation") && err.contains("FAILED") && err.contains("AUC 0.50"),
        "{err}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&ok(h, &["alias", "list", "claims", "--json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["alias"] == "production")
            .unwrap()["version"],
        1
    );
    ok(h, &["abort", "claims", "--yes"]);
    ok(h, &["server", "stop", "claims"]);
}

/// Runs `args` paused at `point`; while it waits, `meanwhile` changes the world under it (as
/// another operator or a restarted server would), then the operation goes on. Returns the
/// process's exit code and stderr.
fn interfere_at(h: &Path, args: &[&str], point: &str, meanwhile: impl FnOnce()) -> (i32, String) {
    use std::io::{BufRead, BufReader, Read};
    let resume = h.join("resume");
    let _ = std::fs::remove_file(&resume);
    let mut child = flightdeck(h)
        .args(args)
        .env("FLIGHTDECK_FAILPOINT", point)
        .env("FLIGHTDECK_FAILPOINT_RESUME", &resume)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // Paused, it waits for the resume file forever: a failing `meanwhile` must not leave it.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(child);
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("{args:?} never reached {point}: {seen}");
        }
        seen.push_str(&line);
        if line.contains(&format!("failpoint {point} reached")) {
            break;
        }
    }
    meanwhile();
    std::fs::write(&resume, "").unwrap();
    stderr.read_to_string(&mut seen).unwrap();
    let code = child.0.wait().unwrap().code().unwrap_or(-1);
    (code, seen)
}

/// Points the model's server at `plan` through its admin API, behind flightdeck's back.
fn change_server_behind_the_back(h: &Path, plan: Value) {
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let token = std::fs::read_to_string(h.join("serve/admin.token")).unwrap();
    let status = reqwest::blocking::Client::new()
        .put(format!(
            "http://127.0.0.1:{}/flightdeck/admin/deployments/fraud",
            port.trim()
        ))
        .bearer_auth(token.trim())
        .json(&plan)
        .send()
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
}

#[test]
fn a_failed_verify_is_loud_and_rolls_back_only_when_configured() {
    let home = home();
    let h = home.0.path();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "2", "--canary", "50", "--yes"]);
    let rogue = serde_json::json!({ "stable": 3, "canary": null, "canary_percent": 0 });
    let promote = ["promote", "fraud", "--yes", "--override-gates"];

    // auto_rollback off (the default): the failure is reported and the state left for a human.
    let (code, err) = interfere_at(h, &promote, "op:after-aliases", || {
        change_server_behind_the_back(h, rogue.clone())
    });
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("VERIFY FAILED for fraud: the server reports v3 instead of v2")
            && err.contains("auto_rollback is off"),
        "{err}"
    );
    assert_eq!(state(h), ((Some(2), None), rogue.clone()));
    let journal = ok(h, &["journal", "--model", "fraud"]);
    assert!(!journal.contains("auto-rollback"), "{journal}");

    // Put things back by hand, then turn auto_rollback on and meet the same interference.
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "2", "--canary", "50", "--yes"]);
    let before = state(h);
    assert_eq!(before.0, (Some(1), Some(2)));
    let config = h.join("no-config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[environments.local]\nauto_rollback = true\n");
    std::fs::write(&config, text).unwrap();
    let (code, err) = interfere_at(h, &promote, "op:after-aliases", || {
        change_server_behind_the_back(h, rogue.clone())
    });
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("VERIFY FAILED")
            && err.contains("rolled back automatically: v1 + canary v2 50% serves again"),
        "{err}"
    );
    assert_eq!(
        state(h),
        before,
        "serving and aliases are where they started"
    );
    let journal: Value =
        serde_json::from_str(&ok(h, &["journal", "--model", "fraud", "--json"])).unwrap();
    let newest = &journal.as_array().unwrap()[0];
    assert_eq!(newest["operation"], "auto-rollback", "{newest}");
    assert_eq!(newest["outcome"], "succeeded", "{newest}");
    assert_eq!(newest["from"], "v2", "{newest}");
    assert_eq!(newest["to"], "v1 + canary v2 50%", "{newest}");
    // Older than the rollback (rows are newest first): the promote, journaled as failed.
    let promote_row = journal.as_array().unwrap()[1..]
        .iter()
        .find(|row| row["operation"] == "promote")
        .unwrap();
    assert_eq!(promote_row["outcome"], "failed", "{promote_row}");
}

/// Sends `n` one-row requests whose 4th feature is `x3`; returns how many failed with a 5xx.
fn requests_with(h: &Path, n: usize, x3: f32) -> usize {
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let url = format!("http://127.0.0.1:{}/v2/models/fraud/infer", port.trim());
    let client = reqwest::blocking::Client::new();
    let body = serde_json::json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": [50, 40, 0.1, x3] }] });
    (0..n)
        .filter(|_| {
            client
                .post(&url)
                .json(&body)
                .send()
                .unwrap()
                .status()
                .is_server_error()
        })
        .count()
}

/// The names of the checks `flightdeck smoke fraud ARGS... --json` reports failed.
fn failed_smoke_checks(h: &Path, args: &[&str]) -> Vec<String> {
    let out = common::run(h, &[&["smoke", "fraud"], args, &["--json"]].concat());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn gates_stop_a_constant_a_slow_and_an_erroring_canary() {
    let home = Home(tempfile::tempdir().unwrap());
    let h = home.0.path();
    std::fs::write(
        h.join("no-config.toml"),
        // The slow model spends 14-17 ms computing each answer where production spends
        // microseconds. A loaded machine queues both alike (production's p99 reached 20 ms on a
        // busy CI run, and 3x of that let the canary through), so the gate here judges the
        // difference: at most 8 ms above production's p99, whatever the queueing adds to both.
        "[gates]\nmin_canary_requests = 20\nmax_p99_ratio = 1.0\np99_floor_ms = 8\nmax_error_ratio_increase = 0.01\n",
    )
    .unwrap();
    let sentinels = fixture("logreg_multiclass.sentinels.json");
    for (file, with_sentinels) in [
        ("logreg_multiclass.onnx", true),
        ("constant_classifier.onnx", true),
        ("slow_classifier.onnx", false),
        ("unseen_category_classifier.onnx", false),
    ] {
        let path = fixture(file);
        let mut args = vec!["register", "fraud", path.to_str().unwrap()];
        if with_sentinels {
            args.extend(["--sentinels", sentinels.to_str().unwrap()]);
        }
        ok(h, &args);
    }
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);

    // v2 answers every row with the same probabilities: plausible, and caught by the sentinels
    // before it serves anything.
    let err = fails(h, &["deploy", "fraud", "2", "--canary", "50", "--yes"], 2);
    assert!(err.contains("sentinels"), "{err}");
    assert_eq!(state(h).0, (Some(1), None));

    // v3 is correct in shape but slow: its smoke test misses a 5 ms budget, and as a canary
    // (smoke skipped on purpose) the promote's p99 gate stops it.
    let err = fails(h, &["smoke", "fraud", "3", "--p99-budget-ms", "5"], 2);
    assert!(err.contains("failed its smoke test"), "{err}");
    let failed = failed_smoke_checks(h, &["3", "--p99-budget-ms", "5"]);
    assert_eq!(failed, ["latency"], "only latency fails");
    ok(
        h,
        &[
            "deploy",
            "fraud",
            "3",
            "--canary",
            "50",
            "--yes",
            "--skip-smoke",
        ],
    );
    assert_eq!(requests_with(h, 60, 0.2), 0);
    // The smoke test that failed and was gone past is on record with the deploy.
    let journal: Value =
        serde_json::from_str(&ok(h, &["journal", "--json", "--limit", "500"])).unwrap();
    let started = journal
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["operation"] == "deploy" && e["outcome"] == "started")
        .expect("a started deploy row");
    assert_eq!(
        started["details"]["consent"]["smoke_overridden"], true,
        "{started}"
    );
    assert_eq!(
        started["details"]["consent"]["overridden"],
        serde_json::json!(["smoke"]),
        "{started}"
    );
    let err = fails(h, &["promote", "fraud", "--yes"], 2);
    assert!(
        err.contains("gate p99 latency") && err.contains("FAILED"),
        "{err}"
    );
    assert!(!err.contains("gate 5xx errors       FAILED"), "{err}");
    ok(h, &["abort", "fraud", "--yes"]);

    // v4 fails at inference on a category it never saw (4th feature >= 3): as a canary it
    // answers those requests with 500s while production answers them all.
    ok(
        h,
        &[
            "deploy",
            "fraud",
            "4",
            "--canary",
            "50",
            "--yes",
            "--skip-smoke",
        ],
    );
    let failed = requests_with(h, 80, 7.0);
    assert!(
        failed > 10 && failed < 70,
        "about half go to the canary: {failed}"
    );
    assert_eq!(requests_with(h, 20, 1.0), 0, "known categories still work");
    let err = fails(h, &["promote", "fraud", "--yes"], 2);
    assert!(
        err.contains("gate 5xx errors") && err.contains("FAILED"),
        "{err}"
    );
    assert_eq!(state(h).0, (Some(1), Some(4)), "nothing moved");
    // The blocked promotes are on record as failed; none started.
    let journal = ok(h, &["journal", "--model", "fraud"]);
    let promotes: Vec<&str> = journal.lines().filter(|l| l.contains("promote")).collect();
    assert_eq!(promotes.len(), 2, "{journal}");
    assert!(promotes.iter().all(|l| l.contains("failed")), "{journal}");
}

#[test]
fn a_restarted_server_serves_what_the_aliases_say_canary_included() {
    let home = home();
    let h = home.0.path();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "2", "--canary", "30", "--yes"]);
    ok(h, &["server", "stop", "fraud"]);
    let out = ok(h, &["server", "start", "fraud"]);
    assert!(out.contains("canary v2"), "{out}");
    assert_eq!(
        state(h),
        (
            (Some(1), Some(2)),
            serde_json::json!({ "stable": 1, "canary": 2, "canary_percent": 30 })
        ),
        "the canary comes back at the share its deploy gave it"
    );
}

#[test]
fn a_version_that_answers_nan_fails_its_smoke_test_even_without_sentinels() {
    let home = Home(tempfile::tempdir().unwrap());
    let h = home.0.path();
    for file in ["logreg_multiclass.onnx", "nan_classifier.onnx"] {
        ok(h, &["register", "fraud", fixture(file).to_str().unwrap()]);
    }
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let failed = failed_smoke_checks(h, &["2"]);
    assert_eq!(failed, ["finite outputs", "probabilities"]);
    let err = fails(h, &["deploy", "fraud", "2", "--canary", "10", "--yes"], 2);
    assert!(err.contains("NaN or infinite"), "{err}");
    assert_eq!(state(h).0, (Some(1), None));
}

/// The journal's rows, newest first.
fn journal_rows(h: &Path) -> Vec<Value> {
    let journal: Value =
        serde_json::from_str(&ok(h, &["journal", "--json", "--limit", "500"])).unwrap();
    journal.as_array().unwrap().clone()
}

#[test]
fn every_interrupted_operation_converges_whether_finished_or_reverted() {
    let home = home();
    let h = home.0.path();

    // A first deploy killed after the server started: v1 serves with no alias naming it (the
    // fleet says so), and reverting it stops the server, as before the deploy.
    kill_at(
        h,
        &["deploy", "fraud", "1", "--direct", "--yes"],
        "op:after-serving",
    );
    let status = ok(h, &["status", "fraud", "--json", "--interval", "0.3"]);
    assert!(status.contains("!alias"), "{status}");
    let rows: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(rows[0]["serving"]["stable"], 1, "what serves: {status}");
    assert!(
        rows[0]["interrupted"].as_str().unwrap().contains("deploy"),
        "{status}"
    );
    // Nothing new starts on top of it.
    let err = fails(h, &["deploy", "fraud", "2", "--direct", "--yes"], 1);
    assert!(
        err.contains("is not finished") && err.contains("recover"),
        "{err}"
    );
    let out = flightdeck(h)
        .args(["recover", "fraud", "--revert", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("its server stops"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(state(h), ((None, None), Value::Null));
    let err = fails(h, &["recover", "fraud", "--revert", "--yes"], 1);
    assert!(err.contains("no interrupted operation"), "{err}");
    let rows = journal_rows(h);
    let deploy = rows
        .iter()
        .find(|r| r["operation"] == "deploy" && r["outcome"] == "started")
        .unwrap();
    assert!(
        rows.iter().any(|r| r["operation"] == "recover"
            && r["outcome"] == "succeeded"
            && r["details"]["recovery"]["journal_id"] == deploy["id"]),
        "the recovery is journaled as the recovery of #{}",
        deploy["id"]
    );

    // A recovery killed half way: recovering again resolves to the original's states.
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "2", "--canary", "50", "--yes"]);
    kill_at(
        h,
        &["promote", "fraud", "--yes", "--override-gates"],
        "op:after-aliases",
    );
    assert_eq!(state(h).0, (Some(2), None));
    kill_at(
        h,
        &["recover", "fraud", "--revert", "--yes"],
        "op:after-serving",
    );
    let out = ok(h, &["recover", "fraud", "--revert", "--yes"]);
    assert!(out.contains("production v2 -> v1"), "{out}");
    assert_eq!(
        state(h),
        (
            (Some(1), Some(2)),
            serde_json::json!({ "stable": 1, "canary": 2, "canary_percent": 50 })
        ),
        "back where the promote started"
    );
    let err = fails(h, &["recover", "fraud", "--revert", "--yes"], 1);
    assert!(
        err.contains("no interrupted operation"),
        "the promote and its interrupted recovery both ended: {err}"
    );

    // A plan is recorded for restarts only once the server has taken it.
    kill_at(h, &["abort", "fraud", "--yes"], "serving:before-apply");
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(h.join("serve/fraud.plan.json")).unwrap())
            .unwrap();
    assert_eq!(
        file,
        serde_json::json!({ "stable": 1, "canary": 2, "canary_percent": 50 }),
        "the file says what the server serves"
    );
    assert_eq!(state(h).1, file);
    ok(h, &["recover", "fraud", "--revert", "--yes"]);
}

/// Damages a version's stored file, keeping its length (a flipped bit on disk).
fn damage(h: &Path, version: u64) {
    let versions: Value = serde_json::from_str(&ok(h, &["versions", "fraud", "--json"])).unwrap();
    let sha = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == version)
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let path = h.join(format!("artifacts/sha256/{}/{sha}.onnx", &sha[..2]));
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_damaged_canary_artifact_blocks_its_promote_and_never_takes_stable_down() {
    let home = home();
    let h = home.0.path();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "2", "--canary", "50", "--yes"]);
    traffic(h, 60);
    damage(h, 2);
    // The running server holds v2 in memory; a restart would load the damaged file.
    let err = fails(h, &["promote", "fraud", "--yes"], 2);
    assert!(
        err.contains("gate artifact         FAILED") && err.contains("damaged"),
        "{err}"
    );
    // A damaged file is repaired, never gone past: a restart would load it.
    let err = fails(h, &["promote", "fraud", "--yes", "--override-gates"], 2);
    assert!(err.contains("cannot be overridden"), "{err}");
    // Restarted on the damaged canary: stable serves alone, no crash loop.
    ok(h, &["server", "stop", "fraud"]);
    std::fs::write(
        h.join("serve/fraud.plan.json"),
        r#"{"stable":1,"canary":2,"canary_percent":50}"#,
    )
    .unwrap();
    let err = fails(
        h,
        &[
            "server",
            "start",
            "fraud",
            "--version",
            "1",
            "--canary",
            "2",
            "--canary-percent",
            "50",
        ],
        1,
    );
    assert!(err.contains("but the server serves v1"), "{err}");
    let servers: Value = serde_json::from_str(&ok(h, &["server", "list", "--json"])).unwrap();
    assert_eq!(
        servers[0]["serving"],
        serde_json::json!({ "stable": 1, "canary": null, "canary_percent": 0 }),
        "{servers}"
    );
    let status = ok(h, &["status", "fraud", "--json", "--interval", "0.3"]);
    assert!(
        status.contains("!alias"),
        "the missing canary shows: {status}"
    );
    traffic(h, 20);
    ok(h, &["abort", "fraud", "--yes"]);
    // Registering the original file again repairs the stored one, and says so.
    let out = common::register(h, "fraud", "mlp_classifier.onnx");
    assert!(out.contains("v2") && out.contains("repaired"), "{out}");
    ok(h, &["smoke", "fraud", "2"]);

    // Production's own file damaged and its server crash-looping on it: a rollback brings
    // production back on the same port.
    ok(h, &["deploy", "fraud", "2", "--direct", "--yes"]);
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    damage(h, 2);
    let servers: Value = serde_json::from_str(&ok(h, &["server", "list", "--json"])).unwrap();
    let pid = servers[0]["record"]["server_pid"].as_u64().unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
    let out = ok(h, &["rollback", "fraud", "--to", "1", "--yes"]);
    assert!(out.contains("production v2 -> v1"), "{out}");
    assert_eq!(
        state(h).1,
        serde_json::json!({ "stable": 1, "canary": null, "canary_percent": 0 })
    );
    assert_eq!(
        std::fs::read_to_string(h.join("serve/fraud.port")).unwrap(),
        port,
        "the same port"
    );
    // Stopped and started again: the same port too, for its clients.
    ok(h, &["server", "stop", "fraud"]);
    ok(h, &["server", "start", "fraud"]);
    assert_eq!(
        std::fs::read_to_string(h.join("serve/fraud.port")).unwrap(),
        port
    );
}

/// Sends each row of `rows` as a one-row request to the model's local server.
fn rows_as_requests(h: &Path, rows: &[Vec<f32>]) {
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let url = format!("http://127.0.0.1:{}/v2/models/fraud/infer", port.trim());
    let client = reqwest::blocking::Client::new();
    for row in rows {
        let body = serde_json::json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": row }] });
        let status = client.post(&url).json(&body).send().unwrap().status();
        assert!(status.is_success(), "{status}");
    }
}

/// The rows of the classifiers' reference table (amount, age, tenure, score).
fn reference_rows() -> Vec<Vec<f32>> {
    let text = std::fs::read_to_string(fixture("classifier.reference.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect()
}

/// The promote's gate `name` from a refused `promote fraud --json --yes` (its plan on stdout).
fn promote_gate(h: &Path, name: &str) -> Value {
    let out = common::run(h, &["promote", "fraud", "--json", "--yes"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let refused: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(refused["outcome"], "refused", "{refused}");
    let plan = &refused["plan"];
    plan["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no gate {name}: {plan}"))
}

#[test]
fn a_canary_that_answers_unlike_production_is_stopped_without_labels() {
    // The incident: a model that answers every row with the same probabilities, registered
    // without sentinels, passes its smoke test and serves. On the same traffic its predicted
    // classes differ from production's: the answers gate stops its promote, and a canary
    // retrained with another algorithm on the same data passes it.
    let home = Home(tempfile::tempdir().unwrap());
    let h = home.0.path();
    std::fs::write(
        h.join("no-config.toml"),
        "[gates]\nmin_canary_requests = 20\nmax_p99_ratio = 1000\nmin_answer_rows = 150\n",
    )
    .unwrap();
    let reference = fixture("classifier.reference.csv");
    for file in [
        "logreg_multiclass.onnx",
        "constant_classifier.onnx",
        "gb_multiclass.onnx",
    ] {
        let path = fixture(file);
        let args = ["register", "fraud", path.to_str().unwrap()];
        ok(
            h,
            &[&args[..], &["--reference", reference.to_str().unwrap()]].concat(),
        );
    }
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "2", "--canary", "50", "--yes"]);
    let rows = reference_rows();

    // Before enough rows on each side: the gate waits and says how many more it needs...
    rows_as_requests(h, &rows[..40]);
    let early = promote_gate(h, "answers");
    assert_eq!(early["status"], "not_enough_data", "{early}");
    // ...unless the evidence is already overwhelming (30 rows each, p < 1e-6): a failure is
    // judged early, so a canary this wrong answers no one for long.
    rows_as_requests(h, &rows[40..100]);
    let overwhelming = promote_gate(h, "answers");
    assert_eq!(overwhelming["status"], "fail", "{overwhelming}");
    assert!(
        overwhelming["evidence"]
            .as_str()
            .unwrap()
            .contains("judged before 150 rows each since p < 1e-6"),
        "{overwhelming}"
    );

    rows_as_requests(h, &rows[100..600]);
    let drift = ok(h, &["drift", "fraud"]);
    assert!(
        drift.contains("v2's answers vs v1's: output_label differs on at least"),
        "{drift}"
    );
    let gate = promote_gate(h, "answers");
    assert_eq!(gate["status"], "fail", "{gate}");
    let evidence = gate["evidence"].as_str().unwrap();
    assert!(evidence.contains("allowed 10.0%"), "{evidence}");
    let err = fails(h, &["promote", "fraud", "--yes"], 2);
    assert!(
        err.contains("gate answers") && err.contains("FAILED"),
        "{err}"
    );
    assert_eq!(state(h).0, (Some(1), Some(2)), "nothing moved");
    ok(h, &["abort", "fraud", "--yes"]);

    // Gradient boosting on the same data answers like production on most rows: promoted.
    ok(h, &["deploy", "fraud", "3", "--canary", "50", "--yes"]);
    rows_as_requests(h, &rows[..600]);
    let out = common::run(h, &["promote", "fraud", "--yes"]);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("gate answers"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains("passed") && line.contains("v3's answers vs v1's"),
        "{line}"
    );
    assert_eq!(state(h).0, (Some(3), None));
}
