//! Tensor data in JSON without a tree of `serde_json::Value`s: nested arrays are flattened while
//! parsing, straight into one typed buffer, and outputs are written from typed vectors.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// Row-major leaves of a (possibly nested) JSON array, of one kind.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum FlatData {
    #[default]
    Empty,
    /// Numbers; JSON null is kept as NaN (a missing value).
    Numbers(Vec<f64>),
    Strings(Vec<String>),
    Bools(Vec<bool>),
}

impl FlatData {
    pub fn len(&self) -> usize {
        match self {
            FlatData::Empty => 0,
            FlatData::Numbers(v) => v.len(),
            FlatData::Strings(v) => v.len(),
            FlatData::Bools(v) => v.len(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            FlatData::Empty => "nothing",
            FlatData::Numbers(_) => "numbers",
            FlatData::Strings(_) => "strings",
            FlatData::Bools(_) => "booleans",
        }
    }

    fn push_number<E: de::Error>(&mut self, v: f64) -> Result<(), E> {
        match self {
            FlatData::Empty => *self = FlatData::Numbers(vec![v]),
            FlatData::Numbers(values) => values.push(v),
            other => {
                return Err(E::custom(format!(
                    "data mixes numbers with {}",
                    other.kind()
                )));
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for FlatData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut flat = FlatData::Empty;
        Flatten(&mut flat).deserialize(deserializer)?;
        Ok(flat)
    }
}

/// Appends every leaf it meets to the shared buffer.
struct Flatten<'a>(&'a mut FlatData);

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("numbers, strings or booleans, in nested arrays")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Flatten(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.0.push_number(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.0.push_number(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.0.push_number(v as f64)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.push_number(f64::NAN)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        match self.0 {
            FlatData::Empty => *self.0 = FlatData::Bools(vec![v]),
            FlatData::Bools(values) => values.push(v),
            other => {
                return Err(E::custom(format!(
                    "data mixes booleans with {}",
                    other.kind()
                )));
            }
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        match self.0 {
            FlatData::Empty => *self.0 = FlatData::Strings(vec![v.to_string()]),
            FlatData::Strings(values) => values.push(v.to_string()),
            other => {
                return Err(E::custom(format!(
                    "data mixes strings with {}",
                    other.kind()
                )));
            }
        }
        Ok(())
    }
}

/// Output values, written as a flat JSON array (NaN and infinities as null: JSON has neither).
#[derive(Debug, Clone, PartialEq)]
pub enum OutputData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    Bools(Vec<bool>),
    Strings(Vec<String>),
}

impl Serialize for OutputData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn finite<S: SerializeSeq>(seq: &mut S, v: f64) -> Result<(), S::Error> {
            if v.is_finite() {
                seq.serialize_element(&v)
            } else {
                seq.serialize_element(&())
            }
        }
        match self {
            OutputData::F32(v) => {
                let mut seq = serializer.serialize_seq(Some(v.len()))?;
                for x in v {
                    // f32 written as f32: the shortest text that reads back to the same value.
                    if x.is_finite() {
                        seq.serialize_element(x)?
                    } else {
                        seq.serialize_element(&())?
                    }
                }
                seq.end()
            }
            OutputData::F64(v) => {
                let mut seq = serializer.serialize_seq(Some(v.len()))?;
                for x in v {
                    finite(&mut seq, *x)?;
                }
                seq.end()
            }
            OutputData::I64(v) => v.serialize(serializer),
            OutputData::I32(v) => v.serialize(serializer),
            OutputData::Bools(v) => v.serialize(serializer),
            OutputData::Strings(v) => v.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_nested_arrays_in_row_major_order() {
        let flat: FlatData = serde_json::from_str("[[1, 2.5], [3, null]]").unwrap();
        let FlatData::Numbers(v) = flat else {
            panic!("numbers")
        };
        assert_eq!(&v[..3], &[1.0, 2.5, 3.0]);
        assert!(v[3].is_nan());
        assert_eq!(
            serde_json::from_str::<FlatData>(r#"[["a"], ["b"]]"#).unwrap(),
            FlatData::Strings(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            serde_json::from_str::<FlatData>("7").unwrap(),
            FlatData::Numbers(vec![7.0])
        );
        let err = serde_json::from_str::<FlatData>(r#"[1, "a"]"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mixes strings with numbers"), "{err}");
    }

    #[test]
    fn writes_non_finite_as_null() {
        let text = serde_json::to_string(&OutputData::F32(vec![0.5, f32::NAN, 0.1])).unwrap();
        assert_eq!(text, "[0.5,null,0.1]");
    }
}
