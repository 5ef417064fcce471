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
    /// The newest this many logged requests (answered well by another version).
    #[arg(long, default_value_t = 1000)]
    pub last: usize,
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
    let keep = |e: &crate::model::LoggedRequest| {
        e.status == 200
            && e.version.as_ref().is_some_and(|v| *v != candidate)
            && since.is_none_or(|t| e.at >= t)
    };
    let logged = match &args.log {
        Some(file) => crate::store::request_log::from_file(file, args.last, keep)
            .map_err(|e| failure(format!("cannot read {}: {e}", file.display())))?,
        None if !crate::store::request_log::exists(dir, model.as_str()) => {
            return Err(failure(format!(
                "{model} has no request log to replay: set [request_log] rate in the config and restart its server (see the README), or give one with --log FILE"
            )));
        }
        None => crate::store::request_log::newest(dir, model.as_str(), args.last, keep),
    };
    if logged.unreadable > 0 {
        eprintln!(
            "warning: {} lines could not be read and were skipped",
            logged.unreadable
        );
    }
    if logged.entries.is_empty() {
        return Err(failure(format!(
            "no logged request of {model} was answered by a version other than v{}: nothing to compare with",
            args.version
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
