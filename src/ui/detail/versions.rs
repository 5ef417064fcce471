//! The versions pane: registered versions with their aliases, smoke results and lineage.

use ratatui::Frame;
use ratatui::layout::Constraint;
use ratatui::text::Span;
use ratatui::widgets::Cell;

use crate::ui::columns::{Column, fitted_table};

use super::{Panel, placeholder, why_empty, with_freshness};
use crate::ui::DrawnList;

pub(super) fn versions(frame: &mut Frame<'_>, panel: Panel<'_>, drawn: &mut DrawnList) {
    let Panel { ctx, area, block } = panel;
    let (state, name, theme, ascii) = (ctx.state, ctx.name, ctx.theme, ctx.ascii);
    let block = with_freshness(block, &state.sources.versions_status, state, theme);
    let versions = crate::app::panes::versions(state, name);
    let loaded = state
        .detail
        .versions
        .get(name)
        .is_some_and(|v| !v.is_empty());
    if let Some(why) = why_empty(loaded, versions.len(), "Loading versions…", "version") {
        placeholder(frame, area, block, &why, theme);
        return;
    }
    // The version answering a copy of production's requests, beside its aliases.
    let shadowing = state.shadow_of(name).map(|s| s.version);
    // At 80 columns: version, aliases, smoke, date, pipeline and metrics; the data hash, SHA,
    // commit and author come back on wider terminals (and are always in `flightdeck versions`).
    let columns = [
        Column::new("VER", Constraint::Length(5), 0),
        Column::new("ALIASES", Constraint::Length(18), 0),
        Column::new("SMOKE", Constraint::Length(8), 0),
        Column::new("CREATED", Constraint::Length(16), 1),
        Column::new("AUTHOR", Constraint::Length(10), 3),
        Column::new("SHA256", Constraint::Length(12), 5),
        Column::new("PIPELINE", Constraint::Length(8), 2),
        Column::new("COMMIT", Constraint::Length(8), 4),
        Column::new("DATA", Constraint::Length(12), 6),
        Column::new("METRICS", Constraint::Min(8), 0),
    ];
    let room = area.width.saturating_sub(2);
    // Cut with a sign: `accuracy=0.8055` cut bare reads as `accuracy=0`.
    let metrics_width = crate::ui::columns::width_of(&columns, room, "METRICS");
    let rows: Vec<Vec<Cell>> = versions
        .iter()
        .map(|v| {
            let metrics: Vec<String> = v.metrics.iter().map(|(k, x)| format!("{k}={x}")).collect();
            let aliases = v
                .aliases
                .iter()
                .map(String::as_str)
                .chain((shadowing == Some(v.version)).then_some("shadow"))
                .collect::<Vec<_>>()
                .join(",");
            vec![
                Cell::from(v.label()),
                Cell::from(Span::styled(aliases, theme.accent())),
                match (&v.not_servable, v.smoke_passed) {
                    (Some(_), _) => Cell::from(Span::styled("not ONNX", theme.danger())),
                    (None, Some(true)) => Cell::from(Span::styled("passed", theme.ok())),
                    (None, Some(false)) => Cell::from(Span::styled("FAILED", theme.danger())),
                    (None, None) => Cell::from(Span::styled("-", theme.dim())),
                },
                Cell::from(v.lineage.created_at.format("%Y-%m-%d %H:%M").to_string()),
                Cell::from(v.lineage.author.clone()),
                Cell::from(if v.sha256.is_empty() {
                    "-".to_string()
                } else {
                    v.sha256.chars().take(12).collect::<String>()
                }),
                Cell::from(
                    v.lineage
                        .pipeline_version
                        .clone()
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(
                    v.lineage
                        .code_commit
                        .clone()
                        .map(|c| c.chars().take(8).collect::<String>())
                        .unwrap_or_else(|| "-".to_string()),
                ),
                Cell::from(
                    v.lineage
                        .data_hash
                        .clone()
                        .map(|h| h.chars().take(12).collect::<String>())
                        .unwrap_or_else(|| "-".to_string()),
                ),
                Cell::from(match metrics_width {
                    Some(width) => crate::ui::format::clip(&metrics.join(" "), width),
                    None => metrics.join(" "),
                }),
            ]
        })
        .collect();
    let block = crate::ui::columns::hidden_said(block, &columns, room, theme);
    let t = fitted_table(rows, &columns, room, theme, ascii).block(block);
    drawn
        .table
        .select(Some(state.detail.selected.min(versions.len() - 1)));
    frame.render_stateful_widget(t, area, &mut drawn.table);
    drawn.drew_rows(area, true);
}
