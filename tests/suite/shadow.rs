//! Shadow traffic on a real model server: the candidate answers a copy of production's
//! requests, its agreement and confusion table match what onnxruntime's answers on the same
//! rows say (recorded by tests/fixtures/models/generate.py), and clients only ever get
//! production's answers.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::ok;
use serde_json::{Value, json};

struct Stop<'a>(&'a Path);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = common::run(self.0, &["server", "stop", "fraud"]);
    }
}

fn recorded(name: &str) -> Value {
    let path = common::fixture(&format!("{name}.expected.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The shadow's report once it has compared `rows` rows.
fn report_after(h: &Path, rows: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let report: Value = serde_json::from_str(&ok(h, &["shadow", "fraud", "--json"])).unwrap();
        if report["requests"].as_u64().unwrap() >= rows {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "the shadow never caught up: {report:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_shadow_reports_the_agreement_onnxruntime_measures_and_clients_see_only_production() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    common::register(h, "fraud", "gb_multiclass.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let _stop = Stop(h);
    let out = ok(h, &["shadow", "fraud", "2", "--percent", "100"]);
    assert!(
        out.contains("shadow started: v2 answers a copy of 100% of production v1's requests"),
        "{out}"
    );

    // The 300 rows onnxruntime answered with both models.
    let (v1, v2) = (recorded("logreg_multiclass"), recorded("gb_multiclass"));
    assert_eq!(v1["inputs"], v2["inputs"]);
    let data = v1["inputs"]["X"]["data"].as_array().unwrap().clone();
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let url = format!("http://127.0.0.1:{}/v2/models/fraud/infer", port.trim());
    let client = reqwest::blocking::Client::new();
    for row in data.chunks(4) {
        let body = json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": row }] });
        let answer: Value = client
            .post(&url)
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            answer["model_version"], "1",
            "clients get production's answers"
        );
    }
    let report = report_after(h, 300);
    assert_eq!(report["errors"], 0, "{report:#}");
    assert_eq!(report["dropped"], 0, "{report:#}");
    assert_eq!(report["output"], "output_label", "{report:#}");
    assert_eq!(report["rows"], 300, "{report:#}");
    // Measured independently: onnxruntime's labels of the two models on the same rows.
    let (l1, l2) = (
        v1["outputs"]["output_label"]["data"].as_array().unwrap(),
        v2["outputs"]["output_label"]["data"].as_array().unwrap(),
    );
    let agreed = l1.iter().zip(l2).filter(|(a, b)| a == b).count();
    assert_eq!(
        report["agreement"].as_f64().unwrap(),
        agreed as f64 / 300.0,
        "{report:#}"
    );
    let mut confusion = serde_json::Map::new();
    for (a, b) in l1.iter().zip(l2) {
        let row = confusion.entry(a.to_string()).or_insert_with(|| json!({}));
        let cell = row[b.to_string()].as_u64().unwrap_or(0);
        row[b.to_string()] = json!(cell + 1);
    }
    assert_eq!(report["confusion"], Value::Object(confusion), "{report:#}");
    assert!(
        report["score_difference"][2].as_f64().unwrap() > 0.0,
        "{report:#}"
    );
    // The same in /metrics, a valid exposition.
    let metrics = client
        .get(format!("http://127.0.0.1:{}/metrics", port.trim()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "flightdeck_shadow_agreement_ratio{{model=\"fraud\",version=\"2\",versus=\"1\"}} {}",
            agreed as f64 / 300.0
        )),
        "{metrics}"
    );
    common::promtool_check(&metrics);
    // And in the fleet, as `status --json` reads the server.
    let status: Value = serde_json::from_str(&ok(h, &["status", "--json"])).unwrap();
    let shadow = &status[0]["shadow"];
    // Versions and counts as `flightdeck shadow --json` gives them: numbers, whole.
    assert_eq!(shadow["version"], 2, "{status:#}");
    assert_eq!(shadow["versus"], 1, "{status:#}");
    assert_eq!(shadow["rows"], 300, "{status:#}");
    assert_eq!(shadow["errors"], 0, "{status:#}");
    assert_eq!(
        shadow["agreement"].as_f64().unwrap(),
        agreed as f64 / 300.0,
        "{status:#}"
    );
    let text = ok(h, &["status"]);
    assert!(
        text.contains(&format!("shadow v2 {:.1}%", agreed as f64 / 3.0)),
        "{text}"
    );
    let text = ok(h, &["shadow", "fraud"]);
    assert!(
        text.contains(&format!(
            "v2 agrees with v1 on {:.1}% of 300 rows (output_label)",
            agreed as f64 / 3.0
        )),
        "{text}"
    );

    // A share: exactly 10 of every 100 requests copied.
    ok(h, &["shadow", "fraud", "2", "--percent", "10"]);
    for row in data.chunks(4) {
        let body = json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": row }] });
        client.post(&url).json(&body).send().unwrap();
    }
    let report = report_after(h, 30);
    std::thread::sleep(Duration::from_millis(500));
    let report_later: Value = serde_json::from_str(&ok(h, &["shadow", "fraud", "--json"])).unwrap();
    assert_eq!(report["requests"], 30, "{report:#}");
    assert_eq!(report_later["requests"], 30, "{report_later:#}");
    ok(h, &["shadow", "fraud", "--stop"]);
    let err = common::fails(h, &["shadow", "fraud"], 1);
    assert!(err.contains("no shadow runs for fraud"), "{err}");
    let journal = ok(h, &["journal", "--model", "fraud"]);
    assert!(
        journal.contains("shadow started") && journal.contains("shadow stopped"),
        "{journal}"
    );
}

/// Sends the 300 rows generate.py recorded as one-row requests.
fn recorded_traffic(h: &Path) {
    let data = recorded("logreg_multiclass")["inputs"]["X"]["data"]
        .as_array()
        .unwrap()
        .clone();
    common::rows_to_fraud(h, data.chunks(4).map(<[Value]>::to_vec));
}

#[test]
fn a_deploy_can_require_a_shadow_phase_that_agreed_with_production() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(
        h.join("no-config.toml"),
        "[gates]\nmin_shadow_agreement = 0.8\nmin_shadow_rows = 100\n",
    )
    .unwrap();
    for file in [
        "logreg_multiclass.onnx",
        "gb_multiclass.onnx",
        "constant_classifier.onnx",
    ] {
        common::register(h, "fraud", file);
    }
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let _stop = Stop(h);
    // No shadow yet: the canary deploy is refused, saying what to do.
    let err = common::fails(h, &["deploy", "fraud", "2", "--canary", "10", "--yes"], 2);
    assert!(
        err.contains("v2 has not run in shadow beside production v1"),
        "{err}"
    );
    // A shadow phase that agreed (87.3% of 300 rows >= 80%): the deploy goes ahead.
    ok(h, &["shadow", "fraud", "2", "--percent", "100"]);
    recorded_traffic(h);
    report_after(h, 300);
    // Started again while it runs: the running one is stopped first, its report journaled;
    // a later, shorter phase does not undo the one long enough to judge.
    ok(h, &["shadow", "fraud", "2", "--percent", "100"]);
    ok(h, &["shadow", "fraud", "--stop"]);
    let journal: Value =
        serde_json::from_str(&ok(h, &["journal", "--json", "--model", "fraud"])).unwrap();
    let stopped: Vec<u64> = journal
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == "shadow stopped")
        .map(|e| e["details"]["shadow"]["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(stopped, [0, 300], "newest first: {journal:#}");
    let out = ok(h, &["deploy", "fraud", "2", "--canary", "10", "--yes"]);
    assert!(out.contains("canary v2 at 10%"), "{out}");
    ok(h, &["abort", "fraud", "--yes"]);
    // One that answers a single class to everything: its shadow phase says so, and it stops it.
    ok(h, &["shadow", "fraud", "3", "--percent", "100"]);
    recorded_traffic(h);
    report_after(h, 300);
    ok(h, &["shadow", "fraud", "--stop"]);
    let err = common::fails(h, &["deploy", "fraud", "3", "--canary", "10", "--yes"], 2);
    assert!(
        err.contains("v3 agreed with v1 on") && err.contains("(required 80.00% of at least 100)"),
        "{err}"
    );
    // A server stopped with a shadow running ends it and says so; the report is journaled.
    ok(h, &["shadow", "fraud", "3", "--percent", "100"]);
    let out = ok(h, &["server", "stop", "fraud"]);
    assert!(
        out.contains("the shadow of v3 ended with the server"),
        "{out}"
    );
    let journal = ok(h, &["journal", "--model", "fraud", "--limit", "3"]);
    assert!(journal.contains("shadow stopped"), "{journal}");
}

/// Kills the server of fraud outright and waits until its supervisor has started another.
fn crash_and_wait(h: &Path) {
    let record = || -> Value {
        serde_json::from_str(&std::fs::read_to_string(h.join("serve/fraud.server.json")).unwrap())
            .unwrap()
    };
    let before = record();
    let pid = before["server_pid"].as_u64().unwrap();
    common::kill_outright(pid);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = record();
        let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap_or_default();
        let healthy = !port.trim().is_empty()
            && reqwest::blocking::get(format!("http://127.0.0.1:{}/v2/health/ready", port.trim()))
                .is_ok_and(|r| r.status().is_success());
        if now["server_pid"].as_u64().is_some_and(|p| p != pid) && healthy {
            return;
        }
        assert!(Instant::now() < deadline, "never restarted: {now}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_shadow_runs_again_in_a_server_restarted_after_a_crash_and_not_after_it_was_stopped() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    common::register(h, "fraud", "gb_multiclass.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let _stop = Stop(h);
    ok(h, &["shadow", "fraud", "2", "--percent", "100"]);
    crash_and_wait(h);
    // The restarted server runs the same shadow (its counts start again: a new process).
    recorded_traffic(h);
    let report = report_after(h, 300);
    assert_eq!(report["version"], 2, "{report:#}");
    assert_eq!(report["percent"], 100, "{report:#}");
    // Its counts start with the new process, and it says so.
    assert!(report["resumed_at"].is_string(), "{report:#}");
    let text = ok(h, &["shadow", "fraud"]);
    assert!(
        text.contains("counted since its server restarted at"),
        "{text}"
    );
    // Asking production to shadow itself is refused, and the running shadow goes on.
    let err = common::fails(h, &["shadow", "fraud", "1"], 1);
    assert!(err.contains("v1 is production"), "{err}");
    let still: Value = serde_json::from_str(&ok(h, &["shadow", "fraud", "--json"])).unwrap();
    assert_eq!(still["version"], 2, "{still:#}");
    // Stopped, it stays stopped through the next crash.
    ok(h, &["shadow", "fraud", "--stop"]);
    crash_and_wait(h);
    let err = common::fails(h, &["shadow", "fraud"], 1);
    assert!(err.contains("no shadow"), "{err}");
}
