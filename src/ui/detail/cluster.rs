//! The cluster pane: the local processes behind the model, or its InferenceService on KServe.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Panel, filtered_lines, placeholder, with_freshness};

/// The local processes behind the model: supervisor, server, port, uptime, restarts, last exit.
pub(super) fn cluster(frame: &mut Frame<'_>, panel: Panel<'_>) {
    let Panel { ctx, area, block } = panel;
    let (state, name, theme) = (ctx.state, ctx.name, ctx.theme);
    let block = with_freshness(block, &state.sources.servers_status, state, theme);
    if let Some(server) = state.servers.get(name)
        && let Some(kube) = &server.kube
    {
        super::kube::draw(frame, area, server, kube, state, theme, block);
        return;
    }
    let Some(server) = state.servers.get(name) else {
        let text = match &state.sources.cluster_problem {
            Some(problem) => format!("Nothing known about {name}'s serving: {problem}"),
            None => format!(
                "No server for {name}. Deploy a version (or, in the local environment, `flightdeck server start {name}`)."
            ),
        };
        placeholder(frame, area, block, &text, theme);
        return;
    };
    let dash = || "-".to_string();
    let record = server.record.as_ref();
    // A server that is not running has no uptime, whatever its last record says.
    let uptime = record
        .filter(|_| server.supervisor_alive || server.healthy)
        .map(|r| (state.now - r.started_at).num_seconds().max(0))
        .map(|s| format!("{}m{:02}s", s / 60, s % 60));
    let health = if server.healthy {
        Span::styled("healthy", theme.ok())
    } else {
        Span::styled(
            format!("down: {}", server.problem.clone().unwrap_or_default()),
            theme.danger(),
        )
    };
    let row = |label: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{label:<14}"), theme.dim()),
            Span::raw(value),
        ])
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{:<14}", "health"), theme.dim()),
            health,
        ]),
        row(
            "serving",
            server.serving.map(|p| p.describe()).unwrap_or_else(dash),
        ),
        row("planned", server.plan.describe()),
        row("endpoint", server.endpoint().unwrap_or_else(dash)),
        row(
            "server pid",
            record
                .and_then(|r| r.server_pid)
                .map(|p| p.to_string())
                .unwrap_or_else(dash),
        ),
        row(
            "supervisor",
            record
                .map(|r| {
                    format!(
                        "pid {}{}",
                        r.supervisor_pid,
                        if server.supervisor_alive {
                            ""
                        } else {
                            " (gone)"
                        }
                    )
                })
                .unwrap_or_else(dash),
        ),
        row(
            "state",
            record.map(|r| r.state.clone()).unwrap_or_else(dash),
        ),
        row("uptime", uptime.unwrap_or_else(dash)),
        row(
            "restarts",
            record.map(|r| r.restarts.to_string()).unwrap_or_else(dash),
        ),
    ];
    if let Some(exit) = record.and_then(|r| r.last_exit.clone()) {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<14}", "last exit"), theme.dim()),
            Span::styled(exit, theme.warn()),
        ]));
    }
    if server.serving.is_some_and(|s| s != server.plan) {
        lines.push(Line::from(Span::styled(
            "the server does not serve what was planned: an operation may be half done",
            theme.danger(),
        )));
    }
    frame.render_widget(
        Paragraph::new(filtered_lines(lines, &state.detail.filter)).block(block),
        area,
    );
}
