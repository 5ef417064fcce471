//! The Open Inference Protocol (V2) and KServe V1 request and response bodies, and their
//! conversion to and from the runtime's tensors, with errors that name the input at fault.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{DataType, Signature, TensorSpec};
use crate::runtime::{NamedTensor, TensorData};

#[derive(Debug, Deserialize)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    pub inputs: Vec<RequestInput>,
    #[serde(default)]
    pub outputs: Option<Vec<RequestOutput>>,
    #[serde(default)]
    #[allow(dead_code)]
    pub parameters: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct RequestInput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    pub data: Value,
    #[serde(default)]
    #[allow(dead_code)]
    pub parameters: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct RequestOutput {
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub outputs: Vec<ResponseOutput>,
}

#[derive(Debug, Serialize)]
pub struct ResponseOutput {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<usize>,
    pub data: Value,
}

#[derive(Debug, Serialize)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
}

impl From<&TensorSpec> for TensorMetadata {
    fn from(spec: &TensorSpec) -> Self {
        Self {
            name: spec.name.clone(),
            datatype: spec.datatype.as_str().to_string(),
            shape: spec.shape.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: String,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}

/// Flattens nested arrays row-major, checking that they are rectangular.
fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other),
    }
}

/// Converts one V2 input to a tensor, checking it against the model's declared input.
pub fn input_tensor(input: &RequestInput, spec: &TensorSpec) -> Result<NamedTensor, String> {
    let name = &input.name;
    if input.datatype != spec.datatype.as_str() {
        return Err(format!(
            "input {name:?} has datatype {} but the model expects {}",
            input.datatype, spec.datatype
        ));
    }
    let shape: Vec<usize> = input
        .shape
        .iter()
        .map(|d| {
            usize::try_from(*d).map_err(|_| {
                format!(
                    "input {name:?} has a negative dimension in shape {:?}",
                    input.shape
                )
            })
        })
        .collect::<Result<_, _>>()?;
    let fits = shape.len() == spec.shape.len()
        && shape
            .iter()
            .zip(&spec.shape)
            .all(|(g, w)| *w < 0 || *g as i64 == *w);
    if !fits {
        return Err(format!(
            "input {name:?} has shape {:?} but the model expects {}",
            input.shape,
            spec.shape_text()
        ));
    }
    let count: usize = shape.iter().product();
    let mut leaves = Vec::with_capacity(count);
    flatten(&input.data, &mut leaves);
    if leaves.len() != count {
        return Err(format!(
            "input {name:?}: shape {:?} holds {count} values but data has {}",
            input.shape,
            leaves.len()
        ));
    }
    let bad = |i: usize| {
        format!(
            "input {name:?}: element {i} ({}) is not {}",
            leaves[i], spec.datatype
        )
    };
    let data = match spec.datatype {
        DataType::Bytes => TensorData::String(
            leaves
                .iter()
                .enumerate()
                .map(|(i, v)| v.as_str().map(str::to_string).ok_or_else(|| bad(i)))
                .collect::<Result<_, _>>()?,
        ),
        DataType::Bool => TensorData::Bool(
            leaves
                .iter()
                .enumerate()
                .map(|(i, v)| v.as_bool().ok_or_else(|| bad(i)))
                .collect::<Result<_, _>>()?,
        ),
        DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::Uint8 => {
            TensorData::I64(
                leaves
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v.as_i64().ok_or_else(|| bad(i)))
                    .collect::<Result<_, _>>()?,
            )
        }
        DataType::Fp64 => TensorData::F64(number_leaves(&leaves, &bad)?),
        DataType::Fp32 | DataType::Fp16 => TensorData::F32(
            number_leaves(&leaves, &bad)?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        ),
    };
    Ok(NamedTensor {
        name: name.clone(),
        shape,
        data,
    })
}

/// Numbers, with JSON null accepted as a missing value (NaN), which models with imputers expect.
fn number_leaves(leaves: &[&Value], bad: &dyn Fn(usize) -> String) -> Result<Vec<f64>, String> {
    leaves
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Null => Ok(f64::NAN),
            v => v.as_f64().ok_or_else(|| bad(i)),
        })
        .collect()
}

/// All of a request's inputs, in any order, against the signature.
pub fn request_tensors(
    request: &InferRequest,
    signature: &Signature,
) -> Result<Vec<NamedTensor>, String> {
    let mut tensors = Vec::with_capacity(request.inputs.len());
    for input in &request.inputs {
        let spec = signature
            .inputs
            .iter()
            .find(|s| s.name == input.name)
            .ok_or_else(|| {
                let names: Vec<_> = signature.inputs.iter().map(|s| s.name.as_str()).collect();
                format!(
                    "unknown input {:?}; the model's inputs are {}",
                    input.name,
                    names.join(", ")
                )
            })?;
        tensors.push(input_tensor(input, spec)?);
    }
    for spec in &signature.inputs {
        if !request.inputs.iter().any(|i| i.name == spec.name) {
            return Err(format!(
                "input {:?} is missing: the model expects {} {}",
                spec.name,
                spec.datatype,
                spec.shape_text()
            ));
        }
    }
    let rows: Vec<usize> = tensors
        .iter()
        .map(|t| t.shape.first().copied().unwrap_or(1))
        .collect();
    if rows.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!("inputs have different batch sizes: {rows:?}"));
    }
    Ok(tensors)
}

/// A runtime output as a V2 response output (flat data).
pub fn response_output(tensor: NamedTensor, declared: Option<&TensorSpec>) -> ResponseOutput {
    let datatype = declared
        .map(|s| s.datatype)
        .unwrap_or_else(|| tensor.data.datatype());
    let data = match tensor.data {
        TensorData::F32(v) => Value::from(
            v.into_iter()
                .map(|x| finite_or_null(f64::from(x)))
                .collect::<Vec<_>>(),
        ),
        TensorData::F64(v) => Value::from(v.into_iter().map(finite_or_null).collect::<Vec<_>>()),
        TensorData::I32(v) => Value::from(v),
        TensorData::I64(v) => Value::from(v),
        TensorData::Bool(v) => Value::from(v),
        TensorData::String(v) => Value::from(v),
    };
    ResponseOutput {
        name: tensor.name,
        datatype: datatype.as_str().to_string(),
        shape: tensor.shape,
        data,
    }
}

/// JSON has no NaN or infinity: they are sent as null.
fn finite_or_null(v: f64) -> Value {
    if v.is_finite() {
        Value::from(v)
    } else {
        Value::Null
    }
}

/// KServe V1: `{"instances": [[...], ...]}` for a model with one input.
#[derive(Debug, Deserialize)]
pub struct V1Request {
    pub instances: Vec<Value>,
}

/// Builds the single input tensor of a V1 request.
pub fn v1_tensor(request: &V1Request, signature: &Signature) -> Result<NamedTensor, String> {
    let [spec] = signature.inputs.as_slice() else {
        return Err(format!(
            "the V1 protocol needs a model with one input; this one has {}: use the V2 protocol",
            signature.inputs.len()
        ));
    };
    let mut shape = vec![request.instances.len() as i64];
    shape.extend(
        spec.shape
            .iter()
            .skip(1)
            .map(|d| if *d < 0 { 1 } else { *d }),
    );
    let input = RequestInput {
        name: spec.name.clone(),
        shape,
        datatype: spec.datatype.as_str().to_string(),
        data: Value::Array(request.instances.clone()),
        parameters: None,
    };
    input_tensor(&input, spec)
        .map_err(|e| e.replace(&format!("input {:?}", spec.name), "instances"))
}
