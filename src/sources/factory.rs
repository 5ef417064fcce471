//! Which backend serves each source of an environment: the local registry and servers, with
//! Prometheus for metrics and drift, Kubernetes for the cluster and MLflow for the registry
//! when the settings say so.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::embedded;
use super::kubernetes::KubeCluster;
use super::mlflow::{AliasMap, MlflowRegistry};
use super::source::{MetricsSource, Sources};
use crate::clients::http;
use crate::clients::prometheus::PrometheusMetrics;
use crate::clients::prometheus_drift::PrometheusDrift;

/// The sources `environment` configures: the local registry and servers, with serving metrics
/// scraped from each server or read from Prometheus.
pub fn for_environment(
    environment: &crate::settings::Environment,
    data_dir: &Path,
    program: PathBuf,
    timeout: Duration,
    thresholds: crate::model::DriftThresholds,
) -> Result<Sources, String> {
    use crate::settings::{MetricsBackend, RegistryBackend};
    // The cluster, when there is one, also names the versions of revisions in metric labels.
    let cluster = (environment.serving == crate::settings::ServingBackend::Kubernetes)
        .then(|| Arc::new(KubeCluster::new(environment)));
    let mut sources = match (environment.metrics, environment.prometheus_url.as_deref()) {
        (MetricsBackend::Prometheus, Some(url)) => {
            let mut prometheus = PrometheusMetrics::new(http::client()?, url, timeout)
                .with_runtime(environment.prometheus_runtime);
            if let Some(cluster) = &cluster {
                let cluster = cluster.clone();
                prometheus = prometheus.with_revisions(Arc::new(move |model, revision| {
                    cluster.version_of_revision(model, revision)
                }));
            }
            let metrics: Arc<dyn MetricsSource> = Arc::new(prometheus);
            embedded::local_with(data_dir, program, timeout, metrics)?
        }
        _ => embedded::sources(data_dir, program, timeout)?,
    };
    if let Some(cluster) = cluster {
        sources.cluster = cluster;
        // Servers inside a cluster are known through Prometheus only: so is their drift.
        if let Some(url) = environment.prometheus_url.as_deref() {
            sources.drift = Arc::new(PrometheusDrift::new(
                http::client()?,
                url,
                timeout,
                thresholds,
            ));
        }
    }
    if let (RegistryBackend::Mlflow, Some(url)) =
        (environment.registry, environment.mlflow_url.as_deref())
    {
        let aliases = AliasMap {
            production: environment.mlflow_production_alias.clone(),
            canary: environment.mlflow_canary_alias.clone(),
        };
        // The journal of operations stays in the local registry.
        let journal = sources.registry.clone();
        sources.registry = Arc::new(MlflowRegistry::new(
            http::client()?,
            url,
            timeout,
            aliases,
            journal,
        ));
    }
    Ok(sources)
}
