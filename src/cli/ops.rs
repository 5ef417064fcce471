//! `flightdeck deploy|promote|rollback|abort`: the operations pipeline from a shell or a
//! runbook. Each prints its preview, asks for confirmation (or takes --yes), runs, and exits
//! 0 done, 1 error, 3 conflict with another operator, 4 read-only.

use super::say;

use clap::Args;

use super::{Failure, failure, model_name, parse_version, print_json, program, runtime};
use crate::engine::ops::{Consent, OpPlan, OpRequest, Operator, PlanOptions};
use crate::settings::{Confirm, Settings};
use crate::store::Actor;

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
    /// Roll back to this version (default: the last production version that ended healthy).
    #[arg(long, value_parser = parse_version)]
    pub to: Option<u32>,
    /// Roll back to a version without a passing smoke test (recorded in the journal).
    #[arg(long)]
    pub skip_smoke: bool,
    #[command(flatten)]
    pub op: OpArgs,
}

pub fn deploy(settings: &Settings, actor: &Actor, args: DeployArgs) -> Result<(), Failure> {
    let canary_percent = if args.direct {
        None
    } else {
        Some(args.canary.unwrap_or(10))
    };
    let request = OpRequest::Deploy {
        version: args.version,
        canary_percent,
    };
    let skip = args.skip_smoke;
    run(settings, actor, &args.model, request, &args.op, skip)
}

pub fn promote(settings: &Settings, actor: &Actor, args: ModelOpArgs) -> Result<(), Failure> {
    let request = OpRequest::Promote;
    run(settings, actor, &args.model, request, &args.op, false)
}

pub fn abort(settings: &Settings, actor: &Actor, args: ModelOpArgs) -> Result<(), Failure> {
    let request = OpRequest::Abort;
    run(settings, actor, &args.model, request, &args.op, false)
}

pub fn rollback(settings: &Settings, actor: &Actor, args: RollbackArgs) -> Result<(), Failure> {
    let request = OpRequest::Rollback { to: args.to };
    let skip = args.skip_smoke;
    run(settings, actor, &args.model, request, &args.op, skip)
}

/// The environment's operator, acting as `actor`.
pub(super) fn operator(settings: &Settings, actor: &Actor) -> Result<Operator, Failure> {
    Ok(Operator::new(settings, program()?)
        .map_err(failure)?
        .with_actor(actor.clone()))
}

/// Plans, shows the preview with every gate, asks, runs: the engine decides the gates and
/// refuses any the flags did not consent to.
fn run(
    settings: &Settings,
    actor: &Actor,
    model: &str,
    request: OpRequest,
    op: &OpArgs,
    skip_smoke: bool,
) -> Result<(), Failure> {
    let model = model_name(model)?;
    // Refuse early, before showing a preview of something that cannot happen.
    actor.ensure_writable(&format!("{} {model}", request.name()))?;
    let operator = operator(settings, actor)?;
    let runtime = runtime()?;
    let progress = super::progress::printer(format!("{} {model}", request.name()), op.json);
    let options = PlanOptions { skip_smoke };
    let planned = runtime.block_on(operator.plan(&model, request, options, &progress))?;
    let consent = Consent {
        override_gates: op.override_gates,
        skip_smoke,
        pipeline_change: op.allow_pipeline_mismatch,
    };
    if !op.json || !op.yes {
        print_plan(&planned, &consent);
    }
    // Asked only when the engine would go ahead; otherwise it refuses (and journals why).
    if !op.yes && consent.allows(&planned) {
        confirm(&model.to_string(), settings.environment.confirm)?;
    }
    let outcome = match runtime.block_on(operator.run(&planned, consent)) {
        Ok(outcome) => outcome,
        Err(e) if op.json => {
            // A script is told why in the same form as a success: the refusal and the plan
            // with every gate's verdict and evidence (the error also goes to stderr).
            print_json(&serde_json::json!({
                "outcome": "refused",
                "error": e.to_string(),
                "plan": planned,
            }))?;
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    if op.json {
        return print_json(&outcome);
    }
    say!("{} {model}: done; {}", outcome.operation, outcome.sentence);
    Ok(())
}

/// The preview on stderr: the sentence, warnings, and each gate with its verdict and evidence.
pub(super) fn print_plan(plan: &OpPlan, consent: &Consent) {
    eprintln!("{} {}: {}", plan.request.name(), plan.model, plan.sentence);
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    for g in &plan.gates {
        let overridden = if !g.passed() && consent.covers(g) {
            format!(" (overridden by {})", Consent::flag_for(g))
        } else {
            String::new()
        };
        eprintln!(
            "gate {:<16} {}{overridden}  {}",
            g.name,
            g.status.as_str(),
            g.evidence
        );
    }
}

/// Asks on the terminal; without one, `--yes` is required.
pub(super) fn confirm(model: &str, style: Confirm) -> Result<(), Failure> {
    let question = match style {
        Confirm::Typed => format!("type the model name ({model}) to proceed: "),
        Confirm::Enter => "proceed? [y/N] ".to_string(),
    };
    let answer = super::ask(&question, "run")?;
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
    use crate::engine::ops::Recovery;
    let model = model_name(&args.model)?;
    actor.ensure_writable(&format!("recover {model}"))?;
    let how = if args.finish {
        Recovery::Finish
    } else {
        Recovery::Revert
    };
    let operator = operator(settings, actor)?;
    let runtime = runtime()?;
    let planned = runtime.block_on(operator.recovery_plan(&model, how))?;
    eprintln!("recover {model}: {}", planned.sentence);
    for w in &planned.warnings {
        eprintln!("{w}");
    }
    if !args.op.yes {
        confirm(&model.to_string(), settings.environment.confirm)?;
    }
    // The pipeline question was answered when the operation started.
    let consent = Consent {
        pipeline_change: true,
        ..Consent::default()
    };
    let outcome = runtime.block_on(operator.run(&planned, consent))?;
    if args.op.json {
        return print_json(&outcome);
    }
    say!("recover {model}: done; {}", outcome.sentence);
    Ok(())
}
