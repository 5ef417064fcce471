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
    // Two cells between the versions' columns: their lines never run into each other.
    let columns = Layout::horizontal(vec![
        Constraint::Ratio(1, versions.len() as u32);
        versions.len()
    ])
    .spacing(2)
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
    // The range asked for (`T`), in steps fixed in time; `None` where nothing was read (a gap,
    // never a zero).
    let range = state.chart_range;
    let history: Vec<Option<HistoryPoint>> = state
        .coarse
        .get(&key)
        .map(|c| c.series(range))
        .unwrap_or_default();
    // The span and the next range are said once, above the first chart: the three share the
    // time axis. The charts take the room there is (at least 3 rows each, at most 10), their time axis
    // one row under the last.
    let fixed = 2 + 3 + 1 + 1;
    let chart_rows = (area.height.saturating_sub(fixed) / 3).clamp(3, 10);
    let [
        title,
        rate_label,
        rate,
        p99_label,
        p99,
        errors_label,
        errors,
        axis,
        labelled,
        _,
    ] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(chart_rows),
        Constraint::Length(1),
        Constraint::Length(chart_rows),
        Constraint::Length(1),
        Constraint::Length(chart_rows),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(area);
    // When the charts start is on their time axis.
    let header = header_lines((role, version, share), stats, theme);
    frame.render_widget(Paragraph::new(header), title);
    let rate_series = |p: &HistoryPoint| p.requests_per_second;
    let width = rate.width.saturating_sub(GUTTER);
    let rate_text = format!(
        "req/s {}",
        dash(stats.map(|s| format::rate(s.requests_per_second)))
    );
    let room = usize::from(rate_label.width).saturating_sub(rate_text.chars().count());
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(rate_text, value(Style::default())),
            scale(&history, width, range, theme, room),
        ])),
        rate_label,
    );
    let plot = Plot {
        history: &history,
        theme,
    };
    plot.draw(frame, rate, rate_series, format::rate, 1.0, theme.ok());
    let p99_series = |p: &HistoryPoint| p.p99;
    frame.render_widget(
        Paragraph::new(Line::from(vec![Span::raw("p99")])),
        p99_label,
    );
    plot.draw(frame, p99, p99_series, format::latency, 1e6, theme.warn());
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
        Paragraph::new(Line::from(vec![Span::styled(
            format!(
                "errors {}  4xx {}  5xx {}",
                percent(stats.and_then(|s| s.error_ratio)),
                percent(stats.and_then(|s| s.client_error_ratio)),
                percent(stats.and_then(|s| s.server_error_ratio))
            ),
            err_style,
        )])),
        errors_label,
    );
    // Basis points, so a 0.5% error rate still shows as a bar.
    plot.draw(
        frame,
        errors,
        |p| p.error_ratio,
        format::percent,
        1e4,
        theme.danger(),
    );
    frame.render_widget(
        Paragraph::new(time_axis(tail(&history, width), range, width)).style(theme.dim()),
        axis,
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

/// The column's title: role, version, share of traffic, and its latency quantiles.
fn header_lines(
    (role, version, share): (&str, u32, u8),
    stats: Option<ServingStats>,
    theme: &Theme,
) -> Vec<Line<'static>> {
    vec![
        Line::from(vec![
            Span::styled(format!("{role} v{version}"), theme.accent()),
            Span::styled(format!("  {share}% of traffic"), theme.dim()),
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

/// Cells left of each chart for its value axis: the top value, `0` at the bottom.
const GUTTER: u16 = 9;

/// One column's charts: the history they draw and the colours.
struct Plot<'a> {
    history: &'a [Option<HistoryPoint>],
    theme: &'a Theme,
}

impl Plot<'_> {
    /// A sparkline of one series, scaled to whole numbers, its newest points filling the width,
    /// with a value axis on its left: the highest value shown at the top (the bars' scale) and
    /// 0 at the bottom. A point not measured is a gap (`·`), never a zero bar.
    fn draw(
        &self,
        frame: &mut Frame<'_>,
        area: Rect,
        series: impl Fn(&HistoryPoint) -> f32,
        show: impl Fn(f64) -> String,
        scale: f64,
        style: Style,
    ) {
        let [gutter, plot] =
            Layout::horizontal([Constraint::Length(GUTTER), Constraint::Min(0)]).areas(area);
        let shown = tail(self.history, plot.width);
        let values: Vec<Option<f32>> = shown
            .iter()
            .map(|p| Some(series(p.as_ref()?)).filter(|v| !v.is_nan()))
            .collect();
        let top = values.iter().flatten().fold(None, |max: Option<f32>, v| {
            Some(max.map_or(*v, |m| m.max(*v)))
        });
        let label = |text: String, tick: &str| {
            Line::from(format!(
                "{text:>width$}{tick}",
                width = usize::from(GUTTER) - 2
            ))
        };
        let rows = usize::from(gutter.height);
        let axis: Vec<Line> = (0..rows)
            .map(|row| match (row, top) {
                (0, Some(top)) if rows > 1 => label(show(f64::from(top)), " ┤"),
                (r, Some(_)) if r + 1 == rows => label("0".into(), " ┤"),
                (0, None) => label("-".into(), " ┤"),
                _ => label(String::new(), " │"),
            })
            .collect();
        frame.render_widget(Paragraph::new(axis).style(self.theme.dim()), gutter);
        let points: Vec<Option<u64>> = values
            .iter()
            .map(|v| v.map(|v| (f64::from(v) * scale).round() as u64))
            .collect();
        frame.render_widget(
            Sparkline::default()
                .data(points)
                .absent_value_symbol("·")
                .absent_value_style(Style::default().add_modifier(ratatui::style::Modifier::DIM))
                .style(style),
            plot,
        );
    }
}

/// The time axis under the charts: when the leftmost point shown was read, the middle one
/// where there is room, and `now` under the newest (times in UTC, as the header's clock).
fn time_axis(
    shown: &[Option<HistoryPoint>],
    range: crate::app::chart_range::ChartRange,
    width: u16,
) -> Line<'static> {
    let width = usize::from(width);
    let step = range.bucket_seconds();
    // A gap has no time of its own: counted back from the first point that has one.
    let at = |index: usize| {
        shown
            .iter()
            .enumerate()
            .skip(index)
            .find_map(|(i, p)| p.map(|p| i64::from(p.at) - (i - index) as i64 * step))
    };
    let clock = |unix: i64| {
        chrono::DateTime::from_timestamp(unix, 0).map(|t| {
            if step >= 60 {
                t.format("%H:%M").to_string()
            } else {
                t.format("%H:%M:%S").to_string()
            }
        })
    };
    let mut cells = vec![' '; width];
    let mut put = |start: usize, text: &str| {
        for (i, c) in text.chars().enumerate() {
            if let Some(cell) = cells.get_mut(start + i) {
                *cell = c;
            }
        }
    };
    // The newest point is drawn at the column after the others: `now` ends there. Each label
    // is written only where it clears the others by a cell.
    let end = shown.len().min(width).max(3);
    put(end - 3, "now");
    if let Some(left) = at(0).and_then(clock)
        && left.len() + 1 + 3 <= end
    {
        put(0, &left);
        let middle = shown.len() / 2;
        if let Some(text) = at(middle).and_then(clock) {
            let start = middle.saturating_sub(text.len() / 2);
            if start > left.len() && start + text.len() < end - 3 {
                put(start, &text);
            }
        }
    }
    let text: String = cells.into_iter().collect();
    Line::from(format!(
        "{}{}",
        " ".repeat(usize::from(GUTTER)),
        text.trim_end()
    ))
}

/// The chart's span and the next range after its label, e.g. `   3m in 5s steps · T→1h`: the value
/// axis says the scale.
fn scale<'a>(
    history: &[Option<HistoryPoint>],
    width: u16,
    range: crate::app::chart_range::ChartRange,
    theme: &Theme,
    room: usize,
) -> Span<'a> {
    let shown = tail(history, width);
    let span = format!(
        "{} in {} steps",
        format::age(range.bucket_seconds() * shown.len() as i64),
        range.step_label()
    );
    // Whole parts only, as many as fit: a cut `T→1` read as a range.
    let text = [
        format!("   {span} · T→{}", range.next().label()),
        format!("   {span}"),
        String::new(),
    ]
    .into_iter()
    .find(|t| t.chars().count() <= room)
    .unwrap_or_default();
    Span::styled(text, theme.dim())
}

/// The last `width` points of a series.
fn tail<T>(values: &[T], width: u16) -> &[T] {
    &values[values.len().saturating_sub(width as usize)..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::chart_range::ChartRange;

    fn read_at(at: i64) -> Option<HistoryPoint> {
        Some(HistoryPoint {
            requests_per_second: 1.0,
            error_ratio: 0.0,
            p99: 0.001,
            at: at as u32,
        })
    }

    const EIGHT: i64 = 8 * 3600;

    #[test]
    fn the_time_axis_says_when_the_first_and_middle_points_were_read_and_ends_at_now() {
        let shown: Vec<_> = (0..60).map(|i| read_at(EIGHT + i * 5)).collect();
        let line = time_axis(&shown, ChartRange::FiveMinutes, 70).to_string();
        let axis = &line[usize::from(GUTTER)..];
        assert!(axis.starts_with("08:00:00"), "{line:?}");
        assert_eq!(axis.find("08:02:30"), Some(30 - 4), "{line:?}");
        // `now` under the newest point (column 59), not at the far edge.
        assert_eq!(axis.find("now"), Some(57), "{line:?}");
        // Too few points for three labels apart: the middle one is left out, never overlapped.
        for points in 8..20 {
            let line = time_axis(&shown[..points], ChartRange::FiveMinutes, 70).to_string();
            let words: Vec<&str> = line.split_whitespace().collect();
            assert!(
                words
                    .iter()
                    .all(|w| *w == "now" || (w.len() == 8 && w.matches(':').count() == 2)),
                "{points} points: {line:?}"
            );
        }
    }

    #[test]
    fn a_gap_at_the_start_of_a_coarse_range_is_timed_from_the_first_point_after_it() {
        let mut shown = vec![None, None];
        shown.extend((2..40).map(|i| read_at(EIGHT + i * 30)));
        let line = time_axis(&shown, ChartRange::Hour, 40).to_string();
        assert!(
            line[usize::from(GUTTER)..].starts_with("08:00:00 "),
            "{line:?}"
        );
        // Too few points for a label and `now` apart: `now` alone.
        let line = time_axis(&shown[..3], ChartRange::Hour, 40).to_string();
        assert_eq!(line.trim(), "now");
    }
}
