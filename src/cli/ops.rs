//! `flightdeck deploy|promote|rollback|abort`: the operations pipeline from a shell or a
//! runbook. Each prints its preview, asks for confirmation (or takes --yes), runs, and exits
//! 0 done, 1 error, 3 conflict with another operator, 4 read-only.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;

use super::{Failure, failure, model_name, parse_version, print_json, program, runtime};
use crate::engine::Actor;
use crate::engine::ops::{OpRequest, RunOptions, execute, preview, smoke_gate};
use crate::engine::serving::for_environment;
use crate::settings::{Confirm, Settings};

#[derive(Debug, Args)]
pub struct OpArgs {
    /// Run without asking for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Confirm a change of feature-pipeline version with production.
    #[arg(long)]
    pub allow_pipeline_mismatch: bool,
    /// Go ahead although a gate failed (the journal records the override).
    #[arg(long)]
    pub override_gates: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    pub model: String,
    #[arg(value_parser = parse_version)]
    pub version: u32,
    /// Serve as a canary with this share of traffic (default 10).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100), conflicts_with = "direct")]
    pub canary: Option<u8>,
    /// Straight to production, no canary.
    #[arg(long)]
    pub direct: bool,
    /// Deploy without a passing smoke test (recorded in the journal).
    #[arg(long)]
    pub skip_smoke: bool,
    #[command(flatten)]
    pub op: OpArgs,
}

#[derive(Debug, Args)]
pub struct ModelOpArgs {
    pub model: String,
    #[command(flatten)]
    pub op: OpArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub model: String,
    /// Roll back to this version (default: the previous production version).
    #[arg(long, value_parser = parse_version)]
    pub to: Option<u32>,
    #[command(flatten)]
    pub op: OpArgs,
}

pub fn deploy(settings: &Settings, actor: &Actor, args: DeployArgs) -> Result<(), Failure> {
    let canary_percent = if args.direct {
        None
    } else {
        Some(args.canary.unwrap_or(10))
    };
    let model = model_name(&args.model)?;
    actor.ensure_writable(&format!("deploy {model}"))?;
    // MLflow's versions are not in the local registry: their deploy checks the version's
    // artifact (checksum, loads) while planning, instead of the local smoke test.
    if settings.environment.registry != crate::settings::RegistryBackend::Mlflow {
        // The smoke gate: a version must have passed its smoke test before it takes traffic.
        let mut registry = super::open(settings)?;
        registry.version(&model, args.version)?;
        let program = program()?;
        let runtime = runtime()?;
        let progress =
            super::progress::printer(format!("smoke {model} v{}", args.version), args.op.json);
        let gate = runtime.block_on(smoke_gate(
            &mut registry,
            &program,
            &model,
            args.version,
            args.skip_smoke,
            actor,
            &progress,
        ))?;
        if !args.op.json {
            match &gate {
                Some(report) => eprintln!(
                    "smoke gate: v{} passed its smoke test ({})",
                    args.version,
                    report.at.format("%Y-%m-%d %H:%M UTC")
                ),
                None => eprintln!("smoke gate: SKIPPED by --skip-smoke"),
            }
        }
        drop(registry);
    }
    run(
        settings,
        actor,
        &args.model,
        OpRequest::Deploy {
            version: args.version,
            canary_percent,
        },
        &args.op,
    )
}

pub fn promote(settings: &Settings, actor: &Actor, args: ModelOpArgs) -> Result<(), Failure> {
    run(settings, actor, &args.model, OpRequest::Promote, &args.op)
}

pub fn abort(settings: &Settings, actor: &Actor, args: ModelOpArgs) -> Result<(), Failure> {
    run(settings, actor, &args.model, OpRequest::Abort, &args.op)
}

pub fn rollback(settings: &Settings, actor: &Actor, args: RollbackArgs) -> Result<(), Failure> {
    run(
        settings,
        actor,
        &args.model,
        OpRequest::Rollback { to: args.to },
        &args.op,
    )
}

fn run(
    settings: &Settings,
    actor: &Actor,
    model: &str,
    request: OpRequest,
    op: &OpArgs,
) -> Result<(), Failure> {
    let model = model_name(model)?;
    // Refuse early, before showing a preview of something that cannot happen.
    actor.ensure_writable(&format!("{} {model}", request.name()))?;
    let mut registry = super::open(settings)?;
    let serving = for_environment(&settings.environment, &settings.data_dir, program()?);
    let runtime = runtime()?;
    let env = &settings.environment;
    let mlflow = env.registry == crate::settings::RegistryBackend::Mlflow;
    let mut planned = if mlflow {
        // MLflow's aliases, and the serving moved with them.
        runtime.block_on(crate::engine::mlflow_ops::plan(
            env,
            serving.as_ref(),
            actor,
            &model,
            request,
            &settings.gates,
        ))?
    } else {
        runtime.block_on(preview(
            &mut registry,
            serving.as_ref(),
            &model,
            request,
            actor,
            &settings.gates,
        ))?
    };
    planned.gates_overridden = op.override_gates && planned.gates.iter().any(|g| !g.passed);
    if !op.json || !op.yes {
        eprintln!("{} {model}: {}", request.name(), planned.sentence);
        for w in &planned.warnings {
            if mlflow {
                eprintln!("checked: {w}");
            } else {
                eprintln!("warning: {w}");
            }
        }
    }
    for g in &planned.gates {
        if !op.json || !op.yes {
            eprintln!(
                "gate {:<15} {}  {}",
                g.name,
                if g.passed { "passed" } else { "FAILED" },
                g.evidence
            );
        }
    }
    if let Some(failed) = planned.gates.iter().find(|g| !g.passed)
        && !op.override_gates
    {
        return Err(crate::engine::EngineError::GateFailed {
            model: model.to_string(),
            gate: failed.name.clone(),
            detail: failed.evidence.clone(),
            flag: "--override-gates".into(),
        }
        .into());
    }
    if !op.yes {
        confirm(&model.to_string(), env.confirm)?;
    }
    let options = RunOptions {
        allow_pipeline_mismatch: op.allow_pipeline_mismatch,
        auto_rollback: env.auto_rollback,
    };
    let outcome = if mlflow {
        runtime.block_on(crate::engine::mlflow_ops::execute(
            env,
            &mut registry,
            serving.as_ref(),
            actor,
            &planned,
        ))?
    } else {
        runtime.block_on(execute(
            &planned,
            &mut registry,
            serving.as_ref(),
            actor,
            options,
        ))?
    };
    if op.json {
        return print_json(&outcome);
    }
    println!("{} {model}: done; {}", outcome.operation, outcome.sentence);
    Ok(())
}

/// Asks on the terminal; without one, `--yes` is required.
fn confirm(model: &str, style: Confirm) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(failure(
            "not confirmed: no terminal to ask on; add --yes to run without a prompt",
        ));
    }
    match style {
        Confirm::Typed => eprint!("type the model name ({model}) to proceed: "),
        Confirm::Enter => eprint!("proceed? [y/N] "),
    }
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(failure)?;
    let ok = match style {
        Confirm::Typed => answer.trim() == model,
        Confirm::Enter => matches!(answer.trim(), "y" | "Y" | "yes"),
    };
    if ok {
        Ok(())
    } else {
        Err(failure("not confirmed; nothing was changed"))
    }
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    pub model: String,
    /// Move to the state the interrupted operation was heading for.
    #[arg(long, conflicts_with = "revert", required_unless_present = "revert")]
    pub finish: bool,
    /// Go back to the state the interrupted operation started from.
    #[arg(long)]
    pub revert: bool,
    #[command(flatten)]
    pub op: OpArgs,
}

/// `flightdeck recover MODEL --finish|--revert`: resolves an operation a killed process left
/// half done (the journal shows it as `started` with no ending).
pub fn recover(settings: &Settings, actor: &Actor, args: RecoverArgs) -> Result<(), Failure> {
    use crate::engine::ops::{Recovery, interrupted, recover};
    let model = model_name(&args.model)?;
    actor.ensure_writable(&format!("recover {model}"))?;
    let mut registry = super::open(settings)?;
    let found = interrupted(&registry, Some(model.as_str()))?;
    let Some(first) = found.first() else {
        return Err(failure(format!(
            "{model}: no interrupted operation to recover"
        )));
    };
    let how = if args.finish {
        Recovery::Finish
    } else {
        Recovery::Revert
    };
    eprintln!(
        "{model}: {} interrupted at {} (journal #{}) was heading for: {}",
        first.plan.request.name(),
        first.entry.time.format("%Y-%m-%d %H:%M:%S UTC"),
        first.entry.id,
        first.plan.sentence
    );
    if !args.op.yes {
        confirm(&model.to_string(), settings.environment.confirm)?;
    }
    let serving = for_environment(&settings.environment, &settings.data_dir, program()?);
    let runtime = runtime()?;
    let outcome = runtime.block_on(recover(&mut registry, serving.as_ref(), actor, &model, how))?;
    if args.op.json {
        return print_json(&outcome);
    }
    println!("recover {model}: done; {}", outcome.sentence);
    Ok(())
}
