//! Two versions' answers to the same requests, compared row by row: agreement on the predicted
//! class with a confusion table, the spread of score differences, the candidate's errors and
//! latency. One tally for shadow traffic (answers as tensors, in the server) and replay (answers
//! as JSON, from the request log), so both measure and report the same way.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Score differences and latencies kept for the quantiles (the newest).
const KEPT: usize = 10_000;

/// One output of an answer, as it is compared.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedOutput {
    pub name: String,
    pub values: OutputValues,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutputValues {
    /// A class per row (integers, strings, booleans), as text.
    Classes(Vec<String>),
    /// Scores, `rows` rows of them (flattened).
    Scores { rows: usize, values: Vec<f64> },
    /// Neither: not compared.
    Other,
}

/// What a comparison has seen so far.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// The class output compared (the first one both answer), rows compared, and agreed.
    pub output: Option<String>,
    pub rows: u64,
    agreed: u64,
    /// Production's class -> the candidate's class -> rows.
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
    differences: VecDeque<f64>,
    latencies: VecDeque<f64>,
}

impl Tally {
    /// The candidate answered in `took_ms`: its outputs against production's.
    pub fn answered(
        &mut self,
        took_ms: f64,
        production: &[ComparedOutput],
        candidate: &[ComparedOutput],
    ) {
        self.requests += 1;
        push(&mut self.latencies, took_ms);
        for theirs in production {
            let Some(ours) = candidate.iter().find(|o| o.name == theirs.name) else {
                continue;
            };
            match (&theirs.values, &ours.values) {
                (OutputValues::Classes(t), OutputValues::Classes(o)) => {
                    if self
                        .output
                        .as_ref()
                        .is_some_and(|name| *name != theirs.name)
                    {
                        continue;
                    }
                    self.output = Some(theirs.name.clone());
                    for (t, o) in t.iter().zip(o) {
                        self.rows += 1;
                        if t == o {
                            self.agreed += 1;
                        }
                        *self
                            .confusion
                            .entry(t.clone())
                            .or_default()
                            .entry(o.clone())
                            .or_default() += 1;
                    }
                }
                (
                    OutputValues::Scores { rows, values: t },
                    OutputValues::Scores { values: o, .. },
                ) => {
                    for d in row_differences(*rows, t, o) {
                        push(&mut self.differences, d);
                    }
                }
                _ => {}
            }
        }
    }

    /// The candidate failed to answer, after `took_ms`.
    pub fn failed(&mut self, took_ms: f64, error: String) {
        self.requests += 1;
        self.errors += 1;
        push(&mut self.latencies, took_ms);
        self.first_error.get_or_insert(error);
    }

    /// The share of compared rows where both answered the same class.
    pub fn agreement(&self) -> Option<f64> {
        (self.rows > 0).then(|| self.agreed as f64 / self.rows as f64)
    }

    /// Per row, the largest difference between the two's scores: median, 95th percentile and
    /// largest (over the newest rows kept).
    pub fn score_difference(&self) -> Option<[f64; 3]> {
        let q = quantiles(&self.differences, &[0.5, 0.95, 1.0])?;
        Some([q[0], q[1], q[2]])
    }

    /// The candidate's time per answer, median and 99th percentile, in milliseconds.
    pub fn latency_ms(&self) -> Option<[f64; 2]> {
        let q = quantiles(&self.latencies, &[0.5, 0.99])?;
        Some([q[0], q[1]])
    }
}

/// "1 row", "300 rows": a count with its noun, singular or plural.
pub fn counted(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Distinct classes each side answered: (production's, the candidate's).
pub fn classes(confusion: &BTreeMap<String, BTreeMap<String, u64>>) -> (usize, usize) {
    let candidate: BTreeSet<&String> = confusion.values().flat_map(|c| c.keys()).collect();
    (confusion.len(), candidate.len())
}

fn push(kept: &mut VecDeque<f64>, value: f64) {
    if kept.len() == KEPT {
        kept.pop_front();
    }
    kept.push_back(value);
}

fn quantiles(values: &VecDeque<f64>, qs: &[f64]) -> Option<Vec<f64>> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = values.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    Some(
        qs.iter()
            .map(|q| sorted[(((sorted.len() - 1) as f64) * q).round() as usize])
            .collect(),
    )
}

/// Per row, the largest absolute difference between the two's scores (nothing when their
/// shapes differ).
fn row_differences(rows: usize, theirs: &[f64], ours: &[f64]) -> Vec<f64> {
    if theirs.len() != ours.len() || theirs.is_empty() {
        return Vec::new();
    }
    let width = (theirs.len() / rows.max(1)).max(1);
    theirs
        .chunks(width)
        .zip(ours.chunks(width))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes_of(name: &str, v: &[&str]) -> ComparedOutput {
        ComparedOutput {
            name: name.into(),
            values: OutputValues::Classes(v.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn agreement_confusion_and_score_differences_are_counted_per_row() {
        let mut t = Tally::default();
        let scores = |v: &[f64]| ComparedOutput {
            name: "p".into(),
            values: OutputValues::Scores {
                rows: 2,
                values: v.to_vec(),
            },
        };
        t.answered(
            1.0,
            &[
                classes_of("label", &["a", "b"]),
                scores(&[0.9, 0.1, 0.2, 0.8]),
            ],
            &[
                classes_of("label", &["a", "a"]),
                scores(&[0.7, 0.3, 0.6, 0.4]),
            ],
        );
        t.failed(3.0, "boom".into());
        assert_eq!(t.rows, 2);
        assert_eq!(t.agreement(), Some(0.5));
        assert_eq!(t.confusion["b"]["a"], 1);
        assert_eq!(classes(&t.confusion), (2, 1));
        let [median, _, largest] = t.score_difference().unwrap();
        assert!((median - 0.4).abs() < 1e-9 && (largest - 0.4).abs() < 1e-9);
        assert_eq!((t.requests, t.errors), (2, 1));
        assert_eq!(t.first_error.as_deref(), Some("boom"));
        assert_eq!(t.latency_ms().unwrap()[1], 3.0);
    }
}
