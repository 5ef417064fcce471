//! A real Alertmanager (Debian's `prometheus-alertmanager`, installed by .ci/run) on a loopback
//! port, clustering off; stopped when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Alertmanager {
    child: Child,
    pub url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts one with a receiver that sends nowhere (the test reads its API).
pub fn start(dir: &Path) -> Alertmanager {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: quiet\n  group_wait: 1s\nreceivers:\n  - name: quiet\n",
    )
    .unwrap();
    let port = super::prometheus::free_port();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // No gossip port on every interface: one instance, loopback only.
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager is installed (.ci/run installs Debian's package)");
    let alertmanager = Alertmanager {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::blocking::get(format!("{}/api/v2/status", alertmanager.url))
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "Alertmanager did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    alertmanager
}
