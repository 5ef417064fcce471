//! `flightdeck rollout`: hand a canary to `flightdeck watch`, which moves it through its traffic
//! steps while the promote gates pass, aborts it when one fails and waits while they lack data;
//! `--pause`, `--resume` and `--abort` take it back by hand; with the model alone, where it is.

use super::say;

use clap::Args;

use super::ops::{confirm, operator, print_plan};
use super::{Failure, failure, model_name, parse_version, print_json, runtime};
use crate::engine::ops::{Consent, PlanOptions};
use crate::engine::rollout::{self, RolloutEvent, duration_text, steps_text};
use crate::model::Rollout;
use crate::settings::Settings;
use crate::store::Actor;

#[derive(Debug, Args)]
pub struct RolloutArgs {
    pub model: String,
    /// The version to roll out (without it: show the model's rollout).
    #[arg(value_parser = parse_version)]
    pub version: Option<u32>,
    /// Traffic shares in percent, ascending, the last 100 (the promote).
    #[arg(long, value_delimiter = ',', default_value = "10,25,50,100")]
    pub steps: Vec<u8>,
    /// How long each step lasts at least before the gates may move it on (30s, 2m, 1h).
    #[arg(long, default_value = "2m", value_parser = super::a_second_or_more)]
    pub interval: f64,
    /// Hold the rollout at its step.
    #[arg(long, requires = "model", conflicts_with_all = ["version", "resume", "abort"])]
    pub pause: bool,
    /// Let a paused rollout go on.
    #[arg(long, conflicts_with_all = ["version", "abort"])]
    pub resume: bool,
    /// End the rollout: the canary is removed, production serves everything.
    #[arg(long, conflicts_with = "version")]
    pub abort: bool,
    /// Start without a passing smoke test (recorded in the journal).
    #[arg(long)]
    pub skip_smoke: bool,
    /// Start without asking for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(settings: &Settings, actor: &Actor, args: RolloutArgs) -> Result<(), Failure> {
    let model = model_name(&args.model)?;
    let operator = operator(settings, actor)?;
    let runtime = runtime()?;
    if args.pause || args.resume {
        let event = if args.pause {
            rollout::pause(&operator, &model)?
        } else {
            rollout::resume(&operator, &model)?
        };
        tell(settings, &runtime, &event);
        return said(&event, args.json);
    }
    if args.abort {
        let (_, event) = runtime.block_on(rollout::abort(&operator, &model))?;
        tell(settings, &runtime, &event);
        return said(&event, args.json);
    }
    let Some(version) = args.version else {
        let registry = super::open(settings)?;
        let latest = rollout::latest(&registry, &settings.environment.name, model.as_str())?;
        return match (latest, args.json) {
            (Some(r), true) => {
                let mut shown = rollout::summary(&r);
                shown["watch_silent_seconds"] =
                    serde_json::json!(r.watch_silent_seconds(chrono::Utc::now()));
                print_json(&shown)
            }
            (Some(r), false) => describe(&r),
            (None, true) => print_json(&serde_json::Value::Null),
            (None, false) => Err(failure(format!(
                "{model} has had no rollout in {}; `flightdeck rollout {model} VERSION` starts one",
                settings.environment.name
            ))),
        };
    };
    let progress = super::progress::printer(format!("rollout {model}"), args.json);
    let options = PlanOptions {
        skip_smoke: args.skip_smoke,
    };
    let planned = runtime.block_on(rollout::plan_start(
        &operator,
        &model,
        version,
        args.steps.clone(),
        args.interval,
        options,
        &progress,
    ))?;
    let consent = Consent {
        skip_smoke: args.skip_smoke,
        ..Consent::default()
    };
    eprintln!(
        "rollout {model} v{version}: steps {} every {} at least, judged by `flightdeck watch` (it must be running); a failing gate aborts it",
        steps_text(&args.steps),
        duration_text(args.interval)
    );
    if let Some(first) = &planned.first {
        print_plan(first, &consent);
    }
    let allowed = planned.first.as_ref().is_none_or(|p| consent.allows(p));
    if !args.yes && allowed {
        confirm(model.as_str(), settings.environment.confirm)?;
    }
    let (_, event) = runtime.block_on(rollout::start(&operator, planned, consent))?;
    tell(settings, &runtime, &event);
    said(&event, args.json)
}

/// The receivers hear what was done by hand as they hear what `watch` does; one that cannot be
/// reached is said on stderr (the change is made and journaled either way).
fn tell(settings: &Settings, runtime: &tokio::runtime::Runtime, event: &RolloutEvent) {
    for missed in runtime.block_on(rollout::tell(&settings.receivers, event)) {
        eprintln!("warning: {missed}");
    }
}

fn said(event: &RolloutEvent, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(&serde_json::json!({
            "event": event.kind.journal_name(),
            "sentence": event.sentence,
            "at": event.at,
            "rollout": rollout::summary(&event.rollout),
        }));
    }
    say!("{}: {}", event.rollout.model, event.sentence);
    Ok(())
}

/// Where a rollout is, for a person.
fn describe(r: &Rollout) -> Result<(), Failure> {
    say!(
        "{} v{} (production was v{} when it started): {}, {}",
        r.model,
        r.version,
        r.production,
        r.phase.as_str(),
        r.step_text()
    );
    say!(
        "steps {} every {}; started by {} at {}",
        steps_text(&r.steps),
        duration_text(r.interval_seconds),
        r.started_by,
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let now = chrono::Utc::now();
    match (r.checked_at, r.watch_silent_seconds(now)) {
        (_, Some(silent)) => say!(
            "WATCH SILENT for {}: nothing judges this canary; is `flightdeck watch` running?",
            duration_text(silent as f64)
        ),
        (Some(at), None) => say!(
            "last judged by watch {} ago",
            duration_text((now - at).num_milliseconds() as f64 / 1e3)
        ),
        (None, None) => say!("not judged yet: is `flightdeck watch` running?"),
    }
    if r.watch_silent_seconds(now).is_some() {
        say!("as last judged: {}", r.note);
    } else {
        say!("{}", r.note);
    }
    for g in &r.gates {
        say!("gate {:<16} {}  {}", g.name, g.status.as_str(), g.evidence);
    }
    Ok(())
}
