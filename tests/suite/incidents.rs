//! The incident suite: real incidents against the real binary, real `flightdeck serve` processes
//! and a real Prometheus, the console driven in tmux. Each asserts what the fleet row, the
//! header and `status --json` say: a 4xx outage, a 5xx outage, a server killed, a server
//! replaced on a new port, Prometheus down, the registry unreadable, a canary with no traffic,
//! and a rollback attempt to a version that failed its smoke test. The console refreshes every
//! 500 ms here; the deadlines are generous for a loaded machine.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{fails, fixture, ok};
use serde_json::{Value, json};

/// A home with fraud's versions registered: v1 a logistic regression, v2 one that fails (500)
/// on a category it never saw, v3 with other inputs than production's (its smoke test fails),
/// v4 an MLP with v1's inputs. Its servers are stopped when dropped.
struct Incident {
    dir: tempfile::TempDir,
}

impl Incident {
    fn new() -> Incident {
        let incident = Incident {
            dir: tempfile::tempdir().unwrap(),
        };
        let h = incident.home();
        incident.configure("");
        for file in [
            "logreg_multiclass.onnx",
            "unseen_category_classifier.onnx",
            "column_transformer.onnx",
            "mlp_classifier.onnx",
        ] {
            ok(h, &["register", "fraud", fixture(file).to_str().unwrap()]);
        }
        incident
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    /// The test's config: a 500 ms refresh, plus `more`.
    fn configure(&self, more: &str) {
        std::fs::write(
            self.home().join("no-config.toml"),
            format!("[refresh]\nmetrics_ms = 500\nsource_timeout_ms = 1000\n{more}"),
        )
        .unwrap();
    }

    fn console(&self) -> Tmux {
        let tmux = Tmux::start(self.home(), 120, 30);
        tmux.wait_for("the fleet", |s| fraud_row(s).is_some());
        tmux
    }

    fn endpoint(&self) -> String {
        let port = std::fs::read_to_string(self.home().join("serve/fraud.port")).unwrap();
        format!("http://127.0.0.1:{}", port.trim())
    }

    /// fraud's row of `status --json`, once `check` holds (it is asked again until then).
    fn status_when(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = common::run(
                self.home(),
                &["status", "fraud", "--json", "--interval", "0.5"],
            );
            let row: Value = serde_json::from_slice::<Value>(&out.stdout)
                .ok()
                .and_then(|rows| rows.get(0).cloned())
                .unwrap_or(Value::Null);
            if check(&row) {
                return row;
            }
            assert!(
                Instant::now() < deadline,
                "status --json never showed {what}: {row}\n{}",
                common::stderr(&out)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Incident {
    fn drop(&mut self) {
        let _ = common::run(self.home(), &["server", "stop", "fraud"]);
    }
}

/// fraud's row in the fleet table, when it is on screen.
fn fraud_row(screen: &str) -> Option<String> {
    screen
        .lines()
        .find(|l| l.starts_with('│') && l.contains("fraud"))
        .map(str::to_string)
}

fn header(screen: &str) -> &str {
    screen.lines().next().unwrap_or_default()
}

/// The row's cells: MODEL PROD CANARY HEALTH REQ/S P99 ERR% ...
fn cells(row: &str) -> Vec<String> {
    row.trim_matches(|c| c == '│' || c == ' ')
        .trim_start_matches('▶')
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Requests sent to a fixed endpoint until dropped, as a client configured with it would.
struct Traffic {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(endpoint: &str, row: Value) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("{endpoint}/v2/models/fraud/infer");
        let body = json!({ "inputs": [{ "name": "X", "shape": [1, row.as_array().unwrap().len()], "datatype": "FP32", "data": row }] });
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            while !flag.load(Ordering::Relaxed) {
                let _ = client.post(&url).json(&body).send();
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Traffic {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A good row for v1's and v4's `[N, 4]` input.
fn good() -> Value {
    json!([50, 40, 0.1, 0.2])
}

fn kill(pid: u64) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

#[test]
fn a_4xx_outage_is_an_incident_on_screen_and_in_status() {
    let incident = Incident::new();
    let h = incident.home();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let tmux = incident.console();
    // Every client sends three columns where the model takes four: every answer is 400.
    let _traffic = Traffic::start(&incident.endpoint(), json!([1, 2, 3]));
    let screen = tmux.wait_for("ERR% 100% and !err on fraud's row", |s| {
        fraud_row(s).is_some_and(|r| r.contains("100%") && r.contains("!err"))
    });
    assert!(header(&screen).contains("metrics 1 ok"), "{screen}");
    let row = incident.status_when("a 4xx error ratio of 1", |r| {
        r["stats"]["error_ratio"] == 1.0
    });
    assert_eq!(row["stats"]["client_error_ratio"], 1.0, "{row}");
    assert_eq!(row["stats"]["server_error_ratio"], 0.0, "{row}");
    assert!(
        row["alerts"].as_array().unwrap().contains(&json!("!err")),
        "{row}"
    );
    assert_eq!(row["signal"]["state"], "live", "{row}");
    // The serving pane splits them.
    tmux.keys(&["Enter"]);
    tmux.wait_for("4xx and 5xx apart", |s| {
        s.contains("errors 100%  4xx 100%  5xx 0.00%")
    });
}

#[test]
fn a_5xx_outage_is_an_incident_on_screen_and_in_status() {
    let incident = Incident::new();
    let h = incident.home();
    ok(h, &["deploy", "fraud", "2", "--direct", "--yes"]);
    let tmux = incident.console();
    // A category v2 never saw: it fails at inference, every answer is 500.
    let _traffic = Traffic::start(&incident.endpoint(), json!([50, 40, 0.1, 7.0]));
    tmux.wait_for("ERR% 100% and !err on fraud's row", |s| {
        fraud_row(s).is_some_and(|r| r.contains("100%") && r.contains("!err"))
    });
    let row = incident.status_when("a 5xx error ratio of 1", |r| {
        r["stats"]["server_error_ratio"] == 1.0
    });
    assert_eq!(row["stats"]["client_error_ratio"], 0.0, "{row}");
    assert_eq!(row["stats"]["error_ratio"], 1.0, "{row}");
}

#[test]
fn a_killed_server_and_its_replacement_never_show_the_dead_servers_numbers() {
    let incident = Incident::new();
    let h = incident.home();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let tmux = incident.console();
    let traffic = Traffic::start(&incident.endpoint(), good());
    tmux.wait_for("live traffic on fraud's row", |s| {
        fraud_row(s).is_some_and(|r| {
            let c = cells(&r);
            r.contains("● up") && c.get(5).is_some_and(|rate| rate != "-" && rate != "0.0")
        })
    });
    // Supervisor and server killed outright.
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(h.join("serve/fraud.server.json")).unwrap())
            .unwrap();
    kill(record["supervisor_pid"].as_u64().unwrap());
    kill(record["server_pid"].as_u64().unwrap());
    let screen = tmux.wait_for("fraud down with no numbers", |s| {
        fraud_row(s).is_some_and(|r| r.contains("down") && !r.contains('%') && !r.contains("ms"))
    });
    assert!(
        header(&screen).contains("metrics 0 ok"),
        "a dead server is no ok source: {screen}"
    );
    let row = incident.status_when("fraud down", |r| r["health"]["state"] == "down");
    assert_eq!(row["stats"], Value::Null, "{row}");
    assert_eq!(row["signal"]["state"], "unknown", "{row}");

    // Replaced: started again (a new port); the clients still send to the old one.
    drop(traffic);
    ok(h, &["server", "start", "fraud"]);
    tmux.wait_for("the new server measured: 0 req/s", |s| {
        fraud_row(s).is_some_and(|r| {
            let c = cells(&r);
            r.contains("● up") && c.get(5).map(String::as_str) == Some("0.0")
        })
    });
    let row = incident.status_when("the new server's rate", |r| {
        r["stats"]["requests_per_second"] == 0.0
    });
    assert_eq!(
        row["stats"]["error_ratio"],
        Value::Null,
        "no answers: {row}"
    );
}

#[test]
fn prometheus_down_turns_numbers_stale_and_never_zero() {
    let incident = Incident::new();
    let h = incident.home();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let endpoint = incident.endpoint();
    let prometheus = common::prometheus::start(h, endpoint.trim_start_matches("http://"));
    incident.configure(&format!(
        "[environments.local]\nmetrics = \"prometheus\"\nprometheus_url = \"{}\"\n",
        prometheus.url
    ));
    let _traffic = Traffic::start(&endpoint, good());
    let tmux = incident.console();
    tmux.wait_for("live numbers through Prometheus", |s| {
        fraud_row(s).is_some_and(|r| {
            cells(&r)
                .get(5)
                .is_some_and(|rate| rate != "-" && rate != "0.0")
        })
    });
    drop(prometheus);
    let screen = tmux.wait_for("stale numbers and a failing source", |s| {
        fraud_row(s).is_some_and(|r| r.contains("stale"))
            && header(s).contains("metrics 0 ok, 1 failing")
    });
    assert!(header(&screen).contains(":errors"), "{screen}");
    // A fresh reader has nothing measured: no zeros.
    let row = incident.status_when("unknown numbers", |r| r["signal"]["state"] == "unknown");
    assert_eq!(row["stats"], Value::Null, "{row}");
    assert!(
        row["signal"]["reason"]
            .as_str()
            .unwrap()
            .contains("Prometheus"),
        "{row}"
    );
    let out = ok(h, &["status", "fraud", "--interval", "0.2"]);
    assert!(!out.contains("0.00%"), "{out}");
}

#[test]
fn an_unreadable_registry_is_stale_in_the_header_and_an_error_in_status() {
    let incident = Incident::new();
    let h = incident.home();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let tmux = incident.console();
    tmux.wait_for("the registry live", |s| header(s).contains("registry live"));
    // The registry's files moved away, garbage in their place.
    let aside = h.join("aside");
    std::fs::create_dir_all(&aside).unwrap();
    let files = ["registry.db", "registry.db-wal", "registry.db-shm"];
    for f in files {
        let _ = std::fs::rename(h.join(f), aside.join(f));
    }
    std::fs::write(h.join("registry.db"), vec![0x5a; 8192]).unwrap();
    let screen = tmux.wait_for("the registry failing in the header", |s| {
        (header(s).contains("registry stale") || header(s).contains("registry failing"))
            && header(s).contains(":errors")
    });
    assert!(
        fraud_row(&screen).is_some(),
        "the last fleet stays: {screen}"
    );
    let err = fails(h, &["status", "fraud", "--json"], 1);
    assert!(err.contains("registry"), "{err}");
    for f in files {
        let _ = std::fs::remove_file(h.join(f));
        let _ = std::fs::rename(aside.join(f), h.join(f));
    }
    tmux.wait_for("the registry live again", |s| {
        header(s).contains("registry live")
    });
}

#[test]
fn a_canary_with_no_traffic_has_no_error_ratio_and_its_gates_wait_for_data() {
    let incident = Incident::new();
    let h = incident.home();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "4", "--canary", "10", "--yes"]);
    let tmux = incident.console();
    tmux.wait_for("the canary measured idle", |s| {
        fraud_row(s).is_some_and(|r| {
            let c = cells(&r);
            r.contains("v4 10%")
                && c.get(6).map(String::as_str) == Some("0.0")
                && c.get(8).map(String::as_str) == Some("-")
        })
    });
    let row = incident.status_when("the canary idle", |r| {
        r["stats"]["requests_per_second"] == 0.0
    });
    assert_eq!(row["canary"], 4, "{row}");
    assert_eq!(row["stats"]["error_ratio"], Value::Null, "{row}");
    // The promote dialog says what the gates still need, not a bare failure.
    tmux.keys(&["p"]);
    tmux.wait_for("gates waiting for data", |s| {
        s.contains("100 more") && s.contains("canary traffic")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("Enter refused", |s| s.contains("has not enough data yet"));
    tmux.keys(&["Escape"]);
    let aliases = ok(h, &["alias", "list", "fraud", "--json"]);
    assert!(aliases.contains("\"canary\""), "nothing moved: {aliases}");
}

#[test]
fn a_rollback_to_a_version_that_failed_its_smoke_test_is_stopped_by_its_gates() {
    let incident = Incident::new();
    let h = incident.home();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "4", "--direct", "--yes"]);
    // v3 takes five inputs; production's clients send one [N, 4] tensor.
    let err = fails(h, &["smoke", "fraud", "3"], 2);
    assert!(err.contains("failed its smoke test"), "{err}");
    let err = fails(h, &["rollback", "fraud", "--to", "3", "--yes"], 2);
    assert!(
        err.contains("the smoke gate failed") && err.contains("gate signature        FAILED"),
        "{err}"
    );
    let production = |h: &Path| {
        let aliases: Value =
            serde_json::from_str(&ok(h, &["alias", "list", "fraud", "--json"])).unwrap();
        aliases
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["alias"] == "production")
            .and_then(|a| a["version"].as_u64())
    };
    assert_eq!(production(h), Some(4), "nothing moved");

    // The console: `r` on v3 shows both gates failing and Enter does nothing.
    let tmux = incident.console();
    tmux.keys(&["Enter"]);
    tmux.keys(&["Tab", "Tab"]);
    tmux.wait_for("the versions pane", |s| {
        s.contains("VER") && s.contains("v3")
    });
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "v3"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("only v3", |s| {
        s.contains("filter: v3") && !s.contains("v4 ")
    });
    tmux.keys(&["r"]);
    tmux.wait_for("the failing gates", |s| {
        s.contains("production v4 -> v3") && s.contains("✖ smoke") && s.contains("✖ signature")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("Enter refused", |s| s.contains("a gate failed"));
    tmux.keys(&["Escape"]);
    // The panic button from the fleet goes to the last healthy production, never to v3.
    tmux.wait_for("the dialog closed", |s| !s.contains("production v4 -> v3"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filter cleared", |s| !s.contains("filter: v3"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the fleet", |s| s.contains("models (1)"));
    tmux.keys(&["r"]);
    tmux.wait_for("the default rollback", |s| {
        s.contains("production v4 -> v1")
    });
    tmux.keys(&["Escape"]);
    drop(tmux);
    assert_eq!(production(h), Some(4), "still nothing moved");
    let out = ok(h, &["rollback", "fraud", "--yes"]);
    assert!(out.contains("production v4 -> v1"), "{out}");
    assert_eq!(production(h), Some(1));
}

#[test]
fn a_production_that_refuses_its_clients_is_rolled_back_without_overrides() {
    let incident = Incident::new();
    let h = incident.home();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    // v3 forced into production past its gates (its inputs are not what clients send).
    let out = ok(
        h,
        &[
            "rollback",
            "fraud",
            "--to",
            "3",
            "--skip-smoke",
            "--override-gates",
            "--yes",
        ],
    );
    assert!(out.contains("production v1 -> v3"), "{out}");
    let journal = ok(h, &["journal", "--model", "fraud"]);
    assert!(
        journal.contains("overrode smoke, signature"),
        "the override is on record: {journal}"
    );
    // Its clients keep sending v1's [N, 4] rows: every answer is 400.
    let traffic = Traffic::start(&incident.endpoint(), good());
    incident.status_when("production refusing its clients", |r| {
        r["stats"]["client_error_ratio"] == 1.0
    });
    drop(traffic);
    // The panic button: v1 was left by a rollback "forward" (to a version that never served),
    // so it ended healthy; its inputs are what production's clients send, though production's
    // own are not.
    let err = common::fails(h, &["rollback", "fraud"], 1);
    assert!(err.contains("add --yes"), "it would go ahead: {err}");
    assert!(
        err.contains("production v3 -> v1")
            && err.contains("gate signature        passed")
            && err.contains("refuses 100%"),
        "{err}"
    );
    let out = ok(h, &["rollback", "fraud", "--yes"]);
    assert!(out.contains("production v3 -> v1"), "{out}");
}
