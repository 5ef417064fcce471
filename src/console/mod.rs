//! The shells around the pure `app` (state, `update`) and `ui` (draw): the terminal console
//! (the one loop, the effect executor, drawing) and the headless run behind `status` and
//! `snapshot`. Everything here does I/O and reads clocks; nothing in `app` or `ui` does.

pub mod effects;
pub mod headless;
mod keys;
mod run;
mod screen;
mod terminal;

pub use run::{Launch, run, run_with};
