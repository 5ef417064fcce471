//! Where an environment's versions run, behind one trait (`Serving`): local model servers
//! (`flightdeck serve` processes, each deployment under its own supervisor process, so the CLI
//! and the console can exit and re-attach without touching what is served), or KServe
//! (`kserve.rs`).

pub mod files;
pub mod kserve;
mod process;
pub mod shadow;
pub mod supervisor;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use files::ServeFiles;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::model::{ModelName, ServingPlan, ServingStatus};

/// How long a new server may take to load its models and answer ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    #[error("{0}")]
    Io(String),
    #[error(
        "the server for {model} did not become ready within {seconds}s{detail}; its output is in {log}"
    )]
    NotReady {
        model: String,
        seconds: u64,
        detail: String,
        log: String,
    },
    #[error("no local server runs {0}; start one with `flightdeck server start {0}`")]
    NotRunning(String),
    #[error("the server for {model} refused the plan {plan}: {reason}")]
    Refused {
        model: String,
        plan: String,
        reason: String,
    },
    #[error(
        "the server for {model} did not answer ({reason}); is it running? `flightdeck server list` shows it"
    )]
    Unreachable { model: String, reason: String },
    /// Another writer owns what the plan needs changed (a field manager on Kubernetes).
    #[error("conflict on {model}'s InferenceService: {reason}")]
    Conflict { model: String, reason: String },
}

/// What a promote is judged on, as the serving backend reports it: its counters (totals since
/// each version was loaded) and each version's drift verdict with its window size, when known.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub counters: Result<crate::clients::metrics::ScrapeSnapshot, String>,
    /// (version, verdict, rows in the window when the backend says).
    pub drift: Result<Vec<(u32, String, Option<u64>)>, String>,
    /// The canary's answers against production's over the same period; `Err` says why there
    /// is no such comparison (no canary beside production in one server, no reference
    /// predictions, a backend that cannot tell).
    pub answers: Result<crate::model::AnswerComparison, String>,
}

impl Evidence {
    /// No evidence at all, and why.
    pub fn unavailable(reason: String) -> Self {
        Evidence {
            counters: Err(reason.clone()),
            drift: Err(reason.clone()),
            answers: Err(reason),
        }
    }
}

/// Why a local server reports no canary-versus-production comparison of answers.
const NO_ANSWER_COMPARISON: &str = "no comparison of answers: one of the two versions was registered without --reference (no reference predictions), or their answers share no signal";

/// An answer from a serving backend, not there yet.
pub type Pending<'a, T> = BoxFuture<'a, Result<T, ServingError>>;

/// What serves an environment's models, as operations drive it: the local supervisor's
/// processes, or KServe on a cluster. Every call returns within its own deadline.
pub trait Serving: Send + Sync {
    /// What serves `model` now, read from the server (or cluster), never from the plan alone.
    fn status<'a>(&'a self, model: &'a str) -> BoxFuture<'a, ServingStatus>;
    /// Switches a running deployment to `plan` and waits until it serves exactly that.
    fn apply<'a>(&'a self, model: &'a ModelName, plan: ServingPlan) -> Pending<'a, ServingStatus>;
    /// Starts serving `plan` where nothing serves `model` yet (or applies it).
    fn start<'a>(&'a self, model: &'a ModelName, plan: ServingPlan) -> Pending<'a, ServingStatus>;
    /// Stops serving `model`.
    fn stop<'a>(&'a self, model: &'a ModelName) -> Pending<'a, ()>;
    /// The serving counters and drift verdicts a promote is judged on.
    fn evidence<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Evidence>;
    /// [`Self::status`], or why what serves cannot be read at all (a cluster that does not
    /// answer): an operation must not be planned on "unknown" taken for "nothing".
    fn status_or_unreadable<'a>(
        &'a self,
        model: &'a str,
    ) -> BoxFuture<'a, Result<ServingStatus, String>> {
        self.status(model).map(Ok).boxed()
    }
}

impl Serving for LocalServing {
    fn status<'a>(&'a self, model: &'a str) -> BoxFuture<'a, ServingStatus> {
        LocalServing::status(self, model).boxed()
    }
    fn apply<'a>(&'a self, model: &'a ModelName, plan: ServingPlan) -> Pending<'a, ServingStatus> {
        LocalServing::apply(self, model, plan).boxed()
    }
    fn start<'a>(&'a self, model: &'a ModelName, plan: ServingPlan) -> Pending<'a, ServingStatus> {
        LocalServing::start(self, model, plan).boxed()
    }
    fn stop<'a>(&'a self, model: &'a ModelName) -> Pending<'a, ()> {
        LocalServing::stop(self, model).boxed()
    }
    fn evidence<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Evidence> {
        async move {
            const TIMEOUT: Duration = Duration::from_secs(5);
            let status = LocalServing::status(self, model).await;
            let Some(endpoint) = status
                .endpoint()
                .filter(|_| status.supervisor_alive || status.healthy)
            else {
                return Evidence::unavailable(format!(
                    "no server runs {model}, so the canary has no evidence; start it with `flightdeck server start {model}`"
                ));
            };
            let client = match crate::clients::http::client() {
                Ok(c) => c,
                Err(e) => return Evidence::unavailable(e),
            };
            let counters = crate::clients::model_server::scrape(&client, &endpoint, TIMEOUT).await;
            let reports =
                crate::clients::model_server::drift(&client, &endpoint, model, TIMEOUT).await;
            let drift = reports.as_ref().map_err(Clone::clone).map(|reports| {
                reports
                    .iter()
                    .map(|r| (r.version, r.verdict.as_str().to_string(), Some(r.window_samples)))
                    .collect()
            });
            let answers = match &reports {
                Ok(reports) => reports
                    .iter()
                    .find_map(|r| r.answers_versus.clone())
                    .ok_or_else(|| NO_ANSWER_COMPARISON.to_string()),
                Err(e) => Err(format!("cannot read the drift reports: {e}")),
            };
            Evidence {
                counters,
                drift,
                answers,
            }
        }
        .boxed()
    }
}

/// The serving an environment configures: local processes, or KServe.
pub fn for_environment(
    environment: &crate::settings::Environment,
    data_dir: &Path,
    program: PathBuf,
    config: Option<PathBuf>,
) -> std::sync::Arc<dyn Serving> {
    match environment.serving {
        crate::settings::ServingBackend::Local => {
            std::sync::Arc::new(LocalServing::new(data_dir, program).with_config(config))
        }
        crate::settings::ServingBackend::Kubernetes => {
            std::sync::Arc::new(kserve::KServeServing::new(environment))
        }
    }
}

/// Asks `pid` to stop, waits up to `grace`, then kills it.
async fn stop_process(pid: u32, grace: Duration) {
    process::terminate(pid);
    let deadline = Instant::now() + grace;
    while process::is_flightdeck(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if process::is_flightdeck(pid) {
        process::kill_now(pid);
    }
}

/// How long a running server may take to say what it serves before `status` reports it as
/// unresponsive: a frozen server must not hold up the fleet view past its own deadline.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// Servers asked at once when listing: enough that one frozen server costs its own deadline,
/// not the listing's.
const LIST_AT_ONCE: usize = 32;

/// The local environment's servers, found through files under the data dir.
#[derive(Debug, Clone)]
pub struct LocalServing {
    files: ServeFiles,
    program: PathBuf,
    /// The config file the servers it starts read (`--config`), when one was given.
    config: Option<PathBuf>,
    http: reqwest::Client,
    status_timeout: Duration,
}

impl LocalServing {
    /// `program` is the flightdeck executable that runs supervisors and servers.
    pub fn new(data_dir: &Path, program: PathBuf) -> Self {
        // No idle connections kept: the console lists every server each refresh, and a
        // thousand idle keep-alive connections held tens of megabytes of read buffers.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(0)
            .no_proxy()
            .build()
            .unwrap_or_default();
        Self {
            files: ServeFiles::new(data_dir),
            program,
            config: None,
            http,
            status_timeout: STATUS_TIMEOUT,
        }
    }

    /// How long each server may take to say what it serves (default 2 s). A caller with its own
    /// deadline for the whole listing sets it below that deadline, so one frozen server costs
    /// that server's status, never the listing.
    pub fn with_status_timeout(mut self, timeout: Duration) -> Self {
        self.status_timeout = timeout;
        self
    }

    /// Servers it starts read `config` (made absolute: they may run from anywhere).
    pub fn with_config(mut self, config: Option<PathBuf>) -> Self {
        self.config = config.map(|c| std::path::absolute(&c).unwrap_or(c));
        self
    }

    fn token(&self) -> Result<String, ServingError> {
        files::admin_token(&self.files.token())
            .map_err(|e| ServingError::Io(format!("admin token: {e}")))
    }

    /// The models with a deployment (a plan file), by name.
    pub fn deployments(&self) -> Vec<String> {
        self.files.models()
    }

    /// Every deployment with a plan, and how its server is doing; servers are asked 32 at a
    /// time, so one slow server costs one deadline, not one per model.
    pub async fn list(&self) -> Vec<ServingStatus> {
        use futures_util::StreamExt;
        let models = self.files.models();
        // Many at once, not all at once: each request's connection state is tens of kilobytes,
        // and a thousand together were most of the console's memory.
        let asks: Vec<_> = models.iter().map(|model| self.status(model)).collect();
        futures_util::stream::iter(asks)
            .buffered(LIST_AT_ONCE)
            .collect()
            .await
    }

    /// One deployment's state: plan, supervisor record, liveness, and what the server says.
    pub async fn status(&self, model: &str) -> ServingStatus {
        let plan = self
            .files
            .read_plan(model)
            .unwrap_or(ServingPlan::stable_only(0));
        let record = self.files.read_record(model);
        let supervisor_alive = record
            .as_ref()
            .is_some_and(|r| process::is_flightdeck(r.supervisor_pid));
        let mut server = ServingStatus {
            model: model.to_string(),
            plan,
            serving: None,
            record,
            supervisor_alive,
            healthy: false,
            problem: None,
            kube: None,
        };
        // A supervisor killed outright leaves its server serving, unsupervised: it is asked
        // like any other, never reported as down while it answers.
        let unsupervised = server.record.as_ref().and_then(|r| {
            let pid = r.server_pid.filter(|p| process::is_flightdeck(*p))?;
            (!supervisor_alive).then_some((r.supervisor_pid, pid))
        });
        let Some(endpoint) = server
            .endpoint()
            .filter(|_| supervisor_alive || unsupervised.is_some())
        else {
            let last = server.record.as_ref().and_then(|r| r.last_exit.clone());
            server.problem = Some(match (supervisor_alive, last) {
                (true, _) => "starting".into(),
                (false, Some(exit)) => format!("not running (its server {exit})"),
                (false, None) => "not running".into(),
            });
            return server;
        };
        let answer =
            tokio::time::timeout(self.status_timeout, self.served_plan(model, &endpoint)).await;
        match answer {
            Ok(Ok(plan)) => {
                server.serving = Some(plan);
                server.healthy = true;
                if let Some((supervisor, pid)) = unsupervised {
                    server.problem = Some(format!(
                        "unsupervised: its supervisor (pid {supervisor}) is gone and server pid {pid} serves on alone; `flightdeck server start {model}` takes it over on the same port"
                    ));
                }
            }
            Ok(Err(e)) => {
                let last = server.record.as_ref().and_then(|r| r.last_exit.clone());
                server.problem = Some(
                    last.map(|l| format!("{e}; last exit: {l}"))
                        .unwrap_or_else(|| e.to_string()),
                );
            }
            Err(_) => {
                server.problem = Some(format!(
                    "the server did not answer within {} ms: it may be frozen or overloaded; `flightdeck server stop {model}` then `server start` replaces it",
                    self.status_timeout.as_millis()
                ));
            }
        }
        server
    }

    /// Asks the server what it serves.
    async fn served_plan(&self, model: &str, endpoint: &str) -> Result<ServingPlan, ServingError> {
        let unreachable = |e: reqwest::Error| ServingError::Unreachable {
            model: model.to_string(),
            reason: e.to_string(),
        };
        let response = self
            .http
            .get(format!("{endpoint}/flightdeck/admin/deployments/{model}"))
            .bearer_auth(self.token()?)
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(ServingError::Unreachable {
                model: model.to_string(),
                reason: format!("HTTP {}", response.status()),
            });
        }
        response.json().await.map_err(unreachable)
    }

    /// Starts serving `plan` (or, when a server already runs, switches it to `plan`), and
    /// waits until the server reports exactly that plan.
    pub async fn start(
        &self,
        model: &ModelName,
        plan: ServingPlan,
    ) -> Result<ServingStatus, ServingError> {
        let current = self.status(model.as_str()).await;
        if current.supervisor_alive {
            return self.apply(model, plan).await;
        }
        self.token()?;
        // A server left running by a supervisor that died is stopped first, and its port is
        // kept: its clients find the new server where they found the old one.
        let port = match current.record.as_ref() {
            Some(record) if current.healthy => {
                if let Some(pid) = record.server_pid.filter(|p| process::is_flightdeck(*p)) {
                    stop_process(pid, Duration::from_secs(10)).await;
                }
                record.port
            }
            // A server stopped earlier comes back on its port, when nothing else took it:
            // clients configured with it keep working.
            _ => std::fs::read_to_string(self.files.last_port(model.as_str()))
                .ok()
                .and_then(|p| p.trim().parse::<u16>().ok())
                .filter(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()),
        };
        self.files
            .write_plan(model.as_str(), &plan)
            .map_err(|e| ServingError::Io(e.to_string()))?;
        let _ = std::fs::remove_file(self.files.record(model.as_str()));
        let mut command = std::process::Command::new(&self.program);
        command.arg("--home").arg(&self.files.data_dir);
        if let Some(config) = &self.config {
            command.arg("--config").arg(config);
        }
        command.args(["supervise", model.as_str()]);
        if let Some(port) = port {
            command.args(["--port", &port.to_string()]);
        }
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // Its own process group: a Ctrl-C in the terminal that started it does not reach it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .map_err(|e| ServingError::Io(format!("cannot start the supervisor: {e}")))?;
        // The supervisor is reaped by a thread so it never lingers as a zombie of ours.
        std::thread::spawn(move || child.wait());

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let status = self.status(model.as_str()).await;
            // Up and serving: what it serves may be less than the plan (a canary that does not
            // load serves stable alone); the caller compares, and says so.
            if status.healthy && status.serving.is_some() {
                return Ok(status);
            }
            let crashed = status.record.as_ref().is_some_and(|r| r.restarts > 0);
            if crashed || Instant::now() > deadline {
                let detail = status
                    .record
                    .as_ref()
                    .and_then(|r| r.last_exit.clone())
                    .or_else(|| self.files.last_output_line(model.as_str()))
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                // Do not leave a crash loop behind.
                let _ = self.stop(model).await;
                return Err(ServingError::NotReady {
                    model: model.to_string(),
                    seconds: START_TIMEOUT.as_secs(),
                    detail,
                    log: self.files.output_log(model.as_str()).display().to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Switches a running server to `plan` without dropping requests; on refusal the previous
    /// plan keeps serving and stays recorded.
    pub async fn apply(
        &self,
        model: &ModelName,
        plan: ServingPlan,
    ) -> Result<ServingStatus, ServingError> {
        let status = self.status(model.as_str()).await;
        let endpoint = status
            .endpoint()
            .filter(|_| status.supervisor_alive)
            .ok_or_else(|| ServingError::NotRunning(model.to_string()))?;
        // The plan file is what the supervisor restarts the server with: written once the server
        // has taken the plan, never ahead of it (a process killed in between would leave a file
        // that a later restart applies behind everyone's back).
        let refused = |reason: String| ServingError::Refused {
            model: model.to_string(),
            plan: plan.describe(),
            reason,
        };
        crate::failpoint::pause_if_armed("serving:before-apply");
        let response = self
            .http
            .put(format!("{endpoint}/flightdeck/admin/deployments/{model}"))
            .bearer_auth(self.token()?)
            .json(&plan)
            .send()
            .await;
        let outcome = match response {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                Err(refused(
                    body["error"]
                        .as_str()
                        .unwrap_or("no reason given")
                        .to_string(),
                ))
            }
            Err(e) => Err(ServingError::Unreachable {
                model: model.to_string(),
                reason: e.to_string(),
            }),
        };
        if let Err(ServingError::Unreachable { .. }) = &outcome
            && !status.healthy
        {
            // A server that does not answer while its supervisor lives is crash-looping (a file
            // it cannot load, say): the new plan is served by a new server on the same port,
            // which is how a rollback gets production back.
            tracing::warn!(model = %model, plan = %plan.describe(), "the server does not answer: restarting it with the plan");
            self.stop(model).await?;
            return Box::pin(self.start(model, plan)).await;
        }
        outcome?;
        self.files
            .write_plan(model.as_str(), &plan)
            .map_err(|e| {
                ServingError::Io(format!(
                    "the server serves {} but its plan file could not be written ({e}): a restart would bring back the previous plan",
                    plan.describe()
                ))
            })?;
        Ok(self.status(model.as_str()).await)
    }

    /// Stops a deployment's supervisor and server, and forgets its plan.
    pub async fn stop(&self, model: &ModelName) -> Result<(), ServingError> {
        let name = model.as_str();
        let record = self.files.read_record(name);
        let had_plan = self.files.read_plan(name).is_some();
        let _ = std::fs::remove_file(self.files.plan(name));
        // A stopped deployment's shadow ends with it (`server stop` journals its report first).
        let _ = self.files.remove_shadow(name);
        let Some(record) = record else {
            return if had_plan {
                Ok(())
            } else {
                Err(ServingError::NotRunning(name.to_string()))
            };
        };
        if process::is_flightdeck(record.supervisor_pid) {
            process::terminate(record.supervisor_pid);
            let deadline = Instant::now() + Duration::from_secs(15);
            while process::is_flightdeck(record.supervisor_pid) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // A supervisor killed outright leaves its server behind: stop that too.
        if let Some(pid) = record.server_pid.filter(|p| process::is_flightdeck(*p)) {
            stop_process(pid, Duration::from_secs(10)).await;
        }
        if let Some(port) = record.port {
            let _ = std::fs::write(self.files.last_port(name), port.to_string());
        }
        let _ = std::fs::remove_file(self.files.record(name));
        let _ = std::fs::remove_file(self.files.port(name));
        Ok(())
    }
}
