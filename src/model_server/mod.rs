//! `flightdeck serve`: the local ONNX model server. It speaks the Open Inference Protocol (V2
//! REST) and KServe V1, splits traffic between a stable and a canary version, swaps versions
//! without dropping requests, exposes Prometheus metrics, scores input and prediction drift, and joins late labels with
//! the answers they belong to.

mod batch;
pub mod connections;
pub mod drift;
pub mod feedback;
mod flat;
mod labels;
mod metrics;
mod pool;
mod protocol;
pub mod request_log;
mod routes;
pub mod shadow;
pub mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use pool::default_workers;
pub use state::{Plan, ServeOptions, ServerState};

use crate::model::ModelName;

/// Everything needed to start a server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub model: ModelName,
    pub plan: Plan,
    pub address: SocketAddr,
    pub workers: usize,
    pub queue: usize,
    pub options: ServeOptions,
    /// Written with the bound port once listening (for supervisors and `--port 0`).
    pub port_file: Option<PathBuf>,
    /// How many connections, and how long a client may take.
    pub connections: connections::ConnectionLimits,
}

/// A server that is listening, before it starts serving.
pub struct BoundServer {
    pub address: SocketAddr,
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    connections: connections::ConnectionLimits,
}

impl BoundServer {
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let app = routes::router(self.state);
        state.ready.store(true, Ordering::Relaxed);
        let readiness = state.clone();
        let ready = Arc::new(move || readiness.ready.load(Ordering::Relaxed));
        connections::serve(self.listener, app, self.connections, ready, async move {
            shutdown.await;
            state.ready.store(false, Ordering::Relaxed);
        })
        .await
    }
}

/// Loads the plan's versions and binds the listening socket; errors say which step failed.
pub async fn bind(config: ServeConfig) -> Result<BoundServer, String> {
    let pool = pool::InferencePool::new(config.workers, config.queue)
        .map_err(|e| format!("cannot start inference workers: {e}"))?;
    let state = Arc::new(ServerState::new(pool, config.options.clone()));
    let loader = state.clone();
    let (model, plan) = (config.model.clone(), config.plan);
    let applied = tokio::task::spawn_blocking(move || {
        loader.apply_plan(&model, plan).or_else(|canary_failed| {
            // A canary that cannot load (a damaged artifact) must not take production down
            // with it: stable serves alone, and what is served says the canary is missing.
            let stable = Plan {
                stable: plan.stable,
                canary: None,
                canary_percent: 0,
            };
            match plan.canary {
                Some(canary) => {
                    tracing::error!(model = %model, canary, error = %canary_failed, "the canary does not load: serving stable alone");
                    eprintln!(
                        "warning: canary v{canary} does not load ({canary_failed}); serving v{} alone",
                        plan.stable
                    );
                    loader.apply_plan(&model, stable)
                }
                None => Err(canary_failed),
            }
        })
    })
    .await
    .map_err(|e| e.to_string())?;
    applied?;
    let listener = tokio::net::TcpListener::bind(config.address)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {}: {e}; choose another --port",
                config.address
            )
        })?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(path) = &config.port_file {
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, address.port().to_string())
            .and_then(|_| std::fs::rename(&temp, path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(BoundServer {
        address,
        listener,
        state,
        connections: config.connections,
    })
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
