//! `l`: a model's local server logs, tailed while open (the server's log, its supervisor's, and
//! the process's own output, where a crash says why), like k9s's logs view.

use super::effect::Effect;
use super::state::{Overlay, State};

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
}

/// `l` on a model: its server's log, following.
pub fn open(state: &mut State, model: &str) -> Vec<Effect> {
    state.overlay = Some(Overlay::Logs(LogView {
        model: model.to_string(),
        file: LogFile::Server,
        lines: Ok(Vec::new()),
        follow: true,
        top: 0,
        reading: false,
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
/// the oldest kept, Tab the next log, Esc (or q, l) closes.
pub fn on_key(state: &mut State, action: Option<crate::keymap::Action>) -> Vec<Effect> {
    use crate::keymap::Action;
    let Some(Overlay::Logs(view)) = &mut state.overlay else {
        return Vec::new();
    };
    let count = view.lines.as_ref().map_or(0, Vec::len);
    let page = 10;
    // Held from where the newest screenful starts when it was following.
    let from = |view: &LogView| {
        if view.follow {
            count.saturating_sub(page * 2)
        } else {
            view.top
        }
    };
    match action {
        Some(Action::Back | Action::Quit | Action::Logs) => state.overlay = None,
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
