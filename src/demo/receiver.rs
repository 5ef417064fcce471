//! A local receiver for the demo's alerts and notices: what a Slack channel or a pager would
//! get, kept so the scenario can check it arrived, on a loopback port, stopped with the demo.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::routing::post;

/// The receiver and everything it was sent.
pub struct LocalReceiver {
    pub url: String,
    received: Arc<Mutex<Vec<serde_json::Value>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for LocalReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl LocalReceiver {
    pub async fn start() -> Result<LocalReceiver, String> {
        let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let kept = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |Json(body): Json<serde_json::Value>| {
                let kept = kept.clone();
                async move {
                    if let Ok(mut all) = kept.lock() {
                        all.push(body);
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot start the demo's receiver: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(LocalReceiver {
            url: format!("http://{address}/hook"),
            received,
            server,
        })
    }

    /// The demo's receiver as the config would name it.
    pub fn receiver(&self) -> crate::model::Receiver {
        crate::model::Receiver::Webhook {
            url: self.url.clone(),
            secret_env: None,
            repeat_seconds: None,
        }
    }

    /// What it was sent so far.
    pub fn received(&self) -> Vec<serde_json::Value> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
