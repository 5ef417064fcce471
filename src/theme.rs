//! Themes: TOML files of semantic colour slots in `themes/`, embedded as built-ins. `NO_COLOR`
//! selects the monochrome theme, whose meaning rides on bold and reverse video instead.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

const BUILT_IN: &[(&str, &str)] = &[
    ("dark", include_str!("../themes/dark.toml")),
    ("light", include_str!("../themes/light.toml")),
    ("ansi16", include_str!("../themes/ansi16.toml")),
    ("mono", include_str!("../themes/mono.toml")),
    ("terminal", include_str!("../themes/terminal.toml")),
];

/// The colours of the console, by meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub background: Color,
    pub text: Color,
    pub text_dim: Color,
    pub border: Color,
    pub border_focused: Color,
    pub accent: Color,
    pub ok: Color,
    pub warn: Color,
    pub danger: Color,
    pub selection_bg: Color,
    pub selection_fg: Color,
    pub header_bg: Color,
    pub read_only_bg: Color,
    /// True for the monochrome theme: styles add modifiers instead of colours.
    pub monochrome: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    background: String,
    text: String,
    text_dim: String,
    border: String,
    border_focused: String,
    accent: String,
    ok: String,
    warn: String,
    danger: String,
    selection_bg: String,
    selection_fg: String,
    header_bg: String,
    read_only_bg: String,
}

/// `reset`, a colour name (`red`, `dark_gray`, `light_blue`, ...), `#rrggbb`, or a 0-255 index.
pub fn parse_color(text: &str) -> Result<Color, String> {
    let t = text.trim().to_ascii_lowercase();
    if let Some(hex) = t.strip_prefix('#') {
        if hex.len() == 6
            && let Ok(v) = u32::from_str_radix(hex, 16)
        {
            return Ok(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
        }
        return Err(format!("{text:?} is not a #rrggbb colour"));
    }
    if let Ok(i) = t.parse::<u8>() {
        return Ok(Color::Indexed(i));
    }
    Ok(match t.replace('-', "_").as_str() {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "dark_gray" | "dark_grey" => Color::DarkGray,
        "light_red" => Color::LightRed,
        "light_green" => Color::LightGreen,
        "light_yellow" => Color::LightYellow,
        "light_blue" => Color::LightBlue,
        "light_magenta" => Color::LightMagenta,
        "light_cyan" => Color::LightCyan,
        "white" => Color::White,
        _ => {
            return Err(format!(
                "{text:?} is not a colour; use reset, a name like dark_gray, #rrggbb or 0-255"
            ));
        }
    })
}

impl Theme {
    pub fn parse(text: &str) -> Result<Theme, String> {
        let f: ThemeFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let c = |slot: &str, v: &str| parse_color(v).map_err(|e| format!("{slot}: {e}"));
        Ok(Theme {
            monochrome: f.name == "mono",
            background: c("background", &f.background)?,
            text: c("text", &f.text)?,
            text_dim: c("text_dim", &f.text_dim)?,
            border: c("border", &f.border)?,
            border_focused: c("border_focused", &f.border_focused)?,
            accent: c("accent", &f.accent)?,
            ok: c("ok", &f.ok)?,
            warn: c("warn", &f.warn)?,
            danger: c("danger", &f.danger)?,
            selection_bg: c("selection_bg", &f.selection_bg)?,
            selection_fg: c("selection_fg", &f.selection_fg)?,
            header_bg: c("header_bg", &f.header_bg)?,
            read_only_bg: c("read_only_bg", &f.read_only_bg)?,
            name: f.name,
        })
    }

    /// A built-in theme by name; `NO_COLOR` (when `no_color`) forces monochrome.
    pub fn built_in(name: &str, no_color: bool) -> Result<Theme, String> {
        let name = if no_color { "mono" } else { name };
        let (_, text) = BUILT_IN.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            format!(
                "no theme {name:?}; built-in themes: {}",
                BUILT_IN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        Theme::parse(text).map_err(|e| format!("built-in theme {name}: {e}"))
    }

    pub fn names() -> Vec<&'static str> {
        BUILT_IN.iter().map(|(n, _)| *n).collect()
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.text).bg(self.background)
    }

    pub fn dim(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::DIM)
        } else {
            Style::default().fg(self.text_dim)
        }
    }

    pub fn ok(&self) -> Style {
        Style::default().fg(self.ok)
    }

    pub fn warn(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(self.warn)
        }
    }

    pub fn danger(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        } else {
            Style::default()
                .fg(self.danger)
                .add_modifier(Modifier::BOLD)
        }
    }

    pub fn accent(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(self.accent)
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        match (focused, self.monochrome) {
            (true, true) => Style::default().add_modifier(Modifier::BOLD),
            (true, false) => Style::default().fg(self.border_focused),
            (false, _) => Style::default().fg(self.border),
        }
    }

    pub fn selection(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
                .fg(self.selection_fg)
                .bg(self.selection_bg)
                .add_modifier(Modifier::BOLD)
        }
    }

    pub fn header(&self, read_only: bool) -> Style {
        match (read_only, self.monochrome) {
            (true, true) => Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            (true, false) => Style::default()
                .fg(self.text)
                .bg(self.read_only_bg)
                .add_modifier(Modifier::BOLD),
            (false, _) => Style::default().fg(self.text).bg(self.header_bg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_parses() {
        for name in Theme::names() {
            let theme = Theme::built_in(name, false).unwrap();
            assert_eq!(theme.name, name);
        }
    }

    #[test]
    fn no_color_forces_monochrome() {
        let t = Theme::built_in("dark", true).unwrap();
        assert!(t.monochrome);
        assert_eq!(t.danger().fg, None, "meaning without colour");
        assert!(t.danger().add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn colours_parse_and_errors_name_the_slot() {
        assert_eq!(parse_color("#ff8000").unwrap(), Color::Rgb(255, 128, 0));
        assert_eq!(parse_color("dark_gray").unwrap(), Color::DarkGray);
        assert_eq!(parse_color("244").unwrap(), Color::Indexed(244));
        let bad = include_str!("../themes/dark.toml").replace("#bf616a", "blood");
        assert!(Theme::parse(&bad).unwrap_err().contains("danger"));
    }
}
