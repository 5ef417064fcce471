//! The servers list (`:server`): each local server with what it serves, its port and pid, how
//! long it has run, its restarts and how its last process ended; the stop or restart being
//! confirmed or run is said at the bottom.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Paragraph};

use crate::app::State;
use crate::app::effect::ServerCommand;
use crate::app::servers::listed;
use crate::app::state::Overlay;
use crate::theme::Theme;
use crate::ui::columns::{Column, fitted_table};
use crate::ui::format;

pub fn draw(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, ascii: bool) {
    let Some(Overlay::Servers(view)) = &state.overlay else {
        return;
    };
    let width = area.width.saturating_sub(2).max(20);
    let height = area.height.saturating_sub(2).max(6);
    let boxed = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    let servers = listed(state);
    // The keys are in the footer and the line below the list.
    let title = format!(
        " local servers of {} ({}) ",
        state.config.environment,
        servers.len()
    );
    let block = crate::ui::bordered(title, theme.border(true), ascii);
    let inner = block.inner(boxed);
    frame.render_widget(Clear, boxed);
    frame.render_widget(block.style(theme.base()), boxed);
    let [list, said] =
        ratatui::layout::Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(inner);
    if servers.is_empty() {
        frame.render_widget(
            Paragraph::new("No local server. `flightdeck server start MODEL` starts one.")
                .style(theme.dim()),
            list,
        );
    } else {
        let names = servers.iter().map(|s| s.model.as_str());
        let mut columns = [
            Column::new("MODEL", Constraint::Min(8), 0),
            Column::new("STATE", Constraint::Length(10), 0),
            Column::new("SERVES", Constraint::Length(14), 0),
            Column::new("PORT", Constraint::Length(5), 0),
            Column::new("PID", Constraint::Length(7), 2),
            Column::new("UP", Constraint::Length(6), 1),
            Column::new("RESTARTS", Constraint::Length(8), 0),
            Column::new("LAST EXIT / PROBLEM", Constraint::Min(12), 0),
        ];
        let name_width =
            crate::ui::columns::identity_width(names, "MODEL", &columns[1..], list.width);
        columns[0] = Column::new("MODEL", Constraint::Length(name_width), 0);
        let rows: Vec<Vec<Cell>> = servers
            .iter()
            .map(|s| {
                let record = s.record.as_ref();
                let running = s.supervisor_alive || s.healthy;
                let (what, style) = match (s.healthy, running) {
                    (true, _) => (record.map_or("running", |r| r.state.as_str()), theme.ok()),
                    (false, true) => ("unhealthy", theme.danger()),
                    (false, false) => ("stopped", theme.danger()),
                };
                let up = record
                    .filter(|_| running)
                    .map(|r| format::age((state.now - r.started_at).num_seconds().max(0)));
                let why = s
                    .problem
                    .clone()
                    .or_else(|| record.and_then(|r| r.last_exit.clone()))
                    .unwrap_or_default();
                vec![
                    Cell::from(format::clip(&s.model, usize::from(name_width))),
                    Cell::from(Span::styled(what.to_string(), style)),
                    Cell::from(s.serving.unwrap_or(s.plan).describe()),
                    Cell::from(
                        record
                            .and_then(|r| r.port)
                            .map_or("-".into(), |p| p.to_string()),
                    ),
                    Cell::from(
                        record
                            .filter(|_| running)
                            .and_then(|r| r.server_pid)
                            .map_or("-".into(), |p| p.to_string()),
                    ),
                    Cell::from(up.unwrap_or_else(|| "-".into())),
                    Cell::from(record.map_or("-".into(), |r| r.restarts.to_string())),
                    Cell::from(Span::styled(why, theme.warn())),
                ]
            })
            .collect();
        let mut table = ratatui::widgets::TableState::default();
        table.select(Some(view.selected.min(servers.len() - 1)));
        frame.render_stateful_widget(
            fitted_table(rows, &columns, list.width, theme, ascii),
            list,
            &mut table,
        );
    }
    // What the keys will do, or are doing.
    let line = match (&view.confirming, &view.running) {
        (Some((command, model)), _) => {
            let consequence = match command {
                ServerCommand::Start => "it serves what the aliases say",
                ServerCommand::Stop => "its clients get no answer until it is started again",
                ServerCommand::Restart => {
                    "it is stopped and started again with what it serves, on its port; requests in between fail"
                }
            };
            let how = if state.config.typed_confirmation {
                format!("type {model} and Enter to confirm: {}_", view.typed)
            } else {
                "Enter confirms · Esc cancels".to_string()
            };
            Line::from(vec![
                Span::styled(
                    format!("{} {model}'s server? ", command.verb()),
                    theme.danger(),
                ),
                Span::raw(format!("{consequence}. {how}")),
            ])
        }
        (None, Some((command, model))) => Line::from(Span::styled(
            format!("{} {model}'s server…", command.verb()),
            theme.warn(),
        )),
        (None, None) => Line::from(Span::styled(
            "x stops the selected server, r restarts it (both confirmed), s starts one stopped here; all journaled",
            theme.dim(),
        )),
    };
    frame.render_widget(
        Paragraph::new(line).wrap(ratatui::widgets::Wrap { trim: true }),
        said,
    );
}
