//! Aliases (`production`, `canary`, free-form) and the record of their moves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AliasName, ModelName};

/// Where an alias points now. `revision` grows by one with every move (including a removal),
/// and every move is a compare-and-swap on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    pub model: ModelName,
    pub alias: AliasName,
    /// `None` once the alias has been removed.
    pub version: Option<u32>,
    pub revision: u64,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// The version the alias named `name` points at, among `aliases` (none when it is absent or
/// removed).
pub fn version_of(aliases: &[Alias], name: &str) -> Option<u32> {
    aliases
        .iter()
        .find(|a| a.alias.as_str() == name)
        .and_then(|a| a.version)
}

/// One move of an alias, kept forever so that "the previous production version" is a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasMove {
    pub model: ModelName,
    pub alias: AliasName,
    pub from_version: Option<u32>,
    pub to_version: Option<u32>,
    pub revision: u64,
    pub at: DateTime<Utc>,
    pub by: String,
}
