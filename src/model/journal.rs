//! Journal entries: the append-only record of every mutation and operation.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An operation began; a later row with the same operation says how it ended. A `started`
    /// row with no ending means the process died during the operation.
    Started,
    /// The mutation happened.
    Succeeded,
    /// It was refused or failed; nothing changed.
    Failed,
    /// A conflict with another operator: nothing changed.
    Conflict,
}

impl Outcome {
    /// As the journal stores and prints it (the same words as its JSON).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A journal row as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub id: i64,
    pub time: DateTime<Utc>,
    pub user: String,
    pub environment: String,
    pub operation: String,
    pub model: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub outcome: Outcome,
    pub details: serde_json::Value,
}

impl JournalEntry {
    /// What the row's details add to its outcome in a word: the gates a user overrode, the
    /// gate that blocked it, or why it failed, e.g. "overrode smoke, signature".
    pub fn note(&self) -> Option<String> {
        let overridden: Vec<&str> = self.details["consent"]["overridden"]
            .as_array()
            .map(|gates| gates.iter().filter_map(|g| g.as_str()).collect())
            .unwrap_or_default();
        if !overridden.is_empty() {
            return Some(format!("overrode {}", overridden.join(", ")));
        }
        if let Some(of) = self.details["recovery"]["journal_id"].as_i64() {
            return Some(format!(
                "{} of #{of}",
                self.details["recovery"]["how"]
                    .as_str()
                    .unwrap_or("recovery")
            ));
        }
        if self.details["blocked"] == true {
            return Some(format!(
                "blocked by the {} gate",
                self.details["gate"].as_str().unwrap_or("a")
            ));
        }
        self.details["error"].as_str().map(str::to_string)
    }
}

/// A journal row about to be appended; the store assigns id and time.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJournalEntry {
    pub user: String,
    pub environment: String,
    pub operation: String,
    pub model: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub outcome: Outcome,
    pub details: serde_json::Value,
}

/// An operation a killed process left half done (a `started` row with no ending): the console
/// offers to finish or revert it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterruptedOp {
    pub model: String,
    /// e.g. "promote fraud (journal #12)".
    pub summary: String,
}
