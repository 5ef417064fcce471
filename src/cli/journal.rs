//! `flightdeck journal`: the record of changes, newest first.

use super::say;
use super::table::{or_dash, render};
use super::{Failure, print_json};
use crate::store::Registry;
use crate::store::journal::JournalQuery;

pub fn run(
    registry: &Registry,
    model: Option<String>,
    limit: usize,
    json: bool,
) -> Result<(), Failure> {
    let entries = registry.journal(&JournalQuery {
        model,
        limit: Some(limit),
    })?;
    if json {
        return print_json(&entries);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.time.format("%Y-%m-%d %H:%M:%S").to_string(),
                e.user.clone(),
                e.environment.clone(),
                e.operation.clone(),
                or_dash(e.model.as_ref()),
                or_dash(e.from.as_ref()),
                or_dash(e.to.as_ref()),
                match e.note() {
                    Some(note) => format!("{} ({note})", e.outcome),
                    None => e.outcome.to_string(),
                },
            ]
        })
        .collect();
    say!(
        "{}",
        render(
            &[
                "ID",
                "TIME (UTC)",
                "USER",
                "ENV",
                "OPERATION",
                "MODEL",
                "FROM",
                "TO",
                "OUTCOME"
            ],
            &rows
        )
    );
    Ok(())
}
