//! Ground truth that arrives late: each answer is kept by its request id (bounded by count and
//! by age), joined with its label when the label comes, and per version the quality of the
//! labelled answers (accuracy, log loss, AUC; MAE, RMSE), the share of answers labelled and the
//! lag. Labels that cannot be joined are counted by why, never dropped silently.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::model::{ClassLabels, FeedbackReceipt, FeedbackReport, LiveQuality, Signature};
use crate::runtime::NamedTensor;
use crate::stats::quality;

use super::drift::number_at;

/// How many answers a model's store keeps for joining, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeedbackLimits {
    pub max_ids: usize,
    pub max_age: Duration,
}

impl Default for FeedbackLimits {
    fn default() -> Self {
        Self {
            max_ids: 100_000,
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// Reasons kept in a receipt for labels that were invalid (the count has them all).
const PROBLEMS_KEPT: usize = 5;

/// How a version's answers are read as predictions, and its labels as truths.
#[derive(Debug, Clone)]
pub enum Reading {
    /// The predicted class (as its index) and each class's probability, a row each.
    Classifier {
        label: String,
        probabilities: String,
        classes: Arc<[String]>,
    },
    /// The first number of each row of the first output.
    Regressor { output: String, width: usize },
}

impl Reading {
    /// How `signature`'s answers are read; `None` when it has no output to judge.
    pub fn of(signature: &Signature) -> Option<Reading> {
        if let Some(c) = &signature.classifier {
            let classes: Vec<String> = match &c.classes {
                ClassLabels::Ints(v) => v.iter().map(i64::to_string).collect(),
                ClassLabels::Strings(v) => v.clone(),
            };
            return Some(Reading::Classifier {
                label: c.label_output.clone(),
                probabilities: c.probabilities_output.clone(),
                classes: classes.into(),
            });
        }
        let output = signature.outputs.first()?;
        Some(Reading::Regressor {
            output: output.name.clone(),
            width: output.row_width().unwrap_or(1),
        })
    }

    /// Numbers kept per answered row: the predicted class and the probabilities, or the value.
    fn width(&self) -> usize {
        match self {
            Reading::Classifier { classes, .. } => 1 + classes.len(),
            Reading::Regressor { .. } => 1,
        }
    }

    /// The kept numbers of each of `rows` rows of `outputs`, one row after another.
    fn answers(&self, outputs: &[NamedTensor], rows: usize) -> Box<[f64]> {
        let tensor = |name: &str| outputs.iter().find(|t| t.name == name);
        let mut values = Vec::with_capacity(rows * self.width());
        match self {
            Reading::Classifier {
                label,
                probabilities,
                classes,
            } => {
                let (labels, probs) = (tensor(label), tensor(probabilities));
                let k = classes.len();
                for r in 0..rows {
                    let predicted = labels
                        .and_then(|t| class_text(&t.data, r))
                        .and_then(|text| classes.iter().position(|c| *c == text))
                        .map(|i| i as f64)
                        .unwrap_or(f64::NAN);
                    values.push(predicted);
                    values.extend(
                        (0..k).map(|i| probs.map_or(f64::NAN, |t| number_at(&t.data, r * k + i))),
                    );
                }
            }
            Reading::Regressor { output, width } => {
                let t = tensor(output);
                values.extend(
                    (0..rows).map(|r| t.map_or(f64::NAN, |t| number_at(&t.data, r * width))),
                );
            }
        }
        values.into_boxed_slice()
    }

    /// A label as the number joined against the answers: the class's index, or the value.
    fn truth(&self, label: &Value) -> Result<f64, String> {
        match self {
            Reading::Classifier { classes, .. } => {
                let text = match label {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n
                        .as_i64()
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| n.to_string()),
                    Value::Bool(b) => u8::from(*b).to_string(),
                    other => return Err(format!("{other} is not a class")),
                };
                classes
                    .iter()
                    .position(|c| *c == text)
                    .map(|i| i as f64)
                    .ok_or_else(|| {
                        format!(
                            "{text:?} is not one of the classes ({})",
                            classes.join(", ")
                        )
                    })
            }
            Reading::Regressor { .. } => match label {
                Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
                Value::String(s) => s
                    .trim()
                    .parse()
                    .map_err(|_| format!("{s:?} is not a number")),
                other => Err(format!("{other} is not a number")),
            },
        }
    }
}

/// A class label as text: an integer label as its digits, a string label as itself.
fn class_text(data: &crate::runtime::TensorData, row: usize) -> Option<String> {
    use crate::runtime::TensorData;
    match data {
        TensorData::String(v) => v.get(row).cloned(),
        TensorData::I64(v) => v.get(row).map(i64::to_string),
        TensorData::I32(v) => v.get(row).map(i32::to_string),
        other => {
            let x = number_at(other, row);
            (x.is_finite() && x.fract() == 0.0).then(|| (x as i64).to_string())
        }
    }
}

/// One answer waiting for its label.
#[derive(Debug)]
struct Answer {
    version: u32,
    at: Instant,
    labelled: bool,
    /// `Reading::width` numbers per row.
    values: Box<[f64]>,
}

/// One labelled row.
#[derive(Debug)]
struct Joined {
    truth: f64,
    values: Box<[f64]>,
    lag_seconds: f64,
}

#[derive(Debug)]
struct VersionLabels {
    reading: Reading,
    answered: u64,
    labelled: u64,
    joined: VecDeque<Joined>,
    /// The quality last computed, until a label changes it (scrapes come every second).
    computed: Option<LiveQuality>,
}

#[derive(Debug, Default)]
struct Inner {
    answers: HashMap<Arc<str>, Answer>,
    /// Ids in the order they were answered, for eviction by count and age.
    order: VecDeque<(Instant, Arc<str>)>,
    versions: BTreeMap<u32, VersionLabels>,
    labels: FeedbackReceipt,
}

/// A model's answers by request id, and its versions' quality once labelled.
#[derive(Debug)]
pub struct FeedbackStore {
    model: String,
    limits: FeedbackLimits,
    /// Generated ids are `PREFIX-N`: a label for one of them that is no longer kept is known
    /// to be late, not unknown.
    prefix: String,
    next: AtomicU64,
    inner: Mutex<Inner>,
}

impl FeedbackStore {
    pub fn new(model: &str, limits: FeedbackLimits) -> Self {
        let mut bytes = [0u8; 4];
        // Without randomness the ids are still unique within this process.
        let _ = getrandom::fill(&mut bytes);
        Self {
            model: model.to_string(),
            limits,
            prefix: bytes.iter().map(|b| format!("{b:02x}")).collect(),
            next: AtomicU64::new(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// A fresh request id for an answer whose request named none.
    pub fn new_id(&self) -> String {
        format!(
            "{}-{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Keeps `outputs` (an answer of `version` to a request of `rows` rows) under `id`.
    pub fn remember(
        &self,
        id: &str,
        version: u32,
        reading: &Reading,
        outputs: &[NamedTensor],
        rows: usize,
        now: Instant,
    ) {
        let values = reading.answers(outputs, rows);
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let id: Arc<str> = Arc::from(id);
        inner
            .versions
            .entry(version)
            .or_insert_with(|| VersionLabels {
                reading: reading.clone(),
                answered: 0,
                labelled: 0,
                joined: VecDeque::new(),
                computed: None,
            })
            .answered += 1;
        inner.answers.insert(
            id.clone(),
            Answer {
                version,
                at: now,
                labelled: false,
                values,
            },
        );
        inner.order.push_back((now, id));
        self.evict(&mut inner, now);
    }

    fn evict(&self, inner: &mut Inner, now: Instant) {
        while inner.order.len() > self.limits.max_ids
            || inner
                .order
                .front()
                .is_some_and(|(at, _)| now.saturating_duration_since(*at) > self.limits.max_age)
        {
            let Some((at, id)) = inner.order.pop_front() else {
                break;
            };
            // An id a client used twice is kept for its newest answer.
            if inner.answers.get(&id).is_some_and(|a| a.at == at) {
                inner.answers.remove(&id);
            }
        }
    }

    /// Joins labels (`{"id": ..., "label": ...}`, the label one value or one per row of the
    /// request) with the answers kept.
    pub fn label(&self, labels: &[(String, Value)], now: Instant) -> FeedbackReceipt {
        let mut receipt = FeedbackReceipt::default();
        let Ok(mut inner) = self.inner.lock() else {
            return receipt;
        };
        self.evict(&mut inner, now);
        let max_joined = self.limits.max_ids;
        let inner = &mut *inner;
        for (id, label) in labels {
            let Some(answer) = inner.answers.get_mut(id.as_str()) else {
                if self.was_generated_here(id) {
                    receipt.late += 1;
                } else {
                    receipt.unknown += 1;
                }
                continue;
            };
            if answer.labelled {
                receipt.duplicate += 1;
                continue;
            }
            let Some(version) = inner.versions.get_mut(&answer.version) else {
                receipt.unknown += 1;
                continue;
            };
            let width = version.reading.width();
            let rows = answer.values.len() / width.max(1);
            let truths: Result<Vec<f64>, String> = match label {
                Value::Array(per_row) if per_row.len() == rows => {
                    per_row.iter().map(|l| version.reading.truth(l)).collect()
                }
                Value::Array(per_row) => Err(format!(
                    "{} labels for a request of {rows} rows",
                    per_row.len()
                )),
                one if rows == 1 => version.reading.truth(one).map(|t| vec![t]),
                _ => Err(format!(
                    "one label for a request of {rows} rows (send one per row, as a list)"
                )),
            };
            let truths = match truths {
                Ok(t) => t,
                Err(why) => {
                    receipt.invalid += 1;
                    if receipt.problems.len() < PROBLEMS_KEPT {
                        receipt.problems.push(format!("id {id:?}: {why}"));
                    }
                    continue;
                }
            };
            answer.labelled = true;
            let lag_seconds = now.saturating_duration_since(answer.at).as_secs_f64();
            for (row, truth) in truths.into_iter().enumerate() {
                version.joined.push_back(Joined {
                    truth,
                    values: answer.values[row * width..(row + 1) * width].into(),
                    lag_seconds,
                });
            }
            while version.joined.len() > max_joined {
                version.joined.pop_front();
            }
            version.labelled += 1;
            version.computed = None;
            receipt.matched += 1;
        }
        let all = &mut inner.labels;
        all.matched += receipt.matched;
        all.late += receipt.late;
        all.unknown += receipt.unknown;
        all.duplicate += receipt.duplicate;
        all.invalid += receipt.invalid;
        receipt
    }

    fn was_generated_here(&self, id: &str) -> bool {
        id.strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n < self.next.load(Ordering::Relaxed))
    }

    /// Every version's quality (recomputed only where labels arrived since), and the labels.
    pub fn report(&self) -> FeedbackReport {
        let Ok(mut inner) = self.inner.lock() else {
            return FeedbackReport {
                model: self.model.clone(),
                versions: Vec::new(),
                labels: FeedbackReceipt::default(),
                kept: 0,
                max_kept: self.limits.max_ids as u64,
                max_age_seconds: self.limits.max_age.as_secs_f64(),
            };
        };
        let versions = inner
            .versions
            .iter_mut()
            .map(|(v, labels)| match &labels.computed {
                Some(q) => q.clone(),
                None => {
                    let q = live_quality(*v, labels);
                    labels.computed = Some(q.clone());
                    q
                }
            })
            .collect();
        FeedbackReport {
            model: self.model.clone(),
            versions,
            labels: inner.labels.clone(),
            kept: inner.answers.len() as u64,
            max_kept: self.limits.max_ids as u64,
            max_age_seconds: self.limits.max_age.as_secs_f64(),
        }
    }
}

/// A version's quality on its labelled rows.
fn live_quality(version: u32, labels: &VersionLabels) -> LiveQuality {
    let joined = &labels.joined;
    let metrics = match &labels.reading {
        Reading::Classifier { classes, .. } => {
            let k = classes.len();
            // A row the model answered with no class (NaN) counts as wrong.
            let predicted: Vec<usize> = joined
                .iter()
                .map(|j| index_or(j.values[0], usize::MAX))
                .collect();
            let truths: Vec<usize> = joined
                .iter()
                .map(|j| index_or(j.truth, usize::MAX - 1))
                .collect();
            let probabilities: Vec<f64> = joined
                .iter()
                .flat_map(|j| j.values[1..].iter().copied())
                .collect();
            quality::classification(&predicted, &probabilities, k, &truths)
        }
        Reading::Regressor { .. } => {
            let predicted: Vec<f64> = joined.iter().map(|j| j.values[0]).collect();
            let truths: Vec<f64> = joined.iter().map(|j| j.truth).collect();
            quality::regression(&predicted, &truths)
        }
    };
    let mut lags: Vec<f64> = joined.iter().map(|j| j.lag_seconds).collect();
    lags.sort_by(f64::total_cmp);
    LiveQuality {
        version,
        answered: labels.answered,
        labelled: labels.labelled,
        coverage: labels.labelled as f64 / labels.answered.max(1) as f64,
        rows: joined.len() as u64,
        lag_median_seconds: (!lags.is_empty()).then(|| crate::stats::quantile(&lags, 0.5)),
        metrics: metrics
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

fn index_or(value: f64, none: usize) -> usize {
    if value.is_finite() && value >= 0.0 {
        value as usize
    } else {
        none
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::TensorData;
    use serde_json::json;

    fn classifier() -> Reading {
        Reading::Classifier {
            label: "label".into(),
            probabilities: "probabilities".into(),
            classes: vec!["0".to_string(), "1".to_string()].into(),
        }
    }

    /// A binary classifier's answer to one row: class 1 when `p1 >= 0.5`.
    fn answer(p1: f32) -> Vec<NamedTensor> {
        vec![
            NamedTensor {
                name: "label".into(),
                shape: vec![1],
                data: TensorData::I64(vec![i64::from(p1 >= 0.5)]),
            },
            NamedTensor {
                name: "probabilities".into(),
                shape: vec![1, 2],
                data: TensorData::F32(vec![1.0 - p1, p1]),
            },
        ]
    }

    fn limits(max_ids: usize) -> FeedbackLimits {
        FeedbackLimits {
            max_ids,
            max_age: Duration::from_secs(3600),
        }
    }

    #[test]
    fn labels_join_their_answers_into_the_versions_quality() {
        let store = FeedbackStore::new("fraud", limits(100));
        let now = Instant::now();
        // The same rows as stats::quality's test: accuracy 0.8, log loss 0.34136605168855 and
        // AUC 1.0 by scikit-learn (at FP32 probabilities here: log loss within 1e-7).
        let p1 = [0.2, 0.7, 0.4, 0.1, 0.9];
        let truth = [0, 1, 1, 0, 1];
        for (i, p) in p1.iter().enumerate() {
            store.remember(&format!("r{i}"), 2, &classifier(), &answer(*p), 1, now);
        }
        let labels: Vec<(String, Value)> = truth
            .iter()
            .enumerate()
            .map(|(i, y)| (format!("r{i}"), json!(y)))
            .collect();
        let later = now + Duration::from_secs(30);
        let receipt = store.label(&labels[..4], later);
        assert_eq!(receipt.matched, 4);
        // Labels as text join too ("1" is class 1).
        let receipt = store.label(&[("r4".into(), json!("1"))], later);
        assert_eq!(receipt.matched, 1);
        let q = &store.report().versions[0];
        assert_eq!((q.version, q.answered, q.labelled, q.rows), (2, 5, 5, 5));
        assert_eq!(q.coverage, 1.0);
        assert_eq!(q.lag_median_seconds, Some(30.0));
        assert_eq!(q.metrics["accuracy"], 0.8);
        assert_eq!(q.metrics["auc"], 1.0);
        assert!(
            (q.metrics["log_loss"] - 0.341_366_051_688_55).abs() < 1e-7,
            "{q:?}"
        );
    }

    #[test]
    fn labels_that_cannot_be_joined_are_counted_by_why() {
        let store = FeedbackStore::new("fraud", limits(2));
        let now = Instant::now();
        let ids: Vec<String> = (0..3).map(|_| store.new_id()).collect();
        for id in &ids {
            store.remember(id, 1, &classifier(), &answer(0.9), 1, now);
        }
        let receipt = store.label(
            &[
                // Answered, then pushed out by the two after it: late.
                (ids[0].clone(), json!(1)),
                (ids[1].clone(), json!(1)),
                (ids[1].clone(), json!(0)),
                ("never-answered".into(), json!(1)),
                (ids[2].clone(), json!("cat")),
            ],
            now,
        );
        assert_eq!(
            (
                receipt.matched,
                receipt.late,
                receipt.duplicate,
                receipt.unknown,
                receipt.invalid
            ),
            (1, 1, 1, 1, 1),
            "{receipt:?}"
        );
        assert!(receipt.problems[0].contains("\"cat\" is not one of the classes (0, 1)"));
        // The invalid label left its answer waiting: a valid one still joins.
        assert_eq!(store.label(&[(ids[2].clone(), json!(1))], now).matched, 1);
        let report = store.report();
        assert_eq!(report.labels.late, 1);
        assert_eq!(report.kept, 2);
        assert_eq!(report.versions[0].coverage, 2.0 / 3.0);
    }

    #[test]
    fn a_request_of_several_rows_takes_one_label_per_row() {
        let store = FeedbackStore::new("fraud", limits(10));
        let now = Instant::now();
        let two_rows = vec![
            NamedTensor {
                name: "label".into(),
                shape: vec![2],
                data: TensorData::I64(vec![1, 0]),
            },
            NamedTensor {
                name: "probabilities".into(),
                shape: vec![2, 2],
                data: TensorData::F32(vec![0.25, 0.75, 0.5, 0.5]),
            },
        ];
        store.remember("batch", 1, &classifier(), &two_rows, 2, now);
        let one = store.label(&[("batch".into(), json!(1))], now);
        assert_eq!(one.invalid, 1, "{one:?}");
        let both = store.label(&[("batch".into(), json!([1, 1]))], now);
        assert_eq!(both.matched, 1);
        let q = &store.report().versions[0];
        assert_eq!((q.labelled, q.rows), (1, 2));
        assert_eq!(q.metrics["accuracy"], 0.5);
    }
}
