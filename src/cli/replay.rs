//! `flightdeck replay MODEL VERSION`: requests from the request log, answered by another
//! version, sent to VERSION on a throwaway server; its answers compared with the logged ones
//! (agreement, confusion between the two, score differences, errors, latency). What serves
//! clients is never sent anything.

use super::say;

use clap::Args;

use super::{Failure, failure, model_name, parse_version, print_json, program, runtime};
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    pub model: String,
    #[arg(value_parser = parse_version)]
    pub version: u32,
    /// The newest this many logged requests answered well by production (default 1000, or
    /// every one in --since).
    #[arg(long)]
    pub last: Option<usize>,
    /// Only requests logged within this long (30m, 6h, 2d).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Replay the requests of this file (JSON lines in the request log's format, e.g. from
    /// another machine or environment) instead of this data dir's log.
    #[arg(long, value_name = "FILE")]
    pub log: Option<std::path::PathBuf>,
    /// Fail (exit 2) below this share of rows answered as production did (default: the
    /// promote gate's `[gates] min_shadow_agreement`, else 0.5).
    #[arg(long, value_name = "FRACTION", value_parser = share)]
    pub min_agreement: Option<f64>,
    #[arg(long)]
    pub json: bool,
}

/// A share between 0 and 1 (a command line that is not understood exits 2, as clap does).
fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{text} is not a share between 0 and 1 (0.95 for 95%)"
        )),
    }
}

/// The report with its verdict, as `--json` prints it.
#[derive(serde::Serialize)]
struct Judged<'a> {
    #[serde(flatten)]
    report: &'a crate::engine::replay::ReplayReport,
    min_agreement: f64,
    passed: bool,
    failure: Option<String>,
}

pub fn run(settings: &Settings, args: ReplayArgs) -> Result<(), Failure> {
    let model = model_name(&args.model)?;
    let min_agreement = args
        .min_agreement
        .or(settings.gates.min_shadow_agreement)
        .unwrap_or(crate::engine::replay::DEFAULT_MIN_AGREEMENT);

    let dir = &settings.data_dir;
    let since = match &args.since {
        Some(text) => {
            let seconds = crate::settings::duration_seconds(text).map_err(failure)?;
            Some(chrono::Utc::now() - chrono::Duration::milliseconds((seconds * 1e3) as i64))
        }
        None => None,
    };
    let candidate = args.version.to_string();
    // Compared with production's answers only: a canary's, logged beside them, are not.
    let production = if settings.environment.registry == crate::settings::RegistryBackend::Mlflow {
        // MLflow's version, replayed on the file MLflow holds once copied here (as the smoke
        // test does); production is MLflow's alias.
        use crate::engine::ops::OpRegistry;
        let mlflow = super::mlflow_copies::registry(settings, &program()?)?;
        runtime()?.block_on(async {
            super::mlflow_copies::copy(&mlflow, &model, args.version, 1).await?;
            Ok::<_, Failure>(mlflow.held(&model).await?.production)
        })?
    } else {
        super::open(settings)
            .ok()
            .and_then(|r| r.aliases(&model).ok())
            .and_then(|a| crate::model::version_of(&a, crate::model::AliasName::PRODUCTION))
    }
    .map(|v| v.to_string());
    if production.as_deref() == Some(candidate.as_str()) {
        return Err(failure(format!(
            "v{} is production: a replay compares another version with production's answers",
            args.version
        )));
    }
    let keep = |e: &crate::model::LoggedRequest| {
        e.status == 200
            && e.version.as_ref().is_some_and(|v| *v != candidate)
            && production
                .as_ref()
                .is_none_or(|p| e.version.as_ref() == Some(p))
            && since.is_none_or(|t| e.at >= t)
    };
    let limit = args
        .last
        .unwrap_or(if since.is_some() { usize::MAX } else { 1000 });
    let logged = match &args.log {
        Some(file) => crate::store::request_log::from_file(file, limit, keep)
            .map_err(|e| failure(format!("cannot read {}: {e}", file.display())))?,
        None if !crate::store::request_log::exists(dir, model.as_str()) => {
            return Err(failure(format!(
                "{model} has no request log to replay: set [request_log] rate in the config and restart its server (see the README), or give one with --log FILE"
            )));
        }
        None => crate::store::request_log::newest(dir, model.as_str(), limit, keep),
    };
    if logged.unreadable > 0 {
        eprintln!(
            "warning: {} lines could not be read and were skipped",
            logged.unreadable
        );
    }
    if logged.entries.is_empty() {
        return Err(failure(format!(
            "no logged request of {model} was answered well by production{} (other than v{}){}: nothing to compare with",
            production
                .as_ref()
                .map(|p| format!(" v{p}"))
                .unwrap_or_default(),
            args.version,
            if args.since.is_some() {
                " in that window"
            } else {
                ""
            }
        )));
    }
    let versions: std::collections::BTreeSet<&str> = logged
        .entries
        .iter()
        .filter_map(|e| e.version.as_deref())
        .collect();
    let report = runtime()?
        .block_on(crate::engine::replay::replay(
            &program()?,
            dir,
            &model,
            args.version,
            &logged.entries,
        ))
        .map_err(|e| {
            // The server's own last words start with its "error: ".
            failure(format!(
                "cannot replay on a throwaway server of v{}: {}",
                args.version,
                e.trim_start_matches("error: ")
            ))
        })?;
    use crate::engine::replay::Verdict;
    let judged = crate::engine::replay::verdict(&report, min_agreement);
    let failed = match &judged {
        Verdict::Passed => None,
        Verdict::Failed(why) => Some(why.clone()),
        Verdict::TooFew(why) => Some(format!(
            "{why}; replay more of the log (--last, --since) or wait for more traffic"
        )),
    };
    let verdict = || match &judged {
        Verdict::Passed => Ok(()),
        Verdict::Failed(_) => Err(Failure {
            code: 2,
            message: format!(
                "v{} failed its replay: {}",
                args.version,
                failed.clone().unwrap_or_default()
            ),
        }),
        // Not judged is not passed: a script must not take it for a pass.
        Verdict::TooFew(_) => Err(Failure {
            code: 2,
            message: format!(
                "v{} cannot be judged: {}",
                args.version,
                failed.clone().unwrap_or_default()
            ),
        }),
    };
    if args.json {
        print_json(&Judged {
            report: &report,
            min_agreement,
            passed: failed.is_none(),
            failure: failed.clone(),
        })?;
        return verdict();
    }
    say!(
        "replayed {} logged requests (answered by v{}) to v{}: {}",
        report.requests,
        versions.into_iter().collect::<Vec<_>>().join(", v"),
        args.version,
        report.sentence()
    );
    if let Some([p50, p99]) = report.latency_ms {
        say!(
            "v{} latency on a throwaway server: p50 {p50:.2} ms, p99 {p99:.2} ms",
            args.version
        );
    }
    super::confusion::print(
        "production",
        &format!("v{}", args.version),
        &report.confusion,
    )?;
    if failed.is_none() {
        say!(
            "passed: agreement at or above {:.0}%, no errors, not one class for everything",
            min_agreement * 100.0
        );
    }
    verdict()
}
