//! A webhook receiver on loopback for the tests of `watch`: it keeps what it is sent.

/// Each request a hook received: its signature header and its body.
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook receiver on loopback keeping each request's signature header and body.
pub struct Hook {
    pub url: String,
    pub received: Received,
}

impl Hook {
    pub fn start() -> Hook {
        Self::refusing_first(0)
    }

    /// A receiver that answers its first `refused` requests with a 503 (down, as a receiver
    /// being restarted is) and keeps only the requests it accepts.
    pub fn refusing_first(refused: usize) -> Hook {
        use std::io::{BufRead, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received: Received = Default::default();
        let kept = received.clone();
        std::thread::spawn(move || {
            let mut seen = 0;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let (mut length, mut signature) = (0usize, String::new());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("x-flightdeck-signature:") {
                        signature = line.split_once(':').unwrap().1.trim().to_string();
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                if seen < refused {
                    seen += 1;
                    let _ = stream.write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    continue;
                }
                kept.lock().unwrap().push((signature, body));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Hook { url, received }
    }

    /// The JSON bodies received so far.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, body)| serde_json::from_slice(body).ok())
            .collect()
    }
}
