//! The console end to end, as a person uses it: the real binary in tmux against a real
//! `flightdeck serve` receiving traffic; keys sent with send-keys, the screen read back with
//! capture-pane.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{fixture, ok};

#[test]
fn the_console_shows_live_traffic_and_answers_keys() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
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
    common::register(h, "churn", "rf_binary.onnx");
    ok(h, &["alias", "set", "fraud", "production", "1"]);
    ok(h, &["server", "start", "fraud"]);
    // Before any traffic the drift window is empty: nothing measured, nothing made up.
    let drift = ok(h, &["drift", "fraud"]);
    let rows: Vec<&str> = drift
        .lines()
        .filter(|l| {
            ["amount ", "age ", "tenure ", "score "]
                .iter()
                .any(|f| l.starts_with(f))
        })
        .collect();
    assert_eq!(rows.len(), 4, "{drift}");
    for row in rows {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[3], "-", "no statistic without rows: {row}");
        assert!(row.ends_with("insufficient data"), "{row}");
    }
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let url = format!("http://127.0.0.1:{}/v2/models/fraud/infer", port.trim());
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            let body = serde_json::json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": [50, 40, 0.1, 0.2] }] });
            while !stop.load(Ordering::Relaxed) {
                let _ = client.post(&url).json(&body).send();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let tmux = Tmux::start(h, 100, 24);
    let screen = tmux.wait_for("the fraud row with a live request rate", |s| {
        s.lines().any(|l| {
            l.contains("fraud") && l.contains("up") && (l.contains("ms") || l.contains("µs"))
        })
    });
    assert!(screen.contains("churn"), "{screen}");
    assert!(
        screen.contains("local"),
        "the environment is in the header:\n{screen}"
    );

    // The serving charts have a value axis (the top value, 0) and a time axis (when the first
    // point shown was read, `now` under the newest), say their span, and T moves them through
    // 5m, 1h and 24h.
    tmux.keys(&["/", "f", "r", "a", "u", "d", "Enter", "Enter"]);
    tmux.wait_for("fraud's charts over its reads, with axes", |s| {
        s.contains("req/s")
            && s.contains(" in 5s steps · T→1h")
            && s.contains("      0 ┤")
            && s.lines()
                .any(|l| l.contains(" now") && l.matches(':').count() >= 2)
    });
    tmux.keys(&["T"]);
    tmux.wait_for("the hour's charts", |s| {
        s.contains("the serving charts show up to the last 1h in 30s steps")
            && s.contains("in 30s steps · T→24h")
    });
    tmux.keys(&["T"]);
    tmux.wait_for("the day's charts", |s| s.contains("in 10m steps · T→5m"));
    tmux.keys(&["T"]);
    tmux.wait_for("back to five minutes", |s| s.contains("in 5s steps · T→1h"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filtered fleet", |s| s.contains("filter: fraud"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the fleet again", |s| s.contains("churn"));

    tmux.keys(&["?"]);
    tmux.wait_for("the help screen", |s| s.contains("promote the canary"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("help closed", |s| !s.contains("promote the canary"));

    tmux.keys(&["/", "c", "h", "Enter"]);
    tmux.wait_for("the filter to hide fraud", |s| {
        s.contains("filter: ch") && !s.lines().any(|l| l.contains("│") && l.contains("fraud"))
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filter cleared", |s| s.contains("fraud"));

    tmux.keys(&[":", "q", "Enter"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!tmux.alive(), ":q quits");

    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    // Quitting the console does not stop serving.
    let servers = ok(h, &["server", "list"]);
    assert!(
        servers.contains("fraud") && servers.contains("ok"),
        "{servers}"
    );
    ok(h, &["server", "stop", "fraud"]);
}

/// How a stand-in server misbehaves.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// Accepts connections and never answers.
    Hang,
    /// Nothing listens on its port.
    Refuse,
    /// Answers every request with 200 and a body that is not metrics.
    Garbage,
}

/// A misbehaving server recorded as if it were fraud's local server. Returns the listener
/// (kept open for as long as the test needs it) and a live process standing in for the
/// supervisor (its command line says flightdeck).
fn fake_server(
    home: &Path,
    behaviour: Misbehaviour,
) -> (Option<std::net::TcpListener>, std::process::Child) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let listener = match behaviour {
        Misbehaviour::Hang => Some(listener),
        Misbehaviour::Refuse => None,
        Misbehaviour::Garbage => {
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    let mut buffer = [0u8; 4096];
                    let _ = stream.read(&mut buffer);
                    let body = "<html>{{{ this is not what you asked for";
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            });
            None
        }
    };
    let stand_in = Command::new("bash")
        .args(["-c", "exec -a flightdeck-supervise sleep 120"])
        .spawn()
        .unwrap();
    let plan = serde_json::json!({ "stable": 1 });
    let record = serde_json::json!({
        "model": "fraud", "supervisor_pid": stand_in.id(), "server_pid": null, "port": port,
        "started_plan": plan, "started_at": "2026-01-01T00:00:00Z", "restarts": 0, "last_exit": null, "state": "running"
    });
    std::fs::create_dir_all(home.join("serve")).unwrap();
    std::fs::write(home.join("serve/fraud.plan.json"), plan.to_string()).unwrap();
    std::fs::write(home.join("serve/fraud.server.json"), record.to_string()).unwrap();
    (listener, stand_in)
}

#[test]
fn a_hanging_refusing_or_garbled_backend_never_freezes_the_screen() {
    for (behaviour, shown) in [
        (Misbehaviour::Hang, "no answer within 500 ms"),
        (Misbehaviour::Refuse, "cannot connect: connection ref"),
        (Misbehaviour::Garbage, "the answer is not flightdeck"),
    ] {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        ok(
            h,
            &[
                "register",
                "fraud",
                fixture("logreg_multiclass.onnx").to_str().unwrap(),
            ],
        );
        let (_listener, mut stand_in) = fake_server(h, behaviour);
        let config = h.join("fast.toml");
        std::fs::write(
            &config,
            "[refresh]\nsource_timeout_ms = 500\nmetrics_ms = 500\n",
        )
        .unwrap();
        let tmux = Tmux::start_with_config(h, &config, 100, 24);
        tmux.wait_for("a failing metrics source in the header", |s| {
            s.lines()
                .next()
                .is_some_and(|h| h.contains("metrics 0 ok, 1 failing") && h.contains(":errors"))
        });
        // The header clips the reason; `:errors` shows it whole.
        tmux.keys(&[":"]);
        tmux.keys(&["-l", "errors"]);
        tmux.keys(&["Enter"]);
        tmux.wait_for(&format!("{shown:?} in :errors"), |s| {
            s.contains("sources and errors") && s.to_lowercase().contains(shown)
        });
        tmux.keys(&["Escape"]);
        tmux.wait_for(":errors closed", |s| !s.contains("sources and errors"));
        // Keys still work at once while the source misbehaves.
        let asked = Instant::now();
        tmux.keys(&["?"]);
        tmux.wait_for("the help screen", |s| s.contains("promote the canary"));
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "help took {:?} while a backend misbehaved",
            asked.elapsed()
        );
        tmux.keys(&["Escape"]);
        tmux.wait_for("help closed", |s| !s.contains("promote the canary"));
        tmux.keys(&[":", "q", "Enter"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tmux.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!tmux.alive(), "quits while the backend still misbehaves");
        let _ = stand_in.kill();
        let _ = stand_in.wait();
    }
}

#[test]
fn rollback_from_the_console_and_read_only_refusal() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    common::register(h, "fraud", "mlp_classifier.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "2", "--direct", "--yes"]);

    // Read-only: the engine refuses, the console says so, nothing moves.
    let config = h.join("readonly.toml");
    std::fs::write(&config, "[environments.local]\nread_only = true\n").unwrap();
    let tmux = Tmux::start_with_config(h, &config, 100, 26);
    tmux.wait_for("the fleet", |s| {
        s.contains("READ-ONLY") && s.contains("fraud")
    });
    tmux.keys(&["r"]);
    tmux.wait_for("the read-only refusal", |s| {
        s.contains("read-only") && s.contains("refused to rollback")
    });
    tmux.keys(&["Escape"]);
    tmux.keys(&["q"]);
    drop(tmux);
    let prod = ok(h, &["alias", "list", "fraud"]);
    assert!(prod.contains("production  v2"), "{prod}");

    // Writable: r, Enter rolls production back to v1 through the same engine code.
    let tmux = Tmux::start(h, 100, 26);
    tmux.wait_for("the fleet", |s| s.contains("fraud") && s.contains("v2"));
    tmux.keys(&["r"]);
    tmux.wait_for("the rollback preview", |s| {
        s.contains("production v2 -> v1") && s.contains("enter: confirm")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("the outcome", |s| s.contains("rollback fraud: done"));
    tmux.keys(&["q"]);
    tmux.keys(&["q"]);
    drop(tmux);
    let prod = ok(h, &["alias", "list", "fraud"]);
    assert!(prod.contains("production  v1"), "{prod}");
    ok(h, &["server", "stop", "fraud"]);
}

#[test]
fn the_interactive_demo_follows_its_tour_by_keys() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let session = format!("fd-demo-{}", std::process::id());
    let command = format!(
        "FLIGHTDECK_USER=tester {} demo --home {}",
        env!("CARGO_BIN_EXE_flightdeck"),
        h.display()
    );
    let tmux = Tmux::start_command(session, 110, 30, &command);
    tmux.wait_for("the demo serving v1 with the tour", |s| {
        s.contains("claims") && s.contains("up") && s.contains("tour 1/9")
    });
    tmux.keys(&["n"]);
    tmux.wait_for("step 2", |s| s.contains("tour 2/9"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the serving pane", |s| s.contains("stable v1"));
    tmux.keys(&["Tab"]);
    tmux.keys(&["Tab"]);
    tmux.wait_for("the versions pane with v2", |s| {
        s.contains("SMOKE") && s.contains("v2")
    });
    // Versions list production first, then newest: v1, v3, v2.
    tmux.keys(&["j"]);
    tmux.keys(&["j"]);
    tmux.keys(&["d"]);
    tmux.wait_for("the deploy preview", |s| {
        s.contains("canary v2 at 10%") && s.contains("enter: confirm")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("the deploy done", |s| s.contains("deploy claims: done"));
    tmux.keys(&["x"]);

    // e on v3 (last on the versions pane: production, canary, then the rest): the dialog offers
    // the demo's labelled holdout; Enter scores v3 and production v1 on it.
    tmux.keys(&["G"]);
    tmux.keys(&["e"]);
    tmux.wait_for("the evaluate prompt", |s| {
        s.contains("evaluate claims v3") && s.contains("holdout.csv")
    });
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the evaluation", |s| {
        s.contains("production v1") && s.contains("auc") && s.contains("log_loss")
    });
    let auc = screen
        .lines()
        .find(|l| l.contains("auc "))
        .unwrap_or_else(|| panic!("{screen}"))
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok())
        .collect::<Vec<_>>();
    assert!(
        auc.len() >= 2 && auc[0] < 0.6 && auc[1] > 0.65,
        "v3 scores near chance on held-out claims and v1 does not: {auc:?}\n{screen}"
    );
    tmux.keys(&["x"]);
    // s smoke-tests it: the sentinels catch it, and the report is stored with the version.
    tmux.keys(&["s"]);
    tmux.wait_for("the smoke report", |s| {
        s.contains("smoke test claims v3") && s.contains("FAILED; stored with the version")
    });
    tmux.keys(&["x"]);
    // S shadows v3 beside production instead: no client sees its answers.
    tmux.keys(&["S"]);
    tmux.wait_for("the shadow started", |s| {
        s.contains("shadow of claims started: v3")
    });
    // The demo logs a fifth of its claims: the requests pane tails them, and t keeps the
    // selected one as a sentinel case of the version that answered it.
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "requests"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("logged claims", |s| {
        s.contains("ANSWER") && s.contains(" 200 ")
    });
    tmux.keys(&["t"]);
    tmux.wait_for("a sentinel case kept", |s| {
        s.contains("sentinel case \"request")
    });
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while tmux.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "q ends the demo");
    let journal = ok(h, &["journal", "--model", "claims"]);
    assert!(
        journal.lines().any(|l| l.contains("deploy")
            && l.contains("canary v2 10%")
            && l.contains("succeeded")),
        "{journal}"
    );
    let servers = ok(h, &["server", "list"]);
    assert!(
        servers.contains("no local servers"),
        "the demo stopped what it started: {servers}"
    );
    let versions: serde_json::Value =
        serde_json::from_str(&ok(h, &["versions", "claims", "--json"])).unwrap();
    let v3 = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 3)
        .unwrap();
    assert_eq!(v3["smoke_passed"], false, "{v3}");
}

#[test]
fn an_interrupted_promote_is_finished_from_the_console() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for file in ["logreg_multiclass.onnx", "mlp_classifier.onnx"] {
        ok(h, &["register", "fraud", fixture(file).to_str().unwrap()]);
    }
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "2", "--canary", "50", "--yes"]);
    // A promote killed after the server switched, before the aliases moved.
    let mut child = common::flightdeck(h)
        .args(["promote", "fraud", "--yes", "--override-gates"])
        .env("FLIGHTDECK_FAILPOINT", "op:after-serving")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let reached = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("failpoint op:after-serving reached"));
    assert!(reached);
    child.kill().unwrap();
    child.wait().unwrap();

    let tmux = Tmux::start(h, 100, 26);
    tmux.wait_for("the interrupted promote announced", |s| {
        s.contains("interrupted: promote fraud") && s.contains(":finish or :revert")
    });
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "finish"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the recovery preview", |s| {
        s.contains("finish the interrupted promote fraud")
            && s.contains("production v1 -> v2")
            && s.contains("enter: confirm")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("the outcome", |s| s.contains("promote fraud: done"));
    tmux.keys(&["x"]);
    tmux.wait_for("the footer cleared", |s| !s.contains("interrupted:"));
    tmux.keys(&["q"]);
    drop(tmux);
    let aliases = ok(h, &["alias", "list", "fraud"]);
    assert!(aliases.contains("production  v2"), "{aliases}");
    let journal: serde_json::Value =
        serde_json::from_str(&ok(h, &["journal", "--model", "fraud", "--json"])).unwrap();
    // The recovery is journaled as the recovery of the interrupted promote.
    let rows = journal.as_array().unwrap();
    let promote = rows
        .iter()
        .find(|row| row["operation"] == "promote")
        .unwrap();
    assert_eq!(promote["outcome"], "started", "{promote}");
    let recovery = rows
        .iter()
        .find(|row| row["operation"] == "recover")
        .unwrap();
    assert_eq!(recovery["outcome"], "succeeded", "{recovery}");
    assert_eq!(
        recovery["details"]["recovery"]["journal_id"], promote["id"],
        "{recovery}"
    );
    ok(h, &["server", "stop", "fraud"]);
}

#[test]
fn env_switches_environment_in_the_console_and_its_read_only_holds() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    let config = h.join("envs.toml");
    std::fs::write(&config, "[environments.audit]\nread_only = true\n").unwrap();
    let tmux = Tmux::start_with_config(h, &config, 100, 24);
    tmux.wait_for("the local fleet", |s| {
        s.contains(" local ") && s.contains("fraud")
    });
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "env audit"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the audit environment", |s| {
        s.contains("audit · READ-ONLY") && s.contains("fraud")
    });
    tmux.keys(&["r"]);
    tmux.wait_for("the read-only refusal", |s| s.contains("read-only"));
    tmux.keys(&["Escape"]);
    tmux.keys(&["q"]);
}

#[test]
fn a_smoke_test_from_a_read_only_console_is_shown_and_not_stored() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    ok(h, &["alias", "set", "fraud", "production", "1"]);
    let config = h.join("readonly.toml");
    std::fs::write(&config, "[environments.local]\nread_only = true\n").unwrap();
    let tmux = Tmux::start_with_config(h, &config, 100, 30);
    tmux.wait_for("the fleet", |s| {
        s.contains("READ-ONLY") && s.contains("fraud")
    });
    tmux.keys(&["s"]);
    tmux.wait_for("the smoke test's report", |s| {
        s.contains("not stored (read-only environment)")
    });
    tmux.keys(&["Escape"]);
    tmux.keys(&["q"]);
    drop(tmux);
    let versions: serde_json::Value =
        serde_json::from_str(&ok(h, &["versions", "fraud", "--json"])).unwrap();
    assert_eq!(versions[0]["smoke_passed"], serde_json::Value::Null);
}

#[test]
fn a_canary_is_handed_to_watch_paused_and_resumed_from_the_console() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    common::register(h, "fraud", "mlp_classifier.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    ok(h, &["deploy", "fraud", "2", "--canary", "25", "--yes"]);
    // The team hears of what is done here as of what `flightdeck rollout` does.
    let hook = common::webhook::Hook::start();
    std::fs::write(
        h.join("no-config.toml"),
        format!(
            "[[receivers]]\nkind = \"webhook\"\nurl = \"{}/hook\"\n",
            hook.url
        ),
    )
    .unwrap();
    let tmux = Tmux::start(h, 140, 32);
    tmux.wait_for("the fleet", |s| s.contains("fraud") && s.contains("v2"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the serving pane", |s| s.contains("canary v2"));
    // R asks first (the rollout will promote by itself), R again hands the canary to watch
    // from the 25% it serves: nothing moves until watch judges it.
    tmux.keys(&["R"]);
    tmux.wait_for("the confirmation", |s| {
        s.contains("R again") && s.contains("watch rolls v2 out")
    });
    tmux.keys(&["R"]);
    let screen = tmux.wait_for("the rollout in the serving pane", |s| {
        s.contains("rollout v2 step 1 of 3 (25%) running") && s.contains("is `flightdeck watch`")
    });
    assert!(screen.contains("canary v2"), "{screen}");
    let r: serde_json::Value =
        serde_json::from_str(&ok(h, &["rollout", "fraud", "--json"])).unwrap();
    assert_eq!(r["steps"], serde_json::json!([25, 50, 100]), "{r:#}");
    assert_eq!(r["interval_seconds"], 120.0, "{r:#}");
    // R again holds it; :rollout resume lets it go.
    tmux.keys(&["R"]);
    tmux.wait_for("paused", |s| s.contains("(25%) paused"));
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "rollout resume"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("resumed", |s| s.contains("(25%) running"));
    tmux.keys(&["q"]);
    drop(tmux);
    let journal = ok(h, &["journal", "--model", "fraud"]);
    for row in ["rollout started", "rollout paused", "rollout resumed"] {
        assert!(journal.contains(row), "{row}: {journal}");
    }
    let heard: Vec<String> = hook
        .bodies()
        .iter()
        .filter_map(|b| b["notice"]["event"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        heard,
        ["rollout started", "rollout paused", "rollout resumed"]
    );
    ok(h, &["server", "stop", "fraud"]);
}

/// Sends one-row requests of fraud's input with ids `PREFIX-0`.. and checks each is answered.
fn claims(h: &Path, prefix: &str, rows: &[[f64; 4]]) {
    let client = reqwest::blocking::Client::new();
    for (i, row) in rows.iter().enumerate() {
        let row: Vec<serde_json::Value> = row.iter().map(|v| serde_json::json!(v)).collect();
        let (status, body) =
            common::post_to_fraud(h, &client, Some(&format!("{prefix}-{i}")), &row);
        assert_eq!(status, 200, "{body}");
    }
}

#[test]
fn the_request_log_is_tailed_searched_and_kept_as_a_sentinel_and_a_shadow_starts_from_the_console()
{
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    common::register(h, "fraud", "gb_multiclass.onnx");
    std::fs::write(h.join("no-config.toml"), "[request_log]\nrate = 1\n").unwrap();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let rows = [
        [50.0, 40.0, 0.1, 0.2],
        [900.0, 23.0, 0.9, 0.7],
        [12.0, 61.0, 0.3, 0.1],
    ];
    claims(h, "claim", &rows);
    // Enough newer traffic that claim-1 is not among the newest the pane reads.
    let bulk: Vec<[f64; 4]> = (0..250).map(|i| rows[i % 3]).collect();
    claims(h, "bulk", &bulk);
    let tmux = Tmux::start(h, 140, 32);
    tmux.wait_for("the fleet", |s| s.contains("fraud") && s.contains("v1"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the serving pane", |s| s.contains("serving"));
    // The requests pane tails the log, newest first, the selected request whole below.
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "requests"]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the logged requests", |s| {
        s.contains("bulk-249") && s.contains("tailing")
    });
    assert!(screen.contains("output_label="), "{screen}");
    // New traffic shows up at the top while the pane follows the newest.
    claims(h, "later", &rows[..1]);
    tmux.wait_for("a new request", |s| s.contains("later-0"));
    // Moving down holds the rows still (the highlighted request stays put) and counts what
    // came since; g goes back to the newest.
    tmux.keys(&["j"]);
    claims(h, "meanwhile", &rows[..2]);
    tmux.wait_for("held, with the newer counted", |s| {
        s.contains("held: 2 newer not shown") && !s.contains("meanwhile-1")
    });
    tmux.keys(&["g"]);
    tmux.wait_for("the newest again", |s| {
        s.contains("meanwhile-1") && s.contains("tailing")
    });
    // `/` searches the whole log: claim-1 is older than the newest the pane reads.
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "claim-1"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("claim-1 found in the whole log", |s| {
        s.contains("claim-1")
            && s.contains("found in the whole log")
            && !s.contains("claim-2")
            && !s.contains("later-0")
    });
    tmux.keys(&["t"]);
    tmux.wait_for("the sentinel kept", |s| {
        s.contains("sentinel case \"request claim-1\" added")
    });
    // A search that finds nothing says so (not that the log is off).
    tmux.keys(&["Escape"]);
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "no-such-claim"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("nothing found, said", |s| {
        s.contains("No logged request holds \"no-such-claim\"")
    });
    // S on v2 in the versions pane starts a shadow beside production, shown in the serving pane.
    tmux.keys(&["Escape"]);
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "versions"]);
    tmux.keys(&["Enter"]);
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "v2"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("v2 alone", |s| s.contains("v2") && s.contains("filter: v2"));
    tmux.keys(&["S"]);
    tmux.wait_for("the shadow started", |s| {
        s.contains("shadow of fraud started: v2")
    });
    tmux.keys(&["Escape"]);
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "serving"]);
    tmux.keys(&["Enter"]);
    let more: Vec<[f64; 4]> = (0..40).map(|i| rows[i % 3]).collect();
    claims(h, "busy", &more);
    tmux.wait_for("the shadow in the serving pane", |s| {
        s.contains("shadow v2 beside v1: agrees on")
    });
    // S again (anywhere but on another version) stops it, with its report.
    tmux.keys(&["S"]);
    tmux.wait_for("the shadow stopped", |s| {
        s.contains("shadow of fraud stopped")
    });
    tmux.keys(&["q"]);
    drop(tmux);
    let journal = ok(h, &["journal", "--model", "fraud"]);
    for row in ["sentinel added", "shadow started", "shadow stopped"] {
        assert!(journal.contains(row), "{row}: {journal}");
    }
    let smoke: serde_json::Value =
        serde_json::from_str(&ok(h, &["smoke", "fraud", "1", "--json"])).unwrap();
    let sentinels = common::check_named(&smoke, "sentinels");
    assert_eq!(
        sentinels["detail"], "1 of 1 cases within tolerance",
        "{sentinels}"
    );
    ok(h, &["server", "stop", "fraud"]);
}

/// The console's colours on a terminal that says `TERM` and `COLORTERM` as given (`-` unset).
fn colours_under(term: &str, colorterm: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    std::fs::write(h.join("none.toml"), "").unwrap();
    let session = format!("fd-colour-{}-{term}-{colorterm}", std::process::id());
    let colorterm = if colorterm == "-" {
        "-u COLORTERM".to_string()
    } else {
        format!("COLORTERM={colorterm}")
    };
    let command = format!(
        "env -u NO_COLOR {colorterm} TERM={term} FLIGHTDECK_HOME={} FLIGHTDECK_CONFIG={}/none.toml {}",
        h.display(),
        h.display(),
        env!("CARGO_BIN_EXE_flightdeck")
    );
    let tmux = Tmux::start_command(session, 100, 24, &command);
    tmux.wait_for("the fleet", |s| s.contains("fraud"));
    tmux.styled_screen()
}

#[test]
fn colours_fall_back_to_what_the_terminal_shows() {
    // screen and the Linux console: the 16 colours, never a 24-bit code they would garble.
    for term in ["screen", "linux"] {
        let styled = colours_under(term, "-");
        assert!(
            !styled.contains("38;2;") && !styled.contains("48;2;"),
            "{term}: {styled}"
        );
        assert!(
            styled.contains("\u{1b}["),
            "{term} still has colours: {styled}"
        );
    }
    // 256 colours said, 24-bit not: the theme's colours as their nearest of the 256.
    let styled = colours_under("xterm-256color", "-");
    assert!(
        !styled.contains("38;2;") && !styled.contains("48;2;"),
        "{styled}"
    );
    assert!(
        styled.contains("38;5;") || styled.contains("48;5;"),
        "{styled}"
    );
    // A terminal that says 24-bit gets the theme as written.
    let styled = colours_under("xterm-256color", "truecolor");
    assert!(
        styled.contains("38;2;") || styled.contains("48;2;"),
        "{styled}"
    );
}

#[test]
fn a_snapshot_for_an_incident_channel_carries_the_data_only() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    common::register(h, "churn", "rf_binary.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let out = ok(h, &["snapshot", "--width", "100", "--height", "40"]);
    // The header, the table's borders and header row, its two rows: nothing else.
    assert!(out.contains("fraud") && out.contains("churn"), "{out}");
    assert!(!out.contains('▶') && !out.contains("<?>"), "{out}");
    assert_eq!(out.lines().count(), 6, "{out}");
    assert!(out.lines().all(|l| l == l.trim_end()), "{out}");
    let ascii = ok(
        h,
        &["--ascii", "snapshot", "--width", "100", "--height", "40"],
    );
    // Every model, however short the height asked: ten rows where twelve lines were asked.
    for i in 0..8 {
        common::register(h, &format!("model-{i}"), "rf_binary.onnx");
    }
    let short = ok(h, &["snapshot", "--width", "100", "--height", "12"]);
    for model in ["churn", "fraud", "model-0", "model-7"] {
        assert!(short.contains(model), "{model}: {short}");
    }
    assert!(ascii.is_ascii() && !ascii.contains("|>"), "{ascii}");
    let data: serde_json::Value = serde_json::from_str(&ok(h, &["snapshot", "--json"])).unwrap();
    let models: Vec<&str> = data["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    assert_eq!(models.len(), 10, "{data:#}");
    assert_eq!(models[..2], ["churn", "fraud"], "{data:#}");
    assert_eq!(data["environment"], "local", "{data:#}");
    ok(h, &["server", "stop", "fraud"]);
}

#[test]
fn l_tails_a_models_server_logs_and_tab_moves_between_them() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let tmux = Tmux::start(h, 140, 32);
    tmux.wait_for("the fleet", |s| s.contains("fraud") && s.contains("v1"));
    tmux.keys(&["l"]);
    tmux.wait_for("the server's log", |s| {
        s.contains("fraud · server log")
            && s.contains("deployment plan applied")
            && s.contains("following")
    });
    tmux.keys(&["Tab"]);
    tmux.wait_for("the supervisor's log", |s| {
        s.contains("supervisor log") && s.contains("command=Supervise")
    });
    tmux.keys(&["Tab"]);
    tmux.wait_for("the process output", |s| {
        s.contains("process output") && s.contains("serving fraud v1 on http://127.0.0.1:")
    });
    // A restart shows up at the end while it follows.
    ok(h, &["server", "stop", "fraud"]);
    ok(h, &["server", "start", "fraud"]);
    tmux.wait_for("the second start", |s| {
        s.matches("serving fraud v1 on http://127.0.0.1:").count() >= 2
    });
    // `/` searches the lines kept: Enter goes to the newest match, n to older, N to newer.
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "SERVING FRAUD"]);
    tmux.wait_for("the search typed", |s| s.contains("/SERVING FRAUD_"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the newest match", |s| {
        s.contains("/SERVING FRAUD · match 2 of 2") && s.contains("held · lines")
    });
    tmux.keys(&["n"]);
    tmux.wait_for("the older match", |s| s.contains("match 1 of 2"));
    tmux.keys(&["n"]);
    tmux.wait_for("no older one, said with the search", |s| {
        s.contains("/SERVING FRAUD · match 1 of 2, no older match")
    });
    tmux.keys(&["N"]);
    // The next key forgets it: it was about the key before.
    tmux.wait_for("the newer match", |s| {
        s.contains("match 2 of 2") && !s.contains("no older match")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the search cleared, the log still open", |s| {
        !s.contains("/SERVING FRAUD") && s.contains("process output")
    });
    // → reads long lines sideways, ← comes back.
    tmux.keys(&["Right"]);
    tmux.wait_for("the log from column 21", |s| {
        s.contains("from column 21 (← back)") && !s.contains("serving fraud v1 on http")
    });
    tmux.keys(&["Left"]);
    tmux.wait_for("the log from its start", |s| {
        !s.contains("from column") && s.contains("serving fraud v1 on http")
    });
    tmux.keys(&["G"]);
    tmux.keys(&["k"]);
    tmux.wait_for("held", |s| s.contains("held · lines"));
    tmux.keys(&["G"]);
    tmux.wait_for("following again", |s| s.contains("following · lines"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("closed", |s| !s.contains("process output"));
    tmux.keys(&["q"]);
    drop(tmux);
    ok(h, &["server", "stop", "fraud"]);
}

#[test]
fn server_lists_local_servers_and_stops_and_restarts_one_after_confirmation() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    ok(h, &["alias", "set", "fraud", "production", "1"]);
    ok(h, &["server", "start", "fraud"]);
    let port = std::fs::read_to_string(h.join("serve/fraud.port"))
        .unwrap()
        .trim()
        .to_string();
    // The script's way first: the same port, another process.
    let restarted = ok(h, &["server", "restart", "fraud"]);
    assert!(
        restarted.contains("fraud: restarted, serving v1 on") && restarted.contains(&port),
        "{restarted}"
    );
    let pid = |h: &Path| -> String {
        let list: serde_json::Value =
            serde_json::from_str(&ok(h, &["server", "list", "--json"])).unwrap();
        list[0]["record"]["server_pid"].to_string()
    };
    let first_pid = pid(h);

    // Operations here are confirmed by typing the model's name.
    let config = h.join("typed.toml");
    std::fs::write(&config, "[environments.local]\nconfirm = \"typed\"\n").unwrap();
    let tmux = Tmux::start_with_config(h, &config, 120, 24);
    tmux.wait_for("the fleet", |s| s.contains("fraud") && s.contains("up"));
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "server"]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the servers list", |s| {
        s.contains("local servers of local (1)") && s.contains(&port)
    });
    assert!(screen.contains(&first_pid), "its pid:\n{screen}");
    assert!(screen.contains("running"), "{screen}");

    // r asks first; Enter without the name does nothing; the name and Enter restart it.
    tmux.keys(&["r"]);
    tmux.wait_for("the restart to be confirmed", |s| {
        s.contains("restart fraud's server?") && s.contains("type fraud and Enter")
    });
    tmux.keys(&["Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pid(h), first_pid, "not restarted without the name typed");
    tmux.keys(&["-l", "fraud"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the restart done", |s| {
        s.contains("fraud's server restarted: v1 on") && s.contains(&port)
    });
    let second_pid = pid(h);
    assert_ne!(second_pid, first_pid, "a new process");
    tmux.wait_for("the new pid listed", |s| s.contains(&second_pid));

    // l tails the selected server's log; Esc comes back to the list.
    tmux.keys(&["l"]);
    tmux.wait_for("the server's log", |s| s.contains("fraud · server log"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("back in the servers list", |s| {
        s.contains("local servers of local (1)") && !s.contains("fraud · server log")
    });

    // x, then Esc: nothing stops.
    tmux.keys(&["x"]);
    tmux.wait_for("the stop to be confirmed", |s| {
        s.contains("stop fraud's server?") && s.contains("no answer until it is started again")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the stop forgotten", |s| {
        !s.contains("stop fraud's server?")
    });
    assert_eq!(pid(h), second_pid);
    tmux.keys(&["x"]);
    tmux.keys(&["-l", "fraud"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the stop done, the server listed as stopped", |s| {
        s.contains("fraud's server stopped (it served v1)")
            && s.contains("local servers of local (1)")
            && s.lines()
                .any(|l| l.contains("fraud") && l.contains("stopped"))
    });
    // Still listed when the list is opened again.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the list closed", |s| !s.contains("local servers of local"));
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "server"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the stopped server listed again", |s| {
        s.contains("local servers of local (1)")
            && s.lines()
                .any(|l| l.contains("fraud") && l.contains("stopped here at"))
    });
    // s starts it again, serving what the aliases say (no confirmation: nothing is taken away).
    tmux.keys(&["s"]);
    tmux.wait_for("the start done", |s| {
        s.contains("fraud's server started: v1 on http://127.0.0.1:")
    });
    tmux.wait_for("running again", |s| {
        s.lines()
            .any(|l| l.contains("fraud") && l.contains("running"))
    });
    tmux.keys(&["x"]);
    tmux.keys(&["-l", "fraud"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("stopped again", |s| {
        s.lines()
            .any(|l| l.contains("fraud") && l.contains("stopped here at"))
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the fleet says nothing serves production", |s| {
        s.contains("!down")
    });
    tmux.keys(&["q"]);
    let journal = ok(h, &["journal", "--model", "fraud"]);
    for operation in ["server stop", "server restart", "server start"] {
        assert!(
            journal.contains(operation),
            "{operation} journaled:\n{journal}"
        );
    }
}

#[test]
fn server_in_a_read_only_environment_refuses_to_stop_a_server() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    ok(h, &["alias", "set", "fraud", "production", "1"]);
    ok(h, &["server", "start", "fraud"]);
    let config = h.join("readonly.toml");
    std::fs::write(&config, "[environments.local]\nread_only = true\n").unwrap();
    let tmux = Tmux::start_with_config(h, &config, 120, 24);
    tmux.wait_for("the fleet", |s| s.contains("fraud") && s.contains("up"));
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "server"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the servers list", |s| {
        s.contains("local servers of local (1)")
    });
    tmux.keys(&["x"]);
    tmux.wait_for("the refusal", |s| {
        s.contains("read-only: stop fraud's server refused")
    });
    tmux.keys(&["q"]);
    let list = ok(h, &["server", "list"]);
    assert!(list.contains("fraud") && list.contains("ok"), "{list}");
    ok(h, &["server", "stop", "fraud"]);
}
