//! Builds a version's baseline profile from its reference CSV: decile bins, moments and a bounded
//! sample for numeric features; frequencies and model codes for categorical ones.

use crate::stats::{bin_index, quantile};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::model::{
    BaselineProfile, CategoryFrequency, DataType, FeatureKind, FeatureProfile, NumericProfile,
    Signature,
};

/// Reference values kept per numeric feature for the KS test.
pub const REFERENCE_SAMPLE_SIZE: usize = 1000;
/// Quantile bins per numeric feature (deciles).
pub const BINS: usize = 10;
/// More distinct values than this in a text column is almost certainly not a category.
pub const MAX_CATEGORIES: usize = 1000;

/// Why a reference file was refused; the caller adds the path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    Csv(String),
    #[error("no data rows: the profile needs a header row and reference data")]
    Empty,
    #[error(
        "the header has {got} columns ({names}) but the model takes {want} features ({inputs}); the header must name the model's input columns in order"
    )]
    Width {
        got: usize,
        want: usize,
        names: String,
        inputs: String,
    },
    #[error(
        "column {column} is named {got:?} but the model's input {index} is {want:?}; name the columns after the model's inputs, in order"
    )]
    Name {
        column: usize,
        got: String,
        want: String,
        index: usize,
    },
    #[error(
        "line {line}, column {column:?}: {value:?} is not a number, but the column is numeric elsewhere; fix the value or declare the column with --categorical {column}"
    )]
    NotNumeric {
        line: u64,
        column: String,
        value: String,
    },
    #[error("--categorical {0:?} names no column of the header")]
    UnknownCategorical(String),
    #[error("column {0:?} has no values (every row is empty or NaN)")]
    NoValues(String),
    #[error(
        "column {column:?} has {count} distinct text values; that is not a categorical feature (at most {MAX_CATEGORIES})"
    )]
    TooManyCategories { column: String, count: usize },
    #[error("line {line}: {got} fields where the header has {want}")]
    Ragged { line: u64, got: usize, want: usize },
}

fn is_missing(value: &str) -> bool {
    matches!(value.trim(), "" | "NA" | "NaN" | "nan" | "null" | "None")
}

/// Reads the reference CSV and profiles every column against the model's signature.
pub fn profile_csv(
    path: &Path,
    signature: &Signature,
    categorical: &[String],
) -> Result<BaselineProfile, ProfileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| ProfileError::Csv(e.to_string()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ProfileError::Csv(e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.is_empty() {
        return Err(ProfileError::Empty);
    }
    check_header(&header, signature)?;
    if let Some(unknown) = categorical.iter().find(|c| !header.contains(c)) {
        return Err(ProfileError::UnknownCategorical(unknown.clone()));
    }
    let mut columns: Vec<Vec<String>> = vec![Vec::new(); header.len()];
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ProfileError::Csv(e.to_string()))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.len() != header.len() {
            return Err(ProfileError::Ragged {
                line,
                got: record.len(),
                want: header.len(),
            });
        }
        for (column, field) in columns.iter_mut().zip(record.iter()) {
            column.push(field.to_string());
        }
        lines.push(line);
    }
    if lines.is_empty() {
        return Err(ProfileError::Empty);
    }
    let feature_types = signature.feature_columns();
    let features = header
        .iter()
        .zip(columns)
        .zip(feature_types)
        .map(|((name, values), column)| {
            let declared = categorical.contains(name);
            profile_column(name, &values, &lines, declared, column.datatype)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BaselineProfile {
        rows: lines.len() as u64,
        features,
    })
}

fn check_header(header: &[String], signature: &Signature) -> Result<(), ProfileError> {
    let want = signature.input_width();
    if header.len() != want {
        let inputs = signature
            .inputs
            .iter()
            .map(|i| format!("{} {}", i.name, i.shape_text()))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ProfileError::Width {
            got: header.len(),
            want,
            names: header.join(", "),
            inputs,
        });
    }
    // With one input per column, the columns must be those inputs, or values land in the wrong one.
    if signature.inputs.len() > 1 {
        for (index, (got, input)) in header.iter().zip(&signature.inputs).enumerate() {
            if got != &input.name {
                return Err(ProfileError::Name {
                    column: index + 1,
                    got: got.clone(),
                    want: input.name.clone(),
                    index,
                });
            }
        }
    }
    Ok(())
}

fn profile_column(
    name: &str,
    values: &[String],
    lines: &[u64],
    declared_categorical: bool,
    input_type: DataType,
) -> Result<FeatureProfile, ProfileError> {
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
    let text_input = input_type == DataType::Bytes;
    let categorical = declared_categorical || text_input || numeric_count == 0;
    let kind = if categorical {
        categorical_profile(name, &present, text_input)?
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
        FeatureKind::Numeric(numeric_profile(parsed.into_iter().flatten().collect()))
    };
    Ok(FeatureProfile {
        name: name.to_string(),
        missing,
        kind,
    })
}

/// Categories with their frequency and the code the model receives: the number itself when the
/// value is numeric, otherwise its index in sorted order (as scikit-learn's OrdinalEncoder).
fn categorical_profile(
    name: &str,
    present: &[(&String, u64)],
    text_input: bool,
) -> Result<FeatureKind, ProfileError> {
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
    let sorted: BTreeSet<&str> = counts.keys().copied().collect();
    let total = present.len() as f64;
    let categories = counts
        .iter()
        .map(|(value, count)| {
            let code = if text_input {
                None
            } else if all_numeric {
                value.parse::<f64>().ok()
            } else {
                sorted.iter().position(|v| v == value).map(|i| i as f64)
            };
            CategoryFrequency {
                value: value.to_string(),
                code,
                count: *count,
                frequency: *count as f64 / total,
            }
        })
        .collect();
    Ok(FeatureKind::Categorical { categories })
}

fn numeric_profile(mut values: Vec<f64>) -> NumericProfile {
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
    let k = n.min(REFERENCE_SAMPLE_SIZE);
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
        let p = numeric_profile((0..1000).map(f64::from).collect());
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
        let p = numeric_profile(values);
        // Deciles 0.0..0.7 are all 0 and merge; 0.8 interpolates to 0.2 (as numpy does); 0.9, 1.0 are 1.
        assert_eq!(p.bin_edges.len(), 3, "{:?}", p.bin_edges);
        assert!((p.bin_edges[1] - 0.2).abs() < 1e-9);
        assert_eq!(p.bin_counts, vec![80, 20]);
    }

    #[test]
    fn sample_is_bounded_and_spans_the_range() {
        let p = numeric_profile((0..50_000).map(f64::from).collect());
        assert_eq!(p.sample.len(), REFERENCE_SAMPLE_SIZE);
        assert_eq!(p.sample.first(), Some(&0.0));
        assert_eq!(p.sample.last(), Some(&49_999.0));
    }
}
