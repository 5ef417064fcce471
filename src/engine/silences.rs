//! Silences: a model's alerts (or one rule's) kept from the receivers until a time, with a
//! reason, set and lifted through the journal so everyone sees who silenced what and why.

use chrono::{DateTime, Utc};

use crate::error::EngineError;
use crate::model::{ModelName, NewJournalEntry, Outcome, Silence};
use crate::store::journal::JournalQuery;
use crate::store::{Actor, Registry};

/// The journal's words for setting and lifting a silence.
pub const SILENCE: &str = "silence";
pub const LIFT: &str = "silence lifted";

/// Silences `model`'s alerts (one `rule`'s, or all) until `until`, journaled with `reason`.
pub fn silence(
    registry: &mut Registry,
    actor: &Actor,
    model: &ModelName,
    rule: Option<&str>,
    until: DateTime<Utc>,
    reason: &str,
) -> Result<Silence, EngineError> {
    actor.ensure_writable(&format!("silence {model}"))?;
    let silence = Silence {
        model: model.to_string(),
        rule: rule.map(str::to_string),
        until,
        reason: reason.to_string(),
        by: actor.user.clone(),
    };
    record(registry, actor, SILENCE, &silence)?;
    Ok(silence)
}

/// Lifts the silence of `model` (one `rule`'s, or the model-wide one) now.
pub fn lift(
    registry: &mut Registry,
    actor: &Actor,
    model: &ModelName,
    rule: Option<&str>,
) -> Result<(), EngineError> {
    actor.ensure_writable(&format!("lift the silence of {model}"))?;
    let lifted = Silence {
        model: model.to_string(),
        rule: rule.map(str::to_string),
        until: Utc::now(),
        reason: "lifted".into(),
        by: actor.user.clone(),
    };
    record(registry, actor, LIFT, &lifted)
}

fn record(
    registry: &mut Registry,
    actor: &Actor,
    operation: &str,
    silence: &Silence,
) -> Result<(), EngineError> {
    registry.append_journal(&NewJournalEntry {
        user: actor.user.clone(),
        environment: actor.environment.clone(),
        operation: operation.into(),
        model: Some(silence.model.clone()),
        from: None,
        to: Some(silence.rule.clone().unwrap_or_else(|| "every rule".into())),
        outcome: Outcome::Succeeded,
        details: serde_json::json!({ "silence": silence }),
    })?;
    Ok(())
}

/// The silences in force at `now`: per model and rule, the newest journal row decides (a lift
/// ends it early).
pub fn active(registry: &Registry, now: DateTime<Utc>) -> Result<Vec<Silence>, EngineError> {
    let rows = registry.journal(&JournalQuery {
        model: None,
        limit: None,
    })?;
    let mut decided = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for row in rows
        .iter()
        .filter(|r| r.operation == SILENCE || r.operation == LIFT)
    {
        let Ok(silence) = serde_json::from_value::<Silence>(row.details["silence"].clone()) else {
            continue;
        };
        if !decided.insert((silence.model.clone(), silence.rule.clone())) {
            continue;
        }
        if row.operation == SILENCE && now < silence.until {
            out.push(silence);
        }
    }
    Ok(out)
}
