//! Progressive delivery end to end on real `flightdeck serve` processes: a canary handed to
//! `flightdeck watch` reaches production by itself while its gates pass (across restarts of
//! `watch`, held while paused), and one whose gate fails is aborted by itself, journaled and
//! notified to a webhook and a real Alertmanager.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::webhook::Hook;
use common::{fixture, ok};
use serde_json::{Value, json};

struct Home(tempfile::TempDir);

impl Drop for Home {
    fn drop(&mut self) {
        let _ = common::run(self.0.path(), &["server", "stop", "fraud"]);
    }
}

/// Gates that need little traffic and do not judge a loaded machine's latency; v1 in
/// production; v2 a good candidate, v3 one that fails at inference on a category it never saw
/// (4th feature >= 3) with a 500.
fn home(receivers: &str) -> Home {
    let home = Home(tempfile::tempdir().unwrap());
    let h = home.0.path();
    std::fs::write(
        h.join("no-config.toml"),
        format!(
            "[gates]\nmin_canary_requests = 20\nmax_p99_ratio = 1000\nmax_error_ratio_increase = 0.01\n\n{receivers}"
        ),
    )
    .unwrap();
    for file in [
        "logreg_multiclass.onnx",
        "mlp_classifier.onnx",
        "unseen_category_classifier.onnx",
    ] {
        ok(h, &["register", "fraud", fixture(file).to_str().unwrap()]);
    }
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    home
}

/// Requests sent from a thread until dropped, one row each with `x3` as its 4th feature.
struct Traffic(Arc<AtomicBool>);

impl Drop for Traffic {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn traffic(h: &Path, x3: f32) -> Traffic {
    let stop = Arc::new(AtomicBool::new(false));
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let url = format!("http://127.0.0.1:{}/v2/models/fraud/infer", port.trim());
    let body = json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": [50, 40, 0.1, x3] }] });
    let stopped = stop.clone();
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::new();
        while !stopped.load(Ordering::SeqCst) {
            // The server may be restarting between steps: a refused request is tried again.
            let _ = client.post(&url).json(&body).send();
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    Traffic(stop)
}

/// `flightdeck rollout fraud --json`: the model's latest rollout.
fn rollout(h: &Path) -> Value {
    serde_json::from_str(&ok(h, &["rollout", "fraud", "--json"])).unwrap()
}

/// (production, canary) from the aliases, and the canary's share the server reports.
fn deployed(h: &Path) -> (Option<u64>, Option<u64>, Option<u64>) {
    let (production, canary) = common::production_and_canary(h, "fraud");
    let servers: Value = serde_json::from_str(&ok(h, &["server", "list", "--json"])).unwrap();
    let serving = &servers[0]["serving"];
    let share = serving["canary"]
        .as_u64()
        .and(serving["canary_percent"].as_u64());
    (production, canary, share)
}

/// Runs `watch` for a few one-second rounds, as a restarted `watch` would; its output.
fn watch_for(h: &Path, rounds: u32) -> String {
    ok(
        h,
        &[
            "watch",
            "--every",
            "1s",
            "--rounds",
            &rounds.to_string(),
            "--json",
        ],
    )
}

/// Runs `watch` in short runs until the rollout reaches `phase` (a run ends, the next starts
/// from what the registry kept); every run's output.
fn watch_until(h: &Path, phase: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut said = String::new();
    loop {
        said.push_str(&watch_for(h, 3));
        let r = rollout(h);
        if r["phase"] == phase {
            return said;
        }
        assert!(
            Instant::now() < deadline,
            "the rollout never reached {phase}: {r:#}\nwatch said:\n{said}"
        );
    }
}

/// The journal's operations about the model, oldest first.
fn journal(h: &Path) -> Vec<Value> {
    let rows: Value = serde_json::from_str(&ok(
        h,
        &["journal", "--json", "--model", "fraud", "--limit", "500"],
    ))
    .unwrap();
    let mut rows = rows.as_array().unwrap().clone();
    rows.reverse();
    rows
}

/// The notices a webhook heard: (event, severity, summary).
fn notices(hook: &Hook) -> Vec<(String, String, String)> {
    hook.bodies()
        .iter()
        .filter_map(|b| b.get("notice"))
        .map(|n| {
            (
                n["event"].as_str().unwrap().to_string(),
                n["severity"].as_str().unwrap().to_string(),
                n["summary"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_healthy_rollout_reaches_production_by_itself_across_restarts_of_watch() {
    let hook = Hook::start();
    let home = home(&format!(
        "[[receivers]]\nkind = \"webhook\"\nurl = \"{}/hook\"\n",
        hook.url
    ));
    let h = home.0.path();
    let _traffic = traffic(h, 0.2);
    let started = ok(
        h,
        &[
            "rollout",
            "fraud",
            "2",
            "--steps",
            "30,60,100",
            "--interval",
            "2s",
            "--yes",
        ],
    );
    assert!(started.contains("rollout of fraud v2 started"), "{started}");
    assert_eq!(deployed(h), (Some(1), Some(2), Some(30)), "the first step");
    let r = rollout(h);
    assert_eq!(r["phase"], "running", "{r:#}");
    assert_eq!(r["checked_at"], Value::Null, "not judged before watch runs");

    // Paused, it stays at its step however long watch runs.
    ok(h, &["rollout", "fraud", "--pause"]);
    watch_for(h, 4);
    assert_eq!(rollout(h)["phase"], "paused");
    assert_eq!(deployed(h), (Some(1), Some(2), Some(30)), "held at 30%");
    // No watch for longer than three of its rounds and a margin: the fleet says the canary is
    // unguarded.
    std::thread::sleep(Duration::from_secs(15));
    let status: Value = serde_json::from_str(&ok(h, &["status", "--json"])).unwrap();
    assert!(
        status[0]["rollout"]["watch_silent_seconds"]
            .as_i64()
            .unwrap()
            > 13,
        "{status:#}"
    );
    assert!(
        status[0]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "!watch"),
        "{status:#}"
    );
    let shown = ok(h, &["rollout", "fraud"]);
    assert!(shown.contains("WATCH SILENT for"), "{shown}");
    let refused = common::fails(h, &["rollout", "fraud", "2", "--yes"], 1);
    assert!(
        refused.contains("a rollout of v2 is under way"),
        "{refused}"
    );

    // Resumed, short runs of watch (each one a restart) carry it through 60% to production.
    ok(h, &["rollout", "fraud", "--resume"]);
    let said = watch_until(h, "completed");
    assert_eq!(deployed(h), (Some(2), None, None), "v2 is production");
    let r = rollout(h);
    assert!(
        r["note"]
            .as_str()
            .unwrap()
            .contains("v2 promoted: production v1 -> v2"),
        "{r:#}"
    );
    assert!(said.contains("rollout stepped"), "{said}");
    assert!(said.contains("rollout completed"), "{said}");

    // On record, in order: the rollout's own rows and the operations it ran.
    let operations: Vec<String> = journal(h)
        .iter()
        .filter(|e| e["outcome"] != "started")
        .map(|e| e["operation"].as_str().unwrap().to_string())
        .collect();
    let expected = [
        "deploy",
        "rollout started",
        "rollout paused",
        "rollout resumed",
        "deploy",
        "rollout stepped",
        "promote",
        "rollout completed",
    ];
    let mut rest = operations.iter().skip(1);
    for op in expected {
        assert!(
            rest.any(|o| o == op),
            "{op} missing or out of order: {operations:?}"
        );
    }
    // The stepped row carries the gates that passed over the step.
    let stepped = journal(h)
        .into_iter()
        .find(|e| e["operation"] == "rollout stepped")
        .unwrap();
    let sentence = stepped["details"]["sentence"].as_str().unwrap();
    assert!(
        sentence.contains("v2 now takes 60%") && sentence.contains("canary traffic: v2 served"),
        "{sentence}"
    );

    // The webhook heard each change of the rollout once, by hand or by watch.
    let heard: Vec<String> = notices(&hook).into_iter().map(|n| n.0).collect();
    assert_eq!(
        heard,
        [
            "rollout started",
            "rollout paused",
            "rollout resumed",
            "rollout stepped",
            "rollout completed"
        ]
    );
    // status --json shows the rollout that ended.
    let status: Value = serde_json::from_str(&ok(h, &["status", "--json"])).unwrap();
    let row = &status[0]["rollout"];
    assert_eq!(row["phase"], "completed", "{status:#}");
}

#[test]
fn a_failing_canary_is_aborted_by_its_rollout_with_the_gate_evidence() {
    let hook = Hook::start();
    let scratch = tempfile::tempdir().unwrap();
    let alertmanager = common::alertmanager::start(scratch.path());
    let home = home(&format!(
        "[[receivers]]\nkind = \"webhook\"\nurl = \"{}/hook\"\n\n[[receivers]]\nkind = \"alertmanager\"\nurl = \"{}\"\n",
        hook.url, alertmanager.url
    ));
    let h = home.0.path();
    // Rows with a category v3 never saw: production answers them, v3 fails with a 500.
    let _traffic = traffic(h, 7.0);
    ok(
        h,
        &[
            "rollout",
            "fraud",
            "3",
            "--steps",
            "50,100",
            "--interval",
            "1h",
            "--skip-smoke",
            "--yes",
        ],
    );
    assert_eq!(deployed(h), (Some(1), Some(3), Some(50)));
    // Paused to look into it, and an hour per step: only a failing gate ends it early, and a
    // pause holds the steps, not the guard.
    ok(h, &["rollout", "fraud", "--pause"]);
    watch_until(h, "aborted");
    assert_eq!(deployed(h), (Some(1), None, None), "the canary is gone");
    let r = rollout(h);
    let note = r["note"].as_str().unwrap();
    assert!(
        note.contains("aborted automatically while paused at step 1 of 2 (50%)")
            && note.contains("5xx errors"),
        "{note}"
    );
    let failed: Vec<&Value> = r["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{r:#}");
    assert_eq!(failed[0]["name"], "5xx errors");
    assert!(
        failed[0]["evidence"]
            .as_str()
            .unwrap()
            .contains("in step 1 of 2 (50%)"),
        "judged over the step's window: {r:#}"
    );

    // Journaled: the abort the rollout ran through the operations path, and why.
    let rows = journal(h);
    assert!(
        rows.iter()
            .any(|e| e["operation"] == "abort" && e["outcome"] == "succeeded"),
        "{rows:#?}"
    );
    let aborted = rows
        .iter()
        .find(|e| e["operation"] == "rollout aborted")
        .expect("rollout aborted on record");
    assert!(
        aborted["details"]["sentence"]
            .as_str()
            .unwrap()
            .contains("5xx errors"),
        "{aborted}"
    );

    // Notified: the webhook with the evidence, Alertmanager as a warning to route.
    let heard = notices(&hook);
    let abort = heard
        .iter()
        .find(|n| n.0 == "rollout aborted")
        .expect("the webhook heard of the abort");
    assert_eq!(abort.1, "warning");
    assert!(abort.2.contains("5xx errors"), "{abort:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alerts: Value = reqwest::blocking::get(format!("{}/api/v2/alerts", alertmanager.url))
            .unwrap()
            .json()
            .unwrap();
        let found = alerts.as_array().unwrap().iter().find(|a| {
            a["labels"]["alertname"] == "rollout_aborted" && a["labels"]["model"] == "fraud"
        });
        if let Some(a) = found {
            assert_eq!(a["labels"]["severity"], "warning", "{a}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Alertmanager never heard: {alerts}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The fleet says so for the hour after.
    let status: Value = serde_json::from_str(&ok(h, &["status", "--json"])).unwrap();
    let model = &status[0];
    assert_eq!(model["rollout"]["phase"], "aborted", "{status:#}");
    assert!(
        model["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "!rollout"),
        "{status:#}"
    );
}

/// Sends `n` good one-row requests.
fn requests(h: &Path, n: usize) {
    common::rows_to_fraud(
        h,
        (0..n).map(|_| vec![json!(50), json!(40), json!(0.1), json!(0.2)]),
    );
}

#[test]
fn a_rollout_short_of_traffic_waits_says_for_what_and_a_receiver_that_was_down_still_hears() {
    // The receiver is down for its first two posts: what watch could not deliver is sent again.
    let hook = Hook::refusing_first(2);
    let home = home(&format!(
        "[[receivers]]\nkind = \"webhook\"\nurl = \"{}/hook\"\n",
        hook.url
    ));
    let h = home.0.path();
    // Nothing to judge on: refused before anything moves.
    let refused = common::fails(h, &["rollout", "fraud", "2", "--steps", "100", "--yes"], 1);
    assert!(refused.contains("a canary step below 100"), "{refused}");
    ok(
        h,
        &[
            "rollout",
            "fraud",
            "2",
            "--steps",
            "50,100",
            "--interval",
            "1s",
            "--yes",
        ],
    );
    // No traffic at all: the step's interval passes, and the rollout waits, saying for what.
    let said = watch_for(h, 8);
    let r = rollout(h);
    assert_eq!(r["phase"], "waiting", "{r:#}\n{said}");
    let note = r["note"].as_str().unwrap();
    assert!(
        note.contains("step 1 of 2 (50%) waits for data: canary traffic: v2 served 0 of the 20 requests needed")
            && note.contains("no canary requests in this step yet"),
        "{note}"
    );
    assert_eq!(deployed(h), (Some(1), Some(2), Some(50)), "nothing moved");
    assert!(
        said.contains("undelivered"),
        "the receiver was down: {said}"
    );
    let heard: Vec<String> = notices(&hook).into_iter().map(|n| n.0).collect();
    assert_eq!(
        heard,
        ["rollout waiting"],
        "sent again once the receiver was back"
    );

    // A trickle: the wait gets an estimate from the canary's rate.
    requests(h, 10);
    watch_for(h, 2);
    let note = rollout(h)["note"].as_str().unwrap().to_string();
    assert!(
        note.contains("canary requests/s, about"),
        "an estimate from the canary's rate: {note}"
    );
    // Enough: it goes on by itself.
    let _traffic = traffic(h, 0.2);
    watch_until(h, "completed");
    assert_eq!(deployed(h), (Some(2), None, None));
}
