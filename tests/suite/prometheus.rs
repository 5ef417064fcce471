//! The Prometheus metrics source against a real Prometheus (Debian's `prometheus` package,
//! installed by .ci/run) scraping a real `flightdeck serve` on loopback: it must report what the
//! scrape source reports, and the console's headless status must work through it.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::exporter::Exporter;
use common::ok;
use common::prometheus::start as prometheus;
use flightdeck::clients::metrics::{ScrapeSnapshot, between};
use flightdeck::clients::prometheus::PrometheusMetrics;
use flightdeck::clients::{http, model_server};
use flightdeck::sources::source::MetricsSource;

fn traffic(endpoint: &str, n: usize) {
    let client = reqwest::blocking::Client::new();
    let body = serde_json::json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": [50, 40, 0.1, 0.2] }] });
    for _ in 0..n {
        assert!(
            client
                .post(format!("{endpoint}/v2/models/fraud/infer"))
                .json(&body)
                .send()
                .unwrap()
                .status()
                .is_success()
        );
    }
}

fn client_async() -> reqwest::Client {
    http::client().unwrap()
}

/// Both sources' readings once traffic has stopped and Prometheus has scraped since.
fn read_both(
    runtime: &tokio::runtime::Runtime,
    endpoint: &str,
    prometheus: &PrometheusMetrics,
    requests: f64,
) -> (ScrapeSnapshot, ScrapeSnapshot) {
    let client = http::client().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let direct = runtime
            .block_on(model_server::scrape(
                &client,
                endpoint,
                Duration::from_secs(5),
            ))
            .unwrap();
        let through = runtime
            .block_on(prometheus.scrape("fraud".into(), String::new()))
            .unwrap();
        let count = |s: &ScrapeSnapshot| s.versions.values().map(|v| v.requests).sum::<f64>();
        if count(&direct) == requests && count(&through) == requests {
            return (direct, through);
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never caught up: {} vs {} (want {requests})",
            count(&through),
            count(&direct)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_reports_what_the_servers_report() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    ok(h, &["deploy", "fraud", "1", "--direct", "--yes"]);
    struct Stop<'a>(&'a Path);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = common::run(self.0, &["server", "stop", "fraud"]);
        }
    }
    let _stop = Stop(h);
    let port = std::fs::read_to_string(h.join("serve/fraud.port")).unwrap();
    let target = format!("127.0.0.1:{}", port.trim());
    let endpoint = format!("http://{target}");
    let prom = prometheus(h, &target);
    let source = PrometheusMetrics::new(http::client().unwrap(), &prom.url, Duration::from_secs(5));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    traffic(&endpoint, 150);
    let (direct_1, through_1) = read_both(&runtime, &endpoint, &source, 150.0);
    let key = ("fraud".to_string(), "1".to_string());
    assert_eq!(
        through_1.versions[&key], direct_1.versions[&key],
        "counters and latency buckets"
    );
    assert_eq!(through_1.roles, direct_1.roles);
    assert_eq!(through_1.drift_verdict, direct_1.drift_verdict);

    traffic(&endpoint, 250);
    let (direct_2, through_2) = read_both(&runtime, &endpoint, &source, 400.0);
    // Over the same interval the two sources give the same rate and quantiles.
    let rate = |a: &ScrapeSnapshot, b: &ScrapeSnapshot| {
        between(&a.versions[&key], &b.versions[&key], 10.0)
    };
    assert_eq!(rate(&through_1, &through_2), rate(&direct_1, &direct_2));
    assert_eq!(rate(&through_1, &through_2).requests_per_second, 25.0);

    // Charts of a model just opened start with Prometheus' memory of it: one point a second
    // from when Prometheus had two samples of the counter (it started seconds ago here).
    let deadline = Instant::now() + Duration::from_secs(20);
    let points = loop {
        traffic(&endpoint, 20);
        let history = runtime
            .block_on(source.history("fraud".into(), 60, 1))
            .unwrap();
        if let Some(points) = history.get(&key).filter(|p| p.len() >= 4) {
            break points.clone();
        }
        assert!(Instant::now() < deadline, "no history yet: {history:?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        points.iter().any(|p| p.requests_per_second > 0.0)
            && points
                .iter()
                .all(|p| p.error_ratio.is_none_or(|e| e == 0.0))
            && points
                .iter()
                .any(|p| p.p99.is_some_and(|s| s > 0.0 && s < 1.0)),
        "{points:?}"
    );
    assert!(
        points.windows(2).all(|w| w[1].at - w[0].at == 1.0),
        "one point a second"
    );
    // The hour's chart asks for 30-second steps (rates over 30 s): Prometheus answers on the
    // step's grid.
    let hour = runtime
        .block_on(source.history("fraud".into(), 3600, 30))
        .unwrap();
    let hour = hour.get(&key).cloned().unwrap_or_default();
    assert!(!hour.is_empty(), "the hour's points");
    assert!(
        hour.iter()
            .all(|p| p.at as i64 % 30 == 0 || hour.len() == 1)
            && hour.windows(2).all(|w| w[1].at - w[0].at >= 30.0),
        "{hour:?}"
    );

    // Labels the server joined reach Prometheus as the same live quality: 20 answers the
    // client named, 15 labelled (the class each answer gave, so accuracy 1).
    let client = reqwest::blocking::Client::new();
    let mut labels = Vec::new();
    for i in 0..20 {
        let body = serde_json::json!({ "id": format!("l-{i}"), "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": [50, 40, 0.1, 0.2] }] });
        let answer: serde_json::Value = client
            .post(format!("{endpoint}/v2/models/fraud/infer"))
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let class = answer["outputs"][0]["data"][0].clone();
        if i < 15 {
            labels.push(serde_json::json!({ "id": format!("l-{i}"), "label": class }));
        }
    }
    let receipt: serde_json::Value = client
        .post(format!("{endpoint}/flightdeck/feedback/fraud"))
        .json(&labels)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(receipt["matched"], 15, "{receipt}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let through = loop {
        let through = runtime
            .block_on(source.scrape("fraud".into(), String::new()))
            .unwrap();
        if through.live.get(&key).is_some_and(|l| l.labelled == 15.0) {
            break through;
        }
        assert!(
            Instant::now() < deadline,
            "no live quality in Prometheus: {through:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let direct = runtime
        .block_on(model_server::scrape(
            &client_async(),
            &endpoint,
            Duration::from_secs(5),
        ))
        .unwrap();
    assert_eq!(through.live[&key], direct.live[&key]);
    assert_eq!(through.live[&key].metrics["accuracy"], 1.0);

    // The console's headless status reads through it when the environment says so.
    std::fs::write(
        h.join("no-config.toml"),
        format!(
            "[environments.prom]\nmetrics = \"prometheus\"\nprometheus_url = \"{}\"\n",
            prom.url
        ),
    )
    .unwrap();
    let status: serde_json::Value =
        serde_json::from_str(&ok(h, &["--env", "prom", "status", "fraud", "--json"])).unwrap();
    let row = &status.as_array().unwrap()[0];
    assert_eq!(row["model"], "fraud", "{status}");
    assert!(
        row["stats"].is_object(),
        "rates came through Prometheus: {status}"
    );
    assert_eq!(row["accuracy"]["accuracy"], 1.0, "{status}");

    // A Prometheus that answers garbage or nothing is an error with its address, not a panic.
    let wrong = PrometheusMetrics::new(
        http::client().unwrap(),
        &endpoint, // flightdeck serve is not Prometheus: /api/v1/query is a 404 there
        Duration::from_secs(2),
    );
    let error = runtime
        .block_on(wrong.scrape("fraud".into(), String::new()))
        .unwrap_err();
    assert!(error.starts_with("Prometheus"), "{error}");
}

/// Four runtimes' families at one moment: `n` requests each (a tenth failing where the runtime
/// counts failures), half answered within 10 ms and half within 100 ms.
fn other_runtimes(n: u64) -> String {
    let (half, errors) = (n / 2, n / 10);
    let mut t = String::new();
    // BentoML
    t += "# TYPE bentoml_service_request_total counter\n";
    t += &format!(
        "bentoml_service_request_total{{endpoint=\"/predict\",http_response_code=\"200\",service_name=\"bento\",service_version=\"3\"}} {}\n",
        n - errors
    );
    t += &format!(
        "bentoml_service_request_total{{endpoint=\"/predict\",http_response_code=\"500\",service_name=\"bento\",service_version=\"3\"}} {errors}\n"
    );
    t += "# TYPE bentoml_service_request_duration_seconds histogram\n";
    for (le, count) in [("0.01", half), ("0.1", n), ("+Inf", n)] {
        t += &format!(
            "bentoml_service_request_duration_seconds_bucket{{endpoint=\"/predict\",http_response_code=\"200\",service_name=\"bento\",service_version=\"3\",le=\"{le}\"}} {count}\n"
        );
    }
    t += "bentoml_service_request_duration_seconds_sum{endpoint=\"/predict\",http_response_code=\"200\",service_name=\"bento\",service_version=\"3\"} 1\n";
    t += &format!(
        "bentoml_service_request_duration_seconds_count{{endpoint=\"/predict\",http_response_code=\"200\",service_name=\"bento\",service_version=\"3\"}} {n}\n"
    );
    // Triton: successes, failures and microseconds spent (5 ms per request).
    t += "# TYPE nv_inference_request_success counter\n";
    t += &format!(
        "nv_inference_request_success{{model=\"triton-m\",version=\"1\"}} {}\n",
        n - errors
    );
    t += "# TYPE nv_inference_request_failure counter\n";
    t += &format!(
        "nv_inference_request_failure{{model=\"triton-m\",reason=\"OTHER\",version=\"1\"}} {errors}\n"
    );
    t += "# TYPE nv_inference_request_duration_us counter\n";
    t += &format!(
        "nv_inference_request_duration_us{{model=\"triton-m\",version=\"1\"}} {}\n",
        n * 5000
    );
    // Knative queue-proxy in front of KServe predictor "kn" (latencies in milliseconds).
    let kn = "configuration_name=\"kn-predictor\",namespace_name=\"ml\",revision_name=\"kn-predictor-00002\",service_name=\"kn-predictor\"";
    t += "# TYPE revision_app_request_count counter\n";
    t += &format!(
        "revision_app_request_count{{{kn},response_code=\"200\",response_code_class=\"2xx\"}} {}\n",
        n - errors
    );
    t += &format!(
        "revision_app_request_count{{{kn},response_code=\"503\",response_code_class=\"5xx\"}} {errors}\n"
    );
    t += "# TYPE revision_app_request_latencies histogram\n";
    for (le, count) in [("10", half), ("100", n), ("+Inf", n)] {
        t += &format!(
            "revision_app_request_latencies_bucket{{{kn},response_code=\"200\",response_code_class=\"2xx\",le=\"{le}\"}} {count}\n"
        );
    }
    t += &format!(
        "revision_app_request_latencies_sum{{{kn},response_code=\"200\",response_code_class=\"2xx\"}} 1\n"
    );
    t += &format!(
        "revision_app_request_latencies_count{{{kn},response_code=\"200\",response_code_class=\"2xx\"}} {n}\n"
    );
    // KServe's Python model server (no status codes).
    t += "# TYPE request_predict_seconds histogram\n";
    for (le, count) in [("0.01", half), ("0.1", n), ("+Inf", n)] {
        t += &format!("request_predict_seconds_bucket{{model_name=\"ks\",le=\"{le}\"}} {count}\n");
    }
    t += "request_predict_seconds_sum{model_name=\"ks\"} 1\n";
    t += &format!("request_predict_seconds_count{{model_name=\"ks\"}} {n}\n");
    t
}

#[test]
fn other_runtimes_are_detected_and_read_through_their_own_series() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::start();
    *exporter.text.lock().unwrap() = other_runtimes(100);
    let prometheus = prometheus(dir.path(), &exporter.address);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Knative names revisions; the cluster source would say which version each serves.
    let source = PrometheusMetrics::new(
        http::client().unwrap(),
        &prometheus.url,
        Duration::from_secs(5),
    )
    .with_revisions(std::sync::Arc::new(|model: &str, revision: &str| {
        (model == "kn" && revision == "kn-predictor-00002").then_some(2)
    }));
    let read = |model: &str, want: f64| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let snapshot = runtime.block_on(source.scrape(model.into(), String::new()));
            if let Ok(s) = &snapshot
                && s.versions.values().map(|v| v.requests).sum::<f64>() == want
            {
                return snapshot.unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "{model}: Prometheus never showed {want} requests: {snapshot:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let models = [("bento", "3"), ("triton-m", "1"), ("kn", "2"), ("ks", "")];
    let before: Vec<ScrapeSnapshot> = models.iter().map(|(m, _)| read(m, 100.0)).collect();
    *exporter.text.lock().unwrap() = other_runtimes(300);
    let after: Vec<ScrapeSnapshot> = models.iter().map(|(m, _)| read(m, 300.0)).collect();
    // Each snapshot says whose series it is: none of these runtimes exports drift, answers or
    // labels, and the panes say so instead of "none yet".
    let runtimes: Vec<Option<&str>> = after.iter().map(|s| s.foreign_runtime()).collect();
    assert_eq!(
        runtimes,
        [
            Some("bentoml"),
            Some("triton"),
            Some("knative"),
            Some("kserve")
        ]
    );

    // The same 200 requests in 10 s, however each runtime counts them.
    let expected_p99 = flightdeck::stats::histogram_quantile(
        0.99,
        &[(0.01, 100.0), (0.1, 200.0), (f64::INFINITY, 200.0)],
    );
    for (((model, version), b), a) in models.iter().zip(&before).zip(&after) {
        let key = (model.to_string(), version.to_string());
        let stats = between(&b.versions[&key], &a.versions[&key], 10.0);
        assert_eq!(stats.requests_per_second, 20.0, "{model}");
        let error_ratio = if *model == "ks" { 0.0 } else { 0.1 };
        assert!(
            (stats.server_error_ratio.unwrap() - error_ratio).abs() < 1e-9,
            "{model}: {stats:?}"
        );
        if *model == "triton-m" {
            assert_eq!(stats.p99, None, "Triton keeps no histogram");
            assert!((stats.mean.unwrap() - 0.005).abs() < 1e-9, "{stats:?}");
        } else {
            assert_eq!(stats.p99, expected_p99, "{model}: {stats:?}");
        }
    }

    // Each runtime's chart queries are valid PromQL with series behind them.
    for (model, version) in models {
        // Rates need two samples a scrape apart inside their window.
        let key = (model.to_string(), version.to_string());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let history = runtime
                .block_on(source.history(model.into(), 60, 1))
                .unwrap();
            if history
                .get(&key)
                .is_some_and(|p| p.iter().any(|x| x.requests_per_second > 0.0))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{model}: no chart series: {history:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    // Nothing known about a model: said, not an empty pane.
    let error = runtime
        .block_on(source.scrape("nobody".into(), String::new()))
        .unwrap_err();
    assert!(error.contains("no serving series for nobody"), "{error}");
}

/// flightdeck serve's families for fraud v1 (production) and v2 (canary), as a KServe
/// predictor running flightdeck serve would export them.
fn fraud_series(canary_errors: u64) -> String {
    let mut t = String::from("# TYPE flightdeck_requests_total counter\n");
    for (v, ok, errors) in [(1, 1000, 0), (2, 200 - canary_errors, canary_errors)] {
        t += &format!(
            "flightdeck_requests_total{{model=\"fraud\",version=\"{v}\",code=\"200\"}} {ok}\n"
        );
        t += &format!(
            "flightdeck_requests_total{{model=\"fraud\",version=\"{v}\",code=\"500\"}} {errors}\n"
        );
    }
    t += "# TYPE flightdeck_request_duration_seconds histogram\n";
    for (v, n) in [(1, 1000), (2, 200)] {
        for le in ["0.005", "+Inf"] {
            t += &format!(
                "flightdeck_request_duration_seconds_bucket{{model=\"fraud\",version=\"{v}\",le=\"{le}\"}} {n}\n"
            );
        }
        t += &format!(
            "flightdeck_request_duration_seconds_sum{{model=\"fraud\",version=\"{v}\"}} 1\n"
        );
        t += &format!(
            "flightdeck_request_duration_seconds_count{{model=\"fraud\",version=\"{v}\"}} {n}\n"
        );
    }
    t += "# TYPE flightdeck_model_info gauge\n";
    t += "flightdeck_model_info{model=\"fraud\",version=\"1\",sha256=\"a\",role=\"stable\"} 1\n";
    t += "flightdeck_model_info{model=\"fraud\",version=\"2\",sha256=\"b\",role=\"canary\"} 1\n";
    t += "# TYPE flightdeck_feature_drift gauge\n";
    for (v, psi) in [(1, 0.02), (2, 0.31)] {
        for (method, value) in [
            ("psi", psi),
            ("ks_statistic", 0.05),
            ("ks_p_value", 0.4),
            ("missing_rate", 0.0),
            ("out_of_range_rate", 0.01),
        ] {
            t += &format!(
                "flightdeck_feature_drift{{model=\"fraud\",version=\"{v}\",feature=\"amount\",method=\"{method}\"}} {value}\n"
            );
        }
        t += &format!(
            "flightdeck_feature_drift{{model=\"fraud\",version=\"{v}\",feature=\"channel\",method=\"js_distance\"}} 0.02\n"
        );
    }
    t += "# TYPE flightdeck_drift_window_samples gauge\n";
    t += "flightdeck_drift_window_samples{model=\"fraud\",version=\"1\"} 1000\n";
    t += "flightdeck_drift_window_samples{model=\"fraud\",version=\"2\"} 200\n";
    t += "# TYPE flightdeck_drift_verdict gauge\n";
    for v in [1, 2] {
        t += &format!(
            "flightdeck_drift_verdict{{model=\"fraud\",version=\"{v}\",verdict=\"ok\"}} 1\n"
        );
        t += &format!(
            "flightdeck_drift_verdict{{model=\"fraud\",version=\"{v}\",verdict=\"drift\"}} 0\n"
        );
    }
    t
}

#[test]
fn a_kserve_promote_is_judged_on_the_canarys_series_in_prometheus() {
    let exporter = Exporter::start();
    *exporter.text.lock().unwrap() = fraud_series(50);
    let dir = tempfile::tempdir().unwrap();
    let prometheus = prometheus(dir.path(), &exporter.address);
    let api = common::kube_api::KubeApi::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let kubeconfig = api.kubeconfig(h, "ml");
    std::fs::write(
        h.join("no-config.toml"),
        format!(
            "[gates]\nmin_canary_requests = 100\n\n[environments.k8s]\nserving = \"kubernetes\"\nmetrics = \"prometheus\"\nprometheus_url = \"{}\"\nkubeconfig = {:?}\nstorage_uri = \"s3://models/{{model}}/{{version}}\"\nrollout_timeout_s = 20\n",
            prometheus.url,
            kubeconfig.display().to_string()
        ),
    )
    .unwrap();
    common::register(h, "fraud", "logreg_multiclass.onnx");
    common::register(h, "fraud", "mlp_classifier.onnx");
    let env = ["--env", "k8s"];
    ok(
        h,
        &[&env[..], &["deploy", "fraud", "1", "--direct", "--yes"]].concat(),
    );
    ok(
        h,
        &[
            &env[..],
            &["deploy", "fraud", "2", "--canary", "10", "--yes"],
        ]
        .concat(),
    );

    // A quarter of the canary's requests fail: the 5xx gate stops the promote.
    let err = common::fails(h, &[&env[..], &["promote", "fraud", "--yes"]].concat(), 2);
    assert!(
        err.contains("the 5xx errors gate failed") && err.contains("canary 25.00%"),
        "{err}"
    );

    // Healthy: every gate passes on Prometheus' numbers, drift included.
    *exporter.text.lock().unwrap() = fraud_series(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let out = common::run(h, &[&env[..], &["promote", "fraud", "--yes"]].concat());
        if out.status.success() {
            break common::stderr(&out);
        }
        assert!(
            Instant::now() < deadline,
            "never promoted: {}",
            common::stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        out.contains("gate canary traffic   passed  v2 served 200 requests"),
        "{out}"
    );
    assert!(
        out.contains("gate drift            passed  canary verdict: ok, production verdict: ok"),
        "{out}"
    );
    let isvc = api.get("inferenceservices", "ml", "fraud").unwrap();
    assert!(
        isvc["spec"]["predictor"]
            .get("canaryTrafficPercent")
            .is_none()
    );
    // The drift view reads the same gauges back, per feature, without calling any server.
    let out = ok(h, &[&env[..], &["drift", "fraud", "--json"]].concat());
    let reports: serde_json::Value = serde_json::from_str(&out).unwrap();
    let v2 = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == 2)
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(v2["window_samples"], 200);
    let feature = |name: &str| {
        v2["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap()
    };
    let amount = feature("amount");
    assert_eq!(
        (amount["method"].as_str(), amount["verdict"].as_str()),
        (Some("psi"), Some("drift")),
        "{amount}"
    );
    let channel = feature("channel");
    assert_eq!(
        (channel["kind"].as_str(), channel["verdict"].as_str()),
        (Some("categorical"), Some("ok")),
        "{channel}"
    );
}
