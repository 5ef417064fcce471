//! Validated names for models and aliases, safe to use in paths, URLs, metric labels and SQL.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a model or alias name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("the name {0:?} is longer than 128 characters")]
    TooLong(String),
    #[error(
        "the name {name:?} contains {what}; use letters, digits, '-', '_' and '.' (not starting with '.')"
    )]
    BadCharacter { name: String, what: String },
}

const MAX_NAME_LEN: usize = 128;

fn validate(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(NameError::TooLong(name.to_string()));
    }
    let bad = |what: &str| NameError::BadCharacter {
        name: name.to_string(),
        what: what.to_string(),
    };
    if name.starts_with('.') {
        // Catches ".", ".." and hidden-file names in the artifact and log directories.
        return Err(bad("a leading '.'"));
    }
    for c in name.chars() {
        if c.is_control() {
            return Err(bad("a control character"));
        }
        if c.is_whitespace() {
            return Err(bad("whitespace"));
        }
        if c == '/' || c == '\\' {
            return Err(bad(&format!("a path separator '{c}'")));
        }
        if !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
            return Err(bad(&format!("the character {c:?}")));
        }
    }
    Ok(())
}

/// A registered model's name: ASCII letters, digits, `-`, `_` and `.`, at most 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelName(String);

impl ModelName {
    pub fn new(name: &str) -> Result<Self, NameError> {
        validate(name)?;
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ModelName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        validate(&value)?;
        Ok(Self(value))
    }
}

impl From<ModelName> for String {
    fn from(value: ModelName) -> Self {
        value.0
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An alias such as `production` or `canary`; same character rules as model names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AliasName(String);

impl AliasName {
    pub const PRODUCTION: &'static str = "production";
    pub const CANARY: &'static str = "canary";

    pub fn new(name: &str) -> Result<Self, NameError> {
        validate(name)?;
        Ok(Self(name.to_string()))
    }

    pub fn production() -> Self {
        Self(Self::PRODUCTION.to_string())
    }

    pub fn canary() -> Self {
        Self(Self::CANARY.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Sort key that puts `production` first, then `canary`, then the rest by name.
    pub fn display_rank(&self) -> (u8, &str) {
        match self.0.as_str() {
            Self::PRODUCTION => (0, ""),
            Self::CANARY => (1, ""),
            other => (2, other),
        }
    }
}

impl TryFrom<String> for AliasName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        validate(&value)?;
        Ok(Self(value))
    }
}

impl From<AliasName> for String {
    fn from(value: AliasName) -> Self {
        value.0
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["fraud", "fraud-detector", "churn_v2", "a.b", "X9"] {
            assert!(ModelName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_paths_whitespace_and_control_characters() {
        for bad in [
            "", "a/b", "..", ".", ".hidden", "a b", "a\tb", "a\nb", "a\u{7}b", "a\\b", "é",
        ] {
            assert!(ModelName::new(bad).is_err(), "{bad:?} should be refused");
        }
        let long = "a".repeat(129);
        assert_eq!(ModelName::new(&long), Err(NameError::TooLong(long.clone())));
    }

    #[test]
    fn error_names_the_offence() {
        let err = ModelName::new("my model").unwrap_err().to_string();
        assert!(err.contains("whitespace"), "{err}");
        let err = ModelName::new("../etc").unwrap_err().to_string();
        assert!(err.contains("leading '.'"), "{err}");
    }

    #[test]
    fn production_sorts_before_canary_before_others() {
        let mut names = [
            AliasName::new("blue").unwrap(),
            AliasName::canary(),
            AliasName::production(),
        ];
        names.sort_by(|a, b| a.display_rank().cmp(&b.display_rank()));
        let order: Vec<_> = names.iter().map(|n| n.as_str()).collect();
        assert_eq!(order, ["production", "canary", "blue"]);
    }
}
