//! What covers the screen, one at a time (`app::state::Overlay`), each in its own file, and the
//! centred dialog box they share.

mod check;
mod compare;
mod describe;
mod errors;
mod guide;
mod help;
mod logs;
mod operation;
mod servers;

pub use check::draw as check;
pub use compare::draw as compare;
pub use describe::draw as describe;
pub use errors::errors;
pub use guide::guide;
pub use help::help;
pub use logs::draw as logs;
pub use operation::operation;
pub use servers::draw as servers;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};

use crate::theme::Theme;

/// A centred box with `lines`, wrapped, over whatever is beneath, as tall as its wrapped text
/// needs (up to the screen). The last `pinned` lines (the keys and choices) always show at its
/// bottom; when the rest does not fit, the rest is cut, never them.
pub(crate) fn dialog(
    frame: &mut Frame<'_>,
    area: Rect,
    title: String,
    mut lines: Vec<Line<'_>>,
    pinned: usize,
    theme: &Theme,
    ascii: bool,
) {
    let width = 76u16.min(area.width);
    let inner_width = width.saturating_sub(2).max(1);
    let wrap = ratatui::widgets::Wrap { trim: true };
    let keys = lines.split_off(lines.len().saturating_sub(pinned));
    let keys = Paragraph::new(keys).wrap(wrap);
    let body = Paragraph::new(lines).wrap(wrap);
    let keys_height = keys.line_count(inner_width) as u16;
    let body_height = body.line_count(inner_width) as u16;
    let height = (body_height + keys_height + 2).min(area.height);
    let rect = crate::ui::centered(area, width, height);
    let block = crate::ui::bordered(title, theme.border(true), ascii);
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block.style(theme.base()), rect);
    let [body_area, keys_area] = ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Min(0),
        ratatui::layout::Constraint::Length(keys_height.min(inner.height)),
    ])
    .areas(inner);
    frame.render_widget(body.style(theme.base()), body_area);
    frame.render_widget(keys.style(theme.base()), keys_area);
}
