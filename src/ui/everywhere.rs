//! Every environment's fleet in one table (`:fleet all`): the fleet's columns after an ENV
//! column, each environment's freshness in the title, and the rows of one that cannot be read
//! marked with how old they are and why.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph};

use super::columns::Column;
use super::format;
use crate::app::State;
use crate::app::everywhere::{self, EverywhereRow, Freshness};
use crate::theme::Theme;
use crate::ui::DrawnList;

pub fn draw(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &State,
    theme: &Theme,
    ascii: bool,
    drawn: &mut DrawnList,
) {
    let rows = everywhere::rows(state);
    let models = rows.iter().filter(|r| r.row.is_some()).count();
    let title = super::fleet::list_title(state, &format!("every environment ({models} models)"));
    // Each environment's freshness along the bottom edge, where the width is its own.
    let block = super::bordered(title, theme.border(true), ascii)
        .title_bottom(Line::from(freshness_spans(state, &rows, theme)));
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new("No environment or model matches the filter (Esc clears it).")
                .style(theme.dim())
                .block(block),
            area,
        );
        return;
    }
    let room = area.width.saturating_sub(2);
    let fleet_columns = super::fleet::COLUMNS;
    let env_width = rows
        .iter()
        .map(|r| r.environment.chars().count() as u16)
        .max()
        .unwrap_or(0)
        .max(3);
    let mut columns: Vec<Column> =
        std::iter::once(Column::new("ENV", Constraint::Length(env_width), 0))
            .chain(fleet_columns)
            .collect();
    let name_width = super::columns::identity_width(
        rows.iter().filter_map(EverywhereRow::model),
        "MODEL",
        &columns[2..],
        room.saturating_sub(env_width + 1),
    );
    columns[1] = Column::new("MODEL", Constraint::Length(name_width), 0);
    // An unreadable environment's reason is cut with a sign, and Enter shows it whole.
    let alerts_width = super::columns::width_of(&columns, room, "ALERTS");
    let cells = |r: &EverywhereRow| {
        row(
            r,
            state,
            (theme, ascii),
            (usize::from(name_width), alerts_width),
        )
    };
    let table = super::fleet::Windowed {
        rows: &rows,
        selected: everywhere::selected(state),
        columns: &columns,
    };
    table.draw(frame, area, block, cells, (theme, ascii), drawn);
}

/// Each environment's state in the title: `prod-eu ✔`, `prod-us reading…`, `staging ✖ 40s`.
fn freshness_spans<'a>(state: &State, rows: &[EverywhereRow], theme: &Theme) -> Vec<Span<'a>> {
    let mut seen: Vec<(&str, &Freshness)> = Vec::new();
    for r in rows {
        if !seen.iter().any(|(name, _)| *name == r.environment) {
            seen.push((r.environment, &r.freshness));
        }
    }
    seen.sort_by_key(|(name, _)| *name);
    let mut spans = Vec::new();
    for (name, freshness) in seen {
        let here = name == state.config.environment;
        let name = if here {
            format!("{name} (here)")
        } else {
            name.to_string()
        };
        spans.push(match freshness {
            Freshness::Live => Span::styled(format!(" {name} ✔ "), theme.ok()),
            Freshness::NoNumbers { .. } => {
                Span::styled(format!(" {name} ⚠ no numbers (:errors) "), theme.warn())
            }
            Freshness::Reading => Span::styled(format!(" {name} reading… "), theme.dim()),
            Freshness::Old { age_seconds } => Span::styled(
                format!(" {name} {} old ", format::age(*age_seconds)),
                theme.warn(),
            ),
            Freshness::Failing { age_seconds, .. } => Span::styled(
                match age_seconds {
                    Some(age) => format!(" {name} ✖ failing, rows {} old ", format::age(*age)),
                    None => format!(" {name} ✖ failing "),
                },
                theme.danger(),
            ),
        });
    }
    spans
}

fn row<'a>(
    r: &EverywhereRow,
    state: &State,
    (theme, ascii): (&Theme, bool),
    (name_width, alerts_width): (usize, Option<usize>),
) -> Vec<Cell<'a>> {
    let env_style = match r.freshness {
        Freshness::Live => ratatui::style::Style::default(),
        Freshness::Reading => theme.dim(),
        Freshness::Old { .. } | Freshness::NoNumbers { .. } => theme.warn(),
        Freshness::Failing { .. } => theme.danger(),
    };
    let env = Cell::from(Span::styled(r.environment.to_string(), env_style));
    let Some(fleet_row) = &r.row else {
        // An environment with no row to show: why, in the model's place and in full in ALERTS.
        let why = match &r.freshness {
            Freshness::Reading => Span::styled("reading…", theme.dim()),
            Freshness::Live | Freshness::Old { .. } | Freshness::NoNumbers { .. } => {
                Span::styled("no models registered", theme.dim())
            }
            Freshness::Failing { error, .. } => {
                let why = format!("cannot be read: {error}");
                let why = match alerts_width {
                    Some(width) => format::clip(&why, width),
                    None => why,
                };
                Span::styled(why, theme.danger())
            }
        };
        let mut cells = vec![env, Cell::from(Span::styled("?", env_style))];
        cells.extend((0..9).map(|_| Cell::from("")));
        cells.push(Cell::from(why));
        return cells;
    };
    let mut cells = vec![env];
    cells.extend(super::fleet::row(
        fleet_row, state, theme, ascii, name_width,
    ));
    // A row without numbers (nothing serves it) of an environment whose last read failed
    // says so too: the rest say `stale` with their age.
    if let Freshness::Failing { error, .. } = &r.freshness
        && fleet_row.stats.is_none()
    {
        let mut spans = vec![Span::styled(
            format!("env unreadable: {error} "),
            theme.danger(),
        )];
        spans.extend(super::fleet::alerts(fleet_row, state, theme, ascii));
        if let Some(last) = cells.last_mut() {
            *last = Cell::from(Line::from(spans));
        }
    }
    cells
}
