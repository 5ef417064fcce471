//! Kubernetes with KServe as the cluster source (`serving = "kubernetes"`): watches of
//! InferenceServices, their pods and events in the configured namespaces, listed in pages and
//! then followed by `resourceVersion` (no relist while navigating), kept in a compact cache.

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use kube::api::{Api, ApiResource};
use kube::runtime::watcher::{self, Event};

use super::kubernetes_cache::ClusterCache;
use super::source::ClusterSource;
use crate::k8s::{client, isvc_resource, slim};
use crate::model::ServingStatus;

/// The kinds watched per namespace, as their problems are named.
const WATCHED: [&str; 4] = ["InferenceServices", "Pods", "Deployments", "Events"];

/// How long a read waits for the open model's pods fetched ahead of the pods watch.
const FETCH_AHEAD_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long the first read waits for the first lists of a cluster.
const FIRST_LIST_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The cluster as the console sees it. Watches start on first use, inside the caller's runtime.
pub struct KubeCluster {
    environment: crate::settings::Environment,
    cache: Arc<Mutex<ClusterCache>>,
    started: Mutex<bool>,
    /// The connection the watches use, once made.
    client: Arc<std::sync::OnceLock<kube::Client>>,
    /// Models whose pods were fetched ahead of the pods watch's first list.
    fetched_ahead: Mutex<std::collections::HashSet<String>>,
    /// The fetch ahead under way, if any: `servers` waits briefly for it (true once done).
    ahead: Mutex<Option<tokio::sync::watch::Receiver<bool>>>,
}

impl KubeCluster {
    pub fn new(environment: &crate::settings::Environment) -> Self {
        KubeCluster {
            environment: environment.clone(),
            cache: Arc::default(),
            started: Mutex::new(false),
            client: Arc::default(),
            fetched_ahead: Mutex::default(),
            ahead: Mutex::default(),
        }
    }

    /// The open model's pods, listed by their label while the pods watch's first list is still
    /// coming (on a large cluster its pages take seconds): the pane a user opened fills at once.
    fn fetch_pods_ahead(&self, model: &str) {
        let Some(client) = self.client.get().cloned() else {
            return;
        };
        let located = self.cache.lock().ok().and_then(|s| {
            let (namespace, isvc) = s.locate(model)?;
            let synced = s
                .watches
                .get(&("Pods", namespace.clone()))
                .is_some_and(|w| w.synced);
            (!synced).then_some((namespace, isvc))
        });
        let Some((namespace, isvc)) = located else {
            return;
        };
        let first = self
            .fetched_ahead
            .lock()
            .is_ok_and(|mut done| done.insert(model.to_string()));
        if !first {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (cache, template) = (self.cache.clone(), self.environment.storage_uri.clone());
        let (done, waiting) = tokio::sync::watch::channel(false);
        if let Ok(mut ahead) = self.ahead.lock() {
            *ahead = Some(waiting);
        }
        runtime.spawn(async move {
            // Said done however the fetch ends (the sender dropping says it too).
            let _done = done;
            let pods: Api<slim::SlimPod> = Api::namespaced_with(
                client,
                &namespace,
                &ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&()),
            );
            let selector = format!("{}={isvc}", slim::ISVC_POD_LABEL);
            let params = kube::api::ListParams::default().labels(&selector);
            let Ok(list) = pods.list(&params).await else {
                return;
            };
            if let Ok(mut s) = cache.lock() {
                // The watch's own list won the race: it is the truth.
                if s.watches
                    .get(&("Pods", namespace.clone()))
                    .is_some_and(|w| w.synced)
                {
                    return;
                }
                for pod in &list.items {
                    if let Some((namespace, isvc, row)) = slim::pod_of(pod, template.as_deref()) {
                        s.put_pod(namespace, isvc, row);
                    }
                }
            }
        });
    }

    fn start(&self) {
        let Ok(mut started) = self.started.lock() else {
            return;
        };
        if *started {
            return;
        }
        *started = true;
        let (cache, environment) = (self.cache.clone(), self.environment.clone());
        let shared_client = self.client.clone();
        tokio::spawn(async move {
            let connected = client::connect(&environment).await;
            let (client, namespaces) = match connected {
                Ok(c) => c,
                Err(e) => {
                    if let Ok(mut s) = cache.lock() {
                        for kind in WATCHED {
                            s.watches.entry((kind, String::new())).or_default().error =
                                Some(e.clone());
                        }
                    }
                    return;
                }
            };
            let _ = shared_client.set(client.clone());
            let template = environment.storage_uri.clone();
            // Every watch is known before any reports, so "listed" means all of them.
            if let Ok(mut s) = cache.lock() {
                for namespace in &namespaces {
                    for kind in WATCHED {
                        s.watches.entry((kind, namespace.clone())).or_default();
                    }
                }
            }
            for namespace in namespaces {
                watch_namespace(client.clone(), namespace, cache.clone(), template.clone());
            }
        });
    }

    /// The InferenceServices have been listed once, or could not be: what serves is known
    /// (pods, Deployments and events join as their lists arrive).
    fn listed(&self) -> bool {
        self.cache.lock().is_ok_and(|s| {
            let mut isvcs = s
                .watches
                .iter()
                .filter(|((kind, _), _)| *kind == "InferenceServices")
                .peekable();
            isvcs.peek().is_some() && isvcs.all(|(_, w)| w.synced || w.error.is_some())
        })
    }

    /// The registry version `revision` of `model` serves, from the traffic block.
    pub fn version_of_revision(&self, model: &str, revision: &str) -> Option<u32> {
        self.cache.lock().ok()?.version_of_revision(model, revision)
    }

    /// Counts of what the cache holds: (services, pods, events).
    pub fn held(&self) -> (usize, usize, usize) {
        self.cache.lock().map(|s| s.len()).unwrap_or_default()
    }
}

/// Starts the watches of one namespace (InferenceServices, their pods, Deployments and
/// events) and the check of what these credentials may do there.
fn watch_namespace(
    client: kube::Client,
    namespace: String,
    cache: Arc<Mutex<ClusterCache>>,
    template: Option<String>,
) {
    let isvcs: Api<slim::Isvc> = Api::namespaced_with(client.clone(), &namespace, &isvc_resource());
    let pods: Api<slim::SlimPod> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&()),
    );
    let events: Api<slim::LeanEvent> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&()),
    );
    let deployments: Api<slim::SlimDeployment> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&()),
    );
    tokio::spawn(probe_permissions(
        client.clone(),
        namespace.clone(),
        cache.clone(),
    ));
    tokio::spawn(follow(
        deployments,
        watcher::Config::default()
            .page_size(crate::k8s::PAGE_SIZE)
            .labels(slim::ISVC_POD_LABEL),
        cache.clone(),
        ("Deployments", namespace.clone()),
        |cache, event| match event {
            Change::Apply(d) => {
                if let Some((namespace, isvc, row)) = slim::deployment_of(&d) {
                    cache.put_deployment(namespace, isvc, row);
                }
            }
            Change::Delete(d) => cache.remove_deployment(
                d.metadata.namespace.as_deref().unwrap_or_default(),
                d.metadata.name.as_deref().unwrap_or_default(),
            ),
        },
    ));
    let pod_template = template.clone();
    let template = template.clone();
    tokio::spawn(follow(
        isvcs,
        watcher::Config::default().page_size(crate::k8s::PAGE_SIZE),
        cache.clone(),
        ("InferenceServices", namespace.clone()),
        move |cache, event| match event {
            Change::Apply(isvc) => {
                if let Some(parsed) = slim::service_of(&isvc, template.as_deref()) {
                    cache.put_service(parsed);
                }
            }
            Change::Delete(isvc) => cache.remove_service(
                isvc.metadata.namespace.as_deref().unwrap_or_default(),
                isvc.metadata.name.as_deref().unwrap_or_default(),
            ),
        },
    ));
    tokio::spawn(follow(
        pods,
        watcher::Config::default()
            .page_size(crate::k8s::PAGE_SIZE)
            .labels(slim::ISVC_POD_LABEL),
        cache.clone(),
        ("Pods", namespace.clone()),
        move |cache, event| match event {
            Change::Apply(pod) => {
                if let Some((namespace, isvc, row)) = slim::pod_of(&pod, pod_template.as_deref()) {
                    cache.put_pod(namespace, isvc, row);
                }
            }
            Change::Delete(pod) => cache.remove_pod(
                pod.metadata.namespace.as_deref().unwrap_or_default(),
                pod.metadata.name.as_deref().unwrap_or_default(),
            ),
        },
    ));
    tokio::spawn(follow(
        events,
        watcher::Config::default().page_size(crate::k8s::PAGE_SIZE),
        cache.clone(),
        ("Events", namespace.clone()),
        |cache, event| {
            if let Change::Apply(event) = event
                && let Some((namespace, kind, object, uid, row)) = slim::event_of(&event)
            {
                cache.put_event(namespace, &kind, &object, uid, row);
            }
        },
    ));
}

/// Asks the API server what this user may not do in `namespace`, for the pane.
async fn probe_permissions(
    client: kube::Client,
    namespace: String,
    cache: Arc<Mutex<ClusterCache>>,
) {
    let may_not = crate::k8s::access::may_not(client, &namespace).await;
    if let Ok(mut s) = cache.lock() {
        s.set_may_not(namespace, may_not);
    }
}

/// An object that appeared, changed or went away.
enum Change<K> {
    Apply(K),
    Delete(K),
}

/// The first wait before a failed watch is started again, and the longest: an API server that
/// comes back is seen within seconds (kube's default backoff grows to 30 s, and a restart's
/// 410s then waited it out twice).
const RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(500);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// Follows one watch for good: pages of the first list, then changes. A watch that ends cleanly
/// resumes from its resourceVersion (no relist). After an error it keeps the last good rows,
/// records the error and since when, waits a little (never more than [`RETRY_MAX`]) and starts
/// over with a fresh list, whose end says for certain that the rows are current again; a 410
/// Gone (compacted, or an API server restarted) relists at once.
async fn follow<K>(
    api: Api<K>,
    config: watcher::Config,
    cache: Arc<Mutex<ClusterCache>>,
    watch: (&'static str, String),
    apply: impl Fn(&mut ClusterCache, Change<K>) + Send + 'static,
) where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let mut delay = RETRY_FIRST;
    // Until the first list has once been shown whole, its pages show as they arrive (the pane
    // of a model whose pods come in the first page fills at once); after that a list replaces
    // the rows only once complete, so a restarted watch never shows a half-empty cluster.
    let mut shown_whole = false;
    let mut shown_part = false;
    loop {
        let mut stream = watcher::watcher(api.clone(), config.clone()).boxed();
        let mut pending: Option<Vec<K>> = None;
        let mut failed = None;
        while let Some(item) = stream.next().await {
            let Ok(mut s) = cache.lock() else {
                return;
            };
            match item {
                Ok(Event::Init) => {
                    pending = (shown_whole || shown_part).then(Vec::new);
                }
                Ok(Event::InitApply(object)) => match pending.as_mut() {
                    Some(list) => list.push(object),
                    None => {
                        shown_part = true;
                        apply(&mut s, Change::Apply(object));
                    }
                },
                Ok(Event::InitDone) => {
                    if let Some(list) = pending.take() {
                        s.clear(watch.0, &watch.1);
                        for object in list {
                            apply(&mut s, Change::Apply(object));
                        }
                    }
                    shown_whole = true;
                    s.watch_ok(&watch);
                    delay = RETRY_FIRST;
                }
                Ok(Event::Apply(object)) => {
                    apply(&mut s, Change::Apply(object));
                    s.watch_ok(&watch);
                }
                Ok(Event::Delete(object)) => apply(&mut s, Change::Delete(object)),
                Err(e) => {
                    s.watch_failed(&watch, client::describe_watch(&e));
                    failed = Some(is_gone(&e));
                    break;
                }
            }
        }
        match failed {
            // Gone: the list it needs can be asked for now.
            Some(true) => {}
            Some(false) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
            }
            // The stream ended (it does not, by its contract): start again, gently.
            None => tokio::time::sleep(RETRY_MAX).await,
        }
    }
}

/// A 410 Gone: the resourceVersion is too old to resume from; only a relist helps.
fn is_gone(error: &watcher::Error) -> bool {
    use watcher::Error;
    match error {
        Error::WatchError(status) => status.code == 410,
        Error::InitialListFailed(kube::Error::Api(status))
        | Error::WatchStartFailed(kube::Error::Api(status))
        | Error::WatchFailed(kube::Error::Api(status)) => status.code == 410,
        _ => false,
    }
}

impl ClusterSource for KubeCluster {
    fn prioritise(&self, models: std::collections::BTreeSet<String>) {
        // One model on screen: its pane is open.
        if let [model] = models.iter().collect::<Vec<_>>().as_slice() {
            self.fetch_pods_ahead(model);
        }
    }

    fn known_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.cache.lock().ok()?.known_at()
    }

    fn servers(&self) -> BoxFuture<'_, Vec<ServingStatus>> {
        async move {
            self.start();
            // The first call waits (briefly) for the first list, so a headless `status` does
            // not report an empty cluster; later calls answer from the cache at once.
            let deadline = tokio::time::Instant::now() + FIRST_LIST_WAIT;
            while !self.listed() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            // A pane just opened whose pods are being fetched: a moment's wait shows them now
            // rather than a refresh later.
            let ahead = self.ahead.lock().ok().and_then(|mut a| a.take());
            if let Some(mut waiting) = ahead {
                let _ =
                    tokio::time::timeout(FETCH_AHEAD_WAIT, waiting.wait_for(|done| *done)).await;
            }
            self.cache
                .lock()
                .map(|mut s| s.servers())
                .unwrap_or_default()
        }
        .boxed()
    }

    fn problem(&self) -> Option<String> {
        let cache = self.cache.lock().ok()?;
        let namespaces = cache
            .watches
            .keys()
            .map(|(_, ns)| ns)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let problems: Vec<String> = cache
            .watches
            .iter()
            .filter_map(|((kind, namespace), w)| {
                let place = if namespaces > 1 {
                    format!("{kind} in {namespace}")
                } else {
                    kind.to_string()
                };
                w.error.as_ref().map(|e| format!("{place}: {e}"))
            })
            .collect();
        if problems.is_empty() {
            return None;
        }
        // The same connection failure repeated for every kind says nothing new.
        let first = problems[0].split_once(": ").map(|(_, e)| e.to_string());
        if problems.len() == cache.watches.len()
            && problems
                .iter()
                .all(|p| p.split_once(": ").map(|(_, e)| e.to_string()) == first)
        {
            return first;
        }
        Some(problems.join("; "))
    }
}
