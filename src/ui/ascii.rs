//! `--ascii`: every cell of a drawn frame made plain ASCII, whatever widget drew it (bars,
//! marks, arrows, units and borders included), for terminals and fonts that show little else.

use ratatui::buffer::Buffer;

/// The ASCII stand-in of a symbol the console draws; `?` for one not listed.
fn plain(symbol: &str) -> &'static str {
    match symbol {
        // Bars of a chart, lowest to highest.
        "▁" => "_",
        "▂" => ".",
        "▃" => ",",
        "▄" => "-",
        "▅" => "=",
        "▆" => "+",
        "▇" => "*",
        "█" => "#",
        "─" | "━" | "═" | "—" | "–" => "-",
        "│" | "┃" | "║" => "|",
        "┌" | "┐" | "└" | "┘" | "├" | "┤" | "┬" | "┴" | "┼" | "╭" | "╮" | "╰" | "╯" => {
            "+"
        }
        "✔" | "✓" => "+",
        "✖" | "✗" | "×" => "x",
        "●" | "•" => "*",
        "○" => "o",
        "⚑" => "!",
        "▶" | "→" | "≥" => ">",
        "◀" | "←" | "≤" => "<",
        "↑" | "▲" => "^",
        "↓" | "▼" => "v",
        "·" => ".",
        "…" => "~",
        "µ" => "u",
        "°" => "o",
        "±" => "+",
        _ => "?",
    }
}

/// Replaces every symbol outside ASCII in `buffer`.
pub fn transliterate(buffer: &mut Buffer) {
    for cell in buffer.content.iter_mut() {
        let symbol = cell.symbol();
        if !symbol.is_ascii() {
            let replacement = plain(symbol);
            cell.set_symbol(replacement);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;

    #[test]
    fn every_symbol_becomes_ascii() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 12, 1));
        buffer.set_string(0, 0, "▁▅█ 3µs ✔…é", ratatui::style::Style::default());
        transliterate(&mut buffer);
        let line: String = buffer.content.iter().map(|c| c.symbol()).collect();
        assert_eq!(line, "_=# 3us +~? ");
    }
}
