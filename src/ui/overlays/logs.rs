//! The logs overlay (`l`): the newest lines of a model's server log, supervisor log or process
//! output, following the end unless the user scrolled up.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::app::State;
use crate::app::state::Overlay;
use crate::theme::Theme;

pub fn draw(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, ascii: bool) {
    let Some(Overlay::Logs(view)) = &state.overlay else {
        return;
    };
    let width = area.width.saturating_sub(2).max(20);
    let height = area.height.saturating_sub(2).max(5);
    let boxed = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    let shown = usize::from(height.saturating_sub(2));
    let title = format!(
        " {} · {} ({}) · tab: next log · / search · ← → sideways · G follow · esc closes ",
        view.model,
        view.file.label(),
        view.file.path(&view.model)
    );
    let (lines, where_) = match &view.lines {
        Err(e) => (
            vec![Line::from(Span::styled(e.clone(), theme.warn()))],
            String::new(),
        ),
        Ok(all) if all.is_empty() => (
            vec![Line::from(Span::styled("(empty so far)", theme.dim()))],
            String::new(),
        ),
        Ok(all) => {
            let first = if view.follow {
                all.len().saturating_sub(shown)
            } else {
                view.top.min(all.len().saturating_sub(1))
            };
            let last = (first + shown).min(all.len());
            // Lines holding the search stand out; the one the view went to is the top one.
            let needle = view.search.to_lowercase();
            let lines = all[first..last]
                .iter()
                .map(|l| {
                    if !needle.is_empty() && l.to_lowercase().contains(&needle) {
                        Line::from(Span::styled(l.clone(), theme.accent()))
                    } else {
                        Line::from(l.clone())
                    }
                })
                .collect();
            let mode = if view.follow { "following" } else { "held" };
            let search = if view.search.is_empty() {
                String::new()
            } else {
                let matches = view.matches();
                let at = view
                    .at_match
                    .and_then(|line| matches.iter().position(|&i| i == line));
                let found = match (at, matches.len()) {
                    (_, 0) => "no match".to_string(),
                    (Some(i), n) => format!("match {} of {n}", i + 1),
                    (None, n) => format!("{n} matches"),
                };
                // What the last key found nothing for, until the next key.
                let found = match &view.note {
                    Some(note) => format!("{found}, {note}"),
                    None => found,
                };
                format!("/{} · {found} · n older · N newer · ", view.search,)
            };
            (
                lines,
                format!(
                    " {search}{mode} · lines {}-{last} of the newest {} ",
                    first + 1,
                    all.len()
                ),
            )
        }
    };
    // Sideways (← →), every line from the same column; the bottom says where.
    let where_ = if view.column > 0 {
        format!(" from column {} (← back) ·{where_}", view.column + 1)
    } else {
        where_
    };
    let mut block = crate::ui::bordered(title, theme.border(true), ascii);
    // While the search is typed, the bottom edge is its alone.
    if !view.typing {
        block = block.title_bottom(Line::from(Span::styled(where_, theme.dim())).right_aligned());
    } else {
        block = block.title_bottom(Line::from(Span::styled(
            format!(" /{}_ (Enter goes to the newest match) ", view.search),
            theme.accent(),
        )));
    }
    frame.render_widget(Clear, boxed);
    frame.render_widget(
        Paragraph::new(lines)
            .style(theme.base())
            .block(block)
            .scroll((0, view.column)),
        boxed,
    );
}
