//! A Kubernetes client for an environment (kubeconfig, context, namespaces), and errors from
//! the API server said in words: a 403 names the verb and resource, not a stack of types.

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::settings::Environment;

/// The client and the namespaces to watch (the config's, else the context's namespace).
pub async fn connect(environment: &Environment) -> Result<(Client, Vec<String>), String> {
    let options = KubeConfigOptions {
        context: environment.kube_context.clone(),
        ..Default::default()
    };
    let loaded = match &environment.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| format!("cannot read kubeconfig {}: {e}", path.display()))?;
            Config::from_custom_kubeconfig(file, &options).await
        }
        None => Config::from_kubeconfig(&options).await,
    };
    let mut config = loaded.map_err(|e| {
        let context = environment
            .kube_context
            .as_deref()
            .map(|c| format!(" context {c:?}"))
            .unwrap_or_default();
        format!("cannot load kubeconfig{context}: {e} (set kubeconfig or kube_context for environment {:?})", environment.name)
    })?;
    // A cluster that does not answer shows as an error in seconds, not a pane that waits.
    config.connect_timeout = Some(Duration::from_secs(5));
    let namespaces = if environment.namespaces.is_empty() {
        vec![config.default_namespace.clone()]
    } else {
        environment.namespaces.clone()
    };
    let client =
        Client::try_from(config).map_err(|e| format!("cannot build a Kubernetes client: {e}"))?;
    Ok((client, namespaces))
}

/// An API error in words, with what to do for the usual ones.
pub fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => describe_status(status.code, &status.reason, &status.message),
        other => {
            // The innermost cause says what went wrong ("Connection refused").
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text = cause.to_string();
                source = cause.source();
            }
            format!("cannot reach the Kubernetes API: {text}")
        }
    }
}

/// A `Status` from the API server, in words.
pub fn describe_status(code: u16, reason: &str, message: &str) -> String {
    match code {
        403 => format!("forbidden: {message} (ask for RBAC access, or use another kube_context)"),
        401 => format!(
            "unauthorised: {message} (the kubeconfig's credentials were refused; log in again)"
        ),
        404 => format!("not found: {message}"),
        409 => format!("conflict: {message}"),
        410 => format!("{message} (relisting)"),
        _ if !reason.is_empty() => format!("{reason} ({code}): {message}"),
        _ => format!("HTTP {code}: {message}"),
    }
}

/// A watch's failure in words.
pub fn describe_watch(error: &kube::runtime::watcher::Error) -> String {
    use kube::runtime::watcher::Error;
    match error {
        Error::InitialListFailed(e) | Error::WatchStartFailed(e) | Error::WatchFailed(e) => {
            describe(e)
        }
        Error::WatchError(status) => describe_status(status.code, &status.reason, &status.message),
        Error::NoResourceVersion => "the API server sent no resourceVersion; cannot watch".into(),
    }
}
