//! Reading a table of reference or labelled data as users have it: the training table with its
//! label column, ids and timestamps. Columns are matched to the model's inputs by name when
//! each input is one named column, by position otherwise; the label and `--ignore`d columns are
//! set aside, and any other column is refused with the flag that would place it.

use std::path::Path;

use super::parquet_table;
use crate::model::Signature;

/// Which columns of the table are not the model's features.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// The label (ground truth) column.
    pub label: Option<String>,
    /// Columns that are neither features nor the label: ids, timestamps.
    pub ignore: Vec<String>,
}

/// One column's raw values, in row order.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Vec<String>,
}

/// The table as the model sees it: its feature columns in the model's order, and the label.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub features: Vec<Column>,
    pub label: Option<Column>,
    /// Each row's line in the file (for errors that point at a value).
    pub lines: Vec<u64>,
}

/// Why a table was refused; the caller adds the path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    /// The file could not be read as a table (CSV or Parquet): the reader's words.
    #[error("{0}")]
    Csv(String),
    #[error("no data rows: the file needs a header row and data")]
    Empty,
    #[error("{flag} {name:?} names no column of the header ({header})")]
    UnknownColumn {
        flag: &'static str,
        name: String,
        header: String,
    },
    #[error(
        "the model takes {want} features ({inputs}) but {got} columns are left ({names}){hint}"
    )]
    Width {
        got: usize,
        want: usize,
        names: String,
        inputs: String,
        hint: String,
    },
    #[error(
        "the model's input {input:?} has no column of that name ({names}); name the columns after the model's inputs"
    )]
    MissingInput { input: String, names: String },
    #[error(
        "column {0:?} is not an input of the model: name it with --label if it is the label, or --ignore it"
    )]
    Extra(String),
    #[error("line {line}: {got} fields where the header has {want}")]
    Ragged { line: u64, got: usize, want: usize },
    #[error("{0:?} is named both the label (--label) and ignored (--ignore): choose one")]
    Both(String),
}

/// The header row of `path` (CSV), or its column names (Parquet).
pub fn header(path: &Path) -> Result<Vec<String>, TableError> {
    if parquet_table::is_parquet(path) {
        return parquet_table::header(path).map_err(TableError::Csv);
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| TableError::Csv(e.to_string()))?;
    Ok(reader
        .headers()
        .map_err(|e| TableError::Csv(e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect())
}

/// Reads `path` (CSV with a header row, or Parquet) and places its columns as `columns` says.
pub fn read(path: &Path, signature: &Signature, columns: &Columns) -> Result<Table, TableError> {
    let (header, mut values, lines) = read_raw(path)?;
    if header.is_empty() {
        return Err(TableError::Empty);
    }
    let order = feature_order(&header, signature, columns)?;
    let label_index = columns
        .label
        .as_ref()
        .and_then(|l| header.iter().position(|h| h == l));
    if lines.is_empty() {
        return Err(TableError::Empty);
    }
    let mut take = |i: usize| Column {
        name: header[i].clone(),
        values: std::mem::take(&mut values[i]),
    };
    let label = label_index.map(&mut take);
    let features = order.into_iter().map(take).collect();
    Ok(Table {
        features,
        label,
        lines,
    })
}

/// A CSV's header, each column's values as text, and each row's line.
/// A CSV or Parquet table as it is: its header and each column's cells as text.
pub fn read_raw(path: &Path) -> Result<parquet_table::RawTable, TableError> {
    if parquet_table::is_parquet(path) {
        parquet_table::read(path).map_err(TableError::Csv)
    } else {
        read_csv(path)
    }
}

fn read_csv(path: &Path) -> Result<parquet_table::RawTable, TableError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| TableError::Csv(e.to_string()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| TableError::Csv(e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut values: Vec<Vec<String>> = vec![Vec::new(); header.len()];
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| TableError::Csv(e.to_string()))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.len() != header.len() {
            return Err(TableError::Ragged {
                line,
                got: record.len(),
                want: header.len(),
            });
        }
        for (column, field) in values.iter_mut().zip(record.iter()) {
            column.push(field.to_string());
        }
        lines.push(line);
    }
    Ok((header, values, lines))
}

/// The header's index of each of the model's feature columns, in the model's order.
fn feature_order(
    header: &[String],
    signature: &Signature,
    columns: &Columns,
) -> Result<Vec<usize>, TableError> {
    let known = |flag: &'static str, name: &String| {
        if header.contains(name) {
            Ok(())
        } else {
            Err(TableError::UnknownColumn {
                flag,
                name: name.clone(),
                header: header.join(", "),
            })
        }
    };
    if let Some(label) = &columns.label {
        known("--label", label)?;
        if columns.ignore.contains(label) {
            return Err(TableError::Both(label.clone()));
        }
    }
    for name in &columns.ignore {
        known("--ignore", name)?;
    }
    let candidates: Vec<usize> = (0..header.len())
        .filter(|i| {
            Some(&header[*i]) != columns.label.as_ref() && !columns.ignore.contains(&header[*i])
        })
        .collect();
    // One named input per column: matched by name, in any order.
    if signature.inputs.len() > 1 {
        let mut order = Vec::with_capacity(signature.inputs.len());
        for input in &signature.inputs {
            let found = candidates
                .iter()
                .copied()
                .find(|i| header[*i] == input.name);
            order.push(found.ok_or_else(|| TableError::MissingInput {
                input: input.name.clone(),
                names: names(header, &candidates),
            })?);
        }
        if let Some(extra) = candidates.iter().find(|i| !order.contains(i)) {
            return Err(TableError::Extra(header[*extra].clone()));
        }
        return Ok(order);
    }
    // One input with several columns: the columns carry no input names, so by position.
    let want = signature.input_width();
    if candidates.len() != want {
        let hint = if candidates.len() > want && columns.label.is_none() {
            "; name the label column with --label and ids or timestamps with --ignore".to_string()
        } else if candidates.len() > want {
            "; --ignore the columns that are not features".to_string()
        } else {
            String::new()
        };
        return Err(TableError::Width {
            got: candidates.len(),
            want,
            names: names(header, &candidates),
            inputs: signature
                .inputs
                .iter()
                .map(|i| format!("{} {}", i.name, i.shape_text()))
                .collect::<Vec<_>>()
                .join(", "),
            hint,
        });
    }
    Ok(candidates)
}

fn names(header: &[String], indices: &[usize]) -> String {
    indices
        .iter()
        .map(|i| header[*i].as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
