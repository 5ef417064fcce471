//! The serving pane: what each version serves, its rates, errors and latency, with charts.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

use crate::app::state::HistoryPoint;
use crate::clients::metrics::ServingStats;
use crate::theme::Theme;
use crate::ui::format;

use super::{Ctx, Panel, dash, with_freshness};

pub(super) fn serving(frame: &mut Frame<'_>, panel: Panel<'_>) {
    let Panel { ctx, area, block } = panel;
    let (state, name, theme) = (ctx.state, ctx.name, ctx.theme);
    let metrics = state.sources.metrics.get(name).cloned().unwrap_or_default();
    let block = with_freshness(block, &metrics, state, theme);
    // Numbers from a read before the last (failed) one are shown dimmed.
    let stale = metrics.error.is_some();
    let mut inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(rollout) = crate::app::fleet::rollout_row(state, name) {
        // As many lines as the sentence needs at this width, up to three.
        let length = rollout.note.chars().count() + 90;
        let lines = length.div_ceil(usize::from(inner.width.max(1))).clamp(1, 3) as u16;
        let [top, rest] =
            Layout::vertical([Constraint::Length(lines), Constraint::Min(0)]).areas(inner);
        frame.render_widget(
            Paragraph::new(rollout_line(&rollout, state.now, theme))
                .wrap(ratatui::widgets::Wrap { trim: true }),
            top,
        );
        inner = rest;
    }
    if let Some(shadow) = state.shadow_of(name) {
        let [top, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        frame.render_widget(Paragraph::new(shadow_line(shadow, theme)), top);
        inner = rest;
    }
    let server = state.servers.get(name);
    // A server that crashed and came back: its numbers started over with the new process.
    if let Some(record) = server
        .and_then(|s| s.record.as_ref())
        .filter(|r| r.restarts > 0)
    {
        let [top, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        let times = if record.restarts == 1 {
            "once".to_string()
        } else {
            format!("{} times", record.restarts)
        };
        let last = record
            .last_exit
            .as_ref()
            .map(|e| format!(" (the last {e})"))
            .unwrap_or_default();
        frame.render_widget(
            Paragraph::new(format!(
                "server restarted {times} since {} UTC{last}: counts start over with each process",
                record.started_at.format("%H:%M:%S")
            ))
            .style(theme.warn()),
            top,
        );
        inner = rest;
    }
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
        let share = if *role == "canary" {
            plan.canary_percent
        } else {
            100 - plan.canary.map(|_| plan.canary_percent).unwrap_or(0)
        };
        version_column(frame, *column, &ctx, (role, *version, share), stale);
    }
}

/// "rollout v3 step 2 of 4 (25%) running: ... (judged 4s ago)": where the rollout is, what it
/// waits for or why it ended, and how fresh that is (never judged: is `watch` running?).
fn rollout_line(
    r: &crate::app::fleet::RolloutRow,
    now: chrono::DateTime<chrono::Utc>,
    theme: &Theme,
) -> Line<'static> {
    let judged = match (r.checked_at, r.watch_silent_seconds) {
        (_, Some(silent)) => format!(
            " WATCH SILENT {}: nothing judges this canary; is `flightdeck watch` running?",
            format::age(silent)
        ),
        (Some(at), None) => format!(
            " (judged {} ago)",
            format::age((now - at).num_seconds().max(0))
        ),
        (None, None) => " (not judged yet: is `flightdeck watch` running?)".into(),
    };
    let judged_style = if r.watch_silent_seconds.is_some() {
        theme.warn()
    } else {
        theme.dim()
    };
    let phase = r.phase.as_str();
    let style = match r.phase {
        crate::model::RolloutPhase::Aborted | crate::model::RolloutPhase::Superseded => {
            theme.warn()
        }
        _ => theme.accent(),
    };
    // Unguarded, the warning comes first and the note is only what was last known.
    match r.watch_silent_seconds {
        Some(_) => Line::from(vec![
            Span::styled(format!("rollout v{} {} {phase}:", r.version, r.step), style),
            Span::styled(judged, judged_style),
            Span::styled(format!(" Last judged: {}", r.note), theme.dim()),
        ]),
        None => Line::from(vec![
            Span::styled(
                format!("rollout v{} {} {phase}: ", r.version, r.step),
                style,
            ),
            Span::raw(r.note.clone()),
            Span::styled(judged, judged_style),
        ]),
    }
}

/// "shadow v2 beside v1: agrees on 87.3% of 300 rows; 0 errors, 0 dropped": the candidate
/// answering a copy of production's requests, as the server's last scrape said.
fn shadow_line(s: &crate::clients::metrics::ShadowNumbers, theme: &Theme) -> Line<'static> {
    let agreement = match s.agreement {
        Some(a) => format!("agrees on {} of {} rows", format::percent(a), s.rows),
        None => "no row compared yet".into(),
    };
    let trouble = s.errors > 0 || s.dropped > 0;
    Line::from(vec![
        Span::styled(
            format!("shadow v{} beside v{}: ", s.version, s.versus),
            theme.accent(),
        ),
        Span::raw(agreement),
        Span::styled(
            format!("; {} errors, {} dropped", s.errors, s.dropped),
            if trouble { theme.warn() } else { theme.dim() },
        ),
    ])
}

/// One version's column: its header, then req/s, p99 and errors, each over its chart.
/// `(role, version, share)` say what it is and the share of traffic it takes.
fn version_column(
    frame: &mut Frame<'_>,
    area: Rect,
    ctx: &Ctx<'_>,
    (role, version, share): (&str, u32, u8),
    stale: bool,
) {
    let (state, name, theme) = (ctx.state, ctx.name, ctx.theme);
    let key = (name.to_string(), version.to_string());
    let stats = state.serving.get(&key).copied();
    // Numbers from a read before the last (failed) one are shown dimmed.
    let value = |style: Style| if stale { theme.dim() } else { style };
    // The range asked for (`T`): every read for 5 minutes, coarser points for an hour or a day;
    // `None` where nothing was read (a gap, never a zero).
    let range = state.chart_range;
    let history: Vec<Option<HistoryPoint>> = match range {
        crate::app::chart_range::ChartRange::FiveMinutes => state
            .history
            .get(&key)
            .map(|h| h.iter().copied().map(Some).collect())
            .unwrap_or_default(),
        _ => state
            .coarse
            .get(&key)
            .map(|c| c.series(range))
            .unwrap_or_default(),
    };
    let [
        title,
        rate_label,
        rate,
        p99_label,
        p99,
        errors_label,
        errors,
        labelled,
        _,
    ] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(area);
    let since = state
        .serving_since
        .get(&key)
        .map(|t| format!("  charted from {}", t.format("%H:%M:%S")));
    let header = header_lines((role, version, share), since, stats, theme);
    frame.render_widget(Paragraph::new(header), title);
    let rate_series = |p: &HistoryPoint| p.requests_per_second;
    let width = rate.width;
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                format!(
                    "req/s {}",
                    dash(stats.map(|s| format::rate(s.requests_per_second)))
                ),
                value(Style::default()),
            ),
            scale(&history, width, rate_series, format::rate, range, theme),
        ])),
        rate_label,
    );
    chart(frame, rate, &history, rate_series, 1.0, theme.ok());
    let p99_series = |p: &HistoryPoint| p.p99;
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw("p99"),
            scale(&history, width, p99_series, format::latency, range, theme),
        ])),
        p99_label,
    );
    chart(frame, p99, &history, p99_series, 1e6, theme.warn());
    let err_style = if stats
        .and_then(|s| s.error_ratio)
        .is_some_and(|e| e >= state.config.alert_error_ratio)
    {
        value(theme.danger())
    } else {
        theme.dim()
    };
    // Every answer that was not a success, then the two kinds apart: a version refusing
    // its clients' requests (4xx) is not the same incident as one failing (5xx).
    let percent = |r: Option<f64>| dash(r.map(format::percent));
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                format!(
                    "errors {}  4xx {}  5xx {}",
                    percent(stats.and_then(|s| s.error_ratio)),
                    percent(stats.and_then(|s| s.client_error_ratio)),
                    percent(stats.and_then(|s| s.server_error_ratio))
                ),
                err_style,
            ),
            scale(
                &history,
                width,
                |p| p.error_ratio,
                format::percent,
                range,
                theme,
            ),
        ])),
        errors_label,
    );
    // Basis points, so a 0.5% error rate still shows as a bar.
    chart(
        frame,
        errors,
        &history,
        |p| p.error_ratio,
        1e4,
        theme.danger(),
    );
    let scrape = state.scrapes.get(name).map(|s| &s.snapshot);
    // Another runtime's series carry no answers: said, not left blank or "none yet".
    let line = match scrape.and_then(|s| s.foreign_runtime()) {
        Some(runtime) => format!("labels: not available (the {runtime} runtime exports none)"),
        None => labelled_line(scrape.and_then(|s| s.live.get(&key))),
    };
    frame.render_widget(
        Paragraph::new(Span::styled(line, value(Style::default()))),
        labelled,
    );
}

/// The version's answers against their labels, the most telling first (a half-width column
/// cuts the end): "labelled 600 (30.0%): acc 91.2% lag 42s auc 0.871 logloss 0.254", or that
/// no label arrived.
fn labelled_line(live: Option<&crate::clients::metrics::LiveNumbers>) -> String {
    let Some(live) = live.filter(|l| l.labelled > 0.0) else {
        return "labels: none yet (flightdeck feedback)".into();
    };
    let m = &live.metrics;
    let mut parts = vec![format!(
        "labelled {} ({}):",
        live.labelled,
        format::percent(live.coverage)
    )];
    if let Some(a) = m.get("accuracy") {
        parts.push(format!("acc {}", format::percent(*a)));
    }
    if let Some(lag) = live.lag_seconds {
        parts.push(format!("lag {}", format::age(lag.round() as i64)));
    }
    for (key, shown) in [
        ("auc", "auc"),
        ("log_loss", "logloss"),
        ("mae", "mae"),
        ("rmse", "rmse"),
    ] {
        if let Some(v) = m.get(key) {
            parts.push(format!("{shown} {v:.3}"));
        }
    }
    parts.join(" ")
}

/// The column's title: role, version, share of traffic, where its charts begin (a deploy or
/// promote shows as a new start), and its latency quantiles.
fn header_lines(
    (role, version, share): (&str, u32, u8),
    since: Option<String>,
    stats: Option<ServingStats>,
    theme: &Theme,
) -> Vec<Line<'static>> {
    vec![
        Line::from(vec![
            Span::styled(format!("{role} v{version}"), theme.accent()),
            Span::styled(format!("  {share}% of traffic"), theme.dim()),
            Span::styled(since.unwrap_or_default(), theme.dim()),
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
    ]
}

/// A sparkline of one series of the history, scaled to whole numbers, its newest points filling
/// the width; a point not measured is a gap (`-` in the chart's place), never a zero bar.
fn chart(
    frame: &mut Frame<'_>,
    area: Rect,
    history: &[Option<HistoryPoint>],
    series: impl Fn(&HistoryPoint) -> f32,
    scale: f64,
    style: Style,
) {
    let points: Vec<Option<u64>> = tail(history, area.width)
        .iter()
        .map(|p| {
            let v = series(p.as_ref()?);
            (!v.is_nan()).then(|| (f64::from(v) * scale).round() as u64)
        })
        .collect();
    frame.render_widget(
        Sparkline::default()
            .data(points)
            .absent_value_symbol("·")
            .absent_value_style(Style::default().add_modifier(ratatui::style::Modifier::DIM))
            .style(style),
        area,
    );
}

/// The chart's scale and span after its label: the highest value the bars reach (the top of
/// the chart) and the time the points on screen cover, e.g. `  ▲ 42.0 · 1h`.
fn scale<'a>(
    history: &[Option<HistoryPoint>],
    width: u16,
    series: impl Fn(&HistoryPoint) -> f32,
    show: impl Fn(f64) -> String,
    range: crate::app::chart_range::ChartRange,
    theme: &Theme,
) -> Span<'a> {
    let shown = tail(history, width);
    let top = shown
        .iter()
        .flatten()
        .map(&series)
        .filter(|v| !v.is_nan())
        .fold(None, |max: Option<f32>, v| {
            Some(max.map_or(v, |m| m.max(v)))
        });
    let span = match (range.bucket_seconds(), shown.len()) {
        // Every read, about a refresh apart: the chart spans its points.
        (None, 1) => "1 read".to_string(),
        (None, n) => format!("{n} reads"),
        (Some(seconds), n) => format!("{} in {seconds}s steps", format::age(seconds * n as i64)),
    };
    Span::styled(
        format!(
            "   max {} · {span} · T→{}",
            top.map_or("-".into(), |t| show(f64::from(t))),
            range.next().label()
        ),
        theme.dim(),
    )
}

/// The last `width` points of a series.
fn tail<T>(values: &[T], width: u16) -> &[T] {
    &values[values.len().saturating_sub(width as usize)..]
}
