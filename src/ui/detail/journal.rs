//! The journal pane: recent operations and changes on this model, newest first.

use ratatui::Frame;
use ratatui::layout::Constraint;
use ratatui::text::{Line, Span};
use ratatui::widgets::Cell;

use crate::ui::columns::{Column, fitted_table};

use super::{Panel, placeholder, why_empty, with_freshness};
use crate::ui::DrawnList;

/// Recent operations and changes on this model, newest first.
pub(super) fn journal(frame: &mut Frame<'_>, panel: Panel<'_>, drawn: &mut DrawnList) {
    let Panel { ctx, area, block } = panel;
    let (state, name, theme, ascii) = (ctx.state, ctx.name, ctx.theme, ctx.ascii);
    let block = with_freshness(block, &state.sources.journal_status, state, theme);
    let rows = crate::app::panes::journal(state, name);
    let loaded = state
        .detail
        .journal
        .get(name)
        .is_some_and(|j| !j.is_empty());
    if let Some(why) = why_empty(loaded, rows.len(), "No journal entries yet.", "journal row") {
        placeholder(frame, area, block, &why, theme);
        return;
    }
    // At 80 columns FROM goes first (TO is the state the row left behind), then the user.
    let columns = [
        Column::new("TIME (UTC)", Constraint::Length(14), 0),
        Column::new("USER", Constraint::Length(10), 2),
        Column::new("OPERATION", Constraint::Length(16), 0),
        Column::new("FROM", Constraint::Length(18), 3),
        Column::new("TO", Constraint::Length(18), 0),
        Column::new("OUTCOME", Constraint::Min(9), 0),
    ];
    let room = area.width.saturating_sub(2);
    // Cut with a sign: `v1, canary v2 at 20%` cut bare reads as `at 2`.
    let clip = |text: Option<&String>, header: &str| {
        let text = text.cloned().unwrap_or_else(|| "-".into());
        match crate::ui::columns::width_of(&columns, room, header) {
            Some(width) => crate::ui::format::clip(&text, width),
            None => text,
        }
    };
    let body: Vec<Vec<Cell>> = rows
        .iter()
        .map(|e| {
            let style = match e.outcome {
                crate::model::Outcome::Succeeded => theme.ok(),
                crate::model::Outcome::Started => theme.warn(),
                _ => theme.danger(),
            };
            vec![
                Cell::from(e.time.format("%m-%d %H:%M:%S").to_string()),
                Cell::from(e.user.clone()),
                Cell::from(e.operation.clone()),
                Cell::from(clip(e.from.as_ref(), "FROM")),
                Cell::from(clip(e.to.as_ref(), "TO")),
                // What the user overrode, or what blocked it, beside the outcome.
                Cell::from(Line::from(match e.note() {
                    Some(note) => vec![
                        Span::styled(e.outcome.as_str(), style),
                        Span::styled(format!(" {note}"), theme.warn()),
                    ],
                    None => vec![Span::styled(e.outcome.as_str(), style)],
                })),
            ]
        })
        .collect();
    let block = crate::ui::columns::hidden_said(block, &columns, room, theme);
    let t = fitted_table(body, &columns, room, theme, ascii).block(block);
    drawn
        .table
        .select(Some(state.detail.selected.min(rows.len() - 1)));
    frame.render_stateful_widget(t, area, &mut drawn.table);
    drawn.drew_rows(area, true);
}
