//! A metrics exporter on loopback for a real Prometheus to scrape: it serves whatever
//! exposition text the test sets (other runtimes' families, or series a test moves on).

/// An exporter on loopback serving whatever exposition text the test sets: other runtimes'
/// metric families, as their servers name and label them.
pub struct Exporter {
    pub text: std::sync::Arc<std::sync::Mutex<String>>,
    pub address: String,
}

impl Exporter {
    pub fn start() -> Exporter {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let shared = text.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let body = shared.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Exporter { text, address }
    }
}
