//! The smoke-test and evaluate dialog: the CSV prompt, live progress, and the report (each
//! smoke check with its evidence; each metric for the candidate beside production).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::app::State;
use crate::app::state::{CheckOutcome, CheckStage};
use crate::model::Evaluation;
use crate::model::SmokeReport;
use crate::theme::Theme;

pub fn draw(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, ascii: bool) {
    let Some(check) = state.check() else { return };
    let title = format!(" {} {} v{} ", check.kind.name(), check.model, check.version);
    let mut lines: Vec<Line> = Vec::new();
    match &check.stage {
        CheckStage::AskData { path, prefilled } => {
            lines.push(Line::from(format!(
                "v{} against production on a labelled CSV (the model's feature columns and a label column, the last one by default).",
                check.version
            )));
            lines.push(Line::from(""));
            lines.push(Line::from(vec![
                Span::styled("labelled CSV: ", theme.accent()),
                // The last path, as a selected field: typing replaces it.
                if *prefilled {
                    Span::styled(path.clone(), theme.selection())
                } else {
                    Span::raw(path.clone())
                },
                Span::styled(if ascii { "_" } else { "▏" }, theme.accent()),
            ]));
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(
                if *prefilled {
                    "enter: run on the last CSV   typing replaces it   backspace: edit   esc: cancel"
                } else {
                    "enter: run   ctrl-u: clear   esc: cancel"
                },
                theme.dim(),
            )));
        }
        CheckStage::Running => {
            let step = state
                .progress
                .as_ref()
                .map_or_else(|| "starting".to_string(), ToString::to_string);
            lines.push(Line::from(Span::styled(format!("{step}…"), theme.accent())));
            lines.push(Line::from(Span::styled(
                "esc closes this; the check goes on and its result arrives as a message",
                theme.dim(),
            )));
        }
        CheckStage::Done(Ok(CheckOutcome::Smoke(report))) => {
            smoke_lines(&mut lines, report, theme, ascii, state.config.read_only);
        }
        CheckStage::Done(Ok(CheckOutcome::Evaluation(evaluation))) => {
            evaluation_lines(&mut lines, evaluation, theme, state.config.read_only);
        }
        CheckStage::Done(Err(e)) => {
            lines.push(Line::from(Span::styled(e.clone(), theme.danger())));
            lines.push(Line::from(Span::styled("any key closes", theme.dim())));
        }
    }
    super::dialog(frame, area, title, lines, 1, theme, ascii);
}

fn smoke_lines<'a>(
    lines: &mut Vec<Line<'a>>,
    report: &'a SmokeReport,
    theme: &Theme,
    ascii: bool,
    read_only: bool,
) {
    for c in &report.checks {
        let (mark, style) = if c.skipped {
            ("-", theme.dim())
        } else {
            crate::ui::verdict_mark(c.passed, theme, ascii)
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} {:<15} ", c.name), style),
            Span::styled(c.detail.as_str(), theme.dim()),
        ]));
    }
    lines.push(Line::from(""));
    // A read-only environment stores nothing: the dialog says so.
    let verdict = match (report.passed, read_only) {
        (true, false) => Span::styled("passed; stored with the version", theme.ok()),
        (true, true) => Span::styled("passed; not stored (read-only environment)", theme.ok()),
        (false, false) => Span::styled(
            "FAILED; stored with the version, and a deploy of it is refused",
            theme.danger(),
        ),
        (false, true) => Span::styled("FAILED; not stored (read-only environment)", theme.danger()),
    };
    lines.push(Line::from(vec![
        verdict,
        Span::styled("  (any key closes)", theme.dim()),
    ]));
}

fn evaluation_lines<'a>(
    lines: &mut Vec<Line<'a>>,
    e: &'a Evaluation,
    theme: &Theme,
    read_only: bool,
) {
    lines.push(Line::from(format!("{} rows of {}", e.rows, e.data)));
    let production = e
        .baseline
        .map(|b| format!("production v{b}"))
        .unwrap_or_else(|| "no production".into());
    lines.push(Line::from(Span::styled(
        format!(
            "{:<10} {:>12} {:>16} {:>9}",
            "metric",
            format!("v{}", e.candidate),
            production,
            "change"
        ),
        theme.accent(),
    )));
    for (name, value) in &e.candidate_metrics {
        let base = e.baseline_metrics.as_ref().and_then(|b| b.get(name));
        let change = base
            .map(|b| format!("{:+.4}", value - b))
            .unwrap_or_else(|| "-".into());
        // Lower is better for losses and errors, higher for the rest.
        let lower_is_better = matches!(name.as_str(), "log_loss" | "mae" | "rmse");
        let worse = base.is_some_and(|b| {
            if lower_is_better {
                *value > *b
            } else {
                *value < *b
            }
        });
        lines.push(Line::from(vec![
            Span::raw(format!(
                "{name:<10} {value:>12.4} {:>16}",
                base.map(|b| format!("{b:.4}"))
                    .unwrap_or_else(|| "-".into())
            )),
            Span::styled(
                format!(" {change:>9}"),
                if worse { theme.danger() } else { theme.ok() },
            ),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        if read_only {
            "not stored: the environment is read-only (any key closes)"
        } else {
            "stored with the version: the promote gate compares it (any key closes)"
        },
        theme.dim(),
    )));
}
