//! The runtime's outputs match onnxruntime's (recorded by tests/fixtures/models/generate.py) to
//! 1e-5 for probabilities and regression outputs, and exactly for labels.

use crate::common;

use flightdeck::runtime::{LoadedModel, NamedTensor, RuntimeError, TensorData};
use serde_json::Value;

/// Inputs and onnxruntime's outputs for one model, as generate.py recorded them.
struct Expected {
    inputs: Vec<NamedTensor>,
    outputs: serde_json::Map<String, Value>,
}

fn flat<T>(v: &Value, f: impl Fn(&Value) -> T) -> Vec<T> {
    v["data"].as_array().unwrap().iter().map(f).collect()
}

fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(common::fixture(&format!("{name}.expected.json"))).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let inputs = v["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, spec)| {
            let shape = spec["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let data = match spec["type"].as_str().unwrap() {
                "float" => TensorData::F32(flat(spec, |x| {
                    x.as_f64().map(|f| f as f32).unwrap_or(f32::NAN)
                })),
                "int64" => TensorData::I64(flat(spec, |x| x.as_i64().unwrap())),
                "string" => TensorData::String(flat(spec, |x| x.as_str().unwrap().to_string())),
                other => panic!("{name}: input type {other}"),
            };
            NamedTensor {
                name: name.clone(),
                shape,
                data,
            }
        })
        .collect();
    Expected {
        inputs,
        outputs: v["outputs"].as_object().unwrap().clone(),
    }
}

fn load(name: &str) -> LoadedModel {
    let bytes = std::fs::read(common::fixture(&format!("{name}.onnx"))).unwrap();
    LoadedModel::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs every recorded row as one batch and compares each output with onnxruntime's.
fn check(name: &str) {
    let model = load(name);
    let exp = expected(name);
    let outputs = model
        .run(&exp.inputs)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(outputs.len(), exp.outputs.len(), "{name}: output count");
    for (out_name, want) in &exp.outputs {
        let got = outputs
            .iter()
            .find(|o| &o.name == out_name)
            .unwrap_or_else(|| panic!("{name}: no {out_name}"));
        let want_shape: Vec<usize> = want["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(got.shape, want_shape, "{name}/{out_name}: shape");
        match &got.data {
            TensorData::String(labels) => {
                assert_eq!(
                    labels,
                    &flat(want, |x| x.as_str().unwrap().to_string()),
                    "{name}/{out_name}: labels"
                );
            }
            TensorData::I64(_) | TensorData::I32(_) => {
                let got = got.data.to_f64().unwrap();
                assert_eq!(
                    got,
                    flat(want, |x| x.as_f64().unwrap()),
                    "{name}/{out_name}: labels"
                );
            }
            data => {
                let got = data.to_f64().unwrap();
                let want = flat(want, |x| x.as_f64().unwrap_or(f64::NAN));
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    // Absolute 1e-5 for probabilities; relative for large regression outputs.
                    let tol = 1e-5 * w.abs().max(1.0);
                    assert!(
                        (g - w).abs() <= tol,
                        "{name}/{out_name}[{i}]: {g} vs onnxruntime {w}"
                    );
                }
            }
        }
    }
}

macro_rules! parity {
    ($($test:ident => $model:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check($model);
            }
        )*

        /// Every recorded model has a parity test above (a new fixture cannot be forgotten).
        #[test]
        fn every_recorded_model_is_checked() {
            let checked = [$($model),*];
            let dir = common::fixture("");
            for entry in std::fs::read_dir(dir).unwrap() {
                let file = entry.unwrap().file_name().into_string().unwrap();
                if let Some(model) = file.strip_suffix(".expected.json") {
                    assert!(checked.contains(&model), "{model} has expected outputs but no parity test");
                }
            }
        }
    };
}

parity! {
    multiclass_logistic_regression => "logreg_multiclass",
    binary_logistic_regression => "logreg_binary",
    mlp_classifier => "mlp_classifier",
    linear_regressor => "linear_regressor",
    mlp_regressor => "mlp_regressor",
    standard_scaler_pipeline => "scaler_logreg",
    min_max_scaler_pipeline => "minmax_mlp",
    imputer_pipeline => "imputer_linear",
    binarizer_pipeline => "binarizer_logreg",
    random_forest_binary => "rf_binary",
    random_forest_multiclass => "rf_multiclass",
    extra_trees_binary => "et_binary",
    extra_trees_multiclass => "et_multiclass",
    gradient_boosting_binary => "gb_binary",
    gradient_boosting_multiclass => "gb_multiclass",
    random_forest_regressor => "rf_regressor",
    extra_trees_regressor => "et_regressor",
    gradient_boosting_regressor => "gb_regressor",
    random_forest_string_labels => "rf_string_labels",
    column_transformer_numeric_and_categorical => "column_transformer",
    label_encoder => "label_encoder",
    one_hot_encoder_ints => "one_hot_int",
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
    for name in ["mlp_classifier", "rf_multiclass", "gb_binary"] {
        let model = load(name);
        let exp = expected(name);
        let TensorData::F32(values) = &exp.inputs[0].data else {
            panic!("float input")
        };
        let input = exp.inputs[0].name.clone();
        let batch = NamedTensor {
            name: input.clone(),
            shape: vec![8, 4],
            data: TensorData::F32(values[..32].to_vec()),
        };
        let all = model.run(&[batch]).unwrap();
        let classes = all[1].shape[1];
        for (i, row) in values[..32].chunks(4).enumerate() {
            let one = NamedTensor {
                name: input.clone(),
                shape: vec![1, 4],
                data: TensorData::F32(row.to_vec()),
            };
            let single = model.run(&[one]).unwrap();
            let p_all = all[1].data.to_f64().unwrap();
            let p_one = single[1].data.to_f64().unwrap();
            assert_eq!(
                &p_all[i * classes..(i + 1) * classes],
                &p_one[..],
                "{name} row {i}"
            );
        }
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
