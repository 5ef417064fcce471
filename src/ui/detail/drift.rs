//! The drift pane: each feature's verdict, statistics, histogram against the baseline and trend.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph};

use crate::model::FeatureDrift;
use crate::theme::Theme;
use crate::ui::columns::{Column, fitted_table};
use crate::ui::format;

use super::{Ctx, Panel, placeholder, verdict_style_of, with_freshness};
use crate::ui::DrawnList;

pub(super) fn drift(frame: &mut Frame<'_>, panel: Panel<'_>, drawn: &mut DrawnList) {
    let Panel { ctx, area, block } = panel;
    let (state, name, theme, ascii) = (ctx.state, ctx.name, ctx.theme, ctx.ascii);
    let block = with_freshness(block, &state.sources.drift_status, state, theme);
    let reports = state.detail.drift.get(name);
    let Some(report) = reports.and_then(|r| r.first()) else {
        let foreign = state
            .scrapes
            .get(name)
            .and_then(|s| s.snapshot.foreign_runtime());
        let text = match foreign {
            Some(runtime) => format!(
                "Drift not available: the {runtime} runtime exports no drift (flightdeck serve does)."
            ),
            None if state.servers.get(name).is_some_and(|s| s.healthy) => {
                "No drift data: the served versions have no baseline profile (register with --reference).".into()
            }
            None => "No drift data: the model is not served here.".into(),
        };
        placeholder(frame, area, block, &text, theme);
        return;
    };
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // While a canary serves beside production: its answers against production's, a line.
    let compared = reports
        .into_iter()
        .flatten()
        .find_map(|r| Some((r.version, r.answers_versus.as_ref()?)));
    let [summary, versus, body] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(compared.is_some())),
        Constraint::Min(3),
    ])
    .areas(inner);
    if let Some((version, compared)) = compared {
        frame.render_widget(
            Paragraph::new(Span::styled(compared.describe(version), theme.dim())),
            versus,
        );
    }
    let verdict_style = verdict_style_of(report.verdict, theme);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(format!("v{} ", report.version), theme.accent()),
            Span::styled(report.verdict.as_str().to_string(), verdict_style),
            Span::styled(
                format!(
                    "  {} rows over {:.0}s  {:.0}% of features drifted{}",
                    report.window_samples,
                    report.window_seconds,
                    report.drift_share * 100.0,
                    if report.predictions.is_empty() {
                        String::new()
                    } else {
                        format!("  {} its answers", answer_mark(ascii))
                    }
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
        let list_height = ((report.features.len() + report.predictions.len()) as u16 + 1)
            .min(body.height / 2)
            .max(3);
        Layout::vertical([Constraint::Length(list_height), Constraint::Min(2)]).areas(body)
    } else {
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(body)
    };
    let features = crate::app::panes::features(state, name);
    let rows = feature_rows(&ctx, report.version, &features);
    let mut columns = [
        Column::new("FEATURE", Constraint::Min(8), 0),
        Column::new("STAT", Constraint::Length(4), 0),
        Column::new("VALUE", Constraint::Length(7), 0),
        Column::new("TREND", Constraint::Length(TREND_WIDTH as u16), 1),
        Column::new("LIMIT", Constraint::Length(5), 0),
        Column::new("P-VALUE", Constraint::Length(8), 2),
        Column::new("N", Constraint::Length(6), 0),
        Column::new("VERDICT", Constraint::Length(8), 0),
    ];
    // Feature names whole: the trend and the p-value go first.
    let name_width = crate::ui::columns::identity_width(
        // Answers' names carry their mark and a space.
        features
            .iter()
            .map(|f| {
                if report.predictions.iter().any(|p| p.name == f.name) {
                    format!("{} {}", answer_mark(ascii), f.name)
                } else {
                    f.name.clone()
                }
            })
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
        "FEATURE",
        &columns[1..],
        list.width,
    );
    columns[0] = Column::new("FEATURE", Constraint::Length(name_width), 0);
    let t = fitted_table(rows, &columns, list.width, theme, ascii);
    drawn.table.select(Some(
        state.detail.selected.min(features.len().saturating_sub(1)),
    ));
    frame.render_stateful_widget(t, list, &mut drawn.table);
    drawn.drew_rows(list, false);
    if let Some(feature) = features.get(state.detail.selected) {
        let lines = histogram_lines(feature, histogram.width, narrow, theme, ascii);
        frame.render_widget(Paragraph::new(lines), histogram);
    }
}

/// Marks a row of the version's answers (prediction drift) among its inputs.
fn answer_mark(ascii: bool) -> &'static str {
    // Not `>`: that is the selection marker under --ascii.
    if ascii { "=" } else { "→" }
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

/// The table's rows: each feature's statistic, trend, limit, p-value, rows and verdict.
fn feature_rows(
    ctx: &Ctx<'_>,
    version: u32,
    features: &[&FeatureDrift],
) -> Vec<Vec<Cell<'static>>> {
    let (state, name, theme, ascii) = (ctx.state, ctx.name, ctx.theme, ctx.ascii);
    let predictions = state
        .detail
        .drift
        .get(name)
        .and_then(|r| r.first())
        .map(|r| r.predictions.as_slice())
        .unwrap_or_default();
    features
        .iter()
        .map(|f| {
            let trend = state
                .detail
                .drift_trend
                .get(&(name.to_string(), version, f.name.clone()));
            // The version's answers are marked (`→ P(1)`, explained in the summary line): a
            // suffix would be the first thing cut at 80 columns.
            let answer = predictions.iter().any(|p| std::ptr::eq(p, *f));
            vec![
                Cell::from(if answer {
                    format!("{} {}", answer_mark(ascii), f.name)
                } else {
                    f.name.clone()
                }),
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
                        .or(f.js_p_value)
                        .or(f.chi2_p_value)
                        .filter(|_| f.n > 0)
                        .map(crate::model::drift::p_value_text)
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(f.n.to_string()),
                Cell::from(Span::styled(
                    f.verdict.as_str().to_string(),
                    verdict_style_of(f.verdict, theme),
                )),
            ]
        })
        .collect()
}

/// The selected feature's histogram, reference against live: one line per bin when `narrow`,
/// else a label line and two bar lines per bin.
fn histogram_lines(
    feature: &FeatureDrift,
    width: u16,
    narrow: bool,
    theme: &Theme,
    ascii: bool,
) -> Vec<Line<'static>> {
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
        width.saturating_sub(label_width as u16 + 22).max(4) as f64 / 4.0
    } else {
        width.saturating_sub(14).max(4) as f64 / 2.0
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
            format::clip(label, width as usize),
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
    lines
}
