//! The model-detail screen: tabs for its panes, each pane in its own file, and what they share
//! (the pane's border with its source's freshness, the `/` filter, placeholders).

mod cluster;
mod drift;
mod journal;
mod kube;
mod requests;
mod serving;
mod versions;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::app::State;
use crate::app::state::{Pane, SourceStatus};
use crate::model::Verdict;
use crate::theme::Theme;
use crate::ui::format;

use crate::ui::DrawnList;
use cluster::cluster;
use drift::drift;
use journal::journal;
use requests::requests;
use serving::serving;
use versions::versions;

/// What every pane of the model view draws with.
#[derive(Clone, Copy)]
pub(super) struct Ctx<'a> {
    pub state: &'a State,
    pub name: &'a str,
    pub theme: &'a Theme,
    pub ascii: bool,
}

/// One pane's place on screen: what it draws with, where, and its border.
pub(super) struct Panel<'a> {
    pub ctx: Ctx<'a>,
    pub area: Rect,
    pub block: Block<'a>,
}

pub fn draw(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &State,
    theme: &Theme,
    ascii: bool,
    drawn: &mut DrawnList,
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
    let title = if state.detail.filter.is_empty() {
        pane.label().to_string()
    } else {
        format!("{}  filter: {}", pane.label(), state.detail.filter)
    };
    let panel = Panel {
        ctx,
        area: body,
        block: block(&title, theme, ascii),
    };
    match pane {
        Pane::Serving => serving(frame, panel),
        Pane::Drift => drift(frame, panel, drawn),
        Pane::Versions => versions(frame, panel, drawn),
        Pane::Cluster => cluster(frame, panel),
        Pane::Journal => journal(frame, panel, drawn),
        Pane::Requests => requests(frame, panel, drawn),
    }
}

fn block<'a>(title: &str, theme: &Theme, ascii: bool) -> Block<'a> {
    crate::ui::bordered(format!(" {title} "), theme.border(true), ascii)
}

/// "age 3s" or "stale 12s: error", for a pane's title line.
fn freshness(status: &SourceStatus, state: &State) -> (String, bool) {
    match (&status.error, status.age_seconds(state.now)) {
        // Answered, with nothing for this model yet: no data, not a failure.
        (Some(e), None) if crate::clients::metrics::is_no_series(e) => {
            ("no data yet".into(), false)
        }
        (Some(e), Some(age)) => (format!("stale {age}s: {}", format::clip(e, 50)), true),
        (Some(e), None) => (format!("failing: {}", format::clip(e, 50)), true),
        (None, Some(_)) => match status.lag_seconds(state.now, state.config.refresh_seconds) {
            Some(lag) => (format!("{lag}s ago"), false),
            None => ("live".into(), false),
        },
        (None, None) => ("loading…".into(), false),
    }
}

/// The pane's border shows when its source last answered, or its last error.
pub(super) fn with_freshness<'a>(
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

/// A value, or "-" when it was not measured.
pub(super) fn dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".into())
}

/// Why a pane's list shows no row, when it shows none: `none` while there is no data, or the
/// filter hiding every `row` there is.
pub(super) fn why_empty(
    loaded: bool,
    shown: usize,
    none: &'static str,
    row: &str,
) -> Option<std::borrow::Cow<'static, str>> {
    match (loaded, shown) {
        (false, _) => Some(none.into()),
        (true, 0) => Some(format!("No {row} matches the filter (Esc clears it).").into()),
        (true, _) => None,
    }
}

/// A pane with nothing to show says why, dimmed, inside its border.
pub(super) fn placeholder(
    frame: &mut Frame<'_>,
    area: Rect,
    block: Block<'_>,
    text: &str,
    theme: &Theme,
) {
    frame.render_widget(Paragraph::new(text).style(theme.dim()).block(block), area);
}

pub(super) fn verdict_style_of(v: Verdict, theme: &Theme) -> Style {
    match v {
        Verdict::Drift => theme.danger(),
        Verdict::Warn => theme.warn(),
        Verdict::Ok => theme.ok(),
        Verdict::InsufficientData => theme.dim(),
    }
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
