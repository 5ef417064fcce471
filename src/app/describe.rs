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
/// The lines a description shows in a terminal `terminal_width` wide: readable or JSON, each
/// longer than the box wrapped (nothing is cut; a continuation is indented under its line).
pub fn shown_lines(described: &Described, json: bool, terminal_width: u16) -> Vec<String> {
    let lines = if json {
        serde_json::to_string_pretty(&described.value)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    } else {
        readable(&described.value)
    };
    let inner = usize::from(box_width(terminal_width).saturating_sub(2));
    lines.iter().flat_map(|line| wrap(line, inner)).collect()
}

/// The description box's width in a terminal this wide.
pub fn box_width(terminal_width: u16) -> u16 {
    terminal_width.saturating_sub(4).max(20)
}

/// `line` in pieces at most `width` characters, broken at a space where one is near the end;
/// each continuation indented two more than the line.
fn wrap(line: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= width || width < 8 {
        return vec![line.to_string()];
    }
    let indent = (chars.iter().take_while(|c| **c == ' ').count() + 2).min(width / 2);
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut room = width;
    while chars.len() - start > room {
        let end = start + room;
        // The last space in the piece's second half, so a word is not split where avoidable.
        let cut = (start + room / 2..end)
            .rev()
            .find(|i| chars[*i] == ' ')
            .map_or(end, |i| i + 1);
        pieces.push(
            chars[start..cut]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_string(),
        );
        start = cut;
        while chars.get(start) == Some(&' ') {
            start += 1;
        }
        room = width - indent;
        if start >= chars.len() {
            break;
        }
    }
    if start < chars.len() {
        pieces.push(chars[start..].iter().collect());
    }
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            if i == 0 {
                p
            } else {
                format!("{}{p}", " ".repeat(indent))
            }
        })
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_wraps_at_a_space_indented_under_itself_and_nothing_is_lost() {
        let line = "  reason: the canary answered unlike production on 31 of 200 rows (15.5%), over the 5% allowed";
        let pieces = wrap(line, 40);
        assert!(pieces.len() > 2, "{pieces:?}");
        assert!(pieces.iter().all(|p| p.chars().count() <= 40), "{pieces:?}");
        assert!(pieces[1].starts_with("    ") && !pieces[1].starts_with("     "));
        let joined: Vec<&str> = pieces.iter().flat_map(|p| p.split_whitespace()).collect();
        assert_eq!(joined, line.split_whitespace().collect::<Vec<_>>());
        // A word longer than the box is cut where it must be, still whole across the pieces.
        let long = format!("path: /{}", "a".repeat(100));
        let pieces = wrap(&long, 30);
        assert_eq!(pieces.concat().replace(' ', ""), long.replace(' ', ""));
        assert_eq!(wrap("short", 30), vec!["short".to_string()]);
    }
}
