//! Two versions of a model side by side: lineage, smoke status, what each does now where it
//! serves (live numbers, input drift), every metric with its change, and what differs in their
//! signatures (a changed input is what breaks callers).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::app::State;
use crate::model::{ModelVersion, TensorSpec};
use crate::theme::Theme;

/// One row of the comparison: a version's value for it, if it has one.
type Field = dyn Fn(&ModelVersion) -> Option<String>;

/// A row measured where a version serves, by its number.
type Measured<'a> = (&'a str, &'a dyn Fn(u32) -> Option<String>);

pub fn draw(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, ascii: bool) {
    let Some((model, a, b)) = state.comparing() else {
        return;
    };
    let versions = state.detail.versions.get(model);
    let find = |v: u32| versions.and_then(|vs| vs.iter().find(|x| x.version == v));
    let (Some(a), Some(b)) = (find(a), find(b)) else {
        return;
    };
    let title = format!(" compare {model} v{} and v{} ", a.version, b.version);
    let mut lines = vec![Line::from(Span::styled(
        format!("{:<14} {:>20} {:>20}", "version", a.label(), b.label()),
        theme.accent(),
    ))];
    let text = |v: &ModelVersion, f: &Field| f(v).unwrap_or_else(|| "-".into());
    let fields: [(&str, &Field); 7] = [
        ("aliases", &|v| {
            Some(v.aliases.join(",")).filter(|s| !s.is_empty())
        }),
        ("created", &|v| {
            Some(v.lineage.created_at.format("%Y-%m-%d %H:%M").to_string())
        }),
        ("author", &|v| Some(v.lineage.author.clone())),
        ("pipeline", &|v| v.lineage.pipeline_version.clone()),
        ("data hash", &|v| v.lineage.data_hash.clone()),
        ("commit", &|v| v.lineage.code_commit.clone()),
        ("smoke", &|v| {
            v.smoke_passed
                .map(|p| if p { "passed" } else { "FAILED" }.to_string())
        }),
    ];
    for (name, f) in fields {
        let (left, right) = (text(a, f), text(b, f));
        let style = if left == right {
            theme.dim()
        } else {
            theme.base()
        };
        lines.push(Line::from(Span::styled(
            format!("{name:<14} {:>20} {:>20}", clip(&left), clip(&right)),
            style,
        )));
    }
    // Whether one can stand in for the other: right under what they are.
    lines.push(Line::from(""));
    let differences = signature_differences(a, b);
    let unknown: Vec<String> = [a, b]
        .iter()
        .filter(|v| v.signature.inputs.is_empty())
        .map(|v| v.label())
        .collect();
    if !unknown.is_empty() {
        // An MLflow version's inputs are known once its file was fetched: two unknowns are
        // not "identical".
        lines.push(Line::from(Span::styled(
            format!(
                "signatures: unknown for {} (its file was not fetched yet)",
                unknown.join(" and ")
            ),
            theme.dim(),
        )));
    } else if differences.is_empty() {
        lines.push(Line::from(Span::styled(
            "signatures: identical inputs and outputs",
            theme.ok(),
        )));
    } else {
        for d in differences {
            lines.push(Line::from(Span::styled(d, theme.warn())));
        }
    }
    // What each does now where it serves: live numbers and the drift of its inputs ("-" for a
    // version nothing serves: not measured, not zero).
    lines.push(Line::from(""));
    let live = |v: u32| {
        state
            .serving
            .get(&(model.to_string(), v.to_string()))
            .copied()
    };
    let drift = |v: u32| {
        state
            .detail
            .drift
            .get(model)
            .and_then(|reports| reports.iter().find(|r| r.version == v))
            .map(|r| format!("{} ({} rows)", r.verdict.as_str(), r.window_samples))
    };
    let measured: [Measured; 4] = [
        ("live req/s", &|v| {
            live(v).map(|s| crate::ui::format::rate(s.requests_per_second))
        }),
        ("live p99", &|v| {
            live(v).and_then(|s| s.p99).map(crate::ui::format::latency)
        }),
        ("live errors", &|v| {
            live(v)
                .and_then(|s| s.error_ratio)
                .map(crate::ui::format::percent)
        }),
        ("drift", &drift),
    ];
    for (name, f) in measured {
        let (left, right) = (
            f(a.version).unwrap_or_else(|| "-".into()),
            f(b.version).unwrap_or_else(|| "-".into()),
        );
        lines.push(Line::from(Span::raw(format!(
            "{name:<14} {:>20} {:>20}",
            clip(&left),
            clip(&right)
        ))));
    }
    let mut names: Vec<&String> = a.metrics.keys().chain(b.metrics.keys()).collect();
    names.sort();
    names.dedup();
    if !names.is_empty() {
        lines.push(Line::from(""));
    }
    for name in names {
        let (x, y) = (a.metrics.get(name), b.metrics.get(name));
        let show = |v: Option<&f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
        let change = match (x, y) {
            (Some(x), Some(y)) => format!("  {:+.4}", y - x),
            _ => String::new(),
        };
        lines.push(Line::from(vec![
            Span::raw(format!(
                "{:<14} {:>20} {:>20}",
                clip(name),
                show(x),
                show(y)
            )),
            Span::styled(change, theme.dim()),
        ]));
    }
    lines.extend(evaluations(a, b, theme));
    // A short terminal shows what fits, and says that more is below (the order above puts
    // what decides first).
    let room = usize::from(area.height.saturating_sub(3));
    if lines.len() > room {
        let hidden = lines.len() - room + 1;
        lines.truncate(room.saturating_sub(1));
        lines.push(Line::from(Span::styled(
            format!("… {hidden} more lines: a taller terminal shows them"),
            theme.dim(),
        )));
    }
    lines.push(Line::from(Span::styled("any key closes", theme.dim())));
    super::dialog(frame, area, title, lines, 1, theme, ascii);
}

/// Each version's stored evaluation side by side: its metrics on the labelled set, with the
/// change from left to right, and whether both were judged on the same data (numbers from two
/// different sets are shown, and said not to compare).
fn evaluations<'a>(a: &ModelVersion, b: &ModelVersion, theme: &Theme) -> Vec<Line<'a>> {
    let (x, y) = (a.evaluation.as_ref(), b.evaluation.as_ref());
    if x.is_none() && y.is_none() {
        return vec![
            Line::from(""),
            Line::from(Span::styled(
                "evaluation     neither evaluated yet (e on a version runs one)",
                theme.dim(),
            )),
        ];
    }
    let set = |e: Option<&crate::model::Evaluation>| {
        e.map(|e| {
            let file = std::path::Path::new(&e.data)
                .file_name()
                .map_or(e.data.clone(), |f| f.to_string_lossy().into_owned());
            format!("{file} ({})", e.rows)
        })
        .unwrap_or_else(|| "not evaluated".into())
    };
    let same_data = matches!((x, y), (Some(x), Some(y)) if x.data == y.data && x.rows == y.rows);
    // The numbers first (what a short terminal keeps), then what they were measured on.
    let mut lines = vec![Line::from("")];
    let metrics = |e: Option<&crate::model::Evaluation>| e.map(|e| e.candidate_metrics.clone());
    let (left, right) = (
        metrics(x).unwrap_or_default(),
        metrics(y).unwrap_or_default(),
    );
    let mut names: Vec<&String> = left.keys().chain(right.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (l, r) = (left.get(name), right.get(name));
        let show = |v: Option<&f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
        let change = match (l, r) {
            (Some(l), Some(r)) if same_data => format!("  {:+.4}", r - l),
            _ => String::new(),
        };
        lines.push(Line::from(vec![
            Span::raw(format!(
                "{:<14} {:>20} {:>20}",
                clip(&format!("eval {name}")),
                show(l),
                show(r)
            )),
            Span::styled(change, theme.dim()),
        ]));
    }
    lines.push(Line::from(Span::raw(format!(
        "{:<14} {:>20} {:>20}",
        "evaluated on",
        clip(&set(x)),
        clip(&set(y))
    ))));
    if x.is_some() && y.is_some() && !same_data {
        lines.push(Line::from(Span::styled(
            "               different labelled sets: the numbers do not compare",
            theme.warn(),
        )));
    }
    let when = |e: Option<&crate::model::Evaluation>| {
        e.map_or("-".to_string(), |e| {
            e.at.format("%Y-%m-%d %H:%M").to_string()
        })
    };
    lines.push(Line::from(Span::styled(
        format!("{:<14} {:>20} {:>20}", "evaluated at", when(x), when(y)),
        theme.dim(),
    )));
    lines
}

fn clip(s: &str) -> String {
    crate::ui::format::clip(s, 20)
}

/// Each input or output that one version has and the other lacks, or has with another type
/// or shape.
fn signature_differences(a: &ModelVersion, b: &ModelVersion) -> Vec<String> {
    let describe = |t: &TensorSpec| format!("{} {}", t.datatype, t.shape_text());
    let mut out = Vec::new();
    for (kind, left, right) in [
        ("input", &a.signature.inputs, &b.signature.inputs),
        ("output", &a.signature.outputs, &b.signature.outputs),
    ] {
        for l in left {
            match right.iter().find(|r| r.name == l.name) {
                None => out.push(format!("{kind} {}: only in {}", l.name, a.label())),
                Some(r) if describe(r) != describe(l) => out.push(format!(
                    "{kind} {}: {} in {}, {} in {}",
                    l.name,
                    describe(l),
                    a.label(),
                    describe(r),
                    b.label()
                )),
                Some(_) => {}
            }
        }
        for r in right
            .iter()
            .filter(|r| !left.iter().any(|l| l.name == r.name))
        {
            out.push(format!("{kind} {}: only in {}", r.name, b.label()));
        }
    }
    out
}
