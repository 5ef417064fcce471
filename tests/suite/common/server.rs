//! A real `flightdeck serve` process on an ephemeral loopback port, stopped when dropped.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::flightdeck;

pub struct Server {
    child: Child,
    pub url: String,
    pub token: String,
}

impl Server {
    /// Starts `flightdeck serve MODEL ARGS...` and waits until it listens.
    pub fn start(home: &Path, model: &str, args: &[&str]) -> Server {
        let port_file = home.join(format!("port-{model}-{}", std::process::id()));
        let _ = std::fs::remove_file(&port_file);
        let child = flightdeck(home)
            .args(["serve", model, "--port", "0", "--port-file"])
            .arg(&port_file)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn flightdeck serve");
        let mut server = Server {
            child,
            url: String::new(),
            token: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                server.url = format!("http://127.0.0.1:{}", port.trim());
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = server.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!("flightdeck serve exited with {status}: {err}");
            }
            assert!(
                Instant::now() < deadline,
                "flightdeck serve did not start in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server.token = std::fs::read_to_string(home.join("serve/admin.token"))
            .unwrap_or_default()
            .trim()
            .to_string();
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
