//! Terminal input in the console's terms: crossterm's key events as keymap keys, and the mouse
//! (when the config turns it on) as keys or clicks.

use crossterm::event::{Event, KeyEventKind};

use crate::app::Msg;
use crate::keymap::{Key, KeyCode};
use crate::ui::DrawnList;

/// A terminal key event in the keymap's terms.
pub fn convert_key(event: crossterm::event::KeyEvent) -> Option<Key> {
    use crossterm::event::{KeyCode as C, KeyModifiers as M};
    let code = match event.code {
        C::Char(c) => KeyCode::Char(c),
        C::Enter => KeyCode::Enter,
        C::Esc => KeyCode::Esc,
        C::Tab => KeyCode::Tab,
        C::BackTab => KeyCode::BackTab,
        C::Backspace => KeyCode::Backspace,
        C::Up => KeyCode::Up,
        C::Down => KeyCode::Down,
        C::Left => KeyCode::Left,
        C::Right => KeyCode::Right,
        C::PageUp => KeyCode::PageUp,
        C::PageDown => KeyCode::PageDown,
        C::Home => KeyCode::Home,
        C::End => KeyCode::End,
        C::F(n) => KeyCode::F(n),
        _ => return None,
    };
    Some(Key {
        code,
        ctrl: event.modifiers.contains(M::CONTROL),
        alt: event.modifiers.contains(M::ALT),
    })
}

/// A terminal event as the message `update` takes: `None` for events the console ignores.
/// A click is read against the list as last drawn.
pub fn message_of(event: Event, drawn: &DrawnList) -> Option<Msg> {
    use crossterm::event::{MouseButton, MouseEventKind};
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => convert_key(key).map(Msg::Key),
        Event::Resize(width, height) => Some(Msg::Resize { width, height }),
        // The wheel moves the selection (only when the config turns the mouse on).
        Event::Mouse(mouse) => match mouse.kind {
            MouseEventKind::ScrollDown => Some(Msg::Key(Key::plain(KeyCode::Down))),
            MouseEventKind::ScrollUp => Some(Msg::Key(Key::plain(KeyCode::Up))),
            MouseEventKind::Down(MouseButton::Left) => drawn
                .index_at(mouse.column, mouse.row)
                .map(|index| Msg::Click { index }),
            _ => None,
        },
        _ => None,
    }
}
