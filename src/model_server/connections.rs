//! The server's connections: its own accept loop over hyper, so that a client cannot hold the
//! server hostage. A request's headers must arrive within `header_timeout` (and an idle
//! keep-alive connection is closed after it too); a whole request, body included, must be
//! answered within `request_timeout` (`408`); at most `max_connections` are served at once and
//! the next ones get a `503` at once, with room kept below the open-file limit for the registry,
//! model files and health checks. A full file table makes `accept` fail: the loop waits a
//! moment and goes on, it never stops serving.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// How many connections a server takes, and how long a client may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    /// The largest body accepted: a request that declares more is refused before its body.
    pub max_body: usize,
}

/// Open files kept for what is not a client connection (registry, models, logs, health checks).
const FILES_KEPT: u64 = 64;

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: default_max_connections(),
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_body: 4 * 1024 * 1024,
        }
    }
}

/// The process's open-file limit less the files it needs for itself, between 16 and 10,000.
pub fn default_max_connections() -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024);
    soft.saturating_sub(FILES_KEPT).clamp(16, 10_000) as usize
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open connections finish
/// their requests (up to 30 s).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    ready: Arc<dyn Fn() -> bool + Send + Sync>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closed) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors (or a connection reset before it was taken): the
                // clients already served are not given up for it.
                tracing::warn!(error = %e, "accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let (app, closed) = (app.clone(), closed.clone());
                tokio::spawn(async move {
                    connection(stream, app, limits, closed).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(busy(stream, limits.max_connections, ready.clone()));
            }
        }
    }
    let _ = closing.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(30), permits.acquire_many(all)).await;
    Ok(())
}

/// One client connection, HTTP/1.1 with keep-alive, until it closes, times out, or the server
/// shuts down (the request in flight is finished first).
async fn connection(
    stream: TcpStream,
    app: axum::Router,
    limits: ConnectionLimits,
    mut closed: watch::Receiver<bool>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // Room above this server's own limits, so that it refuses oversized requests in JSON.
        .max_buf_size(256 * 1024)
        .keep_alive(true);
    // The deadline wraps the router's future directly (no middleware layer: that cost a boxed
    // service and future per request, a tenth of a request's CPU).
    let router = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        // Oversized request lines and headers are refused here, in JSON like every refusal,
        // well before hyper's own (bodiless) 414 and 431.
        let refused = oversized(&request, limits.max_body);
        let answer = hyper::service::Service::call(&router, request);
        let limit = limits.request_timeout;
        async move {
            if let Some(refusal) = refused {
                return Ok(refusal);
            }
            match tokio::time::timeout(limit, answer).await {
                Ok(answered) => answered,
                Err(_) => Ok(too_slow(limit)),
            }
        }
    });
    let served = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(served);
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                return;
            }
            changed = closed.changed() => {
                if changed.is_err() || *closed.borrow() {
                    served.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The longest request target accepted, in bytes.
const MAX_URI: usize = 8 * 1024;
/// The most header bytes accepted (names and values).
const MAX_HEADERS: usize = 32 * 1024;

/// A JSON 414 or 431 for a request line or headers over the limits.
fn oversized(request: &Request<Incoming>, max_body: usize) -> Option<axum::response::Response> {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    // A declared length over the limit is refused at once, not after waiting for the body.
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if let Some(length) = declared.filter(|l| *l > max_body) {
        return Some(
            super::routes::ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is {length} bytes; the limit is {max_body} (--max-body-bytes)"),
            )
            .into_response(),
        );
    }
    let uri = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri > MAX_URI {
        return Some(
            super::routes::ApiError::new(
                StatusCode::URI_TOO_LONG,
                format!("the request target is {uri} bytes; the limit is {MAX_URI}"),
            )
            .into_response(),
        );
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (headers > MAX_HEADERS).then(|| {
        super::routes::ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the headers are {headers} bytes; the limit is {MAX_HEADERS}"),
        )
        .into_response()
    })
}

/// The answer to a request not answered within `limit` (its body may be trickling in).
fn too_slow(limit: Duration) -> axum::response::Response {
    use axum::response::IntoResponse;
    super::routes::ApiError::new(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        format!(
            "the request was not answered within {} s (its body may be arriving too slowly)",
            limit.as_secs()
        ),
    )
    .into_response()
}

/// A connection over the cap: a health check is still answered (an orchestrator must not
/// restart a server for being busy); anything else is told so at once. Then it is closed.
async fn busy(mut stream: TcpStream, max: usize, ready: Arc<dyn Fn() -> bool + Send + Sync>) {
    use tokio::io::AsyncReadExt;
    let mut head = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut head)).await;
    let line = match read {
        Ok(Ok(n)) => String::from_utf8_lossy(&head[..n]).into_owned(),
        _ => String::new(),
    };
    let (status, body) = if line.starts_with("GET /v2/health/live ") {
        ("200 OK", "{\"live\":true}".to_string())
    } else if line.starts_with("GET /v2/health/ready ") {
        if ready() {
            ("200 OK", "{\"ready\":true}".to_string())
        } else {
            ("503 Service Unavailable", "{\"ready\":false}".to_string())
        }
    } else {
        (
            "503 Service Unavailable",
            format!(
                "{{\"error\":\"the server has {max} connections open, its limit (--max-connections); retry shortly\"}}"
            ),
        )
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(answer.as_bytes())).await;
    let _ = stream.shutdown().await;
}
