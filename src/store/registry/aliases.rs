//! Alias moves as compare-and-swap on a revision number, with their full history.

use chrono::Utc;
use rusqlite::{OptionalExtension, Transaction, params};

use super::{Registry, WriteError};
use crate::error::EngineError;
use crate::model::{Alias, AliasMove, AliasName, ModelName, NewJournalEntry, Outcome};
use crate::store::Actor;
use crate::store::journal::{append, parse_timestamp, timestamp};

/// What the caller believes the alias looks like now. A move only happens if it is so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// Whatever it is now (read and moved in one transaction).
    Any,
    /// At this revision (0: the alias has never been set).
    Revision(u64),
}

/// A requested alias move.
#[derive(Debug, Clone)]
pub struct AliasChange {
    pub model: ModelName,
    pub alias: AliasName,
    /// `None` removes the alias.
    pub to_version: Option<u32>,
    pub expect: Expectation,
}

impl Registry {
    /// Aliases of a model, production first, then canary, then by name. Removed aliases are
    /// included with `version: None` (their revision still counts).
    pub fn aliases(&self, model: &ModelName) -> Result<Vec<Alias>, EngineError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT alias, version, revision, updated_at, updated_by FROM aliases WHERE model = ?1")
            .map_err(|e| self.db_error(e))?;
        let rows = stmt
            .query_map(params![model.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, String>(3)?,
                    r.get(4)?,
                ))
            })
            .map_err(|e| self.db_error(e))?;
        let mut aliases = Vec::new();
        for row in rows {
            let (alias, version, revision, at, by) = row.map_err(|e| self.db_error(e))?;
            let Ok(alias) = AliasName::new(&alias) else {
                continue;
            };
            aliases.push(Alias {
                model: model.clone(),
                alias,
                version,
                revision,
                updated_at: parse_timestamp(&at),
                updated_by: by,
            });
        }
        aliases.sort_by(|a, b| a.alias.display_rank().cmp(&b.alias.display_rank()));
        Ok(aliases)
    }

    /// Every move of one alias, oldest first.
    pub fn alias_history(
        &self,
        model: &ModelName,
        alias: &AliasName,
    ) -> Result<Vec<AliasMove>, EngineError> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT from_version, to_version, revision, at, by FROM alias_history
                 WHERE model = ?1 AND alias = ?2 ORDER BY id",
            )
            .map_err(|e| self.db_error(e))?;
        let rows = stmt
            .query_map(params![model.as_str(), alias.as_str()], |r| {
                Ok(AliasMove {
                    model: model.clone(),
                    alias: alias.clone(),
                    from_version: r.get(0)?,
                    to_version: r.get(1)?,
                    revision: r.get(2)?,
                    at: parse_timestamp(&r.get::<_, String>(3)?),
                    by: r.get(4)?,
                })
            })
            .map_err(|e| self.db_error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.db_error(e))
    }

    /// The version the alias pointed at before its current one, skipping removals and
    /// versions equal to the current: "the previous production version".
    pub fn previous_version(
        &self,
        model: &ModelName,
        alias: &AliasName,
    ) -> Result<Option<u32>, EngineError> {
        let history = self.alias_history(model, alias)?;
        let current = history.last().and_then(|m| m.to_version);
        Ok(history
            .iter()
            .rev()
            .skip(1)
            .filter_map(|m| m.to_version)
            .find(|v| Some(*v) != current))
    }

    /// Moves (or removes) an alias if it is as the caller expects; journals the move, or the
    /// conflict. Returns the alias as it now is.
    pub fn move_alias(
        &mut self,
        change: &AliasChange,
        actor: &Actor,
    ) -> Result<Alias, EngineError> {
        actor.ensure_writable(&format!("move alias {} of {}", change.alias, change.model))?;
        let result = self.write("moving an alias", |tx| apply_move(tx, change, actor));
        if let Err(EngineError::AliasConflict {
            expected, actual, ..
        }) = &result
        {
            // The refusal is evidence too: who tried to move what, against which revision.
            let entry = NewJournalEntry {
                user: actor.user.clone(),
                environment: actor.environment.clone(),
                operation: format!("alias {}", change.alias),
                model: Some(change.model.to_string()),
                from: None,
                to: change.to_version.map(|v| format!("v{v}")),
                outcome: Outcome::Conflict,
                details: serde_json::json!({ "expected_revision": expected, "actual_revision": actual }),
            };
            let _ = self.append_journal(&entry);
        }
        result
    }
}

fn apply_move(
    tx: &Transaction<'_>,
    change: &AliasChange,
    actor: &Actor,
) -> Result<Alias, WriteError> {
    let model = change.model.as_str();
    let alias = change.alias.as_str();
    let known: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM models WHERE name = ?1)",
        params![model],
        |r| r.get(0),
    )?;
    if !known {
        return Err(EngineError::UnknownModel(model.to_string()).into());
    }
    if let Some(version) = change.to_version {
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM versions WHERE model = ?1 AND version = ?2)",
            params![model, version],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(EngineError::UnknownVersion {
                model: model.to_string(),
                version,
            }
            .into());
        }
    }
    let current: Option<(Option<u32>, u64, String, String)> = tx
        .query_row(
            "SELECT version, revision, updated_by, updated_at FROM aliases WHERE model = ?1 AND alias = ?2",
            params![model, alias],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let (from_version, revision) = current.as_ref().map(|c| (c.0, c.1)).unwrap_or((None, 0));
    if let Expectation::Revision(expected) = change.expect
        && expected != revision
    {
        let moved = current
            .map(|(v, _, by, at)| {
                let to = v
                    .map(|v| format!("v{v}"))
                    .unwrap_or_else(|| "nothing".into());
                format!(" (last moved to {to} by {by} at {at})")
            })
            .unwrap_or_default();
        return Err(EngineError::AliasConflict {
            model: model.to_string(),
            alias: alias.to_string(),
            expected,
            actual: revision,
            moved,
        }
        .into());
    }
    let now = Utc::now();
    let at = timestamp(now);
    let next = revision + 1;
    tx.execute(
        "INSERT INTO aliases (model, alias, version, revision, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (model, alias) DO UPDATE SET version = ?3, revision = ?4, updated_at = ?5, updated_by = ?6",
        params![model, alias, change.to_version, next, at, actor.user],
    )?;
    tx.execute(
        "INSERT INTO alias_history (model, alias, from_version, to_version, revision, at, by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            model,
            alias,
            from_version,
            change.to_version,
            next,
            at,
            actor.user
        ],
    )?;
    append(
        tx,
        &NewJournalEntry {
            user: actor.user.clone(),
            environment: actor.environment.clone(),
            operation: format!("alias {alias}"),
            model: Some(model.to_string()),
            from: from_version.map(|v| format!("v{v}")),
            to: change.to_version.map(|v| format!("v{v}")),
            outcome: Outcome::Succeeded,
            details: serde_json::json!({ "revision": next }),
        },
    )?;
    Ok(Alias {
        model: change.model.clone(),
        alias: change.alias.clone(),
        version: change.to_version,
        revision: next,
        updated_at: now,
        updated_by: actor.user.clone(),
    })
}
