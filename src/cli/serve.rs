//! `flightdeck serve`: run the local model server in the foreground for one model.

use super::say;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{Failure, failure, model_name, parse_version};
use crate::model_server::drift::WindowLimits;
use crate::model_server::feedback::FeedbackLimits;
use crate::model_server::{Plan, ServeConfig, ServeOptions, default_workers};
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct ServeArgs {
    pub model: String,
    /// Stable version (default: the production alias, else the latest version).
    #[arg(long, value_parser = parse_version)]
    pub version: Option<u32>,
    /// Canary version, served alongside the stable one.
    #[arg(long, value_parser = parse_version)]
    pub canary: Option<u32>,
    /// The canary's share of requests, 0-100.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub canary_percent: u8,
    /// A version answering a copy of production's requests off the response path, compared
    /// and thrown away (`flightdeck shadow` starts one in a running server).
    #[arg(long, value_parser = parse_version)]
    pub shadow: Option<u32>,
    /// The shadow's share of production's requests, 1-100.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub shadow_percent: u8,
    /// Address to listen on (loopback by default: put a proxy in front to expose it). Any other
    /// address also needs --expose. `localhost` means 127.0.0.1.
    #[arg(long, default_value = "127.0.0.1", value_parser = parse_host)]
    pub host: IpAddr,
    /// Allow a non-loopback --host: inference, /metrics and the live input histograms of the
    /// drift endpoint are then open to the network without authentication.
    #[arg(long)]
    pub expose: bool,
    /// Connections served at once; more get 503 (default: the open-file limit less 64).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Seconds a client may take to send a request's headers (and an idle keep-alive
    /// connection may stay open).
    #[arg(long, default_value_t = 10)]
    pub header_timeout_s: u64,
    /// Seconds a request may take, body included, before it is answered 408.
    #[arg(long, default_value_t = 60)]
    pub request_timeout_s: u64,
    /// Port to listen on; 0 picks a free one (printed on start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Inference threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Requests that may wait for a thread before the server answers 503.
    #[arg(long, default_value_t = 1024)]
    pub queue: usize,
    /// Largest request body accepted (413 above it).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Rows kept per version for drift scoring.
    #[arg(long, default_value_t = 2000)]
    pub drift_window: usize,
    /// Oldest row kept for drift scoring, in seconds.
    #[arg(long, default_value_t = 600)]
    pub drift_max_age: u64,
    /// Answers kept by request id per model, to join with labels that arrive later
    /// (`POST /flightdeck/feedback/MODEL`); a label for an answer no longer kept counts as late;
    /// 0 keeps none.
    #[arg(long, default_value_t = 100_000)]
    pub feedback_max_ids: usize,
    /// Oldest answer kept for its label, in seconds.
    #[arg(long, default_value_t = 86_400)]
    pub feedback_max_age: u64,
    /// Most rows one model call gathers from small requests that arrive together (dynamic
    /// batching); 0 runs each request on its own.
    #[arg(long, default_value_t = 64)]
    pub max_batch_rows: usize,
    /// Log this share of requests with their answers under the data dir's requests/ (0 off, 1
    /// all; default: the config's [request_log] rate, else off). Inputs can be personal data.
    #[arg(long, value_name = "SHARE", value_parser = share)]
    pub request_log_rate: Option<f64>,
    /// Megabytes of request log kept per model (default: [request_log] max_mb, else 256).
    #[arg(long, value_name = "MB")]
    pub request_log_max_mb: Option<u64>,
    /// Write the bound port to this file once listening (removed again on a clean stop).
    #[arg(long, value_name = "FILE")]
    pub port_file: Option<PathBuf>,
    /// Log to logs/NAME.log instead of serve-MODEL.log (throwaway servers of smoke tests and
    /// evaluations, so their lines are never read as production's).
    #[arg(long, hide = true, value_name = "NAME")]
    pub log_as: Option<String>,
}

/// A share between 0 and 1.
fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "{text:?} is not a share between 0 (off) and 1 (all)"
        )),
    }
}

/// An IP address, or `localhost`.
fn parse_host(text: &str) -> Result<IpAddr, String> {
    if text.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    text.parse()
        .map_err(|_| format!("{text:?} is not an IP address (or localhost)"))
}

pub fn run(settings: &Settings, args: ServeArgs) -> Result<(), Failure> {
    let model = model_name(&args.model)?;
    if !args.host.is_loopback() {
        if !args.expose {
            return Err(failure(format!(
                "--host {} is not a loopback address: inference, /metrics and the drift endpoint's live input histograms would be open to the network without authentication; add --expose if that is meant (or put an authenticating proxy in front of 127.0.0.1)",
                args.host
            )));
        }
        eprintln!(
            "warning: listening on {} with --expose: inference, /metrics and live input histograms are open to the network without authentication",
            args.host
        );
    }
    let registry = super::open(settings)?;
    let stable = match args.version {
        Some(v) => v,
        None => super::server::default_stable(&registry, &model)?,
    };
    drop(registry);
    let plan = Plan {
        stable,
        canary: args.canary,
        canary_percent: if args.canary.is_some() {
            args.canary_percent
        } else {
            0
        },
    };
    let t = &settings.thresholds;
    let token_path = settings.data_dir.join("serve").join("admin.token");
    let admin_token = crate::serving::files::admin_token(&token_path).map_err(|e| {
        failure(format!(
            "cannot create the admin token {}: {e}",
            token_path.display()
        ))
    })?;
    let config = ServeConfig {
        model: model.clone(),
        plan,
        address: SocketAddr::new(args.host, args.port),
        workers: args.workers.unwrap_or_else(default_workers),
        queue: args.queue,
        options: ServeOptions {
            data_dir: settings.data_dir.clone(),
            max_body_bytes: args.max_body_bytes,
            thresholds: t.drift(),
            window: WindowLimits {
                max_rows: args.drift_window.max(1),
                max_age: Duration::from_secs(args.drift_max_age.max(1)),
            },
            admin_token,
            max_batch_rows: args.max_batch_rows,
            feedback: FeedbackLimits {
                max_ids: args.feedback_max_ids,
                max_age: Duration::from_secs(args.feedback_max_age.max(1)),
            },
            // Throwaway servers (smoke tests, evaluations) answer made-up traffic: never logged.
            request_log: if args.log_as.is_some() {
                crate::model_server::request_log::RequestLogLimits::off()
            } else {
                crate::model_server::request_log::RequestLogLimits {
                    rate: args.request_log_rate.unwrap_or(settings.request_log.rate),
                    max_bytes: args
                        .request_log_max_mb
                        .unwrap_or(settings.request_log.max_mb)
                        .max(1)
                        * 1024
                        * 1024,
                    // An age past what a Duration holds is "keep for ever".
                    max_age: Duration::try_from_secs_f64(settings.request_log.max_age_seconds)
                        .unwrap_or(Duration::MAX),
                }
            },
        },
        port_file: args.port_file.clone(),
        connections: crate::model_server::connections::ConnectionLimits {
            max_connections: args
                .max_connections
                .unwrap_or_else(crate::model_server::connections::default_max_connections)
                .max(1),
            header_timeout: Duration::from_secs(args.header_timeout_s.max(1)),
            request_timeout: Duration::from_secs(args.request_timeout_s.max(1)),
            max_body: args.max_body_bytes,
        },
    };
    // One thread for HTTP: the quick inferences run inline on it and anything slower goes to the
    // inference pool, so a second runtime worker only added cross-thread wake-ups (IPIs and
    // futexes were the top kernel symbols). Measured with wrk (32 connections, 1-row logreg):
    // CPU per request 14.9 -> 12.8 us, p99 1.1 -> 0.45 ms, requests/s 90k -> 80k.
    let runtime = super::runtime()?;
    let port_file = args.port_file;
    let (shadow, shadow_percent) = (args.shadow, args.shadow_percent);
    runtime.block_on(async move {
        let server = crate::model_server::bind(config).await.map_err(failure)?;
        // What it serves, which may be less than asked (a canary that does not load).
        let plan = server
            .state()
            .deployment(model.as_str())
            .map(|d| d.plan())
            .unwrap_or(plan);
        let mut canary = plan
            .canary
            .map(|c| format!(", v{c} canary at {}%", plan.canary_percent))
            .unwrap_or_default();
        if let Some(version) = shadow {
            match server
                .state()
                .start_shadow(&model, version, shadow_percent, true)
            {
                Ok(_) => canary.push_str(&format!(
                    ", v{version} in shadow on {shadow_percent}% of its requests"
                )),
                // The server still serves production: a shadow that cannot run is said.
                Err(e) => eprintln!("warning: the shadow of v{version} does not run: {e}"),
            }
        }
        say!(
            "serving {model} v{}{canary} on http://{}",
            plan.stable,
            server.address
        );
        let _ = std::io::stdout().flush();
        let served = server
            .serve(crate::model_server::shutdown_signal())
            .await
            .map_err(|e| failure(format!("server failed: {e}")));
        // A clean stop takes its port file with it: a stale one would point at nothing.
        if let Some(path) = &port_file {
            let _ = std::fs::remove_file(path);
        }
        served
    })
}

/// The binary `flightdeck serve` runs as: `flightdeck-serve`, next to this executable.
pub const SERVER_BINARY: &str = "flightdeck-serve";

/// Set for `flightdeck-serve` to print its build identifier and exit.
pub const BUILD_ID_QUERY: &str = "FLIGHTDECK_PRINT_BUILD_ID";

/// Replaces this process with `flightdeck-serve` and the same arguments, when that binary sits
/// next to this one, comes from the same build, and this is not it already; returns only if it cannot (then this process
/// serves, on the system allocator). The command line (argv[0] included) stays the same, so
/// process listings and the supervisor see `flightdeck serve ...` either way.
pub fn hand_over_to_server_binary() {
    use std::os::unix::process::CommandExt;
    let Ok(me) = std::env::current_exe() else {
        return;
    };
    if me.file_name().is_some_and(|n| n == SERVER_BINARY) {
        return;
    }
    let sibling = me.with_file_name(SERVER_BINARY);
    if !sibling.is_file() {
        return;
    }
    // A sibling from another build (`cargo run` rebuilds only this binary) would serve old code.
    let same_build = sibling_build_id(&sibling).is_some_and(|id| id == crate::BUILD_ID);
    if !same_build {
        tracing::info!(sibling = %sibling.display(), "not the same build: serving in-process");
        return;
    }
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| me.clone().into_os_string());
    let error = std::process::Command::new(&sibling)
        .arg0(arg0)
        .args(args)
        .exec();
    eprintln!(
        "warning: cannot start {} ({error}); serving from this process",
        sibling.display()
    );
}

/// The build identifier the sibling binary prints, or `None` if it cannot say within a few
/// seconds (a hung or broken binary must not hold up `flightdeck serve`).
fn sibling_build_id(sibling: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let mut child = std::process::Command::new(sibling)
        .env(BUILD_ID_QUERY, "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => {
                tracing::warn!(sibling = %sibling.display(), "did not answer its build id");
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    Some(out.trim().to_string())
}
