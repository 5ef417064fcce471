//! The baseline profile of a version's training inputs, against which live inputs are scored
//! for drift.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Reference values kept per numeric feature for the KS test unless configured otherwise
/// (`thresholds.ks_reference_values`): the whole reference up to this many rows, so the test is
/// scipy's `ks_2samp` on the whole table; evenly spaced order statistics beyond (a sketch of the
/// distribution, judged on the full row count, which registration says).
pub const DEFAULT_REFERENCE_VALUES: usize = 100_000;

/// Per-feature statistics of the reference data a version was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineProfile {
    /// Rows in the reference data.
    pub rows: u64,
    pub features: Vec<FeatureProfile>,
    /// The label column's distribution, when the reference named one (`--label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<FeatureProfile>,
    /// What the profile had to assume, said at registration and kept with it (e.g. text
    /// categories mapped to codes in sorted order because no order was declared).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What the version answered on these rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictions: Option<PredictionProfile>,
    /// Columns registration set aside (`--ignore`: ids, timestamps); evaluation sets them aside
    /// too unless told otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

/// A version's answers on its reference rows: the baseline of prediction drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionProfile {
    /// One per signal: each class probability (`P(1)`, numeric), the predicted class
    /// (categorical, the classes' frequencies), or a regression output (numeric).
    pub outputs: Vec<FeatureProfile>,
    /// With the reference's label: accuracy, AUC (binary) and log loss, or MAE and RMSE.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
}

/// The key under which a prediction output's reference values are stored apart.
const PREDICTION_KEY: &str = "prediction:";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureProfile {
    pub name: String,
    /// Rows whose value was empty or NaN.
    pub missing: u64,
    pub kind: FeatureKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeatureKind {
    Numeric(NumericProfile),
    Categorical { categories: Vec<CategoryFrequency> },
}

/// Quantile bins and moments of a numeric feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericProfile {
    /// Bin edges at the reference deciles, strictly increasing (repeated quantiles of discrete
    /// data are merged, so there may be fewer than 11 edges).
    pub bin_edges: Vec<f64>,
    /// Reference rows per bin: `[edges[i], edges[i+1])`, the last bin closed on the right.
    pub bin_counts: Vec<u64>,
    pub n: u64,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// The reference values, sorted, for the two-sample Kolmogorov-Smirnov test: all of them up
    /// to a configured number, evenly spaced order statistics of them beyond. The registry keeps
    /// them apart from the profile (listings read profiles whole), so a profile read from it has
    /// them only once [`BaselineProfile::restore_reference_values`] put them back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample: Vec<f64>,
}

/// How often one category appeared, and the number the model receives for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryFrequency {
    pub value: String,
    /// The numeric code fed to a numeric model input; `None` when the input takes strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<f64>,
    pub count: u64,
    pub frequency: f64,
}

impl BaselineProfile {
    pub fn feature(&self, name: &str) -> Option<&FeatureProfile> {
        self.features.iter().find(|f| f.name == name)
    }

    /// Takes the numeric features' reference values out, by feature, leaving the profile light.
    pub fn take_reference_values(&mut self) -> Vec<(String, Vec<f64>)> {
        let take = |prefix: &str, profiles: &mut Vec<FeatureProfile>| {
            profiles
                .iter_mut()
                .filter_map(|f| match &mut f.kind {
                    FeatureKind::Numeric(n) if !n.sample.is_empty() => {
                        Some((format!("{prefix}{}", f.name), std::mem::take(&mut n.sample)))
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let mut values = take("", &mut self.features);
        if let Some(predictions) = self.predictions.as_mut() {
            values.extend(take(PREDICTION_KEY, &mut predictions.outputs));
        }
        values
    }

    /// Puts reference values taken out by [`Self::take_reference_values`] back, by feature name.
    /// A feature with none stored keeps what it has (profiles written before they were kept
    /// apart carry them inline).
    pub fn restore_reference_values(&mut self, mut values: BTreeMap<String, Vec<f64>>) {
        for feature in &mut self.features {
            if let FeatureKind::Numeric(n) = &mut feature.kind
                && let Some(stored) = values.remove(&feature.name)
            {
                n.sample = stored;
            }
        }
        for output in self
            .predictions
            .iter_mut()
            .flat_map(|p| p.outputs.iter_mut())
        {
            if let FeatureKind::Numeric(n) = &mut output.kind
                && let Some(stored) = values.remove(&format!("{PREDICTION_KEY}{}", output.name))
            {
                n.sample = stored;
            }
        }
    }
}
