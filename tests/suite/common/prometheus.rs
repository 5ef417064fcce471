//! A real Prometheus (Debian's `prometheus` package, installed by .ci/run) on a loopback port,
//! scraping one target every second; stopped when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Prometheus server on a loopback port, stopped when dropped.
pub struct Prometheus {
    child: Child,
    pub url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Prometheus scraping `target` (host:port) every second; waits until it has.
pub fn start(dir: &Path, target: &str) -> Prometheus {
    start_with_rules(dir, target, None)
}

/// The same, evaluating the alerting `rules` (YAML) every second.
pub fn start_with_rules(dir: &Path, target: &str, rules: Option<&str>) -> Prometheus {
    start_on(dir, target, rules, free_port())
}

/// The same on `port` (a Prometheus started again where its clients expect it).
pub fn start_on(dir: &Path, target: &str, rules: Option<&str>, port: u16) -> Prometheus {
    let config = dir.join("prometheus.yml");
    let rule_files = match rules {
        Some(rules) => {
            let path = dir.join("rules.yml");
            std::fs::write(&path, rules).unwrap();
            format!("rule_files:\n  - '{}'\n", path.display())
        }
        None => String::new(),
    };
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{rule_files}scrape_configs:\n  - job_name: flightdeck\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
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
