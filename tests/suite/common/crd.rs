//! Validation of objects against a CustomResourceDefinition's structural schema, strictly, as
//! the API server's `fieldValidation=Strict` does: types, required fields, enums, bounds,
//! int-or-string, and no field the schema does not declare (the API server would silently
//! prune it, so a typo in a generated object would be lost without a word).

use serde_json::Value;

/// The `openAPIV3Schema` of `version` in the CRD file at `path`.
pub fn schema(path: &std::path::Path, version: &str) -> Value {
    let text = std::fs::read_to_string(path).expect("read the CRD");
    let crd: Value = serde_saphyr::from_str(&text).expect("parse the CRD");
    crd["spec"]["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .find(|v| v["name"] == version)
        .map(|v| v["schema"]["openAPIV3Schema"].clone())
        .expect("the version's schema")
}

/// Every violation of `schema` in `value`, each with its path (".spec.predictor.foo").
pub fn violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, value, "", &mut out);
    out
}

fn check(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    let here = if path.is_empty() { "." } else { path };
    if schema["x-kubernetes-int-or-string"] == Value::Bool(true) {
        if !(value.is_i64() || value.is_u64() || value.is_string()) {
            out.push(format!(
                "{here}: expected an integer or a string, got {value}"
            ));
        }
        return;
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(map) = value.as_object() else {
                out.push(format!("{here}: expected an object, got {value}"));
                return;
            };
            if let Some(required) = schema["required"].as_array() {
                for r in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        out.push(format!("{here}: missing required field {r:?}"));
                    }
                }
            }
            let properties = schema["properties"].as_object();
            let additional = &schema["additionalProperties"];
            let open = schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true);
            for (key, v) in map {
                let child = format!("{path}.{key}");
                if path.is_empty() && key == "metadata" {
                    // ObjectMeta is the API server's own, validated apart from the CRD.
                    continue;
                }
                if let Some(s) = properties.and_then(|p| p.get(key)) {
                    check(s, v, &child, out);
                } else if additional.is_object() {
                    check(additional, v, &child, out);
                } else if !open {
                    // The API server fills these itself at the top of every object.
                    let top = path.is_empty()
                        && ["apiVersion", "kind", "metadata"].contains(&key.as_str());
                    if !top {
                        out.push(format!(
                            "{child}: unknown field (the schema does not declare it)"
                        ));
                    }
                }
            }
        }
        Some("array") => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(&schema["items"], item, &format!("{path}[{i}]"), out);
                }
            }
            None => out.push(format!("{here}: expected an array, got {value}")),
        },
        Some(kind @ ("string" | "integer" | "number" | "boolean")) => {
            let fits = match kind {
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                _ => value.is_boolean(),
            };
            if !fits {
                out.push(format!("{here}: expected a {kind}, got {value}"));
            }
        }
        _ => {}
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(format!("{here}: {value} is not one of {allowed:?}"));
    }
    if let (Some(min), Some(v)) = (schema["minimum"].as_f64(), value.as_f64())
        && v < min
    {
        out.push(format!("{here}: {v} is below the minimum {min}"));
    }
    if let (Some(max), Some(v)) = (schema["maximum"].as_f64(), value.as_f64())
        && v > max
    {
        out.push(format!("{here}: {v} is above the maximum {max}"));
    }
}
