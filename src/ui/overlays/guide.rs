//! The guided tour's box, during `flightdeck demo`.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Clear, Paragraph};

use crate::theme::Theme;

/// The guided tour's current step, in a box at the bottom of the main area.
pub fn guide(frame: &mut Frame<'_>, area: Rect, step: usize, theme: &Theme, ascii: bool) {
    let steps = crate::app::guide::STEPS;
    let Some(text) = steps.get(step) else { return };
    let width = area.width.saturating_sub(4).max(20);
    let height = 5u16.min(area.height);
    let rect = Rect {
        x: area.x + 2,
        y: area.y + area.height.saturating_sub(height + 1),
        width,
        height,
    };
    let block = crate::ui::bordered(
        format!(" tour {}/{} · n: next ", step + 1, steps.len()),
        theme.accent(),
        ascii,
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(*text)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(block)
            .style(theme.base()),
        rect,
    );
}
