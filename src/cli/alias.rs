//! `flightdeck alias`: show, move and remove aliases, each move a compare-and-swap.

use super::say;
use clap::Subcommand;

use super::table::or_dash;
use super::{Failure, model_name, parse_version, print_json};
use crate::error::EngineError;
use crate::model::AliasName;
use crate::store::Actor;
use crate::store::Registry;
use crate::store::registry::aliases::{AliasChange, Expectation};

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Aliases of a model with their revisions.
    List {
        model: String,
        #[arg(long)]
        json: bool,
    },
    /// Point an alias at a version. With --expect-revision the move happens only if nobody
    /// moved the alias since you looked (exit code 3 otherwise).
    Set {
        model: String,
        alias: String,
        #[arg(value_parser = parse_version)]
        version: u32,
        #[arg(long, value_name = "N")]
        expect_revision: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Remove an alias (its history is kept).
    Remove {
        model: String,
        alias: String,
        #[arg(long, value_name = "N")]
        expect_revision: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Every move of an alias, oldest first.
    History {
        model: String,
        alias: String,
        #[arg(long)]
        json: bool,
    },
}

fn alias_name(text: &str) -> Result<AliasName, Failure> {
    AliasName::new(text).map_err(|e| EngineError::BadAliasName(e).into())
}

pub fn run(registry: &mut Registry, actor: &Actor, command: AliasCommand) -> Result<(), Failure> {
    match command {
        AliasCommand::List { model, json } => {
            let model = model_name(&model)?;
            if !registry.model_exists(&model)? {
                return Err(EngineError::UnknownModel(model.to_string()).into());
            }
            let aliases = registry.aliases(&model)?;
            let header = ["ALIAS", "VERSION", "REVISION", "UPDATED", "BY"];
            super::table::show(json, &aliases, &header, |a| {
                vec![
                    a.alias.to_string(),
                    or_dash(a.version.map(|v| format!("v{v}"))),
                    a.revision.to_string(),
                    a.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    a.updated_by.clone(),
                ]
            })
        }
        AliasCommand::Set {
            model,
            alias,
            version,
            expect_revision,
            json,
        } => {
            let change = change(&model, &alias, Some(version), expect_revision)?;
            report(registry.move_alias(&change, actor)?, json)
        }
        AliasCommand::Remove {
            model,
            alias,
            expect_revision,
            json,
        } => {
            let change = change(&model, &alias, None, expect_revision)?;
            report(registry.move_alias(&change, actor)?, json)
        }
        AliasCommand::History { model, alias, json } => {
            let model = model_name(&model)?;
            let alias = alias_name(&alias)?;
            let history = registry.alias_history(&model, &alias)?;
            let header = ["REVISION", "FROM", "TO", "AT", "BY"];
            super::table::show(json, &history, &header, |m| {
                vec![
                    m.revision.to_string(),
                    or_dash(m.from_version.map(|v| format!("v{v}"))),
                    or_dash(m.to_version.map(|v| format!("v{v}"))),
                    m.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    m.by.clone(),
                ]
            })
        }
    }
}

fn report(alias: crate::model::Alias, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(&alias);
    }
    match alias.version {
        Some(v) => say!(
            "{} {} -> v{v} (revision {})",
            alias.model,
            alias.alias,
            alias.revision
        ),
        None => say!(
            "{} {} removed (revision {})",
            alias.model,
            alias.alias,
            alias.revision
        ),
    }
    Ok(())
}

/// The alias move asked for: `to_version` (or removal), checked against `expect_revision` when
/// one is given.
fn change(
    model: &str,
    alias: &str,
    to_version: Option<u32>,
    expect_revision: Option<u64>,
) -> Result<AliasChange, Failure> {
    Ok(AliasChange {
        model: model_name(model)?,
        alias: alias_name(alias)?,
        to_version,
        expect: expect_revision
            .map(Expectation::Revision)
            .unwrap_or(Expectation::Any),
    })
}
