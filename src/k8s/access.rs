//! What the credentials may not do in a namespace, asked of the API server
//! (SelfSubjectAccessReview), so a pane or a preview says "may not patch inferenceservices"
//! before an operation fails on it.

use kube::Client;
use kube::api::Api;

/// What the console shows and does, as (verb, API group, resource).
pub const NEEDED: [(&str, &str, &str); 5] = [
    ("list", "serving.kserve.io", "inferenceservices"),
    ("patch", "serving.kserve.io", "inferenceservices"),
    ("list", "", "pods"),
    ("list", "apps", "deployments"),
    ("list", "", "events"),
];

/// The write an operation needs.
pub const PATCH_ISVC: &str = "patch inferenceservices";

/// "verb resource" for each of [`NEEDED`] the API server denies. A cluster that cannot review
/// access (or answers oddly) is not a denial: the operation then meets the real answer.
pub async fn may_not(client: Client, namespace: &str) -> Vec<String> {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client);
    let mut denied = Vec::new();
    for (verb, group, resource) in NEEDED {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_string()),
                    verb: Some(verb.into()),
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let asked = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            reviews.create(&Default::default(), &review),
        )
        .await;
        if let Ok(Ok(answer)) = asked
            && answer.status.is_some_and(|s| !s.allowed)
        {
            denied.push(format!("{verb} {resource}"));
        }
    }
    denied
}
