//! An in-process HTTP server on loopback that speaks the parts of the Kubernetes REST API the
//! kube layer uses: paged lists (`limit`/`continue`), watches from a `resourceVersion` with
//! bookmarks and `410 Gone` for a version too old, get, server-side apply with field managers
//! (409 on a conflict unless forced; fields a manager stops applying are removed), 403s from
//! a deny list, SelfSubjectAccessReviews, and a small KServe controller that rolls out revisions
//! and writes `status.components.predictor.traffic` the way KServe does.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast;

const ISVC_PREFIX: &str = "/apis/serving.kserve.io/v1beta1/namespaces/";
const CORE_PREFIX: &str = "/api/v1/namespaces/";
const APPS_PREFIX: &str = "/apis/apps/v1/namespaces/";
/// Watch history kept for resuming (unless a test asks for less); older resourceVersions
/// answer 410 Gone.
const HISTORY: usize = 100_000;

/// (resource plural, namespace, name).
type Key = (String, String, String);

#[derive(Clone, Debug)]
struct Change {
    rv: u64,
    kind: &'static str,
    resource: String,
    namespace: String,
    object: Value,
}

#[derive(Default)]
struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    /// Leaf paths each field manager last applied, per object.
    owned: BTreeMap<Key, BTreeMap<String, BTreeSet<String>>>,
    history: std::collections::VecDeque<Change>,
    /// (verb, resource) pairs answered 403.
    denied: BTreeSet<(String, String)>,
    /// (verb, resource, namespace) answered 403 in one namespace only.
    denied_in: BTreeSet<(String, String, String)>,
    /// Requests seen: (method, path and query), for tests that check what was asked.
    pub requests: Vec<String>,
    /// While true, the controller does not react to spec changes.
    controller_paused: bool,
    /// Apply patches received (the objects as sent), to validate against the CRD.
    pub applied: Vec<Value>,
    /// Per InferenceService: its newest revision's number and the files it loads.
    revisions: BTreeMap<(String, String), (u32, String)>,
    /// Changes kept for resuming watches (default [`HISTORY`]).
    history_limit: Option<usize>,
}

#[derive(Clone)]
pub struct KubeApi {
    inner: Arc<Mutex<Inner>>,
    changes: broadcast::Sender<Change>,
    pub url: String,
    _runtime: Arc<RuntimeHolder>,
}

struct RuntimeHolder(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeHolder {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl KubeApi {
    /// Starts on an ephemeral loopback port, on its own runtime (stopped when dropped).
    pub fn start() -> KubeApi {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (changes, _) = broadcast::channel(65_536);
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(SocketAddr::from((
                [127, 0, 0, 1],
                0,
            ))))
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let api = KubeApi {
            inner,
            changes,
            url,
            _runtime: Arc::new(RuntimeHolder(None)),
        };
        let app = axum::Router::new().fallback(handle).with_state(api.clone());
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        KubeApi {
            _runtime: Arc::new(RuntimeHolder(Some(runtime))),
            ..api
        }
    }

    /// A kubeconfig file pointing at this server, with context `fake` and namespace `ns`.
    pub fn kubeconfig(&self, dir: &std::path::Path, namespace: &str) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n    namespace: {namespace}\nusers:\n- name: tester\n  user:\n    token: not-a-real-token\n",
            self.url
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// Adds or replaces an object as its owner would (no field manager), with a new
    /// resourceVersion, and tells the watches.
    pub fn put(&self, resource: &str, mut object: Value) {
        let mut inner = self.inner.lock().expect("lock");
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = (resource.to_string(), namespace.clone(), name);
        let kind = if inner.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        inner.rv += 1;
        object["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        if object["metadata"]["generation"].is_null() {
            object["metadata"]["generation"] = json!(1);
        }
        inner.objects.insert(key, object.clone());
        let change = Change {
            rv: inner.rv,
            kind,
            resource: resource.to_string(),
            namespace,
            object,
        };
        record(&mut inner, &self.changes, change);
    }

    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let inner = self.inner.lock().expect("lock");
        inner
            .objects
            .get(&(resource.into(), namespace.into(), name.into()))
            .cloned()
    }

    pub fn delete(&self, resource: &str, namespace: &str, name: &str) {
        let mut inner = self.inner.lock().expect("lock");
        if let Some(mut object) =
            inner
                .objects
                .remove(&(resource.into(), namespace.into(), name.into()))
        {
            inner.rv += 1;
            object["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            let change = Change {
                rv: inner.rv,
                kind: "DELETED",
                resource: resource.into(),
                namespace: namespace.into(),
                object,
            };
            record(&mut inner, &self.changes, change);
        }
    }

    /// Answers 403 to `verb` ("list", "watch", "get", "patch") on `resource`.
    pub fn deny(&self, verb: &str, resource: &str) {
        self.inner
            .lock()
            .expect("lock")
            .denied
            .insert((verb.into(), resource.into()));
    }

    /// Answers 403 to `verb` on `resource` in `namespace` only.
    pub fn deny_in(&self, verb: &str, resource: &str, namespace: &str) {
        self.inner.lock().expect("lock").denied_in.insert((
            verb.into(),
            resource.into(),
            namespace.into(),
        ));
    }

    pub fn allow_in(&self, verb: &str, resource: &str, namespace: &str) {
        self.inner.lock().expect("lock").denied_in.remove(&(
            verb.into(),
            resource.into(),
            namespace.into(),
        ));
    }

    /// Answers `verb` on `resource` again.
    pub fn allow(&self, verb: &str, resource: &str) {
        self.inner
            .lock()
            .expect("lock")
            .denied
            .remove(&(verb.into(), resource.into()));
    }

    /// Marks `path` (".spec.predictor.canaryTrafficPercent") of an object as owned by another
    /// field manager, as a GitOps controller would.
    pub fn own(&self, manager: &str, resource: &str, namespace: &str, name: &str, path: &str) {
        let mut inner = self.inner.lock().expect("lock");
        inner
            .owned
            .entry((resource.into(), namespace.into(), name.into()))
            .or_default()
            .entry(manager.into())
            .or_default()
            .insert(path.replace('.', &SEP.to_string()));
    }

    /// Keeps only the last `n` changes for resuming watches, as etcd compaction does.
    pub fn keep_history(&self, n: usize) {
        let mut inner = self.inner.lock().expect("lock");
        inner.history_limit = Some(n);
        while inner.history.len() > n {
            inner.history.pop_front();
        }
    }

    /// Ends every open watch, as an API server restart or a load balancer's idle timeout does.
    pub fn drop_watches(&self) {
        let _ = self.changes.send(Change {
            rv: 0,
            kind: "DROP",
            resource: String::new(),
            namespace: String::new(),
            object: Value::Null,
        });
    }

    pub fn pause_controller(&self, paused: bool) {
        self.inner.lock().expect("lock").controller_paused = paused;
    }

    pub fn requests(&self) -> Vec<String> {
        self.inner.lock().expect("lock").requests.clone()
    }

    pub fn applied(&self) -> Vec<Value> {
        self.inner.lock().expect("lock").applied.clone()
    }

    /// Runs the KServe controller once over every InferenceService whose spec changed.
    pub fn reconcile(&self) {
        let isvcs: Vec<Value> = {
            let inner = self.inner.lock().expect("lock");
            if inner.controller_paused {
                return;
            }
            inner
                .objects
                .iter()
                .filter(|(k, _)| k.0 == "inferenceservices")
                .map(|(_, v)| v.clone())
                .collect()
        };
        for isvc in isvcs {
            let generation = isvc["metadata"]["generation"].as_i64().unwrap_or(1);
            if isvc["status"]["observedGeneration"].as_i64() == Some(generation) {
                continue;
            }
            let key = (
                isvc["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                isvc["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            let uri = isvc["spec"]["predictor"]["model"]["storageUri"].to_string();
            let revision = {
                let mut inner = self.inner.lock().expect("lock");
                let entry = inner.revisions.entry(key).or_insert((0, String::new()));
                if entry.1 != uri {
                    *entry = (entry.0 + 1, uri);
                }
                entry.0
            };
            let (updated, pods, events) = kserve_rollout(&isvc, revision);
            for object in pods {
                self.put(plural(&object), object);
            }
            for event in events {
                self.put("events", event);
            }
            self.put("inferenceservices", updated);
        }
    }
}

/// The resource plural of an object the controller made.
pub fn plural(object: &Value) -> &'static str {
    match object["kind"].as_str() {
        Some("Deployment") => "deployments",
        Some("Event") => "events",
        _ => "pods",
    }
}

fn record(inner: &mut Inner, changes: &broadcast::Sender<Change>, change: Change) {
    inner.history.push_back(change.clone());
    while inner.history.len() > inner.history_limit.unwrap_or(HISTORY) {
        inner.history.pop_front();
    }
    let _ = changes.send(change);
}

/// An InferenceService with the newest spec rolled out as KServe (Serverless) does: a new
/// revision takes `canaryTrafficPercent` of the traffic and the previous rolled-out revision the
/// rest, or all of it; RawDeployment ignores the canary and reports no traffic block.
///
/// `revision` numbers the Knative revision: a new one only when the predictor's files change
/// (moving traffic alone keeps the revision, as in KServe).
pub fn kserve_rollout(isvc: &Value, revision: u32) -> (Value, Vec<Value>, Vec<Value>) {
    let mut isvc = isvc.clone();
    let name = isvc["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespace = isvc["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let generation = isvc["metadata"]["generation"].as_i64().unwrap_or(1);
    let raw = isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"]
        == json!("RawDeployment");
    let predictor = isvc["status"]["components"]["predictor"].clone();
    let revision = format!("{name}-predictor-{revision:05}");
    let rolled_out = predictor["latestRolledoutRevision"]
        .as_str()
        .map(str::to_string)
        .filter(|r| *r != revision);
    let kept_previous = predictor["previousRolledoutRevision"].clone();
    let canary = isvc["spec"]["predictor"]["canaryTrafficPercent"].as_i64();
    let url = format!("http://{name}.{namespace}.example.com");
    let mut component = json!({
        "latestCreatedRevision": revision,
        "latestReadyRevision": revision,
        "url": format!("http://{name}-predictor.{namespace}.example.com"),
    });
    if raw {
        component["latestRolledoutRevision"] = json!(revision);
    } else {
        match (canary, rolled_out.clone()) {
            (Some(p), Some(previous)) if p < 100 => {
                component["latestRolledoutRevision"] = json!(previous);
                component["previousRolledoutRevision"] = kept_previous;
                component["traffic"] = json!([
                    {"revisionName": revision, "percent": p, "latestRevision": true, "tag": "latest"},
                    {"revisionName": previous, "percent": 100 - p, "latestRevision": false, "tag": "prev"},
                ]);
            }
            _ => {
                component["latestRolledoutRevision"] = json!(revision);
                match rolled_out {
                    Some(previous) => component["previousRolledoutRevision"] = json!(previous),
                    None => component["previousRolledoutRevision"] = kept_previous,
                }
                component["traffic"] = json!([
                    {"revisionName": revision, "percent": 100, "latestRevision": true},
                ]);
            }
        }
    }
    isvc["status"] = json!({
        "url": url,
        "observedGeneration": generation,
        "deploymentMode": if raw { "RawDeployment" } else { "Serverless" },
        "conditions": [
            {"type": "IngressReady", "status": "True"},
            {"type": "PredictorReady", "status": "True"},
            {"type": "Ready", "status": "True"},
        ],
        "components": {"predictor": component},
    });
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{revision}-deployment-5d8f7c9b4-x2k9q"),
            "namespace": namespace,
            "labels": {
                "serving.kserve.io/inferenceservice": name,
                "serving.knative.dev/revision": revision,
                "component": "predictor",
            },
        },
        "spec": {"containers": [{"name": "kserve-container", "image": "kserve/onnxserver:v0.20.0"}]},
        "status": {
            "phase": "Running",
            "startTime": "2026-11-22T06:00:00Z",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "kserve-container", "ready": true, "restartCount": 0}],
        },
    });
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{name}.{generation}"), "namespace": namespace},
        "involvedObject": {"kind": "InferenceService", "name": name, "namespace": namespace},
        "reason": "InferenceServiceReady",
        "message": format!("InferenceService [{name}] is Ready"),
        "type": "Normal",
        "count": 1,
        "lastTimestamp": "2026-11-22T06:00:00Z",
    });
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": format!("{revision}-deployment"),
            "namespace": namespace,
            "labels": {"serving.kserve.io/inferenceservice": name, "serving.knative.dev/revision": revision},
        },
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": format!("{revision}")}}, "template": {}},
        "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
    });
    (isvc, vec![pod, deployment], vec![event])
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// (resource plural, namespace, name) from a path this server knows.
fn route(path: &str) -> Option<(String, String, Option<String>)> {
    let rest = path
        .strip_prefix(ISVC_PREFIX)
        .or_else(|| path.strip_prefix(CORE_PREFIX))
        .or_else(|| path.strip_prefix(APPS_PREFIX))?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [ns, resource] => Some((resource.to_string(), ns.to_string(), None)),
        [ns, resource, name] => {
            Some((resource.to_string(), ns.to_string(), Some(name.to_string())))
        }
        _ => None,
    }
}

fn matches_selector(object: &Value, selector: Option<&String>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    selector.split(',').all(|term| {
        let labels = &object["metadata"]["labels"];
        match term.split_once('=') {
            Some((k, v)) => labels[k] == json!(v),
            None => !labels[term].is_null(),
        }
    })
}

/// `a=b&c=d` with percent-escapes decoded.
fn parse_query(text: &str) -> BTreeMap<String, String> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
                .then(|| {
                    u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16).ok()
                })
                .flatten();
            if let Some(b) = escaped {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

async fn handle(State(api): State<KubeApi>, method: Method, uri: Uri, body: Bytes) -> Response {
    let query = parse_query(uri.query().unwrap_or_default());
    let path = uri.path().to_string();
    api.inner.lock().expect("lock").requests.push(format!(
        "{method} {}",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("")
    ));
    if path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" && method == Method::POST {
        let review: Value = serde_json::from_slice(&body).unwrap_or_default();
        let attrs = &review["spec"]["resourceAttributes"];
        let verb = attrs["verb"].as_str().unwrap_or_default().to_string();
        let resource = attrs["resource"].as_str().unwrap_or_default().to_string();
        let denied = api
            .inner
            .lock()
            .expect("lock")
            .denied
            .contains(&(verb, resource));
        let mut answer = review.clone();
        answer["status"] = json!({"allowed": !denied});
        return (
            StatusCode::CREATED,
            [("content-type", "application/json")],
            answer.to_string(),
        )
            .into_response();
    }
    let Some((resource, namespace, name)) = route(&path) else {
        return status(
            404,
            "NotFound",
            &format!("the server could not find the requested resource ({path})"),
        );
    };
    let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = match (&method, &name, watching) {
        (&Method::GET, _, true) => "watch",
        (&Method::GET, None, false) => "list",
        (&Method::GET, Some(_), false) => "get",
        (&Method::PATCH, _, _) => "patch",
        _ => "other",
    };
    let denied = {
        let inner = api.inner.lock().expect("lock");
        inner.denied.contains(&(verb.to_string(), resource.clone()))
            || inner
                .denied_in
                .contains(&(verb.to_string(), resource.clone(), namespace.clone()))
    };
    if denied {
        return status(
            403,
            "Forbidden",
            &format!(
                "{resource} is forbidden: User \"tester\" cannot {verb} resource \"{resource}\" in API group \"\" in the namespace \"{namespace}\""
            ),
        );
    }
    match verb {
        "list" => list(&api, &resource, &namespace, &query),
        "watch" => watch(&api, resource, namespace, &query),
        "get" => {
            let name = name.unwrap_or_default();
            match api.get(&resource, &namespace, &name) {
                Some(o) => ([("content-type", "application/json")], o.to_string()).into_response(),
                None => status(404, "NotFound", &format!("{resource} \"{name}\" not found")),
            }
        }
        "patch" => apply(
            &api,
            &resource,
            &namespace,
            &name.unwrap_or_default(),
            &query,
            &body,
        ),
        _ => status(405, "MethodNotAllowed", "not supported by this test server"),
    }
}

fn list(
    api: &KubeApi,
    resource: &str,
    namespace: &str,
    query: &BTreeMap<String, String>,
) -> Response {
    let inner = api.inner.lock().expect("lock");
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX);
    // The continue token is the first name of the next page.
    let start = query.get("continue").cloned().unwrap_or_default();
    let selector = query.get("labelSelector");
    let mut items = Vec::new();
    let mut next = None;
    for ((r, ns, name), object) in inner
        .objects
        .range((resource.to_string(), namespace.to_string(), start.clone())..)
    {
        if r != resource || ns != namespace {
            break;
        }
        if !matches_selector(object, selector) {
            continue;
        }
        if items.len() == limit {
            next = Some(name.clone());
            break;
        }
        items.push(object.clone());
    }
    let mut metadata = json!({"resourceVersion": inner.rv.to_string()});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
    }
    let body = json!({"kind": "List", "apiVersion": "v1", "metadata": metadata, "items": items});
    ([("content-type", "application/json")], body.to_string()).into_response()
}

fn watch(
    api: &KubeApi,
    resource: String,
    namespace: String,
    query: &BTreeMap<String, String>,
) -> Response {
    let since: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(290u64);
    let selector = query.get("labelSelector").cloned();
    let (backlog, mut receiver, oldest, now) = {
        let inner = api.inner.lock().expect("lock");
        let receiver = api.changes.subscribe();
        let oldest = inner.history.front().map(|c| c.rv).unwrap_or(inner.rv + 1);
        let backlog: Vec<Change> = inner
            .history
            .iter()
            .filter(|c| c.rv > since)
            .cloned()
            .collect();
        (backlog, receiver, oldest, inner.rv)
    };
    let too_old = since > 0 && since + 1 < oldest && since < now;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1024);
    tokio::spawn(async move {
        if too_old {
            let gone = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": format!("too old resource version: {since} ({oldest})"), "reason": "Expired", "code": 410}});
            let _ = tx.send(Ok(Bytes::from(format!("{gone}\n")))).await;
            return;
        }
        let fits = |c: &Change| {
            c.resource == resource
                && c.namespace == namespace
                && matches_selector(&c.object, selector.as_ref())
        };
        // Everything up to `now` was in the backlog; bookmarks say how far this watch has
        // seen, matching or not, so a resumed watch needs no relist.
        let mut seen = now.max(since);
        for change in backlog.into_iter().filter(|c| fits(c)) {
            let line = json!({"type": change.kind, "object": change.object});
            if tx.send(Ok(Bytes::from(format!("{line}\n")))).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tick.tick(), if bookmarks => {
                    let bookmark = json!({"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": seen.to_string()}}});
                    if tx.send(Ok(Bytes::from(format!("{bookmark}\n")))).await.is_err() {
                        return;
                    }
                }
                change = receiver.recv() => {
                    let Ok(change) = change else { return };
                    if change.kind == "DROP" {
                        return;
                    }
                    if change.rv <= seen {
                        continue;
                    }
                    seen = change.rv;
                    if !fits(&change) {
                        continue;
                    }
                    let line = json!({"type": change.kind, "object": change.object});
                    if tx.send(Ok(Bytes::from(format!("{line}\n")))).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let stream = tokio_stream(rx);
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| status(500, "InternalError", "response"))
}

fn tokio_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Separates the keys of a field path: annotation keys contain dots and slashes.
const SEP: char = '\u{1f}';

/// A field path as people write it: ".spec.predictor.model.storageUri".
fn shown(path: &str) -> String {
    path.replace(SEP, ".")
}

/// Leaf paths of a JSON object, keys joined by [`SEP`].
fn leaves(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                leaves(v, &format!("{prefix}{SEP}{k}"), out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

fn parts(path: &str) -> Vec<&str> {
    path.trim_start_matches(SEP).split(SEP).collect()
}

fn set_path(target: &mut Value, path: &str, value: Value) {
    let mut here = target;
    let parts = parts(path);
    for (i, part) in parts.iter().enumerate() {
        if !here.is_object() {
            *here = json!({});
        }
        if i + 1 == parts.len() {
            here[*part] = value;
            return;
        }
        here = &mut here[*part];
    }
}

fn get_path<'a>(source: &'a Value, path: &str) -> &'a Value {
    parts(path).into_iter().fold(source, |v, p| &v[p])
}

fn remove_path(target: &mut Value, path: &str) {
    let parts = parts(path);
    let mut here = target;
    for part in &parts[..parts.len() - 1] {
        here = &mut here[*part];
    }
    if let Some(map) = here.as_object_mut() {
        map.remove(parts[parts.len() - 1]);
    }
}

/// Server-side apply, as the API server does it for the fields in play here.
fn apply(
    api: &KubeApi,
    resource: &str,
    namespace: &str,
    name: &str,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> Response {
    let Some(manager) = query.get("fieldManager").cloned() else {
        return status(
            400,
            "BadRequest",
            "PATCH with apply-patch requires a fieldManager",
        );
    };
    let force = query.get("force").is_some_and(|f| f == "true");
    let Ok(patch) = serde_json::from_slice::<Value>(body) else {
        return status(
            400,
            "BadRequest",
            "the apply patch is not JSON (YAML is not parsed by this test server)",
        );
    };
    if patch["metadata"]["name"] != json!(name) {
        return status(400, "BadRequest", "metadata.name does not match the URL");
    }
    let key = (
        resource.to_string(),
        namespace.to_string(),
        name.to_string(),
    );
    let mut paths = BTreeSet::new();
    leaves(&patch, "", &mut paths);
    paths.retain(|p| {
        let p = shown(p);
        p.starts_with(".spec")
            || p.starts_with(".metadata.annotations")
            || p.starts_with(".metadata.labels")
    });
    let result = {
        let mut inner = api.inner.lock().expect("lock");
        inner.applied.push(patch.clone());
        let mut object = inner.objects.get(&key).cloned().unwrap_or_else(|| {
            json!({"apiVersion": patch["apiVersion"], "kind": patch["kind"], "metadata": {"name": name, "namespace": namespace, "generation": 0}})
        });
        let owners = inner.owned.entry(key.clone()).or_default();
        // Conflicts: another manager owns a field this apply sets to a different value.
        let mut conflicts = Vec::new();
        for (other, fields) in owners.iter() {
            if other == &manager {
                continue;
            }
            for path in paths.intersection(fields) {
                if get_path(&object, path) != get_path(&patch, path) {
                    conflicts.push(format!("conflict with \"{other}\": {}", shown(path)));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return status(
                409,
                "Conflict",
                &format!(
                    "Apply failed with {} conflict{}: {}",
                    conflicts.len(),
                    if conflicts.len() == 1 { "" } else { "s" },
                    conflicts.join(", ")
                ),
            );
        }
        if force {
            for (other, fields) in owners.iter_mut() {
                if other != &manager {
                    for p in &paths {
                        fields.remove(p);
                    }
                }
            }
        }
        let before_spec = object["spec"].clone();
        // Fields this manager applied before and not now go, unless someone else owns them.
        let previous = owners.get(&manager).cloned().unwrap_or_default();
        for gone in previous.difference(&paths) {
            let kept = owners
                .iter()
                .any(|(o, f)| o != &manager && f.contains(gone));
            if !kept {
                remove_path(&mut object, gone);
            }
        }
        for path in &paths {
            set_path(&mut object, path, get_path(&patch, path).clone());
        }
        owners.insert(manager.clone(), paths);
        if object["spec"] != before_spec {
            let generation = object["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            object["metadata"]["generation"] = json!(generation);
        }
        object
    };
    api.put(resource, result);
    let stored = api.get(resource, namespace, name).unwrap_or_default();
    // The controller reacts a moment later, as a real one does.
    let controller = api.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        controller.reconcile();
    });
    ([("content-type", "application/json")], stored.to_string()).into_response()
}
