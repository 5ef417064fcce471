//! The requests pane: the newest requests the model's server logged, with their answers (a
//! tail of the request log, refreshed while it is open); `/` searches by id, `t` keeps the
//! selected one as a sentinel case. The selected request's inputs and answer show below.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Wrap};

use crate::ui::DrawnList;
use crate::ui::columns::{Column, fitted_table};

use super::{Panel, placeholder, why_empty, with_freshness};

const OFF: &str = "No logged requests. The request log is off unless [request_log] rate is set in the config (e.g. rate = 0.1 logs one request in ten), then the server is restarted; requests can hold personal data, see the README. Only local servers keep one.";

pub(super) fn requests(frame: &mut Frame<'_>, panel: Panel<'_>, drawn: &mut DrawnList) {
    let Panel { ctx, area, block } = panel;
    let (state, name, theme, ascii) = (ctx.state, ctx.name, ctx.theme, ctx.ascii);
    // Whether it follows the log, holds still, or shows a search: the rows' meaning.
    let (mode, mode_style) = match (&state.detail.requests_search, state.detail.requests_newer) {
        (Some(needle), _) => (
            format!(" found in the whole log: {needle:?} · esc: newest "),
            theme.accent(),
        ),
        (None, _) if !crate::app::requests::held(state) => (
            " tailing · t keeps one as a sentinel case · / searches ".to_string(),
            theme.dim(),
        ),
        (None, 0) => (" held · g: back to the newest ".to_string(), theme.warn()),
        (None, newer) => (
            format!(
                " held: {newer}{} newer not shown · g: back to the newest ",
                if newer >= crate::app::requests::SHOWN {
                    "+"
                } else {
                    ""
                }
            ),
            theme.warn(),
        ),
    };
    let block = with_freshness(block, &state.sources.requests_status, state, theme)
        .title_bottom(Line::from(Span::styled(mode, mode_style)).right_aligned());
    let rows = crate::app::panes::requests(state, name);
    let loaded = state
        .detail
        .requests
        .get(name)
        .is_some_and(|r| !r.is_empty());
    if let (Some(needle), true) = (&state.detail.requests_search, rows.is_empty()) {
        let why = format!(
            "No logged request holds {needle:?} (the whole log was searched: ids, input values, classes as logged). Esc goes back to the newest."
        );
        placeholder(frame, area, block, &why, theme);
        return;
    }
    if let Some(why) = why_empty(loaded, rows.len(), OFF, "logged request") {
        placeholder(frame, area, block, &why, theme);
        return;
    }
    let selected = state.detail.selected.min(rows.len() - 1);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The selected request whole below the list, when there is room for both.
    let detail_lines = if inner.height >= 12 { 4 } else { 0 };
    let [list, detail] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(detail_lines)]).areas(inner);
    let body: Vec<Vec<Cell>> = rows
        .iter()
        .map(|e| {
            let status_style = if e.status >= 400 {
                theme.danger()
            } else {
                theme.ok()
            };
            vec![
                Cell::from(e.at.format("%m-%d %H:%M:%S%.3f").to_string()),
                Cell::from(e.version.as_deref().map_or("-".into(), |v| format!("v{v}"))),
                Cell::from(Span::styled(e.status.to_string(), status_style)),
                Cell::from(format!("{:.2} ms", e.latency_ms)),
                Cell::from(e.id.clone().unwrap_or_else(|| "-".into())),
                Cell::from(crate::app::panes::answer_text(e)),
            ]
        })
        .collect();
    // The id is what users search for and quote: it goes only after the latency.
    let columns = [
        Column::new("TIME (UTC)", Constraint::Length(18), 0),
        Column::new("VER", Constraint::Length(4), 0),
        Column::new("HTTP", Constraint::Length(4), 0),
        Column::new("LATENCY", Constraint::Length(10), 2),
        Column::new("ID", Constraint::Length(24), 1),
        Column::new("ANSWER", Constraint::Min(12), 0),
    ];
    let t = fitted_table(body, &columns, list.width, theme, ascii);
    drawn.table.select(Some(selected));
    frame.render_stateful_widget(t, list, &mut drawn.table);
    drawn.drew_rows(list, false);
    if detail_lines > 0
        && let Some(e) = rows.get(selected)
    {
        let inputs = e
            .request
            .get("inputs")
            .or_else(|| e.request.get("instances"))
            .map_or_else(|| e.request.to_string(), |i| i.to_string());
        let text = vec![
            Line::from(vec![
                Span::styled("answer ", theme.dim()),
                Span::raw(crate::app::panes::answer_text(e)),
            ]),
            Line::from(vec![
                Span::styled("inputs ", theme.dim()),
                Span::raw(inputs),
            ]),
        ];
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), detail);
    }
}
