//! The console shell: the impure rim around the pure `app` (state, `update`) and `ui` (draw).
//! It owns the terminal, runs the one loop, starts each effect in the background and draws.

pub mod effects;
mod keys;
mod run;
mod screen;
mod terminal;

pub use run::{Launch, run, run_with};
