//! The model server cannot be held hostage by its clients: headers that never finish (a
//! slowloris), a body that trickles, idle keep-alive connections and more connections than it
//! takes are all cut off or refused in time, while health checks still get through; every
//! refusal is JSON; and it will not listen beyond loopback without being told to.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::server::Server;

fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    common::register(home.path(), "fraud", "logreg_multiclass.onnx");
    home
}

fn address(server: &Server) -> String {
    server.url.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or `limit` passes): what it sent.
fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(String::from_utf8_lossy(&answer).into_owned()),
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&answer).into_owned());
            }
            Err(_) => return None,
        }
    }
}

fn live(server: &Server) -> reqwest::StatusCode {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("{}/v2/health/live", server.url))
        .send()
        .map(|r| r.status())
        .unwrap_or(reqwest::StatusCode::GATEWAY_TIMEOUT)
}

#[test]
fn half_sent_requests_are_cut_off_and_health_checks_still_get_through() {
    let home = home();
    let server = Server::start(
        home.path(),
        "fraud",
        &["--header-timeout-s", "1", "--max-connections", "20"],
    );
    // Forty clients that start a request and never finish its headers.
    let mut slow: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = TcpStream::connect(address(&server)).unwrap();
            let _ = s.write_all(b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: x\r\n");
            s
        })
        .collect();
    // Those over the cap are told so at once, in JSON.
    let mut refused = 0;
    for s in slow.iter_mut().rev().take(10) {
        if let Some(answer) = read_to_close(s, Duration::from_secs(5))
            && answer.starts_with("HTTP/1.1 503")
        {
            assert!(answer.contains("{\"error\":"), "{answer}");
            refused += 1;
        }
    }
    assert!(refused > 0, "the cap turned nobody away");
    // Health checks are still answered over the cap.
    let mut probe = TcpStream::connect(address(&server)).unwrap();
    probe
        .write_all(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut probe, Duration::from_secs(5)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The rest are closed once their headers are overdue.
    let started = Instant::now();
    for s in slow.iter_mut().take(20) {
        assert!(
            read_to_close(s, Duration::from_secs(10)).is_some(),
            "a half-sent request was never cut off"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // And the server answers again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while live(&server) != reqwest::StatusCode::OK {
        assert!(Instant::now() < deadline, "the server stayed unreachable");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn idle_connections_close_and_a_trickling_body_gets_a_json_408() {
    let home = home();
    let server = Server::start(
        home.path(),
        "fraud",
        &["--header-timeout-s", "1", "--request-timeout-s", "1"],
    );
    // An idle keep-alive connection is closed.
    let mut idle = TcpStream::connect(address(&server)).unwrap();
    idle.write_all(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut idle, Duration::from_secs(10)).expect("closed when idle");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A body that never arrives in full.
    let mut trickle = TcpStream::connect(address(&server)).unwrap();
    trickle
        .write_all(
            b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n{\"inputs\":",
        )
        .unwrap();
    let answer = read_to_close(&mut trickle, Duration::from_secs(10)).expect("answered");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("{\"error\":"), "{answer}");
    // A declared body over the limit is refused at once, before any of it arrives.
    let mut huge = TcpStream::connect(address(&server)).unwrap();
    huge.write_all(
        b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 50000000\r\n\r\n",
    )
    .unwrap();
    let started = Instant::now();
    let answer = read_to_close(&mut huge, Duration::from_secs(10)).expect("answered");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "not after the deadline"
    );
}

#[test]
fn every_refusal_is_a_json_error() {
    let home = home();
    let server = Server::start(home.path(), "fraud", &[]);
    let client = reqwest::blocking::Client::new();
    let error = |response: reqwest::blocking::Response, status: u16| {
        assert_eq!(response.status(), status);
        let body: serde_json::Value = response.json().unwrap();
        body["error"].as_str().unwrap().to_string()
    };
    let wrong_method = client
        .get(format!("{}/v2/models/fraud/infer", server.url))
        .send()
        .unwrap();
    assert!(error(wrong_method, 405).contains("not allowed"));
    let long_uri = client
        .get(format!("{}/v2/models/{}", server.url, "x".repeat(20_000)))
        .send()
        .unwrap();
    assert!(error(long_uri, 414).contains("the limit is"));
    let big_headers = client
        .get(format!("{}/v2/health/live", server.url))
        .header("x-padding", "y".repeat(40_000))
        .send()
        .unwrap();
    assert!(error(big_headers, 431).contains("the limit is"));
}

#[test]
fn listening_beyond_loopback_needs_to_be_asked_for() {
    let home = home();
    let err = common::fails(
        home.path(),
        &["serve", "fraud", "--host", "0.0.0.0", "--port", "0"],
        1,
    );
    assert!(
        err.contains("not a loopback address") && err.contains("--expose"),
        "{err}"
    );
}
