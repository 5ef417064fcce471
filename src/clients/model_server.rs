//! Reads a flightdeck server's read endpoints, `/metrics` and the drift reports: the console,
//! `flightdeck status|drift` and the promote gates all read through here, so a hung, refusing
//! or garbled server is described the same way everywhere.

use std::time::Duration;

use super::metrics::{ScrapeSnapshot, parse};
use super::within;
use crate::model::{DriftReport, FeedbackReceipt, FeedbackReport};

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

/// Sends labels (`[{"id", "label"}]`) for `model`'s answers; what became of them, within
/// `timeout`.
pub async fn post_labels(
    client: &reqwest::Client,
    endpoint: &str,
    model: &str,
    labels: &serde_json::Value,
    timeout: Duration,
) -> Result<FeedbackReceipt, String> {
    within(timeout, async {
        let response = client
            .post(format!("{endpoint}/flightdeck/feedback/{model}"))
            .json(labels)
            .send()
            .await
            .map_err(|e| super::http::describe(&e))?;
        let status = response.status();
        let text = super::answer::text(response, "", super::http::describe).await?;
        if !status.is_success() {
            return Err(refusal(status, &text));
        }
        serde_json::from_str(&text).map_err(|e| format!("not a feedback receipt: {e}"))
    })
    .await
}

/// Each version's quality on its labelled answers, as `model`'s server joined them.
pub async fn feedback(
    client: &reqwest::Client,
    endpoint: &str,
    model: &str,
    timeout: Duration,
) -> Result<FeedbackReport, String> {
    within(timeout, async {
        let text = get_text(client, &format!("{endpoint}/flightdeck/feedback/{model}")).await?;
        serde_json::from_str(&text).map_err(|e| format!("not a feedback report: {e}"))
    })
    .await
}

/// The body of a successful GET; otherwise the status and what the server said about it.
async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| super::http::describe(&e))?;
    let status = response.status();
    let text = super::answer::text(response, "", super::http::describe).await?;
    if status.is_success() {
        return Ok(text);
    }
    Err(refusal(status, &text))
}

/// A refusal in words: flightdeck servers explain them as {"error": "..."}; other servers get a
/// short excerpt.
fn refusal(status: reqwest::StatusCode, text: &str) -> String {
    let said = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(120).collect());
    format!("HTTP {status}: {}", said.trim())
}
