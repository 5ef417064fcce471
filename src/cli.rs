//! The command line: argument definitions, settings resolution and dispatch to the engine.
//! Each subcommand prints a human table or, with `--json`, machine-readable output.

mod alerts;
mod alias;
mod backup;
mod bench;
mod bench_console;
mod completions;
mod confusion;
mod demo;
mod evaluate;
mod feedback;
mod journal;
mod listing;
mod mlflow_copies;
mod ops;
mod progress;
mod register;
mod replay;
mod requests;
mod rollout;
pub mod serve;
mod server;
mod shadow;
mod silence;
mod smoke;
mod table;
mod views;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::EngineError;
use crate::model::ModelName;
use crate::settings::{Overrides, RegistryBackend, Settings};
use crate::store::Actor;
use crate::store::Registry;

#[derive(Debug, Parser)]
#[command(
    name = "flightdeck",
    version,
    about = "Operations console for machine-learning models in production"
)]
pub struct Cli {
    /// Config file (default: the XDG config dir's flightdeck/config.toml, if present).
    #[arg(long, global = true, env = "FLIGHTDECK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory holding the registry, artifacts and logs.
    #[arg(long, global = true, env = "FLIGHTDECK_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Environment to act on (default: the config's default_environment, else `local`).
    #[arg(long = "env", global = true, value_name = "NAME")]
    pub environment: Option<String>,
    /// Refuse every change, whatever the environment allows.
    #[arg(long, global = true)]
    pub readonly: bool,
    /// Console theme: dark, light, ansi16, mono or terminal (NO_COLOR forces mono).
    #[arg(long, global = true, value_name = "NAME", value_parser = ["dark", "light", "ansi16", "mono", "terminal"])]
    pub theme: Option<String>,
    /// Plain ASCII borders and symbols in the console.
    #[arg(long, global = true)]
    pub ascii: bool,
    /// Without a command, flightdeck opens the console.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the console (the default when no command is given).
    Console,
    /// A first deployment on this machine: real models, real traffic, a real incident.
    Demo(demo::DemoArgs),
    /// Register an ONNX model file as a new version (or return the version it already is).
    Register(register::RegisterArgs),
    /// List registered models with their aliases.
    Models {
        #[arg(long)]
        json: bool,
    },
    /// List a model's versions, aliased versions first.
    Versions {
        model: String,
        #[arg(long)]
        json: bool,
    },
    /// Deploy a version as a canary (default 10%) or, with --direct, straight to production.
    Deploy(ops::DeployArgs),
    /// Make the canary production, at 100% of traffic.
    Promote(ops::ModelOpArgs),
    /// Put the previous (or --to) production version back; any canary is removed.
    Rollback(ops::RollbackArgs),
    /// Remove the canary; production is untouched.
    Abort(ops::ModelOpArgs),
    /// Smoke-test a version on a throwaway local server (or --endpoint): load, signature,
    /// sentinels, finite outputs, probabilities, latency. Exit 2 when it fails.
    Smoke(smoke::SmokeArgs),
    /// Finish or revert an operation that a killed process left half done.
    Recover(ops::RecoverArgs),
    /// Compare a version with production on a labelled CSV (accuracy, AUC, log loss; MAE, RMSE).
    Evaluate(evaluate::EvaluateArgs),
    /// Show or move aliases (production, canary, or any name).
    #[command(subcommand)]
    Alias(alias::AliasCommand),
    /// Show the journal of changes and operations, newest first.
    Journal {
        /// Only entries about this model.
        #[arg(long)]
        model: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Serve a model over HTTP (Open Inference Protocol V2, KServe V1, /metrics) in the foreground.
    Serve(serve::ServeArgs),
    /// Local servers that keep running in the background, under a supervisor.
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// Run one model's supervisor (started by `server start`).
    #[command(hide = true)]
    Supervise {
        model: String,
        /// Listen on this port from the first start (a server taken over keeps its port).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Fleet status: what each model serves, request rate, p99, errors, drift, alerts.
    Status(views::StatusArgs),
    /// Per-feature drift of a served model's live inputs against its baseline.
    Drift(views::DriftArgs),
    /// Judge the alert rules every few seconds, headless, and say each alert that fires or
    /// resolves (journaled).
    Watch(watch::WatchArgs),
    /// Hand a canary to `flightdeck watch`: it takes the next traffic step while the promote
    /// gates pass, aborts when one fails (--pause, --resume, --abort by hand).
    Rollout(rollout::RolloutArgs),
    /// Keep a model's alerts from the receivers for a while, with a reason (or --lift).
    Silence(silence::SilenceArgs),
    /// The alert rules in force, and the same as Prometheus alerting rules.
    Alerts {
        #[command(subcommand)]
        command: alerts::AlertsCommand,
    },
    /// The requests a local model server logged with their answers (`[request_log] rate`): the
    /// newest, one by --id, --failed ones.
    Requests(requests::RequestsArgs),
    /// Send logged requests another version answered to VERSION on a throwaway server and
    /// compare its answers with the logged ones (agreement, confusion, score differences).
    Replay(replay::ReplayArgs),
    /// Run VERSION on a copy of a share of production's requests in the local model server and
    /// compare its answers (no client sees them); without VERSION, how it compares; --stop.
    Shadow(shadow::ShadowArgs),
    /// Send labels for answers already given (request id and label per row, CSV or Parquet):
    /// the server joins them into each version's live accuracy.
    Feedback(feedback::FeedbackArgs),
    /// Print the console's fleet view as plain text (for incident channels).
    Snapshot(views::SnapshotArgs),
    /// Measure how fast the runtime loads and runs a model, per call, at given batch sizes.
    Bench(bench::BenchArgs),
    /// Measure the console on a synthetic fleet (1,000 models x 20 versions x 20 features).
    BenchConsole(bench_console::BenchConsoleArgs),
    /// Write a consistent copy of the registry (versions, aliases, reports, journal) to FILE.
    Backup(backup::BackupArgs),
    /// Replace the registry with a copy written by `flightdeck backup`.
    Restore(backup::RestoreArgs),
    /// Shell completions (subcommands, flags, values) for bash, zsh, fish, elvish or
    /// powershell, on standard output: `flightdeck completions bash > /etc/bash_completion.d/flightdeck`.
    Completions { shell: clap_complete::Shell },
    /// The manual page, as roff on standard output: `flightdeck man | man -l -`.
    Man,
    /// Print the resolved settings and where they came from.
    Config {
        #[arg(long)]
        json: bool,
    },
}

/// A failure with the exit code it maps to.
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    /// The reader of stdout went away (`flightdeck journal | head`): end quietly with the
    /// status a shell gives a process a closed pipe stopped (128 + SIGPIPE), as `ls | head` does.
    fn closed_pipe() -> Self {
        Failure {
            message: String::new(),
            code: 141,
        }
    }
}

/// Writes a line to stdout; a closed pipe ends the command quietly instead of a panic.
pub(crate) fn write_line(args: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::closed_pipe()),
        Err(e) => Err(failure(format!("cannot write the output: {e}"))),
    }
}

/// `println!` for commands: a closed stdout is a quiet end (see [`write_line`]), not a panic.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::write_line(format_args!($($arg)*))?
    };
}
pub(crate) use say;

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure {
            code: e.exit_code() as u8,
            message: e.to_string(),
        }
    }
}

impl From<crate::settings::ConfigError> for Failure {
    fn from(e: crate::settings::ConfigError) -> Self {
        Failure {
            code: 1,
            message: e.to_string(),
        }
    }
}

/// Runs a parsed command line; prints errors to stderr and returns the exit code.
pub fn run(cli: Cli) -> ExitCode {
    // What flightdeck creates (the data dir, the registry, artifacts, logs, reports) is the
    // user's own: models and their reference data can be private, so no group or world access.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("error: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), Failure> {
    let command = cli.command.unwrap_or(Command::Console);
    // Benchmarks touch no settings or data dir, so they run anywhere; the demo makes its own.
    match command {
        Command::Bench(args) => return bench::run(args),
        Command::BenchConsole(args) => return bench_console::run(args),
        Command::Demo(args) => return demo::run(args),
        // Generated from the command line's own definition: nothing to read first.
        Command::Completions { shell } => return completions::print(shell),
        Command::Man => return completions::man(),
        _ => {}
    }
    let overrides = Overrides {
        config: cli.config,
        data_dir: cli.home,
        environment: cli.environment,
        read_only: cli.readonly,
        theme: cli.theme,
        ascii: cli.ascii,
    };
    let settings = Settings::load(&overrides)?;
    crate::clients::answer::set_limit(
        usize::try_from(settings.refresh.max_answer_mb.saturating_mul(1024 * 1024))
            .unwrap_or(usize::MAX),
    );
    let log_file = match &command {
        Command::Serve(args) => match &args.log_as {
            Some(name) => format!("{}.log", name.replace(['/', '\\'], "_")),
            None => format!("serve-{}.log", args.model.replace(['/', '\\'], "_")),
        },
        Command::Supervise { model, .. } => {
            format!("supervise-{}.log", model.replace(['/', '\\'], "_"))
        }
        _ => "flightdeck.log".to_string(),
    };
    let _log_guard = crate::logging::init(&settings.data_dir, &log_file);
    tracing::info!(command = ?command, data_dir = %settings.data_dir.display(), "flightdeck started");
    let actor = Actor::new(settings.user.clone(), settings.environment.name.clone())
        .with_read_only(settings.environment.read_only);
    match command {
        Command::Bench(_)
        | Command::BenchConsole(_)
        | Command::Demo(_)
        | Command::Completions { .. }
        | Command::Man => Ok(()),
        Command::Console => console(&settings),
        Command::Smoke(args) => smoke::run(&settings, args),
        Command::Evaluate(args) => evaluate::run(&settings, args),
        Command::Deploy(args) => ops::deploy(&settings, &actor, args),
        Command::Promote(args) => ops::promote(&settings, &actor, args),
        Command::Rollback(args) => ops::rollback(&settings, &actor, args),
        Command::Abort(args) => ops::abort(&settings, &actor, args),
        Command::Recover(args) => ops::recover(&settings, &actor, args),
        Command::Status(args) => views::status(&settings, args),
        Command::Drift(args) => views::drift(&settings, args),
        Command::Alerts { command } => alerts::run(&settings, command),
        Command::Watch(args) => watch::run(&settings, &actor, args),
        Command::Silence(args) => silence::run(&settings, &actor, args),
        Command::Rollout(args) => rollout::run(&settings, &actor, args),
        Command::Feedback(args) => feedback::run(&settings, args),
        Command::Requests(args) => requests::run(&settings, &actor, args),
        Command::Replay(args) => replay::run(&settings, args),
        Command::Shadow(args) => shadow::run(&settings, &actor, args),
        Command::Snapshot(args) => views::snapshot(&settings, args),
        Command::Serve(args) => serve::run(&settings, args),
        Command::Server(command) => server::run(&settings, &actor, command),
        Command::Supervise { model, port } => server::supervise(&settings, &model, port),
        Command::Config { json } => listing::print_settings(&settings, json),
        Command::Backup(args) => backup::backup(&settings, args),
        Command::Restore(args) => backup::restore(&settings, &actor, args),
        Command::Register(args) => register::run(&settings, &actor, args),
        // An MLflow environment lists MLflow's models and versions, as its console does.
        Command::Models { json } if settings.environment.registry == RegistryBackend::Mlflow => {
            listing::remote_models(&settings, json)
        }
        Command::Models { json } => listing::models(&open(&settings)?, json),
        Command::Versions { model, json }
            if settings.environment.registry == RegistryBackend::Mlflow =>
        {
            listing::remote_versions(&settings, &model_name(&model)?, json)
        }
        Command::Versions { model, json } => {
            listing::versions(&open(&settings)?, &model_name(&model)?, json)
        }
        // MLflow's aliases are its registry's: moved by the operations path (which keeps the
        // previous champion for rollback), or in MLflow itself. Writing the local registry's
        // instead would say "done" while nothing that serves changed.
        Command::Alias(_) if settings.environment.registry == RegistryBackend::Mlflow => {
            Err(Failure {
                code: 1,
                message: format!(
                    "environment {} keeps its aliases in MLflow ({}): move them with deploy, promote, rollback or abort (their gates and journal apply), and see them with `flightdeck --env {} versions MODEL` or in MLflow",
                    settings.environment.name,
                    settings
                        .environment
                        .mlflow_url
                        .as_deref()
                        .unwrap_or("its mlflow_url"),
                    settings.environment.name
                ),
            })
        }
        Command::Alias(command) => alias::run(&mut open(&settings)?, &actor, command),
        Command::Journal { model, limit, json } => {
            journal::run(&open(&settings)?, model, limit, json)
        }
    }
}

/// Opens the console on the settings' environment.
fn console(settings: &Settings) -> Result<(), Failure> {
    let program = program()?;
    let runtime = multi_thread_runtime()?;
    let result = runtime.block_on(crate::console::run(settings, program));
    // Fetches still waiting on a hung backend must not hold the exit: abandon them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    result.map_err(failure)
}

/// A failure that exits with code 1: the message says what went wrong and what to do.
/// Asks `question` on stderr and reads the answer from the terminal; without a terminal to ask
/// on, `--yes` is required to `what` (run, restore) without a prompt.
fn ask(question: &str, what: &str) -> Result<String, Failure> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(failure(format!(
            "not confirmed: no terminal to ask on; add --yes to {what} without a prompt"
        )));
    }
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(failure)?;
    Ok(answer)
}

fn failure(message: impl ToString) -> Failure {
    Failure {
        code: 1,
        message: message.to_string(),
    }
}

/// The runtime for a command that waits on one thing at a time.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failure(format!("cannot start the async runtime: {e}")))
}

/// The runtime for a command that serves or draws while background work runs (two workers:
/// the machines this runs on are small).
fn multi_thread_runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| failure(format!("cannot start the async runtime: {e}")))
}

/// This executable, which supervisors and servers are started from.
fn program() -> Result<PathBuf, Failure> {
    crate::serving::supervisor::this_program().map_err(failure)
}

pub(crate) fn open(settings: &Settings) -> Result<Registry, Failure> {
    let timeout = std::time::Duration::from_millis(settings.lock_timeout_ms);
    Ok(Registry::open_with_timeout(&settings.data_dir, timeout)?)
}

fn model_name(text: &str) -> Result<ModelName, Failure> {
    ModelName::new(text).map_err(|e| EngineError::BadModelName(e).into())
}

/// Accepts `3` or `v3`.
/// A duration as people write it (`30s`, `2m`), of a second or more: watch's rounds and a
/// rollout's steps are judged on rates over a second.
fn a_second_or_more(text: &str) -> Result<f64, String> {
    let seconds = crate::settings::duration_seconds(text)?;
    if seconds < 1.0 {
        return Err("at least 1s".into());
    }
    Ok(seconds)
}

fn parse_version(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix('v').unwrap_or(text);
    digits
        .parse::<u32>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("{text:?} is not a version; write 3 or v3"))
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure {
        code: 1,
        message: format!("cannot encode output as JSON: {e}"),
    })?;
    say!("{text}");
    Ok(())
}
