//! Describe (Enter on a row, `y` for JSON): the selected object whole (a version, a journal
//! entry, a drift feature, a logged request, a server, a fleet row), from what the console
//! holds, as readable `key: value` lines or as the JSON it is.

use serde_json::Value;

use super::state::{Pane, State, View};

/// What is described: a title and the object as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    pub title: String,
    pub value: Value,
    /// When it was taken: the overlay is a copy, not a live view.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The selected row of the open view, whole; `None` when nothing is selected.
pub fn selected(state: &State) -> Option<Described> {
    let described = |title: String, value: Result<Value, serde_json::Error>| {
        value.ok().map(|value| Described {
            title,
            value,
            at: state.now,
        })
    };
    match &state.view {
        View::Fleet => {
            let row = super::fleet::rows(state).into_iter().nth(state.selected)?;
            described(
                format!("{} in the fleet", row.model),
                serde_json::to_value(&row),
            )
        }
        View::Everywhere => {
            let row = super::everywhere::selected_row(state)?;
            let title = match row.model() {
                Some(model) => format!("{model} in {}", row.environment),
                None => format!("environment {}", row.environment),
            };
            described(title, serde_json::to_value(&row))
        }
        View::Model { name, pane } => match pane {
            Pane::Versions => {
                let v = super::panes::versions(state, name)
                    .into_iter()
                    .nth(state.detail.selected)?;
                described(format!("{name} v{}", v.version), serde_json::to_value(v))
            }
            Pane::Journal => {
                let e = super::panes::journal(state, name)
                    .into_iter()
                    .nth(state.detail.selected)?;
                described(
                    format!(
                        "{name}: {} at {}",
                        e.operation,
                        e.time.format("%Y-%m-%d %H:%M:%S")
                    ),
                    serde_json::to_value(e),
                )
            }
            Pane::Drift => {
                let f = super::panes::features(state, name)
                    .into_iter()
                    .nth(state.detail.selected)?;
                described(format!("{name}: {}", f.name), serde_json::to_value(f))
            }
            Pane::Requests => {
                let r = super::panes::selected_request(state)?;
                described(
                    format!("{name}: request {}", r.id.as_deref().unwrap_or("(no id)")),
                    serde_json::to_value(r),
                )
            }
            Pane::Serving | Pane::Cluster => {
                let server = state.servers.get(name)?;
                described(format!("{name}'s server"), serde_json::to_value(server))
            }
        },
    }
}

/// `value` as indented `key: value` lines (YAML's look): nothing left out, nothing cut.
pub fn readable(value: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    write(value, 0, None, &mut lines);
    lines
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("-".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(o) if o.is_empty() => Some("{}".into()),
        // A short list of plain values reads best on one line.
        Value::Array(a) if a.len() <= 12 && a.iter().all(|v| !v.is_array() && !v.is_object()) => {
            Some(format!(
                "[{}]",
                a.iter()
                    .map(|v| scalar(v).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
        _ => None,
    }
}

fn write(value: &Value, depth: usize, key: Option<&str>, lines: &mut Vec<String>) {
    let indent = "  ".repeat(depth);
    let label = key.map(|k| format!("{k}: ")).unwrap_or_default();
    if let Some(text) = scalar(value) {
        // Text over several lines keeps them, indented under its key.
        let mut parts = text.lines();
        lines.push(format!(
            "{indent}{label}{}",
            parts.next().unwrap_or_default()
        ));
        for more in parts {
            lines.push(format!("{indent}  {more}"));
        }
        return;
    }
    if key.is_some() {
        lines.push(format!("{indent}{label}").trim_end().to_string());
    }
    let depth = if key.is_some() { depth + 1 } else { depth };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                write(v, depth, Some(k), lines);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                write(v, depth, Some(&format!("- [{i}]")), lines);
            }
        }
        _ => {}
    }
}
