//! One fleet across environments: `flightdeck status --all-envs` and the console's `:fleet all`
//! with a served local environment, a read-only one, one whose registry refuses connections
//! and one whose registry accepts and never answers. The dead and the hung ones are named with
//! their error and never hold back the others; keys act in the row's own environment.

use crate::common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{ok, stderr, stdout};

/// A registry address nothing listens on (a port bound, then let go).
fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A home with fraud served locally, and a config of four environments: `local`, `audit`
/// (read-only, the same registry), `dead` (its MLflow refuses connections) and `hung` (its
/// MLflow accepts and never answers: `hang` must stay open for the test).
fn four_environments(h: &Path, hang: &TcpListener) -> PathBuf {
    common::register(h, "fraud", "logreg_multiclass.onnx");
    common::register(h, "churn", "rf_binary.onnx");
    ok(h, &["alias", "set", "fraud", "production", "1"]);
    ok(h, &["server", "start", "fraud"]);
    let config = h.join("envs.toml");
    std::fs::write(
        &config,
        format!(
            "[refresh]\nsource_timeout_ms = 1500\n\n\
             [environments.local]\n\n\
             [environments.audit]\nread_only = true\nconfirm = \"typed\"\n\n\
             [environments.dead]\nregistry = \"mlflow\"\nmlflow_url = \"{}\"\n\n\
             [environments.hung]\nregistry = \"mlflow\"\nmlflow_url = \"http://{}\"\n",
            refused_url(),
            hang.local_addr().unwrap()
        ),
    )
    .unwrap();
    config
}

/// Requests to fraud's server until `stop` says so, so its rows have live numbers.
fn traffic(
    h: &Path,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let url = format!("http://127.0.0.1:{}/v2/models/fraud/infer", port.trim());
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            let body = serde_json::json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": [50, 40, 0.1, 0.2] }] });
            while !stop.load(Ordering::Relaxed) {
                let _ = client.post(&url).json(&body).send();
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    (stop, handle)
}

#[test]
fn status_all_envs_lists_every_environment_and_names_the_ones_that_cannot_be_read() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = four_environments(h, &hang);
    let started = Instant::now();
    let out = common::flightdeck(h)
        .env("FLIGHTDECK_CONFIG", &config)
        .args(["status", "--all-envs"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let (text, errors) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{text}{errors}");
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("ENV") && header.contains("MODEL"),
        "{text}"
    );
    for (env, model) in [
        ("audit", "fraud"),
        ("local", "fraud"),
        ("audit", "churn"),
        ("local", "churn"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().take(2).eq([env, model])),
            "{env} {model} is listed:\n{text}"
        );
    }
    // Served by the local server: it is up in both environments that read this registry.
    assert!(
        text.lines()
            .any(|l| l.starts_with("local") && l.contains("fraud") && l.contains(" up ")),
        "{text}"
    );
    assert!(
        text.contains("dead: cannot be read:") && text.contains("refused"),
        "the dead registry, with why:\n{text}"
    );
    assert!(
        text.contains("hung: cannot be read:")
            && text.contains("MLflow at http://127.0.0.1:")
            && text.contains("gave no answer within"),
        "the hung registry, with why:\n{text}"
    );
    assert!(
        errors.contains("2 of 4 environments could not be read: dead, hung"),
        "{errors}"
    );
    // Read at once: the hung one's deadline, not the sum of everyone's.
    assert!(took < Duration::from_secs(60), "took {took:?}");

    let out = common::flightdeck(h)
        .env("FLIGHTDECK_CONFIG", &config)
        .args(["status", "--all-envs", "--json", "fraud"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let environments = json["environments"].as_array().unwrap();
    let names: Vec<&str> = environments
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["audit", "dead", "hung", "local"]);
    let audit = &environments[0];
    assert_eq!(audit["read_only"], true);
    assert_eq!(audit["models"], 1, "only fraud was asked for");
    assert!(audit["error"].is_null());
    assert!(
        environments[1]["error"]
            .as_str()
            .unwrap()
            .contains("cannot read the registry"),
        "{json}"
    );
    let models = json["models"].as_array().unwrap();
    assert_eq!(models.len(), 2, "{json}");
    for m in models {
        assert_eq!(m["model"], "fraud");
        assert_eq!(m["production"], 1);
    }
    let envs: Vec<&str> = models
        .iter()
        .map(|m| m["environment"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["audit", "local"]);
    ok(h, &["server", "stop", "fraud"]);
}

#[test]
fn fleet_all_shows_every_environment_keeps_a_hung_one_apart_and_acts_in_the_rows_environment() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = four_environments(h, &hang);
    let (stop, load) = traffic(h);
    let tmux = Tmux::start_with_config(h, &config, 120, 24);
    tmux.wait_for("the local fleet", |s| {
        s.contains("fraud") && s.contains("churn")
    });
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "fleet all"]);
    tmux.keys(&["Enter"]);
    // The audit environment's rows arrive while the hung one is still being read: a slow
    // environment holds back nobody.
    let row = |s: &str, env: &str, model: &str| -> Option<String> {
        s.lines()
            .find(|l| {
                let words: Vec<&str> = l
                    .trim_start_matches(['│', ' ', '▶'])
                    .split_whitespace()
                    .collect();
                words.len() >= 2 && words[0] == env && words[1] == model
            })
            .map(str::to_string)
    };
    let screen = tmux.wait_for("audit's rows while hung is read", |s| {
        s.contains("every environment")
            && row(s, "audit", "fraud").is_some()
            && row(s, "hung", "?").is_some_and(|l| l.contains("reading"))
    });
    assert!(row(&screen, "local", "churn").is_some(), "{screen}");
    let screen = tmux.wait_for("live numbers in both environments", |s| {
        ["audit", "local"]
            .iter()
            .all(|env| row(s, env, "fraud").is_some_and(|l| l.contains("up") && l.contains("ms")))
    });
    assert!(
        row(&screen, "dead", "?").is_some_and(|l| l.contains("cannot be read")),
        "the dead registry's line:\n{screen}"
    );
    let screen = tmux.wait_for("the hung registry failing", |s| {
        row(s, "hung", "?").is_some_and(|l| l.contains("cannot be read"))
            && s.contains("hung ✖ failing")
    });
    assert!(screen.contains("audit ✔"), "{screen}");

    // `/` matches environments and models.
    tmux.keys(&["/", "a", "u", "d", "i", "Enter"]);
    let screen = tmux.wait_for("only audit's rows", |s| {
        s.contains("filter: audi") && row(s, "local", "fraud").is_none()
    });
    assert!(row(&screen, "audit", "fraud").is_some(), "{screen}");
    assert!(row(&screen, "audit", "churn").is_some(), "{screen}");

    // A rollback on audit's fraud goes to audit, whose read-only rule refuses it.
    let screen = tmux.screen();
    let churn_first =
        screen.find("audit churn").unwrap_or(0) < screen.find("audit fraud").unwrap_or(0);
    tmux.keys(&[if churn_first { "j" } else { "k" }]);
    tmux.wait_for("audit fraud selected", |s| {
        row(s, "audit", "fraud").is_some_and(|l| l.contains('▶'))
    });
    tmux.keys(&["r"]);
    tmux.wait_for("audit's read-only refusal", |s| {
        s.contains("audit · READ-ONLY") && s.contains("read-only: refused to rollback fraud")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("fraud's serving pane in audit", |s| {
        s.contains("serving") && !s.contains("refused")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("back to every environment, in audit now", |s| {
        s.contains("every environment") && s.contains("audit · READ-ONLY")
    });

    // Enter on local's fraud moves back to local and opens it there.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filter cleared", |s| !s.contains("filter: audi"));
    let screen = tmux.wait_for("every row again", |s| row(s, "local", "fraud").is_some());
    let lines: Vec<&str> = screen.lines().collect();
    let selected = lines.iter().position(|l| l.contains('▶'));
    let target = lines
        .iter()
        .position(|l| row(l, "local", "fraud").is_some());
    let (Some(selected), Some(target)) = (selected, target) else {
        panic!("a selection and local's fraud:\n{screen}");
    };
    let key = if target > selected { "j" } else { "k" };
    for _ in 0..target.abs_diff(selected) {
        tmux.keys(&[key]);
    }
    tmux.wait_for("local fraud selected", |s| {
        row(s, "local", "fraud").is_some_and(|l| l.contains('▶'))
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("fraud opened in local", |s| {
        s.contains(" local ")
            && !s.contains("READ-ONLY")
            && s.contains("serving")
            && s.contains("fraud")
    });
    tmux.keys(&["q"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().unwrap();
    ok(h, &["server", "stop", "fraud"]);
}

/// An environment whose registry answers and whose Prometheus does not: its rows are listed
/// without numbers, and it says why (never a bare "read fine").
#[test]
fn status_all_envs_says_when_an_environments_serving_numbers_cannot_be_read() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    ok(h, &["alias", "set", "fraud", "production", "1"]);
    ok(h, &["server", "start", "fraud"]);
    let _stop = StopFraud(h);
    let prometheus = refused_url();
    let config = h.join("envs.toml");
    std::fs::write(
        &config,
        format!(
            "[refresh]\nsource_timeout_ms = 1500\n\n\
             [environments.local]\n\n\
             [environments.observed]\nmetrics = \"prometheus\"\nprometheus_url = \"{prometheus}\"\n"
        ),
    )
    .unwrap();
    let run = |json: bool| {
        let mut args = vec!["status", "--all-envs"];
        if json {
            args.push("--json");
        }
        common::flightdeck(h)
            .env("FLIGHTDECK_CONFIG", &config)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(false);
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l
            .starts_with("observed: the serving numbers of 1 model(s) cannot be read:")
            && l.contains(&prometheus)),
        "{text}{}",
        stderr(&out)
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("local: the serving numbers")),
        "{text}"
    );
    let out = run(true);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let environments = json["environments"].as_array().unwrap();
    let of = |name: &str| {
        environments
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()
            .clone()
    };
    assert!(of("local")["metrics_error"].is_null(), "{json}");
    assert!(of("observed")["error"].is_null(), "{json}");
    assert!(
        of("observed")["metrics_error"]
            .as_str()
            .is_some_and(|e| e.contains(&prometheus)),
        "{json}"
    );
}

/// Stops fraud's server when the test ends, passed or not.
struct StopFraud<'a>(&'a Path);

impl Drop for StopFraud<'_> {
    fn drop(&mut self) {
        let _ = common::flightdeck(self.0)
            .args(["server", "stop", "fraud"])
            .output();
    }
}
