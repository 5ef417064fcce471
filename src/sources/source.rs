//! The read side's seams: one trait per signal the console shows. The embedded environment
//! implements them with SQLite, the local supervisor's files and the servers' own endpoints
//! (`embedded.rs`); a cluster environment implements the same traits with MLflow, Kubernetes
//! and Prometheus, and the console does not change. Every call has its deadline inside: an
//! implementation answers in time or with an error, never not at all.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::clients::metrics::ScrapeSnapshot;
use crate::model::{
    DriftReport, InterruptedOp, JournalEntry, ModelSummary, ModelVersion, ServingStatus,
};

/// An answer that may fail, with the reason in words for the screen.
pub type Fetch<'a, T> = BoxFuture<'a, Result<T, String>>;

/// The registry's side of the fleet: models with their aliases, and interrupted operations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryView {
    pub models: Vec<ModelSummary>,
    pub interrupted: Vec<InterruptedOp>,
    /// The latest rollout of each model, per environment (flightdeck's own record).
    pub rollouts: Vec<crate::model::Rollout>,
}

/// Versions, aliases and the journal.
pub trait RegistrySource: Send + Sync {
    fn fleet(&self) -> Fetch<'_, RegistryView>;
    /// The fleet, or `None` when it is the one this source last returned from here, read from
    /// files that have not changed since: a thousand models copied and compared every refresh
    /// were most of an idle console's work. Sources that cannot tell return it every time.
    fn fleet_if_changed(&self) -> Fetch<'_, Option<RegistryView>> {
        Box::pin(async move { self.fleet().await.map(Some) })
    }
    fn versions(&self, model: String) -> Fetch<'_, Vec<ModelVersion>>;
    /// The newest `limit` journal rows of `model`, newest first.
    fn journal(&self, model: String, limit: usize) -> Fetch<'_, Vec<JournalEntry>>;
}

/// What serves each model: the plan, the processes (or pods), their health.
pub trait ClusterSource: Send + Sync {
    /// Every deployment; one that cannot be asked in time is listed with its problem.
    fn servers(&self) -> BoxFuture<'_, Vec<ServingStatus>>;

    /// The models on screen now: a source that asks each server may ask the others less often.
    fn prioritise(&self, _models: std::collections::BTreeSet<String>) {}

    /// Why the cluster itself cannot be read now (connection refused, forbidden), when it
    /// cannot; rows already shown stay until it can.
    fn problem(&self) -> Option<String> {
        None
    }

    /// While [`Self::problem`] stands: when the rows it answers with were last confirmed
    /// (None: they are current, or were never known).
    fn known_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }
}

/// Serving counters of one model (cumulative: rates come from two reads).
pub trait MetricsSource: Send + Sync {
    /// `endpoint` is where the model is served, for sources that read the server itself.
    fn scrape(&self, model: String, endpoint: String) -> Fetch<'_, ScrapeSnapshot>;

    /// The last `seconds` of each version's serving, one point every `step` seconds, for the
    /// charts of a model just opened (or a longer range asked for). Sources without history (a
    /// server's own /metrics) have none.
    fn history(
        &self,
        _model: String,
        _seconds: u32,
        _step: u32,
    ) -> Fetch<'_, BTreeMap<(String, String), Vec<crate::clients::metrics::RatePoint>>> {
        futures_util::FutureExt::boxed(async { Ok(BTreeMap::new()) })
    }
}

/// Input drift of each version of one model.
pub trait DriftSource: Send + Sync {
    fn drift(&self, model: String, endpoint: String) -> Fetch<'_, Vec<DriftReport>>;
}

/// One environment's sources, as the console and the headless views read them.
#[derive(Clone)]
pub struct Sources {
    pub registry: Arc<dyn RegistrySource>,
    pub cluster: Arc<dyn ClusterSource>,
    pub metrics: Arc<dyn MetricsSource>,
    pub drift: Arc<dyn DriftSource>,
}

impl Sources {
    /// The registry's view and the servers, read one after the other (headless callers; the
    /// console shows the registry before the servers have answered).
    pub async fn fleet(&self) -> Result<(RegistryView, Vec<ServingStatus>), String> {
        let view = self.registry.fleet().await?;
        let servers = self.cluster.servers().await;
        Ok((view, servers))
    }
}
