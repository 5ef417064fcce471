//! Reading a Parquet table (pandas' `to_parquet`, pyarrow, Spark) into the same raw text columns
//! a CSV gives, so profiling and evaluation treat both alike. Rows are counted as in the same
//! table written as CSV: the header is line 1, the first row line 2.

use std::path::Path;

use ::parquet::file::reader::{FileReader, SerializedFileReader};
use ::parquet::record::Field;

/// The column names and each column's values as text (a null as empty, read as missing), with
/// each row's line as the CSV of the same table would number it.
pub type RawTable = (Vec<String>, Vec<Vec<String>>, Vec<u64>);

/// Whether `path` names a Parquet file (by its extension).
pub fn is_parquet(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"))
}

fn open(path: &Path) -> Result<SerializedFileReader<std::fs::File>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    SerializedFileReader::new(file).map_err(|e| format!("not a readable Parquet file: {e}"))
}

/// The column names, in the file's order.
pub fn header(path: &Path) -> Result<Vec<String>, String> {
    Ok(names(&open(path)?))
}

fn names(reader: &SerializedFileReader<std::fs::File>) -> Vec<String> {
    reader
        .metadata()
        .file_metadata()
        .schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect()
}

/// Every row, as text per column.
pub fn read(path: &Path) -> Result<RawTable, String> {
    let reader = open(path)?;
    let header = names(&reader);
    let rows = reader.get_row_iter(None).map_err(|e| explain(&e))?;
    let mut values: Vec<Vec<String>> = vec![Vec::new(); header.len()];
    let mut lines = Vec::new();
    for (index, row) in rows.enumerate() {
        let row = row.map_err(|e| explain(&e))?;
        let line = index as u64 + 2;
        for ((name, field), column) in row.get_column_iter().zip(values.iter_mut()) {
            column.push(text(field).ok_or_else(|| {
                format!("line {line}: column {name:?} holds {field}, which is not a number or text")
            })?);
        }
        lines.push(line);
    }
    Ok((header, values, lines))
}

/// A cell as the CSV of the same table would hold it; `None` for nested values.
fn text(field: &Field) -> Option<String> {
    Some(match field {
        Field::Null => String::new(),
        Field::Str(s) => s.clone(),
        Field::Bool(b) => b.to_string(),
        Field::Byte(v) => v.to_string(),
        Field::Short(v) => v.to_string(),
        Field::Int(v) => v.to_string(),
        Field::Long(v) => v.to_string(),
        Field::UByte(v) => v.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        Field::Float16(v) => v.to_string(),
        // The shortest text that reads back as the same float (79.05 stays 79.05).
        Field::Float(v) => v.to_string(),
        Field::Double(v) => v.to_string(),
        Field::Group(_) | Field::ListInternal(_) | Field::MapInternal(_) => return None,
        // Dates, times, decimals and bytes: their display (an id or a timestamp column to
        // --ignore, or a value profiling will call not numeric).
        other => other.to_string().trim_matches('"').to_string(),
    })
}

/// Parquet's error, with what to do when it is a compression this build does not read.
fn explain(error: &::parquet::errors::ParquetError) -> String {
    let text = error.to_string();
    // Parquet names a codec left out of this build as a disabled feature.
    let codec = text
        .split_once("Disabled feature at compile time: ")
        .map(|(_, codec)| codec.trim().to_string())
        .or_else(|| text.contains("codec").then(|| "a codec".to_string()));
    match codec {
        Some(codec) => format!(
            "it is compressed with {codec}, which flightdeck does not read: it reads snappy (pandas' and pyarrow's default) and uncompressed Parquet; write it with compression=\"snappy\" ({text})"
        ),
        None => text,
    }
}
