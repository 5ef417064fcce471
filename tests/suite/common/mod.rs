//! Helpers shared by the integration tests: fixture paths and running the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod alertmanager;
pub mod console;
pub mod crd;
pub mod exporter;
pub mod kube_api;
pub mod kube_rig;
pub mod prometheus;
pub mod server;
pub mod tmux;
pub mod webhook;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

/// The flightdeck binary, with its data dir and config pinned to `home` (never the user's own).
pub fn flightdeck(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flightdeck"));
    cmd.env("FLIGHTDECK_HOME", home)
        .env("FLIGHTDECK_CONFIG", home.join("no-config.toml"))
        .env("FLIGHTDECK_USER", "tester")
        .env_remove("FLIGHTDECK_FAILPOINT");
    // A config file of the test's own (empty unless the test wrote one): tests must not read
    // the developer's config.
    let config = home.join("no-config.toml");
    if !config.exists() {
        let _ = std::fs::write(&config, "");
    }
    cmd
}

pub fn run(home: &Path, args: &[&str]) -> Output {
    flightdeck(home)
        .args(args)
        .output()
        .expect("run flightdeck")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs and requires success, returning stdout.
pub fn ok(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(
        out.status.success(),
        "flightdeck {args:?} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Runs and requires failure with the given exit code, returning stderr.
pub fn fails(home: &Path, args: &[&str], code: i32) -> String {
    let out = run(home, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "flightdeck {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stderr(&out)
}

/// Registers the fixture model `file` as a new version of `model`.
pub fn register(home: &Path, model: &str, file: &str) -> String {
    ok(home, &["register", model, fixture(file).to_str().unwrap()])
}

/// Sends each row to the local server of `fraud` as a one-row request of its input `X`, and
/// checks each is answered.
pub fn rows_to_fraud(home: &Path, rows: impl IntoIterator<Item = Vec<serde_json::Value>>) {
    let client = reqwest::blocking::Client::new();
    for row in rows {
        let (status, body) = post_to_fraud(home, &client, None, &row);
        assert!(status < 300, "{status}: {body}");
    }
}

/// Sends one row to the local server of `fraud` (V2, input `X` as wide as the row), with `id`
/// when given; the status and the body the client got.
pub fn post_to_fraud(
    home: &Path,
    client: &reqwest::blocking::Client,
    id: Option<&str>,
    row: &[serde_json::Value],
) -> (u16, serde_json::Value) {
    let port = std::fs::read_to_string(home.join("serve/fraud.port")).unwrap();
    let url = format!("http://127.0.0.1:{}/v2/models/fraud/infer", port.trim());
    let mut body = serde_json::json!({ "inputs": [{ "name": "X", "shape": [1, row.len()], "datatype": "FP32", "data": row }] });
    if let Some(id) = id {
        body["id"] = id.into();
    }
    let response = client.post(&url).json(&body).send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(serde_json::Value::Null))
}

/// The versions the production and canary aliases of `model` point at.
pub fn production_and_canary(home: &Path, model: &str) -> (Option<u64>, Option<u64>) {
    let aliases: serde_json::Value =
        serde_json::from_str(&ok(home, &["alias", "list", model, "--json"])).unwrap();
    let version = |name: &str| {
        aliases
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["alias"] == name)
            .and_then(|a| a["version"].as_u64())
    };
    (version("production"), version("canary"))
}

/// `promtool check metrics` on an exposition, when promtool is installed (CI installs it, and
/// there it must be).
pub fn promtool_check(exposition: &str) {
    let spawned = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = spawned else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have promtool (apt-get install prometheus)"
        );
        return;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The check called `name` in a smoke report (`smoke --json`); a panic showing the report when
/// it has none.
pub fn check_named<'a>(smoke: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    smoke["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name:?} in {smoke:#}"))
}

/// Kills process `pid` outright (SIGKILL), as a crash would.
pub fn kill_outright(pid: u64) {
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -9 {pid}");
}
