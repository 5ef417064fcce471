//! The errors overlay (`:errors`): every source's state with its whole error text.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::app::State;
use crate::theme::Theme;

/// Every source's state, age and whole last error, and the last message: what the header and
/// the footer had to clip.
pub fn errors(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, ascii: bool) {
    use crate::app::state::SourceStatus;
    let mut lines: Vec<Line> = Vec::new();
    let source = |lines: &mut Vec<Line>, name: String, status: &SourceStatus| {
        let age = match (status.age_seconds(state.now), &status.error) {
            (Some(a), Some(_)) => format!("last good read {} ago", crate::ui::format::age(a)),
            (Some(a), None) => format!("read {} ago", crate::ui::format::age(a)),
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
    source(&mut lines, "registry".into(), &state.sources.registry);
    source(
        &mut lines,
        "server listing".into(),
        &state.sources.servers_status,
    );
    for (model, status) in state
        .sources
        .metrics
        .iter()
        .filter(|(_, s)| s.error.is_some())
    {
        source(&mut lines, format!("metrics of {model}"), status);
    }
    let ok_metrics = state
        .sources
        .metrics
        .values()
        .filter(|s| s.error.is_none())
        .count();
    if let Some(model) = state.open_model() {
        source(
            &mut lines,
            format!("versions of {model}"),
            &state.sources.versions_status,
        );
        source(
            &mut lines,
            format!("journal of {model}"),
            &state.sources.journal_status,
        );
        source(
            &mut lines,
            format!("drift of {model}"),
            &state.sources.drift_status,
        );
    }
    // The other environments `:fleet all` reads: each one's whole error, which its line in
    // the list had to cut.
    if let Some(everywhere) = &state.everywhere {
        for (name, read) in everywhere
            .environments
            .iter()
            .filter(|(name, _)| **name != state.config.environment)
        {
            source(
                &mut lines,
                format!("environment {name} (:fleet all)"),
                &read.status,
            );
            // Read, but without its serving numbers: said as a failure of its own.
            if let Some(problem) = &read.metrics_problem {
                lines.push(Line::from(Span::styled(
                    format!("environment {name} (:fleet all) serving numbers: failing"),
                    theme.danger(),
                )));
                lines.push(Line::from(Span::raw(format!("  {problem}"))));
            }
        }
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
    let rect = crate::ui::centered(area, width, height);
    let block = crate::ui::bordered(
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
