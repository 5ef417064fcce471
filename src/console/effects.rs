//! The effect executor: each effect `update` asks for starts in the background, and its answer
//! comes back to the loop as a message tagged with the environment it was asked in.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::mpsc::UnboundedSender;

use crate::app::Effect;
use crate::app::msg::{FleetData, Msg};
use crate::app::state::CheckOutcome;
use crate::settings::Settings;
use crate::sources::Sources;
use crate::store::Registry;

/// The background context for another configured environment: its sources, and operations
/// acting as the same user there (with that environment's read-only and rollback settings).
pub fn open_environment(
    settings: &Settings,
    name: &str,
    current: &Background,
) -> Result<Background, String> {
    let env = settings
        .environments
        .get(name)
        .ok_or_else(|| format!("no environment {name:?} in the config"))?;
    let timeout = Duration::from_millis(settings.refresh.source_timeout_ms);
    let mut next = current.clone();
    next.replies = current.replies.next_generation();
    next.sources = crate::sources::factory::for_environment(
        env,
        &settings.data_dir,
        current.ops.program.clone(),
        timeout,
        settings.thresholds.drift(),
    )?;
    next.ops.operator =
        crate::engine::ops::Operator::for_environment(settings, env, current.ops.program.clone())?;
    next.ops.local_serving = env.serving == crate::settings::ServingBackend::Local;
    Ok(next)
}

/// What operations need: the environment's operator, and the demo's tour hook.
#[derive(Clone)]
pub struct OpContext {
    pub on_guide_step: Option<Arc<dyn Fn(usize) + Send + Sync>>,
    /// Plans and runs every operation (the same engine code as the CLI's).
    pub operator: crate::engine::ops::Operator,
    /// The flightdeck executable smoke tests and evaluations start servers with.
    pub program: PathBuf,
    /// Who hears of a rollout started, paused or resumed here (`[[receivers]]`).
    pub receivers: Vec<crate::model::Receiver>,
    /// Whether the environment's models are served by local servers (which alone can shadow).
    pub local_serving: bool,
    /// The config file servers started from here read (`--config`).
    pub config: Option<PathBuf>,
}

/// Stops or restarts a local server through the engine (which journals it).
async fn server(
    ctx: OpContext,
    model: String,
    command: crate::app::effect::ServerCommand,
) -> Result<String, String> {
    use crate::app::effect::ServerCommand;
    let name = crate::model::ModelName::new(&model).map_err(|e| e.to_string())?;
    if !ctx.local_serving {
        return Err(format!(
            "{model} is served on Kubernetes: its pods are the cluster's to restart"
        ));
    }
    let op = &ctx.operator;
    let (data_dir, program, config) = (op.data_dir(), ctx.program.clone(), ctx.config.clone());
    let (mut said, shadow, unjournaled) = match command {
        ServerCommand::Start => {
            // What the registry of record's aliases say (MLflow's in an MLflow environment).
            let held = op.held(&name).await.map_err(|e| e.to_string())?;
            let Some(production) = held.production else {
                return Err(format!(
                    "{model} has no production version to serve: deploy one first (d)"
                ));
            };
            let started = crate::engine::servers::start_local(
                data_dir,
                program,
                config,
                op.actor(),
                &name,
                (production, held.canary),
            )
            .await
            .map_err(|e| e.to_string())?;
            (
                format!("{model}'s server started: {}", serves(&started.status)),
                None,
                started.unjournaled,
            )
        }
        ServerCommand::Stop => {
            let stopped =
                crate::engine::servers::stop_local(data_dir, program, config, op.actor(), &name)
                    .await
                    .map_err(|e| e.to_string())?;
            (
                format!(
                    "{model}'s server stopped (it served {}); s in :server (or `flightdeck server start {model}`) starts it again",
                    stopped.plan.describe()
                ),
                stopped.shadow,
                stopped.unjournaled,
            )
        }
        ServerCommand::Restart => {
            let restarted =
                crate::engine::servers::restart_local(data_dir, program, config, op.actor(), &name)
                    .await
                    .map_err(|e| e.to_string())?;
            (
                format!("{model}'s server restarted: {}", serves(&restarted.status)),
                restarted.shadow,
                restarted.unjournaled,
            )
        }
    };
    if let Some(r) = shadow {
        said.push_str(&format!(
            "; the shadow of v{} ended with it, its report journaled",
            r.version
        ));
    }
    if let Some(e) = unjournaled {
        said.push_str(&format!("; not journaled: {e}"));
    }
    Ok(said)
}

/// "v1 on http://127.0.0.1:PORT": what a server answers it serves, and where.
fn serves(status: &crate::model::ServingStatus) -> String {
    format!(
        "{} on {}",
        status.serving.unwrap_or(status.plan).describe(),
        status.endpoint().unwrap_or_default()
    )
}

/// Starts or stops a shadow through the engine (which journals it).
async fn shadow(
    ctx: OpContext,
    model: String,
    command: crate::app::effect::ShadowCommand,
) -> Result<String, String> {
    use crate::app::effect::ShadowCommand;
    let name = crate::model::ModelName::new(&model).map_err(|e| e.to_string())?;
    if !ctx.local_serving {
        return Err(format!(
            "{model} is served on KServe, which has no traffic mirror: `flightdeck replay {model} VERSION` tests a candidate on logged requests instead"
        ));
    }
    let op = &ctx.operator;
    let program = ctx.program.clone();
    match command {
        ShadowCommand::Start { version, percent } => {
            let started = crate::engine::shadow::start_local(
                op.data_dir(),
                program,
                op.actor(),
                &name,
                version,
                percent,
            )
            .await
            .map_err(|e| e.to_string())?;
            let replaced = started
                .replaced
                .map(|r| format!(" (v{}'s shadow stopped, its report journaled)", r.version))
                .unwrap_or_default();
            Ok(format!(
                "shadow of {model} started: v{version} answers a copy of {percent}% of production v{}'s requests, off the response path{replaced}; S again stops it",
                started.report.versus
            ))
        }
        ShadowCommand::Stop => {
            let report =
                crate::engine::shadow::stop_local(op.data_dir(), program, op.actor(), &name)
                    .await
                    .map_err(|e| e.to_string())?;
            Ok(format!(
                "shadow of {model} stopped: {}",
                crate::engine::shadow::sentence(&report)
            ))
        }
    }
}

/// Keeps a logged request as a sentinel case (the engine journals it).
fn keep_sentinel(
    ctx: &OpContext,
    model: &str,
    entry: &crate::model::LoggedRequest,
) -> Result<String, String> {
    let name = crate::model::ModelName::new(model).map_err(|e| e.to_string())?;
    let op = &ctx.operator;
    let mut registry = Registry::open(op.data_dir()).map_err(|e| e.to_string())?;
    let kept = crate::engine::logged_sentinel::keep(&mut registry, op.actor(), &name, entry, None)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "{model} v{}: sentinel case {:?} added ({} cases now); every smoke test of v{} asks it again",
        kept.version, kept.case, kept.cases, kept.version
    ))
}

/// Plans an operation with everything its preview shows, every gate included (a missing smoke
/// test runs now, its steps reported as progress).
async fn plan_operation(
    ctx: OpContext,
    model: String,
    request: crate::engine::ops::OpRequest,
    replies: Replies,
) -> Result<Box<crate::engine::ops::OpPlan>, String> {
    let name = crate::model::ModelName::new(&model).map_err(|e| e.to_string())?;
    let progress = |step: &crate::model::Step| {
        replies.send(Msg::Progress { step: step.clone() });
    };
    ctx.operator
        .plan(
            &name,
            request,
            crate::engine::ops::PlanOptions::default(),
            &progress,
        )
        .await
        .map(Box::new)
        .map_err(|e| e.to_string())
}

/// Plans finishing or reverting an interrupted operation, for the same dialog as any operation.
async fn plan_recovery(
    ctx: OpContext,
    model: String,
    how: crate::engine::ops::Recovery,
) -> Result<Box<crate::engine::ops::OpPlan>, String> {
    let name = crate::model::ModelName::new(&model).map_err(|e| e.to_string())?;
    ctx.operator
        .recovery_plan(&name, how)
        .await
        .map(Box::new)
        .map_err(|e| e.to_string())
}

/// Starts, pauses or resumes a rollout. A start moves nothing: the console hands the canary at
/// the share it serves, and `watch` judges it from there.
async fn rollout(
    ctx: OpContext,
    model: String,
    command: crate::app::effect::RolloutCommand,
) -> Result<String, String> {
    use crate::app::effect::RolloutCommand;
    use crate::engine::rollout;
    let name = crate::model::ModelName::new(&model).map_err(|e| e.to_string())?;
    let op = &ctx.operator;
    let event = match command {
        RolloutCommand::Pause => rollout::pause(op, &name),
        RolloutCommand::Resume => rollout::resume(op, &name),
        RolloutCommand::Start {
            version,
            steps,
            interval_seconds,
        } => {
            let options = crate::engine::ops::PlanOptions::default();
            let planned = rollout::plan_start(
                op,
                &name,
                version,
                steps,
                interval_seconds,
                options,
                &|_| {},
            )
            .await
            .map_err(|e| e.to_string())?;
            if planned.first.is_some() {
                return Err(format!(
                    "v{version}'s share changed meanwhile; nothing was started, press R again"
                ));
            }
            let consent = crate::engine::ops::Consent::default();
            rollout::start(op, planned, consent).await.map(|(_, e)| e)
        }
    }
    .map_err(|e| e.to_string())?;
    let missed = rollout::tell(&ctx.receivers, &event).await;
    let missed = if missed.is_empty() {
        String::new()
    } else {
        format!(" (not told: {})", missed.join("; "))
    };
    Ok(match event.kind {
        rollout::RolloutEventKind::Started => format!("{}{missed}", event.sentence),
        kind => format!(
            "rollout of {model} {}: {}{missed}",
            kind.as_str(),
            event.sentence
        ),
    })
}

/// Runs a confirmed plan with the consent the user gave in the dialog.
async fn run_operation(
    ctx: OpContext,
    planned: Box<crate::engine::ops::OpPlan>,
    consent: crate::engine::ops::Consent,
) -> Result<String, String> {
    let outcome = ctx
        .operator
        .run(&planned, consent)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "{} {}: done; {}",
        outcome.operation, outcome.model, outcome.sentence
    ))
}

/// What background work needs; each task takes a clone.
#[derive(Clone)]
pub struct Background {
    pub replies: Replies,
    /// Where every pane's data comes from (the environment's backends).
    pub sources: Sources,
    /// The data dir smoke tests and evaluations keep their reports in.
    pub data_dir: PathBuf,
    pub started: Instant,
    pub ops: OpContext,
}

/// A background answer and the environment generation it was asked in.
#[derive(Debug)]
pub struct Reply {
    pub generation: u64,
    pub msg: Msg,
}

impl Reply {
    /// Whether the loop should drop this answer: a read of an environment the console has
    /// switched away from would show the old environment's data in the new one. Operations and
    /// checks started there are still reported (they ran; the user should hear how).
    pub fn is_stale(&self, generation: u64) -> bool {
        self.generation != generation && self.msg.is_read()
    }
}

/// Sends answers tagged with the generation of the environment they were asked in.
#[derive(Clone)]
pub struct Replies {
    tx: UnboundedSender<Reply>,
    generation: u64,
}

impl Replies {
    pub fn new(tx: UnboundedSender<Reply>) -> Self {
        Self { tx, generation: 0 }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The same channel for the next environment.
    fn next_generation(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            generation: self.generation + 1,
        }
    }

    pub fn send(&self, msg: Msg) {
        // The loop is gone only when the console is quitting: nobody is left to tell.
        let _ = self.tx.send(Reply {
            generation: self.generation,
            msg,
        });
    }
}

/// A smoke test (no `data`) or an evaluation on `data`, reporting each step as a message.
async fn run_check(
    data_dir: PathBuf,
    program: PathBuf,
    replies: Replies,
    model: String,
    version: u32,
    data: Option<PathBuf>,
    record: bool,
) -> Result<CheckOutcome, String> {
    let name = crate::model::ModelName::new(&model).map_err(|e| e.to_string())?;
    let mut registry = Registry::open(&data_dir).map_err(|e| e.to_string())?;
    let progress = |step: &crate::model::Step| {
        replies.send(Msg::Progress { step: step.clone() });
    };
    match data {
        None => crate::engine::smoke::smoke(
            &mut registry,
            &program,
            &name,
            version,
            &crate::engine::smoke::SmokeOptions {
                record,
                ..crate::engine::smoke::SmokeOptions::default()
            },
            &progress,
        )
        .await
        .map(CheckOutcome::Smoke),
        Some(data) => crate::engine::evaluate::evaluate(
            &mut registry,
            &program,
            &name,
            version,
            &data,
            crate::engine::evaluate::EvaluateOptions {
                label: None,
                ignore: &[],
                record,
                baseline: crate::engine::evaluate::Baseline::LocalProduction,
                categories: &std::collections::BTreeMap::new(),
            },
            &progress,
        )
        .await
        .map(|e| CheckOutcome::Evaluation(Box::new(e))),
    }
    .map_err(|e| e.to_string())
}

/// The newest `n` lines of a log file (its last 256 KB read, whatever its size).
fn tail_lines(path: &std::path::Path, n: usize) -> Result<Vec<String>, String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no {} yet: a local server started here writes it (on KServe, `kubectl logs` the predictor's pods)",
            path.display()
        ),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = size.saturating_sub(256 * 1024);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // A read from the middle of the file starts with a cut line.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines.split_off(skip))
}

/// Starts an effect in the background; its result comes back as a message.
pub fn perform(effect: Effect, background: &Background) {
    let bg = background.clone();
    match effect {
        // Handled by the run loop, which owns the background context.
        Effect::SwitchEnvironment { .. } | Effect::ReadEnvironment { .. } | Effect::Quit => {}
        Effect::GuideStep(step) => {
            if let Some(hook) = &bg.ops.on_guide_step {
                hook(step);
            }
        }
        Effect::FetchFleet => {
            tokio::spawn(read_fleet(bg));
        }
        Effect::PlanRecovery { model, how } => {
            tokio::spawn(async move {
                let result = plan_recovery(bg.ops, model, how).await;
                bg.replies.send(Msg::OpPlanned { result });
            });
        }
        Effect::PlanOp { model, request } => {
            tokio::spawn(async move {
                let result = plan_operation(bg.ops, model, request, bg.replies.clone()).await;
                bg.replies.send(Msg::OpPlanned { result });
            });
        }
        Effect::Rollout { model, command } => {
            tokio::spawn(async move {
                let result = rollout(bg.ops, model, command).await;
                bg.replies.send(Msg::OpFinished { result });
            });
        }
        Effect::RunOp { plan, consent } => {
            tokio::spawn(async move {
                let result = run_operation(bg.ops, plan, consent).await;
                bg.replies.send(Msg::OpFinished { result });
            });
        }
        Effect::Smoke { model, version } => {
            tokio::spawn(check(bg, model, version, None));
        }
        Effect::Evaluate {
            model,
            version,
            data,
        } => {
            tokio::spawn(check(bg, model, version, Some(PathBuf::from(data))));
        }
        Effect::FetchVersions { model } => {
            tokio::spawn(async move {
                let result = bg.sources.registry.versions(model.clone()).await;
                let at = Utc::now();
                bg.replies.send(Msg::VersionsFetched { model, at, result });
            });
        }
        Effect::FetchHistory { model, range } => {
            tokio::spawn(async move {
                let step = range.bucket_seconds() as u32;
                let seconds = range.points() as u32 * step;
                let history = bg.sources.metrics.history(model.clone(), seconds, step);
                let result = history.await;
                bg.replies.send(Msg::HistoryFetched {
                    model,
                    range,
                    result,
                });
            });
        }
        Effect::FetchRequests { model, search } => {
            tokio::spawn(async move {
                let dir = bg.data_dir.clone();
                let wanted = model.clone();
                let needle = search.clone();
                // No log (it is off by default) reads as no entries: the pane says how to
                // turn it on.
                let result = tokio::task::spawn_blocking(move || {
                    use crate::store::request_log;
                    match &needle {
                        Some(n) => {
                            request_log::search(&dir, &wanted, n, crate::app::requests::SHOWN)
                        }
                        None => {
                            request_log::newest(&dir, &wanted, crate::app::requests::SHOWN, |_| {
                                true
                            })
                        }
                    }
                    .entries
                })
                .await
                .map_err(|e| e.to_string());
                let at = Utc::now();
                bg.replies.send(Msg::RequestsFetched {
                    model,
                    at,
                    result,
                    search,
                });
            });
        }
        Effect::KeepSentinel { model, entry } => {
            tokio::task::spawn_blocking(move || {
                let result = keep_sentinel(&bg.ops, &model, &entry);
                bg.replies.send(Msg::OpFinished { result });
            });
        }
        Effect::Server { model, command } => {
            tokio::spawn(async move {
                let result = server(bg.ops.clone(), model, command).await;
                bg.replies.send(Msg::OpFinished { result });
            });
        }
        Effect::Shadow { model, command } => {
            tokio::spawn(async move {
                let result = shadow(bg.ops.clone(), model, command).await;
                bg.replies.send(Msg::OpFinished { result });
            });
        }
        Effect::FetchLog { model, file } => {
            tokio::task::spawn_blocking(move || {
                let path = bg.data_dir.join(file.path(&model));
                let result = tail_lines(&path, crate::app::logs::TAIL);
                bg.replies.send(Msg::LogFetched {
                    model,
                    file,
                    result,
                });
            });
        }
        Effect::FetchJournal { model } => {
            tokio::spawn(async move {
                let result = bg.sources.registry.journal(model.clone(), 200).await;
                let at = Utc::now();
                bg.replies.send(Msg::JournalFetched { model, at, result });
            });
        }
        Effect::FetchDrift { model, endpoint } => {
            tokio::spawn(async move {
                let result = bg.sources.drift.drift(model.clone(), endpoint).await;
                let at = Utc::now();
                bg.replies.send(Msg::DriftFetched { model, at, result });
            });
        }
        Effect::Scrape { model, endpoint } => {
            tokio::spawn(scrape(bg, model, endpoint));
        }
    }
}

/// The registry shows at once; the servers follow when each has answered or timed out.
async fn read_fleet(bg: Background) {
    let result = bg.sources.registry.fleet_if_changed().await;
    let read = result.is_ok();
    let at = Utc::now();
    bg.replies.send(match result {
        Ok(None) => Msg::FleetUnchanged { at },
        Ok(Some(view)) => Msg::FleetFetched {
            at,
            result: Ok(FleetData {
                models: view.models,
                servers: None,
                interrupted: view.interrupted,
                rollouts: view.rollouts,
            }),
        },
        Err(e) => Msg::FleetFetched { at, result: Err(e) },
    });
    if read {
        let servers = bg.sources.cluster.servers().await;
        bg.replies.send(Msg::ServersListed {
            servers,
            problem: bg.sources.cluster.problem(),
            known_at: bg.sources.cluster.known_at(),
        });
    }
}

/// A smoke test (no `data`) or an evaluation; a read-only environment runs it and stores nothing.
async fn check(bg: Background, model: String, version: u32, data: Option<PathBuf>) {
    let record = !bg.ops.operator.actor().read_only;
    let result = run_check(
        bg.data_dir,
        bg.ops.program,
        bg.replies.clone(),
        model,
        version,
        data,
        record,
    )
    .await;
    bg.replies.send(Msg::CheckFinished { result });
}

/// One read of a model's serving counters, stamped with the console's clock.
async fn scrape(bg: Background, model: String, endpoint: String) {
    let result = bg
        .sources
        .metrics
        .scrape(model.clone(), endpoint.clone())
        .await;
    let monotonic = bg.started.elapsed().as_secs_f64();
    bg.replies.send(Msg::MetricsScraped {
        model,
        endpoint,
        monotonic,
        at: Utc::now(),
        result,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(generation: u64, msg: Msg) -> Reply {
        Reply { generation, msg }
    }

    #[test]
    fn reads_of_a_left_environment_are_dropped_and_operations_still_reported() {
        let listed = || Msg::ServersListed {
            servers: Vec::new(),
            problem: None,
            known_at: None,
        };
        assert!(!reply(1, listed()).is_stale(1));
        assert!(reply(0, listed()).is_stale(1));
        let planned = Msg::OpPlanned {
            result: Err("x".into()),
        };
        assert!(
            reply(0, planned).is_stale(1),
            "a plan for the old environment must not open"
        );
        let finished = Msg::OpFinished {
            result: Ok("deploy fraud: done".into()),
        };
        assert!(!reply(0, finished).is_stale(1));
        let progress = Msg::Progress {
            step: crate::model::Step::new("x"),
        };
        assert!(!reply(0, progress).is_stale(1));
    }
}
