//! The console's key bindings: named actions, their default keys (k9s and vim grammar), and
//! overrides from the config's `[keys]` table, validated when the config is read.

use std::collections::BTreeMap;
use std::fmt;

/// Everything a key can do in the console.
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    Help,
    Command,
    Filter,
    Back,
    NextPane,
    PreviousPane,
    Open,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Sort,
    SortReverse,
    Refresh,
    Deploy,
    Promote,
    Rollback,
    Abort,
    Smoke,
    Evaluate,
    Compare,
    Rollout,
    Shadow,
    Sentinel,
    Json,
    Logs,
    TimeRange,
}

impl Action {
    /// Every action, in the order the help lists them.
    pub const ALL: &'static [Action] = <Action as strum::VariantArray>::VARIANTS;

    /// The name used in the config's `[keys]` table.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// What the help screen says it does.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "this help",
            Action::Command => "command palette (below)",
            Action::Filter => "filter rows",
            Action::Back => "back / close",
            Action::NextPane => "next pane",
            Action::PreviousPane => "previous pane",
            Action::Open => "open model / describe row",
            Action::Up => "move up",
            Action::Down => "move down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first row",
            Action::Bottom => "last row",
            Action::Sort => "change sort column",
            Action::SortReverse => "reverse the sort",
            Action::Refresh => "refresh every source now",
            Action::Deploy => "deploy a version",
            Action::Promote => "promote the canary",
            Action::Rollback => "roll back production",
            Action::Abort => "abort the canary",
            Action::Smoke => "smoke-test a version",
            Action::Evaluate => "evaluate vs production",
            Action::Compare => "compare: c, c on another",
            Action::Rollout => "rollout, pause, resume",
            Action::Shadow => "shadow a version / stop",
            Action::Sentinel => "logged request->sentinel",
            Action::Json => "the selected row as JSON",
            Action::Logs => "tail a server's logs",
            Action::TimeRange => "chart range 5m/1h/24h",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        name.parse().ok()
    }
}

/// A key as the keymap knows it, independent of the terminal library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCode {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    F(u8),
}

impl Key {
    pub const fn plain(code: KeyCode) -> Self {
        Self {
            code,
            ctrl: false,
            alt: false,
        }
    }

    pub const fn char(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }

    /// Parses `p`, `G`, `:`, `ctrl-r`, `alt-x`, `enter`, `esc`, `tab`, `shift-tab`, `up`,
    /// `pgdn`, `home`, `f5`, `space`.
    pub fn parse(text: &str) -> Result<Key, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = text;
        loop {
            if let Some(r) = rest
                .strip_prefix("ctrl-")
                .or_else(|| rest.strip_prefix("ctrl+"))
            {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest
                .strip_prefix("alt-")
                .or_else(|| rest.strip_prefix("alt+"))
            {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "shift-tab" | "backtab" => KeyCode::BackTab,
            "backspace" => KeyCode::Backspace,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "space" => KeyCode::Char(' '),
            f if f.len() >= 2
                && f.starts_with('f')
                && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
            {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if !c.is_control() => KeyCode::Char(c),
                    _ => {
                        return Err(format!(
                            "{text:?} is not a key; write a character (p, G, :), ctrl-X, alt-X, enter, esc, tab, shift-tab, up, down, pgup, pgdn, home, end, f1..f12 or space"
                        ));
                    }
                }
            }
        };
        Ok(Key { code, ctrl, alt })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::F(n) => write!(f, "f{n}"),
        }
    }
}

/// Keys to actions. Several keys may do one action (`j` and `↓`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: BTreeMap<Key, Action>,
}

impl Default for Keymap {
    fn default() -> Self {
        use KeyCode::*;
        let defaults: &[(Key, Action)] = &[
            (Key::char('q'), Action::Quit),
            (
                Key {
                    code: Char('c'),
                    ctrl: true,
                    alt: false,
                },
                Action::Quit,
            ),
            (Key::char('?'), Action::Help),
            (Key::char(':'), Action::Command),
            (Key::char('/'), Action::Filter),
            (Key::plain(Esc), Action::Back),
            (Key::plain(Tab), Action::NextPane),
            (Key::plain(BackTab), Action::PreviousPane),
            (Key::plain(Enter), Action::Open),
            (Key::plain(Up), Action::Up),
            (Key::char('k'), Action::Up),
            (Key::plain(Down), Action::Down),
            (Key::char('j'), Action::Down),
            (Key::plain(PageUp), Action::PageUp),
            (
                Key {
                    code: Char('b'),
                    ctrl: true,
                    alt: false,
                },
                Action::PageUp,
            ),
            (Key::plain(PageDown), Action::PageDown),
            (
                Key {
                    code: Char('f'),
                    ctrl: true,
                    alt: false,
                },
                Action::PageDown,
            ),
            (Key::char('g'), Action::Top),
            (Key::plain(Home), Action::Top),
            (Key::char('G'), Action::Bottom),
            (Key::plain(End), Action::Bottom),
            (Key::char('o'), Action::Sort),
            (Key::char('O'), Action::SortReverse),
            (
                Key {
                    code: Char('r'),
                    ctrl: true,
                    alt: false,
                },
                Action::Refresh,
            ),
            (Key::char('d'), Action::Deploy),
            (Key::char('p'), Action::Promote),
            (Key::char('r'), Action::Rollback),
            (Key::char('a'), Action::Abort),
            (Key::char('s'), Action::Smoke),
            (Key::char('e'), Action::Evaluate),
            (Key::char('c'), Action::Compare),
            (Key::char('R'), Action::Rollout),
            (Key::char('S'), Action::Shadow),
            (Key::char('t'), Action::Sentinel),
            (Key::char('y'), Action::Json),
            (Key::char('l'), Action::Logs),
            (Key::char('T'), Action::TimeRange),
        ];
        Self {
            bindings: defaults.iter().copied().collect(),
        }
    }
}

impl Keymap {
    /// The defaults with the config's overrides: `action = "key"` or `action = ["key", ...]`
    /// replaces every default key of that action. Errors name the entry.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<Keymap, String> {
        let mut map = Keymap::default();
        for (name, keys) in overrides {
            let action = Action::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "[keys] {name}: no such action; actions are {}",
                    known.join(", ")
                )
            })?;
            if keys.is_empty() {
                return Err(format!("[keys] {name}: give at least one key"));
            }
            map.bindings.retain(|_, a| *a != action);
            for text in keys {
                let key = Key::parse(text).map_err(|e| format!("[keys] {name}: {e}"))?;
                if let Some(other) = map.bindings.get(&key).filter(|a| **a != action)
                    && overrides.contains_key(other.name())
                {
                    return Err(format!(
                        "[keys] {name}: {key} is also bound to {}",
                        other.name()
                    ));
                }
                map.bindings.insert(key, action);
            }
        }
        Ok(map)
    }

    pub fn action(&self, key: Key) -> Option<Action> {
        self.bindings.get(&key).copied()
    }

    /// The keys bound to an action, for the footer and the help screen.
    /// Plain characters first, then named keys, then modified ones.
    pub fn keys_for(&self, action: Action) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .bindings
            .iter()
            .filter(|(_, a)| **a == action)
            .map(|(k, _)| *k)
            .collect();
        keys.sort_by_key(|k| (k.ctrl || k.alt, !matches!(k.code, KeyCode::Char(_)), *k));
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_the_configs_snake_case_names() {
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(
            names,
            [
                "quit",
                "help",
                "command",
                "filter",
                "back",
                "next_pane",
                "previous_pane",
                "open",
                "up",
                "down",
                "page_up",
                "page_down",
                "top",
                "bottom",
                "sort",
                "sort_reverse",
                "refresh",
                "deploy",
                "promote",
                "rollback",
                "abort",
                "smoke",
                "evaluate",
                "compare",
                "rollout",
                "shadow",
                "sentinel",
                "json",
                "logs",
                "time_range",
            ]
        );
        for name in &names {
            assert_eq!(Action::from_name(name).map(Action::name), Some(*name));
        }
        assert_eq!(Action::from_name("NextPane"), None);
        assert_eq!(Action::from_name("next-pane"), None);
    }

    #[test]
    fn parses_the_documented_key_names() {
        assert_eq!(Key::parse("p").unwrap(), Key::char('p'));
        assert_eq!(Key::parse("G").unwrap(), Key::char('G'));
        assert_eq!(
            Key::parse("ctrl-r").unwrap(),
            Key {
                code: KeyCode::Char('r'),
                ctrl: true,
                alt: false
            }
        );
        assert_eq!(
            Key::parse("shift-tab").unwrap(),
            Key::plain(KeyCode::BackTab)
        );
        assert_eq!(Key::parse("f5").unwrap(), Key::plain(KeyCode::F(5)));
        assert_eq!(Key::parse("pgdn").unwrap(), Key::plain(KeyCode::PageDown));
        assert!(Key::parse("hyper-x").is_err());
        assert!(Key::parse("f13").is_err());
        assert!(Key::parse("").is_err());
    }

    #[test]
    fn every_action_has_a_default_key() {
        let map = Keymap::default();
        for action in Action::ALL {
            assert!(!map.keys_for(*action).is_empty(), "{action:?} has no key");
        }
        assert_eq!(map.action(Key::char('j')), Some(Action::Down));
    }

    #[test]
    fn overrides_replace_an_actions_keys_and_errors_name_the_entry() {
        let mut o = BTreeMap::new();
        o.insert("promote".to_string(), vec!["P".to_string()]);
        let map = Keymap::with_overrides(&o).unwrap();
        assert_eq!(map.action(Key::char('P')), Some(Action::Promote));
        assert_eq!(map.action(Key::char('p')), None);
        o.insert("promot".to_string(), vec!["x".to_string()]);
        assert!(
            Keymap::with_overrides(&o)
                .unwrap_err()
                .contains("promot: no such action")
        );
        let mut bad = BTreeMap::new();
        bad.insert("quit".to_string(), vec!["meta-q".to_string()]);
        assert!(
            Keymap::with_overrides(&bad)
                .unwrap_err()
                .contains("[keys] quit")
        );
        let mut clash = BTreeMap::new();
        clash.insert("quit".to_string(), vec!["x".to_string()]);
        clash.insert("abort".to_string(), vec!["x".to_string()]);
        assert!(
            Keymap::with_overrides(&clash)
                .unwrap_err()
                .contains("also bound")
        );
    }
}

#[cfg(test)]
mod help_width {
    use super::Action;

    /// The help's two columns give each description 25 cells: every one fits whole.
    #[test]
    fn every_description_fits_the_helps_narrowest_column() {
        for action in Action::ALL {
            assert!(
                action.describe().chars().count() <= 25,
                "{:?}: {:?}",
                action,
                action.describe()
            );
        }
    }
}
