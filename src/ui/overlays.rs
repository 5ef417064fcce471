//! Overlays drawn above the panes: the help screen, generated from the keymap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::app::State;
use crate::keymap::Action;
use crate::theme::Theme;

pub fn help(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, ascii: bool) {
    let entry = |action: Action, width: usize| -> Vec<Span<'static>> {
        let keys: Vec<String> = state
            .keymap
            .keys_for(action)
            .iter()
            .map(|k| k.to_string())
            .collect();
        let describe = super::format::clip(action.describe(), width);
        vec![
            Span::styled(format!("{:<12}", keys.join(" ")), theme.accent()),
            Span::raw(format!("{describe:<width$}")),
        ]
    };
    // Two columns when the list would not fit the screen's height.
    let two_columns = Action::ALL.len() + 4 > area.height as usize;
    let mut lines: Vec<Line> = Vec::new();
    if two_columns {
        let half = Action::ALL.len().div_ceil(2);
        for i in 0..half {
            let mut spans = entry(Action::ALL[i], 24);
            if let Some(right) = Action::ALL.get(i + half) {
                spans.push(Span::raw("  "));
                spans.extend(entry(*right, 24));
            }
            lines.push(Line::from(spans));
        }
    } else {
        for action in Action::ALL {
            lines.push(Line::from(entry(*action, 48)));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "commands: :models :serving :drift :versions :cluster :journal",
        theme.dim(),
    )));
    lines.push(Line::from(Span::styled(
        "  :errors :env NAME :theme NAME :finish :revert :help :q",
        theme.dim(),
    )));
    lines.push(Line::from(Span::styled(
        "dialogs: enter confirm · o override · m pipeline · esc cancel",
        theme.dim(),
    )));
    // During the demo's tour, its steps, the current one marked.
    if let Some(current) = state.guide {
        lines.push(Line::from(""));
        for (i, step) in crate::app::guide::STEPS.iter().enumerate() {
            let style = if i == current {
                theme.accent()
            } else {
                theme.dim()
            };
            let mark = if i == current { ">" } else { " " };
            lines.push(Line::from(Span::styled(
                format!("{mark}{} {}", i + 1, super::format::clip(step, 72)),
                style,
            )));
        }
    }
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = super::centered(area, if two_columns { 78 } else { 64 }, height);
    let block = super::bordered(" keys (esc closes) ", theme.border(true), ascii);
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block).style(theme.base()), rect);
}

/// Every source's state, age and whole last error, and the last message: what the header and
/// the footer had to clip.
pub fn errors(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, ascii: bool) {
    use crate::app::state::SourceStatus;
    let mut lines: Vec<Line> = Vec::new();
    let mut source = |name: String, status: &SourceStatus| {
        let age = match (status.age_seconds(state.now), &status.error) {
            (Some(a), Some(_)) => format!("last good read {} ago", super::format::age(a)),
            (Some(a), None) => format!("read {} ago", super::format::age(a)),
            (None, Some(_)) => "never read".into(),
            (None, None) => "not read yet".into(),
        };
        match &status.error {
            Some(e) => {
                lines.push(Line::from(vec![
                    Span::styled(format!("{name}: failing"), theme.danger()),
                    Span::styled(format!(" ({age})"), theme.dim()),
                ]));
                lines.push(Line::from(Span::raw(format!("  {e}"))));
            }
            None => lines.push(Line::from(vec![
                Span::styled(format!("{name}: ok"), theme.ok()),
                Span::styled(format!(" ({age})"), theme.dim()),
            ])),
        }
    };
    source("registry".into(), &state.registry);
    source("server listing".into(), &state.servers_status);
    for (model, status) in state.metrics.iter().filter(|(_, s)| s.error.is_some()) {
        source(format!("metrics of {model}"), status);
    }
    let ok_metrics = state.metrics.values().filter(|s| s.error.is_none()).count();
    if let Some(model) = state.open_model() {
        source(format!("versions of {model}"), &state.versions_status);
        source(format!("journal of {model}"), &state.journal_status);
        source(format!("drift of {model}"), &state.drift_status);
    }
    lines.push(Line::from(Span::styled(
        format!("metrics read fine for {ok_metrics} model(s)"),
        theme.dim(),
    )));
    for server in state.servers.values().filter(|s| s.problem.is_some()) {
        lines.push(Line::from(Span::styled(
            format!("server of {}: down", server.model),
            theme.danger(),
        )));
        lines.push(Line::from(Span::raw(format!(
            "  {}",
            server.problem.clone().unwrap_or_default()
        ))));
    }
    if let Some(toast) = &state.toast {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled("last message:", theme.dim())));
        lines.push(Line::from(Span::raw(toast.clone())));
    }
    let width = area.width.saturating_sub(4).min(110);
    let height = (lines.len() as u16 + 6).min(area.height);
    let rect = super::centered(area, width, height);
    let block = super::bordered(
        " sources and errors (esc closes) ",
        theme.border(true),
        ascii,
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(block)
            .style(theme.base()),
        rect,
    );
}

/// The operation dialog: preview, gates with their evidence, confirmation, progress, outcome.
pub fn operation(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, ascii: bool) {
    use crate::app::state::OpStage;
    let Some(modal) = &state.modal else { return };
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
            let step = state
                .progress
                .as_deref()
                .unwrap_or("reading the registry and the server");
            lines.push(Line::from(Span::styled(
                format!("planning: {step}…"),
                theme.dim(),
            )));
            lines.push(Line::from(Span::styled("esc: cancel", theme.dim())));
        }
        OpStage::Ready(plan) | OpStage::Running(plan) => {
            let consent = modal.consent();
            let overriding = matches!(modal.stage, OpStage::Ready(_));
            lines.push(Line::from(Span::raw(plan.sentence.clone())));
            for w in &plan.warnings {
                lines.push(Line::from(Span::styled(
                    format!("warning: {w}"),
                    theme.warn(),
                )));
            }
            if !plan.gates.is_empty() {
                lines.push(Line::from(""));
                for g in &plan.gates {
                    let (mark, style) = super::gate_mark(g.status, theme, ascii);
                    let mut spans = vec![Span::styled(format!("{mark} {:<15} ", g.name), style)];
                    if !g.passed() && consent.covers(g) {
                        spans.push(Span::styled("OVERRIDDEN ", theme.danger()));
                    }
                    spans.push(Span::styled(g.evidence.clone(), theme.dim()));
                    lines.push(Line::from(spans));
                }
            }
            lines.push(Line::from(""));
            if !overriding {
                let step = state.progress.as_deref().unwrap_or("running");
                lines.push(Line::from(Span::styled(format!("{step}…"), theme.accent())));
            } else {
                pinned = 0;
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
                    pinned += 1;
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
                    pinned += 1;
                }
                let ready = consent.allows(plan);
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
                if state.typed_confirmation {
                    lines.push(Line::from(vec![
                        Span::styled(
                            format!("type {} and press enter: ", modal.model),
                            theme.accent(),
                        ),
                        Span::raw(modal.typed.clone()),
                    ]));
                    pinned += 1;
                }
                lines.push(Line::from(Span::styled(confirm, confirm_style)));
                pinned += 1;
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

/// A centred box with `lines`, wrapped, over whatever is beneath, as tall as its wrapped text
/// needs (up to the screen). The last `pinned` lines (the keys and choices) always show at its
/// bottom; when the rest does not fit, the rest is cut, never them.
pub(crate) fn dialog(
    frame: &mut Frame<'_>,
    area: Rect,
    title: String,
    mut lines: Vec<Line<'_>>,
    pinned: usize,
    theme: &Theme,
    ascii: bool,
) {
    let width = 76u16.min(area.width);
    let inner_width = width.saturating_sub(2).max(1);
    let wrap = ratatui::widgets::Wrap { trim: true };
    let keys = lines.split_off(lines.len().saturating_sub(pinned));
    let keys = Paragraph::new(keys).wrap(wrap);
    let body = Paragraph::new(lines).wrap(wrap);
    let keys_height = keys.line_count(inner_width) as u16;
    let body_height = body.line_count(inner_width) as u16;
    let height = (body_height + keys_height + 2).min(area.height);
    let rect = super::centered(area, width, height);
    let block = super::bordered(title, theme.border(true), ascii);
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block.style(theme.base()), rect);
    let [body_area, keys_area] = ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Min(0),
        ratatui::layout::Constraint::Length(keys_height.min(inner.height)),
    ])
    .areas(inner);
    frame.render_widget(body.style(theme.base()), body_area);
    frame.render_widget(keys.style(theme.base()), keys_area);
}

/// The guided tour's current step, in a box at the bottom of the main area.
pub fn guide(frame: &mut Frame<'_>, area: Rect, step: usize, theme: &Theme, ascii: bool) {
    let steps = crate::app::guide::STEPS;
    let Some(text) = steps.get(step) else { return };
    let width = area.width.saturating_sub(4).max(20);
    let height = 5u16.min(area.height);
    let rect = Rect {
        x: area.x + 2,
        y: area.y + area.height.saturating_sub(height + 1),
        width,
        height,
    };
    let block = super::bordered(
        format!(" tour {}/{} · n: next ", step + 1, steps.len()),
        theme.accent(),
        ascii,
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(*text)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(block)
            .style(theme.base()),
        rect,
    );
}
