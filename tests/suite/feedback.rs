//! Ground truth that arrives after the answer: request ids on every answer, labels sent by
//! HTTP and by `flightdeck feedback`, and each version's live quality equal to scikit-learn's
//! on the same rows.

use crate::common;

use std::path::{Path, PathBuf};

use common::{ok, run};
use serde_json::{Value, json};

struct Home(tempfile::TempDir);

impl Drop for Home {
    fn drop(&mut self) {
        let _ = run(self.0.path(), &["server", "stop", "claims"]);
    }
}

fn demo(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("demo")
        .join(name)
        .display()
        .to_string()
}

/// The demo's holdout rows as the model takes them (channel coded app=0, branch=1, web=2), and
/// their labels.
fn holdout() -> (Vec<[f32; 5]>, Vec<u8>) {
    let text = std::fs::read_to_string(demo("holdout.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let c: Vec<&str> = line.split(',').collect();
            let code = match c[4] {
                "app" => 0.0,
                "branch" => 1.0,
                _ => 2.0,
            };
            let row = [
                c[0].parse().unwrap(),
                c[1].parse().unwrap(),
                c[2].parse().unwrap(),
                c[3].parse().unwrap(),
                code,
            ];
            (row, c[5].parse::<u8>().unwrap())
        })
        .unzip()
}

fn url(h: &Path) -> String {
    let port = std::fs::read_to_string(h.join("serve/claims.port")).unwrap();
    format!("http://127.0.0.1:{}", port.trim())
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
}

/// Infers `rows` in one request; the answer's id from its body, checked against its header.
fn infer(h: &Path, rows: &[[f32; 5]], body_id: Option<&str>, header_id: Option<&str>) -> String {
    let mut body = json!({"inputs": [{
        "name": "X", "shape": [rows.len(), 5], "datatype": "FP32",
        "data": rows.iter().flatten().collect::<Vec<_>>(),
    }]});
    if let Some(id) = body_id {
        body["id"] = json!(id);
    }
    let mut request = client()
        .post(format!("{}/v2/models/claims/infer", url(h)))
        .json(&body);
    if let Some(id) = header_id {
        request = request.header("x-request-id", id);
    }
    let response = request.send().unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let header = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let answer: Value = response.json().unwrap();
    assert_eq!(answer["id"], header.as_str(), "{answer}");
    header
}

fn feedback(h: &Path) -> Value {
    client()
        .get(format!("{}/flightdeck/feedback/claims", url(h)))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn labels_csv(dir: &Path, rows: &[(String, u8)]) -> PathBuf {
    let path = dir.join("labels.csv");
    let mut text = String::from("request_id,fraud\n");
    for (id, label) in rows {
        text.push_str(&format!("{id},{label}\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn labels_sent_later_give_live_accuracy_equal_to_scikit_learns() {
    // Expected: scikit-learn on demo/holdout.csv with v2.onnx at FP32 (onnxruntime 1.32):
    // accuracy_score 0.831, roc_auc_score 0.7624638156957805, log_loss 0.4210162803132465
    // (the same figures the reference predictions are checked against).
    let home = Home(tempfile::tempdir().unwrap());
    let h = home.0.path();
    ok(h, &["register", "claims", &demo("v2.onnx")]);
    ok(h, &["deploy", "claims", "1", "--direct", "--yes"]);
    let (rows, labels) = holdout();

    // Half the rows one by one, each with the id the client chose in the body; the other half
    // in batches of 50 named by the header, and 100 rows with no id (the server names them).
    let mut by_id: Vec<(String, u8)> = Vec::new();
    for (i, (row, label)) in rows[..900].iter().zip(&labels).enumerate() {
        let id = format!("claim-{i:05}");
        assert_eq!(infer(h, &[*row], Some(&id), None), id);
        by_id.push((id, *label));
    }
    let mut generated = Vec::new();
    for (row, label) in rows[900..1000].iter().zip(&labels[900..1000]) {
        generated.push((infer(h, &[*row], None, None), *label));
    }
    assert_ne!(
        generated[0].0, generated[1].0,
        "each answer gets its own id"
    );
    let mut batches = Vec::new();
    for (k, (chunk, truth)) in rows[1000..]
        .chunks(50)
        .zip(labels[1000..].chunks(50))
        .enumerate()
    {
        let id = format!("batch-{k}");
        assert_eq!(infer(h, chunk, None, Some(&id)), id);
        batches.push(json!({"id": id, "label": truth}));
    }
    let before = feedback(h);
    assert_eq!(before["versions"][0]["answered"], 1020, "{before}");
    assert_eq!(before["versions"][0]["labelled"], 0, "{before}");
    assert!(
        before["versions"][0]["metrics"]
            .as_object()
            .unwrap()
            .is_empty(),
        "no labels, no accuracy: {before}"
    );

    // The one-row labels from a table, headless; the batches' labels (a list per request) by
    // HTTP, with one label for an id never answered and one that is not a class.
    by_id.extend(generated);
    let table = labels_csv(h, &by_id);
    let out = ok(
        h,
        &[
            "feedback",
            "claims",
            "--labels",
            table.to_str().unwrap(),
            "--id-column",
            "request_id",
            "--label-column",
            "fraud",
        ],
    );
    assert!(out.contains("1000 labels joined"), "{out}");
    batches.push(json!({"id": "never-answered", "label": 1}));
    batches.push(json!({"id": "claim-00000", "label": 1}));
    batches.push(json!({"id": "batch-0", "label": 7}));
    let receipt: Value = client()
        .post(format!("{}/flightdeck/feedback/claims", url(h)))
        .json(&batches)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(receipt["matched"], 20, "{receipt}");
    assert_eq!(receipt["unknown"], 1, "{receipt}");
    assert_eq!(receipt["duplicate"], 2, "{receipt}");

    let report = feedback(h);
    let v = &report["versions"][0];
    assert_eq!(v["version"], 1);
    assert_eq!(v["labelled"], 1020, "{report}");
    assert_eq!(v["rows"], 2000, "{report}");
    assert_eq!(v["coverage"], 1.0, "{report}");
    let metric = |name: &str| v["metrics"][name].as_f64().unwrap();
    assert!((metric("accuracy") - 0.831).abs() < 1e-9, "{report}");
    assert!(
        (metric("auc") - 0.762_463_815_695_780_5).abs() < 1e-9,
        "{report}"
    );
    // Log loss reads the FP32 probabilities, which tract and onnxruntime round differently in
    // a tree ensemble's sums (about 1e-8 apart).
    assert!(
        (metric("log_loss") - 0.421_016_280_313_246_5).abs() < 1e-7,
        "{report}"
    );
    assert!(v["lag_median_seconds"].as_f64().unwrap() >= 0.0);

    // The same in /metrics, valid exposition.
    let metrics = client()
        .get(format!("{}/metrics", url(h)))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(
            r#"flightdeck_live_quality{model="claims",version="1",metric="accuracy"} 0.831"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"flightdeck_labels_unjoined{model="claims",reason="unknown"} 1"#),
        "{metrics}"
    );
    common::promtool_check(&metrics);
}

/// Resident memory of a process, in bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// The label join's speed over HTTP and the memory of 100,000 answers kept by id. A benchmark,
/// not a test (figures vary with the machine): run it in a release build with
/// `cargo test --release --test suite feedback::benchmark -- --ignored --nocapture`.
#[test]
#[ignore]
fn benchmark_of_the_label_join() {
    const ANSWERS: usize = 100_000;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(h, &["register", "claims", &demo("v2.onnx")]);
    let port_file = h.join("bench.port");
    let mut server = common::flightdeck(h)
        .args([
            "serve",
            "claims",
            "--port",
            "0",
            "--feedback-max-ids",
            "200000",
        ])
        .arg("--port-file")
        .arg(&port_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let base = loop {
        if let Ok(port) = std::fs::read_to_string(&port_file)
            && !port.trim().is_empty()
        {
            break format!("http://127.0.0.1:{}", port.trim());
        }
        assert!(std::time::Instant::now() < deadline, "server did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let (rows, labels) = holdout();
    // Warm up (the allocator, the model's first calls), then measure what the ids add.
    let send = |from: usize, to: usize| {
        let client = client();
        for i in from..to {
            let row = rows[i % rows.len()];
            let body = json!({"id": format!("r-{i}"), "inputs": [{
                "name": "X", "shape": [1, 5], "datatype": "FP32", "data": row,
            }]});
            let status = client
                .post(format!("{base}/v2/models/claims/infer"))
                .json(&body)
                .send()
                .unwrap()
                .status();
            assert!(status.is_success());
        }
    };
    send(ANSWERS, ANSWERS + 2_000);
    let before = resident_bytes(server.id());
    std::thread::scope(|s| {
        for t in 0..4 {
            let send = &send;
            s.spawn(move || send(t * ANSWERS / 4, (t + 1) * ANSWERS / 4));
        }
    });
    let after = resident_bytes(server.id());
    let bodies: Vec<Value> = (0..ANSWERS)
        .collect::<Vec<_>>()
        .chunks(20_000)
        .map(|chunk| {
            Value::Array(
                chunk
                    .iter()
                    .map(|i| json!({"id": format!("r-{i}"), "label": labels[i % labels.len()]}))
                    .collect(),
            )
        })
        .collect();
    let client = client();
    let started = std::time::Instant::now();
    let mut matched = 0;
    for body in &bodies {
        let receipt: Value = client
            .post(format!("{base}/flightdeck/feedback/claims"))
            .json(body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        matched += receipt["matched"].as_u64().unwrap();
    }
    let took = started.elapsed().as_secs_f64();
    let report_started = std::time::Instant::now();
    let report: Value = client
        .get(format!("{base}/flightdeck/feedback/claims"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let report_took = report_started.elapsed().as_secs_f64();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(matched, ANSWERS as u64);
    println!(
        "{ANSWERS} answers kept by id: {:.1} MB resident more ({} bytes each); {ANSWERS} labels joined over HTTP in {took:.3} s = {:.0} labels/s (5 posts of 20,000); the report over {} labelled rows in {:.1} ms: accuracy {}",
        (after.saturating_sub(before)) as f64 / 1e6,
        after.saturating_sub(before) / ANSWERS as u64,
        ANSWERS as f64 / took,
        report["versions"][0]["rows"],
        report_took * 1e3,
        report["versions"][0]["metrics"]["accuracy"]
    );
}
