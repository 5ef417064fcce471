//! The journal: an append-only table of every mutation and operation (database triggers refuse
//! updates and deletes), written in the same transaction as the change it records.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, Row, params};

use super::registry::Registry;
use crate::error::EngineError;
use crate::model::{JournalEntry, NewJournalEntry, Outcome};

/// Timestamps are stored as RFC 3339 UTC with milliseconds, which sort as text.
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_timestamp(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Appends one row; call it inside the transaction that makes the change.
pub fn append(conn: &Connection, entry: &NewJournalEntry) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO journal (time, user, environment, operation, model, from_ref, to_ref, outcome, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            timestamp(Utc::now()),
            entry.user,
            entry.environment,
            entry.operation,
            entry.model,
            entry.from,
            entry.to,
            entry.outcome.as_str(),
            entry.details.to_string(),
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Which rows to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct JournalQuery {
    pub model: Option<String>,
    pub limit: Option<usize>,
}

impl Registry {
    /// Journal rows, newest first.
    pub fn journal(&self, query: &JournalQuery) -> Result<Vec<JournalEntry>, EngineError> {
        let limit = query.limit.map(|l| l as i64).unwrap_or(-1);
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT id, time, user, environment, operation, model, from_ref, to_ref, outcome, details
                 FROM journal WHERE (?1 IS NULL OR model = ?1) ORDER BY id DESC LIMIT ?2",
            )
            .map_err(|e| self.db_error(e))?;
        let rows = stmt
            .query_map(params![query.model, limit], entry_from_row)
            .map_err(|e| self.db_error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.db_error(e))
    }

    /// One row by its id.
    pub fn journal_row(&self, id: i64) -> Result<Option<JournalEntry>, EngineError> {
        use rusqlite::OptionalExtension;
        self.conn()
            .query_row(
                "SELECT id, time, user, environment, operation, model, from_ref, to_ref, outcome, details
                 FROM journal WHERE id = ?1",
                params![id],
                entry_from_row,
            )
            .optional()
            .map_err(|e| self.db_error(e))
    }

    /// Appends a row in a transaction of its own (for outcomes that changed nothing else).
    pub fn append_journal(&mut self, entry: &NewJournalEntry) -> Result<i64, EngineError> {
        self.write("writing the journal", |tx| Ok(append(tx, entry)?))
    }
}

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<JournalEntry> {
    let time: String = row.get(1)?;
    let outcome: String = row.get(8)?;
    let details: String = row.get(9)?;
    Ok(JournalEntry {
        id: row.get(0)?,
        time: parse_timestamp(&time),
        user: row.get(2)?,
        environment: row.get(3)?,
        operation: row.get(4)?,
        model: row.get(5)?,
        from: row.get(6)?,
        to: row.get(7)?,
        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failed),
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
    })
}
