//! `l`: a model's local server logs, tailed while open (the server's log, its supervisor's, and
//! the process's own output, where a crash says why), like k9s's logs view.

use super::effect::Effect;
use super::state::{Overlay, State};

/// Columns one ← or → moves a log sideways.
const SIDEWAYS: u16 = 20;

/// Lines kept of a log (its newest).
pub const TAIL: usize = 500;

/// Which of a model's logs is shown; Tab moves to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFile {
    Server,
    Supervisor,
    Output,
}

impl LogFile {
    pub fn next(self) -> LogFile {
        match self {
            LogFile::Server => LogFile::Supervisor,
            LogFile::Supervisor => LogFile::Output,
            LogFile::Output => LogFile::Server,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LogFile::Server => "server log",
            LogFile::Supervisor => "supervisor log",
            LogFile::Output => "process output",
        }
    }

    /// Its file under the data dir.
    pub fn path(self, model: &str) -> String {
        match self {
            LogFile::Server => format!("logs/serve-{model}.log"),
            LogFile::Supervisor => format!("logs/supervise-{model}.log"),
            LogFile::Output => format!("logs/serve-{model}.out"),
        }
    }
}

/// The open log view.
#[derive(Debug, Clone, PartialEq)]
pub struct LogView {
    pub model: String,
    pub file: LogFile,
    /// Its newest lines, oldest first; `Err` when it cannot be read.
    pub lines: Result<Vec<String>, String>,
    /// Following the newest line (`G`), or held where the user scrolled to.
    pub follow: bool,
    /// The first line shown while held.
    pub top: usize,
    pub reading: bool,
    /// What `/` searches for (either case); its matches are marked and `n`/`N` go to the next
    /// older / newer one.
    pub search: String,
    /// Typing the search after `/`.
    pub typing: bool,
    /// Columns scrolled past (← →): long lines are read to their end.
    pub column: u16,
    /// The line of the match the view was last moved to (`n`/`N` go on from it; shown a few
    /// lines below the top, under what led to it).
    pub at_match: Option<usize>,
    /// What the last search key found nothing for (`no older match for …`), shown with the
    /// search until the next key: a message in the footer outlived the search it was about.
    pub note: Option<String>,
    /// The servers list it was opened from (`l` in `:server`): Esc goes back to it.
    pub back_to: Option<super::servers::ServersView>,
}

impl LogView {
    /// Indices of the lines holding the search, oldest first.
    pub fn matches(&self) -> Vec<usize> {
        let needle = self.search.to_lowercase();
        match (&self.lines, needle.is_empty()) {
            (Ok(lines), false) => lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.to_lowercase().contains(&needle))
                .map(|(i, _)| i)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The line the view is on: the top one while held, else the newest screenful's.
    fn at(&self, page: usize) -> usize {
        let count = self.lines.as_ref().map_or(0, Vec::len);
        if self.follow {
            count.saturating_sub(page * 2)
        } else {
            self.top
        }
    }

    /// Holds the view on the match `older` (or newer) than where it is; says whether there was
    /// one.
    fn go_to_match(&mut self, older: bool, page: usize) -> bool {
        let at = self.at_match.unwrap_or_else(|| self.at(page));
        let matches = self.matches();
        let found = if older {
            // Following, the newest match of all (it may be on the screen already).
            matches.iter().rev().find(|&&i| self.follow || i < at)
        } else {
            matches.iter().find(|&&i| i > at)
        };
        match found {
            Some(&i) => {
                // A few lines of what led to it above the match.
                self.top = i.saturating_sub(CONTEXT);
                self.at_match = Some(i);
                self.follow = false;
                true
            }
            None => false,
        }
    }
}

/// Lines shown above a search's match.
const CONTEXT: usize = 3;

/// `l` on a model: its server's log, following.
pub fn open(state: &mut State, model: &str) -> Vec<Effect> {
    open_from(state, model, None)
}

/// `l` on a model, from the servers list `back_to` (where Esc returns), if any.
pub fn open_from(
    state: &mut State,
    model: &str,
    back_to: Option<super::servers::ServersView>,
) -> Vec<Effect> {
    state.overlay = Some(Overlay::Logs(LogView {
        model: model.to_string(),
        file: LogFile::Server,
        lines: Ok(Vec::new()),
        follow: true,
        top: 0,
        reading: false,
        search: String::new(),
        typing: false,
        column: 0,
        at_match: None,
        note: None,
        back_to,
    }));
    read(state)
}

/// A read of the open log, unless one is under way (each refresh while it is open).
pub fn read(state: &mut State) -> Vec<Effect> {
    let Some(Overlay::Logs(view)) = &mut state.overlay else {
        return Vec::new();
    };
    if view.reading {
        return Vec::new();
    }
    view.reading = true;
    vec![Effect::FetchLog {
        model: view.model.clone(),
        file: view.file,
    }]
}

/// A read came back (for the log still shown).
pub fn fetched(state: &mut State, model: &str, file: LogFile, lines: Result<Vec<String>, String>) {
    if let Some(Overlay::Logs(view)) = &mut state.overlay
        && view.model == model
        && view.file == file
    {
        view.reading = false;
        view.lines = lines;
    }
}

/// Keys over the log: j/k and pages hold it where it is, G follows the newest again, g goes to
/// the oldest kept, Tab the next log, `/` searches (Enter goes to the newest match, `n` the
/// next older, `N` the next newer), Esc clears the search, then (or q, l) closes.
pub fn on_key(state: &mut State, key: crate::keymap::Key) -> Vec<Effect> {
    use crate::keymap::{Action, KeyCode};
    let action = state.config.keymap.action(key);
    let Some(Overlay::Logs(view)) = &mut state.overlay else {
        return Vec::new();
    };
    let page = 10;
    view.note = None;
    if view.typing {
        match key.code {
            KeyCode::Enter => {
                view.typing = false;
                if !view.search.is_empty() && !view.go_to_match(true, page) {
                    view.note = Some(format!("{:?} is in none of the lines kept", view.search));
                }
            }
            KeyCode::Esc => {
                view.typing = false;
                view.search.clear();
            }
            KeyCode::Backspace => {
                view.search.pop();
            }
            KeyCode::Char(c) if !key.ctrl && !key.alt => view.search.push(c),
            _ => {}
        }
        return Vec::new();
    }
    match key.code {
        KeyCode::Char('/') => {
            view.typing = true;
            view.search.clear();
            view.at_match = None;
            return Vec::new();
        }
        KeyCode::Char(c @ ('n' | 'N')) if !view.search.is_empty() => {
            if !view.go_to_match(c == 'n', page) {
                view.note = Some(format!(
                    "no {} match",
                    if c == 'n' { "older" } else { "newer" },
                ));
            }
            return Vec::new();
        }
        KeyCode::Esc if !view.search.is_empty() => {
            view.search.clear();
            view.at_match = None;
            return Vec::new();
        }
        KeyCode::Right => {
            view.column = view.column.saturating_add(SIDEWAYS);
            return Vec::new();
        }
        KeyCode::Left => {
            view.column = view.column.saturating_sub(SIDEWAYS);
            return Vec::new();
        }
        _ => {}
    }
    let count = view.lines.as_ref().map_or(0, Vec::len);
    // Held from where the newest screenful starts when it was following.
    let from = |view: &LogView| {
        if view.follow {
            count.saturating_sub(page * 2)
        } else {
            view.top
        }
    };
    // Moving the view leaves the match it was on.
    if matches!(
        action,
        Some(
            Action::Up
                | Action::Down
                | Action::PageUp
                | Action::PageDown
                | Action::Top
                | Action::Bottom
                | Action::NextPane
        )
    ) {
        view.at_match = None;
    }
    match action {
        Some(Action::Back | Action::Quit | Action::Logs) => {
            // Back where it was opened: the servers list, as it was left.
            state.overlay = view.back_to.take().map(Overlay::Servers);
        }
        Some(Action::NextPane) => {
            view.file = view.file.next();
            view.lines = Ok(Vec::new());
            view.follow = true;
            view.reading = false;
            return read(state);
        }
        Some(Action::Up) => {
            view.top = from(view).saturating_sub(1);
            view.follow = false;
        }
        Some(Action::PageUp) => {
            view.top = from(view).saturating_sub(page);
            view.follow = false;
        }
        Some(Action::Down) => {
            view.top = (from(view) + 1).min(count.saturating_sub(1));
            view.follow = false;
        }
        Some(Action::PageDown) => {
            view.top = (from(view) + page).min(count.saturating_sub(1));
            view.follow = false;
        }
        Some(Action::Top) => {
            view.top = 0;
            view.follow = false;
        }
        Some(Action::Bottom) => view.follow = true,
        _ => {}
    }
    Vec::new()
}
