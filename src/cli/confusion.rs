//! The table between production's classes and a candidate's, printed the same way by
//! `flightdeck shadow` and `flightdeck replay`: one row per class production answered, the
//! candidate's classes for those rows beside it.

use std::collections::BTreeMap;

use super::say;

/// Prints `confusion` (production's class -> the candidate's class -> rows) under a header
/// naming both versions; nothing when no row was compared.
pub fn print(
    production: &str,
    candidate: &str,
    confusion: &BTreeMap<String, BTreeMap<String, u64>>,
) -> Result<(), super::Failure> {
    if confusion.is_empty() {
        return Ok(());
    }
    let width = confusion
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    say!(
        "  {:<width$}  {candidate}'s answer for those rows",
        format!("{production}'s")
    );
    for (theirs, ours) in confusion {
        let cells: Vec<String> = ours.iter().map(|(c, n)| format!("{c} {n}")).collect();
        say!("  {theirs:<width$}  {}", cells.join(", "));
    }
    Ok(())
}
