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

    /// The built-in theme `name` as this terminal can show it: monochrome without colour, the
    /// 16-colour theme where a theme's own colours would be sent as 24-bit codes the terminal
    /// cannot show (`TERM=screen`, `linux`), and 24-bit colours as their nearest of the 256
    /// where only those are known to work.
    pub fn for_terminal(name: &str, depth: ColorDepth) -> Result<Theme, String> {
        let theme = Theme::built_in(name, depth == ColorDepth::None)?;
        Ok(match depth {
            ColorDepth::None | ColorDepth::TrueColor => theme,
            ColorDepth::Ansi16 if theme.colors().iter().any(|c| !is_ansi16(*c)) => {
                Theme::built_in("ansi16", false)?
            }
            ColorDepth::Ansi16 => theme,
            ColorDepth::Indexed256 => theme.map_colors(to_256),
        })
    }

    fn colors(&self) -> [Color; 13] {
        [
            self.background,
            self.text,
            self.text_dim,
            self.border,
            self.border_focused,
            self.accent,
            self.ok,
            self.warn,
            self.danger,
            self.selection_bg,
            self.selection_fg,
            self.header_bg,
            self.read_only_bg,
        ]
    }

    fn map_colors(self, f: impl Fn(Color) -> Color) -> Theme {
        Theme {
            background: f(self.background),
            text: f(self.text),
            text_dim: f(self.text_dim),
            border: f(self.border),
            border_focused: f(self.border_focused),
            accent: f(self.accent),
            ok: f(self.ok),
            warn: f(self.warn),
            danger: f(self.danger),
            selection_bg: f(self.selection_bg),
            selection_fg: f(self.selection_fg),
            header_bg: f(self.header_bg),
            read_only_bg: f(self.read_only_bg),
            ..self
        }
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

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorDepth {
    TrueColor,
    Indexed256,
    Ansi16,
    /// `NO_COLOR`, or a terminal that shows none.
    None,
}

impl ColorDepth {
    /// From the environment as `var` reads it: `NO_COLOR` (set, not empty) or `TERM=dumb`
    /// none; `COLORTERM=truecolor|24bit` 24-bit; a `TERM` naming 256 colours (or `direct`)
    /// 256; anything else (`screen`, `linux`, `vt100`, `xterm`, unset) the 16 every terminal
    /// has. Terminals say less than they can: the guess errs towards fewer colours.
    pub fn detect(var: impl Fn(&str) -> Option<String>) -> ColorDepth {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        if set("NO_COLOR").is_some() {
            return ColorDepth::None;
        }
        let term = set("TERM").unwrap_or_default().to_ascii_lowercase();
        if term == "dumb" {
            return ColorDepth::None;
        }
        let colorterm = set("COLORTERM").unwrap_or_default().to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" || term.ends_with("-direct") {
            ColorDepth::TrueColor
        } else if term.contains("256color") {
            ColorDepth::Indexed256
        } else {
            ColorDepth::Ansi16
        }
    }

    /// This process's terminal.
    pub fn of_environment() -> ColorDepth {
        ColorDepth::detect(|name| std::env::var(name).ok())
    }
}

/// One of the 16 colours every terminal has (or the terminal's own default).
fn is_ansi16(c: Color) -> bool {
    match c {
        Color::Rgb(..) => false,
        Color::Indexed(i) => i < 16,
        _ => true,
    }
}

/// A 24-bit colour as the nearest of the xterm 256: the 6x6x6 cube or the grey ramp.
fn to_256(c: Color) -> Color {
    let Color::Rgb(r, g, b) = c else {
        return c;
    };
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let nearest_level = |v: u8| {
        (0..6)
            .min_by_key(|i| (i32::from(LEVELS[*i]) - i32::from(v)).abs())
            .unwrap_or(0)
    };
    let (ri, gi, bi) = (nearest_level(r), nearest_level(g), nearest_level(b));
    let cube = (LEVELS[ri], LEVELS[gi], LEVELS[bi]);
    let average = (u16::from(r) + u16::from(g) + u16::from(b)) / 3;
    let grey_step = ((average.saturating_sub(8)) / 10).min(23) as u8;
    let grey = 8 + 10 * grey_step;
    let distance = |(x, y, z): (u8, u8, u8)| {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        d(x, r) + d(y, g) + d(z, b)
    };
    if distance((grey, grey, grey)) < distance(cube) {
        Color::Indexed(232 + grey_step)
    } else {
        Color::Indexed(16 + 36 * ri as u8 + 6 * gi as u8 + bi as u8)
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_terminal_says_how_many_colours_it_shows() {
        use ColorDepth::*;
        assert_eq!(ColorDepth::detect(env(&[("TERM", "screen")])), Ansi16);
        assert_eq!(ColorDepth::detect(env(&[("TERM", "linux")])), Ansi16);
        assert_eq!(ColorDepth::detect(env(&[])), Ansi16);
        assert_eq!(
            ColorDepth::detect(env(&[("TERM", "xterm-256color")])),
            Indexed256
        );
        assert_eq!(
            ColorDepth::detect(env(&[("TERM", "screen"), ("COLORTERM", "truecolor")])),
            TrueColor
        );
        assert_eq!(
            ColorDepth::detect(env(&[("TERM", "xterm-256color"), ("NO_COLOR", "1")])),
            None
        );
        assert_eq!(
            ColorDepth::detect(env(&[("TERM", "xterm-256color"), ("NO_COLOR", "")])),
            Indexed256
        );
        assert_eq!(ColorDepth::detect(env(&[("TERM", "dumb")])), None);
    }

    #[test]
    fn themes_fall_back_to_what_the_terminal_shows() {
        let dark = Theme::for_terminal("dark", ColorDepth::Ansi16).unwrap();
        assert_eq!(dark.name, "ansi16");
        assert!(dark.colors().iter().all(|c| is_ansi16(*c)));
        let dark = Theme::for_terminal("dark", ColorDepth::Indexed256).unwrap();
        assert!(dark.colors().iter().all(|c| !matches!(c, Color::Rgb(..))));
        let dark = Theme::for_terminal("dark", ColorDepth::TrueColor).unwrap();
        assert!(dark.colors().iter().any(|c| matches!(c, Color::Rgb(..))));
        assert!(
            Theme::for_terminal("dark", ColorDepth::None)
                .unwrap()
                .monochrome
        );
        // Exact greys and cube colours map to themselves.
        assert_eq!(to_256(Color::Rgb(0, 0, 0)), Color::Indexed(16));
        assert_eq!(to_256(Color::Rgb(255, 255, 255)), Color::Indexed(231));
        assert_eq!(to_256(Color::Rgb(128, 128, 128)), Color::Indexed(244));
        assert_eq!(
            to_256(Color::Rgb(95, 135, 175)),
            Color::Indexed(16 + 36 + 12 + 3)
        );
    }
}
