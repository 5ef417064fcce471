//! The model view: tabs for its panes (serving, drift, versions) and the pane in front.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Sparkline, TableState};

use super::columns::{Column, fitted_table};
use super::format;
use crate::app::State;
use crate::app::state::{Pane, SourceStatus};
use crate::model::Verdict;
use crate::theme::Theme;

/// What every pane of the model view draws with.
struct Ctx<'a> {
    state: &'a State,
    name: &'a str,
    theme: &'a Theme,
    ascii: bool,
}

pub fn draw(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &State,
    theme: &Theme,
    ascii: bool,
    table: &mut TableState,
) {
    let crate::app::state::View::Model { name, pane } = &state.view else {
        return;
    };
    let (name, pane) = (name.as_str(), *pane);
    let ctx = Ctx {
        state,
        name,
        theme,
        ascii,
    };
    let [tabs, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
    let mut spans = vec![
        Span::styled(format!(" {name} "), theme.accent()),
        Span::raw(" "),
    ];
    for p in Pane::ALL {
        let style = if p == pane {
            theme.selection()
        } else {
            theme.dim()
        };
        spans.push(Span::styled(format!(" {} ", p.label()), style));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(" tab/esc", theme.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), tabs);
    // The pane's filter, when one is set, is in its title.
    let title = if state.pane_filter.is_empty() {
        pane.label().to_string()
    } else {
        format!("{}  filter: {}", pane.label(), state.pane_filter)
    };
    let block = block(&title, theme, ascii);
    match pane {
        Pane::Serving => serving(frame, body, &ctx, block),
        Pane::Drift => drift(frame, body, &ctx, block, table),
        Pane::Versions => versions(frame, body, &ctx, block, table),
        Pane::Cluster => cluster(frame, body, &ctx, block),
        Pane::Journal => journal(frame, body, &ctx, block, table),
    }
}

fn block<'a>(title: &str, theme: &Theme, ascii: bool) -> Block<'a> {
    super::bordered(format!(" {title} "), theme.border(true), ascii)
}

/// "age 3s" or "stale 12s: error", for a pane's title line.
fn freshness(status: &SourceStatus, state: &State) -> (String, bool) {
    match (&status.error, status.age_seconds(state.now)) {
        // Answered, with nothing for this model yet: no data, not a failure.
        (Some(e), None) if crate::sources::metrics::is_no_series(e) => {
            ("no data yet".into(), false)
        }
        (Some(e), Some(age)) => (format!("stale {age}s: {}", format::clip(e, 50)), true),
        (Some(e), None) => (format!("failing: {}", format::clip(e, 50)), true),
        (None, Some(_)) => match status.lag_seconds(state.now, state.refresh_seconds) {
            Some(lag) => (format!("{lag}s ago"), false),
            None => ("live".into(), false),
        },
        (None, None) => ("loading…".into(), false),
    }
}

/// The pane's border shows when its source last answered, or its last error.
fn with_freshness<'a>(
    block: Block<'a>,
    status: &SourceStatus,
    state: &State,
    theme: &Theme,
) -> Block<'a> {
    let (age, failing) = freshness(status, state);
    block.title_bottom(Line::from(Span::styled(
        format!(" {age} "),
        if failing { theme.danger() } else { theme.dim() },
    )))
}

fn serving(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, block: Block<'_>) {
    let (state, name, theme) = (ctx.state, ctx.name, ctx.theme);
    let metrics = state.metrics.get(name).cloned().unwrap_or_default();
    let block = with_freshness(block, &metrics, state, theme);
    // Numbers from a read before the last (failed) one are shown dimmed.
    let stale = metrics.error.is_some();
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let server = state.servers.get(name);
    let Some(plan) = server.and_then(|s| s.serving) else {
        let why = server
            .and_then(|s| s.problem.clone())
            .unwrap_or_else(|| "no local server serves this model".into());
        frame.render_widget(
            Paragraph::new(format!(
                "Not serving: {why}. Start it with `flightdeck server start {name}`."
            ))
            .style(theme.dim()),
            inner,
        );
        return;
    };
    let versions: Vec<(&str, u32)> = std::iter::once(("stable", plan.stable))
        .chain(plan.canary.map(|c| ("canary", c)))
        .collect();
    let columns = Layout::horizontal(vec![
        Constraint::Ratio(1, versions.len() as u32);
        versions.len()
    ])
    .split(inner);
    for ((role, version), column) in versions.iter().zip(columns.iter()) {
        let key = (name.to_string(), version.to_string());
        let stats = state.serving.get(&key).copied();
        let value = |style: Style| if stale { theme.dim() } else { style };
        let share = if *role == "canary" {
            plan.canary_percent
        } else {
            100 - plan.canary.map(|_| plan.canary_percent).unwrap_or(0)
        };
        let history: Vec<_> = state
            .history
            .get(&key)
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default();
        let [
            title,
            rate_label,
            rate,
            p99_label,
            p99,
            errors_label,
            errors,
            _,
        ] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(1),
            Constraint::Length(3),
            Constraint::Length(1),
            Constraint::Length(3),
            Constraint::Length(1),
            Constraint::Length(3),
            Constraint::Min(0),
        ])
        .areas(*column);
        let header = vec![
            Line::from(vec![
                Span::styled(format!("{role} v{version}"), theme.accent()),
                Span::styled(format!("  {share}% of traffic"), theme.dim()),
                // Where this version's charts begin: a deploy or promote shows as a new start.
                Span::styled(
                    state
                        .serving_since
                        .get(&key)
                        .map(|t| format!("  since {}", t.format("%H:%M:%S")))
                        .unwrap_or_default(),
                    theme.dim(),
                ),
            ]),
            Line::from(Span::styled(
                format!(
                    "p50 {}  p95 {}  p99 {}",
                    dash(stats.and_then(|s| s.p50).map(format::latency)),
                    dash(stats.and_then(|s| s.p95).map(format::latency)),
                    dash(stats.and_then(|s| s.p99).map(format::latency))
                ),
                theme.dim(),
            )),
        ];
        frame.render_widget(Paragraph::new(header), title);
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!(
                    "req/s {}",
                    dash(stats.map(|s| format::rate(s.requests_per_second)))
                ),
                value(Style::default()),
            )),
            rate_label,
        );
        let rates: Vec<u64> = history
            .iter()
            .map(|s| s.requests_per_second.round() as u64)
            .collect();
        frame.render_widget(
            Sparkline::default()
                .data(tail(&rates, rate.width))
                .style(theme.ok()),
            rate,
        );
        frame.render_widget(Paragraph::new("p99 (µs)"), p99_label);
        let latencies: Vec<u64> = history
            .iter()
            .map(|s| {
                if s.p99.is_nan() {
                    0
                } else {
                    (f64::from(s.p99) * 1e6).round() as u64
                }
            })
            .collect();
        frame.render_widget(
            Sparkline::default()
                .data(tail(&latencies, p99.width))
                .style(theme.warn()),
            p99,
        );
        let err_style = if stats
            .and_then(|s| s.error_ratio)
            .is_some_and(|e| e >= state.alert_error_ratio)
        {
            value(theme.danger())
        } else {
            theme.dim()
        };
        // Every answer that was not a success, then the two kinds apart: a version refusing
        // its clients' requests (4xx) is not the same incident as one failing (5xx).
        let percent = |r: Option<f64>| dash(r.map(format::percent));
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!(
                    "errors {}  4xx {}  5xx {}",
                    percent(stats.and_then(|s| s.error_ratio)),
                    percent(stats.and_then(|s| s.client_error_ratio)),
                    percent(stats.and_then(|s| s.server_error_ratio))
                ),
                err_style,
            )),
            errors_label,
        );
        // Basis points, so a 0.5% error rate still shows as a bar.
        let error_bars: Vec<u64> = history
            .iter()
            .map(|s| {
                if s.error_ratio.is_nan() {
                    0
                } else {
                    (f64::from(s.error_ratio) * 1e4).round() as u64
                }
            })
            .collect();
        frame.render_widget(
            Sparkline::default()
                .data(tail(&error_bars, errors.width))
                .style(theme.danger()),
            errors,
        );
    }
}

/// A value, or "-" when it was not measured.
fn dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".into())
}

/// The last `width` points of a series.
fn tail(values: &[u64], width: u16) -> &[u64] {
    &values[values.len().saturating_sub(width as usize)..]
}

fn drift(
    frame: &mut Frame<'_>,
    area: Rect,
    ctx: &Ctx<'_>,
    block: Block<'_>,
    table: &mut TableState,
) {
    let (state, name, theme, ascii) = (ctx.state, ctx.name, ctx.theme, ctx.ascii);
    let block = with_freshness(block, &state.drift_status, state, theme);
    let reports = state.drift.get(name);
    let Some(report) = reports.and_then(|r| r.first()) else {
        let text = if state.servers.get(name).is_some_and(|s| s.healthy) {
            "No drift data: the served versions have no baseline profile (register with --reference)."
        } else {
            "No drift data: the model is not served here."
        };
        placeholder(frame, area, block, text, theme);
        return;
    };
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [summary, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(inner);
    let verdict_style = verdict_style_of(report.verdict, theme);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(format!("v{} ", report.version), theme.accent()),
            Span::styled(report.verdict.as_str().to_string(), verdict_style),
            Span::styled(
                format!(
                    "  {} rows over {:.0}s  {:.0}% of features drifted",
                    report.window_samples,
                    report.window_seconds,
                    report.drift_share * 100.0
                ),
                theme.dim(),
            ),
        ])),
        summary,
    );
    // Side by side when there is room; on narrow terminals the histogram goes under the
    // table, one line per bin, so neither is cut.
    let narrow = body.width < 100;
    let [list, histogram] = if narrow {
        let list_height = (report.features.len() as u16 + 1)
            .min(body.height / 2)
            .max(3);
        Layout::vertical([Constraint::Length(list_height), Constraint::Min(2)]).areas(body)
    } else {
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(body)
    };
    let features = crate::app::panes::features(state, name);
    let rows: Vec<Vec<Cell>> = features
        .iter()
        .map(|f| {
            let trend = state
                .drift_trend
                .get(&(name.to_string(), report.version, f.name.clone()));
            vec![
                Cell::from(f.name.clone()),
                Cell::from(f.method.clone()),
                // No live rows: nothing measured (see `flightdeck drift`).
                Cell::from(if f.n > 0 {
                    format!("{:.3}", f.statistic)
                } else {
                    "-".into()
                }),
                Cell::from(Span::styled(
                    trend
                        .map(|t| spark(t, f.threshold, TREND_WIDTH, ascii))
                        .unwrap_or_default(),
                    verdict_style_of(f.verdict, theme),
                )),
                Cell::from(format!("{}", f.threshold)),
                Cell::from(
                    f.ks_p_value
                        .or(f.chi2_p_value)
                        .filter(|_| f.n > 0)
                        .map(|p| format!("{p:.1e}"))
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(f.n.to_string()),
                Cell::from(Span::styled(
                    f.verdict.as_str().to_string(),
                    verdict_style_of(f.verdict, theme),
                )),
            ]
        })
        .collect();
    let columns = [
        Column::new("FEATURE", Constraint::Min(8), 0),
        Column::new("STAT", Constraint::Length(4), 0),
        Column::new("VALUE", Constraint::Length(7), 0),
        Column::new("TREND", Constraint::Length(TREND_WIDTH as u16), 1),
        Column::new("LIMIT", Constraint::Length(5), 0),
        Column::new("P-VALUE", Constraint::Length(8), 2),
        Column::new("N", Constraint::Length(6), 0),
        Column::new("VERDICT", Constraint::Length(8), 0),
    ];
    let t = fitted_table(rows, &columns, list.width, theme, ascii);
    table.select(Some(
        state.detail_selected.min(features.len().saturating_sub(1)),
    ));
    frame.render_stateful_widget(t, list, table);
    if let Some(feature) = features.get(state.detail_selected) {
        let mut lines = vec![Line::from(Span::styled(
            format!("{}: reference vs live", feature.name),
            theme.accent(),
        ))];
        let label_width = feature
            .histogram
            .bins
            .iter()
            .map(|b| b.chars().count())
            .max()
            .unwrap_or(0)
            .min(16);
        // Narrow: "label ref ███ 50% live ███ 10%" on one line, so two bars share the width.
        let bar_width = if narrow {
            histogram
                .width
                .saturating_sub(label_width as u16 + 22)
                .max(4) as f64
                / 4.0
        } else {
            histogram.width.saturating_sub(14).max(4) as f64 / 2.0
        };
        let bar = |share: f64| {
            let n = (share * bar_width * 2.0).round() as usize;
            if ascii {
                "#".repeat(n)
            } else {
                "█".repeat(n)
            }
        };
        if feature.histogram.bins.is_empty() {
            // Drift read through Prometheus carries the statistics, not the bins.
            lines.push(Line::from(Span::styled(
                "no histogram: the statistics came through Prometheus, which holds no bins",
                theme.dim(),
            )));
        }
        for (i, label) in feature.histogram.bins.iter().enumerate() {
            let reference = feature.histogram.reference.get(i).copied().unwrap_or(0.0);
            let live = feature.histogram.live.get(i).copied().unwrap_or(0.0);
            if narrow {
                let (r, l) = (bar(reference), bar(live));
                let bars = (bar_width * 2.0) as usize;
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("{:<label_width$} ", format::clip(label, label_width)),
                        theme.dim(),
                    ),
                    Span::raw("ref "),
                    Span::styled(format!("{r:<bars$}"), theme.dim()),
                    Span::raw(format!(" {:>3.0}%  live ", reference * 100.0)),
                    Span::styled(
                        format!("{l:<bars$}"),
                        verdict_style_of(feature.verdict, theme),
                    ),
                    Span::raw(format!(" {:>3.0}%", live * 100.0)),
                ]));
                continue;
            }
            lines.push(Line::from(Span::styled(
                format::clip(label, histogram.width as usize),
                theme.dim(),
            )));
            lines.push(Line::from(vec![
                Span::raw(" ref  "),
                Span::styled(bar(reference), theme.dim()),
                Span::raw(format!(" {:.0}%", reference * 100.0)),
            ]));
            lines.push(Line::from(vec![
                Span::raw(" live "),
                Span::styled(bar(live), verdict_style_of(feature.verdict, theme)),
                Span::raw(format!(" {:.0}%", live * 100.0)),
            ]));
        }
        frame.render_widget(Paragraph::new(lines), histogram);
    }
}

/// Points of a feature's drift trend shown in the drift table.
const TREND_WIDTH: usize = 12;

/// The last `width` values as a one-line bar chart scaled to `limit` (a full bar is the
/// threshold or above), so a feature creeping towards its limit is seen before it crosses.
fn spark(
    values: &std::collections::VecDeque<f32>,
    limit: f64,
    width: usize,
    ascii: bool,
) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    const ASCII: [char; 8] = ['_', '.', ',', ':', '-', '=', '+', '#'];
    let glyphs = if ascii { ASCII } else { BLOCKS };
    let limit = limit.max(f64::EPSILON);
    values
        .iter()
        .skip(values.len().saturating_sub(width))
        .map(|v| {
            let level = (f64::from(*v) / limit * 7.0).round().clamp(0.0, 7.0) as usize;
            glyphs[level]
        })
        .collect()
}

/// A pane with nothing to show says why, dimmed, inside its border.
fn placeholder(frame: &mut Frame<'_>, area: Rect, block: Block<'_>, text: &str, theme: &Theme) {
    frame.render_widget(Paragraph::new(text).style(theme.dim()).block(block), area);
}

fn verdict_style_of(v: Verdict, theme: &Theme) -> Style {
    match v {
        Verdict::Drift => theme.danger(),
        Verdict::Warn => theme.warn(),
        Verdict::Ok => theme.ok(),
        Verdict::InsufficientData => theme.dim(),
    }
}

fn versions(
    frame: &mut Frame<'_>,
    area: Rect,
    ctx: &Ctx<'_>,
    block: Block<'_>,
    table: &mut TableState,
) {
    let (state, name, theme, ascii) = (ctx.state, ctx.name, ctx.theme, ctx.ascii);
    let block = with_freshness(block, &state.versions_status, state, theme);
    if state.versions.get(name).is_none_or(Vec::is_empty) {
        placeholder(frame, area, block, "Loading versions…", theme);
        return;
    }
    let versions = crate::app::panes::versions(state, name);
    if versions.is_empty() {
        placeholder(
            frame,
            area,
            block,
            "No version matches the filter (Esc clears it).",
            theme,
        );
        return;
    }
    let rows: Vec<Vec<Cell>> = versions
        .iter()
        .map(|v| {
            let metrics: Vec<String> = v.metrics.iter().map(|(k, x)| format!("{k}={x}")).collect();
            vec![
                Cell::from(v.label()),
                Cell::from(Span::styled(v.aliases.join(","), theme.accent())),
                match v.smoke_passed {
                    Some(true) => Cell::from(Span::styled("passed", theme.ok())),
                    Some(false) => Cell::from(Span::styled("FAILED", theme.danger())),
                    None => Cell::from(Span::styled("-", theme.dim())),
                },
                Cell::from(v.lineage.created_at.format("%Y-%m-%d %H:%M").to_string()),
                Cell::from(v.lineage.author.clone()),
                Cell::from(v.sha256.chars().take(12).collect::<String>()),
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
                Cell::from(metrics.join(" ")),
            ]
        })
        .collect();
    // At 80 columns: version, aliases, smoke, date, pipeline and metrics; the data hash, SHA,
    // commit and author come back on wider terminals (and are always in `flightdeck versions`).
    let columns = [
        Column::new("VER", Constraint::Length(5), 0),
        Column::new("ALIASES", Constraint::Length(18), 0),
        Column::new("SMOKE", Constraint::Length(7), 0),
        Column::new("CREATED", Constraint::Length(16), 1),
        Column::new("AUTHOR", Constraint::Length(10), 3),
        Column::new("SHA256", Constraint::Length(12), 5),
        Column::new("PIPELINE", Constraint::Length(8), 2),
        Column::new("COMMIT", Constraint::Length(8), 4),
        Column::new("DATA", Constraint::Length(12), 6),
        Column::new("METRICS", Constraint::Min(8), 0),
    ];
    let room = area.width.saturating_sub(2);
    let t = fitted_table(rows, &columns, room, theme, ascii).block(block);
    table.select(Some(state.detail_selected.min(versions.len() - 1)));
    frame.render_stateful_widget(t, area, table);
}

/// The local processes behind the model: supervisor, server, port, uptime, restarts, last exit.
fn cluster(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, block: Block<'_>) {
    let (state, name, theme) = (ctx.state, ctx.name, ctx.theme);
    let block = with_freshness(block, &state.servers_status, state, theme);
    if let Some(server) = state.servers.get(name)
        && let Some(kube) = &server.kube
    {
        super::kube::draw(frame, area, server, kube, state, theme, block);
        return;
    }
    let Some(server) = state.servers.get(name) else {
        let text = match &state.cluster_problem {
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
        Paragraph::new(filtered_lines(lines, &state.pane_filter)).block(block),
        area,
    );
}

/// The lines of a pane that match its `/` filter (case-insensitive); all of them without one.
pub(super) fn filtered_lines<'a>(lines: Vec<Line<'a>>, filter: &str) -> Vec<Line<'a>> {
    if filter.is_empty() {
        return lines;
    }
    let needle = filter.to_lowercase();
    lines
        .into_iter()
        .filter(|line| {
            let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
            text.to_lowercase().contains(&needle)
        })
        .collect()
}

/// Recent operations and changes on this model, newest first.
fn journal(
    frame: &mut Frame<'_>,
    area: Rect,
    ctx: &Ctx<'_>,
    block: Block<'_>,
    table: &mut TableState,
) {
    let (state, name, theme, ascii) = (ctx.state, ctx.name, ctx.theme, ctx.ascii);
    let block = with_freshness(block, &state.journal_status, state, theme);
    if state.journal.get(name).is_none_or(Vec::is_empty) {
        placeholder(frame, area, block, "No journal entries yet.", theme);
        return;
    }
    let rows = crate::app::panes::journal(state, name);
    if rows.is_empty() {
        placeholder(
            frame,
            area,
            block,
            "No journal row matches the filter (Esc clears it).",
            theme,
        );
        return;
    }
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
                Cell::from(e.from.clone().unwrap_or_else(|| "-".into())),
                Cell::from(e.to.clone().unwrap_or_else(|| "-".into())),
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
    let t = fitted_table(body, &columns, room, theme, ascii).block(block);
    table.select(Some(state.detail_selected.min(rows.len() - 1)));
    frame.render_stateful_widget(t, area, table);
}
