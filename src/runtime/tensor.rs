//! Tensors as the rest of flightdeck sees them (flat data plus a shape), and their conversion to
//! and from tract's.

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::tract_ndarray::{self, IxDyn};
use tract_onnx::prelude::{Datum, DatumType, TDim, Tensor, TractResult};

use super::error::RuntimeError;
use crate::model::DataType;

/// Flat tensor contents, row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "datatype", content = "data")]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    String(Vec<String>),
}

impl TensorData {
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::Bool(v) => v.len(),
            TensorData::String(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Numeric values widened to f64 (booleans as 0/1); `None` for strings.
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        Some(match self {
            TensorData::F32(v) => v.iter().map(|x| f64::from(*x)).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::I32(v) => v.iter().map(|x| f64::from(*x)).collect(),
            // Labels and counts: exact below 2^53, which covers every class index.
            TensorData::I64(v) => v.iter().map(|x| *x as f64).collect(),
            TensorData::Bool(v) => v.iter().map(|x| if *x { 1.0 } else { 0.0 }).collect(),
            TensorData::String(_) => return None,
        })
    }

    /// Appends `other`'s values when both hold the same type; false (and nothing appended)
    /// otherwise.
    pub fn append(&mut self, other: &TensorData) -> bool {
        match (self, other) {
            (TensorData::F32(a), TensorData::F32(b)) => a.extend_from_slice(b),
            (TensorData::F64(a), TensorData::F64(b)) => a.extend_from_slice(b),
            (TensorData::I32(a), TensorData::I32(b)) => a.extend_from_slice(b),
            (TensorData::I64(a), TensorData::I64(b)) => a.extend_from_slice(b),
            (TensorData::Bool(a), TensorData::Bool(b)) => a.extend_from_slice(b),
            (TensorData::String(a), TensorData::String(b)) => a.extend_from_slice(b),
            _ => return false,
        }
        true
    }

    /// The values from `start` to `end` (clamped to the data).
    pub fn slice(&self, start: usize, end: usize) -> TensorData {
        fn part<T: Clone>(v: &[T], start: usize, end: usize) -> Vec<T> {
            let end = end.min(v.len());
            v[start.min(end)..end].to_vec()
        }
        match self {
            TensorData::F32(v) => TensorData::F32(part(v, start, end)),
            TensorData::F64(v) => TensorData::F64(part(v, start, end)),
            TensorData::I32(v) => TensorData::I32(part(v, start, end)),
            TensorData::I64(v) => TensorData::I64(part(v, start, end)),
            TensorData::Bool(v) => TensorData::Bool(part(v, start, end)),
            TensorData::String(v) => TensorData::String(part(v, start, end)),
        }
    }

    pub fn datatype(&self) -> DataType {
        match self {
            TensorData::F32(_) => DataType::Fp32,
            TensorData::F64(_) => DataType::Fp64,
            TensorData::I32(_) => DataType::Int32,
            TensorData::I64(_) => DataType::Int64,
            TensorData::Bool(_) => DataType::Bool,
            TensorData::String(_) => DataType::Bytes,
        }
    }
}

/// A named tensor going into or coming out of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    #[serde(flatten)]
    pub data: TensorData,
}

impl NamedTensor {
    /// A placeholder with no values.
    pub fn empty(name: &str) -> Self {
        Self {
            name: name.to_string(),
            shape: vec![0],
            data: TensorData::F32(Vec::new()),
        }
    }
}

fn bad(name: &str, problem: impl Into<String>) -> RuntimeError {
    RuntimeError::BadInput {
        name: name.to_string(),
        problem: problem.into(),
    }
}

/// Builds the tract tensor for an input of the given type, converting numbers as needed.
pub fn to_tract(input: &NamedTensor, target: DataType) -> Result<Tensor, RuntimeError> {
    let name = input.name.as_str();
    let expected: usize = input.shape.iter().product();
    if expected != input.data.len() {
        return Err(bad(
            name,
            format!(
                "shape {:?} holds {expected} values but {} were given",
                input.shape,
                input.data.len()
            ),
        ));
    }
    let shape = &input.shape;
    let built = match (target, &input.data) {
        (DataType::Bytes, TensorData::String(v)) => {
            tract_ndarray::ArrayD::from_shape_vec(IxDyn(shape), v.clone())
                .map(Tensor::from)
                .map_err(|e| e.into())
        }
        (DataType::Bytes, _) => return Err(bad(name, "expects strings (BYTES) but got numbers")),
        (_, TensorData::String(_)) => {
            return Err(bad(
                name,
                format!("expects {target} numbers but got strings"),
            ));
        }
        (DataType::Fp32, TensorData::F32(v)) => Tensor::from_shape(shape, v),
        (DataType::Fp64, TensorData::F64(v)) => Tensor::from_shape(shape, v),
        (DataType::Int64, TensorData::I64(v)) => Tensor::from_shape(shape, v),
        (DataType::Int32, TensorData::I32(v)) => Tensor::from_shape(shape, v),
        (DataType::Bool, TensorData::Bool(v)) => Tensor::from_shape(shape, v),
        (_, data) => {
            let values = data.to_f64().unwrap_or_default();
            let as_f64 =
                Tensor::from_shape(shape, &values).map_err(|e| bad(name, e.to_string()))?;
            as_f64
                .cast_to_dt(datum_type(target))
                .map(|t| t.into_owned())
        }
    };
    built.map_err(|e| bad(name, e.to_string()))
}

fn datum_type(dt: DataType) -> DatumType {
    match dt {
        DataType::Bool => DatumType::Bool,
        DataType::Uint8 => DatumType::U8,
        DataType::Int8 => DatumType::I8,
        DataType::Int16 => DatumType::I16,
        DataType::Int32 => DatumType::I32,
        DataType::Int64 => DatumType::I64,
        DataType::Fp16 => DatumType::F16,
        DataType::Fp32 => DatumType::F32,
        DataType::Fp64 => DatumType::F64,
        DataType::Bytes => DatumType::String,
    }
}

/// Converts a tract output to our tensor type. Integer-like outputs (including tract's TDim
/// labels) become I64, half floats F32.
pub fn from_tract(name: &str, tensor: &Tensor) -> Result<NamedTensor, RuntimeError> {
    let fail = |e: tract_onnx::prelude::TractError| {
        RuntimeError::Inference(format!("output {name:?}: {e}"))
    };
    let shape = tensor.shape().to_vec();
    let data = match tensor.datum_type() {
        DatumType::F32 => TensorData::F32(values::<f32>(tensor).map_err(fail)?),
        DatumType::F64 => TensorData::F64(values::<f64>(tensor).map_err(fail)?),
        DatumType::I32 => TensorData::I32(values::<i32>(tensor).map_err(fail)?),
        DatumType::I64 => TensorData::I64(values::<i64>(tensor).map_err(fail)?),
        DatumType::Bool => TensorData::Bool(values::<bool>(tensor).map_err(fail)?),
        DatumType::String => TensorData::String(values::<String>(tensor).map_err(fail)?),
        DatumType::TDim => TensorData::I64(
            values::<TDim>(tensor)
                .map_err(fail)?
                .iter()
                .map(|d| {
                    d.to_i64()
                        .map_err(|e| RuntimeError::Inference(format!("output {name:?}: {e}")))
                })
                .collect::<Result<_, _>>()?,
        ),
        DatumType::F16 => {
            let cast = tensor.cast_to::<f32>().map_err(fail)?;
            TensorData::F32(values::<f32>(&cast).map_err(fail)?)
        }
        _ => {
            let cast = tensor.cast_to::<i64>().map_err(fail)?;
            TensorData::I64(values::<i64>(&cast).map_err(fail)?)
        }
    };
    Ok(NamedTensor {
        name: name.to_string(),
        shape,
        data,
    })
}

fn values<T: Datum + Clone>(tensor: &Tensor) -> TractResult<Vec<T>> {
    Ok(tensor.to_plain_array_view::<T>()?.iter().cloned().collect())
}
