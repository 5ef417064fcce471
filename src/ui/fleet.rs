//! The fleet pane: every model with what it serves, how fast, how often it fails, and whether
//! its inputs drifted.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph};

use super::columns::{Column, fitted_table};
use super::format;
use crate::app::State;
use crate::app::fleet::{self, FleetRow, Health, Signal};
use crate::model::Verdict;
use crate::theme::Theme;
use crate::ui::DrawnList;

/// The fleet's columns, the model's first (its width is set to fit the names).
pub(super) const COLUMNS: [Column; 11] = [
    Column::new("MODEL", Constraint::Min(12), 0),
    Column::new("PROD", Constraint::Length(5), 0),
    Column::new("CANARY", Constraint::Length(8), 0),
    Column::new("HEALTH", Constraint::Length(7), 0),
    Column::new("REQ/S", Constraint::Length(6), 2),
    Column::new("P99", Constraint::Length(8), 3),
    Column::new("ERR%", Constraint::Length(6), 0),
    Column::new("DRIFT", Constraint::Length(5), 4),
    Column::new("ACC", Constraint::Length(6), 5),
    Column::new("SMOKE", Constraint::Length(6), 6),
    Column::new("ALERTS", Constraint::Min(12), 0),
];

/// A fleet list's title: what it lists, its `/` filter, and its sort with the direction (▲ first
/// to last as read, A to Z; ▼ the most first).
pub(super) fn list_title(state: &State, what: &str) -> String {
    let descending = (state.sort != crate::app::state::SortColumn::Name) != state.sort_reversed;
    let filter = if state.filter.is_empty() {
        String::new()
    } else {
        format!("  filter: {}", state.filter)
    };
    format!(
        " {what}{filter}  sort: {} {} ",
        state.sort.label(),
        if descending { "▼" } else { "▲" }
    )
}

pub fn draw(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &State,
    theme: &Theme,
    ascii: bool,
    drawn: &mut DrawnList,
) {
    let rows = fleet::rows(state);
    let title = list_title(state, &format!("models ({})", rows.len()));
    let block = super::bordered(title, theme.border(true), ascii);
    if rows.is_empty() {
        let failing;
        let text = if state.models.is_empty() && state.sources.registry.last_ok.is_some() {
            "No models registered. Register one with `flightdeck register MODEL FILE.onnx`."
        } else if let (true, Some(e)) = (state.models.is_empty(), &state.sources.registry.error) {
            failing = format!("Cannot read the registry: {e} (:errors has every source)");
            &failing
        } else if state.models.is_empty() {
            "Loading the registry…"
        } else {
            "No model matches the filter (Esc clears it)."
        };
        frame.render_widget(Paragraph::new(text).style(theme.dim()).block(block), area);
        return;
    }
    // Model names whole (the model is what the row is about) and room for the alerts; as the
    // terminal narrows, SMOKE goes first, then ACC, DRIFT, P99 and REQ/S. Each of those that
    // matters is also an alert marker (`!smoke`, `!drift`, `!p99`), so nothing that needs
    // attention is lost.
    let mut columns = COLUMNS;
    let name_width = super::columns::identity_width(
        rows.iter().map(|r| r.model.as_str()),
        "MODEL",
        &columns[1..],
        area.width.saturating_sub(2),
    );
    columns[0] = Column::new("MODEL", Constraint::Length(name_width), 0);
    let cells = |r: &FleetRow| row(r, state, theme, ascii, usize::from(name_width));
    let table = Windowed {
        rows: &rows,
        selected: state.selected,
        columns: &columns,
    };
    table.draw(frame, area, block, cells, (theme, ascii), drawn);
}

/// A long list drawn as a table around its selection: the fleet's and every environment's.
pub(super) struct Windowed<'r, T> {
    pub rows: &'r [T],
    pub selected: usize,
    pub columns: &'r [Column],
}

impl<T> Windowed<'_, T> {
    /// Cells are built only for a window of a screen's height either side of the selection (a
    /// thousand rows' cells every frame were most of its allocations). The table state keeps
    /// its scroll offset in whole-list rows between frames, so scrolling and clicks see the
    /// same numbers; it is made relative to the window for the render and back after. The
    /// columns a narrow terminal left out are said on the bottom border.
    pub(super) fn draw<'a>(
        &self,
        frame: &mut Frame<'_>,
        area: Rect,
        block: ratatui::widgets::Block<'a>,
        cells: impl Fn(&T) -> Vec<Cell<'a>>,
        (theme, ascii): (&Theme, bool),
        drawn: &mut DrawnList,
    ) {
        let (rows, columns) = (self.rows, self.columns);
        let selected = self.selected.min(rows.len().saturating_sub(1));
        let height = usize::from(area.height.saturating_sub(3)).max(1);
        let start = selected.saturating_sub(height);
        let end = (selected + height + 1).min(rows.len());
        let body: Vec<Vec<Cell>> = rows[start..end].iter().map(cells).collect();
        let room = area.width.saturating_sub(2);
        let block = super::columns::hidden_said(block, columns, room, theme);
        let table_widget = fitted_table(body, columns, room, theme, ascii).block(block);
        let table = &mut drawn.table;
        let absolute = table.offset();
        *table.offset_mut() = absolute
            .saturating_sub(start)
            .min((end - start).saturating_sub(1));
        table.select(Some(selected - start));
        frame.render_stateful_widget(table_widget, area, &mut *table);
        *table.offset_mut() += start;
        drawn.drew_rows(area, true);
    }
}

pub(super) fn row<'a>(
    r: &FleetRow,
    state: &State,
    theme: &Theme,
    ascii: bool,
    name_width: usize,
) -> Vec<Cell<'a>> {
    let version = |v: Option<u32>| v.map(|v| format!("v{v}")).unwrap_or_else(|| "-".into());
    let canary = match (r.canary, r.canary_percent) {
        (Some(v), Some(p)) => format!("v{v} {p}%"),
        (Some(v), None) => format!("v{v}"),
        _ => "-".into(),
    };
    let (health, health_style) = match &r.health {
        Health::Serving => (if ascii { "up" } else { "● up" }.to_string(), theme.ok()),
        Health::Down(_) => (
            if ascii { "DOWN" } else { "✖ down" }.to_string(),
            theme.danger(),
        ),
        Health::NotServed => ("-".to_string(), theme.dim()),
        Health::Unknown(_) => ("?".to_string(), theme.warn()),
    };
    let stats = r.stats;
    // Stale numbers are dimmed (their age is in ALERTS); unknown ones are "-", never 0.
    let stale = matches!(r.signal, Signal::Stale { .. });
    let measured = |style: Style| if stale { theme.dim() } else { style };
    let rate = stats
        .map(|s| format::rate(s.requests_per_second))
        .unwrap_or_else(|| "-".into());
    let p99 = stats
        .and_then(|s| s.p99)
        .map(format::latency)
        .unwrap_or_else(|| "-".into());
    let err = stats
        .and_then(|s| s.error_ratio)
        .map(format::percent)
        .unwrap_or_else(|| "-".into());
    let err_style = if stats
        .and_then(|s| s.error_ratio)
        .is_some_and(|e| e >= state.config.alert_error_ratio)
    {
        measured(theme.danger())
    } else {
        measured(Style::default())
    };
    let p99_style = if stats
        .and_then(|s| s.p99)
        .is_some_and(|p| p >= state.config.alert_p99_seconds)
    {
        measured(theme.warn())
    } else {
        measured(Style::default())
    };
    let (drift, drift_style) = match r.drift {
        Some(Verdict::Drift) => ("DRIFT", theme.danger()),
        Some(Verdict::Warn) => ("warn", theme.warn()),
        Some(Verdict::Ok) => ("ok", theme.ok()),
        Some(Verdict::InsufficientData) => ("n/a", theme.dim()),
        None => ("-", theme.dim()),
    };
    // "-" until labels arrive: an accuracy never measured is not shown as a number.
    let accuracy = r
        .accuracy
        .map(|a| format::percent(a.accuracy))
        .unwrap_or_else(|| "-".into());
    let (smoke, smoke_style) = match r.smoke {
        Some(true) => ("ok", theme.ok()),
        Some(false) => ("FAIL", theme.danger()),
        None => ("-", theme.dim()),
    };
    vec![
        // A name cut says so (two long names must not look the same); Enter or `y` shows it whole.
        Cell::from(format::clip(&r.model, name_width)),
        Cell::from(version(r.production)),
        Cell::from(canary),
        Cell::from(Span::styled(health, health_style)),
        Cell::from(Span::styled(rate, measured(Style::default()))),
        Cell::from(Span::styled(p99, p99_style)),
        Cell::from(Span::styled(err, err_style)),
        Cell::from(Span::styled(drift, measured(drift_style))),
        Cell::from(Span::styled(accuracy, measured(Style::default()))),
        Cell::from(Span::styled(smoke, smoke_style)),
        Cell::from(Line::from(alerts(r, state, theme, ascii))),
    ]
}

/// The age of stale numbers first ("stale 12s": the numbers beside it are that old), then the
/// row's alert markers.
pub(super) fn alerts<'a>(r: &FleetRow, state: &State, theme: &Theme, ascii: bool) -> Vec<Span<'a>> {
    let mut spans = Vec::new();
    if let Signal::Stale { age_seconds, .. } = &r.signal {
        let age = age_seconds.map(format::age).unwrap_or_else(|| "?".into());
        spans.push(Span::styled(format!("stale {age} "), theme.warn()));
    }
    // Alert rules firing, with how long: what watch would be paging about.
    for f in &r.firing {
        let age = format::age((state.now - f.since).num_seconds().max(0));
        let mark = if ascii { "*" } else { "⚑" };
        spans.push(Span::styled(
            format!("{mark}{} {age} ", f.rule),
            theme.danger(),
        ));
    }
    spans.push(Span::styled(r.alerts.join(" "), theme.danger()));
    // A candidate answering a copy of the traffic: not trouble, but worth seeing from here.
    if let Some(shadow) = &r.shadow {
        let gap = if r.alerts.is_empty() { "" } else { " " };
        spans.push(Span::styled(
            format!("{gap}{}", shadow.marker()),
            theme.dim(),
        ));
    }
    spans
}
