//! Reads ONNX node attributes, failing with the attribute's name when one is missing or
//! malformed.

use tract_onnx::pb;
use tract_onnx::tract_hir::internal::{TractResult, format_err};

use crate::runtime::proto;

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    proto::attribute(node, name)
}

pub fn floats(node: &pb::NodeProto, name: &str) -> Option<Vec<f32>> {
    attr(node, name).map(|a| a.floats.clone())
}

pub fn ints(node: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

pub fn strings(node: &pb::NodeProto, name: &str) -> Option<Vec<String>> {
    attr(node, name).map(proto::strings_of)
}

pub fn int(node: &pb::NodeProto, name: &str) -> Option<i64> {
    attr(node, name).map(|a| a.i)
}

pub fn float(node: &pb::NodeProto, name: &str) -> Option<f32> {
    attr(node, name).map(|a| a.f)
}

pub fn string(node: &pb::NodeProto, name: &str) -> Option<String> {
    attr(node, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

/// `floats_or_tensor` as f32, empty when the attribute is absent (e.g. `base_values`).
pub fn f32s_or_tensor(node: &pb::NodeProto, name: &str) -> TractResult<Vec<f32>> {
    Ok(floats_or_tensor(node, name)?
        .unwrap_or_default()
        .into_iter()
        .map(|v| v as f32)
        .collect())
}

/// Float values from `name`, or from `name_as_tensor` (ai.onnx.ml opset 3, float or double).
pub fn floats_or_tensor(node: &pb::NodeProto, name: &str) -> TractResult<Option<Vec<f64>>> {
    if let Some(values) = floats(node, name).filter(|v| !v.is_empty()) {
        return Ok(Some(values.into_iter().map(f64::from).collect()));
    }
    let Some(t) = attr(node, &format!("{name}_as_tensor")).and_then(|a| a.t.as_ref()) else {
        return Ok(None);
    };
    if !t.double_data.is_empty() {
        return Ok(Some(t.double_data.clone()));
    }
    if !t.float_data.is_empty() {
        return Ok(Some(t.float_data.iter().map(|v| f64::from(*v)).collect()));
    }
    // Raw little-endian bytes: 8 per double (data_type 11), else 4 per float.
    let values = if t.data_type == 11 {
        t.raw_data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    } else {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect()
    };
    Ok(Some(values))
}

/// A required list attribute of a given length.
pub fn require_len<T>(
    values: Option<Vec<T>>,
    node: &pb::NodeProto,
    name: &str,
    len: usize,
) -> TractResult<Vec<T>> {
    let values = values.ok_or_else(|| {
        format_err!(
            "{} node {:?} lacks attribute {name}",
            node.op_type,
            node.name
        )
    })?;
    if values.len() != len {
        return Err(format_err!(
            "{} node {:?}: attribute {name} has {} values, expected {len}",
            node.op_type,
            node.name,
            values.len()
        ));
    }
    Ok(values)
}
