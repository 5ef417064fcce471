//! Overlays drawn above the panes: the help screen, generated from the keymap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::app::State;
use crate::keymap::Action;
use crate::theme::Theme;

pub fn help(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, ascii: bool) {
    let entry = |action: Action, width: usize| -> Vec<Span<'static>> {
        let keys: Vec<String> = state
            .keymap
            .keys_for(action)
            .iter()
            .map(|k| k.to_string())
            .collect();
        let describe = super::format::clip(action.describe(), width);
        vec![
            Span::styled(format!("{:<12}", keys.join(" ")), theme.accent()),
            Span::raw(format!("{describe:<width$}")),
        ]
    };
    // Two columns when the list would not fit the screen's height.
    let two_columns = Action::ALL.len() + 4 > area.height as usize;
    let mut lines: Vec<Line> = Vec::new();
    if two_columns {
        let half = Action::ALL.len().div_ceil(2);
        for i in 0..half {
            let mut spans = entry(Action::ALL[i], 24);
            if let Some(right) = Action::ALL.get(i + half) {
                spans.push(Span::raw("  "));
                spans.extend(entry(*right, 24));
            }
            lines.push(Line::from(spans));
        }
    } else {
        for action in Action::ALL {
            lines.push(Line::from(entry(*action, 48)));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "commands: :models  :theme NAME  :env NAME  :help  :q",
        theme.dim(),
    )));
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = super::centered(area, if two_columns { 78 } else { 64 }, height);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .title(" keys (esc closes) ")
        .border_style(theme.border(true));
    if ascii {
        block = block.border_set(ratatui::symbols::border::PLAIN);
    }
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block).style(theme.base()), rect);
}
