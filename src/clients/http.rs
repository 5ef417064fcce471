//! The HTTP client flightdeck talks through, and a transport error said by its cause.

/// The client every read and write over HTTP goes through: never through a proxy (a proxy set
/// for the internet would swallow 127.0.0.1, where model servers listen; MLflow and Prometheus
/// are reached directly too). Build one and reuse it: it keeps connections open.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))
}

/// A client for reading many servers once a refresh: it keeps no idle connections. An idle
/// keep-alive connection holds its grown read buffer; a thousand of them were 49 MB of the
/// console's heap (heaptrack), while a loopback connect per read costs far less.
pub fn fleet_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))
}

/// A reqwest error led by its innermost cause ("error sending request" alone does not say
/// "connection refused"); used by every HTTP source.
pub fn describe(error: &reqwest::Error) -> String {
    // reqwest's own message is "error sending request for url (...)": the reason is in the
    // innermost cause ("Connection refused (os error 111)"), which must survive a clipped header.
    let mut innermost = None;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        innermost = Some(cause.to_string());
        source = cause.source();
    }
    let reason = innermost.unwrap_or_else(|| error.to_string());
    if error.is_connect() {
        format!("cannot connect: {reason}")
    } else if error.is_timeout() {
        format!("timed out: {reason}")
    } else {
        reason
    }
}
