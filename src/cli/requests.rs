//! `flightdeck requests MODEL`: the request log a local model server keeps when
//! `[request_log] rate` (or `serve --request-log-rate`) is set: the newest requests with their
//! answers, one by its id, only the failed ones.

use super::say;

use clap::Args;

use super::{Failure, failure, model_name, print_json};
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct RequestsArgs {
    pub model: String,
    /// Only the request with this id (as the client sent it, or the one the server gave).
    #[arg(long)]
    pub id: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 20)]
    pub last: usize,
    /// Only requests answered with an error (4xx or 5xx).
    #[arg(long)]
    pub failed: bool,
    /// Keep the request given by --id as a sentinel case of the version that answered it
    /// (its answer becomes the expected output; every later smoke test asks it again).
    #[arg(long, requires = "id")]
    pub keep_as_sentinel: bool,
    /// With --keep-as-sentinel: another version that must answer as that one did.
    #[arg(long, requires = "keep_as_sentinel", value_parser = super::parse_version)]
    pub version: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(
    settings: &Settings,
    actor: &crate::store::Actor,
    args: RequestsArgs,
) -> Result<(), Failure> {
    let model = model_name(&args.model)?;
    let dir = &settings.data_dir;
    if !crate::store::request_log::exists(dir, model.as_str()) {
        return Err(failure(format!(
            "{model} has no request log: it is off unless [request_log] rate is set in the config (or `flightdeck serve --request-log-rate`), then the server is restarted; inputs can be personal data, see the README"
        )));
    }
    let limit = if args.id.is_some() { 1 } else { args.last };
    let read = crate::store::request_log::newest(dir, model.as_str(), limit, |e| {
        args.id.as_ref().is_none_or(|id| e.id.as_ref() == Some(id))
            && (!args.failed || e.status >= 400)
    });
    if read.unreadable > 0 {
        eprintln!(
            "warning: {} lines of the log could not be read (a segment cut short?) and were skipped",
            read.unreadable
        );
    }
    if let (Some(id), true) = (&args.id, read.entries.is_empty()) {
        return Err(failure(format!(
            "no logged request of {model} has the id {id:?} (the log may keep only a sample of requests, and deletes the oldest past its limits)"
        )));
    }
    if args.keep_as_sentinel {
        let mut registry = super::open(settings)?;
        let kept = crate::engine::logged_sentinel::keep(
            &mut registry,
            actor,
            &model,
            &read.entries[0],
            args.version,
        )?;
        if args.json {
            return print_json(&kept);
        }
        say!(
            "{model} v{}: sentinel case {:?} added ({} cases now); every smoke test of v{} asks it again",
            kept.version,
            kept.case,
            kept.cases,
            kept.version
        );
        return Ok(());
    }
    if args.json {
        return print_json(&read.entries);
    }
    for e in &read.entries {
        let inputs = e.request.get("inputs").map(|i| i.to_string());
        say!(
            "{}  v{:<3} {}  {:>8.2} ms  {}  {}",
            e.at.format("%Y-%m-%d %H:%M:%S%.3f"),
            e.version.as_deref().unwrap_or("-"),
            e.status,
            e.latency_ms,
            e.id.as_deref().unwrap_or("-"),
            match (&e.error, inputs) {
                (Some(error), _) => format!("error: {error}"),
                (None, Some(inputs)) => {
                    let answered = e.answer["outputs"]
                        .as_array()
                        .map(|outputs| {
                            outputs
                                .iter()
                                .map(|o| {
                                    format!("{}={}", o["name"].as_str().unwrap_or("?"), o["data"])
                                })
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_default();
                    let line = format!("{inputs} -> {answered}");
                    if line.chars().count() > 160 {
                        format!("{}...", line.chars().take(157).collect::<String>())
                    } else {
                        line
                    }
                }
                (None, None) => "-".into(),
            }
        );
    }
    Ok(())
}
