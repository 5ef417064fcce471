//! Input drift: a bounded window of each loaded version's recent inputs, scored against the
//! version's baseline profile.

mod outputs;
mod window;

pub use window::{DriftWindow, WindowLimits};
