//! Drawing a frame: `ui::draw` renders once into an off-screen buffer, and the terminal gets it
//! only when it differs from the last one shown. An idle console writes nothing, not even the
//! cursor and style resets every terminal draw sends (a quiet link matters over SSH at 3 a.m.).

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use crate::app::State;
use crate::theme::Theme;
use crate::ui::DrawnList;

pub struct Screen {
    off_screen: Terminal<TestBackend>,
    shown: Option<Buffer>,
    /// The selectable list as last drawn (a click is read against it).
    pub drawn: DrawnList,
}

impl Screen {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            off_screen: Terminal::new(TestBackend::new(1, 1))
                .map_err(|e| format!("cannot draw: {e}"))?,
            shown: None,
            drawn: DrawnList::default(),
        })
    }

    /// Renders `state` at `size` and shows it on `terminal` if it changed.
    pub fn draw(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        state: &State,
        theme: &Theme,
        ascii: bool,
    ) -> Result<(), String> {
        let size = terminal.size().map_err(|e| format!("cannot draw: {e}"))?;
        if self.off_screen.size().ok() != Some(size) {
            self.off_screen
                .backend_mut()
                .resize(size.width, size.height);
            let _ = self
                .off_screen
                .resize(Rect::new(0, 0, size.width, size.height));
        }
        let drawn = &mut self.drawn;
        self.off_screen
            .draw(|frame| crate::ui::draw(frame, state, theme, ascii, drawn))
            .map_err(|e| format!("cannot draw: {e}"))?;
        let rendered = self.off_screen.backend().buffer();
        if self.shown.as_ref() == Some(rendered) {
            return Ok(());
        }
        let rendered = rendered.clone();
        terminal
            .draw(|frame| frame.buffer_mut().clone_from(&rendered))
            .map_err(|e| format!("cannot draw: {e}"))?;
        self.shown = Some(rendered);
        Ok(())
    }
}
