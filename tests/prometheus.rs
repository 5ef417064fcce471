//! The Prometheus metrics source against a real Prometheus (Debian's `prometheus` package,
//! installed by .ci/run) scraping a real `flightdeck serve` on loopback: it must report what the
//! scrape source reports, and the console's headless status must work through it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::ok;
use flightdeck::sources::metrics::{ScrapeSnapshot, between};
use flightdeck::sources::prometheus::PrometheusMetrics;
use flightdeck::sources::server;
use flightdeck::sources::source::MetricsSource;

/// A Prometheus server on a loopback port, stopped when dropped.
struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Prometheus scraping `target` (host:port) every second; waits until it has.
fn prometheus(dir: &Path, target: &str) -> Prometheus {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: flightdeck\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is installed (.ci/run installs Debian's prometheus package)");
    let prometheus = Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", prometheus.url),
            &[("query", "up{job=\"flightdeck\"}")],
        )
        .unwrap();
        let up = client
            .get(url)
            .send()
            .ok()
            .and_then(|r| r.text().ok())
            .unwrap_or_default();
        if up.contains("\"1\"]") {
            return prometheus;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped {target}: {up}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

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

/// Both sources' readings once traffic has stopped and Prometheus has scraped since.
fn read_both(
    runtime: &tokio::runtime::Runtime,
    endpoint: &str,
    prometheus: &PrometheusMetrics,
    requests: f64,
) -> (ScrapeSnapshot, ScrapeSnapshot) {
    let client = server::client().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let direct = runtime
            .block_on(server::scrape(&client, endpoint, Duration::from_secs(5)))
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
    let source =
        PrometheusMetrics::new(server::client().unwrap(), &prom.url, Duration::from_secs(5));
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
            .block_on(source.history("fraud".into(), 60))
            .unwrap();
        if let Some(points) = history.get(&key).filter(|p| p.len() >= 4) {
            break points.clone();
        }
        assert!(Instant::now() < deadline, "no history yet: {history:?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        points.iter().any(|p| p.requests_per_second > 0.0)
            && points.iter().all(|p| p.error_ratio == 0.0)
            && points
                .iter()
                .any(|p| p.p99.is_some_and(|s| s > 0.0 && s < 1.0)),
        "{points:?}"
    );
    assert!(
        points.windows(2).all(|w| w[1].at - w[0].at == 1.0),
        "one point a second"
    );

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

    // A Prometheus that answers garbage or nothing is an error with its address, not a panic.
    let wrong = PrometheusMetrics::new(
        server::client().unwrap(),
        &endpoint, // flightdeck serve is not Prometheus: /api/v1/query is a 404 there
        Duration::from_secs(2),
    );
    let error = runtime
        .block_on(wrong.scrape("fraud".into(), String::new()))
        .unwrap_err();
    assert!(error.starts_with("Prometheus"), "{error}");
}
