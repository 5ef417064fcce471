//! `flightdeck silence`: keep a model's alerts (or one rule's) from the receivers for a while,
//! with a reason, or lift that early; journaled, so the on-call engineer after you sees why.

use super::say;

use clap::Args;

use super::{Failure, failure, model_name, print_json};
use crate::settings::Settings;
use crate::store::Actor;

#[derive(Debug, Args)]
pub struct SilenceArgs {
    pub model: String,
    /// Only this rule (default: every rule of the model).
    #[arg(long, value_name = "NAME")]
    pub rule: Option<String>,
    /// How long: 30m, 2h, 1d.
    #[arg(
        long = "for",
        value_name = "DURATION",
        required_unless_present = "lift"
    )]
    pub duration: Option<String>,
    /// Why (kept in the journal).
    #[arg(long, required_unless_present = "lift")]
    pub reason: Option<String>,
    /// End the silence now.
    #[arg(long, conflicts_with_all = ["duration", "reason"])]
    pub lift: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(settings: &Settings, actor: &Actor, args: SilenceArgs) -> Result<(), Failure> {
    let model = model_name(&args.model)?;
    if let Some(rule) = &args.rule
        && !settings.alerts.iter().any(|r| r.name == *rule)
    {
        return Err(failure(format!(
            "no alert rule is named {rule:?} (flightdeck alerts list shows them)"
        )));
    }
    let mut registry = super::open(settings)?;
    let rule = args.rule.as_deref();
    if args.lift {
        crate::engine::silences::lift(&mut registry, actor, &model, rule)?;
        say!("{model}: silence lifted; its alerts reach the receivers again");
        return Ok(());
    }
    let text = args.duration.as_deref().unwrap_or_default();
    let seconds = crate::settings::duration_seconds(text).map_err(failure)?;
    let until =
        chrono::Utc::now() + chrono::Duration::milliseconds((seconds * 1000.0).round() as i64);
    let reason = args.reason.unwrap_or_default();
    let silence =
        crate::engine::silences::silence(&mut registry, actor, &model, rule, until, &reason)?;
    if args.json {
        return print_json(&silence);
    }
    say!(
        "{model}: {} silenced until {} ({reason}); watch still says and journals them",
        rule.map(|r| format!("alert {r}"))
            .unwrap_or_else(|| "every alert".into()),
        until.format("%Y-%m-%d %H:%M UTC")
    );
    Ok(())
}
