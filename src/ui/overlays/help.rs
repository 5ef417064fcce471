//! The help overlay: every key of the keymap and every `:` command.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::app::State;
use crate::keymap::Action;
use crate::theme::Theme;

pub fn help(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, ascii: bool) {
    let entry = |action: Action, width: usize| -> Vec<Span<'static>> {
        let keys: Vec<String> = state
            .config
            .keymap
            .keys_for(action)
            .iter()
            .map(|k| k.to_string())
            .collect();
        let describe = crate::ui::format::clip(action.describe(), width);
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
            // 12 + 25, twice, and 2 between: the 76 cells inside the 78-wide box.
            let mut spans = entry(Action::ALL[i], 25);
            if let Some(right) = Action::ALL.get(i + half) {
                spans.push(Span::raw("  "));
                spans.extend(entry(*right, 25));
            }
            lines.push(Line::from(spans));
        }
    } else {
        for action in Action::ALL {
            lines.push(Line::from(entry(*action, 48)));
        }
    }
    // A blank line between keys and commands, where the screen has one to spare.
    if !two_columns || Action::ALL.len().div_ceil(2) + 10 <= usize::from(area.height) {
        lines.push(Line::from(""));
    }
    // Each line fits the narrowest help box (60 cells).
    for commands in [
        "commands: :models :fleet all :server :serving :drift",
        "  :versions :cluster :journal :requests :errors :env NAME",
        "  :theme NAME :finish :revert :help :q :shadow V [P]|stop",
        "  :rollout [10,50,100 [2m]]|pause|resume",
    ] {
        lines.push(Line::from(Span::styled(commands, theme.dim())));
    }
    lines.push(Line::from(Span::styled(
        "dialogs: enter confirm · o override · m pipeline · esc cancel",
        theme.dim(),
    )));
    // During the demo's tour, its steps, the current one marked.
    if let Some(current) = state.guide {
        lines.push(Line::from(""));
        for (i, step) in crate::app::guide::STEPS.iter().enumerate() {
            let style = if i == current {
                theme.accent()
            } else {
                theme.dim()
            };
            let mark = if i == current { ">" } else { " " };
            lines.push(Line::from(Span::styled(
                format!("{mark}{} {}", i + 1, crate::ui::format::clip(step, 72)),
                style,
            )));
        }
    }
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = crate::ui::centered(area, if two_columns { 78 } else { 64 }, height);
    let block = crate::ui::bordered(" keys (esc closes) ", theme.border(true), ascii);
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block).style(theme.base()), rect);
}
