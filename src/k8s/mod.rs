//! The Kubernetes API layer shared by the cluster source and KServe serving: a client for an
//! environment, the InferenceService resource, and the slim types the panes are built from.

pub mod access;
pub mod client;
pub mod lean;
pub mod manifest;
pub mod slim;

use kube::api::ApiResource;

/// Objects per page of a list: big enough for few round trips, small enough that a 5,000-pod
/// namespace never sits in memory whole.
pub const PAGE_SIZE: u32 = 500;

/// The field manager of every server-side apply: `kubectl get -o yaml --show-managed-fields`
/// shows which fields flightdeck set.
pub const FIELD_MANAGER: &str = "flightdeck";

/// The InferenceService resource, `serving.kserve.io/v1beta1`.
pub fn isvc_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("serving.kserve.io", "v1beta1", "InferenceService"),
        "inferenceservices",
    )
}
