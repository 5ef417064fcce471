//! The operation dialog: preview, gates with their evidence, confirmation, progress, outcome.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::app::State;
use crate::app::state::{OpModal, OpStage};
use crate::theme::Theme;

use super::dialog;

/// The operation dialog: preview, gates with their evidence, confirmation, progress, outcome.
pub fn operation(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, ascii: bool) {
    let Some(modal) = state.modal() else { return };
    let title = match (modal.recovery, &modal.stage) {
        (Some(how), OpStage::Planning) => {
            format!(" {how:?} the interrupted operation of {} ", modal.model).to_lowercase()
        }
        (Some(how), _) => format!(
            " {} the interrupted {} {} ",
            format!("{how:?}").to_lowercase(),
            modal.request.name(),
            modal.model
        ),
        (None, _) => format!(" {} {} ", modal.request.name(), modal.model),
    };
    let mut lines: Vec<Line> = Vec::new();
    // The trailing lines that must always show: the choices and the keys.
    let mut pinned = 1;
    match &modal.stage {
        OpStage::Planning => {
            // A missing smoke test runs while planning: its steps show here.
            let step = state.progress.as_ref().map_or_else(
                || "reading the registry and the server".to_string(),
                ToString::to_string,
            );
            lines.push(Line::from(Span::styled(
                format!("planning: {step}…"),
                theme.dim(),
            )));
            lines.push(Line::from(Span::styled("esc: cancel", theme.dim())));
        }
        OpStage::Ready(_) | OpStage::Running(_) => {
            lines.extend(plan_lines(modal, theme, ascii));
            lines.push(Line::from(""));
            if matches!(modal.stage, OpStage::Running(_)) {
                let step = state
                    .progress
                    .as_ref()
                    .map_or_else(|| "running".to_string(), ToString::to_string);
                lines.push(Line::from(Span::styled(format!("{step}…"), theme.accent())));
            } else {
                let choices = choice_lines(modal, state, theme);
                pinned = choices.len();
                lines.extend(choices);
            }
        }
        OpStage::Done(Ok(summary)) => {
            lines.push(Line::from(Span::styled(summary.clone(), theme.ok())));
            lines.push(Line::from(Span::styled("any key closes", theme.dim())));
        }
        OpStage::Done(Err(e)) | OpStage::Failed(e) => {
            lines.push(Line::from(Span::styled(e.clone(), theme.danger())));
            lines.push(Line::from(Span::styled(
                "nothing else was changed; any key closes",
                theme.dim(),
            )));
        }
    }
    dialog(frame, area, title, lines, pinned, theme, ascii);
}

/// The plan's sentence, its warnings, and each gate with its verdict and evidence (marked
/// OVERRIDDEN where the user's consent goes past it).
fn plan_lines(modal: &OpModal, theme: &Theme, ascii: bool) -> Vec<Line<'static>> {
    let (OpStage::Ready(plan) | OpStage::Running(plan)) = &modal.stage else {
        return Vec::new();
    };
    let consent = modal.consent();
    let mut lines = vec![Line::from(Span::raw(plan.sentence.clone()))];
    for w in &plan.warnings {
        lines.push(Line::from(Span::styled(
            format!("warning: {w}"),
            theme.warn(),
        )));
    }
    if !plan.gates.is_empty() {
        lines.push(Line::from(""));
        for g in &plan.gates {
            let (mark, style) = crate::ui::gate_mark(g.status, theme, ascii);
            let mut spans = vec![Span::styled(format!("{mark} {:<16} ", g.name), style)];
            if !g.passed() && consent.covers(g) {
                spans.push(Span::styled("OVERRIDDEN ", theme.danger()));
            }
            spans.push(Span::styled(g.evidence.clone(), theme.dim()));
            lines.push(Line::from(spans));
        }
    }
    lines
}

/// The choices a ready plan waits for (override, pipeline, typed confirmation) and the
/// confirmation line: all pinned, so they show however long the plan.
fn choice_lines(modal: &OpModal, state: &State, theme: &Theme) -> Vec<Line<'static>> {
    let OpStage::Ready(plan) = &modal.stage else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    let blocking: Vec<&str> = plan.blocking_gates().map(|g| g.name.as_str()).collect();
    if !blocking.is_empty() {
        let mark = if modal.override_gates { "[x]" } else { "[ ]" };
        lines.push(Line::from(Span::styled(
            format!(
                "{mark} o: override {} (recorded in the journal)",
                blocking.join(", ")
            ),
            if modal.override_gates {
                theme.danger()
            } else {
                theme.warn()
            },
        )));
    }
    if plan.pipeline_change.is_some() {
        let mark = if modal.allow_pipeline_mismatch {
            "[x]"
        } else {
            "[ ]"
        };
        lines.push(Line::from(Span::styled(
            format!("{mark} m: upstream features match the new pipeline"),
            theme.warn(),
        )));
    }
    let ready = modal.consent().allows(plan);
    let confirm = match (ready, modal.override_gates && !blocking.is_empty()) {
        (false, _) => "enter: (not yet: the boxes above)   esc: cancel".to_string(),
        (true, true) => format!(
            "enter: confirm WITH {} GATE(S) OVERRIDDEN   esc: cancel",
            blocking.len()
        ),
        (true, false) => "enter: confirm   esc: cancel".to_string(),
    };
    let confirm_style = if modal.override_gates {
        theme.danger()
    } else {
        theme.accent()
    };
    if state.config.typed_confirmation {
        lines.push(Line::from(vec![
            Span::styled(
                format!("type {} and press enter: ", modal.model),
                theme.accent(),
            ),
            Span::raw(modal.typed.clone()),
        ]));
    }
    lines.push(Line::from(Span::styled(confirm, confirm_style)));
    lines
}
