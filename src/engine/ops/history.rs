//! Where a rollback goes by default: the last version that served as production and ended
//! healthy, read from the journal. A version that was rolled back from (by hand or by an
//! automatic rollback) did not end healthy; neither did one whose latest smoke test failed.

use crate::model::{JournalEntry, Outcome};

/// Operations that move production, as journaled.
const OPERATIONS: &[&str] = &[
    "deploy",
    "promote",
    "rollback",
    "abort",
    "auto-rollback",
    super::recover::RECOVER,
];

/// One move of production: from which version, to which, by what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductionMove {
    pub from: Option<u32>,
    pub to: Option<u32>,
    /// The operation ("promote", "rollback", ...), or "alias" for a move by hand.
    pub by: String,
    /// The user named the target (`rollback --to N`) rather than asking for the default.
    pub named: bool,
    pub journal_id: i64,
}

impl ProductionMove {
    /// Whether this move says `from` ended unhealthy: an automatic rollback, or a plain
    /// rollback (the user asked to leave it for the last healthy version). A rollback to a
    /// version the user named is a choice of target, not a verdict on the version it leaves.
    fn condemns(&self) -> bool {
        match self.by.as_str() {
            "auto-rollback" => true,
            "rollback" => !self.named,
            _ => false,
        }
    }
}

/// The production version a journal label names: "v2" and "v2 + canary v3 10%" both say v2.
pub fn production_of(label: Option<&str>) -> Option<u32> {
    let label = label?.trim();
    let digits: String = label
        .strip_prefix('v')?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Production's moves in `environment`, oldest first, from journal rows given newest first:
/// each succeeded operation that changed production, and each move of the production alias by
/// hand (outside an operation).
pub fn production_moves(rows: &[JournalEntry], environment: &str) -> Vec<ProductionMove> {
    let mut moves = Vec::new();
    let mut open: Option<String> = None;
    // Whether the operation under way named its target (its plan, in its `started` row).
    let mut named = false;
    for row in rows.iter().rev().filter(|r| r.environment == environment) {
        let operation = row.operation.as_str();
        if OPERATIONS.contains(&operation) {
            match row.outcome {
                Outcome::Started => {
                    open = Some(operation.to_string());
                    named = !row.details["plan"]["request"]["to"].is_null();
                }
                Outcome::Succeeded => {
                    open = None;
                    let (from, to) = (
                        production_of(row.from.as_deref()),
                        production_of(row.to.as_deref()),
                    );
                    if from != to {
                        moves.push(ProductionMove {
                            from,
                            to,
                            by: operation.to_string(),
                            named: named && operation == "rollback",
                            journal_id: row.id,
                        });
                    }
                }
                // A refusal before anything moved does not end an operation under way.
                _ if row.details["blocked"] == true => {}
                _ => open = None,
            }
        } else if operation == "alias production"
            && row.outcome == Outcome::Succeeded
            && open.is_none()
        {
            moves.push(ProductionMove {
                from: production_of(row.from.as_deref()),
                to: production_of(row.to.as_deref()),
                by: "alias".into(),
                named: true,
                journal_id: row.id,
            });
        }
    }
    moves
}

/// Why a former production version is not a rollback target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passed {
    pub version: u32,
    pub why: String,
}

/// The newest former production version (other than `current`) whose last time in production
/// did not end in a rollback and that `smoke_failed` does not rule out; with each version
/// passed over and why. `None` when the journal knows no such version.
pub fn last_healthy(
    moves: &[ProductionMove],
    current: Option<u32>,
    smoke_failed: &dyn Fn(u32) -> bool,
) -> (Option<u32>, Vec<Passed>) {
    let mut seen: Vec<u32> = Vec::new();
    let mut passed = Vec::new();
    // Newest first: a version's latest exit from production decides.
    for m in moves.iter().rev() {
        let Some(version) = m.from else { continue };
        if Some(version) == current || seen.contains(&version) {
            continue;
        }
        seen.push(version);
        if m.condemns() {
            passed.push(Passed {
                version,
                why: format!(
                    "v{version} was rolled back from (journal #{})",
                    m.journal_id
                ),
            });
            continue;
        }
        if smoke_failed(version) {
            passed.push(Passed {
                version,
                why: format!("v{version} failed its latest smoke test"),
            });
            continue;
        }
        return (Some(version), passed);
    }
    (None, passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, operation: &str, outcome: Outcome, from: &str, to: &str) -> JournalEntry {
        JournalEntry {
            id,
            time: chrono::DateTime::UNIX_EPOCH,
            user: "u".into(),
            environment: "local".into(),
            operation: operation.into(),
            model: Some("fraud".into()),
            from: (!from.is_empty()).then(|| from.to_string()),
            to: (!to.is_empty()).then(|| to.to_string()),
            outcome,
            details: serde_json::Value::Null,
        }
    }

    /// Rows newest first, as the journal returns them, from a list written oldest first.
    fn journal(mut rows: Vec<JournalEntry>) -> Vec<JournalEntry> {
        rows.reverse();
        rows
    }

    #[test]
    fn labels_name_their_production_version() {
        assert_eq!(production_of(Some("v2")), Some(2));
        assert_eq!(production_of(Some("v12 + canary v3 10%")), Some(12));
        assert_eq!(production_of(Some("none")), None);
        assert_eq!(production_of(None), None);
    }

    #[test]
    fn a_version_rolled_back_from_is_never_the_default_target() {
        use Outcome::*;
        // v1 deployed, v2 promoted, v3 deployed straight to production, rolled back to v1.
        let rows = journal(vec![
            row(1, "deploy", Started, "", "v1"),
            row(2, "alias production", Succeeded, "", "v1"),
            row(3, "deploy", Succeeded, "", "v1"),
            row(4, "promote", Started, "v1 + canary v2 10%", "v2"),
            row(5, "alias production", Succeeded, "v1", "v2"),
            row(6, "promote", Succeeded, "v1 + canary v2 10%", "v2"),
            row(7, "deploy", Started, "v2", "v3"),
            row(8, "deploy", Succeeded, "v2", "v3"),
            row(9, "rollback", Started, "v3", "v1"),
            row(10, "rollback", Succeeded, "v3", "v1"),
        ]);
        let moves = production_moves(&rows, "local");
        assert_eq!(moves.len(), 4, "{moves:?}");
        let (target, passed) = last_healthy(&moves, Some(1), &|_| false);
        assert_eq!(target, Some(2), "v3 was rolled back from: {passed:?}");
        assert_eq!(passed.len(), 1);
        assert!(passed[0].why.contains("v3 was rolled back from"));
        // With v2's smoke test failed, nothing is left (v1 serves).
        let (target, passed) = last_healthy(&moves, Some(1), &|v| v == 2);
        assert_eq!(target, None);
        assert_eq!(passed.len(), 2);
        // A rollback to a named version (`--to 5`) is no verdict on the version it leaves,
        // however often it is made; a plain rollback is one.
        let named = |id: i64, from: &str, to: &str, target: u32| {
            let mut r = row(id, "rollback", Started, from, to);
            r.details = serde_json::json!({ "plan": { "request": { "operation": "rollback", "to": target } } });
            r
        };
        let forward = journal(vec![
            row(1, "deploy", Succeeded, "", "v1"),
            named(2, "v1", "v5", 5),
            row(3, "rollback", Succeeded, "v1", "v5"),
            named(4, "v5", "v1", 1),
            row(5, "rollback", Succeeded, "v5", "v1"),
            named(6, "v1", "v5", 5),
            row(7, "rollback", Succeeded, "v1", "v5"),
        ]);
        let moves = production_moves(&forward, "local");
        assert_eq!(last_healthy(&moves, Some(5), &|_| false).0, Some(1));
        let back = journal(vec![
            row(1, "deploy", Succeeded, "", "v1"),
            named(2, "v1", "v5", 5),
            row(3, "rollback", Succeeded, "v1", "v5"),
            row(4, "rollback", Started, "v5", "v1"),
            row(5, "rollback", Succeeded, "v5", "v1"),
        ]);
        let moves = production_moves(&back, "local");
        let (target, passed) = last_healthy(&moves, Some(1), &|_| false);
        assert_eq!(target, None);
        assert!(
            passed[0].why.contains("v5 was rolled back from"),
            "{passed:?}"
        );
        // A blocked attempt in between ends nothing and moves nothing.
        let mut blocked = row(11, "rollback", Failed, "v1", "v3");
        blocked.details = serde_json::json!({ "blocked": true });
        let mut rows = rows;
        rows.insert(0, blocked);
        assert_eq!(production_moves(&rows, "local").len(), 4);
    }

    #[test]
    fn moves_by_hand_count_and_other_environments_do_not() {
        use Outcome::*;
        let mut other = row(3, "alias production", Succeeded, "v2", "v5");
        other.environment = "staging".into();
        let rows = journal(vec![
            row(1, "alias production", Succeeded, "", "v1"),
            row(2, "alias production", Succeeded, "v1", "v2"),
            other,
        ]);
        let moves = production_moves(&rows, "local");
        assert_eq!(moves.len(), 2);
        assert_eq!(last_healthy(&moves, Some(2), &|_| false).0, Some(1));
    }
}
