//! The server reader against servers that misbehave on loopback: refusing, hanging, answering
//! garbage or an error. Each must come back as a sentence, never a hang or an empty pane.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use flightdeck::clients::{http, model_server};

/// A one-shot server on 127.0.0.1 that answers each connection with `response` (or, with
/// `None`, reads the request and never answers); it stops by itself after a few seconds.
fn canned(response: Option<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut held = Vec::new();
        while std::time::Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            match response {
                Some(text) => {
                    let _ = stream.write_all(text.as_bytes());
                }
                None => held.push(stream),
            }
        }
    });
    endpoint
}

fn http(status: &str, content_type: &str, body: &str) -> &'static str {
    Box::leak(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    )
}

fn block_on<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

const TIMEOUT: Duration = Duration::from_millis(400);

#[test]
fn a_refused_connection_says_it_was_refused() {
    let endpoint = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let client = http::client().unwrap();
    let error = block_on(model_server::scrape(&client, &endpoint, TIMEOUT)).unwrap_err();
    assert!(
        error.to_lowercase().contains("refused"),
        "the cause is named: {error}"
    );
}

#[test]
fn a_server_that_never_answers_is_reported_at_the_deadline() {
    let endpoint = canned(None);
    let client = http::client().unwrap();
    let error = block_on(model_server::scrape(&client, &endpoint, TIMEOUT)).unwrap_err();
    assert_eq!(error, "no answer within 400 ms");
    let error = block_on(model_server::drift(&client, &endpoint, "claims", TIMEOUT)).unwrap_err();
    assert_eq!(error, "no answer within 400 ms");
}

#[test]
fn a_web_page_is_not_mistaken_for_metrics() {
    let endpoint = canned(Some(http(
        "200 OK",
        "text/html",
        "<html><body>login</body></html>",
    )));
    let client = http::client().unwrap();
    let error = block_on(model_server::scrape(&client, &endpoint, TIMEOUT)).unwrap_err();
    assert_eq!(error, "the answer is not flightdeck metrics");
}

#[test]
fn a_refusal_carries_the_servers_reason() {
    let endpoint = canned(Some(http(
        "404 Not Found",
        "application/json",
        r#"{"error":"model \"claims\" is not served here"}"#,
    )));
    let client = http::client().unwrap();
    let error = block_on(model_server::drift(&client, &endpoint, "claims", TIMEOUT)).unwrap_err();
    assert_eq!(
        error,
        r#"HTTP 404 Not Found: model "claims" is not served here"#
    );
}

#[test]
fn a_drift_answer_of_the_wrong_shape_says_so() {
    let endpoint = canned(Some(http(
        "200 OK",
        "application/json",
        r#"{"model":"claims"}"#,
    )));
    let client = http::client().unwrap();
    let error = block_on(model_server::drift(&client, &endpoint, "claims", TIMEOUT)).unwrap_err();
    assert!(
        error.starts_with("not a drift report: missing field `versions`"),
        "{error}"
    );
}

/// The embedded registry answers "unchanged" while its files are as they were when it last
/// returned the fleet, and the whole fleet again once anything is written (a new model).
#[test]
fn the_embedded_registry_says_unchanged_until_its_files_change() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    crate::common::register(h, "fraud", "logreg_binary.onnx");
    let sources = flightdeck::sources::embedded::sources(
        h,
        std::path::PathBuf::from("flightdeck"),
        Duration::from_secs(5),
    )
    .unwrap();
    let versions = |view: &flightdeck::sources::source::RegistryView| {
        view.models.iter().map(|m| m.versions).sum::<u32>()
    };
    let first = block_on(sources.registry.fleet_if_changed()).unwrap();
    assert_eq!(first.as_ref().map(versions), Some(1));
    assert!(
        block_on(sources.registry.fleet_if_changed())
            .unwrap()
            .is_none(),
        "nothing was written in between"
    );
    // `fleet` itself always answers in full (status, headless reads).
    assert_eq!(versions(&block_on(sources.registry.fleet()).unwrap()), 1);
    crate::common::register(h, "churn", "logreg_binary.onnx");
    let after = block_on(sources.registry.fleet_if_changed()).unwrap();
    assert_eq!(after.as_ref().map(versions), Some(2), "the new model");
    assert!(
        block_on(sources.registry.fleet_if_changed())
            .unwrap()
            .is_none()
    );
}
