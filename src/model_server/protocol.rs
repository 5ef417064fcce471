//! The Open Inference Protocol (V2) and KServe V1 request and response bodies, and their
//! conversion to and from the runtime's tensors, with errors that name the input at fault.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::flat::{FlatData, OutputData};

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
    pub data: FlatData,
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
    pub data: OutputData,
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
    if !spec.accepts_shape(&shape) {
        return Err(format!(
            "input {name:?} has shape {:?} but the model expects {}",
            input.shape,
            spec.shape_text()
        ));
    }
    let count: usize = shape.iter().product();
    if input.data.len() != count {
        return Err(format!(
            "input {name:?}: shape {:?} holds {count} values but data has {}",
            input.shape,
            input.data.len()
        ));
    }
    let wrong = |got: &str| {
        format!(
            "input {name:?}: data holds {got} but the model expects {}",
            spec.datatype
        )
    };
    let data = match (spec.datatype, &input.data) {
        (_, FlatData::Empty) => match spec.datatype {
            DataType::Bytes => TensorData::String(Vec::new()),
            DataType::Bool => TensorData::Bool(Vec::new()),
            _ => TensorData::F32(Vec::new()),
        },
        (DataType::Bytes, FlatData::Strings(v)) => TensorData::String(v.clone()),
        (DataType::Bytes, FlatData::Numbers(_)) => return Err(wrong("numbers")),
        (DataType::Bool, FlatData::Bools(v)) => TensorData::Bool(v.clone()),
        (_, FlatData::Strings(_)) => return Err(wrong("strings")),
        (_, FlatData::Bools(_)) => return Err(wrong("booleans")),
        (DataType::Bool, FlatData::Numbers(_)) => return Err(wrong("numbers")),
        (
            DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::Uint8,
            FlatData::Numbers(v),
        ) => {
            if let Some(i) = v.iter().position(|x| x.fract() != 0.0 || !x.is_finite()) {
                return Err(format!(
                    "input {name:?}: element {i} ({}) is not an integer",
                    v[i]
                ));
            }
            TensorData::I64(v.iter().map(|x| *x as i64).collect())
        }
        (DataType::Fp64, FlatData::Numbers(v)) => TensorData::F64(v.clone()),
        (_, FlatData::Numbers(v)) => TensorData::F32(v.iter().map(|x| *x as f32).collect()),
    };
    Ok(NamedTensor {
        name: name.clone(),
        shape,
        data,
    })
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
        TensorData::F32(v) => OutputData::F32(v),
        TensorData::F64(v) => OutputData::F64(v),
        TensorData::I32(v) => OutputData::I32(v),
        TensorData::I64(v) => OutputData::I64(v),
        TensorData::Bool(v) => OutputData::Bools(v),
        TensorData::String(v) => OutputData::Strings(v),
    };
    ResponseOutput {
        name: tensor.name,
        datatype: datatype.as_str().to_string(),
        shape: tensor.shape,
        data,
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
    let data = FlatData::deserialize(Value::Array(request.instances.clone()))
        .map_err(|e| format!("instances: {e}"))?;
    let input = RequestInput {
        name: spec.name.clone(),
        shape,
        datatype: spec.datatype.as_str().to_string(),
        data,
        parameters: None,
    };
    input_tensor(&input, spec)
        .map_err(|e| e.replace(&format!("input {:?}", spec.name), "instances"))
}
