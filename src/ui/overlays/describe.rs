//! The description overlay: the selected object whole, as readable lines or JSON, scrolled
//! with j/k, wider than a dialog (objects are long).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::app::State;
use crate::app::state::Overlay;
use crate::theme::Theme;

pub fn draw(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, ascii: bool) {
    let Some(Overlay::Describe {
        described,
        json,
        scroll,
    }) = &state.overlay
    else {
        return;
    };
    // Long lines wrap: nothing of the object is cut at the box's edge.
    let text = crate::app::describe::shown_lines(described, *json, area.width);
    let width = crate::app::describe::box_width(area.width).min(area.width);
    let height = area.height.saturating_sub(2).max(5);
    let x = area.x + (area.width - width) / 2;
    let y = area.y + (area.height - height) / 2;
    let boxed = Rect::new(x, y, width, height);
    let shown = usize::from(height.saturating_sub(2));
    let last = text.len().saturating_sub(shown);
    let scroll = usize::from(*scroll).min(last);
    let position = if text.len() > shown {
        format!(
            " {}-{} of {} ",
            scroll + 1,
            (scroll + shown).min(text.len()),
            text.len()
        )
    } else {
        String::new()
    };
    // The keys are in the footer: the title keeps to what this is and when it was read.
    let title = format!(
        " {} ({}, as read at {} UTC) ",
        described.title,
        if *json { "JSON" } else { "described" },
        described.at.format("%H:%M:%S"),
    );
    let block = crate::ui::bordered(title, theme.border(true), ascii)
        .title_bottom(Line::from(Span::styled(position, theme.dim())).right_aligned());
    let lines: Vec<Line> = text
        .into_iter()
        .skip(scroll)
        .take(shown)
        .map(Line::from)
        .collect();
    frame.render_widget(Clear, boxed);
    frame.render_widget(
        Paragraph::new(lines).style(theme.base()).block(block),
        boxed,
    );
}
