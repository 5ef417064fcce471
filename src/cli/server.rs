//! `flightdeck server list|start|stop` and the hidden `supervise`: local servers of the `local`
//! environment, which keep running after the command exits.

use super::say;
use clap::Subcommand;

use super::table::{or_dash, render};
use super::{Failure, failure, model_name, parse_version, print_json, program, runtime};
use crate::model::{AliasName, ModelName, ServingPlan, ServingStatus};
use crate::serving::LocalServing;
use crate::settings::Settings;
use crate::store::Actor;
use crate::store::Registry;

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Local servers: what they serve, port, pid, uptime, restarts, health.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Start serving a model in the background (or change what a running server serves).
    Start {
        model: String,
        /// Stable version (default: the production alias, else the latest version).
        #[arg(long, value_parser = parse_version)]
        version: Option<u32>,
        #[arg(long, value_parser = parse_version)]
        canary: Option<u32>,
        #[arg(long, default_value_t = crate::engine::servers::DEFAULT_CANARY_PERCENT, value_parser = clap::value_parser!(u8).range(0..=100))]
        canary_percent: u8,
        #[arg(long)]
        json: bool,
    },
    /// Stop a model's server and its supervisor.
    Stop { model: String },
    /// Stop a model's server and start it again serving the same versions on the same port
    /// (it then reads the config as it is now).
    Restart { model: String },
}

fn serving(settings: &Settings) -> Result<LocalServing, Failure> {
    let env = &settings.environment;
    if env.serving == crate::settings::ServingBackend::Kubernetes {
        return Err(Failure {
            code: 2,
            message: format!(
                "`flightdeck server` runs local servers; environment {:?} serves through KServe on Kubernetes: see `flightdeck --env {} status` or the console's cluster pane, and change serving with deploy, promote, rollback or abort",
                env.name, env.name
            ),
        });
    }
    Ok(LocalServing::new(&settings.data_dir, program()?).with_config(settings.config_path.clone()))
}

/// The stable version when none is named: production, else the newest.
pub fn default_stable(registry: &Registry, model: &ModelName) -> Result<u32, Failure> {
    if let Some(v) = crate::model::version_of(&registry.aliases(model)?, AliasName::PRODUCTION) {
        return Ok(v);
    }
    let versions = registry.versions(model)?;
    versions
        .iter()
        .map(|v| v.version)
        .max()
        .ok_or_else(|| failure(format!("{model} has no versions")))
}

/// The version the canary alias points at, if any.
fn alias_canary(registry: &Registry, model: &ModelName) -> Result<Option<u32>, Failure> {
    Ok(crate::model::version_of(
        &registry.aliases(model)?,
        AliasName::CANARY,
    ))
}

pub fn run(settings: &Settings, actor: &Actor, command: ServerCommand) -> Result<(), Failure> {
    let serving = serving(settings)?;
    match command {
        ServerCommand::List { json } => {
            let servers = runtime()?.block_on(serving.list());
            if json {
                return print_json(&servers);
            }
            print_servers(&servers)?;
            Ok(())
        }
        ServerCommand::Start {
            model,
            version,
            canary,
            canary_percent,
            json,
        } => {
            let model = model_name(&model)?;
            actor.ensure_writable(&format!("start serving {model}"))?;
            let mut registry = super::open(settings)?;
            // In an MLflow environment its aliases say what serves (copied here first); the
            // local registry's aliases are not the registry of record there.
            let mlflow = match (version, &settings.environment.registry) {
                (None, crate::settings::RegistryBackend::Mlflow) => {
                    Some(runtime()?.block_on(mlflow_held(settings, &model))?)
                }
                _ => None,
            };
            let stable = match (version, mlflow) {
                (Some(v), _) => v,
                (None, Some((stable, _))) => stable,
                (None, None) => default_stable(&registry, &model)?,
            };
            // With no version named, the aliases say what to serve: the canary too, at the
            // share the operation that made it gave it (or --canary-percent).
            let plan = match (version, canary) {
                (None, None) => {
                    let canary = match mlflow {
                        Some((_, canary)) => canary,
                        None => alias_canary(&registry, &model)?,
                    };
                    crate::engine::servers::plan_of_aliases(
                        &registry,
                        &model,
                        (stable, canary),
                        canary_percent,
                    )
                }
                _ => ServingPlan {
                    stable,
                    canary,
                    canary_percent: if canary.is_some() { canary_percent } else { 0 },
                },
            };
            let started = runtime()?.block_on(crate::engine::servers::start(
                &serving,
                &mut registry,
                actor,
                &model,
                plan,
            ))?;
            if let Some(why) = &started.unjournaled {
                eprintln!("warning: could not journal server start: {why}");
            }
            let (server, was_running) = (started.status, started.was_running);
            if json {
                return print_json(&server);
            }
            // What the server says it serves, and the difference from what was asked, if any.
            let served = server.serving.unwrap_or(plan);
            say!(
                "{model}: serving {} on {}",
                served.describe(),
                server.endpoint().unwrap_or_default()
            );
            if was_running {
                // Switched in place: the process keeps what it read when it started.
                eprintln!(
                    "note: {model}'s server was running and now serves this in place, with the settings it started with (request log, drift window, thresholds); `flightdeck server stop {model}` then `start` applies the config's"
                );
            }
            if served != plan {
                // It serves, but not what was asked: a failure the caller must see.
                return Err(failure(format!(
                    "asked for {}, but the server serves {} (a version that does not load is left out): see {}",
                    plan.describe(),
                    served.describe(),
                    settings
                        .data_dir
                        .join(format!("logs/serve-{model}.out"))
                        .display()
                )));
            }
            Ok(())
        }
        ServerCommand::Stop { model } => {
            let model = model_name(&model)?;
            let mut registry = super::open(settings)?;
            let stopped = runtime()?.block_on(crate::engine::servers::stop(
                &serving,
                &mut registry,
                actor,
                &model,
            ))?;
            if let Some(r) = stopped.shadow {
                say!(
                    "{model}: the shadow of v{} ended with the server; {}",
                    r.version,
                    crate::engine::shadow::sentence(&r)
                );
            }
            if let Some(e) = stopped.unjournaled {
                eprintln!("warning: the journal does not have this stop: {e}");
            }
            say!("{model}: stopped");
            Ok(())
        }
        ServerCommand::Restart { model } => {
            let model = model_name(&model)?;
            let mut registry = super::open(settings)?;
            let restarted = runtime()?.block_on(crate::engine::servers::restart(
                &serving,
                &mut registry,
                actor,
                &model,
            ))?;
            if let Some(r) = restarted.shadow {
                say!(
                    "{model}: the shadow of v{} ended with the old server; {}",
                    r.version,
                    crate::engine::shadow::sentence(&r)
                );
            }
            if let Some(e) = restarted.unjournaled {
                eprintln!("warning: the journal does not have this restart: {e}");
            }
            let server = restarted.status;
            say!(
                "{model}: restarted, serving {} on {}",
                server.serving.unwrap_or(server.plan).describe(),
                server.endpoint().unwrap_or_default()
            );
            Ok(())
        }
    }
}

fn print_servers(servers: &[ServingStatus]) -> Result<(), Failure> {
    if servers.is_empty() {
        say!("no local servers; start one with `flightdeck server start MODEL`");
        return Ok(());
    }
    let now = chrono::Utc::now();
    let rows: Vec<Vec<String>> = servers
        .iter()
        .map(|s| {
            let r = s.record.as_ref();
            // Not running: no uptime and no pid, whatever the last record says.
            let running = s.supervisor_alive || s.healthy;
            let uptime = r
                .filter(|_| running)
                .map(|r| (now - r.started_at).num_seconds().max(0))
                .map(|secs| format!("{}m{:02}s", secs / 60, secs % 60));
            vec![
                s.model.clone(),
                s.serving
                    .map(|p| p.describe())
                    .unwrap_or_else(|| format!("({} planned)", s.plan.describe())),
                or_dash(s.endpoint()),
                or_dash(r.filter(|_| running).and_then(|r| r.server_pid)),
                or_dash(uptime),
                r.map(|r| r.restarts.to_string())
                    .unwrap_or_else(|| "-".into()),
                if s.healthy {
                    s.problem.clone().unwrap_or_else(|| "ok".into())
                } else {
                    s.problem.clone().unwrap_or_else(|| "down".into())
                },
            ]
        })
        .collect();
    say!(
        "{}",
        render(
            &[
                "MODEL", "SERVING", "ENDPOINT", "PID", "UPTIME", "RESTARTS", "HEALTH"
            ],
            &rows
        )
    );
    Ok(())
}

/// The hidden `flightdeck supervise MODEL`, run by `server start` in the background.
pub fn supervise(settings: &Settings, model: &str, port: Option<u16>) -> Result<(), Failure> {
    let model = model_name(model)?;
    let program = program()?;
    runtime()?
        .block_on(crate::serving::supervisor::supervise(
            &settings.data_dir,
            model.as_str(),
            &program,
            port,
            settings.config_path.as_deref(),
        ))
        .map_err(failure)
}

/// MLflow's champion and challenger of `model`, both copied into the local registry (as a
/// deploy copies them) so local servers can load them.
async fn mlflow_held(
    settings: &crate::settings::Settings,
    model: &crate::model::ModelName,
) -> Result<(u32, Option<u32>), Failure> {
    use crate::engine::ops::OpRegistry;
    let mlflow = super::mlflow_copies::registry(settings, &program()?)?;
    let held = mlflow.held(model).await?;
    let stable = held.production.ok_or_else(|| {
        failure(format!(
            "MLflow has no {} for {model}: deploy one first (`flightdeck --env {} deploy {model} VERSION --direct`)",
            settings.environment.mlflow_production_alias, settings.environment.name
        ))
    })?;
    for version in std::iter::once(stable).chain(held.canary) {
        super::mlflow_copies::copy(&mlflow, model, version, 1).await?;
    }
    Ok((stable, held.canary))
}

/// The endpoint of the local server running `model`, or a failure saying none runs and how to
/// start one (`why` adds what the caller needed it for).
pub(super) async fn running_endpoint(
    serving: &LocalServing,
    model: &crate::model::ModelName,
    why: &str,
) -> Result<String, Failure> {
    let status = serving.status(model.as_str()).await;
    status
        .endpoint()
        .filter(|_| status.supervisor_alive || status.healthy)
        .ok_or_else(|| {
            failure(format!(
                "no local server runs {model}{why}; start one with `flightdeck server start {model}`"
            ))
        })
}
