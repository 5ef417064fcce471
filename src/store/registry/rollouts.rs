//! Progressive rollouts as the registry keeps them: one row per environment and model (the
//! latest rollout, active or ended), each update a compare-and-swap on its revision.

use rusqlite::{OptionalExtension, params};

use super::Registry;
use crate::error::EngineError;
use crate::model::Rollout;

/// A rollout and the revision its next update must name.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRollout {
    pub rollout: Rollout,
    pub revision: i64,
}

impl Registry {
    /// The latest rollout of `model` in `environment`, active or ended.
    pub fn rollout(
        &self,
        environment: &str,
        model: &str,
    ) -> Result<Option<StoredRollout>, EngineError> {
        self.conn()
            .query_row(
                "SELECT state, revision FROM rollouts WHERE environment = ?1 AND model = ?2",
                params![environment, model],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(|e| self.db_error(e))?
            .map(|(text, revision)| self.parse(model, &text, revision))
            .transpose()
    }

    /// Every rollout of `environment` still under way (paused ones included).
    pub fn active_rollouts(&self, environment: &str) -> Result<Vec<StoredRollout>, EngineError> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT state, revision FROM rollouts WHERE environment = ?1 AND active = 1 ORDER BY model",
            )
            .map_err(|e| self.db_error(e))?;
        let rows = stmt
            .query_map(params![environment], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(|e| self.db_error(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.db_error(e))?;
        rows.into_iter()
            .map(|(text, revision)| self.parse("a model", &text, revision))
            .collect()
    }

    /// The latest rollout of every model in every environment (one row each), for the fleet.
    pub fn all_rollouts(&self) -> Result<Vec<Rollout>, EngineError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT model, state, revision FROM rollouts ORDER BY environment, model")
            .map_err(|e| self.db_error(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.db_error(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.db_error(e))?;
        rows.into_iter()
            .map(|(model, text, revision)| Ok(self.parse(&model, &text, revision)?.rollout))
            .collect()
    }

    /// Writes `rollout` if its row is still at `expected` (`None`: no active rollout of the
    /// model, for a new one). Returns the new revision, or `None` when someone else changed it
    /// first (the caller reads it again).
    pub fn put_rollout(
        &mut self,
        rollout: &Rollout,
        expected: Option<i64>,
    ) -> Result<Option<i64>, EngineError> {
        let text = serde_json::to_string(rollout).map_err(|e| EngineError::Refused {
            model: rollout.model.clone(),
            reason: format!("its rollout cannot be written: {e}"),
        })?;
        let active = rollout.phase.is_active();
        let (environment, model) = (rollout.environment.clone(), rollout.model.clone());
        self.write("recording a rollout", |tx| {
            let current: Option<(i64, bool)> = tx
                .query_row(
                    "SELECT revision, active FROM rollouts WHERE environment = ?1 AND model = ?2",
                    params![environment, model],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let next = match (current, expected) {
                (None, None) => 1,
                // A new rollout may replace an ended one, never one under way.
                (Some((revision, false)), None) => revision + 1,
                (Some((revision, _)), Some(e)) if revision == e => revision + 1,
                _ => return Ok(None),
            };
            tx.execute(
                "INSERT INTO rollouts (environment, model, revision, active, state) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (environment, model) DO UPDATE SET revision = ?3, active = ?4, state = ?5",
                params![environment, model, next, active, text],
            )?;
            Ok(Some(next))
        })
    }

    fn parse(&self, model: &str, text: &str, revision: i64) -> Result<StoredRollout, EngineError> {
        let rollout = serde_json::from_str(text).map_err(|e| EngineError::Refused {
            model: model.to_string(),
            reason: format!(
                "its rollout in {} cannot be read ({e}); was it written by a newer flightdeck?",
                self.db_path().display()
            ),
        })?;
        Ok(StoredRollout { rollout, revision })
    }
}
