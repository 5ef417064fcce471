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

/// How a version's answers are read as predictions, and its labels as truths.
#[derive(Debug, Clone)]
pub enum Reading {
    /// The predicted class (as its index) and each class's probability, a row each.
    Classifier {
        label: String,
        probabilities: String,
        classes: Arc<[String]>,
        /// The classes as integers, when they are: a label read as a number is found without
        /// writing it out as text.
        codes: Option<Arc<[i64]>>,
    },
    /// The first number of each row of the first output.
    Regressor { output: String, width: usize },
}

impl Reading {
    /// How `signature`'s answers are read; `None` when it has no output to judge.
    pub fn of(signature: &Signature) -> Option<Reading> {
        if let Some(c) = &signature.classifier {
            let (classes, codes): (Vec<String>, _) = match &c.classes {
                ClassLabels::Ints(v) => (
                    v.iter().map(i64::to_string).collect(),
                    Some(v.clone().into()),
                ),
                ClassLabels::Strings(v) => (v.clone(), None),
            };
            return Some(Reading::Classifier {
                label: c.label_output.clone(),
                probabilities: c.probabilities_output.clone(),
                classes: classes.into(),
                codes,
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
                codes,
            } => {
                let (labels, probs) = (tensor(label), tensor(probabilities));
                let k = classes.len();
                for r in 0..rows {
                    let predicted = labels
                        .and_then(|t| class_index(&t.data, r, classes, codes.as_deref()))
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
                    Value::String(s) => s.trim().to_string(),
                    Value::Number(n) => n
                        .as_i64()
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| n.to_string()),
                    Value::Bool(b) => u8::from(*b).to_string(),
                    other => return Err(format!("{other} is not a class")),
                };
                // pandas writes integer labels of a column with gaps as 1.0: the class 1.
                let text = match text.parse::<f64>() {
                    Ok(x) if x.fract() == 0.0 && !classes.contains(&text) => (x as i64).to_string(),
                    _ => text,
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

/// Which of `classes` the label output says for `row`: a string label by its text, a number
/// by its value (`codes`, the classes as integers, when they are).
fn class_index(
    data: &crate::runtime::TensorData,
    row: usize,
    classes: &[String],
    codes: Option<&[i64]>,
) -> Option<usize> {
    use crate::runtime::TensorData;
    if let TensorData::String(v) = data {
        let text = v.get(row)?;
        return classes.iter().position(|c| c == text);
    }
    let x = number_at(data, row);
    if !(x.is_finite() && x.fract() == 0.0) {
        return None;
    }
    match codes {
        Some(codes) => codes.iter().position(|c| *c == x as i64),
        None => {
            let text = (x as i64).to_string();
            classes.iter().position(|c| *c == text)
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
    /// Of its answers kept now (the latest), how many, and how many got their label: the
    /// coverage of recent traffic, which answers from before labels began to flow do not
    /// dilute forever.
    kept: u64,
    kept_labelled: u64,
    joined: VecDeque<Joined>,
    /// The quality last computed, until a label changes it (scrapes come every second).
    computed: Option<LiveQuality>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Answers to requests that named no id, by the number of the id the server gave them
    /// (`PREFIX-N`): slot `i` holds number `first + i`. Most clients send no id, and a ring of
    /// slots costs no hashing and no allocation per key.
    generated: VecDeque<Option<Answer>>,
    first: u64,
    /// Answers to requests that named their id.
    named: HashMap<Arc<str>, Answer>,
    /// Named ids in the order they were answered, for eviction by count and age.
    order: VecDeque<(Instant, Arc<str>)>,
    versions: BTreeMap<u32, VersionLabels>,
    labels: FeedbackReceipt,
}

impl Inner {
    /// Counts an answer no longer kept out of its version's recent coverage.
    fn forget(&mut self, answer: &Answer) {
        if let Some(v) = self.versions.get_mut(&answer.version) {
            v.kept = v.kept.saturating_sub(1);
            if answer.labelled {
                v.kept_labelled = v.kept_labelled.saturating_sub(1);
            }
        }
    }

    fn kept(&self) -> usize {
        self.generated.len() + self.order.len()
    }

    fn version(&mut self, version: u32, reading: &Reading) -> &mut VersionLabels {
        self.versions
            .entry(version)
            .or_insert_with(|| VersionLabels {
                reading: reading.clone(),
                answered: 0,
                labelled: 0,
                kept: 0,
                kept_labelled: 0,
                joined: VecDeque::new(),
                computed: None,
            })
    }
}

/// The kept answer of `id`, whether the client named it (`named`) or the server did
/// (`generated`, from number `first`).
fn answer_mut<'a>(
    named: &'a mut HashMap<Arc<str>, Answer>,
    generated: &'a mut VecDeque<Option<Answer>>,
    first: u64,
    id: &str,
    prefix: &str,
) -> Option<&'a mut Answer> {
    if named.contains_key(id) {
        return named.get_mut(id);
    }
    let slot = generated_number(id, prefix)?.checked_sub(first)?;
    generated.get_mut(usize::try_from(slot).ok()?)?.as_mut()
}

/// The number of an id the server gave (`PREFIX-N`).
fn generated_number(id: &str, prefix: &str) -> Option<u64> {
    id.strip_prefix(prefix)?.strip_prefix('-')?.parse().ok()
}

/// A model's answers by request id, and its versions' quality once labelled.
#[derive(Debug)]
pub struct FeedbackStore {
    model: String,
    limits: FeedbackLimits,
    /// Ids the server gives are `PREFIX-N`: a label for one of them that is no longer kept is
    /// known to be late, not unknown.
    prefix: String,
    /// The next number to give, for ids of answers not kept (numbers of kept ones are given
    /// under the lock, in the order their answers are kept).
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
            inner: Mutex::new(Inner {
                first: 1,
                ..Inner::default()
            }),
        }
    }

    /// Whether answers are kept at all (`--feedback-max-ids 0` keeps none: every label is
    /// then late).
    pub fn keeps_answers(&self) -> bool {
        self.limits.max_ids > 0
    }

    fn id_of(&self, n: u64) -> String {
        format!("{}-{n}", self.prefix)
    }

    /// The id of an answer (`asked`, or a new one), keeping `outputs` (an answer of `version`
    /// to a request of `rows` rows) under it when `reading` says how to read them.
    pub fn answer(
        &self,
        asked: Option<String>,
        version: u32,
        reading: Option<&Reading>,
        outputs: &[NamedTensor],
        rows: usize,
        now: Instant,
    ) -> String {
        let Some(reading) = reading.filter(|_| self.keeps_answers()) else {
            return asked.unwrap_or_else(|| self.id_of(self.next.fetch_add(1, Ordering::Relaxed)));
        };
        let values = reading.answers(outputs, rows);
        let answer = Answer {
            version,
            at: now,
            labelled: false,
            values,
        };
        let Ok(mut inner) = self.inner.lock() else {
            return asked.unwrap_or_else(|| self.id_of(self.next.fetch_add(1, Ordering::Relaxed)));
        };
        let counts = inner.version(version, reading);
        counts.answered += 1;
        counts.kept += 1;
        let id = match asked {
            Some(id) => {
                let key: Arc<str> = Arc::from(id.as_str());
                // A client that names two requests alike keeps the newest answer.
                if let Some(replaced) = inner.named.insert(key.clone(), answer) {
                    inner.forget(&replaced);
                }
                inner.order.push_back((now, key));
                id
            }
            None => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                // Numbers given to answers not kept leave empty slots between kept ones.
                let end = inner.first + inner.generated.len() as u64;
                if inner.generated.is_empty() {
                    inner.first = n;
                } else {
                    for _ in end..n {
                        inner.generated.push_back(None);
                    }
                }
                inner.generated.push_back(Some(answer));
                self.id_of(n)
            }
        };
        self.evict(&mut inner, now);
        id
    }

    /// Drops the oldest answers beyond the count, and those past the age.
    fn evict(&self, inner: &mut Inner, now: Instant) {
        let too_old = |at: Instant| now.saturating_duration_since(at) > self.limits.max_age;
        loop {
            // Empty slots first: they hold nothing.
            while inner.generated.front().is_some_and(Option::is_none) {
                inner.generated.pop_front();
                inner.first += 1;
            }
            let generated = inner
                .generated
                .front()
                .and_then(|a| a.as_ref().map(|a| a.at));
            let named = inner.order.front().map(|(at, _)| *at);
            let over = inner.kept() > self.limits.max_ids;
            // The older of the two fronts goes, when over the count or past the age.
            let take_generated = match (generated, named) {
                (Some(g), Some(n)) => g <= n,
                (Some(_), None) => true,
                (None, _) => false,
            };
            let oldest = if take_generated { generated } else { named };
            if !(over || oldest.is_some_and(too_old)) {
                break;
            }
            if take_generated {
                if let Some(Some(gone)) = inner.generated.pop_front() {
                    inner.forget(&gone);
                }
                inner.first += 1;
            } else if let Some((at, id)) = inner.order.pop_front() {
                // An id a client used twice is kept for its newest answer.
                if inner.named.get(&id).is_some_and(|a| a.at == at)
                    && let Some(gone) = inner.named.remove(&id)
                {
                    inner.forget(&gone);
                }
            } else {
                break;
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
            let found = answer_mut(
                &mut inner.named,
                &mut inner.generated,
                inner.first,
                id,
                &self.prefix,
            );
            let Some(answer) = found else {
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
                    if receipt.problems.len() < FeedbackReceipt::PROBLEMS_KEPT {
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
            version.kept_labelled += 1;
            version.computed = None;
            receipt.matched += 1;
        }
        // The server's totals keep counts only; reasons belong to the batch they came with.
        inner.labels.absorb(FeedbackReceipt {
            problems: Vec::new(),
            ..receipt.clone()
        });
        receipt
    }

    /// Counts labels refused before they reached the store (an item with no id or no label).
    pub fn count_invalid(&self, n: u64) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.labels.invalid += n;
        }
    }

    fn was_generated_here(&self, id: &str) -> bool {
        generated_number(id, &self.prefix).is_some_and(|n| n < self.next.load(Ordering::Relaxed))
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
            .map(|(v, labels)| {
                let mut q = match &labels.computed {
                    Some(q) => q.clone(),
                    None => {
                        let q = live_quality(*v, labels);
                        labels.computed = Some(q.clone());
                        q
                    }
                };
                // The counts move with every answer, not only with labels: never cached.
                q.answered = labels.answered;
                q.labelled = labels.labelled;
                q.coverage = labels.kept_labelled as f64 / labels.kept.max(1) as f64;
                q.kept = labels.kept;
                q.kept_labelled = labels.kept_labelled;
                q
            })
            .collect();
        FeedbackReport {
            model: self.model.clone(),
            versions,
            labels: inner.labels.clone(),
            kept: inner.generated.iter().flatten().count() as u64 + inner.named.len() as u64,
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
        coverage: labels.kept_labelled as f64 / labels.kept.max(1) as f64,
        kept: labels.kept,
        kept_labelled: labels.kept_labelled,
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
            codes: Some(vec![0, 1].into()),
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
            store.answer(
                Some(format!("r{i}")),
                2,
                Some(&classifier()),
                &answer(*p),
                1,
                now,
            );
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
        // Ids the server gives (the request named none).
        let ids: Vec<String> = (0..3)
            .map(|_| store.answer(None, 1, Some(&classifier()), &answer(0.9), 1, now))
            .collect();
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
        // Coverage is of the answers kept: both kept ones are labelled (the evicted one no
        // longer counts), though 2 of the 3 answered were.
        assert_eq!(report.versions[0].coverage, 1.0);
        assert_eq!(
            (report.versions[0].answered, report.versions[0].labelled),
            (3, 2)
        );
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
        store.answer(
            Some("batch".into()),
            1,
            Some(&classifier()),
            &two_rows,
            2,
            now,
        );
        let one = store.label(&[("batch".into(), json!(1))], now);
        assert_eq!(one.invalid, 1, "{one:?}");
        let both = store.label(&[("batch".into(), json!([1, 1]))], now);
        assert_eq!(both.matched, 1);
        let q = &store.report().versions[0];
        assert_eq!((q.labelled, q.rows), (1, 2));
        assert_eq!(q.metrics["accuracy"], 0.5);
    }

    #[test]
    fn the_oldest_answers_go_first_whoever_named_them() {
        let store = FeedbackStore::new("fraud", limits(3));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let keep = |asked: Option<&str>, when| {
            store.answer(
                asked.map(str::to_string),
                1,
                Some(&classifier()),
                &answer(0.9),
                1,
                when,
            )
        };
        let g1 = keep(None, at(0));
        keep(Some("n1"), at(1));
        // An answer not kept (no reading) still takes a number: an empty slot between kept ones,
        // and its label is late like any other the server named and no longer keeps.
        let skipped = store.answer(None, 1, None, &answer(0.9), 1, at(1));
        let g2 = keep(None, at(2));
        keep(Some("n2"), at(3));
        assert_eq!(store.report().kept, 3);
        let labels = |ids: &[&str], when| {
            let labels: Vec<(String, Value)> =
                ids.iter().map(|id| (id.to_string(), json!(1))).collect();
            store.label(&labels, when)
        };
        let r = labels(&[&g1, &skipped, "n1", &g2], at(3));
        assert_eq!((r.late, r.unknown, r.matched), (2, 0, 2), "{r:?}");
        // Past the age (an hour here) nothing is kept; an id the client named cannot be told
        // from one never answered.
        let r = labels(&["n2"], at(3 + 3601));
        assert_eq!((r.matched, r.unknown), (0, 1), "{r:?}");
        assert_eq!(store.report().kept, 0);
    }

    #[test]
    fn counts_move_with_every_answer_not_only_with_labels() {
        let store = FeedbackStore::new("fraud", limits(100));
        let now = Instant::now();
        let keep = |id: &str| {
            store.answer(
                Some(id.into()),
                1,
                Some(&classifier()),
                &answer(0.9),
                1,
                now,
            );
        };
        keep("a");
        store.label(&[("a".into(), json!(1))], now);
        assert_eq!(store.report().versions[0].coverage, 1.0);
        // Three more answers and no label: the quality is cached, the counts are not.
        for id in ["b", "c", "d"] {
            keep(id);
        }
        let q = &store.report().versions[0];
        assert_eq!((q.answered, q.labelled, q.kept), (4, 1, 4));
        assert_eq!(q.coverage, 0.25);
        // Labels written as pandas writes integers of a column with gaps: 1.0 is class 1.
        assert_eq!(store.label(&[("b".into(), json!("1.0"))], now).matched, 1);
        assert_eq!(store.label(&[("c".into(), json!(0.0))], now).matched, 1);
    }
}
