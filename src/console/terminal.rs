//! The terminal the console owns while it runs: raw mode and the alternate screen (ratatui's),
//! mouse capture when the config turns it on, and both given back on exit and on panic.

pub struct Console {
    pub terminal: ratatui::DefaultTerminal,
    mouse: bool,
}

impl Console {
    pub fn open(mouse: bool) -> Result<Self, String> {
        let terminal = ratatui::try_init().map_err(|e| format!("cannot open the terminal: {e}"))?;
        if mouse {
            let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture);
        }
        Ok(Self { terminal, mouse })
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if self.mouse {
            let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
        }
        ratatui::restore();
    }
}
