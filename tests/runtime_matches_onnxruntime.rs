//! The runtime's outputs match onnxruntime's (recorded by tests/fixtures/models/generate.py) to
//! 1e-5 for probabilities and regression outputs, and exactly for labels.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use flightdeck::runtime::{LoadedModel, NamedTensor, RuntimeError, TensorData};
use serde_json::Value;

struct Expected {
    input: String,
    rows: Vec<Vec<f32>>,
    outputs: serde_json::Map<String, Value>,
}

fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(common::fixture(&format!("{name}.expected.json"))).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let rows = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    Expected {
        input: v["input"].as_str().unwrap().to_string(),
        rows,
        outputs: v["outputs"].as_object().unwrap().clone(),
    }
}

fn load(name: &str) -> LoadedModel {
    let bytes = std::fs::read(common::fixture(&format!("{name}.onnx"))).unwrap();
    LoadedModel::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn flatten(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other.as_f64().unwrap()),
    }
}

/// Runs every recorded row as one batch and compares each output.
fn check(name: &str) {
    let model = load(name);
    let exp = expected(name);
    let width = exp.rows[0].len();
    let input = NamedTensor {
        name: exp.input.clone(),
        shape: vec![exp.rows.len(), width],
        data: TensorData::F32(exp.rows.iter().flatten().copied().collect()),
    };
    let outputs = model.run(&[input]).unwrap();
    assert_eq!(outputs.len(), exp.outputs.len(), "{name}: output count");
    for (out_name, want) in &exp.outputs {
        let got = outputs
            .iter()
            .find(|o| &o.name == out_name)
            .unwrap_or_else(|| panic!("{name}: no {out_name}"));
        let mut want_flat = Vec::new();
        flatten(want, &mut want_flat);
        let got_flat = got.data.to_f64().unwrap();
        assert_eq!(
            got_flat.len(),
            want_flat.len(),
            "{name}/{out_name}: value count"
        );
        let is_label = matches!(got.data, TensorData::I64(_) | TensorData::I32(_));
        for (i, (g, w)) in got_flat.iter().zip(&want_flat).enumerate() {
            if is_label {
                assert_eq!(g, w, "{name}/{out_name}[{i}]: label");
            } else {
                // Relative for large regression outputs, absolute near zero.
                let tol = 1e-5 * w.abs().max(1.0);
                assert!(
                    (g - w).abs() <= tol,
                    "{name}/{out_name}[{i}]: {g} vs onnxruntime {w}"
                );
            }
        }
    }
}

#[test]
fn multiclass_logistic_regression_matches() {
    check("logreg_multiclass");
}

#[test]
fn binary_logistic_regression_matches() {
    check("logreg_binary");
}

#[test]
fn mlp_classifier_matches() {
    check("mlp_classifier");
}

#[test]
fn linear_regressor_matches() {
    check("linear_regressor");
}

#[test]
fn mlp_regressor_matches() {
    check("mlp_regressor");
}

#[test]
fn zipmap_classifier_serves_probabilities_and_says_so() {
    let model = load("logreg_multiclass");
    let sig = model.signature();
    let probs = sig
        .outputs
        .iter()
        .find(|o| o.name == "output_probability")
        .unwrap();
    assert_eq!(probs.shape, vec![-1, 3]);
    let classifier = sig.classifier.as_ref().expect("recognised as a classifier");
    assert_eq!(classifier.label_output, "output_label");
    assert_eq!(classifier.classes.len(), 3);
    assert!(
        sig.notes.iter().any(|n| n.contains("ZipMap")),
        "{:?}",
        sig.notes
    );
}

#[test]
fn batch_of_one_and_batch_of_many_agree() {
    let model = load("mlp_classifier");
    let exp = expected("mlp_classifier");
    let batch = NamedTensor {
        name: exp.input.clone(),
        shape: vec![8, 4],
        data: TensorData::F32(exp.rows[..8].iter().flatten().copied().collect()),
    };
    let all = model.run(&[batch]).unwrap();
    for (i, row) in exp.rows[..8].iter().enumerate() {
        let one = NamedTensor {
            name: exp.input.clone(),
            shape: vec![1, 4],
            data: TensorData::F32(row.clone()),
        };
        let single = model.run(&[one]).unwrap();
        let p_all = all[1].data.to_f64().unwrap();
        let p_one = single[1].data.to_f64().unwrap();
        assert_eq!(&p_all[i * 3..i * 3 + 3], &p_one[..]);
    }
}

#[test]
fn unsupported_operator_is_refused_with_name_and_domain() {
    let bytes = std::fs::read(common::fixture("unsupported_op.onnx")).unwrap();
    let err = LoadedModel::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, RuntimeError::Unsupported(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("FancyScore") && text.contains("com.example.ops"),
        "{text}"
    );
}

#[test]
fn garbage_and_truncated_files_are_refused_not_panicking() {
    let bytes = std::fs::read(common::fixture("mlp_classifier.onnx")).unwrap();
    for cut in [0, 1, 10, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            LoadedModel::from_bytes(&bytes[..cut]).is_err(),
            "truncated at {cut} accepted"
        );
    }
    assert!(LoadedModel::from_bytes(b"definitely not a model").is_err());
    // Flip bytes throughout the file: each variant is either refused or still loads, never panics.
    for i in (0..bytes.len()).step_by(7) {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x5a;
        let _ = LoadedModel::from_bytes(&damaged);
    }
}

#[test]
fn wrong_shapes_and_types_are_named() {
    let model = load("logreg_multiclass");
    let wide = NamedTensor {
        name: "X".into(),
        shape: vec![1, 5],
        data: TensorData::F32(vec![0.0; 5]),
    };
    let err = model.run(&[wide]).unwrap_err().to_string();
    assert!(err.contains("\"X\"") && err.contains("[N, 4]"), "{err}");
    let text = NamedTensor {
        name: "X".into(),
        shape: vec![1, 4],
        data: TensorData::String(vec!["a".into(); 4]),
    };
    assert!(
        model
            .run(&[text])
            .unwrap_err()
            .to_string()
            .contains("strings")
    );
    let short = NamedTensor {
        name: "X".into(),
        shape: vec![2, 4],
        data: TensorData::F32(vec![0.0; 4]),
    };
    assert!(
        model
            .run(&[short])
            .unwrap_err()
            .to_string()
            .contains("holds 8 values")
    );
    assert!(model.run(&[]).unwrap_err().to_string().contains("missing"));
    // FP64 data for an FP32 input is converted, not refused.
    let f64s = NamedTensor {
        name: "X".into(),
        shape: vec![1, 4],
        data: TensorData::F64(vec![1.0; 4]),
    };
    assert!(model.run(&[f64s]).is_ok());
}
