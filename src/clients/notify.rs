//! Sending alerts where people will see them: Alertmanager's API v2, a generic JSON webhook
//! (its body signed with HMAC-SHA256 when a secret is set), and Slack's incoming-webhook format.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::within;
use crate::model::{Alert, AlertState, Notice, Receiver, Severity};

/// The header a webhook's signature travels in: `sha256=` and the hex HMAC of the body.
pub const SIGNATURE_HEADER: &str = "x-flightdeck-signature";

/// Sends `alerts` (firing or resolved) to `receiver`, within `timeout`.
pub async fn send(
    client: &reqwest::Client,
    receiver: &Receiver,
    alerts: &[Alert],
    timeout: Duration,
) -> Result<(), String> {
    if alerts.is_empty() {
        return Ok(());
    }
    let body = match receiver {
        Receiver::Alertmanager { .. } => {
            serde_json::Value::Array(alerts.iter().map(alertmanager).collect())
        }
        Receiver::Webhook { .. } => serde_json::json!({ "alerts": alerts }),
        Receiver::Slack { .. } => {
            let text: Vec<String> = alerts.iter().map(sentence).collect();
            serde_json::json!({ "text": text.join("\n") })
        }
    };
    post(client, receiver, body, timeout).await
}

/// Posts `body` where `receiver` takes it (Alertmanager's alerts endpoint, or the URL), signed
/// when the receiver has a secret, within `timeout`.
async fn post(
    client: &reqwest::Client,
    receiver: &Receiver,
    body: serde_json::Value,
    timeout: Duration,
) -> Result<(), String> {
    within(timeout, async {
        let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let mut request = match receiver {
            Receiver::Alertmanager { url } => client.post(format!("{url}/api/v2/alerts")),
            Receiver::Webhook { url, .. } | Receiver::Slack { url, .. } => client.post(url),
        }
        .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Receiver::Webhook {
            secret_env: Some(var),
            ..
        } = receiver
        {
            // Never sent unsigned when a signature is expected.
            let secret = webhook_secret(var)?;
            request = request.header(SIGNATURE_HEADER, signature(&secret, &bytes));
        }
        let response = request
            .body(bytes)
            .send()
            .await
            .map_err(|e| super::http::describe(&e))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            let text = super::answer::text(response, "", super::http::describe).await?;
            Err(format!(
                "HTTP {status}: {}",
                text.chars().take(200).collect::<String>()
            ))
        }
    })
    .await
}

/// How long a notice stays active in Alertmanager: long enough to be routed and seen, ended by
/// itself since nothing will resolve it.
const NOTICE_ACTIVE: chrono::Duration = chrono::Duration::hours(1);

/// Tells `receiver` of `notice`. Alertmanager hears only warnings and worse (an event at info
/// level is not something to page on); webhooks and Slack hear everything.
pub async fn tell(
    client: &reqwest::Client,
    receiver: &Receiver,
    notice: &Notice,
    timeout: Duration,
) -> Result<(), String> {
    let body = match receiver {
        Receiver::Alertmanager { .. } if notice.severity == Severity::Info => return Ok(()),
        Receiver::Alertmanager { .. } => serde_json::json!([{
            "labels": {
                "alertname": notice.event.replace(' ', "_"),
                "model": notice.model,
                "severity": <&str>::from(notice.severity),
                "flightdeck_event": notice.event,
            },
            "annotations": { "summary": notice.summary },
            "startsAt": notice.at.to_rfc3339(),
            "endsAt": (notice.at + NOTICE_ACTIVE).to_rfc3339(),
        }]),
        Receiver::Webhook { .. } => serde_json::json!({ "notice": notice }),
        Receiver::Slack { .. } => serde_json::json!({
            "text": format!("{} {}: {}", notice.event.to_uppercase(), notice.model, notice.summary)
        }),
    };
    post(client, receiver, body, timeout).await
}

/// The signing secret in the environment variable `var`.
pub fn webhook_secret(var: &str) -> Result<String, String> {
    std::env::var(var).map_err(|_| {
        format!("the webhook's secret_env {var:?} names an environment variable that is not set")
    })
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`, as GitHub signs its webhooks.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// "FIRING claims-5xx on claims: server_errors 0.3100 (threshold 0.05, critical)".
pub fn sentence(alert: &Alert) -> String {
    let state = match alert.state {
        AlertState::Firing => "FIRING",
        AlertState::Resolved => "RESOLVED",
        AlertState::Pending => "PENDING",
    };
    let value = alert
        .value
        .map(|v| format!("{v:.4}"))
        .unwrap_or_else(|| "unknown".into());
    format!(
        "{state} {} on {}: {} {value} (threshold {}, {})",
        alert.rule,
        alert.model,
        alert.signal.name(),
        alert.threshold,
        <&str>::from(alert.severity)
    )
}

/// An alert as Alertmanager's API v2 takes it: its labels identify it (deduplication), a
/// resolved one carries its end.
fn alertmanager(alert: &Alert) -> serde_json::Value {
    let mut labels = alert.labels.clone();
    labels.insert("alertname".into(), alert.rule.clone());
    labels.insert("model".into(), alert.model.clone());
    labels.insert("severity".into(), <&str>::from(alert.severity).into());
    labels.insert("flightdeck_signal".into(), alert.signal.name().into());
    let mut body = serde_json::json!({
        "labels": labels,
        "annotations": { "summary": sentence(alert) },
    });
    match alert.state {
        AlertState::Resolved => body["endsAt"] = serde_json::json!(alert.since.to_rfc3339()),
        _ => body["startsAt"] = serde_json::json!(alert.since.to_rfc3339()),
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
