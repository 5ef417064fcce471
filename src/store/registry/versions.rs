//! Reading and inserting models and versions.

use std::collections::BTreeMap;

use chrono::Utc;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{Registry, WriteError};
use crate::error::EngineError;
use crate::model::{
    BaselineProfile, Lineage, ModelName, ModelSummary, ModelVersion, SentinelSet, Signature,
};
use crate::store::journal::{parse_timestamp, timestamp};

/// A version about to be inserted; the registry assigns its number.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub model: ModelName,
    pub sha256: String,
    pub size_bytes: u64,
    pub description: Option<String>,
    pub signature: Signature,
    pub lineage: Lineage,
    pub metrics: BTreeMap<String, f64>,
    pub profile: Option<BaselineProfile>,
    pub sentinels: Option<SentinelSet>,
}

const VERSION_COLUMNS: &str = "model, version, sha256, size_bytes, description, signature, profile, sentinels, \
     metrics, data_hash, code_commit, pipeline_version, author, created_at";

fn json_column<T: serde::de::DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn optional_json<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(index)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(e),
            )
        })
    })
    .transpose()
}

fn version_from_row(row: &Row<'_>) -> rusqlite::Result<ModelVersion> {
    let model: String = row.get(0)?;
    let model = ModelName::new(&model).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(ModelVersion {
        model,
        version: row.get(1)?,
        sha256: row.get(2)?,
        size_bytes: row.get(3)?,
        description: row.get(4)?,
        signature: json_column(row, 5)?,
        profile: optional_json(row, 6)?,
        sentinels: optional_json(row, 7)?,
        metrics: json_column(row, 8)?,
        lineage: Lineage {
            data_hash: row.get(9)?,
            code_commit: row.get(10)?,
            pipeline_version: row.get(11)?,
            author: row.get(12)?,
            created_at: parse_timestamp(&row.get::<_, String>(13)?),
        },
        aliases: Vec::new(),
        smoke_passed: None,
        not_servable: None,
        evaluation: None,
    })
}

impl Registry {
    /// Every model with its version count and aliases, by name.
    pub fn models(&self) -> Result<Vec<ModelSummary>, EngineError> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT m.name, COUNT(v.version), MAX(v.version), COALESCE(MAX(v.created_at), m.created_at)
                 FROM models m LEFT JOIN versions v ON v.model = m.name GROUP BY m.name ORDER BY m.name",
            )
            .map_err(|e| self.db_error(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| self.db_error(e))?
            .collect::<Result<Vec<(String, u32, Option<u32>, String)>, _>>()
            .map_err(|e| self.db_error(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for (name, versions, latest, updated) in rows {
            let Ok(name) = ModelName::new(&name) else {
                continue;
            };
            let aliases: Vec<_> = self
                .aliases(&name)?
                .into_iter()
                .filter(|a| a.version.is_some())
                .collect();
            let mut smoke = std::collections::BTreeMap::new();
            for version in aliases.iter().filter_map(|a| a.version) {
                if let Some(report) = self.latest_smoke(&name, version)? {
                    smoke.insert(version, report.passed);
                }
            }
            out.push(ModelSummary {
                name,
                versions,
                latest_version: latest,
                aliases,
                updated_at: parse_timestamp(&updated),
                smoke,
            });
        }
        Ok(out)
    }

    /// A model's versions: those with aliases first (production, canary, others), then newest first.
    pub fn versions(&self, model: &ModelName) -> Result<Vec<ModelVersion>, EngineError> {
        if !self.model_exists(model)? {
            return Err(EngineError::UnknownModel(model.to_string()));
        }
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE model = ?1 ORDER BY version DESC"
        );
        let mut stmt = self.conn().prepare(&sql).map_err(|e| self.db_error(e))?;
        let mut versions = stmt
            .query_map(params![model.as_str()], version_from_row)
            .map_err(|e| self.db_error(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.db_error(e))?;
        let aliases = self.aliases(model)?;
        for v in &mut versions {
            v.aliases = aliases
                .iter()
                .filter(|a| a.version == Some(v.version))
                .map(|a| a.alias.to_string())
                .collect();
            v.smoke_passed = self.latest_smoke(model, v.version)?.map(|r| r.passed);
            v.evaluation = self.latest_evaluation(model, v.version)?;
        }
        // Aliases are sorted production-first already, so the first alias gives the rank.
        let rank = |v: &ModelVersion| {
            aliases
                .iter()
                .position(|a| a.version == Some(v.version))
                .unwrap_or(usize::MAX)
        };
        versions.sort_by(|a, b| rank(a).cmp(&rank(b)).then(b.version.cmp(&a.version)));
        Ok(versions)
    }

    pub fn version(&self, model: &ModelName, version: u32) -> Result<ModelVersion, EngineError> {
        let sql =
            format!("SELECT {VERSION_COLUMNS} FROM versions WHERE model = ?1 AND version = ?2");
        let found = self
            .conn()
            .query_row(&sql, params![model.as_str(), version], version_from_row)
            .optional()
            .map_err(|e| self.db_error(e))?;
        let mut found = found.ok_or_else(|| EngineError::UnknownVersion {
            model: model.to_string(),
            version,
        })?;
        found.aliases = self
            .aliases(model)?
            .into_iter()
            .filter(|a| a.version == Some(version))
            .map(|a| a.alias.to_string())
            .collect();
        found.smoke_passed = self.latest_smoke(model, version)?.map(|r| r.passed);
        found.evaluation = self.latest_evaluation(model, version)?;
        Ok(found)
    }

    /// A version's numeric reference values by feature, as registered (see
    /// [`BaselineProfile::restore_reference_values`]); empty for a version without them.
    pub fn reference_values(
        &self,
        model: &ModelName,
        version: u32,
    ) -> Result<BTreeMap<String, Vec<f64>>, EngineError> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT feature, sorted FROM reference_values WHERE model = ?1 AND version = ?2",
            )
            .map_err(|e| self.db_error(e))?;
        let rows = stmt
            .query_map(params![model.as_str(), version], |r| {
                let bytes: Vec<u8> = r.get(1)?;
                if !bytes.len().is_multiple_of(8) {
                    return Err(rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Blob,
                        format!("{} bytes is not a whole number of f64 values", bytes.len()).into(),
                    ));
                }
                let values = bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect::<Vec<f64>>();
                Ok((r.get::<_, String>(0)?, values))
            })
            .map_err(|e| self.db_error(e))?;
        rows.collect::<Result<BTreeMap<_, _>, _>>()
            .map_err(|e| self.db_error(e))
    }

    pub fn version_by_sha(
        &self,
        model: &ModelName,
        sha256: &str,
    ) -> Result<Option<u32>, EngineError> {
        self.conn()
            .query_row(
                "SELECT version FROM versions WHERE model = ?1 AND sha256 = ?2",
                params![model.as_str(), sha256],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.db_error(e))
    }

    pub fn model_exists(&self, model: &ModelName) -> Result<bool, EngineError> {
        self.conn()
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM models WHERE name = ?1)",
                params![model.as_str()],
                |r| r.get(0),
            )
            .map_err(|e| self.db_error(e))
    }
}

/// Inserts the model (if new) and the version; returns the version number, or the existing one
/// when the same artifact is already registered under this model.
pub(crate) fn insert_version(
    tx: &Transaction<'_>,
    new: &NewVersion,
    user: &str,
) -> Result<(u32, bool), WriteError> {
    insert(tx, new, user, None)
}

/// Inserts the version under the number another registry gave it (MLflow's, for a version
/// copied into the local registry to be served locally); the caller has checked the number is
/// free or holds the same file.
pub(crate) fn insert_version_numbered(
    tx: &Transaction<'_>,
    new: &NewVersion,
    user: &str,
    number: u32,
) -> Result<(u32, bool), WriteError> {
    insert(tx, new, user, Some(number))
}

fn insert(
    tx: &Transaction<'_>,
    new: &NewVersion,
    user: &str,
    number: Option<u32>,
) -> Result<(u32, bool), WriteError> {
    let model = new.model.as_str();
    if let Some(existing) = tx
        .query_row(
            "SELECT version FROM versions WHERE model = ?1 AND sha256 = ?2",
            params![model, new.sha256],
            |r| r.get(0),
        )
        .optional()?
    {
        return Ok((existing, false));
    }
    let now = timestamp(Utc::now());
    tx.execute(
        "INSERT OR IGNORE INTO models (name, created_at, created_by) VALUES (?1, ?2, ?3)",
        params![model, now, user],
    )?;
    let next: u32 = match number {
        Some(number) => number,
        None => tx.query_row(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE model = ?1",
            params![model],
            |r| r.get(0),
        )?,
    };
    let mut light_profile = new.profile.clone();
    let values = light_profile
        .as_mut()
        .map(BaselineProfile::take_reference_values)
        .unwrap_or_default();
    tx.execute(
        &format!("INSERT INTO versions ({VERSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
        params![
            model,
            next,
            new.sha256,
            new.size_bytes,
            new.description,
            json(&new.signature),
            light_profile.as_ref().map(json),
            new.sentinels.as_ref().map(json),
            json(&new.metrics),
            new.lineage.data_hash,
            new.lineage.code_commit,
            new.lineage.pipeline_version,
            new.lineage.author,
            timestamp(new.lineage.created_at),
        ],
    )?;
    write_reference_values(tx, model, next, &values)?;
    Ok((next, true))
}

/// Replaces a version's baseline profile (a registration again with other reference options),
/// journaling the change in the same transaction.
pub(crate) fn set_profile(
    tx: &rusqlite::Transaction<'_>,
    model: &ModelName,
    version: u32,
    profile: &BaselineProfile,
) -> Result<(), WriteError> {
    let mut light_profile = profile.clone();
    let values = light_profile.take_reference_values();
    tx.execute(
        "UPDATE versions SET profile = ?3 WHERE model = ?1 AND version = ?2",
        params![model.as_str(), version, json(&light_profile)],
    )?;
    write_reference_values(tx, model.as_str(), version, &values)
}

/// Replaces a version's stored reference values with these.
fn write_reference_values(
    tx: &Transaction<'_>,
    model: &str,
    version: u32,
    values: &[(String, Vec<f64>)],
) -> Result<(), WriteError> {
    tx.execute(
        "DELETE FROM reference_values WHERE model = ?1 AND version = ?2",
        params![model, version],
    )?;
    for (feature, sorted) in values {
        let bytes: Vec<u8> = sorted.iter().flat_map(|v| v.to_le_bytes()).collect();
        tx.execute(
            "INSERT INTO reference_values (model, version, feature, sorted) VALUES (?1, ?2, ?3, ?4)",
            params![model, version, feature, bytes],
        )?;
    }
    Ok(())
}

/// The registry's JSON columns hold plain data types, which always serialise.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}
