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
    #[arg(long)]
    pub json: bool,
}

pub fn run(settings: &Settings, args: ReplayArgs) -> Result<(), Failure> {
    let model = model_name(&args.model)?;
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
    let production = super::open(settings)
        .ok()
        .and_then(|r| r.aliases(&model).ok())
        .and_then(|a| crate::model::version_of(&a, crate::model::AliasName::PRODUCTION))
        .map(|v| v.to_string());
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
            failure(format!(
                "cannot replay on a throwaway server of v{}: {e}",
                args.version
            ))
        })?;
    if args.json {
        return print_json(&report);
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
    if !report.confusion.is_empty() {
        say!("production's class -> v{}'s class: rows", args.version);
        for (theirs, ours) in &report.confusion {
            let cells: Vec<String> = ours.iter().map(|(c, n)| format!("{c}: {n}")).collect();
            say!("  {theirs:<12} {}", cells.join("  "));
        }
    }
    Ok(())
}
