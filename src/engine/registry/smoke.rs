//! Smoke results kept with each version.

use rusqlite::{OptionalExtension, params};

use super::Registry;
use crate::engine::EngineError;
use crate::engine::journal::timestamp;
use crate::model::{ModelName, SmokeReport};

impl Registry {
    pub fn record_smoke(&mut self, report: &SmokeReport) -> Result<(), EngineError> {
        let text = serde_json::to_string(report).unwrap_or_else(|_| "{}".into());
        self.write("recording a smoke test", |tx| {
            tx.execute(
                "INSERT INTO smoke_results (model, version, at, passed, report) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![report.model, report.version, timestamp(report.at), report.passed, text],
            )?;
            Ok(())
        })
    }

    /// The most recent smoke result of a version, if it was ever smoke-tested.
    pub fn latest_smoke(
        &self,
        model: &ModelName,
        version: u32,
    ) -> Result<Option<SmokeReport>, EngineError> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT report FROM smoke_results WHERE model = ?1 AND version = ?2 ORDER BY id DESC LIMIT 1",
                params![model.as_str(), version],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.db_error(e))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }
}
