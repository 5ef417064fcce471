//! Interrupted operations: a `started` journal row with no ending means the process died
//! mid-operation. Recovery either finishes it (moves serving and aliases to the plan's result)
//! or reverts it (back to the plan's starting point), through the same pipeline
//! ([`super::Operator::recovery_plan`]).

use serde::Serialize;

use super::plan::OpPlan;
use crate::error::EngineError;
use crate::model::{JournalEntry, Outcome};
use crate::store::Registry;

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

/// Interrupted operations, newest first (optionally for one model). An operation ends with a
/// later row of its own name (a refusal before anything moved excepted), or with a recovery
/// that succeeded for it.
pub fn interrupted(
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
