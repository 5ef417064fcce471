//! Objects as the watches keep them: metadata with only what the panes read. `managedFields`,
//! owner references and foreign annotations (a `last-applied-configuration` can be kilobytes)
//! are skipped while parsing, never built, so 5,000 pods cost what their rows cost.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Resource;
use kube::core::{ApiResource, DynamicResourceScope};
use serde::{Deserialize, Deserializer};

/// An object with lean metadata, its spec and status (as [`kube::core::Object`] has them).
#[derive(Debug, Clone, Deserialize)]
pub struct Lean<S, T> {
    #[serde(deserialize_with = "lean_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: S,
    pub status: Option<T>,
}

/// Annotation prefixes worth keeping: flightdeck's own, and KServe's (mode, storage URI).
const KEPT_ANNOTATIONS: [&str; 3] = [
    "flightdeck.io/",
    "serving.kserve.io/",
    "internal.serving.kserve.io/storage-initializer-sourceuri",
];

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LeanMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    generation: Option<i64>,
    creation_timestamp: Option<Time>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
}

/// ObjectMeta with the fields above; everything else is parsed past.
pub fn lean_meta<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ObjectMeta, D::Error> {
    let meta = LeanMeta::deserialize(deserializer)?;
    let annotations = meta.annotations.map(|all| {
        all.into_iter()
            .filter(|(k, _)| KEPT_ANNOTATIONS.iter().any(|p| k.starts_with(p)))
            .collect()
    });
    Ok(ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        generation: meta.generation,
        creation_timestamp: meta.creation_timestamp,
        labels: meta.labels,
        annotations,
        ..ObjectMeta::default()
    })
}

/// A resource whose API is named at run time (by an [`ApiResource`]), as kube's `Object` is.
macro_rules! dynamic_resource {
    ($type:ty $(, $generic:ident)*) => {
        impl<$($generic: Clone),*> Resource for $type {
            type DynamicType = ApiResource;
            type Scope = DynamicResourceScope;

            fn kind(dt: &ApiResource) -> Cow<'_, str> {
                dt.kind.as_str().into()
            }
            fn group(dt: &ApiResource) -> Cow<'_, str> {
                dt.group.as_str().into()
            }
            fn version(dt: &ApiResource) -> Cow<'_, str> {
                dt.version.as_str().into()
            }
            fn api_version(dt: &ApiResource) -> Cow<'_, str> {
                dt.api_version.as_str().into()
            }
            fn plural(dt: &ApiResource) -> Cow<'_, str> {
                dt.plural.as_str().into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

dynamic_resource!(Lean<S, T>, S, T);
dynamic_resource!(LeanEvent);

/// An Event with the fields the pane shows.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeanEvent {
    #[serde(deserialize_with = "lean_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub involved_object: InvolvedObject,
    pub reason: Option<String>,
    pub message: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub count: Option<i32>,
    pub last_timestamp: Option<Time>,
    pub first_timestamp: Option<Time>,
    pub event_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InvolvedObject {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub uid: Option<String>,
}
