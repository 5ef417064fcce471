//! The cluster as the watches last reported it, kept compact: the pane's rows per
//! InferenceService, its pods and its newest events. Watch events go in; a join comes out.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::k8s::slim::server_row;
use crate::model::{DeploymentRow, EventRow, PodRow, ServingStatus};

/// Events kept per object: the pane shows the newest few, and a flapping pod must not grow
/// memory without bound.
const EVENTS_PER_SERVICE: usize = 20;

/// (namespace, name).
type Key = (String, String);

/// One resource kind's watch: whether its first list arrived, its latest problem, and since
/// when its rows have not been confirmed (the age the panes show while it fails).
#[derive(Debug, Clone, Default)]
pub struct WatchState {
    pub synced: bool,
    pub error: Option<String>,
    pub failing_since: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Default)]
pub struct ClusterCache {
    /// InferenceServices by (namespace, name): (model, row, (latest version, previous version)).
    services: BTreeMap<Key, crate::k8s::slim::Parsed>,
    /// Pods by (namespace, pod name): (InferenceService name, row).
    pods: HashMap<Key, (String, PodRow)>,
    /// Deployments by (namespace, name): (InferenceService name, row).
    deployments: HashMap<Key, (String, DeploymentRow)>,
    /// Per namespace: what the user may not do there.
    may_not: BTreeMap<String, Vec<String>>,
    /// Bumped by every change to the rows, so an unchanged cluster is not joined again.
    generation: u64,
    /// The rows of `generation`, once joined.
    joined: Option<(u64, Vec<ServingStatus>)>,
    /// Events by (namespace, InferenceService name), newest last.
    /// (the uid of the object it is about, row).
    events: HashMap<Key, VecDeque<(Option<String>, EventRow)>>,
    /// Per watched kind ("InferenceServices", "Pods", "Events").
    /// Per (kind, namespace) watched.
    pub watches: BTreeMap<(&'static str, String), WatchState>,
}

impl ClusterCache {
    /// The watch delivered: its rows are current.
    pub fn watch_ok(&mut self, watch: &(&'static str, String)) {
        let state = self.watches.entry(watch.clone()).or_default();
        state.synced = true;
        state.error = None;
        state.failing_since = None;
    }

    /// The watch failed: its rows stay, as of when it last worked.
    pub fn watch_failed(&mut self, watch: &(&'static str, String), error: String) {
        let state = self.watches.entry(watch.clone()).or_default();
        state.error = Some(error);
        state.failing_since.get_or_insert_with(chrono::Utc::now);
    }

    /// Since when some rows have not been confirmed, while any watch fails.
    pub fn known_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.watches
            .values()
            .filter(|w| w.error.is_some())
            .filter_map(|w| w.failing_since)
            .min()
    }

    pub fn put_service(&mut self, parsed: crate::k8s::slim::Parsed) {
        self.generation += 1;
        let key = (parsed.1.namespace.clone(), parsed.1.name.clone());
        self.services.insert(key, parsed);
    }

    pub fn remove_service(&mut self, namespace: &str, name: &str) {
        self.generation += 1;
        let key = (namespace.to_string(), name.to_string());
        self.services.remove(&key);
        self.events.remove(&key);
    }

    /// A watch restarted: what it lists next replaces what it listed before, in its own
    /// namespace only.
    pub fn clear(&mut self, kind: &'static str, namespace: &str) {
        self.generation += 1;
        match kind {
            "InferenceServices" => self.services.retain(|k, _| k.0 != namespace),
            "Pods" => self.pods.retain(|k, _| k.0 != namespace),
            "Deployments" => self.deployments.retain(|k, _| k.0 != namespace),
            _ => self.events.retain(|k, _| k.0 != namespace),
        }
    }

    /// Where `model`'s InferenceService is: (namespace, name).
    pub fn locate(&self, model: &str) -> Option<(String, String)> {
        self.services
            .iter()
            .find(|(_, (m, _, _))| m == model)
            .map(|(key, _)| key.clone())
    }

    pub fn put_pod(&mut self, namespace: String, isvc: String, row: PodRow) {
        self.generation += 1;
        self.pods.insert((namespace, row.name.clone()), (isvc, row));
    }

    pub fn remove_pod(&mut self, namespace: &str, name: &str) {
        self.generation += 1;
        self.pods.remove(&(namespace.to_string(), name.to_string()));
    }

    pub fn put_deployment(&mut self, namespace: String, isvc: String, row: DeploymentRow) {
        self.generation += 1;
        self.deployments
            .insert((namespace, row.name.clone()), (isvc, row));
    }

    pub fn remove_deployment(&mut self, namespace: &str, name: &str) {
        self.generation += 1;
        self.deployments
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Events about an InferenceService, or about a pod of one (found by the pod's labels, or
    /// failing that by KServe's pod naming, `<isvc>-predictor-...`).
    pub fn put_event(
        &mut self,
        namespace: String,
        kind: &str,
        object: &str,
        uid: Option<String>,
        row: EventRow,
    ) {
        self.generation += 1;
        let isvc = if kind == "Pod" {
            match self.pods.get(&(namespace.clone(), object.to_string())) {
                Some((isvc, _)) => isvc.clone(),
                None => match object.split_once("-predictor") {
                    Some((isvc, _)) => isvc.to_string(),
                    None => return,
                },
            }
        } else {
            object.to_string()
        };
        let list = self.events.entry((namespace, isvc)).or_default();
        // The same event counted again replaces its older copy.
        list.retain(|(_, e)| {
            !(e.object == row.object && e.reason == row.reason && e.message == row.message)
        });
        // InferenceService events name the incarnation; pod events are told apart by time.
        let uid = (kind == "InferenceService").then_some(uid).flatten();
        list.push_back((uid, row));
        while list.len() > EVENTS_PER_SERVICE {
            list.pop_front();
        }
    }

    /// The version a revision loads: its pods say so; the traffic block's labels stand in
    /// while no pod of it is known.
    pub fn version_of_revision(&self, model: &str, revision: &str) -> Option<u32> {
        let services: std::collections::HashSet<&Key> = self
            .services
            .iter()
            .filter(|(_, (m, _, _))| m == model)
            .map(|(k, _)| k)
            .collect();
        let from_pods = self.pods.iter().find_map(|((namespace, _), (isvc, row))| {
            (row.revision.as_deref() == Some(revision)
                && services.contains(&(namespace.clone(), isvc.clone())))
            .then_some(row.version)
            .flatten()
        });
        if from_pods.is_some() {
            return from_pods;
        }
        self.services
            .values()
            .filter(|(m, _, _)| m == model)
            .flat_map(|(_, service, _)| service.traffic.iter())
            .find(|t| t.revision == revision)
            .and_then(|t| t.version)
    }

    pub fn len(&self) -> (usize, usize, usize) {
        (
            self.services.len(),
            self.pods.len(),
            self.events.values().map(VecDeque::len).sum(),
        )
    }

    pub fn set_may_not(&mut self, namespace: String, may_not: Vec<String>) {
        self.generation += 1;
        self.may_not.insert(namespace, may_not);
    }

    /// One server row per InferenceService, with its pods and newest events joined in (joined
    /// again only after a change: the console asks every refresh, the cluster rarely changes).
    pub fn servers(&mut self) -> Vec<ServingStatus> {
        if let Some((generation, rows)) = &self.joined
            && *generation == self.generation
        {
            return rows.clone();
        }
        let rows = self.join();
        self.joined = Some((self.generation, rows.clone()));
        rows
    }

    fn join(&self) -> Vec<ServingStatus> {
        let mut pods: HashMap<(&str, &str), Vec<&PodRow>> = HashMap::new();
        for ((namespace, _), (isvc, row)) in &self.pods {
            pods.entry((namespace, isvc)).or_default().push(row);
        }
        let mut deployments: HashMap<(&str, &str), Vec<&DeploymentRow>> = HashMap::new();
        for ((namespace, _), (isvc, row)) in &self.deployments {
            deployments.entry((namespace, isvc)).or_default().push(row);
        }
        self.services
            .iter()
            .map(|(key, (model, service, versions))| {
                let mut service = service.clone();
                let mut own: Vec<PodRow> = pods
                    .get(&(key.0.as_str(), key.1.as_str()))
                    .map(|p| p.iter().map(|r| (*r).clone()).collect())
                    .unwrap_or_default();
                own.sort_by(|a, b| a.name.cmp(&b.name));
                service.pods = own;
                let mut own: Vec<DeploymentRow> = deployments
                    .get(&(key.0.as_str(), key.1.as_str()))
                    .map(|d| d.iter().map(|r| (*r).clone()).collect())
                    .unwrap_or_default();
                own.sort_by(|a, b| a.name.cmp(&b.name));
                service.deployments = own;
                service.may_not = self.may_not.get(&key.0).cloned().unwrap_or_default();
                // Events of an earlier service of the same name are not this one's.
                let (uid, created) = (service.uid.clone(), service.created_at);
                let ours = |(about, row): &&(Option<String>, EventRow)| match (about, &uid) {
                    (Some(about), Some(uid)) => about == uid,
                    _ => match (row.at, created) {
                        (Some(at), Some(created)) => at >= created,
                        _ => true,
                    },
                };
                service.events = self
                    .events
                    .get(key)
                    .map(|e| {
                        e.iter()
                            .rev()
                            .filter(ours)
                            .map(|(_, r)| r.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                server_row(model.clone(), service, *versions)
            })
            .collect()
    }
}
