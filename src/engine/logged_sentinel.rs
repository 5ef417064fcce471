//! A request the request log kept, turned into a sentinel case: its inputs as they were sent,
//! the answer it got as the expected output. Kept with the version's other cases, so every later
//! smoke test of that version asks it again (an incident's request becomes a regression test).

use serde_json::Value;

use crate::error::EngineError;
use crate::model::{
    LoggedRequest, ModelName, NewJournalEntry, Outcome, SentinelCase, SentinelSet, Signature,
};
use crate::store::registry::WriteError;
use crate::store::{Actor, Registry};

/// What was kept: the version, the case's name and how many cases the version has now.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Kept {
    pub model: String,
    pub version: u32,
    pub case: String,
    pub cases: usize,
}

/// The sentinel case of `entry` for a version with `signature`, or why it cannot be one.
pub fn case_from_logged(
    entry: &LoggedRequest,
    signature: &Signature,
) -> Result<SentinelCase, String> {
    if entry.status != 200 {
        return Err(format!(
            "the request failed (HTTP {}): only an answered request says what to expect",
            entry.status
        ));
    }
    let mut case = SentinelCase {
        name: case_name(entry),
        inputs: Default::default(),
        expected: Default::default(),
        tolerance: None,
    };
    if let Some(inputs) = entry.request.get("inputs").and_then(Value::as_array) {
        for input in inputs {
            let (name, value) = named_tensor(input).map_err(|e| format!("its request: {e}"))?;
            case.inputs.insert(name, value);
        }
    } else if let Some(instances) = entry.request.get("instances") {
        // KServe V1: the one input, one instance a row.
        let [spec] = signature.inputs.as_slice() else {
            return Err("it used the V1 protocol, which only a one-input model takes".into());
        };
        case.inputs.insert(spec.name.clone(), instances.clone());
    } else {
        return Err("its request holds neither V2 `inputs` nor V1 `instances`".into());
    }
    if let Some(outputs) = entry.answer.get("outputs").and_then(Value::as_array) {
        for output in outputs {
            let (name, value) = named_tensor(output).map_err(|e| format!("its answer: {e}"))?;
            case.expected.insert(name, value);
        }
    } else if let Some(predictions) = entry.answer.get("predictions") {
        // V1 answers the label output of a classifier, else the first output.
        let output = signature
            .classifier
            .as_ref()
            .map(|c| c.label_output.clone())
            .or_else(|| signature.outputs.first().map(|o| o.name.clone()))
            .ok_or("the model declares no output")?;
        case.expected.insert(output, predictions.clone());
    } else {
        return Err("its answer holds neither V2 `outputs` nor V1 `predictions`".into());
    }
    let set = SentinelSet {
        tolerance: crate::model::sentinel::default_tolerance(),
        cases: vec![case.clone()],
    };
    super::sentinels::validate(&set, signature)?;
    Ok(case)
}

/// "request 7f3a..." (the id the client sent or the server gave), else its time.
fn case_name(entry: &LoggedRequest) -> String {
    match &entry.id {
        Some(id) => format!("request {id}"),
        None => format!("request at {}", entry.at.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
    }
}

/// A V2 tensor (`name`, `shape`, `data` flat or nested) as its name and values nested by its
/// shape, the form sentinel files use.
fn named_tensor(tensor: &Value) -> Result<(String, Value), String> {
    let name = tensor
        .get("name")
        .and_then(Value::as_str)
        .ok_or("a tensor without a name")?
        .to_string();
    let shape: Vec<usize> = tensor
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{name:?} has no shape"))?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("{name:?} has a shape that is not a list of sizes"))?;
    let mut leaves = Vec::new();
    flatten(tensor.get("data").unwrap_or(&Value::Null), &mut leaves);
    let count: usize = shape.iter().product();
    if leaves.len() != count {
        return Err(format!(
            "{name:?}: shape {shape:?} holds {count} values but its data has {}",
            leaves.len()
        ));
    }
    Ok((name, nest(&shape, &leaves)))
}

fn flatten(value: &Value, into: &mut Vec<Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, into)),
        Value::Null => {}
        leaf => into.push(leaf.clone()),
    }
}

/// `leaves` as nested arrays of `shape` (a scalar shape gives the one leaf).
fn nest(shape: &[usize], leaves: &[Value]) -> Value {
    match shape {
        [] => leaves.first().cloned().unwrap_or(Value::Null),
        [_] => Value::Array(leaves.to_vec()),
        [_, inner @ ..] => {
            let per_row = inner.iter().product::<usize>().max(1);
            Value::Array(leaves.chunks(per_row).map(|c| nest(inner, c)).collect())
        }
    }
}

/// Adds `entry` as a sentinel case of `version` (the version that answered it, unless another
/// is named), journaled in the same transaction. Refused when the version has a case of that
/// name already.
pub fn keep(
    registry: &mut Registry,
    actor: &Actor,
    model: &ModelName,
    entry: &LoggedRequest,
    version: Option<u32>,
) -> Result<Kept, EngineError> {
    let refused = |reason: String| EngineError::Refused {
        model: model.to_string(),
        reason,
    };
    if entry.status != 200 {
        return Err(refused(format!(
            "this request cannot be a sentinel case: the request failed (HTTP {}): only an answered request says what to expect",
            entry.status
        )));
    }
    let answered = entry
        .version
        .as_deref()
        .and_then(|v| v.trim_start_matches('v').parse::<u32>().ok());
    let version = version.or(answered).ok_or_else(|| {
        refused("the log does not say which version answered it: name the version".into())
    })?;
    actor.ensure_writable(&format!("add a sentinel case to {model} v{version}"))?;
    let stored = registry.version(model, version)?;
    let case = case_from_logged(entry, &stored.signature)
        .map_err(|e| refused(format!("this request cannot be a sentinel case: {e}")))?;
    // Asked of the version now: a case it fails would fail every smoke test of it (another
    // version's answer, or one that does not survive the trip through JSON).
    let bytes = crate::store::registry::artifacts::load(registry.artifacts_root(), &stored.sha256)?;
    let loaded = crate::runtime::LoadedModel::from_bytes(&bytes)
        .map_err(|e| refused(format!("v{version}'s file does not load: {e}")))?;
    let one = SentinelSet {
        tolerance: crate::model::sentinel::default_tolerance(),
        cases: vec![case.clone()],
    };
    if let Some(failure) = super::sentinels::failing_cases(&loaded, &one).first() {
        let whose = entry.version.as_deref().unwrap_or("another version");
        return Err(refused(format!(
            "v{version} does not answer this request as v{whose} did ({failure}); as a sentinel case it would fail every smoke test of v{version}, so nothing was added"
        )));
    }
    let name = case.name.clone();
    let kept = registry.write("adding a sentinel case", |tx| {
        // Read inside the transaction: a case added meanwhile is not lost.
        let text: Option<String> = tx.query_row(
            "SELECT sentinels FROM versions WHERE model = ?1 AND version = ?2",
            rusqlite::params![model.as_str(), version],
            |row| row.get(0),
        )?;
        let mut set = match text {
            Some(text) => serde_json::from_str::<SentinelSet>(&text).map_err(|e| {
                WriteError::Engine(refused(format!(
                    "v{version}'s stored sentinel cases cannot be read ({e}); nothing was changed"
                )))
            })?,
            None => SentinelSet {
                tolerance: crate::model::sentinel::default_tolerance(),
                cases: Vec::new(),
            },
        };
        if set.cases.iter().any(|c| c.name == name) {
            return Err(WriteError::Engine(refused(format!(
                "v{version} has a sentinel case {name:?} already"
            ))));
        }
        set.cases.push(case.clone());
        tx.execute(
            "UPDATE versions SET sentinels = ?3 WHERE model = ?1 AND version = ?2",
            rusqlite::params![
                model.as_str(),
                version,
                serde_json::to_string(&set).unwrap_or_default()
            ],
        )?;
        crate::store::journal::append(
            tx,
            &NewJournalEntry {
                user: actor.user.clone(),
                environment: actor.environment.clone(),
                operation: "sentinel added".into(),
                model: Some(model.to_string()),
                from: entry
                    .version
                    .as_ref()
                    .map(|v| format!("v{}", v.trim_start_matches('v'))),
                to: Some(format!("v{version}")),
                outcome: Outcome::Succeeded,
                details: serde_json::json!({
                    "case": name,
                    "logged_at": entry.at,
                    "request_id": entry.id,
                    "cases": set.cases.len(),
                }),
            },
        )?;
        Ok(set.cases.len())
    })?;
    Ok(Kept {
        model: model.to_string(),
        version,
        case: name,
        cases: kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_nested_data_nest_by_the_shape() {
        let (name, value) = named_tensor(&serde_json::json!({
            "name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]
        }))
        .unwrap();
        assert_eq!(name, "x");
        assert_eq!(value, serde_json::json!([[1, 2, 3], [4, 5, 6]]));
        let (_, nested) = named_tensor(&serde_json::json!({
            "name": "x", "shape": [2, 3], "data": [[1, 2, 3], [4, 5, 6]]
        }))
        .unwrap();
        assert_eq!(nested, value);
        let short = named_tensor(&serde_json::json!({"name": "x", "shape": [2, 3], "data": [1]}));
        assert!(short.unwrap_err().contains("holds 6 values"));
    }
}
