//! `flightdeck shadow MODEL VERSION [--percent 10]`: VERSION answers a copy of a share of
//! production's requests in the local model server, off the response path; `flightdeck shadow
//! MODEL` says how it compares, `--stop` ends it. Journaled.

use super::say;

use clap::Args;

use super::{Failure, failure, model_name, parse_version, print_json, program, runtime};
use crate::settings::Settings;
use crate::store::Actor;

#[derive(Debug, Args)]
pub struct ShadowArgs {
    pub model: String,
    /// The candidate (without it: how the running shadow compares).
    #[arg(value_parser = parse_version, conflicts_with = "stop")]
    pub version: Option<u32>,
    /// Share of production's requests copied to it.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub percent: u8,
    /// End the shadow (its last report is journaled).
    #[arg(long)]
    pub stop: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(settings: &Settings, actor: &Actor, args: ShadowArgs) -> Result<(), Failure> {
    if settings.environment.serving != crate::settings::ServingBackend::Local {
        return Err(failure(format!(
            "environment {} serves on KServe, which has no traffic mirror: `flightdeck replay {} VERSION` tests a candidate on logged requests instead",
            settings.environment.name, args.model
        )));
    }
    let model = model_name(&args.model)?;
    let serving = crate::serving::LocalServing::new(&settings.data_dir, program()?);
    let runtime = runtime()?;
    let mut replaced = None;
    let report = match (args.version, args.stop) {
        (Some(version), _) => {
            let mut registry = super::open(settings)?;
            let started = runtime.block_on(crate::engine::shadow::start(
                &serving,
                &mut registry,
                actor,
                &model,
                version,
                args.percent,
            ))?;
            replaced = started.replaced;
            started.report
        }
        (None, true) => {
            let mut registry = super::open(settings)?;
            runtime.block_on(crate::engine::shadow::stop(
                &serving,
                &mut registry,
                actor,
                &model,
            ))?
        }
        (None, false) => runtime.block_on(crate::engine::shadow::read(&serving, &model))?,
    };
    if args.json {
        return print_json(&report);
    }
    let what = match (args.version, args.stop) {
        (Some(v), _) => format!(
            "shadow started: v{v} answers a copy of {}% of production v{}'s requests, off the response path",
            report.percent, report.versus
        ),
        (None, true) => "shadow stopped".into(),
        (None, false) => format!(
            "v{} in shadow beside production v{} on {}% of its requests for {:.0}s",
            report.version, report.versus, report.percent, report.seconds
        ),
    };
    say!("{model}: {what}");
    if let Some(r) = &replaced {
        say!(
            "v{}'s shadow was stopped first (its report is journaled): {}",
            r.version,
            crate::engine::shadow::sentence(r)
        );
    }
    if args.version.is_none() {
        say!("{}", crate::engine::shadow::sentence(&report));
        super::confusion::print(
            &format!("v{}", report.versus),
            &format!("v{}", report.version),
            &report.confusion,
        )?;
        // What the promote gate would say of it now, when one asks for a shadow phase.
        if let Some(gate) = crate::engine::ops::shadow_gate(
            report.version,
            report.versus,
            Some(&report),
            &settings.gates,
        ) {
            say!(
                "promote gate: {} ({})",
                match gate.status {
                    crate::engine::ops::GateStatus::Pass => "would pass",
                    crate::engine::ops::GateStatus::Fail => "would FAIL",
                    crate::engine::ops::GateStatus::NotEnoughData => "needs more rows",
                },
                gate.evidence
            );
        }
    }
    Ok(())
}
