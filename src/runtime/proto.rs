//! Small readers over the ONNX protobuf: types, shapes, attributes and constant tensors.

use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType as PbType;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;

use crate::model::{DataType, TensorSpec};

/// Maps an ONNX element type to the V2 protocol's name; `None` for types we never serve.
pub fn datatype_of(elem_type: i32) -> Option<DataType> {
    Some(match PbType::try_from(elem_type).ok()? {
        PbType::Float => DataType::Fp32,
        PbType::Double => DataType::Fp64,
        PbType::Float16 => DataType::Fp16,
        PbType::Int8 => DataType::Int8,
        PbType::Int16 => DataType::Int16,
        PbType::Int32 => DataType::Int32,
        PbType::Int64 => DataType::Int64,
        PbType::Uint8 => DataType::Uint8,
        PbType::Bool => DataType::Bool,
        PbType::String => DataType::Bytes,
        _ => return None,
    })
}

/// The tensor type of a value, when it is a tensor (ZipMap's output, for one, is not).
pub fn tensor_type(info: &pb::ValueInfoProto) -> Option<&pb::type_proto::Tensor> {
    match info.r#type.as_ref()?.value.as_ref()? {
        pb::type_proto::Value::TensorType(t) => Some(t),
    }
}

/// Shape with `-1` for every dimension that is symbolic or unknown.
pub fn shape_of(t: &pb::type_proto::Tensor) -> Vec<i64> {
    match &t.shape {
        None => vec![-1],
        Some(shape) => shape
            .dim
            .iter()
            .map(|d| match &d.value {
                Some(DimValue::DimValue(v)) if *v > 0 => *v,
                _ => -1,
            })
            .collect(),
    }
}

pub fn spec_of(info: &pb::ValueInfoProto) -> Result<TensorSpec, String> {
    let t = tensor_type(info).ok_or_else(|| format!("{:?} is not a tensor", info.name))?;
    let datatype = datatype_of(t.elem_type).ok_or_else(|| {
        format!(
            "{:?} has an unsupported element type ({})",
            info.name, t.elem_type
        )
    })?;
    Ok(TensorSpec {
        name: info.name.clone(),
        datatype,
        shape: shape_of(t),
    })
}

pub fn attribute<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

pub fn strings_of(attr: &pb::AttributeProto) -> Vec<String> {
    attr.strings
        .iter()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Integer values of a constant tensor (int64 or int32), from typed fields or raw bytes.
pub fn initializer_ints(t: &pb::TensorProto) -> Option<Vec<i64>> {
    match PbType::try_from(t.data_type).ok()? {
        PbType::Int64 if !t.int64_data.is_empty() => Some(t.int64_data.clone()),
        PbType::Int64 => Some(
            t.raw_data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
        PbType::Int32 if !t.int32_data.is_empty() => {
            Some(t.int32_data.iter().map(|v| i64::from(*v)).collect())
        }
        PbType::Int32 => Some(
            t.raw_data
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        _ => None,
    }
}

pub fn initializer_strings(t: &pb::TensorProto) -> Option<Vec<String>> {
    (PbType::try_from(t.data_type).ok()? == PbType::String).then(|| {
        t.string_data
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    })
}
