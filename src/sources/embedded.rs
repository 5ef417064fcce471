//! The `local` environment's sources: the SQLite registry (re-read only when its files
//! change), the supervisor's files and each `flightdeck serve`'s `/metrics` and drift endpoint.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::source::{
    ClusterSource, DriftSource, Fetch, MetricsSource, RegistrySource, RegistryView, Sources,
};
use crate::clients::{model_server as server, within};
use crate::error::EngineError;
use crate::model::{InterruptedOp, ModelName, ServingStatus};
use crate::serving::LocalServing;
use crate::store::Registry;
use crate::store::journal::JournalQuery;

/// The local environment's sources, each answering within `timeout`.
pub fn sources(data_dir: &Path, program: PathBuf, timeout: Duration) -> Result<Sources, String> {
    let http = crate::clients::http::fleet_client()?;
    let metrics: Arc<dyn MetricsSource> = Arc::new(ScrapedMetrics {
        http: http.clone(),
        timeout,
        permits: Arc::new(tokio::sync::Semaphore::new(SCRAPES_AT_ONCE)),
    });
    local_with(data_dir, program, timeout, metrics)
}

pub fn local_with(
    data_dir: &Path,
    program: PathBuf,
    timeout: Duration,
    metrics: Arc<dyn MetricsSource>,
) -> Result<Sources, String> {
    let http = crate::clients::http::client()?;
    Ok(Sources {
        registry: Arc::new(EmbeddedRegistry {
            data_dir: data_dir.to_path_buf(),
            timeout,
            cache: Mutex::default(),
            returned: Mutex::default(),
        }),
        cluster: Arc::new(LocalCluster {
            // Each server's status must fit inside the listing's deadline: a frozen server
            // then costs its own row, never the listing.
            serving: LocalServing::new(data_dir, program).with_status_timeout(timeout.mul_f64(0.6)),
            priority: Mutex::default(),
            last: Mutex::default(),
        }),
        metrics,
        drift: Arc::new(ServerDrift { http, timeout }),
    })
}

/// Size and modification time of a file (`None` when it does not exist).
type FileStamp = Option<(u64, SystemTime)>;

pub struct EmbeddedRegistry {
    data_dir: PathBuf,
    timeout: Duration,
    /// The last fleet read and the registry files' state it was read at: a large registry
    /// read every second was most of an idle console's CPU.
    cache: Mutex<Option<(Vec<FileStamp>, RegistryView)>>,
    /// The files' state when [`RegistrySource::fleet_if_changed`] last returned a fleet.
    returned: Mutex<Option<Vec<FileStamp>>>,
}

impl EmbeddedRegistry {
    /// The database's and write-ahead log's size and mtime: any write changes one of them. An
    /// empty log holds nothing: it is made afresh by the first connection a reader opens and
    /// removed by the last one closed, so counting it would call every read with another
    /// reader open (another environment's, `status`) a change.
    fn stamp(&self) -> Vec<FileStamp> {
        ["registry.db", "registry.db-wal"]
            .iter()
            .map(|f| {
                let meta = std::fs::metadata(self.data_dir.join(f)).ok()?;
                (meta.len() > 0).then_some(())?;
                Some((meta.len(), meta.modified().ok()?))
            })
            .collect()
    }

    /// Runs `read` on the registry on a blocking thread (SQLite calls must not stall the
    /// runtime's few workers), within the deadline.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Registry) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, String> {
        let data_dir = self.data_dir.clone();
        within(self.timeout, async move {
            tokio::task::spawn_blocking(move || {
                Registry::open(&data_dir)
                    .and_then(|registry| read(&registry))
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())?
        })
        .await
    }
}

impl RegistrySource for EmbeddedRegistry {
    fn fleet(&self) -> Fetch<'_, RegistryView> {
        async move {
            let stamp = self.stamp();
            if let Ok(cache) = self.cache.lock()
                && let Some((at, view)) = cache.as_ref()
                && *at == stamp
            {
                return Ok(view.clone());
            }
            let view = self
                .read(|registry| {
                    let unended = crate::engine::ops::unended(registry, None)?;
                    let interrupted = unended
                        .interrupted
                        .iter()
                        .map(|i| InterruptedOp {
                            model: i.plan.model.to_string(),
                            // An interrupted recovery says what it was recovering.
                            summary: match &i.plan.recovery {
                                Some(of) => format!(
                                    "recovery ({}) of the {} {} of journal #{} (journal #{})",
                                    of.how,
                                    i.plan.request.name(),
                                    i.plan.model,
                                    of.journal_id,
                                    i.entry.id
                                ),
                                None => format!(
                                    "{} {} (journal #{})",
                                    i.plan.request.name(),
                                    i.plan.model,
                                    i.entry.id
                                ),
                            },
                        })
                        .collect();
                    let view = RegistryView {
                        models: registry.models()?,
                        interrupted,
                        rollouts: registry.all_rollouts()?,
                    };
                    Ok((view, unended.under_way.is_empty()))
                })
                .await?;
            let (view, settled) = view;
            // An operation under way is interrupted if its process dies, which writes nothing:
            // the files would not change, so such a read is not kept.
            if let Ok(mut cache) = self.cache.lock() {
                *cache = settled.then(|| (stamp, view.clone()));
            }
            Ok(view)
        }
        .boxed()
    }

    fn fleet_if_changed(&self) -> Fetch<'_, Option<RegistryView>> {
        async move {
            let stamp = self.stamp();
            let cached = self
                .cache
                .lock()
                .is_ok_and(|c| c.as_ref().is_some_and(|(at, _)| *at == stamp));
            let returned = self
                .returned
                .lock()
                .is_ok_and(|r| r.as_ref() == Some(&stamp));
            if cached && returned {
                return Ok(None);
            }
            let view = self.fleet().await?;
            // Only a read that was kept (nothing under way) can stand for the next one.
            let kept = self
                .cache
                .lock()
                .is_ok_and(|c| c.as_ref().is_some_and(|(at, _)| *at == stamp));
            if let Ok(mut returned) = self.returned.lock() {
                *returned = kept.then_some(stamp);
            }
            Ok(Some(view))
        }
        .boxed()
    }

    fn versions(&self, model: String) -> Fetch<'_, Vec<crate::model::ModelVersion>> {
        self.read(move |registry| {
            let name = ModelName::new(&model).map_err(EngineError::BadModelName)?;
            registry.versions(&name)
        })
        .boxed()
    }

    fn journal(&self, model: String, limit: usize) -> Fetch<'_, Vec<crate::model::JournalEntry>> {
        let query = JournalQuery {
            model: Some(model),
            limit: Some(limit),
        };
        self.read(move |registry| registry.journal(&query)).boxed()
    }
}

pub struct LocalCluster {
    serving: LocalServing,
    /// The models on screen: their servers are asked every listing.
    priority: Mutex<std::collections::BTreeSet<String>>,
    /// Each server's last answer and when it was asked.
    last: Mutex<std::collections::HashMap<String, (std::time::Instant, ServingStatus)>>,
}

/// Servers off screen are asked what they serve at most this often: asking a thousand every
/// second was most of a large fleet's churn.
const OFF_SCREEN_STATUS: Duration = Duration::from_secs(10);

/// Servers asked at once.
const STATUS_AT_ONCE: usize = 32;

impl ClusterSource for LocalCluster {
    fn servers(&self) -> BoxFuture<'_, Vec<ServingStatus>> {
        async move {
            use futures_util::StreamExt;
            let models = self.serving.deployments();
            let priority = self.priority.lock().map(|p| p.clone()).unwrap_or_default();
            let now = std::time::Instant::now();
            let cached = |model: &str| -> Option<ServingStatus> {
                let last = self.last.lock().ok()?;
                let (at, server) = last.get(model)?;
                (!priority.contains(model) && now.duration_since(*at) < OFF_SCREEN_STATUS)
                    .then(|| server.clone())
            };
            let mut answers: Vec<Option<ServingStatus>> =
                models.iter().map(|m| cached(m)).collect();
            let asks: Vec<_> = models
                .iter()
                .zip(&answers)
                .filter(|(_, known)| known.is_none())
                .map(|(model, _)| self.serving.status(model))
                .collect();
            let asked: Vec<ServingStatus> = futures_util::stream::iter(asks)
                .buffered(STATUS_AT_ONCE)
                .collect()
                .await;
            if let Ok(mut last) = self.last.lock() {
                last.retain(|model, _| models.contains(model));
                for server in &asked {
                    last.insert(server.model.clone(), (now, server.clone()));
                }
            }
            let mut asked = asked.into_iter();
            for slot in answers.iter_mut().filter(|a| a.is_none()) {
                *slot = asked.next();
            }
            answers.into_iter().flatten().collect()
        }
        .boxed()
    }

    fn prioritise(&self, models: std::collections::BTreeSet<String>) {
        if let Ok(mut priority) = self.priority.lock() {
            *priority = models;
        }
    }
}

/// Scrapes in flight at once: a thousand servers asked together held a thousand responses and
/// their parsing in memory at the same moment (157 MB with 1,000 live servers).
const SCRAPES_AT_ONCE: usize = 16;

pub struct ScrapedMetrics {
    /// One client for every scrape, so connections to each server are reused.
    http: reqwest::Client,
    timeout: Duration,
    permits: Arc<tokio::sync::Semaphore>,
}

impl MetricsSource for ScrapedMetrics {
    fn scrape(
        &self,
        _model: String,
        endpoint: String,
    ) -> Fetch<'_, crate::clients::metrics::ScrapeSnapshot> {
        async move {
            // Waiting for a turn is not the server's slowness: the deadline starts after it.
            let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
            server::scrape(&self.http, &endpoint, self.timeout).await
        }
        .boxed()
    }
}

pub struct ServerDrift {
    http: reqwest::Client,
    timeout: Duration,
}

impl DriftSource for ServerDrift {
    fn drift(&self, model: String, endpoint: String) -> Fetch<'_, Vec<crate::model::DriftReport>> {
        async move { server::drift(&self.http, &endpoint, &model, self.timeout).await }.boxed()
    }
}
