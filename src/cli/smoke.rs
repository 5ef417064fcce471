//! `flightdeck smoke MODEL VERSION`: the smoke test, with progress on stderr; exit 2 if it fails.

use super::say;
use std::time::Duration;

use clap::Args;

use super::{Failure, model_name, parse_version, print_json, program, runtime};

use crate::engine::smoke::{SmokeOptions, smoke};
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct SmokeArgs {
    pub model: String,
    #[arg(value_parser = parse_version)]
    pub version: u32,
    /// Test a running V2 endpoint instead of starting a throwaway server.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Requests in the latency burst.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// The burst's p99 budget, in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub p99_budget_ms: u64,
    #[arg(long)]
    pub json: bool,
}

pub fn run(settings: &Settings, args: SmokeArgs) -> Result<(), Failure> {
    let model = model_name(&args.model)?;
    let mut registry = super::open(settings)?;
    let program = program()?;
    // A read-only environment runs the test and shows it, and stores nothing: a stored report
    // feeds the deploy gate, which is a change.
    let read_only = settings.environment.read_only;
    let options = SmokeOptions {
        requests: args.requests,
        p99_budget: Duration::from_millis(args.p99_budget_ms),
        endpoint: args.endpoint,
        record: !read_only,
    };
    let runtime = runtime()?;
    // In an MLflow environment the version is MLflow's: the smoke test runs on the file MLflow
    // holds, with its sentinels, once copied.
    if settings.environment.registry == crate::settings::RegistryBackend::Mlflow {
        let mlflow = super::mlflow_copies::registry(settings, &program)?;
        runtime.block_on(super::mlflow_copies::copy(&mlflow, &model, args.version, 2))?;
    }
    let progress = super::progress::printer(format!("smoke {model} v{}", args.version), args.json);
    let report = runtime.block_on(smoke(
        &mut registry,
        &program,
        &model,
        args.version,
        &options,
        &progress,
    ))?;
    if args.json {
        print_json(&report)?;
    } else {
        for c in &report.checks {
            say!(
                "{} {:<15} {}",
                match (c.passed, c.skipped) {
                    (_, true) => "--  ",
                    (true, false) => "ok  ",
                    (false, false) => "FAIL",
                },
                c.name,
                c.detail
            );
        }
        say!(
            "{model} v{}: smoke {}",
            args.version,
            if report.passed { "passed" } else { "FAILED" }
        );
    }
    if read_only {
        eprintln!(
            "read-only environment {}: the result was not stored with v{}",
            settings.environment.name, args.version
        );
    }
    if report.passed {
        Ok(())
    } else {
        Err(Failure {
            code: 2,
            message: format!("{model} v{} failed its smoke test", args.version),
        })
    }
}
