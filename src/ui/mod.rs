//! Drawing: a pure function of the state (and the theme, and `--ascii`) onto a frame; the one
//! thing it writes besides the frame is the [`DrawnList`], where the selectable list went, so a
//! click is read against what was on screen. Panes are short-lived widgets built per frame.

mod ascii;
mod columns;
mod detail;
mod everywhere;
mod fleet;
mod format;
mod overlays;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::app::State;
use crate::app::state::{Mode, Overlay};
use crate::keymap::Action;
use crate::theme::Theme;

/// Below this the console shows a message instead of a garbled screen.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;

/// The selectable list as last drawn: its scroll position (the one piece of view state that
/// lives with the drawing) and the screen area its rows took, so a click is read against what
/// the user saw, not against row numbers the state machine would have to know.
#[derive(Debug, Default, Clone)]
pub struct DrawnList {
    pub table: ratatui::widgets::TableState,
    /// Below the border and the column titles; `None` when no list is on screen.
    rows: Option<Rect>,
}

impl DrawnList {
    /// Notes that a table with one line of column titles was drawn in `area` (inside a border
    /// when `bordered`).
    pub(crate) fn drew_rows(&mut self, area: Rect, bordered: bool) {
        let inner = if bordered {
            area.inner(ratatui::layout::Margin::new(1, 1))
        } else {
            area
        };
        self.rows = Some(Rect {
            y: inner.y.saturating_add(1),
            height: inner.height.saturating_sub(1),
            ..inner
        });
    }

    /// Which row of the whole list is at screen position (`column`, `row`), if one is there.
    pub fn index_at(&self, column: u16, row: u16) -> Option<usize> {
        let rows = self.rows?;
        rows.contains(ratatui::layout::Position::new(column, row))
            .then(|| self.table.offset() + usize::from(row - rows.y))
    }
}

/// Draws one frame, noting where the selectable list went in `drawn`.
pub fn draw(
    frame: &mut Frame<'_>,
    state: &State,
    theme: &Theme,
    ascii: bool,
    drawn: &mut DrawnList,
) {
    let area = frame.area();
    drawn.rows = None;
    frame.render_widget(Block::default().style(theme.base()), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "flightdeck needs at least {MIN_WIDTH}x{MIN_HEIGHT}; this terminal is {}x{}. Enlarge it or press q.",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(text)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .style(theme.warn()),
            area,
        );
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(header_line(state, theme, header.width), header);
    match &state.view {
        crate::app::state::View::Fleet => fleet::draw(frame, body, state, theme, ascii, drawn),
        crate::app::state::View::Everywhere => {
            everywhere::draw(frame, body, state, theme, ascii, drawn)
        }
        crate::app::state::View::Model { .. } => {
            detail::draw(frame, body, state, theme, ascii, drawn)
        }
    }
    frame.render_widget(footer_line(state, theme), footer);
    // The guided tour's box stays under a comparison (it points at what to compare).
    if let Some(step) = state.guide
        && matches!(state.overlay, None | Some(Overlay::Compare { .. }))
    {
        overlays::guide(frame, body, step, theme, ascii);
    }
    match &state.overlay {
        None => {}
        Some(Overlay::Help) => overlays::help(frame, area, state, theme, ascii),
        Some(Overlay::Errors) => overlays::errors(frame, area, state, theme, ascii),
        Some(Overlay::Operation(_)) => overlays::operation(frame, area, state, theme, ascii),
        Some(Overlay::Check(_)) => overlays::check(frame, area, state, theme, ascii),
        Some(Overlay::Compare { .. }) => overlays::compare(frame, area, state, theme, ascii),
        Some(Overlay::Describe { .. }) => overlays::describe(frame, area, state, theme, ascii),
        Some(Overlay::Logs(_)) => overlays::logs(frame, area, state, theme, ascii),
        Some(Overlay::Servers(_)) => overlays::servers(frame, area, state, theme, ascii),
    }
    if ascii {
        ascii::transliterate(frame.buffer_mut());
    }
}

/// The cluster's access reviews say these credentials may not change any InferenceService:
/// operations will be refused, so the console says so up front.
fn rbac_read_only(state: &State) -> bool {
    let mut services = state
        .servers
        .values()
        .filter_map(|s| s.kube.as_deref())
        .peekable();
    services.peek().is_some() && services.all(|k| !k.may_patch())
}

fn header_line<'a>(state: &'a State, theme: &Theme, width: u16) -> Paragraph<'a> {
    let rbac = rbac_read_only(state);
    let env = if state.config.read_only {
        format!(" {} · READ-ONLY ", state.config.environment)
    } else if rbac {
        format!(" {} · READ-ONLY (RBAC) ", state.config.environment)
    } else {
        format!(" {} ", state.config.environment)
    };
    let mut spans = vec![
        Span::styled(" flightdeck ", theme.accent()),
        Span::styled(env, theme.header(state.config.read_only || rbac)),
        Span::raw("  "),
        source_span("registry", &state.sources.registry, state, theme),
    ];
    // Each failing source's reason, after the states: clipped to what fits, whole in `:errors`.
    let mut reasons = Vec::new();
    if let Some(e) = &state.sources.registry.error {
        reasons.push(format!("registry: {e}"));
    }
    if let Some(problem) = &state.sources.cluster_problem {
        spans.push(Span::styled("  cluster failing", theme.danger()));
        reasons.push(format!("cluster: {problem}"));
    }
    // Only sources whose last read succeeded count as ok; a stopped server's is not a source.
    let scraped = state
        .sources
        .metrics
        .values()
        .filter(|m| m.error.is_none() && m.last_ok.is_some())
        .count();
    // A source that answered "nothing for this model yet" is not failing: its model has no
    // data, which the row says.
    let no_series = |m: &&crate::app::state::SourceStatus| {
        m.error
            .as_deref()
            .is_some_and(crate::clients::metrics::is_no_series)
    };
    let failing = state
        .sources
        .metrics
        .values()
        .filter(|m| m.error.is_some() && !no_series(m))
        .count();
    let empty = state.sources.metrics.values().filter(no_series).count();
    if let Some((model, e)) = state
        .sources
        .metrics
        .iter()
        .find_map(|(model, m)| Some((model, m.error.as_ref().filter(|_| !no_series(&m))?)))
    {
        reasons.push(format!("{model}: {e}"));
    }
    spans.push(Span::styled(
        format!(
            "  metrics {scraped} ok{}{}",
            if empty > 0 {
                format!(", {empty} no data yet")
            } else {
                String::new()
            },
            if failing > 0 {
                format!(", {failing} failing")
            } else {
                String::new()
            }
        ),
        if failing > 0 {
            theme.danger()
        } else {
            theme.dim()
        },
    ));
    // Servers that do not answer, whatever their metrics source says.
    let down = state.servers.values().filter(|s| !s.healthy).count();
    if down > 0 {
        spans.push(Span::styled(
            format!("  servers {down} down"),
            theme.danger(),
        ));
    }
    // Minutes: a seconds clock would redraw an idle screen every second.
    let clock = format!("  {}", state.now.format("%H:%M UTC"));
    let hint = if reasons.is_empty() { "" } else { "  :errors" };
    let used: usize = spans
        .iter()
        .map(|s| s.content.chars().count())
        .sum::<usize>()
        + clock.chars().count()
        + hint.chars().count();
    let room = usize::from(width).saturating_sub(used + 2);
    if !reasons.is_empty() && room >= 8 {
        spans.push(Span::styled(
            format!("  {}", format::clip(&reasons.join("; "), room)),
            theme.danger(),
        ));
    }
    spans.push(Span::styled(hint, theme.accent()));
    spans.push(Span::styled(clock, theme.dim()));
    Paragraph::new(Line::from(spans)).style(theme.header(false))
}

/// A source's state in a word or two: live, its age when it lags, stale with the age of its
/// last good answer, failing, or loading.
fn source_span(
    name: &str,
    status: &crate::app::state::SourceStatus,
    state: &State,
    theme: &Theme,
) -> Span<'static> {
    match (&status.error, status.age_seconds(state.now)) {
        (Some(_), Some(age)) => {
            Span::styled(format!("{name} stale {}", format::age(age)), theme.danger())
        }
        (Some(_), None) => Span::styled(format!("{name} failing"), theme.danger()),
        (None, Some(_)) => match status.lag_seconds(state.now, state.config.refresh_seconds) {
            Some(lag) => Span::styled(format!("{name} {lag}s ago"), theme.warn()),
            None => Span::styled(format!("{name} live"), theme.dim()),
        },
        (None, None) => Span::styled(format!("{name} loading…"), theme.dim()),
    }
}

fn footer_line<'a>(state: &'a State, theme: &Theme) -> Paragraph<'a> {
    match &state.mode {
        Mode::Command(text) => {
            // What may come next, narrowing as the user types (Tab completes).
            let next = crate::app::palette::suggestions(state, text);
            let hint = if next.is_empty() {
                String::new()
            } else {
                format!("   {}   tab completes", next.join(" "))
            };
            Paragraph::new(Line::from(vec![
                Span::styled(":", theme.accent()),
                Span::raw(text.clone()),
                Span::styled("█", theme.dim()),
                Span::styled(hint, theme.dim()),
            ]))
        }
        Mode::Filter => Paragraph::new(Line::from(vec![
            Span::styled("/", theme.accent()),
            Span::raw(if state.open_model().is_some() {
                state.detail.filter.clone()
            } else {
                state.filter.clone()
            }),
            Span::styled("█", theme.dim()),
            Span::styled("  enter: keep  esc: clear", theme.dim()),
        ])),
        _ => {
            if let Some(toast) = &state.toast {
                // Too long for one line: the whole text is in `:errors`.
                let room = usize::from(state.size.0);
                let text = if toast.chars().count() > room {
                    format!("{} (:errors)", format::clip(toast, room.saturating_sub(10)))
                } else {
                    toast.clone()
                };
                return Paragraph::new(Span::styled(text, theme.warn()));
            }
            // An operation a killed process left half done outranks the key hints.
            if let Some(first) = state.interrupted.first() {
                let more = if state.interrupted.len() > 1 {
                    format!(" (+{} more)", state.interrupted.len() - 1)
                } else {
                    String::new()
                };
                return Paragraph::new(Span::styled(
                    format!(
                        "interrupted: {}{more}; :finish or :revert it",
                        first.summary
                    ),
                    theme.danger(),
                ));
            }
            // An overlay takes the keys: the footer says its own, not the view's beneath.
            if let Some(keys) = overlay_keys(state) {
                return Paragraph::new(Span::styled(keys, theme.dim()));
            }
            let hint = |action: Action| -> Vec<Span<'static>> {
                let key = state
                    .config
                    .keymap
                    .keys_for(action)
                    .first()
                    .map(|k| k.to_string())
                    .unwrap_or_default();
                vec![
                    Span::styled(format!("<{key}>"), theme.accent()),
                    Span::styled(format!(" {}  ", short(action)), theme.dim()),
                ]
            };
            // As many hints as fit, most needed first: at 80 columns the operations' keys
            // show beside help and quit; wider terminals get the rest.
            // Over every environment, keys act in the selected row's: its rules count.
            let read_only = match state.view {
                crate::app::state::View::Everywhere => {
                    crate::app::everywhere::selected_read_only(state)
                }
                _ => state.config.read_only || rbac_read_only(state),
            };
            let operations: &[Action] = if read_only {
                &[Action::Smoke, Action::Evaluate]
            } else {
                &[
                    Action::Rollback,
                    Action::Promote,
                    Action::Deploy,
                    Action::Abort,
                    Action::Smoke,
                    Action::Evaluate,
                ]
            };
            let navigation: &[Action] = match state.view {
                crate::app::state::View::Fleet => &[
                    Action::Open,
                    Action::Filter,
                    Action::Sort,
                    Action::Command,
                    Action::Refresh,
                ],
                crate::app::state::View::Everywhere => &[
                    Action::Open,
                    Action::Filter,
                    Action::Sort,
                    Action::Back,
                    Action::Command,
                ],
                crate::app::state::View::Model { .. } => &[
                    Action::NextPane,
                    Action::Back,
                    Action::Command,
                    Action::Refresh,
                ],
            };
            let mut spans = Vec::new();
            let mut width = 0usize;
            let room = usize::from(state.size.0);
            for &action in [Action::Help, Action::Quit]
                .iter()
                .chain(operations)
                .chain(navigation)
            {
                let hint = hint(action);
                let needed: usize = hint.iter().map(|s| s.content.chars().count()).sum();
                if width + needed > room {
                    continue;
                }
                width += needed;
                spans.extend(hint);
            }
            Paragraph::new(Line::from(spans)).style(Style::default())
        }
    }
}

/// The keys of the overlay that is open, when one is.
fn overlay_keys(state: &State) -> Option<&'static str> {
    Some(match state.overlay.as_ref()? {
        Overlay::Help | Overlay::Errors => "esc closes",
        Overlay::Compare { .. } => "any key closes",
        Overlay::Describe { .. } => "j/k scroll · g/G top/end · y text/JSON · esc closes",
        Overlay::Logs(_) => {
            "j/k hold · G follow · / search · n/N older/newer · ← → sideways · tab next log · esc closes"
        }
        Overlay::Servers(_) => "j/k select · x stop · r restart · s start · l logs · esc closes",
        // Dialogs say their own keys inside.
        Overlay::Operation(_) | Overlay::Check(_) => return None,
    })
}

fn short(action: Action) -> &'static str {
    match action {
        Action::Help => "help",
        Action::Command => "command",
        Action::Filter => "filter",
        Action::Sort => "sort",
        Action::Refresh => "refresh",
        Action::Quit => "quit",
        Action::Open => "open",
        Action::NextPane => "pane",
        Action::Back => "back",
        other => other.name(),
    }
}

/// Plain ASCII borders for terminals without box-drawing glyphs (`--ascii`).
const ASCII_BORDER: ratatui::symbols::border::Set = ratatui::symbols::border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// A bordered box with a title: every pane and dialog, ASCII when asked.
pub(crate) fn bordered<'a>(
    title: impl Into<ratatui::text::Line<'a>>,
    border: Style,
    ascii: bool,
) -> Block<'a> {
    let block = Block::default()
        .borders(ratatui::widgets::Borders::ALL)
        .title(title)
        .border_style(border);
    if ascii {
        block.border_set(ASCII_BORDER)
    } else {
        block
    }
}

/// A table with a dim header row and the theme's selection highlight: every list in the console.
pub(crate) fn selectable_table<'a>(
    rows: Vec<ratatui::widgets::Row<'a>>,
    widths: &[Constraint],
    header: &[&'a str],
    theme: &Theme,
    ascii: bool,
) -> ratatui::widgets::Table<'a> {
    ratatui::widgets::Table::new(rows, widths.to_vec())
        .header(ratatui::widgets::Row::new(header.to_vec()).style(theme.dim()))
        .row_highlight_style(theme.selection())
        .highlight_symbol(if ascii { "> " } else { "▶ " })
}

/// The mark and colour of a check or gate that passed or failed (words under `--ascii`).
pub(crate) fn verdict_mark(passed: bool, theme: &Theme, ascii: bool) -> (&'static str, Style) {
    match (passed, ascii) {
        (true, false) => ("✔", theme.ok()),
        (true, true) => ("ok", theme.ok()),
        (false, false) => ("✖", theme.danger()),
        (false, true) => ("FAIL", theme.danger()),
    }
}

/// The mark and colour of a gate's verdict: passed, failed, or not enough data yet (words under
/// `--ascii`), so a gate still waiting for evidence never looks like a failure.
pub(crate) fn gate_mark(
    status: crate::model::GateStatus,
    theme: &Theme,
    ascii: bool,
) -> (&'static str, Style) {
    use crate::model::GateStatus;
    match (status, ascii) {
        (GateStatus::Pass, _) => verdict_mark(true, theme, ascii),
        (GateStatus::Fail, _) => verdict_mark(false, theme, ascii),
        (GateStatus::NotEnoughData, false) => ("…", theme.warn()),
        (GateStatus::NotEnoughData, true) => ("WAIT", theme.warn()),
    }
}

/// A centred rectangle of at most `width` x `height`.
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
