//! Interrupted operations: a `started` journal row with no ending means the process died
//! mid-operation. Recovery either finishes it (moves serving and aliases to the plan's result)
//! or reverts it (back to the plan's starting point), through the same pipeline
//! ([`super::Operator::recovery_plan`]).

use serde::Serialize;

use super::plan::OpPlan;
use crate::engine::{EngineError, Registry};
use crate::model::{JournalEntry, Outcome};

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

/// Interrupted operations, newest first (optionally for one model).
pub fn interrupted(
    registry: &Registry,
    model: Option<&str>,
) -> Result<Vec<Interrupted>, EngineError> {
    let rows = registry.journal(&crate::engine::journal::JournalQuery {
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
                && later.operation == row.operation
                && later.outcome != Outcome::Started
                // A refusal before anything moved ends nothing.
                && later.details["blocked"] != true
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
