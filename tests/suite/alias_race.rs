//! Two processes moving the same alias from the same revision: exactly one wins, the other
//! reports the conflict (exit code 3), round after round.

use crate::common;

use std::process::Stdio;

use common::{fixture, flightdeck, ok};

#[test]
fn racing_processes_never_lose_an_update() {
    let home = tempfile::tempdir().unwrap();
    for file in ["logreg_multiclass.onnx", "mlp_classifier.onnx"] {
        ok(
            home.path(),
            &["register", "fraud", fixture(file).to_str().unwrap()],
        );
    }
    ok(home.path(), &["alias", "set", "fraud", "production", "1"]);
    for round in 1..=8u64 {
        // Both saw revision `round` and try to move production, to different versions.
        let spawn = |version: &str| {
            flightdeck(home.path())
                .args([
                    "alias",
                    "set",
                    "fraud",
                    "production",
                    version,
                    "--expect-revision",
                    &round.to_string(),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let a = spawn("1");
        let b = spawn("2");
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let codes = [a.status.code(), b.status.code()];
        assert!(
            codes == [Some(0), Some(3)] || codes == [Some(3), Some(0)],
            "round {round}: exit codes {codes:?}\n{}\n{}",
            String::from_utf8_lossy(&a.stderr),
            String::from_utf8_lossy(&b.stderr)
        );
        let loser = if codes[0] == Some(3) { &a } else { &b };
        assert!(String::from_utf8_lossy(&loser.stderr).contains("conflict"));
    }
    let history = ok(
        home.path(),
        &["alias", "history", "fraud", "production", "--json"],
    );
    let moves: serde_json::Value = serde_json::from_str(&history).unwrap();
    // The initial set plus exactly one winner per round.
    assert_eq!(moves.as_array().unwrap().len(), 9);
    let journal = ok(home.path(), &["journal", "--json", "--limit", "1000"]);
    let entries: serde_json::Value = serde_json::from_str(&journal).unwrap();
    let conflicts = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "conflict")
        .count();
    assert_eq!(conflicts, 8, "every lost race is journaled");
}
