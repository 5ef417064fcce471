//! The crash-recovery matrix: every operation (a first deploy, a canary deploy, promote,
//! rollback, abort) killed at every failpoint of its pipeline, then recovered with `--finish`
//! and, on a fresh copy, with `--revert`; afterwards the registry and the server must agree, the
//! state must be the operation's target (finish) or its starting point (revert), and nothing may
//! be left interrupted. One test per operation, so they run side by side.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use common::{fails, fixture, flightdeck, ok};
use serde_json::{Value, json};

const FAILPOINTS: [&str; 4] = [
    "op:after-start",
    "op:after-serving",
    "op:after-aliases",
    "op:after-verify",
];

/// (production, canary) aliases and what the server serves (null when nothing does).
type State = ((Option<u64>, Option<u64>), Value);

fn state(h: &Path) -> State {
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

/// Registry and server agree: production is what serves stable, the canary alias what serves
/// as canary; nothing serves when nothing is in production.
fn agree(s: &State) -> bool {
    let ((production, canary), serving) = s;
    match production {
        None => serving.is_null() && canary.is_none(),
        Some(p) => serving["stable"] == *p && serving["canary"].as_u64() == *canary,
    }
}

fn kill_at(h: &Path, args: &[&str], point: &str) {
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

struct Home(tempfile::TempDir);

impl Drop for Home {
    fn drop(&mut self) {
        let _ = common::run(self.0.path(), &["server", "stop", "fraud"]);
    }
}

/// A home with v1 and v2 registered (same inputs), after `setup` operations.
fn home(setup: &[&[&str]]) -> Home {
    let home = Home(tempfile::tempdir().unwrap());
    let h = home.0.path();
    std::fs::write(
        h.join("no-config.toml"),
        "[gates]\nmin_canary_requests = 1\nmax_p99_ratio = 1000\n",
    )
    .unwrap();
    for file in ["logreg_multiclass.onnx", "mlp_classifier.onnx"] {
        ok(h, &["register", "fraud", fixture(file).to_str().unwrap()]);
    }
    for args in setup {
        ok(h, args);
    }
    home
}

/// Every failpoint x {finish, revert} for one operation: `(tried, consistent)`.
fn matrix(setup: &[&[&str]], operation: &[&str], target: State) -> (usize, usize) {
    let (mut tried, mut consistent) = (0, 0);
    for point in FAILPOINTS {
        for how in ["--finish", "--revert"] {
            let home = home(setup);
            let h = home.0.path();
            let start = state(h);
            kill_at(h, operation, point);
            ok(h, &["recover", "fraud", how, "--yes"]);
            let after = state(h);
            let expected = if how == "--finish" { &target } else { &start };
            let left = fails(h, &["recover", "fraud", "--finish", "--yes"], 1);
            tried += 1;
            let fine = agree(&after)
                && after.0 == expected.0
                && after.1 == expected.1
                && left.contains("no interrupted operation");
            assert!(
                fine,
                "{operation:?} killed at {point}, then {how}: {after:?}, expected {expected:?} ({left})"
            );
            consistent += 1;
        }
    }
    println!(
        "{}: {tried} kills and recoveries, {consistent} consistent",
        operation.join(" ")
    );
    (tried, consistent)
}

fn serving(stable: u64, canary: Option<u64>, percent: u64) -> Value {
    json!({ "stable": stable, "canary": canary, "canary_percent": percent })
}

#[test]
fn a_first_deploy_killed_anywhere_converges() {
    let (tried, consistent) = matrix(
        &[],
        &["deploy", "fraud", "1", "--direct", "--yes"],
        ((Some(1), None), serving(1, None, 0)),
    );
    assert_eq!((tried, consistent), (8, 8));
}

#[test]
fn a_canary_deploy_killed_anywhere_converges() {
    let (tried, consistent) = matrix(
        &[&["deploy", "fraud", "1", "--direct", "--yes"]],
        &["deploy", "fraud", "2", "--canary", "30", "--yes"],
        ((Some(1), Some(2)), serving(1, Some(2), 30)),
    );
    assert_eq!((tried, consistent), (8, 8));
}

#[test]
fn a_promote_killed_anywhere_converges() {
    let (tried, consistent) = matrix(
        &[
            &["deploy", "fraud", "1", "--direct", "--yes"],
            &["deploy", "fraud", "2", "--canary", "30", "--yes"],
        ],
        &["promote", "fraud", "--yes", "--override-gates"],
        ((Some(2), None), serving(2, None, 0)),
    );
    assert_eq!((tried, consistent), (8, 8));
}

#[test]
fn a_rollback_killed_anywhere_converges() {
    let (tried, consistent) = matrix(
        &[
            &["deploy", "fraud", "1", "--direct", "--yes"],
            &["deploy", "fraud", "2", "--direct", "--yes"],
        ],
        &["rollback", "fraud", "--yes"],
        ((Some(1), None), serving(1, None, 0)),
    );
    assert_eq!((tried, consistent), (8, 8));
}

#[test]
fn an_abort_killed_anywhere_converges() {
    let (tried, consistent) = matrix(
        &[
            &["deploy", "fraud", "1", "--direct", "--yes"],
            &["deploy", "fraud", "2", "--canary", "30", "--yes"],
        ],
        &["abort", "fraud", "--yes"],
        ((Some(1), None), serving(1, None, 0)),
    );
    assert_eq!((tried, consistent), (8, 8));
}
