//! Drift reports: how a version's live inputs compare with its baseline, per feature, as the
//! server computes them and the console and CLI show them.

use serde::{Deserialize, Serialize};

/// A feature's (or the dataset's) verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Warn,
    Drift,
    /// Fewer live samples than the configured minimum: no verdict yet.
    InsufficientData,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Drift => "drift",
            Verdict::InsufficientData => "insufficient data",
        }
    }

    /// The verdict as a metric label: `ok`, `warn`, `drift`, `insufficient_data`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::InsufficientData => "insufficient_data",
            other => other.as_str(),
        }
    }

    /// The verdict a metric label names.
    pub fn from_label(label: &str) -> Option<Self> {
        [
            Verdict::Ok,
            Verdict::Warn,
            Verdict::Drift,
            Verdict::InsufficientData,
        ]
        .into_iter()
        .find(|v| v.label() == label)
    }
}

/// Thresholds a verdict is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DriftThresholds {
    pub psi_warn: f64,
    pub psi_drift: f64,
    pub ks_p_value: f64,
    /// KS flags drift only with at least this statistic too: with thousands of rows a
    /// meaningless difference is "significant", so significance alone is not enough.
    #[serde(default = "default_ks_min_statistic")]
    pub ks_min_statistic: f64,
    pub js_drift: f64,
    /// The logarithm base of the JS distance `js_drift` is judged in.
    #[serde(default)]
    pub js_base: JsBase,
    pub min_samples: u64,
}

/// The logarithm base of the Jensen-Shannon distance: e (scipy's and Evidently's default, so the
/// same threshold means the same there) or 2 (bounded by 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum JsBase {
    #[default]
    #[serde(rename = "e")]
    E,
    #[serde(rename = "2")]
    Two,
}

impl JsBase {
    pub fn value(self) -> f64 {
        match self {
            JsBase::E => std::f64::consts::E,
            JsBase::Two => 2.0,
        }
    }

    /// As the config writes it: `e` or `2`.
    pub fn as_str(self) -> &'static str {
        match self {
            JsBase::E => "e",
            JsBase::Two => "2",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "e" => Some(JsBase::E),
            "2" => Some(JsBase::Two),
            _ => None,
        }
    }
}

fn default_ks_min_statistic() -> f64 {
    0.1
}

impl Default for DriftThresholds {
    fn default() -> Self {
        Self {
            psi_warn: 0.1,
            psi_drift: 0.25,
            ks_p_value: 0.05,
            ks_min_statistic: 0.1,
            js_drift: 0.1,
            js_base: JsBase::E,
            min_samples: 100,
        }
    }
}

impl DriftThresholds {
    /// The level each column's tests are judged at when `columns` (features and answers) are
    /// judged together: `ks_p_value` shared out among them (Bonferroni). The version's verdict
    /// is its worst column's, so at 5 % each, one of twenty features alike in every way would
    /// call it drifted most of the time over a small window.
    pub fn significance(&self, columns: usize) -> f64 {
        self.ks_p_value / columns.max(1) as f64
    }

    /// A numeric feature's verdict from its PSI (and the chance sampling alone gives one that
    /// large), and its two-sample KS statistic and p-value, at the significance `level`. A PSI
    /// past its threshold counts only when sampling is an unlikely cause: over a hundred rows
    /// PSI is about 0.09 whatever the two distributions are.
    pub fn numeric_verdict(
        &self,
        psi: f64,
        psi_p_value: f64,
        ks_statistic: f64,
        ks_p_value: f64,
        level: f64,
    ) -> Verdict {
        let psi_beyond_sampling = psi_p_value < level;
        if (psi >= self.psi_drift && psi_beyond_sampling)
            || (ks_p_value < level && ks_statistic >= self.ks_min_statistic)
        {
            Verdict::Drift
        } else if psi >= self.psi_warn && psi_beyond_sampling {
            Verdict::Warn
        } else {
            Verdict::Ok
        }
    }

    /// A categorical feature's verdict from its Jensen-Shannon distance and the chance
    /// sampling alone gives one that large, at the significance `level`.
    pub fn categorical_verdict(&self, js: f64, js_p_value: f64, level: f64) -> Verdict {
        if js >= self.js_drift && js_p_value < level {
            Verdict::Drift
        } else {
            Verdict::Ok
        }
    }
}

/// A histogram as proportions over labelled bins (numeric ranges or categories).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub bins: Vec<String>,
    pub reference: Vec<f64>,
    pub live: Vec<f64>,
}

/// One feature's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    pub name: String,
    /// `numeric` (PSI on the reference deciles, and KS) or `categorical` (Jensen-Shannon and
    /// chi-square).
    pub kind: String,
    /// The statistic the verdict leans on first: `psi` or `js`.
    pub method: String,
    pub statistic: f64,
    pub threshold: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ks_statistic: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ks_p_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js_distance: Option<f64>,
    /// The logarithm base `js_distance` is in (`e` or `2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js_base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chi2_p_value: Option<f64>,
    /// The chance sampling alone gives a PSI this large (numeric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi_p_value: Option<f64>,
    /// The chance sampling alone gives a Jensen-Shannon distance this large (categorical).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js_p_value: Option<f64>,
    /// The level the p-values were judged at: the thresholds' `ks_p_value` shared out among
    /// the columns judged together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub significance: Option<f64>,
    /// Share of live rows with no value (NaN or empty).
    pub missing_rate: f64,
    /// Share of live rows outside the reference's [min, max] (numeric) or categories.
    pub out_of_range_rate: f64,
    /// Live samples compared.
    pub n: u64,
    pub verdict: Verdict,
    pub histogram: Histogram,
}

/// A version's drift, over the window of its recent inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub model: String,
    pub version: u32,
    pub window_samples: u64,
    /// Age of the oldest sample in the window.
    pub window_seconds: f64,
    /// Drifted features / features (0 while data is insufficient).
    pub drift_share: f64,
    pub verdict: Verdict,
    pub thresholds: DriftThresholds,
    pub features: Vec<FeatureDrift>,
    /// The version's answers against its answers on the reference rows (prediction drift):
    /// each class probability, the predicted class, or a regression output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predictions: Vec<FeatureDrift>,
    /// A canary's answers against the stable version's, on the traffic both served over the
    /// same period (only in the canary's report, while a canary serves beside a stable one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers_versus: Option<AnswerComparison>,
}

/// One version's answers against another's over the same period of the same traffic split: no
/// labels needed, so it can judge a canary from its first few hundred rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerComparison {
    /// The version compared with (the stable one).
    pub versus: u32,
    /// Rows each version answered in the common period.
    pub rows: u64,
    pub versus_rows: u64,
    /// How long the common period is: from the later of the two windows' oldest rows to now.
    pub seconds: f64,
    pub outputs: Vec<OutputComparison>,
}

/// One answer signal of two versions, compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputComparison {
    pub name: String,
    /// `classes` (the predicted class: total variation, JS and chi-square) or `values` (a
    /// probability or a regression output: two-sample KS).
    pub method: String,
    /// For classes, the total variation distance: the least share of rows whose predicted class
    /// must differ between the two versions. For values, the KS statistic D.
    pub distance: f64,
    /// How likely a distance this large is by chance (chi-square homogeneity or KS).
    pub p_value: f64,
    /// For classes: the JS distance of the two class frequencies, in the drift thresholds' base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js_distance: Option<f64>,
    /// For classes: each class with its share in this version's and in the other's answers;
    /// for values: the two means.
    pub shares: Vec<(String, f64, f64)>,
}

impl OutputComparison {
    /// Whether the signal is the predicted class (rather than a number).
    pub fn is_classes(&self) -> bool {
        self.method == "classes"
    }
}

impl AnswerComparison {
    /// The signal a gate judges: the predicted class when the model has one (a recalibrated
    /// score that decides the same is no regression), else its first number.
    pub fn headline(&self) -> Option<&OutputComparison> {
        self.outputs
            .iter()
            .find(|o| o.is_classes())
            .or_else(|| self.outputs.first())
    }

    /// "v2's answers vs v1's: predicted class differs on at least 1.2% of rows (p 0.41) over
    /// the same 312 s, 812 vs 7305 rows".
    pub fn describe(&self, version: u32) -> String {
        if self.rows == 0 || self.versus_rows == 0 {
            // Nothing compared: no distance or p-value to show, not a "0.0%".
            return format!(
                "v{version}'s answers vs v{}'s: not compared yet ({} vs {} rows in the same period)",
                self.versus, self.rows, self.versus_rows
            );
        }
        let head = match self.headline() {
            Some(o) if o.is_classes() => format!(
                "{} differs on at least {:.1}% of rows (p {})",
                o.name,
                o.distance * 100.0,
                p_value_text(o.p_value)
            ),
            Some(o) => format!(
                "{} KS D {:.3} (p {})",
                o.name,
                o.distance,
                p_value_text(o.p_value)
            ),
            None => "no answer signal both versions share".to_string(),
        };
        // Whole seconds hide a period of traffic sent within one ("over the same 0 s").
        let seconds = if self.seconds < 10.0 {
            format!("{:.1}", self.seconds)
        } else {
            format!("{:.0}", self.seconds)
        };
        format!(
            "v{version}'s answers vs v{}'s: {head} over the same {seconds} s, {} vs {} rows",
            self.versus, self.rows, self.versus_rows
        )
    }
}
/// A p-value as people read it: two significant digits in plain notation down to 0.001
/// (`0.24`, `0.0031`), scientific below (`3.1e-7`), and `< 1e-300` where a double cannot tell.
pub fn p_value_text(p: f64) -> String {
    if p.is_nan() {
        "-".into()
    } else if p < 1e-300 {
        "< 1e-300".into()
    } else if p >= 0.001 {
        let digits = (1.0 - p.log10().floor()).max(2.0) as usize;
        format!("{p:.digits$}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        format!("{p:.1e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_values_read_as_numbers() {
        assert_eq!(p_value_text(1.0), "1");
        assert_eq!(p_value_text(0.24), "0.24");
        assert_eq!(p_value_text(0.0531), "0.053");
        assert_eq!(p_value_text(0.0031), "0.0031");
        assert_eq!(p_value_text(3.1e-7), "3.1e-7");
        assert_eq!(p_value_text(0.0), "< 1e-300");
        assert_eq!(p_value_text(f64::NAN), "-");
    }
}
