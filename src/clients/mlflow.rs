//! MLflow's REST API (`/api/2.0/mlflow/...`), one client for reading and writing the Model
//! Registry and one set of its wire types. Credentials are MLflow's own environment variables (a
//! bearer token `MLFLOW_TRACKING_TOKEN`, or basic auth `MLFLOW_TRACKING_USERNAME`/`_PASSWORD`),
//! sent with every call and never logged; MLflow's error bodies become sentences in its words.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::http::describe;

/// One MLflow tracking server.
#[derive(Clone)]
pub struct MlflowClient {
    http: reqwest::Client,
    /// e.g. `http://127.0.0.1:5000` (no trailing slash).
    base: String,
}

impl MlflowClient {
    pub fn new(http: reqwest::Client, base: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: &reqwest::Error) -> String {
        format!("MLflow at {}: {}", self.base, describe(e))
    }

    /// GET an API path with query parameters and parse its answer.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, String> {
        let text = self.call(reqwest::Method::GET, path, query, None).await?;
        serde_json::from_str(&text)
            .map_err(|e| format!("MLflow answered something unexpected ({e})"))
    }

    /// Calls an API path; the answer's text when MLflow says it succeeded.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<String, String> {
        let url =
            reqwest::Url::parse_with_params(&format!("{}/api/2.0/mlflow/{path}", self.base), query)
                .map_err(|e| format!("MLflow URL {}: {e}", self.base))?;
        let mut request = authorised(self.http.request(method, url));
        if let Some(body) = body {
            // MLflow wants the JSON content type on POST and a JSON body even on DELETE.
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let from = format!("MLflow at {}", self.base);
        let text = super::answer::text(response, &from, |e| self.unreachable(e)).await?;
        if !status.is_success() {
            return Err(api_error(status.as_u16(), &text));
        }
        Ok(text)
    }

    /// Checks that the server answers like MLflow: a model that does not exist is MLflow's
    /// RESOURCE_DOES_NOT_EXIST, not a 200 with whatever JSON.
    pub async fn confirm_mlflow(&self) -> Result<(), String> {
        let probe = self
            .get::<serde_json::Value>(
                "registered-models/get",
                &[("name", "flightdeck-probe-no-such-model")],
            )
            .await;
        match probe {
            Err(e) if e.contains("RESOURCE_DOES_NOT_EXIST") => Ok(()),
            Err(e) => Err(e),
            Ok(answer) => Err(format!(
                "{} does not answer like an MLflow tracking server (asked for a model that does not exist, it answered {}); check mlflow_url",
                self.base,
                answer.to_string().chars().take(80).collect::<String>()
            )),
        }
    }

    pub async fn registered_model(&self, name: &str) -> Result<RegisteredModel, String> {
        let answer: RegisteredModelAnswer =
            self.get("registered-models/get", &[("name", name)]).await?;
        Ok(answer.registered_model)
    }

    pub async fn model_version(&self, name: &str, version: u32) -> Result<MlflowVersion, String> {
        let v = version.to_string();
        let answer: VersionAnswer = self
            .get("model-versions/get", &[("name", name), ("version", &v)])
            .await?;
        Ok(answer.model_version)
    }

    /// Where the version's files are (`mlflow-artifacts:/...` when MLflow proxies its store).
    pub async fn download_uri(&self, name: &str, version: u32) -> Result<String, String> {
        let v = version.to_string();
        let answer: DownloadUri = self
            .get(
                "model-versions/get-download-uri",
                &[("name", name), ("version", &v)],
            )
            .await?;
        Ok(answer.artifact_uri)
    }

    /// The flavours the version was logged with, from its `MLmodel` file; `None` when it has
    /// none (a version registered from a bare directory) or its files are not proxied.
    pub async fn flavours(&self, name: &str, version: u32) -> Result<Option<Vec<String>>, String> {
        let uri = self.download_uri(name, version).await?;
        let Some(root) = proxied_path(&uri) else {
            return Ok(None);
        };
        match self.artifact(&format!("{root}/MLmodel")).await? {
            Ok(bytes) => {
                let mlmodel = MlModel::parse(&String::from_utf8_lossy(&bytes))?;
                Ok(Some(mlmodel.flavors.into_keys().collect()))
            }
            Err(_) => Ok(None),
        }
    }

    /// A file of MLflow's proxied artifact store (`path` after `mlflow-artifacts:/`), or the
    /// HTTP status the store answered instead of it.
    pub async fn artifact(&self, path: &str) -> Result<Result<Vec<u8>, u16>, String> {
        let url = format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{}",
            self.base,
            path.trim_matches('/')
        );
        let response = authorised(self.http.get(&url))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Ok(Err(status.as_u16()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("MLflow at {}: {e}", self.base))?;
        Ok(Ok(bytes.to_vec()))
    }

    pub async fn run(&self, run_id: &str) -> Result<Run, String> {
        let answer: RunAnswer = self.get("runs/get", &[("run_id", run_id)]).await?;
        Ok(answer.run)
    }

    pub async fn set_alias(&self, model: &str, alias: &str, version: u32) -> Result<(), String> {
        self.call(
            reqwest::Method::POST,
            "registered-models/alias",
            &[],
            Some(json!({"name": model, "alias": alias, "version": version.to_string()})),
        )
        .await
        .map(|_| ())
    }

    pub async fn delete_alias(&self, model: &str, alias: &str) -> Result<(), String> {
        self.call(
            reqwest::Method::DELETE,
            "registered-models/alias",
            &[],
            Some(json!({"name": model, "alias": alias})),
        )
        .await
        .map(|_| ())
    }

    /// Sets a tag of the registered model.
    pub async fn set_model_tag(&self, model: &str, key: &str, value: &str) -> Result<(), String> {
        self.call(
            reqwest::Method::POST,
            "registered-models/set-tag",
            &[],
            Some(json!({"name": model, "key": key, "value": value})),
        )
        .await
        .map(|_| ())
    }
}

/// A bearer token or basic credentials from MLflow's own environment variables.
pub fn authorised(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    // An empty variable is an unset one: no `Bearer ` with nothing after it.
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(token) = set("MLFLOW_TRACKING_TOKEN") {
        return request.bearer_auth(token);
    }
    match (
        set("MLFLOW_TRACKING_USERNAME"),
        set("MLFLOW_TRACKING_PASSWORD"),
    ) {
        (Some(user), password) => request.basic_auth(user, password),
        _ => request,
    }
}

/// `{"error_code": ..., "message": ...}` as a sentence; anything else with its status.
pub fn api_error(status: u16, body: &str) -> String {
    #[derive(Deserialize)]
    struct Error {
        error_code: String,
        message: String,
    }
    match serde_json::from_str::<Error>(body) {
        Ok(e) => format!("MLflow: {} ({}, HTTP {status})", e.message, e.error_code),
        Err(_) => format!(
            "MLflow: HTTP {status}: {}",
            body.chars().take(120).collect::<String>()
        ),
    }
}

/// MLflow's milliseconds since the epoch.
pub fn millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The value of `key` among `tags`.
pub fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MlflowAlias {
    pub alias: String,
    pub version: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RegisteredModel {
    pub name: String,
    #[serde(default)]
    pub last_updated_timestamp: i64,
    #[serde(default)]
    pub latest_versions: Vec<MlflowVersion>,
    #[serde(default)]
    pub aliases: Vec<MlflowAlias>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MlflowVersion {
    pub version: String,
    #[serde(default)]
    pub creation_timestamp: i64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    /// Where the version came from: a run's artifact path, or `models:/m-<id>` for a model
    /// logged with MLflow 3's logged models.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub user_id: Option<String>,
}

#[derive(Deserialize)]
pub struct ModelsPage {
    #[serde(default)]
    pub registered_models: Vec<RegisteredModel>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Deserialize)]
pub struct VersionsPage {
    #[serde(default)]
    pub model_versions: Vec<MlflowVersion>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct RegisteredModelAnswer {
    registered_model: RegisteredModel,
}

#[derive(Deserialize)]
pub struct VersionAnswer {
    pub model_version: MlflowVersion,
}

#[derive(Deserialize)]
struct DownloadUri {
    artifact_uri: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RunAnswer {
    pub run: Run,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Run {
    pub info: RunInfo,
    pub data: RunData,
    /// The datasets the run logged (`mlflow.log_input`).
    #[serde(default)]
    pub inputs: RunInputs,
}

impl Run {
    /// The run's datasets as a data hash: their digests (`name:digest` when it logged several,
    /// with the context MLflow tagged them with, e.g. `training`), else a `data_hash` param.
    pub fn data_hash(&self) -> Option<String> {
        let digests: Vec<String> = self
            .inputs
            .dataset_inputs
            .iter()
            .filter(|d| !d.dataset.digest.is_empty())
            .map(|d| {
                let context = tag(&d.tags, "mlflow.data.context")
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default();
                format!("{}:{}{context}", d.dataset.name, d.dataset.digest)
            })
            .collect();
        match digests.len() {
            0 => tag(&self.data.params, "data_hash").map(str::to_string),
            1 => self
                .inputs
                .dataset_inputs
                .iter()
                .map(|d| d.dataset.digest.clone())
                .find(|d| !d.is_empty()),
            _ => Some(digests.join(", ")),
        }
    }

    /// The commit the run's code was at, as MLflow records it.
    pub fn code_commit(&self) -> Option<String> {
        tag(&self.data.tags, "mlflow.source.git.commit")
            .or_else(|| tag(&self.data.tags, "git_commit"))
            .map(str::to_string)
    }
}

/// The path under MLflow's artifact proxy of an `mlflow-artifacts:` URI.
pub fn proxied_path(uri: &str) -> Option<String> {
    let path = uri.strip_prefix("mlflow-artifacts:")?;
    // `mlflow-artifacts:/1/...` or, with a host, `mlflow-artifacts://host:port/1/...`.
    let path = match path.strip_prefix("//") {
        Some(with_host) => with_host.split_once('/').map(|(_, p)| p)?,
        None => path,
    };
    Some(path.trim_matches('/').to_string())
}

/// A version's lineage as MLflow records it: the run's datasets as the data hash, its commit,
/// a `pipeline_version` tag or param, who made the version and when.
pub fn lineage(v: &MlflowVersion, run: Option<&Run>) -> crate::model::Lineage {
    let data = run.map(|r| &r.data);
    crate::model::Lineage {
        data_hash: run.and_then(Run::data_hash),
        code_commit: run.and_then(Run::code_commit),
        pipeline_version: tag(&v.tags, "pipeline_version")
            .or_else(|| data.and_then(|d| tag(&d.params, "pipeline_version")))
            .map(str::to_string),
        author: v
            .user_id
            .clone()
            .filter(|u| !u.is_empty())
            .or_else(|| run.and_then(|r| r.info.user_id.clone()))
            .or_else(|| {
                data.and_then(|d| tag(&d.tags, "mlflow.user"))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "-".into()),
        created_at: millis(v.creation_timestamp),
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RunInfo {
    #[serde(default)]
    pub user_id: Option<String>,
    /// The root of the run's artifacts (`mlflow-artifacts:/...` when MLflow proxies its store).
    #[serde(default)]
    pub artifact_uri: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunInputs {
    #[serde(default)]
    pub dataset_inputs: Vec<DatasetInput>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatasetInput {
    pub dataset: Dataset,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dataset {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub digest: String,
}

/// The parts of a model's `MLmodel` file flightdeck reads: which flavours it was logged with
/// and, for the ONNX flavour, the file that holds the graph.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MlModel {
    #[serde(default)]
    pub flavors: std::collections::BTreeMap<String, Flavor>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Flavor {
    /// The flavour's main file, relative to the model's directory (`model.onnx` for ONNX).
    #[serde(default)]
    pub data: Option<String>,
}

impl MlModel {
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_saphyr::from_str(text).map_err(|e| format!("its MLmodel file does not parse: {e}"))
    }

    /// The ONNX flavour's file, when the model was logged as ONNX.
    pub fn onnx_file(&self) -> Option<&str> {
        self.flavors
            .get("onnx")
            .map(|f| f.data.as_deref().unwrap_or("model.onnx"))
    }

    /// The flavours it was logged with, for saying what it is when it is not ONNX.
    pub fn flavor_names(&self) -> Vec<&str> {
        self.flavors.keys().map(String::as_str).collect()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunData {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub params: Vec<Tag>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Metric {
    pub key: String,
    pub value: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlflow_errors_are_said_in_its_own_words() {
        let not_found = include_str!(
            "../../tests/fixtures/mlflow/mlflow-error-registered-model-not-found.json"
        );
        assert_eq!(
            api_error(404, not_found),
            "MLflow: Registered Model with name=no-such-model not found (RESOURCE_DOES_NOT_EXIST, HTTP 404)"
        );
        assert!(api_error(502, "<html>bad gateway").starts_with("MLflow: HTTP 502: <html>"));
    }
}
