//! The sliding window of recent inputs for one version (bounded by count and by age), and the
//! drift report computed from it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::{
    BaselineProfile, DriftReport, DriftThresholds, FeatureDrift, FeatureKind, Histogram,
    NumericProfile, Signature, Verdict,
};
use crate::runtime::{NamedTensor, TensorData};
use crate::stats::bin_index;
use crate::stats::drift as stats;

use super::outputs::{OutputColumn, number_at};

/// How much recent input a window keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowLimits {
    pub max_rows: usize,
    pub max_age: Duration,
}

impl Default for WindowLimits {
    fn default() -> Self {
        Self {
            max_rows: 2000,
            max_age: Duration::from_secs(600),
        }
    }
}

/// Where a feature's value is found in a request, and how it is encoded in the window.
#[derive(Debug, Clone)]
struct Column {
    input: String,
    offset: usize,
    width: usize,
    /// For categorical features: the category values (strings) and their codes (numbers).
    categories: Option<(Vec<String>, Vec<Option<f64>>)>,
}

/// Recent inputs, column by column. Categorical values are stored as the category's index
/// (-1 when unseen in the reference); missing values as NaN.
#[derive(Debug)]
pub struct DriftWindow {
    model: String,
    version: u32,
    /// Shared with the snapshots a report is scored from, outside the window's lock.
    profile: Arc<BaselineProfile>,
    columns: Vec<Column>,
    limits: WindowLimits,
    times: VecDeque<Instant>,
    values: Vec<VecDeque<f64>>,
    /// The answers kept per row, one column per signal of the reference predictions (none
    /// when the baseline has no predictions).
    outputs: Vec<OutputColumn>,
    output_values: Vec<VecDeque<f64>>,
}

impl DriftWindow {
    /// A window for a version with a baseline profile; `None` when it has none (no drift then).
    pub fn new(
        model: &str,
        version: u32,
        signature: &Signature,
        profile: Option<&BaselineProfile>,
        limits: WindowLimits,
    ) -> Option<Self> {
        let profile = Arc::new(profile?.clone());
        let feature_columns = signature.feature_columns();
        if feature_columns.len() != profile.features.len() {
            return None;
        }
        let columns = feature_columns
            .iter()
            .zip(&profile.features)
            .map(|(c, f)| Column {
                input: signature.inputs[c.input_index].name.clone(),
                offset: c.offset,
                width: signature.inputs[c.input_index].row_width().unwrap_or(1),
                categories: match &f.kind {
                    FeatureKind::Categorical { categories } => Some((
                        categories.iter().map(|c| c.value.clone()).collect(),
                        categories.iter().map(|c| c.code).collect(),
                    )),
                    FeatureKind::Numeric(_) => None,
                },
            })
            .collect::<Vec<_>>();
        let values = vec![VecDeque::with_capacity(limits.max_rows.min(4096)); columns.len()];
        let outputs = profile
            .predictions
            .as_ref()
            .and_then(|p| super::outputs::columns(signature, p))
            .unwrap_or_default();
        let output_values = vec![VecDeque::with_capacity(limits.max_rows.min(4096)); outputs.len()];
        Some(Self {
            model: model.to_string(),
            version,
            profile,
            columns,
            limits,
            times: VecDeque::new(),
            values,
            outputs,
            output_values,
        })
    }

    /// Records every row of a request's inputs, and of its answers (`outputs`).
    pub fn record(&mut self, inputs: &[NamedTensor], outputs: &[NamedTensor], now: Instant) {
        let rows = inputs
            .first()
            .and_then(|t| t.shape.first().copied())
            .unwrap_or(0);
        for r in 0..rows {
            for (column, values) in self.columns.iter().zip(self.values.iter_mut()) {
                let value = inputs
                    .iter()
                    .find(|t| t.name == column.input)
                    .map(|t| encode(column, &t.data, r * column.width + column.offset))
                    .unwrap_or(f64::NAN);
                values.push_back(value);
            }
            for (column, values) in self.outputs.iter().zip(self.output_values.iter_mut()) {
                values.push_back(column.value(outputs, r));
            }
            self.times.push_back(now);
        }
        self.evict(now);
    }

    fn evict(&mut self, now: Instant) {
        while self.times.len() > self.limits.max_rows
            || self
                .times
                .front()
                .is_some_and(|t| now.duration_since(*t) > self.limits.max_age)
        {
            self.times.pop_front();
            for v in self.values.iter_mut().chain(self.output_values.iter_mut()) {
                v.pop_front();
            }
        }
    }

    pub fn samples(&self) -> usize {
        self.times.len()
    }

    /// Scores the window against the baseline.
    pub fn report(&mut self, now: Instant, thresholds: &DriftThresholds) -> DriftReport {
        self.snapshot(now).report(thresholds)
    }

    /// The window's rows now, copied (a few thousand numbers per feature) so that scoring,
    /// which can take milliseconds per feature (the exact KS p-value), runs without holding
    /// the window's lock: requests go on recording meanwhile.
    pub fn snapshot(&mut self, now: Instant) -> WindowSnapshot {
        self.evict(now);
        WindowSnapshot {
            model: self.model.clone(),
            version: self.version,
            profile: self.profile.clone(),
            values: self.values.clone(),
            output_values: self.output_values.clone(),
            times: self.times.clone(),
            taken: now,
            rows: self.times.len() as u64,
            seconds: self
                .times
                .front()
                .map(|t| now.duration_since(*t).as_secs_f64())
                .unwrap_or(0.0),
        }
    }
}

/// A window's rows at one moment, scored into a drift report.
#[derive(Debug, Clone)]
pub struct WindowSnapshot {
    model: String,
    version: u32,
    profile: Arc<BaselineProfile>,
    values: Vec<VecDeque<f64>>,
    output_values: Vec<VecDeque<f64>>,
    /// When each row was recorded, and when the snapshot was taken: a canary is compared with
    /// the stable version over the period both windows cover.
    times: VecDeque<Instant>,
    taken: Instant,
    rows: u64,
    seconds: f64,
}

impl WindowSnapshot {
    /// Scores the rows against the baseline.
    pub fn report(&self, thresholds: &DriftThresholds) -> DriftReport {
        let n = self.rows;
        let enough = n >= thresholds.min_samples.max(1);
        let answers = self
            .profile
            .predictions
            .iter()
            .flat_map(|p| p.outputs.iter())
            .zip(&self.output_values)
            .count();
        let level = thresholds.significance(self.profile.features.len() + answers);
        let score = |(feature, values): (&crate::model::FeatureProfile, &VecDeque<f64>)| {
            let mut drift = match &feature.kind {
                FeatureKind::Numeric(p) => numeric(&feature.name, p, values, thresholds, level),
                FeatureKind::Categorical { categories } => {
                    let reference: Vec<u64> = categories.iter().map(|c| c.count).collect();
                    let labels = categories.iter().map(|c| c.value.clone()).collect();
                    categorical(&feature.name, labels, &reference, values, thresholds, level)
                }
            };
            if !enough {
                drift.verdict = Verdict::InsufficientData;
            }
            drift
        };
        // The answers' drift against what the version answered on its reference rows.
        let predictions: Vec<FeatureDrift> = self
            .profile
            .predictions
            .iter()
            .flat_map(|p| p.outputs.iter())
            .zip(&self.output_values)
            .map(score)
            .collect();
        let features: Vec<FeatureDrift> = self
            .profile
            .features
            .iter()
            .zip(&self.values)
            .map(score)
            .collect();
        let drifted = features
            .iter()
            .filter(|f| f.verdict == Verdict::Drift)
            .count();
        let share = if features.is_empty() {
            0.0
        } else {
            drifted as f64 / features.len() as f64
        };
        // The version's verdict covers its answers too: answers that drift are a fleet alert
        // and a drift gate even when each input alone looks fine.
        let verdict = if !enough {
            Verdict::InsufficientData
        } else {
            features
                .iter()
                .chain(&predictions)
                .map(|f| f.verdict)
                .max()
                .unwrap_or(Verdict::Ok)
        };
        DriftReport {
            model: self.model.clone(),
            version: self.version,
            window_samples: n,
            window_seconds: self.seconds,
            drift_share: share,
            verdict,
            thresholds: *thresholds,
            features,
            predictions,
            answers_versus: None,
        }
    }
}

impl WindowSnapshot {
    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn taken(&self) -> Instant {
        self.taken
    }

    /// When the oldest row was recorded (`None` for an empty window).
    pub fn oldest(&self) -> Option<Instant> {
        self.times.front().copied()
    }

    /// Each answer signal kept with its values; `None` when the version keeps no answers.
    pub fn answers(&self) -> Option<Vec<(&crate::model::FeatureProfile, &VecDeque<f64>)>> {
        let outputs = &self.profile.predictions.as_ref()?.outputs;
        (!self.output_values.is_empty()).then(|| outputs.iter().zip(&self.output_values).collect())
    }

    /// The values of `column` recorded at or after `since` (times only grow along a window).
    pub fn since(&self, column: &VecDeque<f64>, since: Instant) -> Vec<f64> {
        let skip = self.times.partition_point(|t| *t < since);
        column.iter().skip(skip).copied().collect()
    }

    /// Rows recorded at or after `since`.
    pub fn count_since(&self, since: Instant) -> u64 {
        (self.times.len() - self.times.partition_point(|t| *t < since)) as u64
    }
}

/// One value of a request as the window stores it.
fn encode(column: &Column, data: &TensorData, index: usize) -> f64 {
    match (&column.categories, data) {
        (Some((values, _)), TensorData::String(s)) => s
            .get(index)
            .map(|v| {
                if v.is_empty() {
                    f64::NAN
                } else {
                    values
                        .iter()
                        .position(|c| c == v)
                        .map(|i| i as f64)
                        .unwrap_or(-1.0)
                }
            })
            .unwrap_or(f64::NAN),
        (Some((_, codes)), data) => {
            let v = number_at(data, index);
            if v.is_nan() {
                return f64::NAN;
            }
            codes
                .iter()
                .position(|c| *c == Some(v))
                .map(|i| i as f64)
                .unwrap_or(-1.0)
        }
        (None, data) => number_at(data, index),
    }
}

fn numeric(
    name: &str,
    p: &NumericProfile,
    values: &VecDeque<f64>,
    t: &DriftThresholds,
    level: f64,
) -> FeatureDrift {
    let total = values.len().max(1) as f64;
    let mut live: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let missing_rate = (values.len() - live.len()) as f64 / total;
    live.sort_by(f64::total_cmp);
    // Judged at FP32 precision: a reference value sent back as FP32 (79.05 as 79.050003) is in
    // range, as the model received it.
    let (low, high) = (p.min as f32 as f64, p.max as f32 as f64);
    let (low, high) = (low.min(p.min), high.max(p.max));
    let out_of_range = live.iter().filter(|v| **v < low || **v > high).count() as f64 / total;
    let mut live_counts = vec![0u64; p.bin_counts.len()];
    for v in &live {
        live_counts[bin_index(&p.bin_edges, *v)] += 1;
    }
    let psi = stats::psi(&p.bin_counts, &live_counts);
    let d = stats::ks_statistic(&p.sample, &live);
    // A sketch (evenly spaced order statistics of a larger reference) stands for all its rows.
    let reference_rows = (p.n as usize).max(p.sample.len());
    let ks_p = stats::ks_p_value(d, reference_rows, live.len());
    // Whether sampling alone explains the bins' difference: the chi-square test of the same
    // bins, which holds its level where PSI's own sampling spread is skewed.
    let (_, psi_p, _) = stats::chi2_contingency(&p.bin_counts, &live_counts);
    let verdict = t.numeric_verdict(psi, psi_p, d, ks_p, level);
    let proportions = |counts: &[u64]| {
        let sum = counts.iter().sum::<u64>().max(1) as f64;
        counts.iter().map(|c| *c as f64 / sum).collect::<Vec<_>>()
    };
    let bins = p
        .bin_edges
        .windows(2)
        .map(|w| format!("{:.4}..{:.4}", w[0], w[1]))
        .collect();
    FeatureDrift {
        name: name.to_string(),
        kind: "numeric".into(),
        method: "psi".into(),
        statistic: psi,
        threshold: t.psi_drift,
        psi: Some(psi),
        ks_statistic: Some(d),
        ks_p_value: Some(ks_p),
        js_distance: None,
        js_base: None,
        chi2_p_value: None,
        psi_p_value: Some(psi_p),
        js_p_value: None,
        significance: Some(level),
        missing_rate,
        out_of_range_rate: out_of_range,
        n: live.len() as u64,
        verdict,
        histogram: Histogram {
            bins,
            reference: proportions(&p.bin_counts),
            live: proportions(&live_counts),
        },
    }
}

fn categorical(
    name: &str,
    mut labels: Vec<String>,
    reference: &[u64],
    values: &VecDeque<f64>,
    t: &DriftThresholds,
    level: f64,
) -> FeatureDrift {
    let total = values.len().max(1) as f64;
    // One bucket per reference category, plus one for categories the reference never saw.
    let mut counts = vec![0u64; reference.len() + 1];
    let mut missing = 0usize;
    for v in values {
        if v.is_nan() {
            missing += 1;
        } else if *v >= 0.0 && (*v as usize) < reference.len() {
            counts[*v as usize] += 1;
        } else {
            counts[reference.len()] += 1;
        }
    }
    let reference_total = reference.iter().sum::<u64>().max(1) as f64;
    let mut reference_with_unseen: Vec<f64> = reference
        .iter()
        .map(|c| *c as f64 / reference_total)
        .collect();
    reference_with_unseen.push(0.0);
    let live: Vec<f64> = counts.iter().map(|c| *c as f64).collect();
    // Unseen categories weigh in the distance; the chi-square test compares the categories both
    // sides know (scipy's chi2_contingency on reference and live counts), unseen ones being
    // reported apart as the out-of-range rate.
    let js = stats::js_distance(&reference_with_unseen, &live, t.js_base.value());
    let (_, chi2_p, _) = stats::chi2_contingency(reference, &counts[..reference.len()]);
    let n: u64 = counts.iter().sum();
    // Whether sampling alone explains the distance: the chi-square test over the same buckets
    // (unseen categories included, which the one reported above leaves out).
    let with_unseen: Vec<u64> = reference.iter().copied().chain([0]).collect();
    let (_, js_p, _) = stats::chi2_contingency(&with_unseen, &counts);
    let verdict = t.categorical_verdict(js, js_p, level);
    labels.push("(unseen)".into());
    let live_total = n.max(1) as f64;
    FeatureDrift {
        name: name.to_string(),
        kind: "categorical".into(),
        method: "js".into(),
        statistic: js,
        threshold: t.js_drift,
        psi: None,
        ks_statistic: None,
        ks_p_value: None,
        js_distance: Some(js),
        js_base: Some(t.js_base.as_str().to_string()),
        chi2_p_value: Some(chi2_p),
        psi_p_value: None,
        js_p_value: Some(js_p),
        significance: Some(level),
        missing_rate: missing as f64 / total,
        out_of_range_rate: counts[reference.len()] as f64 / total,
        n,
        verdict,
        histogram: Histogram {
            bins: labels,
            reference: reference_with_unseen,
            live: live.iter().map(|c| c / live_total).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DataType, FeatureProfile, TensorSpec};

    fn signature() -> Signature {
        Signature {
            inputs: vec![TensorSpec {
                name: "X".into(),
                datatype: DataType::Fp32,
                shape: vec![-1, 1],
            }],
            outputs: vec![],
            classifier: None,
            notes: vec![],
            categories: Default::default(),
        }
    }

    fn profile() -> BaselineProfile {
        BaselineProfile {
            rows: 100,
            features: vec![FeatureProfile {
                name: "x".into(),
                missing: 0,
                kind: FeatureKind::Numeric(NumericProfile {
                    bin_edges: vec![0.0, 50.0, 100.0],
                    bin_counts: vec![50, 50],
                    n: 100,
                    mean: 50.0,
                    std: 29.0,
                    min: 0.0,
                    max: 100.0,
                    sample: (0..100).map(f64::from).collect(),
                }),
            }],
            label: None,
            notes: Vec::new(),
            predictions: None,
            ignored: Vec::new(),
        }
    }

    fn rows(values: &[f32]) -> Vec<NamedTensor> {
        vec![NamedTensor {
            name: "X".into(),
            shape: vec![values.len(), 1],
            data: TensorData::F32(values.to_vec()),
        }]
    }

    /// A reference's profile as registration makes it: bins at its deciles, every value kept.
    fn deciles(mut values: Vec<f64>) -> NumericProfile {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let bin_edges: Vec<f64> = (0..=10)
            .map(|i| crate::stats::quantile(&values, f64::from(i) / 10.0))
            .collect();
        let mut bin_counts = vec![0u64; 10];
        for v in &values {
            bin_counts[bin_index(&bin_edges, *v)] += 1;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        NumericProfile {
            bin_edges,
            bin_counts,
            n: n as u64,
            mean,
            std: (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt(),
            min: values[0],
            max: values[n - 1],
            sample: values,
        }
    }

    /// Twelve features alike in every way to their reference, over windows just past the
    /// minimum: at 5 % per feature and PSI judged by its thresholds alone, about half of these
    /// windows read `drift` or `warn` (the false `!drift` right after a version starts taking
    /// traffic). Judged at a level shared out among the columns, with PSI weighed against
    /// what sampling alone gives, few do, and a real shift of one feature still reads drift.
    #[test]
    fn a_small_window_drawn_from_the_reference_is_rarely_called_drift_and_a_shift_still_is() {
        const FEATURES: usize = 12;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        };
        let features = (0..FEATURES)
            .map(|i| FeatureProfile {
                name: format!("f{i}"),
                missing: 0,
                kind: FeatureKind::Numeric(deciles(
                    (0..2_000).map(|_| uniform() * 100.0).collect(),
                )),
            })
            .collect();
        let profile = BaselineProfile {
            rows: 2_000,
            features,
            ..profile()
        };
        let mut signature = signature();
        signature.inputs[0].shape = vec![-1, FEATURES as i64];
        let limits = WindowLimits {
            max_rows: 120,
            max_age: Duration::from_secs(3600),
        };
        let thresholds = DriftThresholds::default();
        let start = Instant::now();
        let mut window = |shift: f64| {
            let mut w = DriftWindow::new("m", 1, &signature, Some(&profile), limits).unwrap();
            let values: Vec<f32> = (0..120 * FEATURES)
                .map(|i| {
                    let moved = if i % FEATURES == 0 { shift } else { 0.0 };
                    (uniform() * 100.0 + moved) as f32
                })
                .collect();
            w.record(
                &[NamedTensor {
                    name: "X".into(),
                    shape: vec![120, FEATURES],
                    data: TensorData::F32(values),
                }],
                &[],
                start,
            );
            w.report(start, &thresholds)
        };
        let trials = 60;
        let alarms = (0..trials)
            .filter(|_| window(0.0).verdict != Verdict::Ok)
            .count();
        assert!(
            alarms <= trials / 10,
            "{alarms} of {trials} windows drawn from the reference were called drift or warn"
        );
        let shifted = window(30.0);
        assert_eq!(shifted.verdict, Verdict::Drift, "{:?}", shifted.features[0]);
        assert_eq!(shifted.features[0].verdict, Verdict::Drift);
        assert!(shifted.features[0].significance.unwrap() < 0.005);
    }

    #[test]
    fn the_window_is_bounded_by_count_and_by_age() {
        let limits = WindowLimits {
            max_rows: 50,
            max_age: Duration::from_secs(10),
        };
        let mut w = DriftWindow::new("m", 1, &signature(), Some(&profile()), limits).unwrap();
        let start = Instant::now();
        for i in 0..1000 {
            w.record(&rows(&[i as f32 % 100.0]), &[], start);
        }
        assert_eq!(w.samples(), 50, "bounded by count");
        w.record(&rows(&[1.0, 2.0]), &[], start + Duration::from_secs(11));
        assert_eq!(w.samples(), 2, "older rows aged out");
        let report = w.report(start + Duration::from_secs(30), &DriftThresholds::default());
        assert_eq!(report.window_samples, 0, "everything aged out by now");
        assert_eq!(report.verdict, Verdict::InsufficientData);
    }

    #[test]
    fn answers_that_drift_make_the_verdict_while_the_inputs_look_fine() {
        // A regression model whose answers on the reference spread over 0..100.
        let mut signature = signature();
        signature.outputs = vec![TensorSpec {
            name: "y".into(),
            datatype: DataType::Fp32,
            shape: vec![-1, 1],
        }];
        let mut profile = profile();
        let mut answers = profile.features[0].clone();
        answers.name = "y".into();
        profile.predictions = Some(crate::model::PredictionProfile {
            outputs: vec![answers],
            metrics: Default::default(),
        });
        let mut w =
            DriftWindow::new("m", 1, &signature, Some(&profile), WindowLimits::default()).unwrap();
        let now = Instant::now();
        let inputs: Vec<f32> = (0..200).map(|i| (i % 100) as f32).collect();
        let constant = vec![NamedTensor {
            name: "y".into(),
            shape: vec![200, 1],
            data: TensorData::F32(vec![42.0; 200]),
        }];
        w.record(&rows(&inputs), &constant, now);
        let report = w.report(now, &DriftThresholds::default());
        assert_eq!(report.features[0].verdict, Verdict::Ok, "{report:?}");
        assert_eq!(report.predictions[0].name, "y");
        assert_eq!(report.predictions[0].verdict, Verdict::Drift, "{report:?}");
        assert_eq!(report.verdict, Verdict::Drift, "the answers decide it");
        assert_eq!(report.drift_share, 0.0, "the share counts inputs only");
    }

    #[test]
    fn missing_and_out_of_range_values_are_counted() {
        let mut w = DriftWindow::new(
            "m",
            1,
            &signature(),
            Some(&profile()),
            WindowLimits::default(),
        )
        .unwrap();
        let now = Instant::now();
        w.record(&rows(&[10.0, f32::NAN, 150.0, -5.0]), &[], now);
        let t = DriftThresholds {
            min_samples: 1,
            ..DriftThresholds::default()
        };
        let report = w.report(now, &t);
        let f = &report.features[0];
        assert_eq!(f.n, 3);
        assert!((f.missing_rate - 0.25).abs() < 1e-12);
        assert!((f.out_of_range_rate - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_version_without_a_baseline_has_no_window() {
        assert!(DriftWindow::new("m", 1, &signature(), None, WindowLimits::default()).is_none());
    }
}
