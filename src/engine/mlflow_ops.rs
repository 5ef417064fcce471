//! Operations where the registry is MLflow's: deploy, promote, rollback and abort move MLflow's
//! aliases (by default `champion` = production, `challenger` = canary) and the serving target
//! with them, the previous champion kept in the registered model's tag
//! `flightdeck.previous_champion` for rollback. A deploy first fetches the version's ONNX
//! artifact (`get-download-uri`, proxied `mlflow-artifacts:`), checks it against the version's
//! `onnx.sha256` tag and loads it, so a broken or tampered file never takes traffic. The journal
//! stays flightdeck's own.

use serde::Deserialize;
use serde_json::json;
use sha2::Digest;

use super::ops::{DeploymentState, OpOutcome, OpPlan, OpRequest};
use super::serving::Serving;
use super::{Actor, EngineError, Registry};
use crate::model::{ModelName, NewJournalEntry, Outcome, ServingPlan};
use crate::settings::Environment;
use crate::sources::mlflow::{api_error, authorised};

/// The registered model's tag holding the champion before the last change.
pub const PREVIOUS_TAG: &str = "flightdeck.previous_champion";
/// The version tag holding the sha256 of its ONNX file.
pub const SHA_TAG: &str = "onnx.sha256";

/// MLflow's registry, for writing.
pub struct MlflowWriter {
    http: reqwest::Client,
    base: String,
    production: String,
    canary: String,
}

/// The aliases and the rollback target of one model, as MLflow holds them now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    pub production: Option<u32>,
    pub canary: Option<u32>,
    pub previous: Option<u32>,
}

#[derive(Deserialize)]
struct ModelAnswer {
    registered_model: RegisteredModel,
}

#[derive(Deserialize)]
struct RegisteredModel {
    #[serde(default)]
    aliases: Vec<AliasEntry>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct AliasEntry {
    alias: String,
    version: String,
}

#[derive(Deserialize)]
struct Tag {
    key: String,
    value: String,
}

#[derive(Deserialize)]
struct VersionAnswer {
    model_version: VersionEntry,
}

#[derive(Deserialize)]
struct VersionEntry {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct DownloadUri {
    artifact_uri: String,
}

impl MlflowWriter {
    pub fn new(environment: &Environment) -> Result<Self, String> {
        let base = environment
            .mlflow_url
            .clone()
            .ok_or("the environment has no mlflow_url")?;
        Ok(MlflowWriter {
            http: crate::sources::server::client()?,
            base: base.trim_end_matches('/').to_string(),
            production: environment.mlflow_production_alias.clone(),
            canary: environment.mlflow_canary_alias.clone(),
        })
    }

    fn unreachable(&self, e: &reqwest::Error) -> String {
        format!(
            "MLflow at {}: {}",
            self.base,
            crate::sources::server::describe(e)
        )
    }

    /// GET an API path and parse its answer.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, String> {
        let text = self.call(reqwest::Method::GET, path, query, None).await?;
        serde_json::from_str(&text)
            .map_err(|e| format!("MLflow answered something unexpected ({e})"))
    }

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
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        if !status.is_success() {
            return Err(api_error(status.as_u16(), &text));
        }
        Ok(text)
    }

    /// The model's production, canary and previous champion.
    pub async fn held(&self, model: &str) -> Result<Held, String> {
        let answer: ModelAnswer = self
            .get("registered-models/get", &[("name", model)])
            .await?;
        let model = answer.registered_model;
        let alias = |name: &str| {
            model
                .aliases
                .iter()
                .find(|a| a.alias == name)
                .and_then(|a| a.version.parse().ok())
        };
        Ok(Held {
            production: alias(&self.production),
            canary: alias(&self.canary),
            previous: model
                .tags
                .iter()
                .find(|t| t.key == PREVIOUS_TAG)
                .and_then(|t| t.value.parse().ok()),
        })
    }

    async fn set_alias(&self, model: &str, alias: &str, version: u32) -> Result<(), String> {
        self.call(
            reqwest::Method::POST,
            "registered-models/alias",
            &[],
            Some(json!({"name": model, "alias": alias, "version": version.to_string()})),
        )
        .await
        .map(|_| ())
    }

    async fn delete_alias(&self, model: &str, alias: &str) -> Result<(), String> {
        self.call(
            reqwest::Method::DELETE,
            "registered-models/alias",
            &[],
            Some(json!({"name": model, "alias": alias})),
        )
        .await
        .map(|_| ())
    }

    async fn set_previous(&self, model: &str, version: u32) -> Result<(), String> {
        self.call(
            reqwest::Method::POST,
            "registered-models/set-tag",
            &[],
            Some(json!({"name": model, "key": PREVIOUS_TAG, "value": version.to_string()})),
        )
        .await
        .map(|_| ())
    }

    /// The version's ONNX file, checked against its `onnx.sha256` tag and loaded: what it
    /// says in words, or why it may not take traffic.
    pub async fn check_artifact(&self, model: &str, version: u32) -> Result<String, String> {
        let v = version.to_string();
        let entry: VersionAnswer = self
            .get("model-versions/get", &[("name", model), ("version", &v)])
            .await?;
        let expected = entry
            .model_version
            .tags
            .iter()
            .find(|t| t.key == SHA_TAG)
            .map(|t| t.value.to_lowercase());
        let uri: DownloadUri = self
            .get(
                "model-versions/get-download-uri",
                &[("name", model), ("version", &v)],
            )
            .await?;
        let path = uri
            .artifact_uri
            .strip_prefix("mlflow-artifacts:/")
            .ok_or_else(|| {
                format!(
                    "v{version}'s files are at {}, which flightdeck cannot fetch (only MLflow's proxied mlflow-artifacts: store)",
                    uri.artifact_uri
                )
            })?;
        let url = format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{}/model.onnx",
            self.base,
            path.trim_matches('/')
        );
        let response = authorised(self.http.get(&url))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if !response.status().is_success() {
            return Err(format!(
                "v{version} has no model.onnx under {} (HTTP {})",
                uri.artifact_uri,
                response.status()
            ));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("MLflow at {}: {e}", self.base))?;
        let actual = format!("{:x}", sha2::Sha256::digest(&bytes));
        let checksum = match expected {
            Some(e) if e == actual => format!("sha256 matches {SHA_TAG}"),
            Some(e) => {
                return Err(format!(
                    "v{version}'s model.onnx has sha256 {actual}, but its {SHA_TAG} tag says {e}: the file changed after registration"
                ));
            }
            None => format!("sha256 {actual} (no {SHA_TAG} tag to check it against)"),
        };
        // Optimising a plan and running it is CPU work (seconds for a large tree ensemble):
        // off the async workers, which also carry the console's messages.
        let size = bytes.len();
        let checked = tokio::task::spawn_blocking(move || load_and_try(&bytes))
            .await
            .map_err(|e| format!("the artifact check stopped: {e}"))?;
        let (inputs, answered) = checked.map_err(|e| format!("v{version}'s model.onnx {e}"))?;
        Ok(format!(
            "v{version}: model.onnx {size} bytes, {checksum}, loads (inputs {inputs}), {answered}"
        ))
    }
}

/// Loads the file and runs it on neutral rows: its input names and what the run showed, or
/// why it may not take traffic (completing "v3's model.onnx ...").
fn load_and_try(bytes: &[u8]) -> Result<(String, String), String> {
    let loaded = crate::runtime::LoadedModel::from_bytes(bytes)
        .map_err(|e| format!("does not load: {e}"))?;
    let inputs: Vec<String> = loaded
        .signature()
        .inputs
        .iter()
        .map(|i| i.name.clone())
        .collect();
    let answered = answers_sanely(&loaded).map_err(|e| format!("loads, but {e}"))?;
    Ok((inputs.join(", "), answered))
}

/// Runs the model on a few neutral rows, in this process, and applies the smoke test's checks
/// that hold for any input (finite outputs; probabilities summing to 1): MLflow versions carry no
/// sentinel cases, so this is what catches a version that loads but answers nonsense.
fn answers_sanely(model: &crate::runtime::LoadedModel) -> Result<String, String> {
    let inputs = model.neutral_inputs(NEUTRAL_ROWS);
    let started = std::time::Instant::now();
    let outputs = model
        .run(&inputs)
        .map_err(|e| format!("fails on {NEUTRAL_ROWS} neutral rows: {e}"))?;
    let took = started.elapsed();
    let checks = super::smoke::output_checks(&[outputs], model.signature().classifier.as_ref());
    match checks.iter().find(|c| !c.passed) {
        Some(failed) => Err(format!(
            "on {NEUTRAL_ROWS} neutral rows {} ({})",
            failed.detail, failed.name
        )),
        None => Ok(format!(
            "answers {NEUTRAL_ROWS} neutral rows sanely in {} µs",
            took.as_micros()
        )),
    }
}

/// Rows of zeros the artifact check runs through a fetched model.
const NEUTRAL_ROWS: usize = 4;

/// What the request does to the aliases, or why it cannot.
pub fn after(model: &str, request: OpRequest, held: Held) -> Result<DeploymentState, String> {
    let state = |production, canary, canary_percent| DeploymentState {
        production,
        canary,
        canary_percent,
    };
    match request {
        OpRequest::Deploy {
            version,
            canary_percent: Some(p),
        } if p < 100 => match held.production {
            None => Err(format!(
                "{model} has no production version for a canary to run beside: deploy v{version} with --direct"
            )),
            Some(prod) if prod == version => Err(format!("v{version} is production already")),
            Some(prod) => Ok(state(Some(prod), Some(version), p)),
        },
        OpRequest::Deploy { version, .. } => Ok(state(Some(version), None, 0)),
        OpRequest::Promote => match held.canary {
            Some(c) => Ok(state(Some(c), None, 0)),
            None => Err(format!("{model} has no canary to promote")),
        },
        OpRequest::Abort => match held.canary {
            Some(_) => Ok(state(held.production, None, 0)),
            None => Err(format!("{model} has no canary to abort")),
        },
        OpRequest::Rollback { to } => {
            let target = to.or(held.previous).ok_or_else(|| {
                format!("{model} has no previous production version recorded: roll back with --to VERSION")
            })?;
            if Some(target) == held.production && held.canary.is_none() {
                return Err(format!("v{target} is production already"));
            }
            Ok(state(Some(target), None, 0))
        }
    }
}

/// A state for a sentence: its label, or "none".
fn describe(s: &DeploymentState) -> String {
    s.label().unwrap_or_else(|| "none".into())
}

/// Plans `request` on `model` from MLflow's aliases as they are now: the preview's sentence,
/// the deploy's artifact check and the promote's gates, before anyone confirms. The aliases
/// read are kept in `revisions` (production and canary versions, 0 for none): MLflow has no
/// compare-and-swap, so the run compares them with what it reads right before writing.
pub async fn plan(
    environment: &Environment,
    serving: &dyn Serving,
    actor: &Actor,
    model: &ModelName,
    request: OpRequest,
    limits: &crate::settings::Gates,
) -> Result<OpPlan, EngineError> {
    let name = model.as_str();
    actor.ensure_writable(&format!("{} {model}", request.name()))?;
    let refused = |reason: String| EngineError::Refused {
        model: name.to_string(),
        reason,
    };
    let writer = MlflowWriter::new(environment).map_err(&refused)?;
    let held = writer.held(name).await.map_err(&refused)?;
    let status = serving.status(name).await;
    if let Some(kube) = &status.kube
        && !kube.mode.supports_canary()
        && matches!(request, OpRequest::Deploy { canary_percent: Some(p), .. } if p < 100)
    {
        return Err(refused(format!(
            "{model} runs in KServe's {} mode, which ignores canaryTrafficPercent; deploy with --direct (no canary) or switch the InferenceService to Serverless",
            kube.mode.as_str()
        )));
    }
    let before = DeploymentState {
        production: held.production,
        canary: held.canary,
        canary_percent: status.serving.map_or(0, |p| p.canary_percent),
    };
    let after = after(name, request, held).map_err(&refused)?;
    let mut warnings = Vec::new();
    if let OpRequest::Deploy { version, .. } = request {
        let checked = writer
            .check_artifact(name, version)
            .await
            .map_err(|e| refused(format!("artifact check: {e}")))?;
        warnings.push(checked);
    }
    let mut gates = Vec::new();
    if let (OpRequest::Promote, Some(production), Some(canary)) =
        (request, before.production, before.canary)
    {
        let evidence = serving.evidence(name).await;
        gates = super::ops::promote_gates(evidence, model, production, canary, limits);
    }
    let revisions = [
        (
            "production".to_string(),
            u64::from(held.production.unwrap_or(0)),
        ),
        ("canary".to_string(), u64::from(held.canary.unwrap_or(0))),
    ]
    .into_iter()
    .collect();
    Ok(OpPlan {
        model: model.clone(),
        request,
        before,
        after,
        revisions,
        sentence: format!(
            "production {} -> {} (MLflow aliases {} / {})",
            describe(&before),
            describe(&after),
            writer.production,
            writer.canary
        ),
        warnings,
        pipeline_change: None,
        environment: actor.environment.clone(),
        read_only: actor.read_only,
        gates,
        gates_overridden: false,
    })
}

/// Runs a confirmed plan: serving first, then the aliases (after checking nobody moved them
/// since the plan read them), then both read back. Journaled like every operation.
pub async fn execute(
    environment: &Environment,
    registry: &mut Registry,
    serving: &dyn Serving,
    actor: &Actor,
    plan: &OpPlan,
) -> Result<OpOutcome, EngineError> {
    let (model, request) = (&plan.model, plan.request);
    let name = model.as_str();
    actor.ensure_writable(&format!("{} {model}", request.name()))?;
    let refused = |reason: String| EngineError::Refused {
        model: name.to_string(),
        reason,
    };
    let writer = MlflowWriter::new(environment).map_err(&refused)?;
    let held_version = |alias: &str| {
        plan.revisions
            .get(alias)
            .copied()
            .filter(|v| *v > 0)
            .map(|v| v as u32)
    };
    let held = Held {
        production: held_version("production"),
        canary: held_version("canary"),
        previous: None,
    };
    let (before, after) = (plan.before, plan.after);
    let journal = |outcome: Outcome, details: serde_json::Value| NewJournalEntry {
        user: actor.user.clone(),
        environment: actor.environment.clone(),
        operation: request.name().to_string(),
        model: Some(name.to_string()),
        from: before.label(),
        to: after.label(),
        outcome,
        details,
    };
    registry.append_journal(&journal(
        Outcome::Started,
        json!({"registry": "mlflow", "plan": plan.sentence, "gates_overridden": plan.gates_overridden}),
    ))?;
    let fail = |registry: &mut Registry, error: EngineError, outcome: Outcome| {
        let _ = registry.append_journal(&journal(outcome, json!({"error": error.to_string()})));
        Err(error)
    };
    let target = ServingPlan {
        stable: after
            .production
            .ok_or_else(|| refused("nothing would serve".into()))?,
        canary: after.canary,
        canary_percent: after.canary_percent,
    };
    // Checked before anything moves, and again right before MLflow is written.
    let unmoved = |now: &Held| now.production == held.production && now.canary == held.canary;
    match writer.held(name).await {
        Ok(now) if unmoved(&now) => {}
        Ok(now) => {
            let error = refused(format!(
                "the aliases moved since the preview (now production {:?}, canary {:?}); nothing was changed — look again and retry",
                now.production, now.canary
            ));
            return fail(registry, error, Outcome::Conflict);
        }
        Err(e) => return fail(registry, refused(e), Outcome::Failed),
    }
    if let Err(e) = serving.apply(model, target).await {
        return fail(
            registry,
            EngineError::Serving(e.to_string()),
            Outcome::Failed,
        );
    }
    match writer.held(name).await {
        Ok(now) if unmoved(&now) => {}
        Ok(now) => {
            let error = refused(format!(
                "the aliases moved while this ran (now production {:?}, canary {:?}); MLflow was not changed, serving now runs {} — look again, then roll back or retry",
                now.production,
                now.canary,
                target.describe()
            ));
            return fail(registry, error, Outcome::Conflict);
        }
        Err(e) => return fail(registry, refused(e), Outcome::Failed),
    }
    let writes = async {
        if after.production != held.production
            && let Some(p) = after.production
        {
            if let Some(old) = held.production {
                writer.set_previous(name, old).await?;
            }
            writer.set_alias(name, &writer.production, p).await?;
        }
        match after.canary {
            Some(c) if held.canary != Some(c) => writer.set_alias(name, &writer.canary, c).await?,
            None if held.canary.is_some() => writer.delete_alias(name, &writer.canary).await?,
            _ => {}
        }
        Ok::<(), String>(())
    };
    if let Err(e) = writes.await {
        return fail(registry, refused(e), Outcome::Failed);
    }
    // Verify: both read back.
    let now = writer.held(name).await.map_err(&refused)?;
    let served = serving.status(name).await.serving;
    let mut problems = Vec::new();
    if now.production != after.production || now.canary != after.canary {
        problems.push(format!(
            "MLflow's aliases say production {:?}, canary {:?}",
            now.production, now.canary
        ));
    }
    if served != Some(target) {
        problems.push(format!(
            "serving reports {} instead of {}",
            served
                .map(|p| p.describe())
                .unwrap_or_else(|| "nothing".into()),
            target.describe()
        ));
    }
    if !problems.is_empty() {
        let error = EngineError::VerifyFailed {
            model: name.to_string(),
            problem: problems.join("; "),
            then: "look at `flightdeck status` and MLflow, then roll back if needed".into(),
        };
        return fail(registry, error, Outcome::Failed);
    }
    registry.append_journal(&journal(
        Outcome::Succeeded,
        json!({"registry": "mlflow", "checks": plan.warnings}),
    ))?;
    Ok(OpOutcome {
        model: name.to_string(),
        operation: request.name(),
        sentence: plan.sentence.clone(),
        before,
        after,
        endpoint: None,
        warnings: plan.warnings.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_moves_follow_the_request() {
        let held = Held {
            production: Some(1),
            canary: Some(2),
            previous: Some(0),
        };
        assert_eq!(
            after("m", OpRequest::Promote, held).unwrap().production,
            Some(2)
        );
        let rollback = after(
            "m",
            OpRequest::Rollback { to: None },
            Held {
                canary: None,
                previous: Some(3),
                ..held
            },
        );
        assert_eq!(rollback.unwrap().production, Some(3));
        let none = Held::default();
        assert!(
            after("m", OpRequest::Promote, none)
                .unwrap_err()
                .contains("no canary")
        );
        let canary = OpRequest::Deploy {
            version: 4,
            canary_percent: Some(10),
        };
        assert!(after("m", canary, none).unwrap_err().contains("--direct"));
    }
}
