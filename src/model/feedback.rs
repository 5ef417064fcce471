//! Ground truth that arrives after the answer: what a model server says of the labels it was
//! sent and of each version's answers once labelled.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What became of one batch of labels posted to a model server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackReceipt {
    /// Labels joined with the answer of their request id.
    pub matched: u64,
    /// Labels for an answer this server gave but no longer keeps (older or beyond the count
    /// it keeps): too late to join, counted, never dropped silently.
    pub late: u64,
    /// Labels for an id not kept that the server did not name: never answered here, answered
    /// before the server restarted, or named by the client and no longer kept (ids the server
    /// names are told apart as late).
    pub unknown: u64,
    /// A second label for an answer already labelled (the first one counts).
    pub duplicate: u64,
    /// Labels that are not one of the version's classes (or not a number for a regressor),
    /// or whose count does not match the request's rows.
    pub invalid: u64,
    /// The first few reasons for invalid labels, e.g. `id "a-17": "cat" is not a class`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl FeedbackReceipt {
    /// Reasons kept for invalid labels (the count has them all).
    pub const PROBLEMS_KEPT: usize = 5;

    /// Adds `other`'s counts to these, and its reasons while there is room.
    pub fn absorb(&mut self, other: FeedbackReceipt) {
        self.matched += other.matched;
        self.late += other.late;
        self.unknown += other.unknown;
        self.duplicate += other.duplicate;
        self.invalid += other.invalid;
        let room = Self::PROBLEMS_KEPT.saturating_sub(self.problems.len());
        self.problems.extend(other.problems.into_iter().take(room));
    }
}

/// One version's answers against their labels, as a model server joined them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveQuality {
    pub version: u32,
    /// Requests this version answered since the server loaded it.
    pub answered: u64,
    /// Of those, requests whose label arrived.
    pub labelled: u64,
    /// Of its answers kept now for their labels (the latest, up to the server's count and
    /// age), the share whose label arrived: how much of recent traffic the quality speaks for.
    pub coverage: f64,
    /// The two counts of that share: answers kept, and those of them labelled.
    pub kept: u64,
    pub kept_labelled: u64,
    /// Labelled rows the metrics are computed on (the latest, up to the server's limit).
    pub rows: u64,
    /// Median time from an answer to its label, over those rows.
    pub lag_median_seconds: Option<f64>,
    /// accuracy, log_loss and (two classes) auc; or mae and rmse.
    pub metrics: BTreeMap<String, f64>,
}

/// A model's feedback as its server holds it: every version's quality and the labels that
/// could not be joined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackReport {
    pub model: String,
    pub versions: Vec<LiveQuality>,
    /// Labels since the server started, by what became of them.
    pub labels: FeedbackReceipt,
    /// Answers kept for joining now, and the limits they are kept within.
    pub kept: u64,
    pub max_kept: u64,
    pub max_age_seconds: f64,
}
