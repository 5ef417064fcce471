//! A local model server's shadow, driven through its admin API: start a candidate on a copy of
//! production's requests, read what it found, stop it.

use crate::model::ShadowReport;

use super::{LocalServing, ServingError};

/// What is asked of a model's shadow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShadowAction {
    Start { version: u32, percent: u8 },
    Read,
    Stop,
}

impl LocalServing {
    /// Starts, reads or stops the shadow of `model` in its running server.
    pub async fn shadow(
        &self,
        model: &str,
        action: ShadowAction,
    ) -> Result<ShadowReport, ServingError> {
        let status = self.status(model).await;
        let endpoint = status
            .endpoint()
            .filter(|_| status.healthy)
            .ok_or_else(|| ServingError::NotRunning(model.to_string()))?;
        let unreachable = |e: reqwest::Error| ServingError::Unreachable {
            model: model.to_string(),
            reason: e.to_string(),
        };
        let admin = format!("{endpoint}/flightdeck/admin/shadow/{model}");
        let request = match action {
            ShadowAction::Start { version, percent } => self
                .http
                .put(&admin)
                .bearer_auth(self.token()?)
                .json(&serde_json::json!({ "version": version, "percent": percent })),
            ShadowAction::Stop => self.http.delete(&admin).bearer_auth(self.token()?),
            ShadowAction::Read => self
                .http
                .get(format!("{endpoint}/flightdeck/shadow/{model}")),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        // What the server runs is written down, so a server restarted after a crash runs the
        // same shadow again (the supervisor passes it on).
        let remembered = match action {
            ShadowAction::Start { version, percent } if status.is_success() => self
                .files
                .write_shadow(model, &super::files::ShadowPlan { version, percent }),
            ShadowAction::Stop => self.files.remove_shadow(model),
            _ => Ok(()),
        };
        remembered.map_err(|e| ServingError::Unreachable {
            model: model.to_string(),
            reason: format!(
                "cannot keep the shadow's plan in {}: {e}",
                self.files.dir().display()
            ),
        })?;
        if status.is_success() {
            return response.json().await.map_err(unreachable);
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        Err(ServingError::Refused {
            model: model.to_string(),
            plan: "shadow".into(),
            reason: body["error"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status}")),
        })
    }
}
