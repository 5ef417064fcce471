//! Local servers under their supervisor: started in the background, restarted on the same port
//! after a crash, re-attached by later commands, switched without a restart, stopped cleanly.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{fails, ok};
use serde_json::{Value, json};

fn registry() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    common::register(h, "fraud", "mlp_classifier.onnx");
    home
}

fn servers(home: &Path) -> Vec<Value> {
    serde_json::from_str::<Value>(&ok(home, &["server", "list", "--json"]))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn infer(endpoint: &str) -> Value {
    let body = json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4] }] });
    reqwest::blocking::Client::new()
        .post(format!("{endpoint}/v2/models/fraud/infer"))
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Stops the model's server even if the test fails half-way.
struct StopOnDrop<'a>(&'a Path);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = common::run(self.0, &["server", "stop", "fraud"]);
    }
}

#[test]
fn a_crashed_server_comes_back_on_the_same_port_and_commands_reattach() {
    let home = registry();
    let h = home.path();
    let _guard = StopOnDrop(h);
    let out = ok(h, &["server", "start", "fraud", "--version", "1"]);
    assert!(out.contains("serving v1 on http://127.0.0.1:"), "{out}");
    let list = servers(h);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["healthy"], true);
    let endpoint = format!("http://127.0.0.1:{}", list[0]["record"]["port"]);
    assert_eq!(infer(&endpoint)["model_version"], "1");

    // A second command switches the running server: same process, new plan.
    let pid = list[0]["record"]["server_pid"].as_u64().unwrap();
    ok(
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
            "100",
        ],
    );
    let list = servers(h);
    assert_eq!(
        list[0]["record"]["server_pid"].as_u64(),
        Some(pid),
        "switched in place"
    );
    assert_eq!(
        list[0]["serving"],
        json!({ "stable": 1, "canary": 2, "canary_percent": 100 })
    );
    assert_eq!(infer(&endpoint)["model_version"], "2");

    // Kill the server outright: the supervisor restarts it, on the same port, with the last plan.
    common::kill_outright(pid);
    let deadline = Instant::now() + Duration::from_secs(20);
    let restarted = loop {
        let list = servers(h);
        let record = &list[0]["record"];
        if list[0]["healthy"] == true
            && record["restarts"] == 1
            && record["server_pid"].as_u64() != Some(pid)
        {
            break list[0].clone();
        }
        assert!(Instant::now() < deadline, "not restarted: {list:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        restarted["record"]["last_exit"]
            .as_str()
            .unwrap()
            .contains("SIGKILL"),
        "{restarted}"
    );
    assert_eq!(
        format!("http://127.0.0.1:{}", restarted["record"]["port"]),
        endpoint
    );
    assert_eq!(
        restarted["serving"]["canary"], 2,
        "the restart serves the last plan"
    );
    assert_eq!(infer(&endpoint)["model_version"], "2");
    let table = ok(h, &["server", "list"]);
    assert!(table.contains("fraud") && table.contains("ok"), "{table}");

    let supervisor = restarted["record"]["supervisor_pid"].as_u64().unwrap();
    let server = restarted["record"]["server_pid"].as_u64().unwrap();
    ok(h, &["server", "stop", "fraud"]);
    assert!(
        !alive(supervisor) && !alive(server),
        "both processes stopped"
    );
    assert!(servers(h).is_empty());
    let journal = ok(h, &["journal"]);
    assert!(
        journal.contains("server start") && journal.contains("server stop"),
        "{journal}"
    );
}

#[test]
fn a_server_whose_supervisor_died_is_still_stopped() {
    let home = registry();
    let h = home.path();
    let _guard = StopOnDrop(h);
    ok(h, &["server", "start", "fraud"]);
    let list = servers(h);
    let supervisor = list[0]["record"]["supervisor_pid"].as_u64().unwrap();
    let server = list[0]["record"]["server_pid"].as_u64().unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &supervisor.to_string()])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(200));
    let list = servers(h);
    assert_eq!(list[0]["supervisor_alive"], false);
    // It still serves: reported as serving, never as down, and as unsupervised.
    assert_eq!(list[0]["healthy"], true, "{}", list[0]);
    assert!(
        list[0]["problem"]
            .as_str()
            .unwrap()
            .contains("unsupervised"),
        "{}",
        list[0]
    );
    // `server start` takes it over on the same port: its clients find the new server.
    let port = list[0]["record"]["port"].as_u64().unwrap();
    ok(h, &["server", "start", "fraud"]);
    let list = servers(h);
    assert_eq!(list[0]["supervisor_alive"], true, "{}", list[0]);
    assert_eq!(list[0]["record"]["port"].as_u64(), Some(port));
    let taken_over = list[0]["record"]["server_pid"].as_u64().unwrap();
    assert_ne!(taken_over, server, "a new server, under a new supervisor");
    assert!(!alive(server), "the orphaned server was stopped first");
    let server = taken_over;
    ok(h, &["server", "stop", "fraud"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(server) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(server), "the server was stopped");
}

fn signal(name: &str, pid: u64) {
    assert!(
        std::process::Command::new("kill")
            .args([name, &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

/// Lets a frozen process run again, even if the test fails half-way.
struct Thaw(u64);

impl Drop for Thaw {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

#[test]
fn a_frozen_server_is_named_and_does_not_hold_up_the_fleet() {
    let home = registry();
    let h = home.path();
    let _guard = StopOnDrop(h);
    ok(h, &["server", "start", "fraud"]);
    let server = servers(h)[0]["record"]["server_pid"].as_u64().unwrap();
    // Frozen, not dead: the kernel still accepts connections, nothing answers them.
    signal("-STOP", server);
    let _thaw = Thaw(server);
    let list = servers(h);
    assert_eq!(list[0]["healthy"], false);
    let problem = list[0]["problem"].as_str().unwrap();
    assert!(
        problem.contains("did not answer within 2000 ms") && problem.contains("server stop fraud"),
        "the problem says what happened and what to do: {problem}"
    );
    // The fleet view still comes back, with the registry's view of the model.
    let status = ok(h, &["status", "--json"]);
    let rows: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(rows[0]["model"], "fraud", "{status}");
}

#[test]
fn a_version_that_cannot_load_fails_the_start_and_leaves_nothing_running() {
    let home = registry();
    let h = home.path();
    let _guard = StopOnDrop(h);
    // Damage v1's artifact on disk after registration.
    let versions: Value = serde_json::from_str(&ok(h, &["versions", "fraud", "--json"])).unwrap();
    let sha = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 1)
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let artifact = h
        .join("artifacts/sha256")
        .join(&sha[..2])
        .join(format!("{sha}.onnx"));
    std::fs::write(&artifact, b"damaged").unwrap();
    let err = fails(h, &["server", "start", "fraud", "--version", "1"], 1);
    assert!(err.contains("did not become ready"), "{err}");
    assert!(err.contains("modified or damaged"), "says why: {err}");
    assert!(servers(h).is_empty(), "no crash loop left behind");
    // The other version still serves.
    ok(h, &["server", "start", "fraud", "--version", "2"]);
    assert_eq!(servers(h)[0]["healthy"], true);
}

#[test]
fn a_deleted_data_dir_stops_its_servers_instead_of_orphaning_them() {
    let home = registry();
    let h = home.path().to_path_buf();
    ok(&h, &["alias", "set", "fraud", "production", "1"]);
    ok(&h, &["server", "start", "fraud"]);
    let list = servers(&h);
    let supervisor = list[0]["record"]["supervisor_pid"].as_u64().unwrap();
    let server = list[0]["record"]["server_pid"].as_u64().unwrap();
    assert!(alive(supervisor) && alive(server));
    // A test's temp home dropped after a panic, or `rm -rf` by hand: nobody runs `server stop`.
    drop(home);
    assert!(!h.exists());
    let deadline = Instant::now() + Duration::from_secs(15);
    while (alive(supervisor) || alive(server)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!alive(server), "the server was stopped");
    assert!(!alive(supervisor), "the supervisor exited");
    assert!(
        !h.exists(),
        "and did not recreate the directory on its way out"
    );
}

/// The executable a server process runs, from /proc.
fn exe_of(port_file: &Path) -> std::path::PathBuf {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !port_file.exists() {
        assert!(Instant::now() < deadline, "the server never wrote its port");
        std::thread::sleep(Duration::from_millis(50));
    }
    let port = std::fs::read_to_string(port_file).unwrap();
    let out = std::process::Command::new("pgrep")
        .args([
            "-f",
            &format!("serve fraud --port 0 --port-file {}", port_file.display()),
        ])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout)
        .trim()
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(!port.is_empty());
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap()
}

#[test]
fn serve_hands_over_to_its_sibling_of_the_same_build_only() {
    let home = registry();
    let h = home.path();
    let start = |program: &Path, tag: &str| {
        let port_file = h.join(format!("port-{tag}"));
        let child = std::process::Command::new(program)
            .args(["serve", "fraud", "--port", "0", "--port-file"])
            .arg(&port_file)
            .env("FLIGHTDECK_HOME", h)
            .env("FLIGHTDECK_CONFIG", h.join("no-config.toml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let exe = exe_of(&port_file);
        (child, exe)
    };
    // Built together: `flightdeck serve` becomes flightdeck-serve (mimalloc), same pid.
    let flightdeck = Path::new(env!("CARGO_BIN_EXE_flightdeck"));
    let (mut child, exe) = start(flightdeck, "same");
    assert_eq!(exe.file_name().unwrap(), "flightdeck-serve", "{exe:?}");
    let _ = child.kill();
    let _ = child.wait();

    // A sibling from another build (here: one that reports another build id) is not used.
    let dir = tempfile::tempdir_in(flightdeck.parent().unwrap()).unwrap();
    let copy = dir.path().join("flightdeck");
    std::fs::hard_link(flightdeck, &copy).unwrap();
    let stale = dir.path().join("flightdeck-serve");
    std::fs::write(&stale, "#!/bin/sh\necho some-other-build\n").unwrap();
    let mut permissions = std::fs::metadata(&stale).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&stale, permissions).unwrap();
    let (mut child, exe) = start(&copy, "stale");
    assert_eq!(exe.file_name().unwrap(), "flightdeck", "{exe:?}");
    let _ = child.kill();
    let _ = child.wait();

    // A sibling that never answers is given up on: the server still starts, in-process.
    std::fs::write(&stale, "#!/bin/sh\nexec sleep 60\n").unwrap();
    let (mut child, exe) = start(&copy, "hung");
    assert_eq!(exe.file_name().unwrap(), "flightdeck", "{exe:?}");
    let _ = child.kill();
    let _ = child.wait();
}
