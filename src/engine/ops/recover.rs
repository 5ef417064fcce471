//! Interrupted operations: a `started` journal row with no ending means the process died
//! mid-operation. Recovery either finishes it (moves serving and aliases to the plan's result)
//! or reverts it (back to the plan's starting point), through the same pipeline
//! ([`super::Operator::recovery_plan`]).

use serde::Serialize;

use super::plan::OpPlan;
use crate::error::EngineError;
use crate::model::{JournalEntry, Outcome};
use crate::store::Registry;
use crate::store::lock::Observed;

/// An operation that started and never ended.
#[derive(Debug, Clone, Serialize)]
pub struct Interrupted {
    pub entry: JournalEntry,
    pub plan: OpPlan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Move to the state the operation was heading for.
    Finish,
    /// Go back to the state it started from.
    Revert,
}

/// What the journal calls a recovery: one operation of its own, whatever it finishes or
/// reverts, so that it is never mistaken for (or taken as the end of) another one of that name.
pub const RECOVER: &str = "recover";

/// An operation whose process is still running it: its `started` row has no ending yet
/// because it has not ended, and the model's operation lock names who runs it.
#[derive(Debug, Clone, Serialize)]
pub struct UnderWay {
    pub model: String,
    pub holder: String,
}

/// The operations with a `started` row and no ending: the ones still running and the ones a
/// killed process left behind.
#[derive(Debug, Clone, Default)]
pub struct Unended {
    /// Newest first.
    pub interrupted: Vec<Interrupted>,
    pub under_way: Vec<UnderWay>,
}

/// Every operation without an ending (optionally for one model), told apart by the model's
/// operation lock: its holder is
/// running it; with the lock free, it was interrupted. The journal is read again under a
/// shared hold of the lock, so an operation cannot start or end between the look and the read.
pub fn unended(registry: &Registry, model: Option<&str>) -> Result<Unended, EngineError> {
    let first = without_ending(registry, model)?;
    let mut unended = Unended::default();
    let models: std::collections::BTreeSet<String> =
        first.iter().map(|i| i.plan.model.to_string()).collect();
    for name in models {
        match super::lock::observe(registry.data_dir(), &name) {
            Ok(Observed::Held(holder)) => unended.under_way.push(UnderWay {
                model: name,
                holder,
            }),
            Ok(Observed::Free(_hold)) => {
                unended
                    .interrupted
                    .extend(without_ending(registry, Some(&name))?);
            }
            // The lock cannot be looked at: the journal's word is all there is.
            Err(_) => unended.interrupted.extend(
                first
                    .iter()
                    .filter(|i| i.plan.model.as_str() == name)
                    .cloned(),
            ),
        }
    }
    unended
        .interrupted
        .sort_by_key(|i| std::cmp::Reverse(i.entry.id));
    Ok(unended)
}

/// `started` rows with no ending in the journal, newest first. An operation ends with a later
/// row of its own name (a refusal before anything moved excepted), or with a recovery that
/// succeeded for it.
fn without_ending(
    registry: &Registry,
    model: Option<&str>,
) -> Result<Vec<Interrupted>, EngineError> {
    let rows = registry.journal(&crate::store::journal::JournalQuery {
        model: model.map(str::to_string),
        limit: Some(1000),
    })?;
    let mut found = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if row.outcome != Outcome::Started {
            continue;
        }
        // Rows are newest first: anything before index i is later in time.
        let ended = rows[..i].iter().any(|later| {
            later.model == row.model
                && ((later.operation == row.operation
                    && later.outcome != Outcome::Started
                    // A refusal before anything moved ends nothing.
                    && later.details["blocked"] != true)
                    || (later.operation == RECOVER
                        && later.outcome == Outcome::Succeeded
                        && later.details["recovery"]["journal_id"] == row.id))
        });
        if ended {
            continue;
        }
        if let Ok(plan) = serde_json::from_value::<OpPlan>(row.details["plan"].clone()) {
            found.push(Interrupted {
                entry: row.clone(),
                plan,
            });
        }
    }
    Ok(found)
}

/// The operation a recovery is about: the interrupted one itself, or, when the interrupted one
/// is a recovery, the operation that recovery was for (recovering a recovery resolves to the
/// original operation's states, never to the half-done recovery's).
pub fn original(registry: &Registry, found: &Interrupted) -> Result<(i64, OpPlan), EngineError> {
    let Some(of) = &found.plan.recovery else {
        return Ok((found.entry.id, found.plan.clone()));
    };
    let row = registry
        .journal_row(of.journal_id)?
        .and_then(|row| serde_json::from_value::<OpPlan>(row.details["plan"].clone()).ok());
    match row {
        Some(plan) => Ok((of.journal_id, plan)),
        None => Err(EngineError::Refused {
            model: found.plan.model.to_string(),
            reason: format!(
                "the interrupted recovery (journal #{}) is of journal #{}, whose plan cannot be read; set the aliases and `flightdeck server start` by hand",
                found.entry.id, of.journal_id
            ),
        }),
    }
}
