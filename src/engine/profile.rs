//! Builds a version's baseline profile from its reference CSV: decile bins, moments and a bounded
//! sample for numeric features; frequencies and model codes for categorical ones.

use super::reference::{self, Column, Columns, TableError};
use crate::stats::{bin_index, quantile};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::model::{
    BaselineProfile, CategoryFrequency, DataType, FeatureKind, FeatureProfile, NumericProfile,
    Signature,
};

pub use crate::model::DEFAULT_REFERENCE_VALUES;
/// Quantile bins per numeric feature (deciles).
pub const BINS: usize = 10;
/// More distinct values than this in a text column is almost certainly not a category.
pub const MAX_CATEGORIES: usize = 1000;
/// A label with at most this many distinct whole numbers (or text) is a class label.
pub const MAX_CLASSES: usize = 100;

/// Why a reference file was refused; the caller adds the path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(
        "line {line}, column {column:?}: {value:?} is not a number, but the column is numeric elsewhere; fix the value or declare the column with --categorical {column}"
    )]
    NotNumeric {
        line: u64,
        column: String,
        value: String,
    },
    #[error("--categorical {0:?} names no feature column of the header")]
    UnknownCategorical(String),
    #[error("--categories {name:?} names no feature column (the features: {features})")]
    UnknownCategories { name: String, features: String },
    #[error(
        "line {line}, column {column:?}: {value:?} is not among the declared categories ({declared})"
    )]
    Undeclared {
        line: u64,
        column: String,
        value: String,
        declared: String,
    },
    #[error("column {0:?} has no values (every row is empty or NaN)")]
    NoValues(String),
    #[error(
        "column {column:?} has {count} distinct text values; that is not a categorical feature (at most {MAX_CATEGORIES})"
    )]
    TooManyCategories { column: String, count: usize },
}

/// How to read a reference table: which columns are not features, and what the features are.
#[derive(Debug, Clone, Default)]
pub struct ProfileOptions {
    pub columns: Columns,
    /// Columns to treat as categorical though their values are numbers.
    pub categorical: Vec<String>,
    /// Each categorical column's categories in the order the model encodes them: a category's
    /// code is its index here (`--categories NAME=a,b,c`).
    pub categories: BTreeMap<String, Vec<String>>,
    /// Reference values kept per numeric feature; `None`: [`DEFAULT_REFERENCE_VALUES`].
    pub reference_values: Option<usize>,
}

fn is_missing(value: &str) -> bool {
    matches!(value.trim(), "" | "NA" | "NaN" | "nan" | "null" | "None")
}

/// Reads the reference CSV and profiles every feature column (and the label) against the
/// model's signature.
pub fn profile_csv(
    path: &Path,
    signature: &Signature,
    options: &ProfileOptions,
) -> Result<BaselineProfile, ProfileError> {
    profile_table(path, signature, options).map(|(profile, _)| profile)
}

/// The profile, and the table it was made from (for running the model over the same rows).
pub fn profile_table(
    path: &Path,
    signature: &Signature,
    options: &ProfileOptions,
) -> Result<(BaselineProfile, reference::Table), ProfileError> {
    let table = reference::read(path, signature, &options.columns)?;
    let is_feature = |name: &String| table.features.iter().any(|c| &c.name == name);
    if let Some(unknown) = options.categorical.iter().find(|c| !is_feature(c)) {
        return Err(ProfileError::UnknownCategorical(unknown.clone()));
    }
    if let Some(unknown) = options.categories.keys().find(|c| !is_feature(c)) {
        return Err(ProfileError::UnknownCategories {
            name: unknown.clone(),
            features: table
                .features
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut notes = Vec::new();
    let features = table
        .features
        .iter()
        .zip(signature.feature_columns())
        .map(|(column, spec)| {
            let treat = Treatment {
                declared_categorical: options.categorical.contains(&column.name),
                order: options.categories.get(&column.name).map(Vec::as_slice),
                known: signature.categories.get(&column.name).map(Vec::as_slice),
                text_input: spec.datatype == DataType::Bytes,
                fp32: spec.datatype == DataType::Fp32,
                reference_values: options
                    .reference_values
                    .unwrap_or(DEFAULT_REFERENCE_VALUES)
                    .max(2),
            };
            let (profile, note) =
                profile_column(&column.name, &column.values, &table.lines, treat)?;
            notes.extend(note);
            Ok(profile)
        })
        .collect::<Result<Vec<_>, ProfileError>>()?;
    let label = table
        .label
        .as_ref()
        .map(|column| label_profile(column, &table.lines))
        .transpose()?;
    Ok((
        BaselineProfile {
            rows: table.lines.len() as u64,
            features,
            label,
            notes,
            predictions: None,
            ignored: options.columns.ignore.clone(),
        },
        table,
    ))
}

/// The label's distribution: class frequencies when it holds a few whole numbers or text,
/// else numeric statistics (a regression target).
fn label_profile(column: &Column, lines: &[u64]) -> Result<FeatureProfile, ProfileError> {
    let present: Vec<&String> = column.values.iter().filter(|v| !is_missing(v)).collect();
    let distinct: BTreeSet<&str> = present.iter().map(|v| v.as_str()).collect();
    let classes = distinct.len() <= MAX_CLASSES
        && distinct
            .iter()
            .all(|v| v.parse::<f64>().map_or(true, |x| x.fract() == 0.0));
    let treat = Treatment {
        declared_categorical: classes,
        order: None,
        known: None,
        text_input: false,
        fp32: false,
        // A regression target's values are summarised, never compared by KS.
        reference_values: 2,
    };
    profile_column(&column.name, &column.values, lines, treat).map(|(profile, _)| profile)
}

/// How one column is profiled.
#[derive(Debug, Clone, Copy)]
struct Treatment<'a> {
    declared_categorical: bool,
    /// The declared order of its categories, when there is one.
    order: Option<&'a [String]>,
    /// The categories the model's own encoder knows, in its order (text inputs).
    known: Option<&'a [String]>,
    /// The model's input takes the text itself (no codes).
    text_input: bool,
    /// The model's input is FP32: values are profiled as the model receives them, so the same
    /// rows sent live fall in the same bins (41.1 is 41.099998 there).
    fp32: bool,
    reference_values: usize,
}

/// A column's profile, and what had to be assumed about it (said at registration).
fn profile_column(
    name: &str,
    values: &[String],
    lines: &[u64],
    treat: Treatment<'_>,
) -> Result<(FeatureProfile, Option<String>), ProfileError> {
    let missing = values.iter().filter(|v| is_missing(v)).count() as u64;
    let present: Vec<(&String, u64)> = values
        .iter()
        .zip(lines.iter().copied())
        .filter(|(v, _)| !is_missing(v))
        .collect();
    if present.is_empty() {
        return Err(ProfileError::NoValues(name.to_string()));
    }
    let parsed: Vec<Option<f64>> = present.iter().map(|(v, _)| v.parse::<f64>().ok()).collect();
    let numeric_count = parsed.iter().filter(|p| p.is_some()).count();
    let categorical = treat.declared_categorical
        || treat.order.is_some()
        || treat.known.is_some()
        || treat.text_input
        || numeric_count == 0;
    let mut note = None;
    let kind = if categorical {
        let (kind, assumed) = categorical_profile(name, &present, treat)?;
        note = assumed;
        kind
    } else if numeric_count < present.len() {
        let (value, line) = present
            .iter()
            .zip(&parsed)
            .find(|(_, p)| p.is_none())
            .map(|((v, line), _)| ((*v).clone(), *line))
            .unwrap_or_default();
        return Err(ProfileError::NotNumeric {
            line,
            column: name.to_string(),
            value,
        });
    } else {
        let as_received = |v: f64| if treat.fp32 { v as f32 as f64 } else { v };
        if numeric_count > treat.reference_values {
            note = Some(format!(
                "{name}: {numeric_count} reference values; the KS test compares live values with \
                 {} evenly spaced of them (thresholds.ks_reference_values) and counts all {numeric_count}",
                treat.reference_values
            ));
        }
        FeatureKind::Numeric(numeric_profile(
            parsed.into_iter().flatten().map(as_received).collect(),
            treat.reference_values,
        ))
    };
    let profile = FeatureProfile {
        name: name.to_string(),
        missing,
        kind,
    };
    Ok((profile, note))
}

/// Categories with their frequency and the code the model receives: the number itself when the
/// values are numbers; for text, its index in the declared order, else in sorted order (as
/// scikit-learn's OrdinalEncoder fits it), which is then said as an assumption.
fn categorical_profile(
    name: &str,
    present: &[(&String, u64)],
    treat: Treatment<'_>,
) -> Result<(FeatureKind, Option<String>), ProfileError> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for (value, _) in present {
        *counts.entry(value.as_str()).or_default() += 1;
    }
    if counts.len() > MAX_CATEGORIES {
        return Err(ProfileError::TooManyCategories {
            column: name.to_string(),
            count: counts.len(),
        });
    }
    let all_numeric = counts.keys().all(|k| k.parse::<f64>().is_ok());
    let total = present.len() as f64;
    let category = |value: &str, code: Option<f64>| {
        let count = counts.get(value).copied().unwrap_or(0);
        CategoryFrequency {
            value: value.to_string(),
            code,
            count,
            frequency: count as f64 / total,
        }
    };
    if let Some(order) = treat.order {
        if let Some((value, line)) = present.iter().find(|(v, _)| !order.contains(v)) {
            return Err(ProfileError::Undeclared {
                line: *line,
                column: name.to_string(),
                value: (*value).clone(),
                declared: order.join(", "),
            });
        }
        // Declared categories absent from the reference are kept (at 0): the model knows them.
        let categories = order
            .iter()
            .enumerate()
            .map(|(i, value)| category(value, (!treat.text_input).then_some(i as f64)))
            .collect();
        return Ok((FeatureKind::Categorical { categories }, None));
    }
    if let (None, Some(known)) = (treat.order, treat.known) {
        // The encoder's categories in its order (those absent from the reference at 0 %), then
        // reference values it does not know, which it encodes as unknown: said, not refused.
        let unknown: Vec<&str> = counts
            .keys()
            .copied()
            .filter(|v| !known.iter().any(|k| k == v))
            .collect();
        let categories = known
            .iter()
            .map(String::as_str)
            .chain(unknown.iter().copied())
            .map(|value| category(value, None))
            .collect();
        let note = (!unknown.is_empty()).then(|| {
            format!(
                "{name}: {} in the reference {} not among the categories the model's encoder knows ({}); the model treats {} as unknown",
                unknown.join(", "),
                if unknown.len() == 1 { "is" } else { "are" },
                known.join(", "),
                if unknown.len() == 1 { "it" } else { "them" }
            )
        });
        return Ok((FeatureKind::Categorical { categories }, note));
    }
    let sorted: Vec<&str> = counts.keys().copied().collect();
    let categories = sorted
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let code = if treat.text_input {
                None
            } else if all_numeric {
                value.parse::<f64>().ok()
            } else {
                Some(i as f64)
            };
            category(value, code)
        })
        .collect();
    let assumed = (!treat.text_input && !all_numeric).then(|| {
        format!(
            "{name}: text categories mapped to codes in sorted order ({}); if the model encodes them differently, pass --categories {name}=FIRST,SECOND,...",
            sorted
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{v}={i}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    Ok((FeatureKind::Categorical { categories }, assumed))
}

pub(crate) fn numeric_profile(mut values: Vec<f64>, keep: usize) -> NumericProfile {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    let mut bin_edges: Vec<f64> = (0..=BINS)
        .map(|i| quantile(&values, i as f64 / BINS as f64))
        .collect();
    bin_edges.dedup_by(|a, b| (*a - *b).abs() <= f64::EPSILON * a.abs().max(b.abs()).max(1.0));
    if bin_edges.len() < 2 {
        // A constant feature: one bin around its value.
        let v = values[0];
        bin_edges = vec![v, v];
    }
    let mut bin_counts = vec![0u64; bin_edges.len() - 1];
    for v in &values {
        bin_counts[bin_index(&bin_edges, *v)] += 1;
    }
    let k = n.min(keep);
    let sample = if k == n {
        values.clone()
    } else {
        (0..k)
            .map(|i| values[((i as f64) * (n - 1) as f64 / (k - 1) as f64).round() as usize])
            .collect()
    };
    NumericProfile {
        bin_edges,
        bin_counts,
        n: n as u64,
        mean,
        std: variance.sqrt(),
        min: values[0],
        max: values[n - 1],
        sample,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deciles_split_uniform_data_evenly() {
        let p = numeric_profile((0..1000).map(f64::from).collect(), DEFAULT_REFERENCE_VALUES);
        assert_eq!(p.bin_edges.len(), 11);
        assert_eq!(p.bin_counts.iter().sum::<u64>(), 1000);
        assert!(p.bin_counts.iter().all(|c| *c == 100), "{:?}", p.bin_counts);
        assert_eq!(p.sample.len(), 1000);
        assert!((p.mean - 499.5).abs() < 1e-9);
        // Population std of 0..999 is sqrt((1000^2 - 1) / 12).
        assert!((p.std - ((1000.0f64 * 1000.0 - 1.0) / 12.0).sqrt()).abs() < 1e-9);
    }

    #[test]
    fn discrete_data_merges_repeated_edges() {
        let mut values = vec![0.0; 80];
        values.extend(vec![1.0; 20]);
        let p = numeric_profile(values, DEFAULT_REFERENCE_VALUES);
        // Deciles 0.0..0.7 are all 0 and merge; 0.8 interpolates to 0.2 (as numpy does); 0.9, 1.0 are 1.
        assert_eq!(p.bin_edges.len(), 3, "{:?}", p.bin_edges);
        assert!((p.bin_edges[1] - 0.2).abs() < 1e-9);
        assert_eq!(p.bin_counts, vec![80, 20]);
    }

    #[test]
    fn sample_is_bounded_and_spans_the_range() {
        let whole = numeric_profile(
            (0..50_000).map(f64::from).collect(),
            DEFAULT_REFERENCE_VALUES,
        );
        assert_eq!(whole.sample.len(), 50_000);
        let sketch = numeric_profile((0..50_000).map(f64::from).collect(), 10_000);
        assert_eq!(sketch.sample.len(), 10_000);
        assert_eq!(sketch.sample.first(), Some(&0.0));
        assert_eq!(sketch.sample.last(), Some(&49_999.0));
        assert!(sketch.sample.windows(2).all(|w| w[0] < w[1]));
    }
}
