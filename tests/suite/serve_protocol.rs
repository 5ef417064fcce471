//! `flightdeck serve` over real HTTP on loopback: every route, every error, the traffic split,
//! hot swap under load, metrics parsed back, drift, and back-pressure.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::server::Server;
use common::{fixture, ok};
use reqwest::blocking::Client;
use serde_json::{Value, json};

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A data dir with `fraud` v1 (logistic regression, with a baseline) and v2 (an MLP).
fn registry() -> tempfile::TempDir {
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
    ok(
        h,
        &[
            "register",
            "fraud",
            fixture("mlp_classifier.onnx").to_str().unwrap(),
            "--reference",
            reference.to_str().unwrap(),
        ],
    );
    home
}

fn infer_body(rows: &[[f32; 4]]) -> Value {
    json!({ "id": "req-1", "inputs": [{ "name": "X", "shape": [rows.len(), 4], "datatype": "FP32", "data": rows }] })
}

fn post(client: &Client, url: &str, body: &Value) -> (u16, Value) {
    let response = client.post(url).json(body).send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn get(client: &Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn health_metadata_and_readiness_routes() {
    let home = registry();
    let server = Server::start(
        home.path(),
        "fraud",
        &["--version", "1", "--canary", "2", "--canary-percent", "10"],
    );
    let c = client();
    let u = &server.url;
    assert_eq!(get(&c, &format!("{u}/v2/health/live")).0, 200);
    assert_eq!(get(&c, &format!("{u}/v2/health/ready")).0, 200);
    assert_eq!(get(&c, &format!("{u}/v2")).1["name"], "flightdeck");
    let (status, meta) = get(&c, &format!("{u}/v2/models/fraud"));
    assert_eq!(status, 200);
    assert_eq!(meta["versions"], json!(["1", "2"]));
    assert_eq!(
        meta["inputs"][0],
        json!({ "name": "X", "datatype": "FP32", "shape": [-1, 4] })
    );
    assert_eq!(meta["outputs"][1]["shape"], json!([-1, 3]));
    assert_eq!(get(&c, &format!("{u}/v2/models/fraud/versions/2")).0, 200);
    assert_eq!(get(&c, &format!("{u}/v2/models/fraud/ready")).0, 200);
    assert_eq!(
        get(&c, &format!("{u}/v2/models/fraud/versions/2/ready")).0,
        200
    );
    let (status, err) = get(&c, &format!("{u}/v2/models/fraud/versions/7/ready"));
    assert_eq!(status, 404);
    assert!(
        err["error"].as_str().unwrap().contains("loaded: 1, 2"),
        "{err}"
    );
    let (status, err) = get(&c, &format!("{u}/v2/models/ghost"));
    assert_eq!(status, 404);
    assert!(err["error"].as_str().unwrap().contains("ghost"));
    let (status, err) = get(&c, &format!("{u}/no/such/route"));
    assert_eq!(status, 404);
    assert!(err["error"].is_string(), "errors are JSON: {err}");
    assert_eq!(get(&c, &format!("{u}/v1/models/fraud")).1["ready"], true);
}

#[test]
fn inference_matches_the_runtime_and_honours_the_protocol() {
    let home = registry();
    let server = Server::start(home.path(), "fraud", &["--version", "1"]);
    let c = client();
    let url = format!("{}/v2/models/fraud/infer", server.url);
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("logreg_multiclass.expected.json")).unwrap(),
    )
    .unwrap();
    let rows: Vec<f64> = expected["inputs"]["X"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let body = json!({ "id": "abc", "inputs": [{ "name": "X", "shape": [20, 4], "datatype": "FP32", "data": &rows[..80] }] });
    let (status, response) = post(&c, &url, &body);
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["id"], "abc");
    assert_eq!(response["model_name"], "fraud");
    assert_eq!(response["model_version"], "1");
    let probs = response["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "output_probability")
        .unwrap();
    assert_eq!(probs["shape"], json!([20, 3]));
    assert_eq!(probs["datatype"], "FP32");
    let want = expected["outputs"]["output_probability"]["data"]
        .as_array()
        .unwrap();
    for (g, w) in probs["data"].as_array().unwrap().iter().zip(want) {
        assert!((g.as_f64().unwrap() - w.as_f64().unwrap()).abs() < 1e-5);
    }
    let labels = response["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "output_label")
        .unwrap();
    assert_eq!(
        labels["data"].as_array().unwrap()[..],
        expected["outputs"]["output_label"]["data"]
            .as_array()
            .unwrap()[..20]
    );

    // Nested data, an output selection, and a body sent with no Content-Type (as tritonclient does).
    let nested = json!({
        "inputs": [{ "name": "X", "shape": [2, 4], "datatype": "FP32", "data": [[1, 2, 3, 4], [5, 6, 7, 8]] }],
        "outputs": [{ "name": "output_label" }]
    });
    let response = c.post(&url).body(nested.to_string()).send().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let response: Value = response.json().unwrap();
    assert_eq!(response["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(response["outputs"][0]["name"], "output_label");
    // No id sent: the server names the request (for the label that may come later), in the
    // body and the header alike.
    assert_eq!(response["id"], header_id.as_str(), "{response}");

    // The pinned-version route and KServe V1.
    let (status, pinned) = post(
        &c,
        &format!("{}/v2/models/fraud/versions/1/infer", server.url),
        &infer_body(&[[1.0, 2.0, 3.0, 4.0]]),
    );
    assert_eq!((status, pinned["model_version"].as_str()), (200, Some("1")));
    let (status, v1) = post(
        &c,
        &format!("{}/v1/models/fraud:predict", server.url),
        &json!({ "instances": [[1, 2, 3, 4], [5, 6, 7, 8]] }),
    );
    assert_eq!(status, 200, "{v1}");
    assert_eq!(v1["predictions"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_requests_get_json_errors_that_name_the_problem() {
    let home = registry();
    let server = Server::start(
        home.path(),
        "fraud",
        &["--version", "1", "--max-body-bytes", "2000"],
    );
    let c = client();
    let url = format!("{}/v2/models/fraud/infer", server.url);
    let cases = [
        (
            json!({ "inputs": [{ "name": "X", "shape": [1, 5], "datatype": "FP32", "data": [1, 2, 3, 4, 5] }] }),
            400,
            "[N, 4]",
        ),
        (
            json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4] }] }),
            400,
            "expects FP32",
        ),
        (
            json!({ "inputs": [{ "name": "X", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4] }] }),
            400,
            "holds 8 values",
        ),
        (
            json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, "a", 3, 4] }] }),
            400,
            "mixes strings with numbers",
        ),
        (
            json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": ["a", "b", "c", "d"] }] }),
            400,
            "data holds strings but the model expects FP32",
        ),
        (
            json!({ "inputs": [{ "name": "Y", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4] }] }),
            400,
            "unknown input \"Y\"",
        ),
        (json!({ "inputs": [] }), 400, "input \"X\" is missing"),
        (
            json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4] }], "outputs": [{ "name": "nope" }] }),
            400,
            "unknown output",
        ),
        (json!({ "input": [] }), 400, "malformed inference request"),
    ];
    for (body, status, needle) in cases {
        let (got, err) = post(&c, &url, &body);
        assert_eq!(got, status, "{body} -> {err}");
        assert!(
            err["error"].as_str().unwrap_or_default().contains(needle),
            "{body} -> {err}"
        );
    }
    let response = c.post(&url).body("{not json").send().unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let big = json!({ "inputs": [{ "name": "X", "shape": [200, 4], "datatype": "FP32", "data": vec![1.5f32; 800] }] });
    let (status, err) = post(&c, &url, &big);
    assert_eq!(status, 413, "{err}");
    assert!(err["error"].as_str().unwrap().contains("limit"), "{err}");
    // None of that hurt the server.
    assert_eq!(post(&c, &url, &infer_body(&[[1.0, 2.0, 3.0, 4.0]])).0, 200);
}

#[test]
fn the_canary_gets_exactly_its_share_and_pinned_routes_bypass_the_split() {
    let home = registry();
    let server = Server::start(
        home.path(),
        "fraud",
        &["--version", "1", "--canary", "2", "--canary-percent", "30"],
    );
    let c = client();
    let url = format!("{}/v2/models/fraud/infer", server.url);
    let mut canary = 0;
    for _ in 0..500 {
        let (status, response) = post(&c, &url, &infer_body(&[[1.0, 2.0, 3.0, 4.0]]));
        assert_eq!(status, 200);
        if response["model_version"] == "2" {
            canary += 1;
        }
    }
    assert_eq!(canary, 150, "30% of 500");
    for _ in 0..20 {
        let (_, r) = post(
            &c,
            &format!("{}/v2/models/fraud/versions/2/infer", server.url),
            &infer_body(&[[1.0, 2.0, 3.0, 4.0]]),
        );
        assert_eq!(r["model_version"], "2");
    }
}

#[test]
fn hot_swap_under_load_fails_no_request() {
    let home = registry();
    let server = Server::start(home.path(), "fraud", &["--version", "1"]);
    let url = format!("{}/v2/models/fraud/infer", server.url);
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (url, stop, failures, done) =
                (url.clone(), stop.clone(), failures.clone(), done.clone());
            std::thread::spawn(move || {
                let c = client();
                while !stop.load(Ordering::Relaxed) {
                    match c
                        .post(&url)
                        .json(&infer_body(&[[1.0, 2.0, 3.0, 4.0]]))
                        .send()
                    {
                        Ok(r) if r.status().is_success() => done.fetch_add(1, Ordering::Relaxed),
                        _ => failures.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let c = client();
    let admin = format!("{}/flightdeck/admin/deployments/fraud", server.url);
    let plans = [
        json!({ "stable": 1, "canary": 2, "canary_percent": 50 }),
        json!({ "stable": 2 }),
        json!({ "stable": 1, "canary": 2, "canary_percent": 100 }),
        json!({ "stable": 1 }),
    ];
    for plan in &plans {
        std::thread::sleep(Duration::from_millis(150));
        let response = c
            .put(&admin)
            .bearer_auth(&server.token)
            .json(plan)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{plan}");
    }
    std::thread::sleep(Duration::from_millis(150));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during swaps"
    );
    assert!(
        done.load(Ordering::Relaxed) > 100,
        "load ran: {}",
        done.load(Ordering::Relaxed)
    );

    // A plan naming a version that does not exist is refused, and the old plan keeps serving.
    let response = c
        .put(&admin)
        .bearer_auth(&server.token)
        .json(&json!({ "stable": 9 }))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let body: Value = response.json().unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("no version 9"),
        "{body}"
    );
    let current: Value = c
        .get(&admin)
        .bearer_auth(&server.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        current,
        json!({ "stable": 1, "canary": null, "canary_percent": 0 })
    );
    // Without the token nothing moves.
    let response = c.put(&admin).json(&json!({ "stable": 2 })).send().unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let response = c
        .put(&admin)
        .bearer_auth("0".repeat(64))
        .json(&json!({ "stable": 2 }))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        post(&c, &url, &infer_body(&[[1.0, 2.0, 3.0, 4.0]])).1["model_version"],
        "1"
    );
}

#[test]
fn metrics_parse_back_and_count_what_happened() {
    let home = registry();
    let server = Server::start(home.path(), "fraud", &["--version", "1"]);
    let c = client();
    let url = format!("{}/v2/models/fraud/infer", server.url);
    for _ in 0..7 {
        assert_eq!(
            post(
                &c,
                &url,
                &infer_body(&[[1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0]])
            )
            .0,
            200
        );
    }
    let bad = json!({ "inputs": [{ "name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3] }] });
    assert_eq!(post(&c, &url, &bad).0, 400);
    let text = c
        .get(format!("{}/metrics", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
    };
    assert_eq!(
        value(
            "flightdeck_requests_total",
            &[("model", "fraud"), ("version", "1"), ("code", "200")]
        ),
        7.0
    );
    assert_eq!(value("flightdeck_requests_total", &[("code", "400")]), 1.0);
    assert_eq!(
        value(
            "flightdeck_model_info",
            &[("version", "1"), ("role", "stable")]
        ),
        1.0
    );
    assert_eq!(
        value("flightdeck_drift_window_samples", &[("version", "1")]),
        14.0
    );
    // 14 rows are below the drift minimum: the verdict says so (its share alone would read 0).
    let verdict = |v: &str| {
        value(
            "flightdeck_drift_verdict",
            &[("version", "1"), ("verdict", v)],
        )
    };
    assert_eq!(
        [
            verdict("insufficient_data"),
            verdict("ok"),
            verdict("drift")
        ],
        [1.0, 0.0, 0.0]
    );
    assert_eq!(
        flightdeck::clients::metrics::parse(&text).drift_verdict
            [&("fraud".to_string(), "1".to_string())],
        flightdeck::model::Verdict::InsufficientData
    );
    let latency = scrape
        .samples
        .iter()
        .find(|s| s.metric == "flightdeck_request_duration_seconds")
        .expect("latency histogram");
    match &latency.value {
        prometheus_parse::Value::Histogram(buckets) => {
            assert_eq!(
                buckets.last().map(|b| b.count),
                Some(8.0),
                "every request is timed"
            );
        }
        other => panic!("latency is not a histogram: {other:?}"),
    }
    // CI installs Debian's prometheus package, so there the check must run.
    let promtool = which("promtool");
    assert!(
        promtool.is_ok() || std::env::var_os("CI").is_none(),
        "CI must have promtool (apt-get install prometheus)"
    );
    if let Ok(promtool) = promtool {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("metrics.txt");
        std::fs::write(&file, &text).unwrap();
        let out = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&file).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

#[test]
fn drift_flags_exactly_the_shifted_feature() {
    let home = registry();
    let server = Server::start(home.path(), "fraud", &["--version", "1"]);
    let c = client();
    let url = format!("{}/v2/models/fraud/infer", server.url);
    // Replay reference rows, with `age` (column 1) shifted by +25 years.
    let text = std::fs::read_to_string(fixture("classifier.reference.csv")).unwrap();
    let rows: Vec<[f32; 4]> = text
        .lines()
        .skip(1)
        .take(400)
        .map(|l| {
            let v: Vec<f32> = l.split(',').map(|x| x.parse().unwrap()).collect();
            [v[0], v[1] + 25.0, v[2], v[3]]
        })
        .collect();
    for chunk in rows.chunks(50) {
        assert_eq!(post(&c, &url, &infer_body(chunk)).0, 200);
    }
    let (status, report) = get(&c, &format!("{}/flightdeck/drift/fraud", server.url));
    assert_eq!(status, 200);
    let version = &report["versions"][0];
    assert_eq!(version["window_samples"], 400);
    let verdicts: Vec<(String, String)> = version["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("amount".into(), "ok".into()),
            ("age".into(), "drift".into()),
            ("tenure".into(), "ok".into()),
            ("score".into(), "ok".into())
        ],
        "{report}"
    );
    assert_eq!(version["drift_share"], 0.25);
    let age = &version["features"][1];
    assert!(
        age["psi"].as_f64().unwrap() > 0.25 && age["ks_p_value"].as_f64().unwrap() < 1e-6,
        "{age}"
    );
    assert_eq!(age["histogram"]["live"].as_array().unwrap().len(), 10);
}

#[test]
fn a_full_queue_answers_503_fast_while_health_checks_stay_up() {
    let home = tempfile::tempdir().unwrap();
    ok(
        home.path(),
        &[
            "register",
            "forest",
            fixture("rf_multiclass.onnx").to_str().unwrap(),
        ],
    );
    let server = Server::start(
        home.path(),
        "forest",
        &[
            "--workers",
            "1",
            "--queue",
            "1",
            "--max-body-bytes",
            "50000000",
        ],
    );
    let url = format!("{}/v2/models/forest/infer", server.url);
    // Big batches keep the single worker busy.
    let rows = 60_000;
    let body = Arc::new(json!({ "inputs": [{ "name": "X", "shape": [rows, 4], "datatype": "FP32", "data": vec![0.5f32; rows * 4] }] }).to_string());
    let statuses: Vec<_> = (0..8)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || {
                client()
                    .post(&url)
                    .body((*body).clone())
                    .send()
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let (status, _) = get(&client(), &format!("{}/v2/health/ready", server.url));
    assert_eq!(
        status, 200,
        "health checks answer while inference is saturated"
    );
    let statuses: Vec<u16> = statuses.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
}

/// Resident memory of a process, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn memory_stays_flat_over_a_long_stream_of_requests() {
    let home = registry();
    let server = Server::start(
        home.path(),
        "fraud",
        &["--version", "1", "--drift-window", "500"],
    );
    let c = client();
    let url = format!("{}/v2/models/fraud/infer", server.url);
    let body = infer_body(&[[10.0, 40.0, 0.5, 0.1]; 8]);
    let send = |n: usize| {
        for _ in 0..n {
            assert_eq!(
                c.post(&url).json(&body).send().unwrap().status().as_u16(),
                200
            );
        }
    };
    send(3_000); // warm: the drift window (500 rows) is full, allocator pools are in use
    let warm = rss_kib(server.pid());
    send(12_000);
    let after = rss_kib(server.pid());
    assert!(
        after <= warm + 4 * 1024,
        "resident memory grew from {warm} KiB to {after} KiB over 12,000 requests"
    );
}

/// A sample's value from the exposition text, by its exact name and label set.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

#[test]
fn concurrent_small_requests_share_model_calls_and_each_gets_its_own_answer() {
    let home = registry();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("logreg_multiclass.expected.json")).unwrap(),
    )
    .unwrap();
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let inputs = Arc::new(floats(&expected["inputs"]["X"]["data"]));
    let probabilities = Arc::new(floats(&expected["outputs"]["output_probability"]["data"]));
    let labels = Arc::new(floats(&expected["outputs"]["output_label"]["data"]));
    let known_rows = labels.len().min(20);

    for (extra, shares) in [(None, true), (Some("0"), false)] {
        let mut args = vec!["--version", "1"];
        if let Some(rows) = extra {
            args.extend(["--max-batch-rows", rows]);
        }
        let server = Server::start(home.path(), "fraud", &args);
        let url = format!("{}/v2/models/fraud/infer", server.url);
        let sent_rows = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let (url, inputs, probabilities, labels, sent_rows) = (
                    url.clone(),
                    inputs.clone(),
                    probabilities.clone(),
                    labels.clone(),
                    sent_rows.clone(),
                );
                std::thread::spawn(move || {
                    let c = client();
                    for k in 0..150 {
                        // Mostly one row, sometimes two, each thread its own rows.
                        let first = (t * 7 + k) % (known_rows - 1);
                        let n = if k % 5 == 0 { 2 } else { 1 };
                        let data = &inputs[first * 4..(first + n) * 4];
                        let body = json!({ "id": format!("{t}-{k}"), "inputs": [{ "name": "X", "shape": [n, 4], "datatype": "FP32", "data": data }] });
                        let (status, response) = post(&c, &url, &body);
                        assert_eq!(status, 200, "{response}");
                        assert_eq!(response["id"], format!("{t}-{k}"));
                        sent_rows.fetch_add(n, Ordering::Relaxed);
                        let output = |name: &str| {
                            response["outputs"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .find(|o| o["name"] == name)
                                .unwrap()
                                .clone()
                        };
                        let probs = output("output_probability");
                        assert_eq!(probs["shape"], json!([n, 3]));
                        let want = &probabilities[first * 3..(first + n) * 3];
                        for (g, w) in probs["data"].as_array().unwrap().iter().zip(want) {
                            assert!((g.as_f64().unwrap() - w).abs() < 1e-5, "{t}-{k}: {probs}");
                        }
                        let got: Vec<f64> = output("output_label")["data"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|x| x.as_f64().unwrap())
                            .collect();
                        assert_eq!(got, labels[first..first + n], "{t}-{k}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = client()
            .get(format!("{}/metrics", server.url))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let series = r#"{model="fraud",version="1"}"#;
        let requests = sample(&text, &format!("flightdeck_batch_size_count{series}"));
        let calls = sample(&text, &format!("flightdeck_model_call_rows_count{series}"));
        let call_rows = sample(&text, &format!("flightdeck_model_call_rows_sum{series}"));
        // Every row went through exactly one model call.
        let rows = sent_rows.load(Ordering::Relaxed) as f64;
        assert_eq!(call_rows, rows);
        assert_eq!(requests, 16.0 * 150.0);
        if shares {
            assert!(
                calls < requests,
                "16 clients at once never shared a call ({calls} calls)"
            );
        } else {
            assert_eq!(
                calls, requests,
                "--max-batch-rows 0 runs each request alone"
            );
        }
    }
}
