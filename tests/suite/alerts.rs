//! Alert rules: the config's rules, and the same rules exported for a team's own Prometheus,
//! loaded into a real one that fires and resolves them on a real model server's series.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::ok;
use common::webhook::Hook;
use serde_json::{Value, json};

struct Stop<'a>(&'a Path);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = common::run(self.0, &["server", "stop", "fraud"]);
    }
}

/// Sends `n` requests to the model's server: `bad` of every 4 have a row of 3 values where the
/// model takes 4 (answered 400).
fn traffic(endpoint: &str, n: usize, bad: usize) {
    let client = reqwest::blocking::Client::new();
    for i in 0..n {
        let data = if i % 4 < bad {
            json!([50, 40, 0.1])
        } else {
            json!([50, 40, 0.1, 0.2])
        };
        let width = data.as_array().unwrap().len();
        let body = json!({ "inputs": [{ "name": "X", "shape": [1, width], "datatype": "FP32", "data": data }] });
        let _ = client
            .post(format!("{endpoint}/v2/models/fraud/infer"))
            .json(&body)
            .send();
    }
}

/// The state of the alert `name` in Prometheus now (`pending`, `firing`), if it is active.
fn alert_state(prometheus: &str, name: &str) -> Option<String> {
    let alerts: Value = reqwest::blocking::get(format!("{prometheus}/api/v1/alerts"))
        .ok()?
        .json()
        .ok()?;
    alerts["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .and_then(|a| a["state"].as_str().map(str::to_string))
}

#[test]
fn exported_rules_fire_and_resolve_in_a_real_prometheus() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(
        h.join("no-config.toml"),
        "[[alerts]]\nname = \"fraud-4xx\"\nsignal = \"client_errors\"\nabove = 0.2\nfor = \"3s\"\nseverity = \"critical\"\nmodel = \"fraud\"\nlabels = { team = \"risk\" }\n",
    )
    .unwrap();
    let listed = ok(h, &["alerts", "list"]);
    assert!(
        listed.contains("client_errors > 0.2 for 3s") && listed.contains("critical"),
        "{listed}"
    );
    let rules = ok(h, &["alerts", "rules", "--window", "10s"]);
    common::register(h, "fraud", "logreg_multiclass.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let _stop = Stop(h);
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let target = format!("127.0.0.1:{}", port.trim());
    let endpoint = format!("http://{target}");
    let prom = common::prometheus::start_with_rules(h, &target, Some(&rules));

    // Half the requests refused: over 0.2 for 3 s, the alert goes pending, then fires.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen_pending = false;
    loop {
        traffic(&endpoint, 40, 2);
        match alert_state(&prom.url, "fraud-4xx").as_deref() {
            Some("firing") => break,
            Some("pending") => seen_pending = true,
            _ => {}
        }
        assert!(Instant::now() < deadline, "the alert never fired");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(seen_pending, "pending before firing (for: 3s)");
    let alerts: Value = reqwest::blocking::get(format!("{}/api/v1/alerts", prom.url))
        .unwrap()
        .json()
        .unwrap();
    let alert = &alerts["data"]["alerts"][0];
    assert_eq!(alert["labels"]["severity"], "critical", "{alert}");
    assert_eq!(alert["labels"]["team"], "risk", "{alert}");
    assert_eq!(alert["labels"]["model"], "fraud", "{alert}");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("fraud v1: client_errors is 0."),
        "{alert}"
    );

    // Only good requests: once the 10 s window holds none of the refused ones, it resolves.
    let deadline = Instant::now() + Duration::from_secs(60);
    while alert_state(&prom.url, "fraud-4xx").is_some() {
        traffic(&endpoint, 40, 0);
        assert!(Instant::now() < deadline, "the alert never resolved");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `flightdeck watch --json` every second for at most 60 rounds, with `env` set; its events
/// as they are printed.
fn watch(
    h: &Path,
    env: &[(&str, &str)],
) -> (std::process::Child, std::sync::mpsc::Receiver<Value>) {
    use std::io::BufRead;
    let mut child = common::flightdeck(h)
        .envs(env.iter().copied())
        .args(["watch", "--every", "1s", "--rounds", "60", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (lines, events) = std::sync::mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = lines.send(v);
            }
        }
    });
    (child, events)
}

/// The rule both tests of `watch` judge: half the requests refused is far past 0.2.
const RULE: &str = "[[alerts]]\nname = \"fraud-4xx\"\nsignal = \"client_errors\"\nabove = 0.2\nfor = \"2s\"\nseverity = \"critical\"\n\n";

#[test]
fn watch_says_and_journals_an_alert_firing_and_resolving() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(h.join("no-config.toml"), RULE).unwrap();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let _stop = Stop(h);
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let endpoint = format!("http://127.0.0.1:{}", port.trim());

    // Where the alerts go: a real Alertmanager and a webhook receiver of the test's own.
    let alertmanager = common::alertmanager::start(h);
    let hook = Hook::start();
    // A second webhook that wants to hear of a firing alert again every second.
    let repeating = Hook::start();
    std::fs::write(
        h.join("no-config.toml"),
        format!(
            "{RULE}[[receivers]]\nkind = \"alertmanager\"\nurl = \"{}\"\n\n[[receivers]]\nkind = \"webhook\"\nurl = \"{}/hook\"\nsecret_env = \"FD_TEST_HOOK_SECRET\"\n\n[[receivers]]\nkind = \"webhook\"\nurl = \"{}/again\"\nrepeat = \"1s\"\n",
            alertmanager.url, hook.url, repeating.url
        ),
    )
    .unwrap();
    let (mut watch, events) = watch(h, &[("FD_TEST_HOOK_SECRET", "s3cret")]);
    // Until the alert fires: half the requests refused; then only good ones until it resolves.
    let wait_for = |event: &str, bad: usize| -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            traffic(&endpoint, 30, bad);
            while let Ok(v) = events.try_recv() {
                if v["event"] == event {
                    return v;
                }
            }
            assert!(Instant::now() < deadline, "no {event} event");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let refusals_began = Instant::now();
    let fired = wait_for("firing", 2);
    let alert = &fired["alert"];
    assert_eq!(alert["rule"], "fraud-4xx", "{fired}");
    assert_eq!(alert["model"], "fraud", "{fired}");
    assert_eq!(alert["severity"], "critical", "{fired}");
    assert!(alert["value"].as_f64().unwrap() > 0.2, "{fired}");
    // Alertmanager has it, active, under the rule's name with the model and severity.
    let active = || -> Vec<Value> {
        let alerts: Value = reqwest::blocking::get(format!("{}/api/v2/alerts", alertmanager.url))
            .unwrap()
            .json()
            .unwrap();
        alerts
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["alertname"] == "fraud-4xx" && a["status"]["state"] == "active")
            .cloned()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while active().is_empty() {
        assert!(
            Instant::now() < deadline,
            "Alertmanager never had the alert"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A figure for the notes, not a timed assertion: rule `for` 2 s, rounds every 1 s.
    eprintln!(
        "the firing alert was active in Alertmanager {:.1}s after the refusals began",
        refusals_began.elapsed().as_secs_f64()
    );
    let am = &active()[0];
    assert_eq!(am["labels"]["model"], "fraud", "{am}");
    assert_eq!(am["labels"]["severity"], "critical", "{am}");
    // A few rounds more while it fires (the refusals go on, so it fires for 3 s however slow a
    // loaded machine makes each round): re-sent to Alertmanager, not to the webhook.
    let firing_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < firing_until {
        traffic(&endpoint, 20, 2);
        std::thread::sleep(Duration::from_millis(100));
    }
    let resolved = wait_for("resolved", 0);
    assert_eq!(resolved["alert"]["rule"], "fraud-4xx", "{resolved}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !active().is_empty() {
        assert!(
            Instant::now() < deadline,
            "Alertmanager never saw it resolve"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = watch.kill();
    let _ = watch.wait();

    // The webhook heard of each change once, signed.
    let received = hook.received.lock().unwrap().clone();
    let states: Vec<String> = received
        .iter()
        .flat_map(|(_, body)| {
            let v: Value = serde_json::from_slice(body).unwrap();
            v["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["state"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(states, ["firing", "resolved"], "deduplicated");
    let again = repeating.received.lock().unwrap().len();
    assert!(
        again >= 3,
        "firing said again every second, then resolved: {again} posts"
    );
    for (signature, body) in &received {
        assert_eq!(
            signature,
            &flightdeck::clients::notify::signature("s3cret", body),
            "signed with the secret"
        );
    }

    // Both on record.
    let journal: Value =
        serde_json::from_str(&ok(h, &["journal", "--json", "--model", "fraud"])).unwrap();
    let operations: Vec<&str> = journal
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .filter(|op| op.starts_with("alert"))
        .collect();
    assert!(
        operations.contains(&"alert firing") && operations.contains(&"alert resolved"),
        "{operations:?}"
    );
}

#[test]
fn a_silenced_alert_is_said_and_journaled_but_not_sent() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let hook = Hook::start();
    std::fs::write(
        h.join("no-config.toml"),
        format!(
            "{RULE}[[receivers]]\nkind = \"webhook\"\nurl = \"{}/hook\"\n",
            hook.url
        ),
    )
    .unwrap();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let _stop = Stop(h);
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let endpoint = format!("http://127.0.0.1:{}", port.trim());

    // A rule that does not exist is refused; the real one silenced for an hour, with a reason.
    let err = common::fails(
        h,
        &[
            "silence", "fraud", "--rule", "nope", "--for", "1h", "--reason", "x",
        ],
        1,
    );
    assert!(err.contains("no alert rule is named \"nope\""), "{err}");
    let out = ok(
        h,
        &[
            "silence",
            "fraud",
            "--for",
            "1h",
            "--reason",
            "load test until 15:00",
        ],
    );
    assert!(out.contains("every alert silenced until"), "{out}");

    let (mut watch, events) = watch(h, &[]);
    let deadline = Instant::now() + Duration::from_secs(90);
    let said = loop {
        traffic(&endpoint, 30, 2);
        if let Some(v) = events.try_iter().find(|v| v["event"] == "silenced") {
            break v;
        }
        assert!(Instant::now() < deadline, "never said silenced");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        said["message"]
            .as_str()
            .unwrap()
            .contains("load test until 15:00"),
        "{said}"
    );
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(hook.received.lock().unwrap().is_empty(), "nothing sent");
    let journal = ok(h, &["journal", "--model", "fraud"]);
    assert!(
        journal.contains("silence") && journal.contains("alert firing"),
        "{journal}"
    );
    ok(h, &["silence", "fraud", "--lift"]);
}

#[test]
fn watch_alerts_when_its_metrics_source_goes_away_and_resolves_when_it_is_back() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let _stop = Stop(h);
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let target = format!("127.0.0.1:{}", port.trim());
    traffic(&format!("http://{target}"), 20, 0);
    let scratch = tempfile::tempdir().unwrap();
    let prometheus = common::prometheus::start(scratch.path(), &target);
    let prometheus_port: u16 = prometheus.url.rsplit(':').next().unwrap().parse().unwrap();
    let hook = Hook::start();
    std::fs::write(
        h.join("no-config.toml"),
        format!(
            "[[alerts]]\nname = \"blind\"\nsignal = \"stale\"\nabove = 0\nfor = \"2s\"\nseverity = \"critical\"\n\n[[receivers]]\nkind = \"webhook\"\nurl = \"{}/hook\"\n\n[environments.prom]\nmetrics = \"prometheus\"\nprometheus_url = \"{}\"\n",
            hook.url, prometheus.url
        ),
    )
    .unwrap();
    let mut child = common::flightdeck(h)
        .args([
            "--env", "prom", "watch", "--every", "1s", "--rounds", "90", "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (lines, events) = std::sync::mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = lines.send(v);
            }
        }
    });
    let next = |event: &str| -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(v) = events.recv_timeout(Duration::from_millis(200))
                && v["event"] == event
            {
                return v;
            }
            assert!(Instant::now() < deadline, "no {event} event");
        }
    };
    // Readable: a few rounds go by without a word about the sources.
    std::thread::sleep(Duration::from_secs(4));
    while let Ok(v) = events.try_recv() {
        assert_ne!(v["event"], "unreadable", "{v}");
        assert_ne!(v["event"], "firing", "{v}");
    }
    // Prometheus goes away: each round says so, and the rule fires after its 2 s.
    drop(prometheus);
    let said = next("unreadable");
    assert!(
        said["message"]
            .as_str()
            .unwrap()
            .contains("cannot read the metrics"),
        "{said}"
    );
    let fired = next("firing");
    assert_eq!(fired["alert"]["rule"], "blind", "{fired}");
    assert_eq!(
        fired["alert"]["model"], "*",
        "the whole environment: {fired}"
    );
    assert!(fired["alert"]["value"].as_f64().unwrap() >= 2.0, "{fired}");
    // Back where it was: resolved.
    let _back = common::prometheus::start_on(scratch.path(), &target, None, prometheus_port);
    let resolved = next("resolved");
    assert_eq!(resolved["alert"]["rule"], "blind", "{resolved}");
    // Said first, then delivered: the receiver hears both, once each.
    let heard = || -> Vec<String> {
        hook.bodies()
            .iter()
            .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
            .map(|a| {
                format!(
                    "{} {}",
                    a["rule"].as_str().unwrap(),
                    a["state"].as_str().unwrap()
                )
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while heard().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(heard(), ["blind firing", "blind resolved"]);
}

/// fraud v1 registered with reference rows (so its answers' drift is measured) and serving.
fn served_with_reference(h: &Path) {
    let reference = common::fixture("classifier.reference.csv");
    ok(
        h,
        &[
            "register",
            "fraud",
            common::fixture("logreg_multiclass.onnx").to_str().unwrap(),
            "--reference",
            reference.to_str().unwrap(),
        ],
    );
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
}

#[test]
fn watch_judges_the_answers_drift_and_a_server_stopped_by_hand() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    served_with_reference(h);
    let _stop = Stop(h);
    std::fs::write(
        h.join("no-config.toml"),
        "[[alerts]]\nname = \"answers-drift\"\nsignal = \"prediction_drift\"\nabove = 0.25\nfor = \"1s\"\n\n[[alerts]]\nname = \"fraud-down\"\nsignal = \"down\"\nabove = 0\nfor = \"1s\"\nseverity = \"critical\"\n",
    )
    .unwrap();
    // One row over and over: a pipeline stuck on one customer. Its answers are one class.
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    traffic(&format!("http://127.0.0.1:{}", port.trim()), 300, 0);
    let said = ok(h, &["watch", "--every", "1s", "--rounds", "4", "--json"]);
    let fired: Vec<Value> = said
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "firing")
        .collect();
    assert_eq!(fired.len(), 1, "{said}");
    assert_eq!(fired[0]["alert"]["rule"], "answers-drift", "{said}");
    assert!(
        fired[0]["alert"]["value"].as_f64().unwrap() > 0.25,
        "{said}"
    );

    // Stopped by hand while production is v1: nothing answers its clients.
    ok(h, &["server", "stop", "fraud"]);
    let said = ok(h, &["watch", "--every", "1s", "--rounds", "3", "--json"]);
    let down: Vec<Value> = said
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "firing" && v["alert"]["rule"] == "fraud-down")
        .collect();
    assert_eq!(down.len(), 1, "{said}");
    // And the fleet says the same: down, not a blank row.
    let status: Value = serde_json::from_str(&ok(h, &["status", "--json"])).unwrap();
    assert_eq!(status[0]["health"]["state"], "down", "{status:#}");
    assert_eq!(
        status[0]["health"]["problem"], "nothing serves production v1",
        "{status:#}"
    );
    assert!(
        status[0]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "!down"),
        "{status:#}"
    );
}

#[test]
fn drift_that_holds_calls_the_retraining_pipeline_with_its_evidence() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    served_with_reference(h);
    let _stop = Stop(h);
    let hook = Hook::start();
    let kept = h.join("evidence.json");
    let config = |command: &str| {
        format!(
            "[[alerts]]\nname = \"answers-drift\"\nsignal = \"prediction_drift\"\nabove = 0.25\nfor = \"1s\"\n\n[retrain]\nsignals = [\"prediction_drift\"]\nfor = \"2s\"\ncommand = {command}\nurl = \"{}/retrain\"\n",
            hook.url
        )
    };
    // The pipeline's entry point: keeps what it is given and says which run it queued.
    std::fs::write(
        h.join("no-config.toml"),
        config(&format!(
            "[\"sh\", \"-c\", \"cat > \\\"$0\\\"; echo queued run 42 for $FLIGHTDECK_RETRAIN_MODEL\", {:?}]",
            kept.display().to_string()
        )),
    )
    .unwrap();
    // One row over and over: the answers drift, and stay drifted.
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    traffic(&format!("http://127.0.0.1:{}", port.trim()), 300, 0);
    let said = ok(h, &["watch", "--every", "1s", "--rounds", "6", "--json"]);
    let calls: Vec<Value> = said
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "retrain")
        .collect();
    assert_eq!(calls.len(), 1, "called once while it holds: {said}");
    let message = calls[0]["message"].as_str().unwrap();
    assert!(
        message.contains("fraud v1: prediction_drift")
            && message.contains("queued run 42 for fraud"),
        "{message}"
    );
    // The command and the webhook got the same evidence: model, version, signal, the report.
    let evidence: Value = serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    assert_eq!(evidence["model"], "fraud", "{evidence:#}");
    assert_eq!(evidence["version"], 1, "{evidence:#}");
    assert_eq!(evidence["rule"], "answers-drift", "{evidence:#}");
    assert_eq!(evidence["signal"], "prediction_drift", "{evidence:#}");
    assert!(evidence["value"].as_f64().unwrap() > 0.25, "{evidence:#}");
    let outputs = evidence["drift"]["predictions"].as_array().unwrap();
    assert!(
        outputs
            .iter()
            .any(|o| o["psi"].as_f64().is_some_and(|p| p > 0.25)),
        "the statistics behind it: {evidence:#}"
    );
    assert!(
        evidence["drift"]["window_samples"].as_u64().unwrap() >= 100,
        "{evidence:#}"
    );
    let posted = hook.bodies();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0]["model"], "fraud");
    assert_eq!(posted[0]["drift"], evidence["drift"]);
    // Journaled with what the pipeline answered.
    let journal: Value =
        serde_json::from_str(&ok(h, &["journal", "--json", "--model", "fraud"])).unwrap();
    let row = journal
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["operation"] == "retrain requested")
        .unwrap_or_else(|| panic!("{journal:#}"));
    assert_eq!(row["outcome"], "succeeded", "{row}");
    assert!(
        row["details"]["answered"]
            .as_str()
            .unwrap()
            .contains("queued run 42"),
        "{row}"
    );

    // A pipeline that refuses: said, journaled as failed, with what it said.
    std::fs::write(
        h.join("no-config.toml"),
        config("[\"sh\", \"-c\", \"echo no capacity >&2; exit 3\"]"),
    )
    .unwrap();
    traffic(&format!("http://127.0.0.1:{}", port.trim()), 100, 0);
    let said = ok(h, &["watch", "--every", "1s", "--rounds", "5", "--json"]);
    let failed: Vec<Value> = said
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "retrain-failed")
        .collect();
    assert_eq!(failed.len(), 1, "{said}");
    assert!(
        failed[0]["message"]
            .as_str()
            .unwrap()
            .contains("no capacity"),
        "{said}"
    );
}

#[test]
fn a_second_watch_of_the_same_environment_is_refused_naming_the_first() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let mut first = common::flightdeck(h)
        .args(["watch", "--every", "1s", "--rounds", "60", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Started once it says so.
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(first.stdout.take().unwrap()).lines();
    let started: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(started["event"], "started", "{started}");
    let err = common::fails(h, &["watch", "--rounds", "1"], 1);
    assert!(
        err.contains("another watch runs for local here: flightdeck watch of local by")
            && err.contains(&format!("(pid {})", first.id())),
        "{err}"
    );
    let _ = first.kill();
    let _ = first.wait();
    // Gone with its process: the next one starts.
    ok(h, &["watch", "--every", "1s", "--rounds", "1"]);
}

#[test]
fn a_page_sent_before_a_silence_is_still_resolved_and_status_shows_what_watch_fires() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let hook = Hook::start();
    std::fs::write(
        h.join("no-config.toml"),
        format!(
            "{RULE}[[receivers]]\nkind = \"webhook\"\nurl = \"{}/hook\"\n",
            hook.url
        ),
    )
    .unwrap();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let _stop = Stop(h);
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let endpoint = format!("http://127.0.0.1:{}", port.trim());
    let (mut watch, events) = watch(h, &[]);
    let wait_for = |event: &str, bad: usize| {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            traffic(&endpoint, 30, bad);
            if events.try_iter().any(|v| v["event"] == event) {
                return;
            }
            assert!(Instant::now() < deadline, "no {event} event");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let states = || -> Vec<String> {
        hook.bodies()
            .iter()
            .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
            .map(|a| a["state"].as_str().unwrap().to_string())
            .collect()
    };
    wait_for("firing", 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    while states().is_empty() {
        assert!(Instant::now() < deadline, "the page never went out");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A one-shot status shows what watch says is firing (it cannot hold the rule's `for`).
    let status: Value = serde_json::from_str(&ok(h, &["status", "--json"])).unwrap();
    assert_eq!(status[0]["firing"][0]["rule"], "fraud-4xx", "{status:#}");
    // Silenced while it fires, then over: the receiver that was paged hears it is over.
    ok(
        h,
        &[
            "silence",
            "fraud",
            "--for",
            "1h",
            "--reason",
            "investigating",
        ],
    );
    wait_for("resolved", 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while states().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the resolution never went out: {:?}",
            states()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(states(), ["firing", "resolved"]);
    let status: Value = serde_json::from_str(&ok(h, &["status", "--json"])).unwrap();
    assert_eq!(status[0]["firing"], json!([]), "{status:#}");
}
