//! Reports kept with each version: its smoke tests and its evaluations, newest last.

use rusqlite::{OptionalExtension, params};

use super::Registry;
use crate::error::EngineError;
use crate::model::Evaluation;
use crate::model::{ModelName, SmokeReport};
use crate::store::journal::timestamp;

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
        self.latest_report("smoke_results", model, version)
    }

    pub(crate) fn record_evaluation(
        &mut self,
        model: &ModelName,
        version: u32,
        evaluation: &Evaluation,
    ) -> Result<(), EngineError> {
        let report = serde_json::to_string(evaluation).unwrap_or_else(|_| "{}".into());
        let at = timestamp(evaluation.at);
        self.write("recording an evaluation", |tx| {
            tx.execute(
                "INSERT INTO evaluations (model, version, at, report) VALUES (?1, ?2, ?3, ?4)",
                params![model.as_str(), version, at, report],
            )?;
            Ok(())
        })
    }

    /// The most recent evaluation of a version.
    pub fn latest_evaluation(
        &self,
        model: &ModelName,
        version: u32,
    ) -> Result<Option<Evaluation>, EngineError> {
        self.latest_report("evaluations", model, version)
    }

    /// The newest report in `table` for a version. A report this build cannot read (written by
    /// another version of flightdeck) counts as none: the gate that needs it asks for a new one.
    fn latest_report<T: serde::de::DeserializeOwned>(
        &self,
        table: &'static str,
        model: &ModelName,
        version: u32,
    ) -> Result<Option<T>, EngineError> {
        let text: Option<String> = self
            .conn()
            .query_row(
                &format!(
                    "SELECT report FROM {table} WHERE model = ?1 AND version = ?2 ORDER BY id DESC LIMIT 1"
                ),
                params![model.as_str(), version],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.db_error(e))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }
}
