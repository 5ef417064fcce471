//! Reads a flightdeck server's read endpoints, `/metrics` and the drift reports: the console,
//! `flightdeck status|drift` and the promote gates all read through here, so a hung, refusing
//! or garbled server is described the same way everywhere.

use std::time::Duration;

use super::metrics::{ScrapeSnapshot, parse};
use super::within;
use crate::model::DriftReport;

/// A client for loopback servers: never through a proxy (a proxy set for the internet would
/// swallow 127.0.0.1). Build one and reuse it: it keeps connections to each server open.
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

/// One scrape of the server's `/metrics`, answered within `timeout`.
pub async fn scrape(
    client: &reqwest::Client,
    endpoint: &str,
    timeout: Duration,
) -> Result<ScrapeSnapshot, String> {
    within(timeout, async {
        let text = get_text(client, &format!("{endpoint}/metrics")).await?;
        let snapshot = parse(&text);
        if snapshot.versions.is_empty() && snapshot.roles.is_empty() && !text.trim().is_empty() {
            return Err("the answer is not flightdeck metrics".to_string());
        }
        Ok(snapshot)
    })
    .await
}

/// The drift report of every version of `model` the server has loaded, within `timeout`.
pub async fn drift(
    client: &reqwest::Client,
    endpoint: &str,
    model: &str,
    timeout: Duration,
) -> Result<Vec<DriftReport>, String> {
    #[derive(serde::Deserialize)]
    struct Body {
        versions: Vec<DriftReport>,
    }
    within(timeout, async {
        let text = get_text(client, &format!("{endpoint}/flightdeck/drift/{model}")).await?;
        serde_json::from_str::<Body>(&text)
            .map(|b| b.versions)
            .map_err(|e| format!("not a drift report: {e}"))
    })
    .await
}

/// The body of a successful GET; otherwise the status and what the server said about it.
async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client.get(url).send().await.map_err(|e| describe(&e))?;
    let status = response.status();
    let text = super::answer::text(response, "", describe).await?;
    if status.is_success() {
        return Ok(text);
    }
    // flightdeck servers explain refusals as {"error": "..."}; other servers get a short excerpt.
    let said = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(120).collect());
    Err(format!("HTTP {status}: {}", said.trim()))
}

/// A reqwest error led by its innermost cause ("error sending request" alone does not say
/// "connection refused"); used by every HTTP source.
pub(crate) fn describe(error: &reqwest::Error) -> String {
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
