//! The request log on a real model server: off by default; on, an exact share of requests kept
//! with the answers their clients got, read back newest first or by id, failed ones included,
//! and bounded on disk however much traffic comes.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{fails, ok};
use serde_json::{Value, json};

struct Stop<'a>(&'a Path);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = common::run(self.0, &["server", "stop", "fraud"]);
    }
}

/// Sends `n` one-row requests with ids `PREFIX-0`..; the bodies the clients got, by id.
fn requests(h: &Path, prefix: &str, n: usize, width: usize) -> Vec<(String, u16, Value)> {
    let client = reqwest::blocking::Client::new();
    let row: Vec<Value> = [50.0, 40.0, 0.1, 0.2][..width]
        .iter()
        .map(|v| json!(v))
        .collect();
    (0..n)
        .map(|i| {
            let id = format!("{prefix}-{i}");
            let (status, body) = common::post_to_fraud(h, &client, Some(&id), &row);
            (id, status, body)
        })
        .collect()
}

/// The logged requests, newest first, once `count` of them are on disk (the writer flushes
/// when idle).
fn logged(h: &Path, count: usize) -> Vec<Value> {
    logged_with(h, count, &[])
}

/// The same, with more arguments to `flightdeck requests fraud`.
fn logged_with(h: &Path, count: usize, more: &[&str]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let args = [
            &["requests", "fraud", "--json", "--last", "100000"][..],
            more,
        ]
        .concat();
        let out = common::run(h, &args);
        if out.status.success() {
            let entries: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
            if entries.len() >= count {
                return entries;
            }
        }
        assert!(Instant::now() < deadline, "never {count} logged requests");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn size_on_disk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_sample_of_requests_is_kept_with_its_answers_and_bounded_on_disk() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let _stop = Stop(h);

    // Off unless asked for: inputs can be personal data.
    requests(h, "quiet", 10, 4);
    let err = fails(h, &["requests", "fraud"], 1);
    assert!(
        err.contains("has no request log") && err.contains("[request_log] rate"),
        "{err}"
    );
    assert!(!h.join("requests").exists());

    // Every second request, at most 1 MB per model.
    std::fs::write(
        h.join("no-config.toml"),
        "[request_log]\nrate = 0.5\nmax_mb = 1\n",
    )
    .unwrap();
    ok(h, &["server", "stop", "fraud"]);
    ok(h, &["server", "start", "fraud"]);
    let sent = requests(h, "claim", 100, 4);
    let entries = logged(h, 50);
    assert_eq!(entries.len(), 50, "exactly half");
    // Newest first, the odd ones (the 2nd, 4th, ... request of the run).
    assert_eq!(entries[0]["id"], "claim-99");
    assert_eq!(entries[49]["id"], "claim-1");
    let one: Vec<Value> =
        serde_json::from_str(&ok(h, &["requests", "fraud", "--id", "claim-99", "--json"])).unwrap();
    let (_, status, answer) = sent.iter().find(|(id, _, _)| id == "claim-99").unwrap();
    assert_eq!(one[0]["status"], *status);
    assert_eq!(one[0]["version"], "1");
    assert_eq!(
        one[0]["request"]["inputs"][0]["data"],
        json!([50.0, 40.0, 0.1, 0.2])
    );
    assert_eq!(one[0]["answer"], *answer, "the answer the client got");
    let err = fails(h, &["requests", "fraud", "--id", "claim-98"], 1);
    assert!(
        err.contains("no logged request of fraud has the id \"claim-98\""),
        "{err}"
    );

    // A refused request is kept with what the client was told.
    requests(h, "short", 2, 3);
    let failed = logged_with(h, 1, &["--failed"]);
    assert_eq!(failed.len(), 1, "{failed:?}");
    // Refused before the server gave it an id, it keeps the one its body carried.
    assert_eq!(failed[0]["id"], "short-1", "{failed:?}");
    assert_eq!(failed[0]["status"], 400);
    // With the version that refused it (a canary refusing its clients shows as the canary's).
    assert_eq!(failed[0]["version"], "1", "{failed:?}");
    assert!(
        failed[0]["error"].as_str().unwrap().contains("X"),
        "{failed:?}"
    );
    let text = ok(h, &["requests", "fraud", "--last", "3"]);
    assert!(text.contains("claim-") || text.contains("short-"), "{text}");

    // Much more traffic than the limit holds: the oldest segments go, the newest stay.
    requests(h, "load", 8000, 4);
    let deadline = Instant::now() + Duration::from_secs(60);
    let entries = loop {
        let entries = logged(h, 1);
        if entries[0]["id"] == "load-7999" {
            break entries;
        }
        assert!(
            Instant::now() < deadline,
            "the newest never arrived: {}",
            entries[0]
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let dir = h.join("requests/fraud");
    let size = size_on_disk(&dir);
    assert!(
        size <= 1024 * 1024 + 1024 * 1024 / 10 + 4096,
        "{size} bytes on disk for a 1 MB limit"
    );
    assert!(
        !entries.iter().any(|e| e["id"] == "claim-1"),
        "the oldest entries were deleted"
    );
}

/// Sends the classifiers' reference rows as one-row requests, as production's clients would.
fn reference_traffic(h: &Path, n: usize) {
    let text = std::fs::read_to_string(common::fixture("classifier.reference.csv")).unwrap();
    common::rows_to_fraud(
        h,
        text.lines().skip(1).take(n).map(|line| {
            line.split(',')
                .map(|v| json!(v.parse::<f64>().unwrap()))
                .collect()
        }),
    );
}

#[test]
fn replay_compares_a_candidate_with_what_production_answered_and_catches_a_constant_model() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // Production v1; v2 answers the same class to everything (and has no sentinel cases to
    // give it away); v3 a different, honest model.
    for file in [
        "logreg_multiclass.onnx",
        "constant_classifier.onnx",
        "gb_multiclass.onnx",
    ] {
        common::register(h, "fraud", file);
    }
    std::fs::write(h.join("no-config.toml"), "[request_log]\nrate = 1\n").unwrap();
    // Without a log, a constant model passes its smoke test: nothing says it is wrong, and
    // the sentinel check says it had nothing to ask rather than passing.
    let smoke: Value = serde_json::from_str(&ok(h, &["smoke", "fraud", "2", "--json"])).unwrap();
    assert_eq!(smoke["passed"], true, "{smoke:#}");
    let sentinels = common::check_named(&smoke, "sentinels");
    assert_eq!(sentinels["skipped"], true, "{sentinels}");
    let text = ok(h, &["smoke", "fraud", "2"]);
    assert!(text.contains("--   sentinels"), "{text}");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let _stop = Stop(h);
    reference_traffic(h, 300);
    logged(h, 300);

    // The honest candidate agrees mostly, and the report says where it does not.
    let report: Value =
        serde_json::from_str(&ok(h, &["replay", "fraud", "3", "--last", "300", "--json"])).unwrap();
    assert_eq!(report["requests"], 300, "{report:#}");
    assert_eq!(report["errors"], 0, "{report:#}");
    let agreement = report["agreement"].as_f64().unwrap();
    assert!(agreement > 0.5, "{report:#}");
    let confusion = report["confusion"].as_object().unwrap();
    let cells: u64 = confusion
        .values()
        .flat_map(|c| c.as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(
        cells,
        report["rows"].as_u64().unwrap(),
        "every row in the table"
    );
    let text = ok(h, &["replay", "fraud", "3", "--last", "300"]);
    assert!(
        text.contains("replayed 300 logged requests (answered by v1) to v3"),
        "{text}"
    );
    // A log from elsewhere (here, the newest 50 as `requests --json` prints them), and a window.
    let exported = h.join("exported.json");
    std::fs::write(
        &exported,
        ok(h, &["requests", "fraud", "--json", "--last", "50"]),
    )
    .unwrap();
    let from_file: Value = serde_json::from_str(&ok(
        h,
        &[
            "replay",
            "fraud",
            "3",
            "--log",
            exported.to_str().unwrap(),
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(from_file["requests"], 50, "{from_file:#}");
    let err = fails(h, &["replay", "fraud", "3", "--since", "0s"], 1);
    assert!(err.contains("nothing to compare with"), "{err}");
    // A replay gives a verdict: the constant model fails it (exit 2), and so does the honest
    // one against a bar it does not reach.
    let err = fails(h, &["replay", "fraud", "2", "--last", "300"], 2);
    assert!(
        err.contains("v2 failed its replay: answers one class to everything"),
        "{err}"
    );
    let strict = common::run(
        h,
        &[
            "replay",
            "fraud",
            "3",
            "--last",
            "300",
            "--min-agreement",
            "0.999",
            "--json",
        ],
    );
    assert_eq!(strict.status.code(), Some(2));
    let strict: Value = serde_json::from_slice(&strict.stdout).unwrap();
    assert_eq!(strict["passed"], false, "{strict:#}");
    assert_eq!(strict["min_agreement"], 0.999, "{strict:#}");
    assert_eq!(
        report["agreement"], strict["agreement"],
        "the same rows, judged"
    );
    // One row is no evidence either way: not judged, and not a pass.
    let err = fails(h, &["replay", "fraud", "2", "--last", "1"], 2);
    assert!(
        err.contains("v2 cannot be judged: only 1 row compared: too few to judge"),
        "{err}"
    );
    let err = fails(h, &["replay", "fraud", "3", "--min-agreement", "90"], 2);
    assert!(err.contains("not a share between 0 and 1"), "{err}");
    let err = fails(h, &["replay", "fraud", "1"], 1);
    assert!(err.contains("v1 is production"), "{err}");

    // Production's own requests catch the constant model in its smoke test, no sentinel needed.
    let out = common::run(h, &["smoke", "fraud", "2", "--json"]);
    let smoke: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(smoke["passed"], false, "{smoke:#}");
    let replay = common::check_named(&smoke, "replay");
    assert_eq!(replay["passed"], false, "{replay}");
    assert!(
        replay["detail"]
            .as_str()
            .unwrap()
            .contains("answers one class to everything"),
        "{replay}"
    );
    // And the honest one passes it.
    let smoke: Value = serde_json::from_str(&ok(h, &["smoke", "fraud", "3", "--json"])).unwrap();
    let replay = common::check_named(&smoke, "replay");
    assert_eq!(replay["passed"], true, "{replay}");
}

#[test]
fn a_logged_request_kept_as_a_sentinel_case_is_asked_by_every_later_smoke_test() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    common::register(h, "fraud", "constant_classifier.onnx");
    std::fs::write(h.join("no-config.toml"), "[request_log]\nrate = 1\n").unwrap();
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    let _stop = Stop(h);
    requests(h, "claim", 3, 4);
    requests(h, "short", 1, 3);
    logged(h, 4);

    // The answer v1 gave becomes what v1 must answer; journaled.
    let kept: Value = serde_json::from_str(&ok(
        h,
        &[
            "requests",
            "fraud",
            "--id",
            "claim-1",
            "--keep-as-sentinel",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(kept["version"], 1, "{kept}");
    assert_eq!(kept["case"], "request claim-1", "{kept}");
    assert_eq!(kept["cases"], 1, "{kept}");
    let smoke: Value = serde_json::from_str(&ok(h, &["smoke", "fraud", "1", "--json"])).unwrap();
    let sentinels = common::check_named(&smoke, "sentinels");
    assert_eq!(sentinels["passed"], true, "{sentinels}");
    assert_eq!(
        sentinels["detail"], "1 of 1 cases within tolerance",
        "{sentinels}"
    );
    assert!(sentinels.get("skipped").is_none(), "{sentinels}");
    let journal = ok(h, &["journal", "--model", "fraud"]);
    assert!(journal.contains("sentinel added"), "{journal}");

    // The same request asked of v2 (which answers one class to everything): refused, since
    // the case would fail every smoke test of v2, and nothing is added.
    let err = fails(
        h,
        &[
            "requests",
            "fraud",
            "--id",
            "claim-1",
            "--keep-as-sentinel",
            "--version",
            "2",
        ],
        1,
    );
    assert!(
        err.contains("v2 does not answer this request as v1 did")
            && err.contains("nothing was added"),
        "{err}"
    );
    // (Its smoke test fails anyway: the replay of production's requests catches it.)
    let out = common::run(h, &["smoke", "fraud", "2", "--json"]);
    let smoke: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(common::check_named(&smoke, "sentinels")["skipped"], true);
    // Refused, with the reason: twice the same case, a request that failed.
    let err = fails(
        h,
        &["requests", "fraud", "--id", "claim-1", "--keep-as-sentinel"],
        1,
    );
    assert!(
        err.contains("has a sentinel case \"request claim-1\" already"),
        "{err}"
    );
    let err = fails(
        h,
        &["requests", "fraud", "--id", "short-0", "--keep-as-sentinel"],
        1,
    );
    assert!(err.contains("the request failed (HTTP 400)"), "{err}");
}
